//! Anthropic Messages: request bodies (snapshots), thinking round trips, caching, and
//! the same parts from streamed and whole responses.
use crate::support::{Canned, MockServer};
use serde_json::{Value, json};
use verity::messages::{
    BinaryContent, CachePoint, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart,
    SystemPromptPart, ThinkingPart, ToolCallArgs, ToolCallPart, ToolReturnPart, UserContent,
    UserPromptPart,
};
use verity::model::{ModelRequestParameters, ToolDefinition, ToolKind};
use verity::models::anthropic::AnthropicModel;
use verity::prelude::*;
use verity::providers::anthropic::AnthropicProvider;
use verity::settings::CacheTtl;

fn model(url: &str) -> AnthropicModel {
    AnthropicModel::new(
        "claude-sonnet-4-5",
        AnthropicProvider::builder()
            .base_url(url)
            .api_key("sk-ant-test")
            .build()
            .unwrap(),
    )
}

fn thinking(content: &str, signature: &str, provider: &str) -> ModelResponsePart {
    let mut t = ThinkingPart::new(content);
    t.signature = Some(signature.into());
    t.provider_name = Some(provider.into());
    ModelResponsePart::Thinking(t)
}

#[test]
fn snapshot_tools_thinking_caching_multimodal() {
    let m = model("http://localhost:1");
    let mut first = ModelRequest::new(vec![
        ModelRequestPart::SystemPrompt(SystemPromptPart::new("You are a travel agent.")),
        ModelRequestPart::UserPrompt(UserPromptPart::new(vec![
            UserContent::from("Plan a trip using this map."),
            UserContent::Binary(BinaryContent::new(
                vec![0x89, b'P', b'N', b'G'],
                "image/png",
            )),
            UserContent::Binary(BinaryContent::new(b"%PDF".to_vec(), "application/pdf")),
            UserContent::CachePoint(CachePoint {
                ttl: Some("1h".into()),
                ..Default::default()
            }),
        ])),
    ]);
    first.instructions = Some("Be concise.".into());
    let response = ModelResponse::new(vec![
        thinking("I should check the weather.", "sig-abc", "anthropic"),
        thinking("from another provider", "x", "openai"),
        ModelResponsePart::ToolCall(ToolCallPart::new(
            "get_weather",
            ToolCallArgs::Json("{\"city\":\"Rome\"}".into()),
            "toolu_1",
        )),
    ]);
    let second = ModelRequest::new(vec![ModelRequestPart::ToolReturn(ToolReturnPart::new(
        "get_weather",
        json!("sunny"),
        "toolu_1",
    ))]);
    let params = ModelRequestParameters {
        function_tools: vec![ToolDefinition::new(
            "get_weather",
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        )
        .with_description("Weather in a city.")
        .with_kind(ToolKind::Function)],
        allow_text_output: true,
        ..Default::default()
    };
    let settings = ModelSettings::new()
        .max_tokens(2048)
        .temperature(0.3)
        .extra_body(json!({"thinking": {"type": "enabled", "budget_tokens": 1024}}))
        .cache_instructions(CacheTtl::FiveMinutes)
        .cache_tool_definitions(CacheTtl::OneHour);
    let body = m
        .build_request_body(
            &[
                ModelMessage::Request(first),
                ModelMessage::Response(response),
                ModelMessage::Request(second),
            ],
            &settings,
            &params,
            false,
        )
        .unwrap();
    // the signature goes back exactly; the other provider's thinking does not go at all
    assert_eq!(
        body["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": "I should check the weather.", "signature": "sig-abc"})
    );
    assert_eq!(body["messages"][1]["content"].as_array().unwrap().len(), 2);
    insta::assert_json_snapshot!("anthropic_tools_thinking_caching_multimodal", body);
}

fn whole_message() -> Value {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Let me look it up.", "signature": "sig-1"},
            {"type": "text", "text": "Checking the weather."},
            {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Rome"}},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "rome"}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 20, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 30}
    })
}

fn same_message_as_sse() -> String {
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "usage": {"input_tokens": 20, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "look it up."}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig-1"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Checking the "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "weather."}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "\"Rome\"}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 2}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 3, "content_block": {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "{\"query\": \"rome\"}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 3}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    events
        .iter()
        .map(|(e, d)| format!("event: {e}\ndata: {d}\n\n"))
        .collect()
}

#[tokio::test]
async fn streamed_and_whole_responses_give_the_same_parts() {
    let server = MockServer::start(vec![
        Canned::json(200, &whole_message()),
        Canned::sse(&same_message_as_sse()),
    ])
    .await;
    let m = model(&server.url().replace("/v1", ""));
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt(
        "Weather in Rome?",
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
    let streamed = acc.finish();
    let strip = |r: &ModelResponse| {
        let mut v = serde_json::to_value(&r.parts).unwrap();
        // arguments arrive as text in a stream and as an object whole: compare as JSON
        for p in v.as_array_mut().unwrap() {
            if let Some(args) = p.get("args").and_then(Value::as_str).map(str::to_owned) {
                p["args"] = serde_json::from_str(&args).unwrap();
            }
        }
        v
    };
    assert_eq!(strip(&whole), strip(&streamed));
    assert_eq!(whole.usage, streamed.usage);
    assert_eq!(whole.usage.input_tokens, 125);
    assert_eq!(whole.usage.cache_read_tokens, 100);
    assert_eq!(whole.finish_reason, streamed.finish_reason);
    assert_eq!(whole.provider_response_id.as_deref(), Some("msg_1"));
    // the server tool call is kept and goes back to Anthropic as it came
    let next = m
        .build_request_body(
            &[messages[0].clone(), ModelMessage::Response(streamed)],
            &ModelSettings::default(),
            &params,
            false,
        )
        .unwrap();
    assert_eq!(
        next["messages"][1]["content"][3],
        whole_message()["content"][3]
    );
    let sent = server.received();
    assert_eq!(sent[0].path, "/v1/messages");
    assert_eq!(sent[0].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent[0].header("x-api-key"), Some("sk-ant-test"));
}

#[tokio::test]
async fn stream_errors_and_overload_are_typed() {
    let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":1}}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let server = MockServer::start(vec![Canned::sse(sse)]).await;
    let agent = Agent::builder(model(&server.url().replace("/v1", ""))).build();
    match agent.run("hi").stream().finish().await.unwrap_err() {
        Error::ModelHttp { status, body, .. } => {
            assert_eq!(status, 529);
            assert!(body.contains("Overloaded"));
        }
        other => panic!("{other:?}"),
    }
}
