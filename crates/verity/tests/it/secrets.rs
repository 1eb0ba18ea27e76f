//! Planted credentials never show in `Debug` output, error messages or tracing output.
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::support::{Canned, Delivery, MockServer};
use serde_json::json;
use verity::models::anthropic::AnthropicModel;
use verity::models::gemini::GeminiModel;
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::anthropic::AnthropicProvider;
use verity::providers::google_gla::GoogleGlaProvider;
use verity::providers::google_vertex::GoogleVertexProvider;
use verity::providers::openai::OpenAIProvider;

const KEY: &str = "sk-PLANTED-secret-0123456789";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(KEY), "{what} shows the key: {text}");
    assert!(
        !text.contains("PLANTED"),
        "{what} shows part of the key: {text}"
    );
}

#[tokio::test]
async fn keys_stay_out_of_debug_errors_and_traces() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // every failure a provider can produce: status errors, a reset, refused connections
    let server = MockServer::start(vec![
        Canned::json(401, &json!({"error": {"message": "invalid api key"}})),
        Canned::json(500, &json!({"error": "boom"})),
        Canned::json(500, &json!({"error": "boom"})),
        Canned::json(500, &json!({"error": "boom"})),
        Canned::json(200, &json!({})).delivery(Delivery::Reset),
        Canned::json(403, &json!({"error": {"message": "forbidden"}})),
        Canned::json(400, &json!({"error": {"code": 400, "message": "bad"}})),
        Canned::json(400, &json!({"error": {"code": 400, "message": "bad"}})),
    ])
    .await;
    let fast = verity::http::RetryConfig {
        initial_backoff: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    let openai = OpenAIProvider::builder()
        .base_url(server.url())
        .api_key(KEY)
        .retry(fast.clone())
        .build()
        .unwrap();
    let anthropic = AnthropicProvider::builder()
        .base_url(server.url().replace("/v1", ""))
        .api_key(KEY)
        .max_retries(0)
        .build()
        .unwrap();
    let gemini = GoogleGlaProvider::builder()
        .base_url(server.url())
        .api_key(KEY)
        .max_retries(0)
        .build()
        .unwrap();
    let vertex = GoogleVertexProvider::builder("p", "l")
        .base_url(server.url())
        .api_key(KEY)
        .max_retries(0)
        .build()
        .unwrap();
    let refused = OpenAIProvider::builder()
        .base_url(format!("http://127.0.0.1:9/v1?key={KEY}"))
        .api_key(KEY)
        .max_retries(1)
        .build()
        .unwrap();

    let mut texts = Vec::new();
    for (name, model) in [
        (
            "openai 401",
            OpenAIChatModel::new("gpt-4o", openai.clone()).into_model(),
        ),
        (
            "openai 500s",
            OpenAIChatModel::new("gpt-4o", openai.clone()).into_model(),
        ),
        (
            "openai reset",
            OpenAIChatModel::new("gpt-4o", openai.clone()).into_model(),
        ),
        (
            "anthropic",
            AnthropicModel::new("claude", anthropic.clone()).into_model(),
        ),
        (
            "gemini",
            GeminiModel::new("gemini-2.5-flash", gemini.clone()).into_model(),
        ),
        (
            "vertex",
            GeminiModel::new("gemini-2.5-flash", vertex.clone()).into_model(),
        ),
        (
            "refused",
            OpenAIChatModel::new("gpt-4o", refused.clone()).into_model(),
        ),
    ] {
        let agent = Agent::builder(model).build();
        texts.push((format!("{name}: agent Debug"), format!("{agent:?}")));
        let err = agent.run("hi").await.expect_err(name);
        texts.push((format!("{name}: error Display"), err.to_string()));
        texts.push((format!("{name}: error Debug"), format!("{err:?}")));
    }
    for (name, typed, p) in [
        ("openai", &openai as &dyn std::fmt::Debug, openai.provider()),
        ("anthropic", &anthropic, anthropic.provider()),
        ("gemini", &gemini, gemini.provider()),
        ("vertex", &vertex, vertex.provider()),
        ("refused", &refused, refused.provider()),
    ] {
        texts.push((format!("{name}: provider Debug"), format!("{typed:?}")));
        texts.push((
            format!("{name}: headers Debug"),
            format!("{:?}", p.headers(&Default::default()).unwrap()),
        ));
    }
    #[cfg(feature = "bedrock")]
    {
        let builder = verity::providers::bedrock::BedrockProvider::builder().credentials(
            "AKIDEXAMPLE",
            KEY,
            Some(KEY.to_owned()),
        );
        texts.push(("bedrock builder Debug".into(), format!("{builder:?}")));
        let provider = builder
            .region("us-east-1")
            .endpoint_url("http://127.0.0.1:9")
            .max_attempts(1)
            .build()
            .await
            .unwrap();
        texts.push(("bedrock provider Debug".into(), format!("{provider:?}")));
        let model = verity::models::bedrock::BedrockConverseModel::with_provider(
            "amazon.nova-pro-v1:0",
            provider,
        );
        let err = Agent::builder(model).build().run("hi").await.unwrap_err();
        texts.push(("bedrock error Display".into(), err.to_string()));
        texts.push(("bedrock error Debug".into(), format!("{err:?}")));
    }
    drop(_guard);
    let traces = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        traces.contains("retrying request"),
        "the retries were traced: {traces}"
    );
    texts.push(("tracing output".into(), traces));
    for (what, text) in &texts {
        assert_clean(what, text);
    }
    // the key did reach the server, the way each provider sends it
    let sent = server.received();
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(sent.iter().any(|r| r.header("x-api-key") == Some(KEY)));
    assert!(sent.iter().any(|r| r.header("x-goog-api-key") == Some(KEY)));
}
