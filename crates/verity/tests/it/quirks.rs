//! Provider quirks that real traffic shows and the recorded corpus does not: each was a
//! user's failed request somewhere.

use serde_json::json;
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::azure::AzureProvider;
use verity::providers::openai::OpenAIProvider;
use verity::providers::perplexity::PerplexityProvider;

use crate::support::{Canned, MockServer};

fn sse(chunks: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for c in chunks {
        out.push_str(&format!("data: {c}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

fn delta(index: u64, text: &str) -> serde_json::Value {
    json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
           "choices": [{"index": index, "delta": {"content": text}, "finish_reason": null}]})
}

async fn streamed_text(model: OpenAIChatModel) -> String {
    let agent = Agent::builder(model).build();
    let mut run = agent.run("ping").stream();
    let mut text = String::new();
    {
        let mut deltas = run.stream_text_deltas();
        while let Some(d) = deltas.next().await {
            text.push_str(&d.unwrap());
        }
    }
    assert_eq!(run.result().unwrap().output, text);
    text
}

#[tokio::test]
async fn several_choices_in_one_stream_stay_apart() {
    // `n: 2`: each choice's deltas come in chunks of their own
    let body = sse(&[
        delta(0, "Hel"),
        delta(1, "Bon"),
        delta(0, "lo"),
        delta(1, "jour"),
    ]);
    let server = MockServer::start(vec![Canned::sse(&body)]).await;
    let provider = OpenAIProvider::builder()
        .base_url(server.url())
        .api_key("k")
        .build()
        .unwrap();
    assert_eq!(
        streamed_text(OpenAIChatModel::new("gpt-4o", provider)).await,
        "Hello"
    );
}

#[tokio::test]
async fn cumulative_streams_are_read_as_deltas() {
    // Perplexity repeats the whole text so far in every chunk
    let body = sse(&[delta(0, "po"), delta(0, "pong"), delta(0, "pong!")]);
    let server = MockServer::start(vec![Canned::sse(&body)]).await;
    let provider = PerplexityProvider::builder()
        .base_url(server.url())
        .api_key("k")
        .build()
        .unwrap();
    assert_eq!(
        streamed_text(OpenAIChatModel::new("sonar", provider)).await,
        "pong!"
    );
}

#[tokio::test]
async fn azure_sends_its_key_in_the_api_key_header() {
    let server = MockServer::start(vec![Canned::json(
        200,
        &json!({"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                             "finish_reason": "stop"}]}),
    )])
    .await;
    let provider = AzureProvider::builder()
        .base_url(server.url())
        .api_key("azure-secret")
        .build()
        .unwrap();
    let agent = Agent::builder(OpenAIChatModel::new("gpt-4o", provider)).build();
    assert_eq!(agent.run("hi").await.unwrap().output, "hi");
    let sent = &server.received()[0];
    assert_eq!(sent.header("api-key"), Some("azure-secret"));
    assert_eq!(sent.header("authorization"), None);
}

#[tokio::test]
async fn a_prompt_the_provider_blocks_is_a_typed_error_not_an_empty_success() {
    use verity::models::gemini::GeminiModel;
    use verity::providers::google_gla::GoogleGlaProvider;
    let blocked = Canned::json(
        200,
        &json!({"promptFeedback": {"blockReason": "MODEL_ARMOR",
                                   "blockReasonMessage": "Blocked by Model Armor."},
                "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}),
    );
    let server = MockServer::start(vec![blocked]).await;
    let provider = GoogleGlaProvider::builder()
        .base_url(server.url())
        .api_key("k")
        .build()
        .unwrap();
    let agent = Agent::builder(GeminiModel::new("gemini-2.5-flash", provider)).build();
    let err = agent.run("something blocked").await.unwrap_err();
    match &err {
        Error::ContentFilter { message, body } => {
            assert_eq!(
                message,
                "Content filter triggered. Block reason: 'MODEL_ARMOR'"
            );
            assert!(body.as_deref().unwrap().contains("content_filter"));
        }
        other => panic!("{other:?}"),
    }
    // one request: a blocked prompt is not sent again
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn an_anthropic_refusal_with_nothing_to_act_on_is_a_content_filter_error() {
    use verity::models::anthropic::AnthropicModel;
    use verity::providers::anthropic::AnthropicProvider;
    let refusal = Canned::json(
        200,
        &json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [], "stop_reason": "refusal",
                "usage": {"input_tokens": 5, "output_tokens": 0}}),
    );
    let server = MockServer::start(vec![refusal]).await;
    let provider = AnthropicProvider::builder()
        .base_url(server.url())
        .api_key("k")
        .build()
        .unwrap();
    let agent = Agent::builder(AnthropicModel::new("claude-sonnet-4-5", provider)).build();
    let err = agent.run("no").await.unwrap_err();
    assert!(matches!(err, Error::ContentFilter { .. }), "{err:?}");
    assert_eq!(server.received().len(), 1);
}
