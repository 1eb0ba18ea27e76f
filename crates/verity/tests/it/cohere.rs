//! Cohere v2 chat: request bodies (snapshot), the same response streamed and whole,
//! errors in a stream, keys kept out of errors.
use crate::support::{Canned, MockServer};
use serde_json::{Value, json};
use verity::messages::{
    FinishReason, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart,
    SystemPromptPart, ThinkingPart, ToolCallArgs, ToolCallPart, ToolReturnPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::cohere::CohereModel;
use verity::prelude::*;
use verity::providers::cohere::CohereProvider;

fn model(url: &str) -> CohereModel {
    CohereModel::new(
        "command-a-reasoning-08-2025",
        CohereProvider::builder()
            .base_url(url)
            .api_key("co-test")
            .max_retries(0)
            .build()
            .unwrap(),
    )
}

fn host(server: &MockServer) -> String {
    server.url().trim_end_matches("/v1").to_owned()
}

#[test]
fn snapshot_tools_history_and_settings() {
    let m = model("http://localhost:1");
    let first = ModelRequest::new(vec![
        ModelRequestPart::SystemPrompt(SystemPromptPart::new("You are a weather bot.")),
        ModelRequestPart::UserPrompt(verity::messages::UserPromptPart::new("Weather in Paris?")),
    ]);
    let response = ModelResponse::new(vec![
        ModelResponsePart::Thinking(ThinkingPart::new("Use the tool.")),
        ModelResponsePart::ToolCall(ToolCallPart::new(
            "get_weather",
            ToolCallArgs::from(json!({"city": "Paris"})),
            "get_weather_9gpb31r7h7mj",
        )),
    ]);
    let mut second = ModelRequest::new(vec![ModelRequestPart::ToolReturn(ToolReturnPart::new(
        "get_weather",
        json!("Sunny, 22C"),
        "get_weather_9gpb31r7h7mj",
    ))]);
    // the instructions of the last request are the ones sent
    second.instructions = Some("Answer briefly.".into());
    let schema =
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let params = ModelRequestParameters {
        function_tools: vec![
            ToolDefinition::new("get_weather", schema.clone())
                .with_description("Get the weather.")
                .with_kind(ToolKind::Function),
        ],
        output_mode: OutputMode::Native,
        output_object: Some(OutputObjectDefinition {
            name: "Answer".into(),
            description: None,
            json_schema: schema,
            strict: None,
        }),
        allow_text_output: true,
        ..Default::default()
    };
    let settings = ModelSettings::new()
        .max_tokens(128)
        .temperature(0.3)
        .top_p(0.9)
        .seed(3)
        .stop_sequences(["END"])
        .tool_choice(verity::settings::ToolChoice::Required);
    let body = m
        .build_request_body(
            &[
                ModelMessage::Request(first),
                ModelMessage::Response(response),
                ModelMessage::Request(second),
            ],
            &settings,
            &params,
        )
        .unwrap();
    assert_eq!(body["tool_choice"], "REQUIRED");
    assert_eq!(body["p"], 0.9);
    insta::assert_json_snapshot!("cohere_tools_history_settings", body);
}

fn whole() -> Value {
    json!({
        "id": "resp-1",
        "finish_reason": "TOOL_CALL",
        "message": {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "The user wants weather."},
                {"type": "text", "text": "Checking."}
            ],
            "tool_plan": "I will call get_weather.",
            "tool_calls": [
                {"id": "get_weather_a1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "get_weather_b2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]
        },
        "usage": {"billed_units": {"input_tokens": 41, "output_tokens": 25}, "tokens": {"input_tokens": 1441, "output_tokens": 54}, "cached_tokens": 144}
    })
}

fn as_sse() -> String {
    let events = [
        (
            "message-start",
            json!({"type": "message-start", "id": "resp-1", "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}),
        ),
        (
            "content-start",
            json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}}}),
        ),
        (
            "content-delta",
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": "The user "}}}}),
        ),
        (
            "content-delta",
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": "wants weather."}}}}),
        ),
        ("content-end", json!({"type": "content-end", "index": 0})),
        (
            "content-start",
            json!({"type": "content-start", "index": 1, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
        ),
        (
            "content-delta",
            json!({"type": "content-delta", "index": 1, "delta": {"message": {"content": {"text": "Checking."}}}}),
        ),
        ("content-end", json!({"type": "content-end", "index": 1})),
        (
            "tool-plan-delta",
            json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will call "}}}),
        ),
        (
            "tool-plan-delta",
            json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "get_weather."}}}),
        ),
        (
            "tool-call-start",
            json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {"id": "get_weather_a1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}}}}),
        ),
        (
            "tool-call-delta",
            json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": "{\"city\":"}}}}}),
        ),
        (
            "tool-call-delta",
            json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": "\"Paris\"}"}}}}}),
        ),
        (
            "tool-call-end",
            json!({"type": "tool-call-end", "index": 0}),
        ),
        (
            "tool-call-start",
            json!({"type": "tool-call-start", "index": 1, "delta": {"message": {"tool_calls": {"id": "get_weather_b2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}}}}),
        ),
        (
            "tool-call-end",
            json!({"type": "tool-call-end", "index": 1}),
        ),
        (
            "message-end",
            json!({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": whole()["usage"]}}),
        ),
    ];
    events
        .iter()
        .map(|(event, data)| format!("event: {event}\ndata: {data}\n\n"))
        .collect()
}

#[tokio::test]
async fn streamed_and_whole_responses_give_the_same_response() {
    let server = MockServer::start(vec![Canned::json(200, &whole()), Canned::sse(&as_sse())]).await;
    let m = model(&host(&server));
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt(
        "Weather in Paris and Rome?",
    ))];
    let params = ModelRequestParameters {
        allow_text_output: true,
        ..Default::default()
    };
    let whole = m
        .request(&messages, &ModelSettings::default(), &params)
        .await
        .unwrap();
    let mut events = m
        .request_stream(&messages, &ModelSettings::default(), &params)
        .await
        .unwrap();
    let mut acc = verity::stream::ResponseAccumulator::new();
    while let Some(e) = futures::StreamExt::next(&mut events).await {
        acc.apply(e.unwrap()).unwrap();
    }
    let mut streamed = acc.finish();
    streamed.timestamp = whole.timestamp;
    assert_eq!(whole, streamed);
    assert_eq!(whole.parts.len(), 4);
    assert_eq!(
        (
            whole.usage.input_tokens,
            whole.usage.output_tokens,
            whole.usage.cache_read_tokens
        ),
        (1441, 54, 144)
    );
    assert_eq!(whole.finish_reason, Some(FinishReason::ToolCall));
    assert_eq!(whole.provider_response_id.as_deref(), Some("resp-1"));
    assert_eq!(
        whole.provider_details.as_ref().unwrap()["tool_plan"],
        "I will call get_weather."
    );
    let sent = server.received();
    assert_eq!(sent[0].path, "/v2/chat");
    assert_eq!(sent[0].header("authorization"), Some("Bearer co-test"));
    assert_eq!(sent[1].json()["stream"], true);
}

#[tokio::test]
async fn errors_keep_status_and_body_but_never_the_key() {
    let server = MockServer::start(vec![
        Canned::json(400, &json!({"message": "invalid request: unknown model"})),
        Canned::sse(
            "event: message-start\ndata: {\"type\":\"message-start\",\"id\":\"r\"}\n\n\
             event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"error\":\"internal error\"}}\n\n",
        ),
        Canned::sse("event: message-start\ndata: {\"type\":\"message-start\",\"id\":\"r\"}\n\n"),
    ])
    .await;
    let m = CohereModel::new(
        "command-r7b-12-2024",
        CohereProvider::builder()
            .base_url(host(&server))
            .api_key("co-PLANTED-secret")
            .max_retries(0)
            .build()
            .unwrap(),
    );
    assert!(!format!("{m:?}").contains("PLANTED"));
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt("hi"))];
    let params = ModelRequestParameters {
        allow_text_output: true,
        ..Default::default()
    };
    let err = m
        .request(&messages, &ModelSettings::default(), &params)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ModelHttp { status: 400, body, .. } if body.contains("unknown model")),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("PLANTED"));
    for expected in ["error in event stream", "ended before"] {
        let mut events = m
            .request_stream(&messages, &ModelSettings::default(), &params)
            .await
            .unwrap();
        let mut failure = None;
        while let Some(e) = futures::StreamExt::next(&mut events).await {
            if let Err(e) = e {
                failure = Some(e);
                break;
            }
        }
        let failure = failure.expect("the stream fails");
        assert!(failure.to_string().contains(expected), "{failure}");
    }
}

#[test]
fn model_strings_name_cohere() {
    let Err(Error::User(m)) = infer_model("cohre:command-r7b-12-2024") else {
        panic!()
    };
    assert!(m.contains("did you mean 'cohere'?"), "{m}");
}
