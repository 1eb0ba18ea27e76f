//! History processors shape what a request sends; the run keeps its whole history, and a
//! processor's cut never reaches a model as an invalid history.

use std::sync::{Arc, Mutex};

use serde_json::json;
use verity::history;
use verity::messages::{ModelRequestPart, ModelResponsePart};
use verity::prelude::*;

/// A model that records the messages of every request and answers in text.
fn recording() -> (FunctionModel, Arc<Mutex<Vec<Vec<ModelMessage>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let model = FunctionModel::new(move |messages, _| {
        log.lock().unwrap().push(messages.to_vec());
        ModelResponse::text("ok")
    });
    (model, seen)
}

/// A finished exchange in which the model called a tool and then answered.
fn tool_history() -> Vec<ModelMessage> {
    let model = FunctionModel::new(|messages, _| {
        if messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count()
            == 0
        {
            ModelResponse::tool_call("get_weather", json!({}))
        } else {
            ModelResponse::text("sunny")
        }
    });
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    let agent = Agent::builder(model)
        .tool_fn(
            "get_weather",
            "Weather.",
            |_ctx: RunContext<()>, _: NoArgs| async move { Ok::<_, ToolError>("sunny") },
        )
        .build();
    agent
        .run("weather?")
        .blocking()
        .unwrap()
        .all_messages()
        .to_vec()
}

#[tokio::test]
async fn a_cut_between_a_tool_call_and_its_return_is_repaired_before_sending() {
    let history = tool_history();
    // request, response(call), request(return), response(text)
    assert_eq!(history.len(), 4);
    let (model, seen) = recording();
    // keep the last 3 messages: the call's response is cut off, its return is not
    let agent = Agent::builder(model)
        .history_processor(history::keep_last_messages(3))
        .build();
    let result = agent
        .run("and tomorrow?")
        .message_history(history.clone())
        .await
        .unwrap();
    let sent = seen.lock().unwrap()[0].clone();
    // the orphan return is gone, and nothing before the first request remains
    for message in &sent {
        if let ModelMessage::Request(r) = message {
            assert!(
                !r.parts
                    .iter()
                    .any(|p| matches!(p, ModelRequestPart::ToolReturn(_))),
                "{sent:?}"
            );
        }
    }
    assert!(
        matches!(sent.first(), Some(ModelMessage::Request(_))),
        "{sent:?}"
    );
    // the run's own history is whole
    assert_eq!(result.all_messages().len(), history.len() + 2);
    assert_eq!(result.new_messages().len(), 2);
}

#[tokio::test]
async fn processors_run_in_order_with_the_run_context() {
    let (model, seen) = recording();
    let agent = Agent::builder(model)
        .deps_type::<String>()
        .history_processor_fn(
            |ctx: RunContext<String>, mut messages: Vec<ModelMessage>| async move {
                // a processor can add context, e.g. from the deps
                if let Some(ModelMessage::Request(r)) = messages.last_mut() {
                    r.parts.push(ModelRequestPart::UserPrompt(
                        verity::messages::UserPromptPart::new(format!("(user: {})", ctx.deps())),
                    ));
                }
                messages
            },
        )
        .history_processor(history::drop_thinking())
        .build();
    let result = agent.run("hi").deps("ada".to_string()).await.unwrap();
    let sent = seen.lock().unwrap()[0].clone();
    let ModelMessage::Request(r) = &sent[0] else {
        panic!()
    };
    assert_eq!(r.parts.len(), 2);
    // the stored history does not hold what the processor added
    let ModelMessage::Request(stored) = &result.all_messages()[0] else {
        panic!()
    };
    assert_eq!(stored.parts.len(), 1);
    let _ = ModelResponsePart::Text;
}

#[tokio::test]
async fn dynamic_system_prompts_are_evaluated_again_when_a_history_continues() {
    let (model, seen) = recording();
    let agent = Agent::builder(model)
        .deps_type::<String>()
        .system_prompt("You are a clock.")
        .system_prompt_dynamic("time_of_day", |ctx: RunContext<String>| async move {
            format!("It is {}.", ctx.deps())
        })
        .build();
    let first = agent.run("hi").deps("morning".into()).await.unwrap();
    let second = agent
        .run("and now?")
        .deps("evening".into())
        .message_history(first.all_messages().to_vec())
        .await
        .unwrap();
    let system_texts = |messages: &[ModelMessage]| -> Vec<String> {
        messages
            .iter()
            .filter_map(ModelMessage::as_request)
            .flat_map(|r| r.parts.iter())
            .filter_map(|p| match p {
                ModelRequestPart::SystemPrompt(s) => Some(s.content.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        system_texts(first.all_messages()),
        ["You are a clock.", "It is morning."]
    );
    // the continued run's history (and what the model saw) holds the fresh text
    assert_eq!(
        system_texts(second.all_messages()),
        ["You are a clock.", "It is evening."]
    );
    assert_eq!(
        system_texts(&seen.lock().unwrap()[1]),
        ["You are a clock.", "It is evening."]
    );
    let ModelMessage::Request(r) = &second.all_messages()[0] else {
        panic!()
    };
    let ModelRequestPart::SystemPrompt(s) = &r.parts[1] else {
        panic!()
    };
    assert_eq!(s.dynamic_ref.as_deref(), Some("time_of_day"));
}

#[tokio::test]
async fn older_messages_are_summarized_by_a_model_and_turns_kept() {
    let history = tool_history();
    let summarizer = FunctionModel::new(|messages, _| {
        ModelResponse::text(format!("{} messages about the weather", messages.len() - 1))
    });
    let (model, seen) = recording();
    let agent = Agent::builder(model)
        .history_processor(history::summarize_older(summarizer, 1))
        .build();
    agent
        .run("and tomorrow?")
        .message_history(history.clone())
        .await
        .unwrap();
    let sent = seen.lock().unwrap()[0].clone();
    // the summary and the new prompt, merged into one request
    assert_eq!(sent.len(), 1, "{sent:?}");
    let ModelMessage::Request(r) = &sent[0] else {
        panic!()
    };
    let texts: Vec<String> = r
        .parts
        .iter()
        .filter_map(|p| match p {
            ModelRequestPart::UserPrompt(u) => serde_json::to_value(&u.content)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned)),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        [
            "Summary of the conversation so far: 4 messages about the weather",
            "and tomorrow?"
        ]
    );

    // keep the last turn only: the earlier exchange is left out
    let (model, seen) = recording();
    let agent = Agent::builder(model)
        .history_processor(history::keep_last_turns(1))
        .build();
    agent
        .run("and tomorrow?")
        .message_history(history)
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap()[0].len(), 1);
}
