//! Agent runs driven by FunctionModel and TestModel: the tool loop, retries, limits,
//! output modes, validators, concurrency.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use verity::messages::{
    ModelRequestPart, ModelResponsePart, ToolCallArgs, ToolCallPart, ToolOutcome, last_tool_returns,
};
use verity::prelude::*;
use verity::usage::UsageLimits;

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct CityLocation {
    city: String,
    country: String,
}

fn call(name: &str, args: Value, id: &str) -> ModelResponsePart {
    ModelResponsePart::ToolCall(ToolCallPart::new(name, ToolCallArgs::from(args), id))
}

fn calls(parts: Vec<ModelResponsePart>) -> ModelResponse {
    ModelResponse::new(parts)
}

#[test]
fn tool_call_args_from_json_values() {
    assert_eq!(
        ToolCallArgs::from(json!({"city": "Rome"})),
        ToolCallArgs::Object(json!({"city": "Rome"}).as_object().unwrap().clone())
    );
    assert_eq!(
        ToolCallArgs::from(json!("{\"city\": \"Rome\"}")),
        ToolCallArgs::Json("{\"city\": \"Rome\"}".into())
    );
    assert_eq!(ToolCallArgs::from(Value::Null), ToolCallArgs::default());
    assert_eq!(
        ToolCallArgs::from(json!([1, 2])),
        ToolCallArgs::Json("[1,2]".into())
    );
}

/// The parts of the last request in the history.
fn last_request_parts(messages: &[ModelMessage]) -> Vec<ModelRequestPart> {
    messages
        .iter()
        .rev()
        .find_map(|m| m.as_request())
        .map(|r| r.parts.clone())
        .unwrap_or_default()
}

fn count_responses(messages: &[ModelMessage]) -> usize {
    messages
        .iter()
        .filter(|m| m.as_response().is_some())
        .count()
}

struct Weather {
    unit: &'static str,
    calls: AtomicUsize,
}

/// Get the weather in a city.
///
/// # Arguments
/// * `city` - The city to look up.
#[tool]
async fn get_weather(ctx: &RunContext<Weather>, city: String) -> String {
    ctx.deps().calls.fetch_add(1, Ordering::SeqCst);
    format!("21 {} in {city}", ctx.deps().unit)
}

#[tokio::test]
async fn tool_loop_with_deps_and_dynamic_instructions() {
    let seen_instructions = Arc::new(std::sync::Mutex::new(Vec::<Option<String>>::new()));
    let seen = Arc::clone(&seen_instructions);
    let model = FunctionModel::new(move |messages, info| {
        seen.lock().unwrap().push(info.instructions.clone());
        assert_eq!(info.function_tools.len(), 1);
        let tool = &info.function_tools[0];
        assert_eq!(tool.name, "get_weather");
        assert_eq!(
            tool.description.as_deref(),
            Some("Get the weather in a city.")
        );
        assert_eq!(
            tool.parameters_json_schema["properties"]["city"]["description"],
            "The city to look up."
        );
        match count_responses(messages) {
            0 => calls(vec![call("get_weather", json!({"city": "Paris"}), "c1")]),
            _ => {
                let parts = last_request_parts(messages);
                let ModelRequestPart::ToolReturn(ret) = &parts[0] else {
                    panic!("{parts:?}")
                };
                assert_eq!(ret.content, json!("21 celsius in Paris"));
                assert_eq!(ret.tool_call_id, "c1");
                ModelResponse::text(format!("It is {}", ret.content.as_str().unwrap()))
            }
        }
    });
    let agent = Agent::builder(model)
        .deps_type::<Weather>()
        .instructions("Be brief.")
        .instructions_fn(|ctx: RunContext<Weather>| async move {
            format!("Use {} (step {}).", ctx.deps().unit, ctx.run_step())
        })
        .tool(GetWeather)
        .build();
    let deps = Weather {
        unit: "celsius",
        calls: AtomicUsize::new(0),
    };
    let result = agent.run("Weather in Paris?").deps(deps).await.unwrap();
    assert_eq!(result.output, "It is 21 celsius in Paris");
    assert_eq!(result.usage().requests, 2);
    assert_eq!(result.usage().tool_calls, 1);
    assert_eq!(
        *seen_instructions.lock().unwrap(),
        vec![
            Some("Be brief.\n\nUse celsius (step 1).".to_owned()),
            Some("Be brief.\n\nUse celsius (step 2).".to_owned())
        ]
    );
    assert_eq!(result.all_messages().len(), 4);
    assert_eq!(result.new_messages().len(), 4);
}

#[tokio::test]
async fn output_retry_names_the_failing_field() {
    let model = FunctionModel::new(|messages, _| match count_responses(messages) {
        0 => calls(vec![call("final_result", json!({"city": "London"}), "o1")]),
        _ => {
            let parts = last_request_parts(messages);
            let ModelRequestPart::ToolReturn(ret) = &parts[0] else {
                panic!("{parts:?}")
            };
            assert_eq!(ret.outcome, ToolOutcome::Retried);
            assert_eq!(ret.content[0]["loc"], json!(["country"]));
            assert_eq!(ret.content[0]["type"], "missing");
            // PydanticAI 2.x: the errors as compact JSON inside {"error":…}
            assert!(
                ret.model_response_str()
                    .starts_with(r#"{"error":[{"type":"missing","loc":["country"]"#),
                "{}",
                ret.model_response_str()
            );
            assert_eq!(ret.retry.as_ref().unwrap().attempt, Some(1));
            calls(vec![call(
                "final_result",
                json!({"city": "London", "country": "United Kingdom"}),
                "o2",
            )])
        }
    });
    let agent = Agent::builder(model).output::<CityLocation>().build();
    let result = agent
        .run("Where were the olympics held in 2012?")
        .await
        .unwrap();
    assert_eq!(
        result.output,
        CityLocation {
            city: "London".into(),
            country: "United Kingdom".into()
        }
    );
    // request, response, retry, response, final tool return
    assert_eq!(result.all_messages().len(), 5);
}

#[tokio::test]
async fn nested_field_path_in_tool_argument_errors() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Item {
        qty: u32,
    }
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Order {
        items: Vec<Item>,
    }
    let model = FunctionModel::new(|messages, _| match count_responses(messages) {
        0 => calls(vec![call(
            "place",
            json!({"items": [{"qty": 1}, {"qty": "x"}]}),
            "t1",
        )]),
        1 => {
            let parts = last_request_parts(messages);
            let ModelRequestPart::ToolReturn(ret) = &parts[0] else {
                panic!()
            };
            assert_eq!(ret.content[0]["loc"], json!(["items", 1, "qty"]));
            ModelResponse::text("done")
        }
        _ => unreachable!(),
    });
    let agent = Agent::builder(model)
        .tool_fn("place", "Place an order.", |_ctx, o: Order| async move {
            Ok::<_, ToolError>(o.items.len())
        })
        .build();
    assert_eq!(agent.run("order").await.unwrap().output, "done");
}

#[tokio::test]
async fn tool_model_retry_then_success() {
    /// Look up an item.
    #[tool]
    fn lookup(item_id: u32) -> Result<String, ModelRetry> {
        if item_id == 0 {
            Err(ModelRetry::new("item not found, try another id"))
        } else {
            Ok(format!("item {item_id}"))
        }
    }
    let model = FunctionModel::new(|messages, _| match count_responses(messages) {
        0 => calls(vec![call("lookup", json!({"item_id": 0}), "a")]),
        1 => {
            let parts = last_request_parts(messages);
            let ModelRequestPart::ToolReturn(ret) = &parts[0] else {
                panic!()
            };
            assert_eq!(ret.content, json!("item not found, try another id"));
            assert_eq!(ret.retry.as_ref().unwrap().cause, "model_retry");
            calls(vec![call("lookup", json!({"item_id": 7}), "b")])
        }
        _ => ModelResponse::text(last_request_parts(messages).len().to_string()),
    });
    let agent = Agent::builder(model).tool(Lookup).build();
    let result = agent.run("find the item").await.unwrap();
    assert_eq!(result.output, "1");
    let ModelRequestPart::ToolReturn(ret) = &last_request_parts(result.all_messages())[0] else {
        panic!()
    };
    assert_eq!(ret.content, json!("item 7"));
    assert_eq!(result.usage().tool_calls, 1);
}

#[tokio::test]
async fn retries_exhausted_is_a_typed_error() {
    // tool retries
    /// Always asks again.
    #[tool(retries = 2)]
    fn stubborn() -> Result<String, ModelRetry> {
        Err(ModelRetry::new("no"))
    }
    let model = FunctionModel::new(|_, _| ModelResponse::tool_call("stubborn", json!({})));
    let agent = Agent::builder(model).tool(Stubborn).build();
    match agent.run("x").await.unwrap_err() {
        Error::UnexpectedModelBehavior { message, .. } => {
            // PydanticAI 2.x's message, with its pointer to the docs
            assert!(
                message.starts_with(
                    "Tool 'stubborn' exceeded max retries count of 2. Consider raising the retry limit"
                ),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }

    // output retries
    let model =
        FunctionModel::new(|_, _| ModelResponse::tool_call("final_result", json!({"city": 1})));
    let agent = Agent::builder(model)
        .output::<CityLocation>()
        .output_retries(3)
        .build();
    let err = agent.run("x").await.unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedModelBehavior { ref message, .. }
        if message == "Exceeded maximum output retries (3)"),
        "{err}"
    );

    // text when only an output tool is acceptable
    let model = FunctionModel::new(|_, _| ModelResponse::text("London"));
    let agent = Agent::builder(model).output::<CityLocation>().build();
    assert!(matches!(
        agent.run("x").await.unwrap_err(),
        Error::UnexpectedModelBehavior { .. }
    ));
}

#[tokio::test]
async fn tool_failure_ends_the_run_with_the_tool_error() {
    let model = FunctionModel::new(|_, _| ModelResponse::tool_call("boom", json!({})));
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    let agent = Agent::builder(model)
        .tool_fn("boom", "Fails.", |_ctx, _: NoArgs| async move {
            Err::<(), _>(std::io::Error::other("disk on fire"))
        })
        .build();
    match agent.run("x").await.unwrap_err() {
        Error::ToolExecution { tool_name, source } => {
            assert_eq!(tool_name, "boom");
            assert_eq!(source.to_string(), "disk on fire");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn usage_limits_stop_the_run_before_they_are_passed() {
    let model = FunctionModel::new(|_, _| ModelResponse::tool_call("again", json!({})));
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    let agent = Agent::builder(model)
        .tool_fn("again", "Loop.", |_ctx, _: NoArgs| async move {
            Ok::<_, ToolError>("ok")
        })
        .build();
    let cases = [
        (
            UsageLimits {
                request_limit: Some(3),
                ..Default::default()
            },
            "request_limit of 3",
        ),
        (
            UsageLimits {
                tool_calls_limit: Some(2),
                ..UsageLimits::unlimited()
            },
            "tool_calls_limit",
        ),
        (
            UsageLimits {
                output_tokens_limit: Some(1),
                ..Default::default()
            },
            "output_tokens",
        ),
    ];
    for (limits, expected) in cases {
        let err = agent.run("x").usage_limits(limits).await.unwrap_err();
        assert!(
            matches!(&err, Error::UsageLimitExceeded(m) if m.contains(expected)),
            "{expected}: {err}"
        );
    }

    // the default request limit is 50
    let err = agent.run("x").await.unwrap_err();
    assert!(matches!(&err, Error::UsageLimitExceeded(m) if m.contains("request_limit of 50")));
}

/// The outcome of a search.
#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
enum SearchOutcome {
    /// The city was found.
    Found(CityLocation),
    /// Nothing matched.
    NotFound { reason: String },
}

#[tokio::test]
async fn union_output_has_one_tool_per_variant() {
    let model = FunctionModel::new(|_, info| {
        let names: Vec<_> = info.output_tools.iter().map(|t| t.name.clone()).collect();
        assert_eq!(names, ["final_result_Found", "final_result_NotFound"]);
        assert_eq!(
            info.output_tools[1].description.as_deref(),
            Some("Nothing matched.")
        );
        assert!(!info.allow_text_output);
        calls(vec![call(
            "final_result_NotFound",
            json!({"reason": "no such games"}),
            "",
        )])
    });
    let agent = Agent::builder(model).output::<SearchOutcome>().build();
    assert_eq!(
        agent.run("x").await.unwrap().output,
        SearchOutcome::NotFound {
            reason: "no such games".into()
        }
    );
    let agent = Agent::builder(TestModel::new())
        .output::<SearchOutcome>()
        .build();
    assert_eq!(
        agent.run("x").await.unwrap().output,
        SearchOutcome::Found(CityLocation {
            city: "a".into(),
            country: "a".into()
        })
    );
}

#[tokio::test]
async fn output_validator_can_reject_and_fix() {
    let model = FunctionModel::new(|messages, _| match count_responses(messages) {
        0 => calls(vec![call(
            "final_result",
            json!({"city": "paris", "country": "France"}),
            "",
        )]),
        _ => {
            let parts = last_request_parts(messages);
            let ModelRequestPart::ToolReturn(ret) = &parts[0] else {
                panic!()
            };
            assert_eq!(ret.content, json!("Paris is not the answer"));
            calls(vec![call(
                "final_result",
                json!({"city": "london", "country": "UK"}),
                "",
            )])
        }
    });
    let agent = Agent::builder(model)
        .output::<CityLocation>()
        .output_validator(|ctx: RunContext<()>, mut out: CityLocation| async move {
            if out.city.eq_ignore_ascii_case("paris") {
                assert_eq!(ctx.retry(), 0);
                return Err(ModelRetry::new("Paris is not the answer"));
            }
            out.city = out.city.to_uppercase();
            Ok(out)
        })
        .build();
    assert_eq!(agent.run("x").await.unwrap().output.city, "LONDON");
}

#[tokio::test]
async fn text_output_validator_retry_uses_retry_feedback() {
    let model = FunctionModel::new(|messages, _| match count_responses(messages) {
        0 => ModelResponse::text("short"),
        _ => {
            // PydanticAI 2.x: the model is shown the validator's message, fenced, in the
            // user voice (the history keeps a retry-feedback part, checked below)
            let parts = last_request_parts(messages);
            let ModelRequestPart::UserPrompt(u) = &parts[0] else {
                panic!("{parts:?}")
            };
            let text = serde_json::to_value(&u.content).unwrap();
            assert!(
                text.as_str()
                    .unwrap()
                    .contains("<pyai:retry_feedback>\ntoo short\n</pyai:retry_feedback>"),
                "{text}"
            );
            ModelResponse::text("a long enough answer")
        }
    });
    let agent = Agent::builder(model)
        .output_validator(|_ctx: RunContext<()>, s: String| async move {
            if s.len() < 10 {
                Err(ModelRetry::new("too short"))
            } else {
                Ok(s)
            }
        })
        .build();
    let result = agent.run("x").await.unwrap();
    assert_eq!(result.output, "a long enough answer");
    let ModelRequestPart::RetryFeedback(r) =
        &result.all_messages()[2].as_request().unwrap().parts[0]
    else {
        panic!("{:?}", result.all_messages())
    };
    assert_eq!(r.retry.cause, "model_retry");
    assert_eq!(r.content, json!("too short"));
}

#[tokio::test]
async fn native_and_prompted_output_modes() {
    let model = FunctionModel::new(|messages, info| {
        assert!(info.output_tools.is_empty());
        assert!(info.allow_text_output);
        match info.output_mode {
            OutputMode::Native => assert!(info.instructions.is_none()),
            OutputMode::Prompted => {
                let ins = info.instructions.clone().unwrap();
                assert!(ins.contains("\"country\""), "{ins}");
            }
            other => panic!("{other:?}"),
        }
        match count_responses(messages) {
            0 => ModelResponse::text("not json"),
            _ => ModelResponse::text("```json\n{\"city\": \"London\", \"country\": \"UK\"}\n```"),
        }
    });
    for mode in [OutputMode::Native, OutputMode::Prompted] {
        let agent = Agent::builder(model.clone())
            .output::<CityLocation>()
            .output_mode(mode)
            .build();
        let result = agent.run("x").await.unwrap();
        assert_eq!(result.output.city, "London");
        let ModelRequestPart::RetryFeedback(r) =
            &result.all_messages()[2].as_request().unwrap().parts[0]
        else {
            panic!()
        };
        assert_eq!(r.retry.cause, "validation_error");
        assert_eq!(r.content[0]["type"], "json_invalid");
    }
}

#[tokio::test]
async fn concurrent_tool_calls_run_together_and_keep_call_order() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Wait {
        ms: u64,
        label: String,
    }
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (f, p) = (Arc::clone(&in_flight), Arc::clone(&peak));
    let model = FunctionModel::new(|messages, _| match count_responses(messages) {
        0 => calls(vec![
            call("wait", json!({"ms": 60, "label": "first"}), "1"),
            call("wait", json!({"ms": 1, "label": "second"}), "2"),
            call("wait", json!({"ms": 30, "label": "third"}), "3"),
        ]),
        _ => {
            let labels: Vec<String> = last_tool_returns(messages)
                .iter()
                .map(|r| format!("{}={}", r.tool_call_id, r.content.as_str().unwrap()))
                .collect();
            ModelResponse::text(labels.join(","))
        }
    });
    let agent = Agent::builder(model)
        .tool_fn("wait", "Wait.", move |_ctx, w: Wait| {
            let (f, p) = (Arc::clone(&f), Arc::clone(&p));
            async move {
                let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(w.ms)).await;
                f.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ToolError>(w.label)
            }
        })
        .build();
    let result = agent.run("x").await.unwrap();
    assert_eq!(result.output, "1=first,2=second,3=third");
    assert_eq!(
        peak.load(Ordering::SeqCst),
        3,
        "all three calls were in flight at once"
    );
    assert_eq!(result.usage().tool_calls, 3);
}

#[tokio::test]
async fn end_strategy_early_and_exhaustive() {
    let ran = Arc::new(AtomicUsize::new(0));
    let model = FunctionModel::new(|_, _| {
        calls(vec![
            call(
                "final_result",
                json!({"city": "London", "country": "UK"}),
                "o",
            ),
            call("side_effect", json!({}), "s"),
        ])
    });
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    for (strategy, expected_runs, expected_text) in [
        (
            EndStrategy::Early,
            0,
            "Tool not executed - a final result was already processed.",
        ),
        (EndStrategy::Exhaustive, 1, "done"),
    ] {
        let r = Arc::clone(&ran);
        r.store(0, Ordering::SeqCst);
        let agent = Agent::builder(model.clone())
            .tool_fn("side_effect", "Side effect.", move |_ctx, _: NoArgs| {
                let r = Arc::clone(&r);
                async move {
                    r.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ToolError>("done")
                }
            })
            .output::<CityLocation>()
            .end_strategy(strategy)
            .build();
        let result = agent.run("x").await.unwrap();
        assert_eq!(result.output.city, "London");
        assert_eq!(ran.load(Ordering::SeqCst), expected_runs);
        let parts = last_request_parts(result.all_messages());
        let ModelRequestPart::ToolReturn(final_ret) = &parts[0] else {
            panic!()
        };
        assert_eq!(final_ret.content, json!("Final result processed."));
        let ModelRequestPart::ToolReturn(side) = &parts[1] else {
            panic!()
        };
        assert_eq!(side.content, json!(expected_text));
    }
}

#[tokio::test]
async fn unknown_tool_gets_a_retried_tool_return() {
    let model = FunctionModel::new(|messages, _| match count_responses(messages) {
        0 => calls(vec![call("nope", json!({}), "u")]),
        _ => {
            // PydanticAI 2.x: the unknown call is answered by its own retried return
            let r = last_tool_returns(messages)[0];
            assert_eq!(r.outcome, ToolOutcome::Retried);
            assert_eq!(r.retry.as_ref().unwrap().cause, "unknown_tool");
            assert_eq!(
                r.content,
                json!("Unknown tool name: 'nope'. No tools available.")
            );
            ModelResponse::text("ok")
        }
    });
    let agent = Agent::builder(model).build();
    assert_eq!(agent.run("x").await.unwrap().output, "ok");
}

#[tokio::test]
async fn prepare_hook_changes_or_drops_tools() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    let model = FunctionModel::new(|_, info| {
        let names: Vec<_> = info.function_tools.iter().map(|t| t.name.clone()).collect();
        ModelResponse::text(names.join(","))
    });
    let kept = Tool::new(
        "kept",
        "Kept.",
        |_ctx: RunContext<bool>, _: NoArgs| async move { Ok::<_, ToolError>(1) },
    )
    .with_prepare(|ctx, mut def| {
        def.name = format!("kept_{}", ctx.deps());
        Some(def)
    });
    let dropped = Tool::new(
        "dropped",
        "Dropped.",
        |_ctx: RunContext<bool>, _: NoArgs| async move { Ok::<_, ToolError>(1) },
    )
    .with_prepare(|ctx, def| (!*ctx.deps()).then_some(def));
    let agent = Agent::builder(model)
        .deps_type::<bool>()
        .tool(kept)
        .tool(dropped)
        .build();
    assert_eq!(agent.run("x").deps(true).await.unwrap().output, "kept_true");
    assert_eq!(
        agent.run("x").deps(false).await.unwrap().output,
        "kept_false,dropped"
    );
}

#[tokio::test]
async fn settings_merge_model_agent_run() {
    let model = FunctionModel::new(|_, info| {
        let s = &info.model_settings;
        ModelResponse::text(format!(
            "{:?} {:?} {:?}",
            s.temperature, s.max_tokens, s.seed
        ))
    });
    let agent = Agent::builder(model)
        .settings(ModelSettings::new().temperature(0.2).max_tokens(5))
        .build();
    let out = agent
        .run("x")
        .settings(ModelSettings::new().max_tokens(9).seed(1))
        .await
        .unwrap()
        .output;
    assert_eq!(out, "Some(0.2) Some(9) Some(1)");
}

#[tokio::test]
async fn fallback_model_moves_on_only_for_chosen_errors() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&attempts);
    let failing = FunctionModel::new_async(move |_, _| {
        a.fetch_add(1, Ordering::SeqCst);
        async {
            Err(Error::ModelHttp {
                status: 500,
                model_name: "primary".into(),
                body: "oops".into(),
                retry_after: None,
            })
        }
    });
    let backup = FunctionModel::new(|_, _| ModelResponse::text("from backup"));
    let agent = Agent::builder(FallbackModel::pair(failing.clone(), backup.clone())).build();
    assert_eq!(agent.run("x").await.unwrap().output, "from backup");
    assert_eq!(attempts.load(Ordering::SeqCst), 1);

    // all fail: the errors come back together
    let agent = Agent::builder(FallbackModel::pair(failing.clone(), failing.clone())).build();
    match agent.run("x").await.unwrap_err() {
        Error::FallbackExhausted(errors) => {
            assert_eq!(errors.len(), 2);
            assert_eq!(errors[0].status(), Some(500));
        }
        other => panic!("{other:?}"),
    }

    // an error not chosen for fallback is returned at once
    let agent = Agent::builder(
        FallbackModel::pair(failing, backup).fallback_on(|e| e.status() == Some(429)),
    )
    .build();
    assert_eq!(agent.run("x").await.unwrap_err().status(), Some(500));
}

#[test]
fn run_sync_works_from_plain_threads_and_inside_a_runtime() {
    let agent = Agent::builder(infer_model("test").unwrap()).build();
    assert_eq!(
        agent.run("hi").blocking().unwrap().output,
        "success (no tool calls)"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(async { agent.run("hi").blocking().unwrap().output });
    assert_eq!(out, "success (no tool calls)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = rt.block_on(async {
        let agent = agent.clone();
        tokio::spawn(async move { agent.run("hi").blocking().unwrap().output })
            .await
            .unwrap()
    });
    assert_eq!(out, "success (no tool calls)");
}

#[tokio::test]
async fn unknown_model_string_is_a_typed_error() {
    // an unknown model string fails when it is converted, naming the closest prefix
    let Err(Error::User(message)) = infer_model("nosuch:model") else {
        panic!("`nosuch:model` resolved")
    };
    assert!(
        message.contains("unknown model provider 'nosuch'"),
        "{message}"
    );
    let Err(Error::User(message)) = infer_model("opnai:gpt-4o") else {
        panic!("`opnai:gpt-4o` resolved")
    };
    assert!(message.contains("did you mean 'openai'?"), "{message}");
}

#[tokio::test]
async fn multimodal_prompt_and_history_continuation() {
    let model = FunctionModel::new(|messages, _| {
        let n = messages.len();
        let ModelRequestPart::UserPrompt(u) = &last_request_parts(messages)[0] else {
            panic!()
        };
        ModelResponse::text(format!(
            "{n}:{}",
            serde_json::to_string(&u.content).unwrap()
        ))
    });
    let agent = Agent::builder(model).build();
    let prompt = vec![
        UserContent::from("Describe these"),
        UserContent::image_url("https://example.com/cat.png"),
        UserContent::binary(vec![0x89, b'P', b'N', b'G'], "image/png"),
    ];
    let first = agent.run(prompt).await.unwrap();
    assert!(
        first
            .output
            .starts_with("1:[\"Describe these\",{\"kind\":\"image-url\""),
        "{}",
        first.output
    );
    assert!(
        first.output.contains("\"data\":\"iVBORw==\""),
        "{}",
        first.output
    );
    let second = agent
        .run("again")
        .message_history(first.all_messages().to_vec())
        .await
        .unwrap();
    assert_eq!(second.output, "3:\"again\"");
    assert_eq!(second.new_messages().len(), 2);
    // history survives a JSON round trip
    let reloaded = verity::load_messages(&second.all_messages_json().unwrap()).unwrap();
    assert_eq!(reloaded, second.all_messages());
}

/// A run's state machine is boxed when the request becomes a future, so spawning many runs that wait
/// for a permit costs a few hundred bytes each, not the whole state (about 3 KB).
#[test]
fn a_run_future_that_has_not_started_is_small() {
    let agent = Agent::builder(TestModel::new()).build();
    let run = std::future::IntoFuture::into_future(agent.run("hello"));
    assert!(
        std::mem::size_of_val(&run) <= 512,
        "{} bytes",
        std::mem::size_of_val(&run)
    );
    let started = agent.run("hello").iter();
    assert!(std::mem::size_of_val(&started) < 1024);
}

#[tokio::test]
async fn a_new_prompt_after_unanswered_tool_calls_is_an_error() {
    let model = FunctionModel::new(|_, _| ModelResponse::text("never asked"));
    let agent = Agent::builder(model).build();
    let history = vec![
        ModelMessage::Request(verity::messages::ModelRequest::user_prompt("weather?")),
        ModelMessage::Response(calls(vec![call(
            "get_weather",
            json!({"city": "Paris"}),
            "c1",
        )])),
    ];
    match agent.run("and now?").message_history(history).await {
        Err(Error::User(message)) => assert!(
            message.starts_with(
                "Cannot provide a new user prompt when the message history contains unprocessed tool calls."
            ),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

/// A `#[tool]` function's rich return.
#[tool]
async fn snapshot(x: i64) -> verity::tools::ToolReturn {
    verity::tools::ToolReturn::new(format!("snapped {x}"))
        .with_content(["Before:", "after"])
        .with_metadata(json!({"x": x}))
}

#[tokio::test]
async fn rich_tool_returns_are_written_as_pydantic_ai_writes_them() {
    // two calls with rich returns and a plain one, in one response; then text
    let model = FunctionModel::new(|messages: &[ModelMessage], _| {
        if messages.len() > 1 {
            return ModelResponse::text("done");
        }
        calls(vec![
            call("click", json!({"x": 1}), "c1"),
            call("plain", json!({}), "c2"),
            call("snapshot", json!({"x": 2}), "c3"),
        ])
    });
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Click {
        x: i64,
    }
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    let agent = Agent::builder(model)
        .tool_fn("click", "Click.", |_ctx, c: Click| async move {
            Ok::<_, ToolError>(
                verity::tools::ToolReturn::new(format!("clicked {}", c.x))
                    .with_content(["The screen:"])
                    .with_metadata(json!({"coords": c.x})),
            )
        })
        .tool_fn("plain", "Plain.", |_ctx, _a: NoArgs| async move {
            Ok::<_, ToolError>("ok")
        })
        .tool(Snapshot)
        .build();
    let result = agent.run("go").await.unwrap();
    let request = result.all_messages()[2].as_request().unwrap();
    let shape: Vec<Value> = request
        .parts
        .iter()
        .map(|p| match p {
            ModelRequestPart::ToolReturn(r) => {
                json!(["tool-return", r.tool_name, r.content, r.metadata])
            }
            ModelRequestPart::UserPrompt(u) => json!(["user-prompt", u.content]),
            other => json!(["other", format!("{other:?}")]),
        })
        .collect();
    // PydanticAI 2.68: returns carry the value and the metadata; each call's content
    // follows all the returns as a user prompt
    assert_eq!(
        shape,
        vec![
            json!(["tool-return", "click", "clicked 1", {"coords": 1}]),
            json!(["tool-return", "plain", "ok", null]),
            json!(["tool-return", "snapshot", "snapped 2", {"x": 2}]),
            json!(["user-prompt", ["The screen:"]]),
            json!(["user-prompt", ["Before:", "after"]]),
        ]
    );
    assert_eq!(result.output, "done");
}
