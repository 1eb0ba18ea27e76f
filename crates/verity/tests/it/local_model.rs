//! End to end against a real model: SmolLM2-135M behind llama.cpp's OpenAI-compatible
//! server, started once per test run by `scripts/local-model`.
//!
//! Without Python the tests are skipped loudly on a developer machine; in CI (`CI` set)
//! a server that cannot start fails them.
use std::sync::OnceLock;

use futures::StreamExt;
use serde_json::json;
use verity::messages::FinishReason;
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;

pub(crate) fn local_model_url() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| match verity::models::local::start(false) {
        Ok(url) => Some(url),
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!("the local model server did not start in CI: {why}");
            }
            eprintln!(
                "\n*****************************************************************\n\
                 *** LOCAL-MODEL TESTS SKIPPED: the server could not start:\n*** {why}\n\
                 *****************************************************************\n"
            );
            None
        }
    })
    .clone()
}

fn model(url: &str) -> OpenAIChatModel {
    verity::models::local::model_at(url).unwrap()
}

fn settings() -> ModelSettings {
    ModelSettings::new().temperature(0.0).max_tokens(64)
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct CityLocation {
    city: String,
    country: String,
}

#[tokio::test]
async fn plain_text_run_counts_the_servers_usage() {
    let Some(url) = local_model_url() else { return };
    let agent = Agent::builder(model(&url)).settings(settings()).build();
    let result = agent.run("Say hello in one short sentence.").await.unwrap();
    assert!(!result.output.trim().is_empty());
    let usage = result.usage();
    assert_eq!(usage.requests, 1);
    assert!(
        usage.input_tokens > 0 && usage.output_tokens > 0,
        "{usage:?}"
    );

    // the same request sent by hand reports the same prompt token count
    let raw: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/chat/completions"))
        .json(&json!({
            "model": "SmolLM2-135M-Instruct",
            "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
            "max_tokens": 1,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        Some(usage.input_tokens),
        raw["usage"]["prompt_tokens"].as_u64()
    );
    let response = result.all_messages()[1].as_response().unwrap();
    assert_eq!(response.usage.output_tokens, usage.output_tokens);
    assert!(response.provider_response_id.is_some());
}

#[tokio::test]
async fn native_structured_output_is_a_city_location() {
    let Some(url) = local_model_url() else { return };
    let agent = Agent::builder(model(&url))
        .output::<CityLocation>()
        .output_mode(OutputMode::Native)
        .settings(settings().max_tokens(100))
        .build();
    let result = agent
        .run("Where were the olympics held in 2012?")
        .await
        .unwrap();
    assert!(!result.output.city.is_empty());
    assert!(!result.output.country.is_empty());
}

#[tokio::test]
async fn streamed_deltas_join_to_the_final_text() {
    let Some(url) = local_model_url() else { return };
    let agent = Agent::builder(model(&url)).settings(settings()).build();
    let mut run = agent.run("Name three colours.").stream();
    let deltas: Vec<String> = run.stream_text_deltas().map(|d| d.unwrap()).collect().await;
    assert!(deltas.len() > 1, "more than one delta: {deltas:?}");
    assert_eq!(deltas.concat(), *run.output().unwrap());
    let usage = run.usage().unwrap();
    assert!(
        usage.input_tokens > 0 && usage.output_tokens > 0,
        "usage from the final chunk: {usage:?}"
    );
}

#[tokio::test]
async fn max_tokens_is_honoured_and_the_finish_reason_is_length() {
    let Some(url) = local_model_url() else { return };
    let agent = Agent::builder(model(&url))
        .settings(ModelSettings::new().temperature(0.0).max_tokens(5))
        .build();
    let result = agent
        .run("Write a long story about a dragon.")
        .await
        .unwrap();
    let response = result.all_messages()[1].as_response().unwrap();
    assert_eq!(response.finish_reason, Some(FinishReason::Length));
    assert!(result.usage().output_tokens <= 5, "{:?}", result.usage());
}

fn anthropic_model(url: &str) -> verity::models::anthropic::AnthropicModel {
    let provider = verity::providers::anthropic::AnthropicProvider::builder()
        .base_url(url.trim_end_matches("/v1"))
        .api_key("not-needed")
        .build()
        .unwrap();
    verity::models::anthropic::AnthropicModel::new("SmolLM2-135M-Instruct", provider)
}

#[tokio::test]
async fn the_same_agent_through_the_anthropic_wire_api() {
    let Some(url) = local_model_url() else { return };
    // plain text, with usage from the server's numbers (cached prompt tokens included)
    let agent = Agent::builder(anthropic_model(&url))
        .settings(settings())
        .build();
    let result = agent.run("Say hello in one short sentence.").await.unwrap();
    assert!(!result.output.trim().is_empty());
    let response = result.all_messages()[1].as_response().unwrap();
    assert!(
        response.usage.input_tokens > 0 && response.usage.output_tokens > 0,
        "{:?}",
        response.usage
    );
    assert_eq!(result.usage().input_tokens, response.usage.input_tokens);
    assert!(response.provider_response_id.is_some());

    // streamed: deltas join to the output
    let mut run = agent.run("Name three colours.").stream();
    let deltas: Vec<String> = run.stream_text_deltas().map(|d| d.unwrap()).collect().await;
    assert!(deltas.len() > 1);
    assert_eq!(deltas.concat(), *run.output().unwrap());

    // max_tokens honoured, finish reason mapped to length
    let short = Agent::builder(anthropic_model(&url))
        .settings(ModelSettings::new().temperature(0.0).max_tokens(5))
        .build();
    let result = short
        .run("Write a long story about a dragon.")
        .await
        .unwrap();
    let response = result.all_messages()[1].as_response().unwrap();
    assert_eq!(response.finish_reason, Some(FinishReason::Length));
    assert!(result.usage().output_tokens <= 5);
}
