//! AG-UI: the event sequence of a run with a tool call (also against PydanticAI's, a
//! golden file), the events against @ag-ui/core's schemas, messages in, bad requests.

use serde_json::{Value, json};
use verity::messages::{ModelMessage, ModelRequestPart, ModelResponsePart, UserPrompt};
use verity_ui::ag_ui::{AgUiAdapter, RunAgentInput, load_messages};

use crate::support::*;

fn input(messages: Value) -> Vec<u8> {
    json!({"threadId": "thread-1", "runId": "run-1", "state": {}, "messages": messages, "tools": [], "context": [], "forwardedProps": {}})
        .to_string()
        .into_bytes()
}

fn events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").expect(e)).expect(e))
        .collect()
}

#[tokio::test]
async fn a_run_with_a_tool_call_is_the_ag_ui_event_sequence() {
    let body = input(json!([{"id": "u1", "role": "user", "content": "Weather in Paris?"}]));
    let response = AgUiAdapter::new().dispatch(&tool_agent(), &body);
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = body_text(response).await;
    let events = events(&text);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "RUN_STARTED",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "TOOL_CALL_START",
            "TOOL_CALL_ARGS",
            "TOOL_CALL_ARGS",
            "TOOL_CALL_END",
            "TOOL_CALL_RESULT",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "RUN_FINISHED",
        ]
    );
    assert!(events.iter().all(|e| e["timestamp"].is_i64()));
    assert_eq!(events[0]["threadId"], "thread-1");
    assert_eq!(events[0]["protocolVersion"], "1.0");
    // the call belongs to the assistant message its text started
    assert_eq!(events[4]["parentMessageId"], events[1]["messageId"]);
    assert_eq!(events[4]["toolCallName"], "get_weather");
    assert_eq!(events[4]["toolCallId"], "call_1");
    let args: String = events[5..7]
        .iter()
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(events[8]["content"], "sunny");
    assert_eq!(events[8]["role"], "tool");
    assert_ne!(events[9]["messageId"], events[1]["messageId"]);
    let answer: String = events[10..13]
        .iter()
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(answer, "It is sunny in Paris.");
    assert_eq!(events[14]["outcome"], json!({"type": "success"}));

    // event by event as PydanticAI's AGUIAdapter writes it (ids by order of appearance,
    // timestamps dropped)
    let golden = std::fs::read_to_string(format!(
        "{}/tests/golden/ag_ui_tool.sse",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(
        normalize_ag_ui(&events),
        normalize_ag_ui(&self::events(&golden))
    );

    if let Some(npm) = ui_npm() {
        assert_eq!(
            run_node(&npm, "validate_ag_ui.cjs", &[], &text),
            events.len().to_string()
        );
        let reasoning = body_text(AgUiAdapter::new().dispatch(&reasoning_agent(), &body)).await;
        let kinds: Vec<Value> = self::events(&reasoning)
            .iter()
            .map(|e| e["type"].clone())
            .collect();
        assert_eq!(
            kinds[1..6],
            [
                json!("REASONING_START"),
                json!("REASONING_MESSAGE_START"),
                json!("REASONING_MESSAGE_CONTENT"),
                json!("REASONING_MESSAGE_END"),
                json!("REASONING_END")
            ]
        );
        run_node(&npm, "validate_ag_ui.cjs", &[], &reasoning);
    }
}

fn normalize_ag_ui(events: &[Value]) -> Vec<Value> {
    let mut ids: Vec<String> = Vec::new();
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            let map = e.as_object_mut().unwrap();
            map.remove("timestamp");
            for key in ["messageId", "parentMessageId"] {
                if let Some(id) = map.get(key).and_then(Value::as_str).map(str::to_owned) {
                    let n = ids.iter().position(|i| *i == id).unwrap_or_else(|| {
                        ids.push(id.clone());
                        ids.len() - 1
                    });
                    map.insert(key.into(), json!(format!("id-{n}")));
                }
            }
            e
        })
        .collect()
}

#[tokio::test]
async fn a_failing_run_ends_with_run_error() {
    let model = verity::models::function::FunctionModel::new(|_: &[ModelMessage], _| {
        verity::messages::ModelResponse::tool_call("nope", json!({}))
    });
    let agent = verity::Agent::builder(model).build();
    let body = input(json!([{"id": "u1", "role": "user", "content": "Hi"}]));
    let events = events(&body_text(AgUiAdapter::new().dispatch(&agent, &body)).await);
    assert_eq!(events.last().unwrap()["type"], "RUN_ERROR");
    assert!(events.last().unwrap()["message"].is_string());
}

#[test]
fn messages_load_as_history() {
    let input: RunAgentInput = serde_json::from_slice(&input(json!([
        {"id": "s", "role": "system", "content": "Be brief."},
        {"id": "u1", "role": "user", "content": "Weather in Paris?"},
        {"id": "a1", "role": "assistant", "content": "Let me check.", "toolCalls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
        ]},
        {"id": "t1", "role": "tool", "toolCallId": "call_1", "content": "sunny"},
        {"id": "a2", "role": "assistant", "content": "It is sunny."},
        {"id": "u2", "role": "user", "content": [{"type": "text", "text": "Thanks!"}]},
    ])))
    .unwrap();
    let history = load_messages(&input.messages[..input.messages.len() - 1]).unwrap();
    assert_eq!(history.len(), 4);
    let ModelMessage::Request(first) = &history[0] else {
        panic!()
    };
    assert!(matches!(first.parts[0], ModelRequestPart::SystemPrompt(_)));
    assert!(matches!(first.parts[1], ModelRequestPart::UserPrompt(_)));
    let ModelMessage::Response(call) = &history[1] else {
        panic!()
    };
    let ModelResponsePart::ToolCall(call) = &call.parts[1] else {
        panic!()
    };
    assert_eq!(call.args.to_value().unwrap(), json!({"city": "Paris"}));
    let ModelMessage::Request(ret) = &history[2] else {
        panic!()
    };
    let ModelRequestPart::ToolReturn(ret) = &ret.parts[0] else {
        panic!()
    };
    assert_eq!(
        (ret.tool_name.as_str(), &ret.content),
        ("get_weather", &json!("sunny"))
    );
    let run = AgUiAdapter::run_input(&input).unwrap();
    assert_eq!(run.history.len(), history.len());
    assert_eq!(run.prompt, Some(UserPrompt::Parts(vec!["Thanks!".into()])));
}

#[tokio::test]
async fn malformed_inputs_are_400s() {
    for body in [
        &b"[]"[..],
        br#"{"threadId": "t", "runId": "r"}"#,
        br#"{"threadId": "t", "runId": "r", "messages": []}"#,
        br#"{"threadId": "t", "runId": "r", "messages": [{"id": "a", "role": "assistant", "content": "x"}]}"#,
        br#"{"threadId": "t", "runId": "r", "messages": [{"id": "u", "role": "user", "content": 5}]}"#,
        br#"{"threadId": "t", "runId": "r", "messages": [{"id": "u", "role": "wizard", "content": "x"}]}"#,
    ] {
        let response = AgUiAdapter::new().dispatch(&tool_agent(), body);
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
    }
}
