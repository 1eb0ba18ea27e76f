//! Message histories written by PydanticAI load into Verity and write back unchanged.
use std::path::PathBuf;

use serde_json::Value;
use verity::messages::{
    ModelMessage, ModelRequestPart, ModelResponsePart, ToolOutcome, UserContent, UserPrompt,
    messages_from_json, messages_to_json,
};

fn interop_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VERITY_INTEROP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/interop/pydantic-ai-messages")
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n*** SKIPPED: PydanticAI interop samples not found at {} (set VERITY_INTEROP_DIR) ***\n",
            dir.display()
        );
        None
    }
}

fn load(name: &str) -> Option<(Value, Vec<ModelMessage>)> {
    let dir = interop_dir()?;
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    Some((
        serde_json::from_str(&text).unwrap(),
        messages_from_json(&text).unwrap(),
    ))
}

#[test]
fn every_sample_round_trips_exactly() {
    let Some(dir) = interop_dir() else { return };
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let original: Value = serde_json::from_str(&text).unwrap();
        let messages =
            messages_from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(messages.len(), original.as_array().unwrap().len());
        let written: Value = serde_json::from_str(&messages_to_json(&messages).unwrap()).unwrap();
        assert_eq!(
            written,
            original,
            "{} changed on the way through",
            path.display()
        );
        // nothing the Rust side understands is left in the unknown bucket
        for m in &messages {
            match m {
                ModelMessage::Request(r) => {
                    assert!(
                        r.parts
                            .iter()
                            .all(|p| !matches!(p, ModelRequestPart::Unknown(_)))
                    )
                }
                ModelMessage::Response(r) => {
                    assert!(
                        r.parts
                            .iter()
                            .all(|p| !matches!(p, ModelResponsePart::Unknown(_)))
                    )
                }
            }
        }
        n += 1;
    }
    assert!(n >= 6, "expected the six samples, found {n}");
}

#[test]
fn tool_call_sample_reads_as_a_conversation() {
    let Some((_, messages)) = load("tool_call_and_text.json") else {
        return;
    };
    let ModelMessage::Request(first) = &messages[0] else {
        panic!()
    };
    let ModelRequestPart::SystemPrompt(sp) = &first.parts[0] else {
        panic!()
    };
    assert_eq!(sp.content, "You are a weather bot.");
    let ModelMessage::Response(resp) = &messages[1] else {
        panic!()
    };
    let call = resp.tool_calls().next().unwrap();
    assert_eq!(call.tool_name, "get_weather");
    assert_eq!(call.tool_call_id, "pyd_ai_tool_call_id__get_weather");
    assert_eq!(call.args.to_value().unwrap()["city"], "a");
    assert_eq!(resp.usage.input_tokens, 62);
    assert_eq!(resp.model_name.as_deref(), Some("test"));
    let ModelMessage::Request(ret) = &messages[2] else {
        panic!()
    };
    let ModelRequestPart::ToolReturn(tr) = &ret.parts[0] else {
        panic!()
    };
    assert_eq!(tr.content, "sunny in a for alice");
    assert_eq!(tr.outcome, ToolOutcome::Success);
    assert_eq!(
        messages[3].as_response().unwrap().text_content().unwrap(),
        "{\"get_weather\":\"sunny in a for alice\"}"
    );
}

#[test]
fn retry_and_thinking_samples_keep_retry_information() {
    let Some((_, messages)) = load("output_retry_with_thinking.json") else {
        return;
    };
    let ModelMessage::Response(first) = &messages[1] else {
        panic!()
    };
    let call = first.tool_calls().next().unwrap();
    // args written as a JSON string stay a string
    assert_eq!(call.args.to_value().unwrap()["city"], "London");
    let ModelRequestPart::ToolReturn(retry) = &messages[2].as_request().unwrap().parts[0] else {
        panic!()
    };
    assert_eq!(retry.outcome, ToolOutcome::Retried);
    let info = retry.retry.as_ref().unwrap();
    assert_eq!(
        (info.cause.as_str(), info.attempt, info.max_retries),
        ("validation_error", Some(1), Some(1))
    );
    assert_eq!(retry.content[0]["loc"][0], "country");
    let thinking = messages
        .iter()
        .filter_map(ModelMessage::as_response)
        .flat_map(|r| &r.parts)
        .any(|p| matches!(p, ModelResponsePart::Thinking(t) if !t.content.is_empty()));
    assert!(thinking, "the thinking part is read as thinking");
}

#[test]
fn multimodal_sample_gives_back_the_media() {
    let Some((_, messages)) = load("multimodal_prompt.json") else {
        return;
    };
    let ModelRequestPart::UserPrompt(u) = &messages[0].as_request().unwrap().parts[0] else {
        panic!()
    };
    let UserPrompt::Parts(parts) = &u.content else {
        panic!()
    };
    assert_eq!(parts[0], UserContent::Text("Describe these".into()));
    let UserContent::ImageUrl(img) = &parts[1] else {
        panic!()
    };
    assert_eq!(img.url, "https://example.com/cat.png");
    let UserContent::Binary(bin) = &parts[2] else {
        panic!()
    };
    assert_eq!(bin.media_type, "image/png");
    assert_eq!(&bin.data[..4], b"\x89PNG");
}

#[test]
fn a_verity_run_continues_a_pydantic_ai_history() {
    use verity::prelude::*;
    let Some((_, history)) = load("two_turns.json") else {
        return;
    };
    let agent = Agent::builder(TestModel::new().with_output_text("third")).build();
    let result = agent
        .run("And once more")
        .message_history(history.clone())
        .blocking()
        .unwrap();
    assert_eq!(result.output, "third");
    assert_eq!(result.all_messages().len(), history.len() + 2);
    // what Verity writes keeps PydanticAI's discriminators
    let written: Value = serde_json::from_str(&result.new_messages_json().unwrap()).unwrap();
    assert_eq!(written[0]["kind"], "request");
    assert_eq!(written[0]["parts"][0]["part_kind"], "user-prompt");
    assert_eq!(written[1]["kind"], "response");
    assert_eq!(written[1]["parts"][0]["part_kind"], "text");
    assert!(written[1]["usage"]["input_tokens"].as_u64().unwrap() > 0);
}

/// Found by the `message_history` fuzz target: a history with a number too large for an
/// integer must write back and load again to the same messages. (Without serde_json's
/// `float_roundtrip`, which Verity now enables, the number re-parsed one ULP off.)
#[test]
fn histories_with_huge_numbers_round_trip() {
    let text = include_str!("../data/history_float_roundtrip.json");
    let messages = messages_from_json(text).unwrap();
    let written = messages_to_json(&messages).unwrap();
    assert_eq!(messages_from_json(&written).unwrap(), messages);
}
