//! Faults from the network and the server, for every wire API: each ends in success
//! after retries or in the matching typed error, and nothing hangs.
use std::time::Duration;

use crate::support::{Canned, Delivery, MockServer};
use serde_json::{Value, json};
use verity::ModelRef;
use verity::http::RetryConfig;
use verity::models::anthropic::AnthropicModel;
use verity::models::gemini::GeminiModel;
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::ProviderBuilder;
use verity::providers::anthropic::AnthropicProvider;
use verity::providers::google_gla::GoogleGlaProvider;
use verity::providers::openai::OpenAIProvider;

#[derive(Clone, Copy, Debug)]
enum Api {
    OpenAI,
    Anthropic,
    Gemini,
}

const APIS: [Api; 3] = [Api::OpenAI, Api::Anthropic, Api::Gemini];

/// A good non-streamed answer "ok" in each API's shape.
fn ok_body(api: Api) -> Value {
    match api {
        Api::OpenAI => {
            json!({"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]})
        }
        Api::Anthropic => {
            json!({"id": "m", "type": "message", "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}})
        }
        Api::Gemini => {
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}], "responseId": "r"})
        }
    }
}

/// A good streamed answer "ok", whole.
fn ok_stream(api: Api) -> String {
    match api {
        Api::OpenAI => "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n".into(),
        Api::Anthropic => concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        )
        .into(),
        Api::Gemini => "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"ok\"}]},\"finishReason\":\"STOP\"}]}\r\n\r\n".into(),
    }
}

/// The same stream without its end (no terminator, no finish reason / message_stop).
fn unterminated_stream(api: Api) -> String {
    match api {
        Api::OpenAI => "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"o\"}}]}\n\n".into(),
        Api::Anthropic => ok_stream(api).split("event: message_delta").next().unwrap_or_default().to_owned(),
        Api::Gemini => "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"o\"}]}}]}\r\n\r\n".into(),
    }
}

fn builder(api: Api) -> ProviderBuilder {
    match api {
        Api::OpenAI => OpenAIProvider::builder().build_as(),
        Api::Anthropic => AnthropicProvider::builder().build_as(),
        Api::Gemini => GoogleGlaProvider::builder().build_as(),
    }
}

fn model(api: Api, base: &str, retries: u32) -> ModelRef {
    let base = match api {
        Api::Anthropic => base.trim_end_matches("/v1").to_owned(),
        _ => base.to_owned(),
    };
    let provider = builder(api)
        .base_url(base)
        .api_key("k")
        .retry(RetryConfig {
            max_retries: retries,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            ..Default::default()
        })
        .max_body_bytes(1024 * 1024)
        .stream_idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    match api {
        Api::OpenAI => OpenAIChatModel::new("m", provider).into_model(),
        Api::Anthropic => AnthropicModel::new("m", provider).into_model(),
        Api::Gemini => GeminiModel::new("m", provider).into_model(),
    }
}

/// Run once (whole or streamed) and never hang.
/// A plain (not streamed) run with default settings and `retries` retries.
async fn answer(api: Api, url: &str, retries: u32) -> verity::Result<String> {
    run(model(api, url, retries), false, ModelSettings::default()).await
}

async fn run(model: ModelRef, stream: bool, settings: ModelSettings) -> verity::Result<String> {
    let agent = Agent::builder(model).settings(settings).build();
    let fut = async move {
        if stream {
            agent.run("hi").stream().finish().await.map(|r| r.output)
        } else {
            agent.run("hi").await.map(|r| r.output)
        }
    };
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .expect("the run hung")
}

fn json_canned(api: Api) -> Canned {
    Canned::json(200, &ok_body(api))
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    for api in APIS {
        let err = run(
            model(api, "http://127.0.0.1:9/v1", 1),
            false,
            ModelSettings::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::ModelApi { .. }), "{api:?}: {err:?}");
    }
}

#[tokio::test]
async fn resets_are_retried_then_reported() {
    for api in APIS {
        let server = MockServer::start(vec![
            Canned::json(200, &json!({})).delivery(Delivery::Reset),
            json_canned(api),
        ])
        .await;
        assert_eq!(
            answer(api, &server.url(), 2).await.unwrap(),
            "ok",
            "{api:?}"
        );
        let server = MockServer::start(vec![
            Canned::json(200, &json!({})).delivery(Delivery::Reset);
            3
        ])
        .await;
        let err = answer(api, &server.url(), 2).await.unwrap_err();
        assert!(matches!(err, Error::ModelApi { .. }), "{api:?}: {err:?}");
    }
}

#[tokio::test]
async fn truncated_invalid_and_non_utf8_bodies_are_typed_errors() {
    for api in APIS {
        let body = serde_json::to_vec(&ok_body(api)).unwrap();
        let server = MockServer::start(vec![
            Canned::new(200, "application/json", body.clone())
                .delivery(Delivery::CutAfter(body.len() / 2)),
            Canned::new(200, "application/json", b"{\"choices\": [".to_vec()),
            Canned::new(200, "application/json", b"{\"id\": \"\xff\xfe\"}".to_vec()),
        ])
        .await;
        let err = answer(api, &server.url(), 0).await.unwrap_err();
        assert!(
            matches!(err, Error::ModelApi { .. }),
            "{api:?} truncated: {err:?}"
        );
        let err = answer(api, &server.url(), 0).await.unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedModelBehavior { .. }),
            "{api:?} invalid JSON: {err:?}"
        );
        let err = answer(api, &server.url(), 0).await.unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedModelBehavior { .. }),
            "{api:?} invalid UTF-8: {err:?}"
        );
    }
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    for api in APIS {
        let server = MockServer::start(vec![
            Canned::json(429, &json!({"error": "slow down"})),
            Canned::json(429, &json!({"error": "slow down"})).header("retry-after", "0"),
            Canned::json(500, &json!({"error": "a"})),
            Canned::json(502, &json!({"error": "b"})),
            Canned::json(503, &json!({"error": "c"})),
            json_canned(api),
        ])
        .await;
        assert_eq!(
            answer(api, &server.url(), 5).await.unwrap(),
            "ok",
            "{api:?}"
        );
        assert_eq!(server.received().len(), 6);
        // past the retries: the last status and body
        let server = MockServer::start(vec![Canned::json(503, &json!({"error": "down"})); 2]).await;
        match answer(api, &server.url(), 1).await.unwrap_err() {
            Error::ModelHttp {
                status: 503, body, ..
            } => assert!(body.contains("down")),
            other => panic!("{api:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn timeouts_end_requests_and_idle_streams() {
    for api in APIS {
        // the whole request
        let server = MockServer::start(vec![
            json_canned(api).delivery(Delivery::Delay(Duration::from_secs(3))),
        ])
        .await;
        let err = run(
            model(api, &server.url(), 0),
            false,
            ModelSettings::new().timeout(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::ModelApi { .. }), "{api:?}: {err:?}");
        // headers, then nothing: the idle timeout between chunks
        let server = MockServer::start(vec![
            Canned::sse(&ok_stream(api)).delivery(Delivery::Stall(Duration::from_secs(3))),
        ])
        .await;
        let err = run(model(api, &server.url(), 0), true, ModelSettings::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::ModelApi { message, .. } if message.contains("no data")),
            "{api:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn huge_bodies_hit_the_size_limit() {
    for api in APIS {
        let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
        let server = MockServer::start(vec![Canned::new(
            200,
            "application/json",
            huge.into_bytes(),
        )])
        .await;
        let err = answer(api, &server.url(), 0).await.unwrap_err();
        assert!(
            matches!(&err, Error::ModelApi { message, .. } if message.contains("limit")),
            "{api:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn broken_streams_are_typed_errors() {
    for api in APIS {
        let full = ok_stream(api);
        let server = MockServer::start(vec![
            Canned::sse(&full),
            Canned::sse(&full).delivery(Delivery::CutAfter(full.len() / 2)),
            Canned::sse(&unterminated_stream(api)),
            Canned::new(200, "text/event-stream", b"data: \xff\xfe\n\n".to_vec()),
        ])
        .await;
        assert_eq!(
            run(model(api, &server.url(), 0), true, ModelSettings::default())
                .await
                .unwrap(),
            "ok",
            "{api:?}"
        );
        for what in ["reset mid-stream", "no terminator", "invalid UTF-8"] {
            let err = run(model(api, &server.url(), 0), true, ModelSettings::default())
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::ModelApi { .. } | Error::UnexpectedModelBehavior { .. }
                ),
                "{api:?} {what}: {err:?}"
            );
        }
    }
}

/// Bedrock's binary event stream with a bad checksum: the SDK rejects the frame.
#[cfg(feature = "bedrock")]
#[tokio::test]
async fn bedrock_event_stream_with_a_bad_checksum_is_a_typed_error() {
    use verity::models::bedrock::BedrockConverseModel;
    use verity::providers::bedrock::BedrockProvider;
    // a frame: total length, headers length, prelude CRC (wrong), no headers, "{}", CRC (wrong)
    let mut frame = Vec::new();
    frame.extend_from_slice(&18u32.to_be_bytes());
    frame.extend_from_slice(&0u32.to_be_bytes());
    frame.extend_from_slice(&0xdead_beefu32.to_be_bytes());
    frame.extend_from_slice(b"{}");
    frame.extend_from_slice(&0xdead_beefu32.to_be_bytes());
    let server = MockServer::start(vec![Canned::new(
        200,
        "application/vnd.amazon.eventstream",
        frame,
    )])
    .await;
    let provider = BedrockProvider::builder()
        .region("us-east-1")
        .credentials("AKID", "secret", None)
        .endpoint_url(server.url().trim_end_matches("/v1"))
        .max_attempts(1)
        .build()
        .await
        .unwrap();
    let model = BedrockConverseModel::with_provider("amazon.nova-pro-v1:0", provider).into_model();
    let err = run(model, true, ModelSettings::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ModelApi { .. }), "{err:?}");
}

#[tokio::test]
async fn idle_timeout_is_settable_per_run() {
    for api in APIS {
        // the provider allows 300 ms; this run allows 50 ms and a chunk comes after 150 ms
        let server = MockServer::start(vec![
            Canned::sse(&ok_stream(api)).delivery(Delivery::Delay(Duration::from_millis(0))),
        ])
        .await;
        assert_eq!(
            run(model(api, &server.url(), 0), true, ModelSettings::default())
                .await
                .unwrap(),
            "ok"
        );
        let server = MockServer::start(vec![
            Canned::sse(&ok_stream(api)).delivery(Delivery::Stall(Duration::from_millis(150))),
        ])
        .await;
        let settings = ModelSettings::new().stream_idle_timeout(Duration::from_millis(50));
        let err = run(model(api, &server.url(), 0), true, settings)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::ModelApi { message, .. } if message.contains("no data")),
            "{api:?}: {err:?}"
        );
    }
}
