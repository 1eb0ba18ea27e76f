//! dump_messages / load_messages: exact round trips over generated histories (tool
//! calls, retries, denials, reasoning, files), through JSON as a client holds them, and
//! rebuilding from the parts when the metadata is gone or the UI changed a message.

use serde_json::{Map, Value, json};
use verity::messages::*;
use verity::usage::RequestUsage;
use verity_ui::vercel::{UiMessage, UiPart, dump_messages, load_messages};

use crate::support::*;

fn ts(rng: &mut fastrand::Rng) -> Option<chrono::DateTime<chrono::Utc>> {
    rng.bool().then(|| {
        chrono::DateTime::from_timestamp(
            1_700_000_000 + rng.i64(0..10_000_000),
            rng.u32(0..1_000_000) * 1000,
        )
        .unwrap()
    })
}

fn word(rng: &mut fastrand::Rng) -> String {
    let words = [
        "Paris",
        "sunny",
        "héllo 👋",
        "multi\nline",
        "\"quoted\"",
        "",
        "42",
        "<b>x</b>",
    ];
    words[rng.usize(..words.len())].to_owned()
}

fn user_request(rng: &mut fastrand::Rng, first: bool) -> ModelRequest {
    let mut parts = Vec::new();
    if first && rng.bool() {
        let mut sp = SystemPromptPart::new(format!("Be brief. {}", word(rng)));
        sp.timestamp = ts(rng);
        if rng.bool() {
            sp.dynamic_ref = Some("dyn".into());
        }
        parts.push(ModelRequestPart::SystemPrompt(sp));
    }
    let prompt = match rng.u8(0..3) {
        0 => UserPrompt::Text(word(rng)),
        1 => UserPrompt::Parts(vec![
            UserContent::Text(word(rng)),
            UserContent::image_url("https://example.com/cat.png"),
        ]),
        _ => UserPrompt::Parts(vec![
            UserContent::Text(word(rng)),
            UserContent::Binary(
                BinaryContent::new(vec![1, 2, 3, rng.u8(..)], "application/pdf")
                    .with_filename("a.pdf"),
            ),
        ]),
    };
    let mut up = UserPromptPart::new(prompt);
    up.timestamp = ts(rng);
    parts.push(ModelRequestPart::UserPrompt(up));
    let mut request = ModelRequest::new(parts);
    request.timestamp = ts(rng);
    if rng.bool() {
        request.instructions = Some("Answer in French.".into());
    }
    request.run_id = rng.bool().then(|| format!("run-{}", rng.u32(..)));
    request
}

fn response(rng: &mut fastrand::Rng, parts: Vec<ModelResponsePart>) -> ModelResponse {
    let mut r = ModelResponse::new(parts);
    r.timestamp = ts(rng);
    r.model_name = rng.bool().then(|| "gpt-test".to_owned());
    r.provider_name = rng.bool().then(|| "openai".to_owned());
    r.provider_response_id = rng.bool().then(|| format!("resp-{}", rng.u32(..)));
    r.finish_reason = match rng.u8(0..4) {
        0 => None,
        1 => Some(FinishReason::Stop),
        2 => Some(FinishReason::ToolCall),
        _ => Some(FinishReason::Other("weird".into())),
    };
    r.usage = RequestUsage {
        input_tokens: rng.u64(0..1000),
        output_tokens: rng.u64(0..1000),
        ..Default::default()
    };
    let mut details = Map::new();
    details.insert("seed".into(), json!(rng.u32(..)));
    r.provider_details = rng.bool().then_some(details);
    r
}

fn thinking(rng: &mut fastrand::Rng) -> ModelResponsePart {
    let mut t = ThinkingPart::new(format!("I think {}", word(rng)));
    t.signature = rng.bool().then(|| "sig==".to_owned());
    t.id = rng.bool().then(|| "rs_1".to_owned());
    t.provider_name = t.signature.as_ref().map(|_| "anthropic".to_owned());
    ModelResponsePart::Thinking(t)
}

fn text(rng: &mut fastrand::Rng) -> ModelResponsePart {
    let mut t = TextPart::new(word(rng));
    t.id = rng.bool().then(|| "msg_1".to_owned());
    ModelResponsePart::Text(t)
}

/// A history: turns of a user prompt, tool rounds (calls with every kind of return),
/// and a final answer.
fn history(rng: &mut fastrand::Rng) -> Vec<ModelMessage> {
    let mut messages = Vec::new();
    let mut call = 0;
    for turn in 0..rng.usize(1..4) {
        messages.push(ModelMessage::Request(user_request(rng, turn == 0)));
        for _ in 0..rng.usize(0..3) {
            let mut parts = Vec::new();
            if rng.bool() {
                parts.push(thinking(rng));
            }
            if rng.bool() {
                parts.push(text(rng));
            }
            let mut returns = Vec::new();
            for _ in 0..rng.usize(1..3) {
                call += 1;
                let id = format!("call_{call}");
                let args = match rng.u8(0..3) {
                    0 => ToolCallArgs::Json(format!("{{\"city\": \"{}\"}}", "Paris")),
                    1 => ToolCallArgs::Object(
                        json!({"n": call, "deep": {"x": [1, 2]}})
                            .as_object()
                            .unwrap()
                            .clone(),
                    ),
                    _ => ToolCallArgs::Json(String::new()),
                };
                parts.push(ModelResponsePart::ToolCall(ToolCallPart::new(
                    "get_weather",
                    args,
                    id.clone(),
                )));
                let ret = match rng.u8(0..5) {
                    0 => {
                        let mut t = ToolReturnPart::new(
                            "get_weather",
                            json!({"temp": 21, "sky": word(rng)}),
                            id,
                        );
                        t.metadata = rng.bool().then(|| json!({"cached": true}));
                        ModelRequestPart::ToolReturn(t)
                    }
                    1 => {
                        let mut t = ToolReturnPart::new("get_weather", json!("no such city"), id);
                        t.outcome = ToolOutcome::Retried;
                        t.retry = Some(RetryInfo {
                            cause: "model_retry".into(),
                            attempt: Some(1),
                            max_retries: Some(1),
                            extra: Map::new(),
                        });
                        ModelRequestPart::ToolReturn(t)
                    }
                    2 => {
                        let mut t = ToolReturnPart::new("get_weather", json!("Not today"), id);
                        t.outcome = ToolOutcome::Denied;
                        ModelRequestPart::ToolReturn(t)
                    }
                    3 => ModelRequestPart::RetryPrompt(RetryPromptPart::new(
                        json!([{"type": "missing", "loc": ["city"], "msg": "Field required", "input": {}}]),
                        Some("get_weather".into()),
                        id,
                    )),
                    _ => {
                        let mut t = ToolReturnPart::new("get_weather", json!("boom"), id);
                        t.outcome = ToolOutcome::Failed;
                        ModelRequestPart::ToolReturn(t)
                    }
                };
                returns.push(ret);
            }
            messages.push(ModelMessage::Response(response(rng, parts)));
            if rng.u8(0..4) == 0 {
                returns.push(ModelRequestPart::RetryFeedback(RetryFeedbackPart::new(
                    "Please answer in text.",
                    "no_output",
                    1,
                    3,
                )));
            }
            let mut request = ModelRequest::new(returns);
            request.timestamp = ts(rng);
            messages.push(ModelMessage::Request(request));
        }
        let mut parts = vec![text(rng)];
        if rng.bool() {
            parts.insert(0, thinking(rng));
        }
        messages.push(ModelMessage::Response(response(rng, parts)));
    }
    messages
}

fn strip_metadata(ui: &[UiMessage]) -> Vec<UiMessage> {
    ui.iter()
        .cloned()
        .map(|mut m| {
            m.metadata = None;
            m
        })
        .collect()
}

/// What a UI shows of messages: their roles and parts without text states.
fn shown(ui: &[UiMessage]) -> Value {
    let mut value = serde_json::to_value(strip_metadata(ui)).unwrap();
    for m in value.as_array_mut().unwrap() {
        m.as_object_mut().unwrap().remove("id");
        for p in m["parts"].as_array_mut().unwrap() {
            if p["type"] == "text" || p["type"] == "reasoning" {
                p.as_object_mut().unwrap().remove("state");
            }
        }
    }
    value
}

#[test]
fn load_of_dump_is_exact_for_generated_histories() {
    let mut rng = fastrand::Rng::with_seed(23);
    for case in 0..300 {
        let history = history(&mut rng);
        let ui = dump_messages(&history);
        assert_eq!(load_messages(&ui).unwrap(), history, "case {case}");
        // through JSON, as a client holds and sends them
        let json = serde_json::to_string(&ui).unwrap();
        let back: Vec<UiMessage> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ui, "case {case}");
        assert_eq!(load_messages(&back).unwrap(), history, "case {case}");
        // without the metadata, the messages are rebuilt from what the UI shows
        let rebuilt = load_messages(&strip_metadata(&ui)).unwrap();
        assert_eq!(shown(&dump_messages(&rebuilt)), shown(&ui), "case {case}");
    }
}

#[test]
fn real_run_histories_round_trip() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(async {
        let agent = tool_agent();
        let first = agent.run("Weather in Paris?").await.unwrap();
        agent
            .run("And tomorrow?")
            .message_history(first.all_messages().to_vec())
            .await
            .unwrap()
    });
    let history = result.all_messages().to_vec();
    let ui = dump_messages(&history);
    assert_eq!(load_messages(&ui).unwrap(), history);
    let roles: Vec<_> = ui
        .iter()
        .map(|m| serde_json::to_value(m.role).unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
}

#[test]
fn an_edited_message_is_rebuilt_from_its_parts() {
    let mut rng = fastrand::Rng::with_seed(7);
    let history = history(&mut rng);
    let mut ui = dump_messages(&history);
    ui[0].parts.retain(|p| !matches!(p, UiPart::File { .. }));
    for part in &mut ui[0].parts {
        if let UiPart::Text { text, .. } = part {
            *text = "edited".into();
        }
    }
    let loaded = load_messages(&ui).unwrap();
    let ModelMessage::Request(first) = &loaded[0] else {
        panic!()
    };
    let [ModelRequestPart::UserPrompt(p)] = first.parts.as_slice() else {
        panic!("{first:?}")
    };
    assert_eq!(p.content, UserPrompt::Text("edited".into()));
    // the untouched messages are still exact
    assert_eq!(loaded[1..], history[history.len() - (loaded.len() - 1)..]);
}

#[test]
fn the_ai_sdk_accepts_dumped_messages() {
    let Some(npm) = ui_npm() else { return };
    let mut rng = fastrand::Rng::with_seed(99);
    let all: Vec<UiMessage> = (0..30)
        .flat_map(|_| dump_messages(&history(&mut rng)))
        .collect();
    let json = serde_json::to_string(&all).unwrap();
    assert_eq!(
        run_node(&npm, "validate_messages.cjs", &[], &json),
        all.len().to_string()
    );
}

/// A run whose tool returns content for the model and data for the client.
async fn rich_return_history() -> Vec<ModelMessage> {
    use verity::prelude::*;
    use verity::tools::ToolReturn;
    use verity_ui::vercel::{DataChunk, UiChunk};
    let model = FunctionModel::new(|messages: &[ModelMessage], _| {
        if messages.len() > 1 {
            return ModelResponse::text("done");
        }
        ModelResponse::new(vec![ModelResponsePart::ToolCall(ToolCallPart::new(
            "shot",
            ToolCallArgs::from(json!({"x": 1})),
            "c1",
        ))])
    });
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct X {
        x: i64,
    }
    let data = |kind: &str, id: Option<&str>, data: Value, transient| {
        Value::from(UiChunk::Data(DataChunk {
            kind: kind.into(),
            id: id.map(Into::into),
            data,
            transient,
        }))
    };
    let metadata = json!([
        data("data-w", Some("w1"), json!({"a": 1}), None),
        data("data-t", None, json!(2), Some(true)),
        Value::from(UiChunk::SourceUrl {
            source_id: "s1".into(),
            url: "https://x.example".into(),
            title: Some("X".into()),
            provider_metadata: None,
        }),
        Value::from(UiChunk::File {
            url: "https://x.example/f.png".into(),
            media_type: "image/png".into(),
        }),
    ]);
    let agent = Agent::builder(model)
        .tool_fn("shot", "Shoot.", move |_ctx, a: X| {
            let metadata = metadata.clone();
            async move {
                Ok::<_, ToolError>(
                    ToolReturn::new(format!("clicked {}", a.x))
                        .with_content(["Before:"])
                        .with_metadata(metadata),
                )
            }
        })
        .build();
    agent.run("hi").await.unwrap().all_messages().to_vec()
}

#[tokio::test]
async fn a_tools_content_and_data_dump_as_pydantic_ai_dumps_them() {
    let history = rich_return_history().await;
    let dumped = dump_messages(&history);
    // what PydanticAI 2.68's dump_messages writes for the same run, without ids, inputs
    // and provider metadata
    let expected = [
        (
            "user",
            json!([{"type": "text", "text": "hi", "state": "done"}]),
        ),
        (
            "assistant",
            json!([
                {"type": "tool-shot", "toolCallId": "c1", "state": "output-available", "output": "clicked 1"},
                {"type": "data-w", "id": "w1", "data": {"a": 1}},
                {"type": "data-t", "data": 2},
                {"type": "source-url", "sourceId": "s1", "url": "https://x.example", "title": "X"},
                {"type": "file", "mediaType": "image/png", "url": "https://x.example/f.png"},
            ]),
        ),
        (
            "user",
            json!([{"type": "text", "text": "Before:", "state": "done"}]),
        ),
        (
            "assistant",
            json!([{"type": "text", "text": "done", "state": "done"}]),
        ),
    ];
    let shown: Vec<(String, Value)> = dumped
        .iter()
        .map(|m| {
            let parts: Vec<Value> = m
                .parts
                .iter()
                .filter(|p| !matches!(p, UiPart::StepStart))
                .map(|p| {
                    let mut v = p.to_json();
                    if let Value::Object(map) = &mut v {
                        for key in [
                            "input",
                            "providerExecuted",
                            "providerMetadata",
                            "callProviderMetadata",
                        ] {
                            map.remove(key);
                        }
                    }
                    v
                })
                .collect();
            let role = serde_json::to_value(m.role)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned();
            (role, Value::Array(parts))
        })
        .collect();
    let expected: Vec<(String, Value)> = expected
        .into_iter()
        .map(|(r, p)| (r.to_owned(), p))
        .collect();
    assert_eq!(shown, expected);

    // the AI SDK takes them as UI messages
    if let Some(npm) = ui_npm() {
        let json = serde_json::to_string(&dumped).unwrap();
        assert_eq!(
            run_node(&npm, "validate_messages.cjs", &[], &json),
            dumped.len().to_string()
        );
    }
    // and the round trip stays exact
    assert_eq!(load_messages(&dumped).unwrap(), history);
    // the content's user message does not come back twice when the client sends the
    // messages as they are
    let json = serde_json::to_value(&dumped).unwrap();
    let back: Vec<UiMessage> = serde_json::from_value(json).unwrap();
    assert_eq!(load_messages(&back).unwrap(), history);
}
