//! The UI message stream: its chunks against PydanticAI's (golden files), the AI SDK's
//! parser, approvals, errors and bad requests.

use serde_json::{Value, json};
use verity::messages::{ModelMessage, ModelResponse};
use verity::prelude::*;
use verity_ui::vercel::{ChatRequest, SdkVersion, UiChunk, VercelAiAdapter, VercelEncoder};

use crate::support::*;

async fn stream_of(agent: &Agent<(), String>, adapter: VercelAiAdapter, prompt: &str) -> String {
    let response = adapter.dispatch(agent, &chat_body(prompt));
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["x-vercel-ai-ui-message-stream"], "v1");
    assert_eq!(headers["content-type"], "text/event-stream");
    body_text(response).await
}

fn golden(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    sse_chunks(&std::fs::read_to_string(path).unwrap())
}

#[tokio::test]
async fn tool_run_matches_pydantic_ai_chunk_by_chunk() {
    let body = stream_of(
        &tool_agent(),
        VercelAiAdapter::new(),
        "What is the weather in Paris?",
    )
    .await;
    let ours = normalize(&sse_chunks(&body));
    let theirs = normalize(&golden("vercel_tool.sse"));
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "chunk {i} differs");
    }
    assert_eq!(ours.len(), theirs.len(), "{ours:#?}");
}

#[tokio::test]
async fn data_a_tool_returns_follows_its_output_as_in_pydantic_ai() {
    use verity::tools::ToolReturn;
    use verity_ui::vercel::DataChunk;
    let weather = Tool::new(
        "get_weather",
        "The weather in a city.",
        |_ctx, c: City| async move {
            let data = UiChunk::Data(DataChunk {
                kind: "data-weather".into(),
                id: Some("w1".into()),
                data: json!({"city": c.city, "sky": "sunny"}),
                transient: None,
            });
            let source = UiChunk::SourceUrl {
                source_id: "s1".into(),
                url: "https://weather.example/paris".into(),
                title: Some("Paris weather".into()),
                provider_metadata: None,
            };
            Ok::<_, ToolError>(
                ToolReturn::new("sunny")
                    .with_metadata(json!([Value::from(data), Value::from(source)])),
            )
        },
    );
    let agent = Agent::builder(tool_model()).tool(weather).build();
    let body = stream_of(
        &agent,
        VercelAiAdapter::new(),
        "What is the weather in Paris?",
    )
    .await;
    assert_eq!(
        normalize(&sse_chunks(&body)),
        normalize(&golden("vercel_tool_data.sse"))
    );
    // and the AI SDK takes them into the message
    if let Some(npm) = ui_npm() {
        let out: Value =
            serde_json::from_str(&run_node(&npm, "validate_stream.cjs", &[], &body)).unwrap();
        assert_eq!(out["errors"], json!([]), "{out}");
    }
}

#[tokio::test]
async fn reasoning_run_matches_pydantic_ai_chunk_by_chunk() {
    let body = stream_of(&reasoning_agent(), VercelAiAdapter::new(), "Hi!").await;
    assert_eq!(
        normalize(&sse_chunks(&body)),
        normalize(&golden("vercel_reasoning.sse"))
    );
}

#[tokio::test]
async fn approval_runs_match_pydantic_ai_chunk_by_chunk() {
    let agent = golden_approval_agent(Default::default());
    let adapter = VercelAiAdapter::new().sdk_version(SdkVersion::V6);
    let body = body_text(adapter.dispatch(&agent, &chat_body("Delete notes.txt"))).await;
    assert_eq!(
        normalize(&sse_chunks(&body)),
        normalize(&golden("vercel_approval.sse"))
    );

    let approved = json!({
        "id": "chat-1",
        "trigger": "submit-message",
        "messages": [
            {"id": "user-1", "role": "user", "parts": [{"type": "text", "text": "Delete notes.txt"}]},
            {"id": "assistant-1", "role": "assistant", "parts": [
                {"type": "step-start"},
                {"type": "tool-delete_file", "toolCallId": "call_1", "state": "approval-responded",
                 "input": {"path": "notes.txt"}, "approval": {"id": "call_1", "approved": true}},
            ]},
        ],
    });
    let body = body_text(adapter.dispatch(&agent, approved.to_string().as_bytes())).await;
    assert_eq!(
        normalize(&sse_chunks(&body)),
        normalize(&golden("vercel_approval_resumed.sse"))
    );

    // denied: the call does not run, so it is not announced again; only the denial
    let mut denied = approved;
    denied["messages"][1]["parts"][1]["approval"] =
        json!({"id": "call_1", "approved": false, "reason": "Not now."});
    let body = body_text(adapter.dispatch(&agent, denied.to_string().as_bytes())).await;
    assert_eq!(
        normalize(&sse_chunks(&body)),
        normalize(&golden("vercel_approval_denied.sse"))
    );
}

#[tokio::test]
async fn invalid_arguments_are_input_errors_as_in_pydantic_ai() {
    let agent = golden_invalid_args_agent();
    let v6 = VercelAiAdapter::new().sdk_version(SdkVersion::V6);
    let body = body_text(v6.dispatch(&agent, &chat_body("Weather?"))).await;
    let ours = normalize(&sse_chunks(&body));
    let theirs = normalize(&golden("vercel_invalid_args.sse"));
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "chunk {i} differs");
    }
    assert_eq!(ours.len(), theirs.len(), "{ours:#?}");

    // AI SDK v5 has no `tool-input-error`: the input is announced, the retry is the
    // output's error
    let body = stream_of(&agent, VercelAiAdapter::new(), "Weather?").await;
    let types: Vec<String> = sse_chunks(&body)
        .iter()
        .filter_map(|c| c["type"].as_str().map(str::to_owned))
        .filter(|t| t.starts_with("tool-input-a") || t.starts_with("tool-output"))
        .collect();
    assert_eq!(
        types,
        [
            "tool-input-available",
            "tool-input-available",
            "tool-output-error",
            "tool-output-error"
        ]
    );
}

#[tokio::test]
async fn the_ai_sdk_accepts_every_chunk() {
    let Some(npm) = ui_npm() else { return };
    for (agent, prompt) in [
        (tool_agent(), "Weather?"),
        (reasoning_agent(), "Hi!"),
        (golden_invalid_args_agent(), "Weather?"),
    ] {
        for version in [SdkVersion::V5, SdkVersion::V6] {
            let body = stream_of(&agent, VercelAiAdapter::new().sdk_version(version), prompt).await;
            let n = sse_chunks(&body).len();
            let out: Value =
                serde_json::from_str(&run_node(&npm, "validate_stream.cjs", &[], &body)).unwrap();
            assert_eq!(out["chunks"], json!(n), "{out}");
            assert_eq!(out["errors"], json!([]), "{out}");
            assert_eq!(out["message"]["role"], "assistant");
        }
    }
    // the assistant message the SDK builds from the tool run
    let body = stream_of(&tool_agent(), VercelAiAdapter::new(), "Weather?").await;
    let out: Value =
        serde_json::from_str(&run_node(&npm, "validate_stream.cjs", &[], &body)).unwrap();
    let parts = &out["message"]["parts"];
    let kinds: Vec<&str> = parts
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "step-start",
            "text",
            "tool-get_weather",
            "step-start",
            "text"
        ]
    );
    assert_eq!(parts[2]["state"], "output-available");
    assert_eq!(parts[2]["input"], json!({"city": "Paris"}));
    assert_eq!(parts[2]["output"], "sunny");
    assert_eq!(parts[4]["text"], "It is sunny in Paris.");
}

fn approval_agent() -> Agent<(), Deferrable<String>> {
    let model =
        FunctionModel::new(
            |messages: &[ModelMessage], _| match verity::messages::last_tool_returns(messages)
                .first()
            {
                None => ModelResponse::tool_call("delete_file", json!({"path": "notes.txt"})),
                Some(ret) => ModelResponse::text(format!("Done: {}", ret.model_response_str())),
            },
        );
    Agent::builder(model)
        .tool(
            Tool::new(
                "delete_file",
                "Delete a file.",
                |_ctx, a: Path| async move { Ok::<_, ToolError>(format!("deleted {}", a.path)) },
            )
            .with_requires_approval(true),
        )
        .deferrable()
        .build()
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Path {
    path: String,
}

#[tokio::test]
async fn approvals_are_requested_and_answered_with_sdk_v6() {
    let agent = approval_agent();
    let adapter = VercelAiAdapter::new().sdk_version(SdkVersion::V6);
    let response = adapter.dispatch(&agent, &chat_body("Delete notes.txt"));
    let body = body_text(response).await;
    let chunks = sse_chunks(&body);
    let call_id = chunks
        .iter()
        .find(|c| c["type"] == "tool-approval-request")
        .map(|c| c["toolCallId"].as_str().unwrap().to_owned())
        .expect("an approval request");
    assert!(chunks.iter().any(|c| c["type"] == "tool-input-available"));

    // the AI SDK's message after the user approved, sent back as useChat does
    let request = json!({
        "id": "chat-1",
        "trigger": "submit-message",
        "messages": [
            {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Delete notes.txt"}]},
            {"id": "a1", "role": "assistant", "parts": [
                {"type": "step-start"},
                {"type": "tool-delete_file", "toolCallId": call_id, "state": "approval-responded",
                 "input": {"path": "notes.txt"}, "approval": {"id": call_id, "approved": true}},
            ]},
        ],
    });
    let response = adapter.dispatch(&agent, request.to_string().as_bytes());
    let chunks = sse_chunks(&body_text(response).await);
    let output = chunks
        .iter()
        .find(|c| c["type"] == "tool-output-available")
        .expect("the approved call ran");
    assert_eq!(output["output"], "deleted notes.txt");
    let text: String = chunks
        .iter()
        .filter(|c| c["type"] == "text-delta")
        .map(|c| c["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Done: deleted notes.txt");

    // denied: the call does not run, the model is told
    let mut denied = request.clone();
    denied["messages"][1]["parts"][1]["approval"] =
        json!({"id": call_id, "approved": false, "reason": "Not today"});
    let response = adapter.dispatch(&agent, denied.to_string().as_bytes());
    let chunks = sse_chunks(&body_text(response).await);
    assert!(
        chunks.iter().any(|c| c["type"] == "tool-output-denied"),
        "{chunks:#?}"
    );
    if let Some(npm) = ui_npm() {
        let body = body_text(adapter.dispatch(&agent, &chat_body("Delete notes.txt"))).await;
        run_node(&npm, "validate_stream.cjs", &[], &body);
    }
}

#[tokio::test]
async fn a_failing_run_ends_with_an_error_chunk() {
    let model =
        FunctionModel::new(|_: &[ModelMessage], _| ModelResponse::tool_call("nope", json!({})));
    let agent = Agent::builder(model).build();
    let body = body_text(VercelAiAdapter::new().dispatch(&agent, &chat_body("Hi"))).await;
    let chunks = sse_chunks(&body);
    let error = chunks
        .iter()
        .find(|c| c["type"] == "error")
        .expect("an error chunk");
    assert!(!error["errorText"].as_str().unwrap().is_empty());
    assert_eq!(
        chunks.last().unwrap(),
        &json!({"type": "finish", "finishReason": "error"})
    );
}

#[tokio::test]
async fn malformed_requests_are_400s() {
    let agent = tool_agent();
    for body in [
        &b"not json"[..],
        br#"{"id": "x"}"#,
        br#"{"id": "x", "messages": []}"#,
        br#"{"id": "x", "messages": [{"id": "1", "role": "robot", "parts": []}]}"#,
        br#"{"id": "x", "messages": [{"id": "1", "role": "user", "parts": [{"text": "no type"}]}]}"#,
        br#"{"id": "x", "messages": [{"id": "1", "role": "user", "parts": [{"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,@@"}]}]}"#,
        br#"{"id": "x", "messages": [{"id": "1", "role": "system", "parts": []}]}"#,
    ] {
        let response = VercelAiAdapter::new().dispatch(&agent, body);
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
        let error: Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert!(error["error"].is_string());
    }
}

#[test]
fn chunks_serialize_as_the_protocol_names_them() {
    let chunk = UiChunk::ToolInputDelta {
        tool_call_id: "c".into(),
        input_text_delta: "{".into(),
    };
    assert_eq!(
        chunk.to_sse(),
        "data: {\"type\":\"tool-input-delta\",\"toolCallId\":\"c\",\"inputTextDelta\":\"{\"}\n\n"
    );
    let mut encoder = VercelEncoder::new(SdkVersion::V5).with_message_id("m1");
    assert_eq!(
        serde_json::to_value(&encoder.start()[0]).unwrap(),
        json!({"type": "start", "messageId": "m1"})
    );
    let request: ChatRequest = serde_json::from_value(json!({
        "id": "c", "messages": [], "trigger": "submit-message", "custom": 1
    }))
    .unwrap();
    assert_eq!(request.extra["custom"], 1);
}
