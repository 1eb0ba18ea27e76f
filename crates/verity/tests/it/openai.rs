//! OpenAI Chat Completions: request bodies (snapshots), end-to-end runs against a local
//! server, retries and failures.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::{Canned, Delivery, MockServer};
use serde_json::{Value, json};
use verity::messages::{
    BinaryContent, CachePoint, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart,
    SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs, ToolCallPart, ToolReturnPart,
    UserContent, UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::openai::OpenAIProvider;
use verity::providers::openrouter::OpenRouterProvider;
use verity::providers::{Provider, deepseek::DeepSeekProvider};
use verity::settings::CacheTtl;

fn provider(url: &str) -> Provider {
    OpenAIProvider::builder()
        .base_url(url)
        .api_key("sk-test")
        .build()
        .unwrap()
        .into()
}

fn model_on(p: impl Into<Provider>, name: &str) -> OpenAIChatModel {
    OpenAIChatModel::new(name, p)
}

fn body(
    model: &OpenAIChatModel,
    messages: &[ModelMessage],
    settings: &ModelSettings,
    params: &ModelRequestParameters,
) -> Value {
    let value = model
        .build_request_body(messages, settings, params, &HashMap::new(), false)
        .unwrap();
    // the bytes a request sends are the same JSON, written without the Value tree
    let sent = model
        .serialize_request_body(messages, settings, params, &HashMap::new(), false)
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&sent).unwrap(), value);
    value
}

fn weather_tool(strict: Option<bool>) -> ToolDefinition {
    ToolDefinition::new(
        "get_weather",
        json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "format": "uint8", "minimum": 0}},
            "required": ["city"]
        }),
    )
    .with_description("Weather in a city.")
    .with_strict(strict)
    .with_kind(ToolKind::Function)
}

fn conversation() -> Vec<ModelMessage> {
    let mut first = ModelRequest::new(vec![
        ModelRequestPart::SystemPrompt(SystemPromptPart::new("You are a weather bot.")),
        ModelRequestPart::UserPrompt(UserPromptPart::new("Weather in Paris?")),
    ]);
    first.instructions = Some("Be brief.".into());
    let mut thinking = ThinkingPart::new("The user wants weather.");
    thinking.id = Some("reasoning_content".into());
    thinking.provider_name = Some("deepseek".into());
    let response = ModelResponse::new(vec![
        ModelResponsePart::Thinking(thinking),
        ModelResponsePart::Text(TextPart::new("Let me check.")),
        ModelResponsePart::ToolCall(ToolCallPart::new(
            "get_weather",
            ToolCallArgs::Json("{\"city\":\"Paris\"}".into()),
            "call_1",
        )),
    ]);
    let mut second = ModelRequest::new(vec![ModelRequestPart::ToolReturn(ToolReturnPart::new(
        "get_weather",
        json!({"temp": 21}),
        "call_1",
    ))]);
    second.instructions = Some("Be brief.".into());
    vec![
        ModelMessage::Request(first),
        ModelMessage::Response(response),
        ModelMessage::Request(second),
    ]
}

#[test]
fn snapshot_tools_and_history() {
    let m = model_on(provider("http://localhost:1/v1"), "gpt-4o");
    let params = ModelRequestParameters {
        function_tools: vec![weather_tool(Some(true))],
        output_tools: vec![ToolDefinition::new(
            "final_result",
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        )
        .with_description("The final response")
        .with_kind(ToolKind::Output)],
        allow_text_output: false,
        ..Default::default()
    };
    insta::assert_json_snapshot!(
        "openai_tools_and_history",
        body(&m, &conversation(), &ModelSettings::default(), &params)
    );
    // on DeepSeek the thinking goes back in `reasoning_content`
    let ds = DeepSeekProvider::builder()
        .base_url("http://localhost:1")
        .api_key("k")
        .build()
        .unwrap();
    let b = body(
        &model_on(ds, "deepseek-reasoner"),
        &conversation(),
        &ModelSettings::default(),
        &params,
    );
    assert_eq!(
        b["messages"][3]["reasoning_content"],
        "The user wants weather."
    );
}

#[test]
fn snapshot_native_output() {
    let m = model_on(provider("http://localhost:1/v1"), "gpt-4o");
    let params = ModelRequestParameters {
        output_mode: OutputMode::Native,
        output_object: Some(OutputObjectDefinition {
            name: "CityLocation".into(),
            description: Some("A city and its country.".into()),
            json_schema: json!({"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}, "population": {"type": "integer"}}, "required": ["city", "country"]}),
            strict: Some(true),
        }),
        allow_text_output: true,
        ..Default::default()
    };
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt(
        "Where were the olympics held in 2012?",
    ))];
    insta::assert_json_snapshot!(
        "openai_native_output",
        body(&m, &messages, &ModelSettings::default(), &params)
    );
}

#[test]
fn snapshot_multimodal_input() {
    let m = model_on(
        OpenRouterProvider::builder()
            .base_url("http://localhost:1")
            .api_key("k")
            .build()
            .unwrap(),
        "anthropic/claude-sonnet-4.6",
    );
    let mut image = verity::messages::FileUrl::new("https://example.com/cat.png");
    image
        .extra
        .insert("vendor_metadata".into(), json!({"detail": "high"}));
    let prompt = vec![
        UserContent::from("Describe these."),
        UserContent::ImageUrl(image),
        UserContent::Binary(BinaryContent::new(
            vec![0x89, b'P', b'N', b'G'],
            "image/png",
        )),
        UserContent::Binary(BinaryContent::new(b"ID3".to_vec(), "audio/mpeg")),
        UserContent::Binary(BinaryContent::new(b"%PDF-1.4".to_vec(), "application/pdf")),
        UserContent::CachePoint(CachePoint {
            ttl: Some("1h".into()),
            ..Default::default()
        }),
        UserContent::document_url("https://example.com/report.pdf"),
        UserContent::video_url("https://example.com/clip.mp4"),
    ];
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt(prompt))];
    let settings = ModelSettings::new().cache_instructions(CacheTtl::FiveMinutes);
    let mut with_instructions = messages.clone();
    if let ModelMessage::Request(r) = &mut with_instructions[0] {
        r.instructions = Some("Look closely.".into());
    }
    insta::assert_json_snapshot!(
        "openai_multimodal_input",
        body(
            &m,
            &with_instructions,
            &settings,
            &ModelRequestParameters::default()
        )
    );
}

#[test]
fn snapshot_settings() {
    let m = model_on(provider("http://localhost:1/v1"), "gpt-4o");
    let settings = ModelSettings::new()
        .max_tokens(256)
        .temperature(0.2)
        .top_p(0.9)
        .seed(42)
        .presence_penalty(0.1)
        .frequency_penalty(0.3)
        .stop_sequences(["END"])
        .parallel_tool_calls(false)
        .extra_body(json!({"service_tier": "flex", "metadata": {"run": "snap"}}));
    let params = ModelRequestParameters {
        function_tools: vec![weather_tool(None)],
        allow_text_output: true,
        ..Default::default()
    };
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt("hi"))];
    insta::assert_json_snapshot!("openai_settings", body(&m, &messages, &settings, &params));
    let streamed = m
        .build_request_body(&messages, &settings, &params, &HashMap::new(), true)
        .unwrap();
    assert_eq!(streamed["stream"], true);
    assert_eq!(streamed["stream_options"], json!({"include_usage": true}));
}

fn completion(message: Value, finish: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-2024",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 57, "completion_tokens": 8, "total_tokens": 65}
    })
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct CityLocation {
    city: String,
    country: String,
}

/// The README's quick start, pointed at a local OpenAI-compatible server by changing
/// only the base URL and the model name.
#[tokio::test]
async fn quick_start_runs_against_an_openai_compatible_server() {
    let server = MockServer::start(vec![Canned::json(
        200,
        &completion(
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "final_result", "arguments": "{\"city\":\"London\",\"country\":\"United Kingdom\"}"}
            }]}),
            "tool_calls",
        ),
    )])
    .await;
    let provider = OpenAIProvider::builder()
        .base_url(server.url())
        .build()
        .unwrap();
    let model = OpenAIChatModel::new("llama3.2", provider);
    let agent = Agent::builder(model).output::<CityLocation>().build();
    let result = agent
        .run("Where were the olympics held in 2012?")
        .await
        .unwrap();
    assert_eq!(result.output.city, "London");
    assert_eq!(result.output.country, "United Kingdom");
    assert_eq!(result.usage().requests, 1);
    assert_eq!(result.usage().input_tokens, 57);
    let sent = &server.received()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.json()["model"], "llama3.2");
    assert_eq!(sent.json()["tool_choice"], "required");
    assert_eq!(
        sent.header("authorization"),
        None,
        "no key configured, none sent"
    );
}

#[tokio::test]
async fn streamed_run_against_a_server() {
    let sse = [
        r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Let me check. "}}]}"#,
        r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
        r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \"Par"}}]}}]}"#,
        r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"is\"}"}}]}}]}"#,
        r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"id":"c1","model":"m","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#,
    ]
    .iter()
    .map(|d| format!("data: {d}\n\n"))
    .collect::<String>()
        + "data: [DONE]\n\n";
    let second = [
        r#"{"id":"c2","model":"m","choices":[{"index":0,"delta":{"content":"Sunny"}}]}"#,
        r#"{"id":"c2","model":"m","choices":[{"index":0,"delta":{"content":" in Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":3,"total_tokens":23}}"#,
    ]
    .iter()
    .map(|d| format!("data: {d}\n\n"))
    .collect::<String>()
        + "data: [DONE]\n\n";
    let server = MockServer::start(vec![Canned::sse(&sse), Canned::sse(&second)]).await;
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct City {
        city: String,
    }
    let agent = Agent::builder(OpenAIChatModel::new("m", provider(&server.url())))
        .tool_fn("get_weather", "Weather.", |_ctx, c: City| async move {
            Ok::<_, ToolError>(format!("sunny in {}", c.city))
        })
        .build();
    let result = agent
        .run("Weather in Paris?")
        .stream()
        .finish()
        .await
        .unwrap();
    assert_eq!(result.output, "Sunny in Paris.");
    assert_eq!(result.usage().input_tokens, 30);
    assert_eq!(result.usage().tool_calls, 1);
    let second_request = server.received()[1].json();
    assert_eq!(second_request["messages"][1]["content"], "Let me check. ");
    assert_eq!(second_request["messages"][2]["content"], "sunny in Paris");
    assert_eq!(
        second_request["stream_options"],
        json!({"include_usage": true})
    );
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_waited_out() {
    let server = MockServer::start(vec![
        Canned::json(
            429,
            &json!({"error": {"message": "slow down", "type": "rate_limit"}}),
        )
        .header("retry-after", "1"),
        Canned::json(
            200,
            &completion(json!({"role": "assistant", "content": "hello"}), "stop"),
        ),
    ])
    .await;
    let agent = Agent::builder(OpenAIChatModel::new("gpt-4o", provider(&server.url()))).build();
    let started = Instant::now();
    let result = agent.run("hi").await.unwrap();
    assert_eq!(result.output, "hello");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited for Retry-After"
    );
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn server_errors_past_the_retries_are_typed_errors_with_status_and_body() {
    let err_body = json!({"error": {"message": "upstream exploded", "type": "server_error"}});
    let server = MockServer::start(vec![Canned::json(500, &err_body); 3]).await;
    let p = OpenAIProvider::builder()
        .base_url(server.url())
        .api_key("sk-test")
        .retry(verity::http::RetryConfig {
            initial_backoff: Duration::from_millis(10),
            ..Default::default()
        })
        .build()
        .unwrap();
    let agent = Agent::builder(OpenAIChatModel::new("gpt-4o", p)).build();
    match agent.run("hi").await.unwrap_err() {
        Error::ModelHttp {
            status,
            body,
            model_name,
            ..
        } => {
            assert_eq!(status, 500);
            assert!(body.contains("upstream exploded"));
            assert_eq!(model_name, "gpt-4o");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        server.received().len(),
        3,
        "the first attempt and two retries"
    );
}

#[tokio::test]
async fn insufficient_quota_is_not_retried() {
    let server = MockServer::start(vec![
        Canned::json(
            429,
            &json!({"error": {"code": "insufficient_quota", "message": "no credit"}}),
        ),
        Canned::json(
            200,
            &completion(json!({"role": "assistant", "content": "x"}), "stop"),
        ),
    ])
    .await;
    let agent = Agent::builder(OpenAIChatModel::new("gpt-4o", provider(&server.url()))).build();
    assert_eq!(agent.run("hi").await.unwrap_err().status(), Some(429));
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_stream_cut_midway_is_a_typed_error() {
    let sse = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n";
    let server = MockServer::start(vec![Canned::sse(sse).delivery(Delivery::CutAfter(60))]).await;
    let agent = Agent::builder(OpenAIChatModel::new("gpt-4o", provider(&server.url()))).build();
    let mut run = agent.run("hi").stream();
    let items: Vec<verity::Result<String>> =
        futures::StreamExt::collect(run.stream_text_deltas()).await;
    assert!(
        matches!(items.last(), Some(Err(Error::ModelApi { .. }))),
        "{items:?}"
    );

    // a stream that ends cleanly but without its terminator or a finish reason
    let sse =
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n";
    let server = MockServer::start(vec![Canned::sse(sse)]).await;
    let agent = Agent::builder(OpenAIChatModel::new("gpt-4o", provider(&server.url()))).build();
    let err = agent.run("hi").stream().finish().await.unwrap_err();
    assert!(matches!(err, Error::ModelApi { .. }), "{err}");
}

#[tokio::test]
async fn model_strings_resolve_to_providers() {
    // a key in the builder is not needed for a custom base URL; from a model string the
    // key comes from the environment, and its absence is a typed error at request time
    assert!(matches!(
        infer_model("nosuchprovider:model"),
        Err(Error::User(_))
    ));
    let m = verity::infer_model("ollama:llama3.2").unwrap();
    assert_eq!(m.model_name(), "llama3.2");
    assert_eq!(m.system(), "ollama");
    assert_eq!(m.profile().openai.thinking_field, Some("reasoning"));
}

/// Tool definitions and output schemas are serialized once per model and reused: a
/// changed definition (a `prepare` hook, another agent) or a replaced profile must
/// still be sent as it is now, never as it was cached.
#[test]
fn cached_tool_definitions_follow_changes_and_profiles() {
    let m = model_on(provider("http://localhost:1/v1"), "gpt-4o");
    let with_tool = |model: &OpenAIChatModel, tool: ToolDefinition| {
        let params = ModelRequestParameters {
            function_tools: vec![tool],
            ..Default::default()
        };
        body(model, &conversation(), &ModelSettings::default(), &params)
    };
    let first = with_tool(&m, weather_tool(Some(true)));
    assert_eq!(
        first["tools"][0]["function"]["description"],
        "Weather in a city."
    );
    assert_eq!(first["tools"][0]["function"]["strict"], true);
    let mut changed = weather_tool(Some(true));
    changed.description = Some("Weather, changed by a prepare hook.".into());
    let second = with_tool(&m, changed);
    assert_eq!(
        second["tools"][0]["function"]["description"],
        "Weather, changed by a prepare hook."
    );
    assert_eq!(with_tool(&m, weather_tool(Some(true))), first);

    let mut profile = m.profile().clone();
    profile.supports_strict_tools = false;
    let lax = m.clone().with_profile(profile);
    let third = with_tool(&lax, weather_tool(Some(true)));
    assert!(
        third["tools"][0]["function"].get("strict").is_none(),
        "{third}"
    );
    // the original model keeps its own
    assert_eq!(with_tool(&m, weather_tool(Some(true))), first);
}
