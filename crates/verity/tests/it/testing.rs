//! Testing support: switching off real model requests, capturing a failed run's
//! messages, overriding an agent's model and deps in a scope, and the helpers scripted
//! models use.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use verity::agent::Override;
use verity::messages::{MessageState, ModelRequestPart, last_tool_returns, last_user_prompt};
use verity::models::openai::OpenAIChatModel;
use verity::models::{
    model_requests_allowed, set_allow_model_requests, with_model_requests_allowed,
};
use verity::prelude::*;
use verity::providers::openai::OpenAIProvider;

use crate::support::{Canned, MockServer};

fn completion(text: &str) -> serde_json::Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
}

fn openai_on(server: &MockServer) -> OpenAIChatModel {
    let provider = OpenAIProvider::builder()
        .base_url(server.url())
        .api_key("sk-test")
        .build()
        .unwrap();
    OpenAIChatModel::new("gpt-4o", provider)
}

/// With requests disallowed (scoped to this test's task), a real model fails with the
/// typed error and the server never sees a request; test models keep working. Outside
/// the scope the same agent reaches the server.
#[tokio::test]
async fn disallowed_model_requests_fail_before_reaching_the_server() {
    let server = MockServer::start(vec![Canned::json(200, &completion("hi there"))]).await;
    let agent = Agent::builder(openai_on(&server)).build();
    let err = with_model_requests_allowed(false, agent.run("hello"))
        .await
        .unwrap_err();
    match &err {
        Error::ModelRequestsDisallowed { model } => assert_eq!(model, "gpt-4o"),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("model requests are not allowed"),
        "{err}"
    );
    assert!(server.received().is_empty());
    // streamed runs are stopped too
    let streamed = with_model_requests_allowed(false, async {
        let run = agent.run("hello").stream();
        run.finish().await.map(|r| r.output)
    })
    .await;
    assert!(
        matches!(streamed, Err(Error::ModelRequestsDisallowed { .. })),
        "{streamed:?}"
    );
    assert!(server.received().is_empty());

    with_model_requests_allowed(false, async {
        assert!(!model_requests_allowed());
        let test = Agent::builder(TestModel::new()).build();
        assert_eq!(
            test.run("hi").await.unwrap().output,
            "success (no tool calls)"
        );
        let function = Agent::builder(FunctionModel::new(|_, _| ModelResponse::text("f"))).build();
        assert_eq!(function.run("hi").await.unwrap().output, "f");
        // an inner scope may allow them again
        assert!(with_model_requests_allowed(true, async { model_requests_allowed() }).await);
    })
    .await;

    // outside the scope the request goes out
    let result = with_model_requests_allowed(true, agent.run("hello"))
        .await
        .unwrap();
    assert_eq!(result.output, "hi there");
    assert_eq!(server.received().len(), 1);
}

const CHILD_ENV: &str = "VERITY_TESTING_SWITCH_CHILD";

/// The process-wide switch and the environment variable, checked in a child process of
/// this test binary: flipping them here would disallow the requests of the tests that
/// run alongside in this process.
#[test]
fn global_switch_and_environment_variable_in_a_child_process() {
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(exe)
        .args([
            "testing::global_switch_child",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .env(verity::models::ALLOW_MODEL_REQUESTS_ENV, "false")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(stdout.contains("child checks ran"), "{stdout}\n{stderr}");
}

/// Runs only as the child of the test above (it does nothing otherwise).
#[test]
fn global_switch_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // VERITY_ALLOW_MODEL_REQUESTS=false, read on first use
        assert!(!model_requests_allowed());
        let server = MockServer::start(vec![Canned::json(200, &completion("ok"))]).await;
        let agent = Agent::builder(openai_on(&server)).build();
        assert!(matches!(
            agent.run("hi").await.unwrap_err(),
            Error::ModelRequestsDisallowed { .. }
        ));
        assert!(server.received().is_empty());
        let test = Agent::builder(TestModel::new()).build();
        test.run("hi").await.unwrap();
        // a scope wins over the global switch
        assert!(with_model_requests_allowed(true, async { model_requests_allowed() }).await);
        // set from code, it wins over the environment
        set_allow_model_requests(true);
        assert_eq!(agent.run("hi").await.unwrap().output, "ok");
        assert_eq!(server.received().len(), 1);
        set_allow_model_requests(false);
        assert!(!model_requests_allowed());
        assert!(!std::hint::black_box(model_requests_allowed()));
    });
    println!("child checks ran");
}

/// The messages of runs that failed: retries exhausted, a usage limit, a tool error.
#[tokio::test]
async fn captured_messages_of_failed_runs() {
    // tool retries exhausted
    /// Always asks again.
    #[tool(retries = 1)]
    fn stubborn() -> Result<String, ModelRetry> {
        Err(ModelRetry::new("no"))
    }
    let model = FunctionModel::new(|_, _| ModelResponse::tool_call("stubborn", json!({})));
    let agent = Agent::builder(model).tool(Stubborn).build();
    let capture = MessageCapture::new();
    assert!(!capture.is_captured());
    let err = agent
        .run("go")
        .capture_messages(&capture)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedModelBehavior { .. }),
        "{err}"
    );
    let messages = capture.messages();
    assert!(capture.is_captured());
    assert_eq!(last_user_prompt(&messages).as_deref(), Some("go"));
    // prompt, call, retry, call, then the request of the failed step
    assert!(messages.len() >= 4, "{messages:#?}");
    assert!(matches!(messages.first(), Some(ModelMessage::Request(_))));

    // a usage limit
    let model = FunctionModel::new(|_, _| ModelResponse::tool_call("again", json!({})));
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    let agent = Agent::builder(model)
        .tool_fn("again", "Loop.", |_ctx, _: NoArgs| async move {
            Ok::<_, ToolError>("ok")
        })
        .build();
    let capture = MessageCapture::new();
    let err = agent
        .run("loop")
        .usage_limits(UsageLimits {
            request_limit: Some(2),
            ..Default::default()
        })
        .capture_messages(&capture)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UsageLimitExceeded(_)), "{err}");
    let messages = capture.messages();
    let responses = messages
        .iter()
        .filter(|m| matches!(m, ModelMessage::Response(_)))
        .count();
    assert_eq!(responses, 2, "{messages:#?}");
    // the returns of the last completed step are there
    assert_eq!(last_tool_returns(&messages).len(), 1);
    assert_eq!(last_tool_returns(&messages)[0].tool_name, "again");

    // a tool error: the settled returns sit in a request marked interrupted
    let model = FunctionModel::new(|_, _| {
        ModelResponse::tool_calls_of([("fine", json!({})), ("boom", json!({}))])
    });
    let agent = Agent::builder(model)
        .tool_fn("fine", "Works.", |_ctx, _: NoArgs| async move {
            Ok::<_, ToolError>("fine")
        })
        .tool_fn("boom", "Fails.", |_ctx, _: NoArgs| async move {
            Err::<(), _>(std::io::Error::other("disk on fire"))
        })
        .build();
    let capture = MessageCapture::new();
    let err = agent.run("x").capture_messages(&capture).await.unwrap_err();
    assert!(matches!(err, Error::ToolExecution { .. }), "{err}");
    let messages = capture.messages();
    let Some(ModelMessage::Request(last)) = messages.last() else {
        panic!("{messages:#?}")
    };
    assert_eq!(last.state, Some(MessageState::Interrupted), "{messages:#?}");
    assert!(
        last.parts
            .iter()
            .any(|p| matches!(p, ModelRequestPart::ToolReturn(r) if r.tool_name == "fine"))
    );

    // a streamed run captures too, and a successful one
    let agent = Agent::builder(TestModel::new()).build();
    let capture = MessageCapture::new();
    let run = agent.run("hello").capture_messages(&capture).stream();
    run.finish().await.unwrap();
    assert_eq!(capture.messages().len(), 2);
}

/// Application code holds the agent; the test swaps its model and deps for the runs
/// inside a scope, while a parallel run on another task sees the original.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn override_swaps_model_and_deps_inside_the_scope_only() {
    #[derive(Clone, Default)]
    struct Deps {
        greeting: String,
    }
    /// Says the greeting from the deps.
    #[tool]
    fn greet(ctx: &RunContext<Deps>) -> String {
        ctx.deps().greeting.clone()
    }
    let real_calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&real_calls);
    let real = FunctionModel::new(move |_, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        ModelResponse::text("real")
    });
    let agent: Agent<Deps> = Agent::builder(real).deps_type::<Deps>().tool(Greet).build();

    async fn app_code(agent: &Agent<Deps>) -> String {
        agent
            .run("hi")
            .deps(Deps {
                greeting: "from the app".into(),
            })
            .await
            .unwrap()
            .output
    }

    // scripted: call the tool, then answer with what it returned
    let scripted = FunctionModel::new(|messages, _| match last_tool_returns(messages).first() {
        Some(ret) => ModelResponse::text(ret.content.as_str().unwrap_or_default()),
        None => ModelResponse::tool_call("greet", json!({})),
    });
    let over = Override::new().model(scripted).deps(Deps {
        greeting: "from the test".into(),
    });
    let other = agent.clone();
    let (inside, outside) = tokio::join!(
        agent.override_with(over).scope(async {
            tokio::task::yield_now().await;
            let first = app_code(&agent).await;
            // an inner scope keeps the outer deps and replaces the model
            let inner = agent
                .override_with(Override::new().model(TestModel::new().with_output_text("inner")))
                .scope(app_code(&agent))
                .await;
            (first, inner, app_code(&agent).await)
        }),
        // another task: not in the scope
        tokio::spawn(async move { app_code(&other).await }),
    );
    assert_eq!(
        inside,
        (
            "from the test".to_owned(),
            "inner".to_owned(),
            "from the test".to_owned()
        )
    );
    assert_eq!(outside.unwrap(), "real");
    assert_eq!(real_calls.load(Ordering::SeqCst), 1);
    // after the scope the agent is itself again
    assert_eq!(app_code(&agent).await, "real");
    // a blocking run inside a scope sees the override too
    let blocking = agent
        .override_with(Override::new().model(TestModel::new().with_output_text("blocked")))
        .scope(async { agent.run("hi").blocking().unwrap().output })
        .await;
    assert_eq!(blocking, "blocked");
}

/// The output tool names of a union, for scripted models.
#[tokio::test]
async fn output_tool_names_for_scripted_models() {
    #[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
    enum Lookup {
        Found { name: String },
        NotFound { reason: String },
    }
    let spec = OutputSpec::<Lookup>::structured();
    assert_eq!(
        spec.tool_names(),
        vec!["final_result_Found", "final_result_NotFound"]
    );
    let tool = spec.tool_name_for_variant("Found").unwrap();
    let model = FunctionModel::new(move |messages, _| {
        let name = last_user_prompt(messages).unwrap_or_default();
        ModelResponse::tool_call(tool.clone(), json!({"name": name}))
    });
    let agent = Agent::builder(model).output_spec(spec).build();
    assert_eq!(
        agent.run("Ada").await.unwrap().output,
        Lookup::Found { name: "Ada".into() }
    );
    assert_eq!(
        OutputSpec::<String>::text().tool_names(),
        Vec::<String>::new()
    );
    assert_eq!(
        OutputSpec::<i64>::structured().tool_names(),
        vec!["final_result"]
    );
}
