//! Micro-benchmarks of the hot paths: building a request body, parsing a response,
//! SSE decoding, partial-JSON parsing, message-history serialization.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use verity::internals::SseDecoder;
use verity::internals::parse_partial;
use verity::messages::{ModelMessage, ModelRequest, messages_from_json, messages_to_json};
use verity::model::{ModelRequestParameters, ToolDefinition, ToolKind};
use verity::models::anthropic::AnthropicModel;
use verity::models::gemini::GeminiModel;
use verity::models::openai::OpenAIChatModel;
use verity::providers::anthropic::AnthropicProvider;
use verity::providers::google_gla::GoogleGlaProvider;
use verity::providers::openai::OpenAIProvider;
use verity::settings::ModelSettings;

fn model() -> OpenAIChatModel {
    let p = OpenAIProvider::builder()
        .base_url("http://127.0.0.1:1/v1")
        .api_key("sk")
        .build()
        .unwrap();
    OpenAIChatModel::new("gpt-4o", p)
}

fn anthropic_model() -> AnthropicModel {
    let p = AnthropicProvider::builder()
        .base_url("http://127.0.0.1:1")
        .api_key("sk")
        .build()
        .unwrap();
    AnthropicModel::new("claude-sonnet-4-5", p)
}

fn gemini_model() -> GeminiModel {
    let p = GoogleGlaProvider::builder()
        .base_url("http://127.0.0.1:1/v1beta")
        .api_key("k")
        .build()
        .unwrap();
    GeminiModel::new("gemini-2.5-flash", p)
}

fn params() -> ModelRequestParameters {
    ModelRequestParameters {
        function_tools: vec![ToolDefinition::new(
            "get_weather",
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        )
        .with_description("Get the current weather in a city.")
        .with_kind(ToolKind::Function)],
        output_tools: vec![ToolDefinition::new(
            "final_result",
            json!({"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}}, "required": ["city", "country"]}),
        )
        .with_description("The final response")
        .with_kind(ToolKind::Output)],
        allow_text_output: false,
        ..Default::default()
    }
}

fn hot_paths(c: &mut Criterion) {
    let m = model();
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt(
        "Where were the olympics held in 2012?",
    ))];
    let p = params();
    let settings = ModelSettings::default();
    let downloads = HashMap::new();
    c.bench_function("openai_build_request_body", |b| {
        b.iter(|| {
            m.serialize_request_body(black_box(&messages), &settings, &p, &downloads, false)
                .unwrap()
        })
    });

    // a history with a tool call, a tool return and a structured output
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct City {
        city: String,
        country: String,
    }
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Args {
        city: String,
    }
    let agent =
        verity::Agent::builder(verity::models::test::TestModel::new())
            .tool(verity::Tool::new(
                "get_weather",
                "Weather.",
                |_ctx, a: Args| async move {
                    Ok::<_, verity::ToolError>(format!("sunny in {}", a.city))
                },
            ))
            .output::<City>()
            .build();
    let parsed = agent
        .run("Where were the olympics held in 2012?")
        .blocking()
        .unwrap()
        .all_messages()
        .to_vec();
    // the same history (a prompt, a tool call and its return, the output tool call) as
    // Anthropic and Gemini bodies
    let am = anthropic_model();
    c.bench_function("anthropic_build_request_body", |b| {
        b.iter(|| {
            am.serialize_request_body(black_box(&parsed), &settings, &p, false)
                .unwrap()
        })
    });
    let gm = gemini_model();
    c.bench_function("gemini_build_request_body", |b| {
        b.iter(|| {
            gm.serialize_request_body(black_box(&parsed), &settings, &p)
                .unwrap()
        })
    });

    let response = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "final_result", "arguments": "{\"city\":\"London\",\"country\":\"United Kingdom\"}"}}]}}],
        "usage": {"prompt_tokens": 57, "completion_tokens": 8, "total_tokens": 65}
    })
    .to_string();
    c.bench_function("openai_parse_response", |b| {
        b.iter(|| m.parse_response(black_box(response.as_bytes())).unwrap())
    });

    let mut sse = String::new();
    for i in 0..50 {
        sse.push_str(&format!("data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} \"}}}}]}}\n\n"));
    }
    sse.push_str("data: [DONE]\n\n");
    c.bench_function("sse_decode_50_events", |b| {
        b.iter(|| {
            let mut d = SseDecoder::default();
            let mut n = 0;
            for chunk in black_box(sse.as_bytes()).chunks(97) {
                n += d.feed(chunk).unwrap().len();
            }
            n
        })
    });

    let partial = r#"{"city": "London", "country": "United Kin"#;
    c.bench_function("partial_json_parse", |b| {
        b.iter(|| parse_partial(black_box(partial)))
    });

    let history = messages_to_json(&parsed).unwrap();
    c.bench_function("history_serialize", |b| {
        b.iter(|| messages_to_json(black_box(&parsed)).unwrap())
    });
    c.bench_function("history_deserialize", |b| {
        b.iter(|| messages_from_json(black_box(&history)).unwrap())
    });
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
