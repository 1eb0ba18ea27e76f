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
