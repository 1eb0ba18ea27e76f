//! Toolsets: per-step tools from the run context, the combinators, name conflicts,
//! per-run toolsets, wrappers, timeouts, sequential tools and `prepare_tools`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use verity::messages::{ModelResponsePart, ToolCallArgs, ToolCallPart};
use verity::prelude::*;
use verity::toolsets::{
    CombinedToolset, FunctionToolset, ToolFuture, Toolset, ToolsetExt, ToolsetTool,
};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Args {
    x: String,
}

/// A toolset `name` with one tool `tool` returning "name:tool:x".
fn echo<D: Send + Sync + 'static>(name: &'static str, tool: &'static str) -> FunctionToolset<D> {
    FunctionToolset::new(name).tool(Tool::new(tool, "Echo.", move |_ctx, a: Args| async move {
        Ok::<_, ToolError>(format!("{name}:{tool}:{}", a.x))
    }))
}

fn call(name: &str, id: &str) -> ModelResponsePart {
    ModelResponsePart::ToolCall(ToolCallPart::new(
        name,
        ToolCallArgs::from(json!({"x": "1"})),
        id,
    ))
}

type Seen = Arc<Mutex<Vec<Vec<String>>>>;

/// A model answering with `steps` in turn (then "done"), recording the tool names offered.
fn scripted(steps: Vec<Vec<ModelResponsePart>>) -> (FunctionModel, Seen) {
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let model = FunctionModel::new(move |messages, info| {
        let mut names: Vec<String> = info.function_tools.iter().map(|t| t.name.clone()).collect();
        names.sort();
        record.lock().unwrap().push(names);
        let n = messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count();
        match steps.get(n) {
            Some(parts) => ModelResponse::new(parts.clone()),
            None => ModelResponse::text("done"),
        }
    });
    (model, seen)
}

fn returns(result: &RunResult<String>) -> Vec<Value> {
    result
        .all_messages()
        .iter()
        .filter_map(|m| m.as_request())
        .flat_map(|r| r.parts.iter())
        .filter_map(|p| match p {
            verity::messages::ModelRequestPart::ToolReturn(r) => Some(r.content.clone()),
            _ => None,
        })
        .collect()
}

/// A toolset written against the trait: `secret` is offered only when the deps allow it,
/// and only at the first step.
struct Secrets;

impl Toolset<bool> for Secrets {
    fn label(&self) -> String {
        "Secrets".into()
    }
    fn tools<'a>(
        &'a self,
        ctx: &'a RunContext<bool>,
    ) -> BoxFuture<'a, verity::Result<Vec<ToolsetTool>>> {
        let offer = *ctx.deps() && ctx.run_step() == 1;
        Box::pin(async move {
            let def = echo::<bool>("s", "secret").tool_list()[0]
                .definition()
                .clone();
            Ok(if offer {
                vec![ToolsetTool::new(def)]
            } else {
                vec![]
            })
        })
    }
    fn call(&self, ctx: RunContext<bool>, name: &str, args: Value) -> ToolFuture {
        assert_eq!(name, "secret");
        let _ = args;
        let deps = *ctx.deps();
        Box::pin(async move { Ok(json!(format!("secret for {deps}"))) })
    }
}

#[tokio::test]
async fn toolset_tools_follow_the_deps_and_the_step() {
    let (model, seen) = scripted(vec![vec![call("secret", "c1")]]);
    let agent = Agent::builder(model)
        .deps_type::<bool>()
        .toolset(Secrets)
        .build();
    let result = agent.run("go").deps(true).await.unwrap();
    assert_eq!(returns(&result), vec![json!("secret for true")]);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![vec!["secret".to_owned()], vec![]]
    );

    let (model, seen) = scripted(vec![]);
    let agent = Agent::builder(model)
        .deps_type::<bool>()
        .toolset(Secrets)
        .build();
    agent.run("go").deps(false).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Vec::<String>::new()]);
}

#[tokio::test]
async fn combined_filtered_and_prepared_toolsets() {
    let (model, seen) = scripted(vec![vec![call("b", "c1")]]);
    let combined = CombinedToolset::new(vec![
        Arc::new(echo::<()>("one", "a")),
        Arc::new(echo::<()>("two", "b")),
        Arc::new(echo::<()>("three", "c")),
    ]);
    let shaped = combined
        .filtered(|_ctx, def| def.name != "c")
        .prepared(|ctx, mut defs| {
            let step = ctx.run_step();
            Box::pin(async move {
                // drop `a` after the first step
                defs.retain(|d| d.name != "a" || step == 1);
                defs
            })
        });
    let agent = Agent::builder(model).toolset(shaped).build();
    let result = agent.run("go").await.unwrap();
    assert_eq!(returns(&result), vec![json!("two:b:1")]);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![vec!["a".to_owned(), "b".to_owned()], vec!["b".to_owned()]]
    );
}

#[tokio::test]
async fn conflicting_names_are_an_error_naming_both() {
    let (model, _) = scripted(vec![]);
    let agent = Agent::builder(model)
        .toolset(echo::<()>("first", "same"))
        .toolset(echo::<()>("second", "same"))
        .build();
    let err = agent.run("go").await.unwrap_err();
    let Error::User(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("'first'") && message.contains("'second'"),
        "{message}"
    );
    assert!(message.contains("'same'"), "{message}");

    // with the agent's own tool, and inside a combined toolset
    let (model, _) = scripted(vec![]);
    let agent = Agent::builder(model)
        .tool(echo::<()>("own", "same").tool_list()[0].clone())
        .toolset(CombinedToolset::new(vec![Arc::new(echo::<()>(
            "x", "same",
        ))]))
        .build();
    assert!(matches!(agent.run("go").await, Err(Error::User(_))));
}

#[tokio::test]
async fn renamed_and_prefixed_tools_run_the_original() {
    let (model, seen) = scripted(vec![vec![call("web_find", "c1"), call("lookup", "c2")]]);
    let agent = Agent::builder(model)
        .toolset(echo::<()>("web", "find").prefixed("web"))
        .toolset(echo::<()>("db", "query").renamed([("lookup", "query")]))
        .build();
    let result = agent.run("go").await.unwrap();
    assert_eq!(
        returns(&result),
        vec![json!("web:find:1"), json!("db:query:1")]
    );
    assert_eq!(
        seen.lock().unwrap()[0],
        vec!["lookup".to_owned(), "web_find".to_owned()]
    );
}

#[tokio::test]
async fn a_wrapper_sees_every_call() {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = Arc::clone(&log);
    let (model, _) = scripted(vec![
        vec![call("a", "c1"), call("a", "c2")],
        vec![call("a", "c3")],
    ]);
    let wrapped = echo::<()>("w", "a").wrapped(move |ctx, name, args, inner| {
        record.lock().unwrap().push(format!(
            "{name} {} {args}",
            ctx.tool_call_id().unwrap_or("")
        ));
        Box::pin(async move {
            let v = inner.await?;
            Ok(json!(format!("wrapped {}", v.as_str().unwrap_or(""))))
        })
    });
    let agent = Agent::builder(model).toolset(wrapped).build();
    let result = agent.run("go").await.unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            r#"a c1 {"x":"1"}"#,
            r#"a c2 {"x":"1"}"#,
            r#"a c3 {"x":"1"}"#
        ]
    );
    assert_eq!(returns(&result)[0], json!("wrapped w:a:1"));
}

#[tokio::test]
async fn a_tool_past_its_timeout_becomes_a_retry_prompt() {
    let (model, _) = scripted(vec![vec![call("slow", "c1")]]);
    let slow = Tool::new("slow", "Slow.", |_ctx, _a: Args| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, ToolError>("never")
    })
    .with_timeout(Duration::from_millis(50));
    let agent = Agent::builder(model).tool(slow).build();
    let result = agent.run("go").await.unwrap();
    assert_eq!(
        returns(&result),
        vec![json!("Timed out after 0.05 seconds.")]
    );
    assert_eq!(result.output, "done");

    // the same through a toolset's timeout
    let (model, _) = scripted(vec![vec![call("slow", "c1")]]);
    let slow = FunctionToolset::<()>::new("slow").tool(Tool::new(
        "slow",
        "Slow.",
        |_ctx, _a: Args| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, ToolError>("never")
        },
    ));
    let agent = Agent::builder(model)
        .toolset(slow.with_timeout(Duration::from_millis(50)))
        .build();
    let result = agent.run("go").await.unwrap();
    assert_eq!(
        returns(&result),
        vec![json!("Timed out after 0.05 seconds.")]
    );
}

#[tokio::test]
async fn a_sequential_tool_never_overlaps_another() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let counted = |name: &'static str, sequential: bool| {
        let running = Arc::clone(&running);
        let peak = Arc::clone(&peak);
        Tool::new(name, "Counted.", move |_ctx, _a: Args| {
            let running = Arc::clone(&running);
            let peak = Arc::clone(&peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ToolError>(name)
            }
        })
        .with_sequential(sequential)
    };
    let (model, _) = scripted(vec![vec![
        call("p", "c1"),
        call("s", "c2"),
        call("p", "c3"),
    ]]);
    let agent = Agent::builder(model)
        .tool(counted("p", false))
        .tool(counted("s", true))
        .build();
    let result = agent.run("go").await.unwrap();
    assert_eq!(returns(&result), vec![json!("p"), json!("s"), json!("p")]);
    assert_eq!(peak.load(Ordering::SeqCst), 1);

    // without a sequential tool, the calls overlap
    peak.store(0, Ordering::SeqCst);
    let (model, _) = scripted(vec![vec![call("p", "c1"), call("q", "c2")]]);
    let agent = Agent::builder(model)
        .tool(counted("p", false))
        .tool(counted("q", false))
        .build();
    agent.run("go").await.unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_per_run_toolset_is_offered_in_that_run_only() {
    let (model, seen) = scripted(vec![vec![call("extra", "c1")]]);
    let agent = Agent::builder(model)
        .toolset(echo::<()>("base", "base"))
        .build();
    let result = agent
        .run("go")
        .toolset(echo::<()>("run", "extra"))
        .await
        .unwrap();
    assert_eq!(returns(&result), vec![json!("run:extra:1")]);
    assert_eq!(
        seen.lock().unwrap()[0],
        vec!["base".to_owned(), "extra".to_owned()]
    );
    seen.lock().unwrap().clear();
    // a second run without it (the model answers with text: its script is spent)
    let (model, seen) = scripted(vec![]);
    agent.run("again").model(model).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![vec!["base".to_owned()]]);
}

#[tokio::test]
async fn prepare_tools_drops_a_tool() {
    let (model, seen) = scripted(vec![]);
    let agent = Agent::builder(model)
        .tool(echo::<()>("own", "keep").tool_list()[0].clone())
        .toolset(echo::<()>("set", "drop_me"))
        .prepare_tools(|_ctx, mut defs| async move {
            defs.retain(|d| d.name != "drop_me");
            defs
        })
        .build();
    agent.run("go").await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![vec!["keep".to_owned()]]);
}

#[tokio::test]
async fn two_agent_tools_with_one_name_are_an_error() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    let agent = Agent::builder(TestModel::new())
        .tool_fn(
            "lookup",
            "One.",
            |_ctx: RunContext<()>, _: NoArgs| async move { Ok::<_, ToolError>("a") },
        )
        .tool_fn(
            "lookup",
            "Two.",
            |_ctx: RunContext<()>, _: NoArgs| async move { Ok::<_, ToolError>("b") },
        )
        .build();
    match agent.run("x").await {
        Err(Error::User(message)) => assert!(message.contains("'lookup'"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_agents_tool_timeout_bounds_tools_without_their_own() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    let model = FunctionModel::new(|messages, _| {
        match messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count()
        {
            0 => ModelResponse::tool_call("slow", serde_json::json!({})),
            _ => {
                let returns = verity::messages::last_tool_returns(messages);
                ModelResponse::text(returns[0].model_response_str())
            }
        }
    });
    let agent = Agent::builder(model)
        .tool_fn(
            "slow",
            "Sleeps.",
            |_ctx: RunContext<()>, _: NoArgs| async move {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                Ok::<_, ToolError>("late")
            },
        )
        .tool_timeout(std::time::Duration::from_millis(20))
        .build();
    let result = agent.run("x").await.unwrap();
    assert!(result.output.contains("Timed out"), "{}", result.output);
}

/// The agent's own tools, split off as a toolset and wrapped, run as they did on the
/// agent itself: the same offers, the same returns and retries, every call seen.
#[tokio::test]
async fn split_tools_run_the_same_through_a_wrapper() {
    let steps = || {
        vec![
            vec![call("a_tool", "c1"), call("picky", "c2")],
            vec![call("picky", "c3")],
        ]
    };
    let agent_with = |model: FunctionModel| {
        Agent::builder(model)
            .tool(Tool::new(
                "a_tool",
                "Echo.",
                |_ctx: RunContext<()>, a: Args| async move {
                    Ok::<_, ToolError>(json!(format!("a {}", a.x)))
                },
            ))
            .tool({
                let calls = Arc::new(AtomicUsize::new(0));
                Tool::new(
                    "picky",
                    "Refuses the first time.",
                    move |_ctx: RunContext<()>, a: Args| {
                        let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
                        async move {
                            if first {
                                Err(ToolError::Retry("again, please".into()))
                            } else {
                                Ok(json!(format!("picky ok {}", a.x)))
                            }
                        }
                    },
                )
            })
            .build()
    };
    let (model, seen_direct) = scripted(steps());
    let direct = agent_with(model).run("go").await.unwrap();

    let (model, seen_split) = scripted(steps());
    let (bare, tools) = agent_with(model).split_tools();
    assert!(tools.toolsets.is_empty());
    let tools = tools.own;
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = Arc::clone(&log);
    let wrapped = tools.wrapped(move |ctx, name, _args, inner| {
        record
            .lock()
            .unwrap()
            .push(format!("{name} {}", ctx.tool_call_id().unwrap_or("")));
        inner
    });
    let split = bare.run("go").toolset(wrapped).await.unwrap();

    assert_eq!(*seen_direct.lock().unwrap(), *seen_split.lock().unwrap());
    assert_eq!(returns(&direct), returns(&split));
    assert_eq!(direct.output, split.output);
    assert_eq!(*log.lock().unwrap(), ["a_tool c1", "picky c2", "picky c3"]);

    // the agent's toolsets come out too, in order
    let agent = Agent::builder(TestModel::new())
        .toolset(echo::<()>("w", "b"))
        .toolset(echo::<()>("v", "c"))
        .build();
    let (bare, tools) = agent.split_tools();
    let labels: Vec<String> = tools.toolsets.iter().map(|t| t.label()).collect();
    assert_eq!(labels.len(), 2);
    assert!(
        labels[0].contains('w') && labels[1].contains('v'),
        "{labels:?}"
    );
    // without them, the bare agent offers no tools
    let result = bare.run("go").await.unwrap();
    assert_eq!(result.output, "success (no tool calls)");
}
