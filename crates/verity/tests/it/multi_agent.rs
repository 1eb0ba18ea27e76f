//! Agent delegation: a tool runs another agent with the parent's usage, so the parent's
//! usage and limits count the child's requests and tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use verity::prelude::*;
use verity::usage::RunUsage;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Ask {
    question: String,
}

/// A child that answers in one request, or (when `tool_first`) after calling a tool.
fn child(tool_first: bool) -> Agent {
    let model = FunctionModel::new(move |messages, _| {
        let responses = messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count();
        if tool_first && responses == 0 {
            ModelResponse::tool_call("lookup", json!({}))
        } else {
            ModelResponse::text("child says hi")
        }
    });
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    Agent::builder(model)
        .tool_fn(
            "lookup",
            "Looks up.",
            |_ctx: RunContext<()>, _: NoArgs| async move { Ok::<_, ToolError>("found") },
        )
        .build()
}

/// A parent whose first response delegates, and whose second answers.
fn parent_model() -> FunctionModel {
    FunctionModel::new(|messages, _| {
        let responses = messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count();
        if responses == 0 {
            ModelResponse::tool_call("delegate", json!({"question": "hi?"}))
        } else {
            ModelResponse::text("done")
        }
    })
}

#[tokio::test]
async fn a_delegated_run_counts_in_the_parents_usage() {
    let child = child(false);
    let parent = Agent::builder(parent_model())
        .tool_fn(
            "delegate",
            "Asks the child.",
            move |ctx: RunContext<()>, a: Ask| {
                let child = child.clone();
                async move {
                    let r = child.run(a.question).usage(ctx.shared_usage()).await?;
                    // the child counted from the parent's usage
                    assert_eq!(r.usage().requests, 2);
                    Ok::<_, ToolError>(r.output)
                }
            },
        )
        .build();
    let result = parent.run("go").await.unwrap();
    assert_eq!(result.output, "done");
    // two parent requests and the child's one
    assert_eq!(result.usage().requests, 3);
    assert_eq!(result.usage().tool_calls, 1);
    assert!(result.usage().input_tokens > 0);
}

#[tokio::test]
async fn the_parents_request_limit_stops_the_child() {
    let child = child(true);
    let stopped = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&stopped);
    let parent = Agent::builder(parent_model())
        .usage_limits(UsageLimits {
            request_limit: Some(2),
            ..Default::default()
        })
        .tool_fn(
            "delegate",
            "Asks the child.",
            move |ctx: RunContext<()>, a: Ask| {
                let child = child.clone();
                let seen = Arc::clone(&seen);
                async move {
                    // parent 1 + child 1 = 2 requests: the child's second would pass the
                    // parent's limit of 2
                    match child.run(a.question).usage(ctx.shared_usage()).await {
                        Err(Error::UsageLimitExceeded(message)) => {
                            assert!(message.contains("request_limit of 2"), "{message}");
                            seen.store(true, Ordering::SeqCst);
                            Ok::<_, ToolError>("stopped".to_string())
                        }
                        other => panic!("{other:?}"),
                    }
                }
            },
        )
        .build();
    let err = parent.run("go").await.unwrap_err();
    assert!(stopped.load(Ordering::SeqCst));
    // and the parent itself, now at 2 requests, cannot make its next one
    assert!(matches!(err, Error::UsageLimitExceeded(_)), "{err}");
}

/// Delegation two levels deep: the grandchild stops at the limits of the run its parent
/// is part of, and its usage-limit error ends the runs above it as it is.
#[tokio::test]
async fn an_enclosing_runs_limit_stops_a_grandchild() {
    let grandchild = child(false);
    let middle = Agent::builder(parent_model())
        .tool_fn(
            "delegate",
            "Asks the grandchild.",
            move |ctx: RunContext<()>, a: Ask| {
                let grandchild = grandchild.clone();
                async move {
                    let r = grandchild.run(a.question).usage(ctx.shared_usage()).await?;
                    Ok::<_, ToolError>(r.output)
                }
            },
        )
        .build();
    let ran_middle = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&ran_middle);
    let top = Agent::builder(parent_model())
        .usage_limits(UsageLimits {
            request_limit: Some(2),
            ..Default::default()
        })
        .tool_fn(
            "delegate",
            "Asks the middle agent.",
            move |ctx: RunContext<()>, a: Ask| {
                let middle = middle.clone();
                let seen = Arc::clone(&seen);
                async move {
                    seen.store(true, Ordering::SeqCst);
                    let r = middle.run(a.question).usage(ctx.shared_usage()).await?;
                    Ok::<_, ToolError>(r.output)
                }
            },
        )
        .build();
    let usage = verity::usage::SharedUsage::new(RunUsage::default(), UsageLimits::unlimited());
    // top 1 + middle 1 = 2: the grandchild's request would be the third
    let err = top.run("go").usage(usage.clone()).await.unwrap_err();
    assert!(ran_middle.load(Ordering::SeqCst));
    assert!(
        matches!(&err, Error::UsageLimitExceeded(m) if m.contains("request_limit of 2")),
        "{err:?}"
    );
    assert_eq!(usage.current().requests, 2);
}

#[test]
fn run_usage_adds_up() {
    let a = RunUsage {
        requests: 1,
        input_tokens: 10,
        ..Default::default()
    };
    let mut b = RunUsage {
        requests: 2,
        output_tokens: 5,
        ..Default::default()
    };
    b += &a;
    assert_eq!(b.requests, 3);
    let c = a.clone() + b.clone();
    assert_eq!(c.requests, 4);
    assert_eq!(c.input_tokens, 20);
    assert_eq!(c.since(&a), b);
}

/// Programmatic hand-off: application code runs two agents one after the other with one
/// usage and one set of limits, passing the history on.
#[tokio::test]
async fn two_agents_share_one_usage_and_limits_in_application_code() {
    use verity::usage::SharedUsage;
    let shared = SharedUsage::new(
        RunUsage::default(),
        UsageLimits {
            request_limit: Some(2),
            ..Default::default()
        },
    );
    let first = Agent::builder(FunctionModel::new(|_, _| {
        ModelResponse::text("flight AK456")
    }))
    .build();
    let second = Agent::builder(FunctionModel::new(|messages, _| {
        // the second agent sees the first one's conversation
        ModelResponse::text(format!("seat for {} messages", messages.len()))
    }))
    .build();
    let found = first
        .run("find a flight")
        .usage(shared.clone())
        .await
        .unwrap();
    let seat = second
        .run("pick a seat")
        .message_history(found.all_messages().to_vec())
        .usage(shared.clone())
        .await
        .unwrap();
    assert_eq!(seat.output, "seat for 3 messages");
    assert_eq!(shared.current().requests, 2);
    // a third request passes the shared limit
    let err = first.run("again").usage(shared.clone()).await.unwrap_err();
    assert!(matches!(err, Error::UsageLimitExceeded(_)), "{err}");
}

/// An output function: the model's arguments go through the function, whose return is
/// the output; its ModelRetry asks the model again; it can hand off to another agent.
#[tokio::test]
async fn an_output_function_can_retry_and_hand_off() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Booking {
        /// The flight number.
        flight: String,
    }
    let seat_agent = Agent::builder(FunctionModel::new(|messages, _| {
        let prompt = verity::messages::last_user_prompt(messages).unwrap_or_default();
        ModelResponse::text(format!("seat 12A on {prompt}"))
    }))
    .build();
    let model = FunctionModel::new(|messages, info| {
        assert_eq!(info.output_tools[0].name, "book");
        let answered = messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count();
        let flight = if answered == 0 { "XX000" } else { "AK456" };
        ModelResponse::tool_call("book", json!({"flight": flight}))
    });
    let agent = Agent::builder(model)
        .output_function(
            "book",
            "Books a flight.",
            move |ctx: RunContext<()>, b: Booking| {
                let seat_agent = seat_agent.clone();
                async move {
                    if b.flight == "XX000" {
                        return Err(ToolError::from(ModelRetry::new("no such flight")));
                    }
                    // hand-off: another agent finishes the job, on the same usage
                    let seat = seat_agent
                        .run(b.flight)
                        .usage(ctx.shared_usage())
                        .await
                        .map_err(|e| ToolError::failed(e.to_string()))?;
                    Ok(seat.output)
                }
            },
        )
        .build();
    let result = agent.run("book me AK456").await.unwrap();
    assert_eq!(result.output, "seat 12A on AK456");
    // two requests of the agent, one of the seat agent
    assert_eq!(result.usage().requests, 3);
    // the first call was sent back with the function's message
    let retry = result.all_messages()[2].as_request().unwrap();
    let verity::messages::ModelRequestPart::ToolReturn(r) = &retry.parts[0] else {
        panic!("{retry:?}")
    };
    assert_eq!(r.content, json!("no such flight"));
}
