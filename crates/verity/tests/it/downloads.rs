//! Media a provider cannot fetch is downloaded and sent inline — but never from the
//! machine's own network unless the caller allows it: a URL resolving to loopback or to
//! the cloud metadata endpoint is refused before anything is sent.

use serde_json::json;
use verity::http::download::{DownloadPolicy, download};
use verity::messages::UserContent;
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::openai::OpenAIProvider;

use crate::support::{Canned, MockServer};

fn completion() -> Canned {
    Canned::json(
        200,
        &json!({"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "read it"},
                         "finish_reason": "stop"}]}),
    )
}

async fn ask_about(doc_url: &str, policy: Option<DownloadPolicy>) -> (Result<String>, MockServer) {
    let api = MockServer::start(vec![completion()]).await;
    let mut builder = OpenAIProvider::builder().base_url(api.url()).api_key("k");
    if let Some(policy) = policy {
        builder = builder.download_policy(policy);
    }
    let agent = Agent::builder(OpenAIChatModel::new("gpt-4o", builder.build().unwrap())).build();
    let prompt = vec![
        UserContent::from("Summarize this."),
        UserContent::document_url(doc_url),
    ];
    let out = agent.run(prompt).await.map(|r| r.output);
    (out, api)
}

#[tokio::test]
async fn a_document_on_loopback_is_refused_unless_allowed() {
    let files = MockServer::start(vec![Canned::new(200, "text/plain", b"secret".to_vec())]).await;
    let doc = format!("{}/notes.txt", files.url());
    let (out, api) = ask_about(&doc, None).await;
    let err = out.unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    assert!(api.received().is_empty(), "nothing was sent to the model");
    assert!(files.received().is_empty(), "nothing was fetched");

    // allowed: downloaded and sent inline
    let files = MockServer::start(vec![Canned::new(200, "text/plain", b"hello".to_vec())]).await;
    let doc = format!("{}/notes.txt", files.url());
    let (out, api) = ask_about(&doc, Some(DownloadPolicy::default().allow_private(true))).await;
    assert_eq!(out.unwrap(), "read it");
    let sent = api.received()[0].json();
    let file = &sent["messages"][0]["content"][1]["file"];
    assert!(
        file["file_data"]
            .as_str()
            .unwrap()
            .starts_with("data:text/plain;base64,"),
        "{file}"
    );
}

#[tokio::test]
async fn metadata_endpoints_and_names_resolving_inward_are_refused() {
    let strict = DownloadPolicy::default();
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://[::ffff:127.0.0.1]:9/x",
        "http://10.0.0.1/x",
        "file:///etc/passwd",
    ] {
        let err = download(url, &strict).await.unwrap_err();
        assert!(err.to_string().contains("refusing"), "{url}: {err}");
    }
    // even when private hosts are allowed, the metadata endpoint is not
    let open = DownloadPolicy::default().allow_private(true);
    let err = download("http://169.254.169.254/latest/", &open)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("metadata"), "{err}");
}

#[tokio::test]
async fn downloads_are_capped_and_redirects_checked() {
    let open = DownloadPolicy::default().allow_private(true).max_bytes(4);
    let big = MockServer::start(vec![Canned::new(200, "text/plain", b"too large".to_vec())]).await;
    let err = download(&format!("{}/big", big.url()), &open)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("larger than 4 bytes"), "{err}");

    // a public-looking first hop that redirects inward is refused at the second hop
    let inward = MockServer::start(vec![
        Canned::new(302, "text/plain", Vec::new())
            .header("location", "http://169.254.169.254/latest/meta-data/"),
    ])
    .await;
    let allow_loopback = DownloadPolicy::default().allow_private(true);
    let err = download(&format!("{}/r", inward.url()), &allow_loopback)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("metadata"), "{err}");
}

fn anthropic_reply() -> Canned {
    Canned::json(
        200,
        &json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "done"}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 5, "output_tokens": 3}}),
    )
}

fn anthropic_agent(url: String, policy: DownloadPolicy) -> Agent {
    use verity::models::anthropic::AnthropicModel;
    use verity::providers::anthropic::AnthropicProvider;
    let provider = AnthropicProvider::builder()
        .base_url(url)
        .api_key("k")
        .download_policy(policy)
        .build()
        .unwrap();
    Agent::builder(AnthropicModel::new("claude-sonnet-4-5", provider)).build()
}

#[tokio::test]
async fn anthropic_refuses_audio_and_inlines_text_documents() {
    let api = MockServer::start(vec![anthropic_reply()]).await;
    let agent = anthropic_agent(api.url(), DownloadPolicy::default());
    let err = agent
        .run(vec![
            UserContent::from("Transcribe."),
            UserContent::AudioUrl(verity::FileUrl::new("https://example.com/a.mp3")),
        ])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no audio or video"), "{err}");
    assert!(api.received().is_empty(), "audio is never silently dropped");

    // a text document at a URL: downloaded and sent as text
    let files = MockServer::start(vec![Canned::new(200, "text/plain", b"line one".to_vec())]).await;
    let agent = anthropic_agent(api.url(), DownloadPolicy::default().allow_private(true));
    let out = agent
        .run(vec![
            UserContent::from("Summarize."),
            UserContent::document_url(format!("{}/notes.txt", files.url())),
        ])
        .await
        .unwrap();
    assert_eq!(out.output, "done");
    let block = &api.received()[0].json()["messages"][0]["content"][1];
    assert_eq!(
        block["source"],
        json!({"type": "text", "media_type": "text/plain", "data": "line one"})
    );
}

#[tokio::test]
async fn the_gemini_api_gets_web_media_as_bytes() {
    use verity::models::gemini::GeminiModel;
    use verity::providers::google_gla::GoogleGlaProvider;
    let reply = Canned::json(
        200,
        &json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "a cat"}]},
                                "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2}}),
    );
    let api = MockServer::start(vec![reply]).await;
    let files = MockServer::start(vec![Canned::new(
        200,
        "image/png",
        vec![0x89, b'P', b'N', b'G'],
    )])
    .await;
    let image = format!("{}/cat.png", files.url());
    let model = |policy: DownloadPolicy| {
        let provider = GoogleGlaProvider::builder()
            .base_url(api.url())
            .api_key("k")
            .download_policy(policy)
            .build()
            .unwrap();
        Agent::builder(GeminiModel::new("gemini-2.5-flash", provider)).build()
    };
    let prompt = || {
        vec![
            UserContent::from("What is it?"),
            UserContent::image_url(image.clone()),
        ]
    };
    // refused by default: the host is loopback
    let err = model(DownloadPolicy::default())
        .run(prompt())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    let out = model(DownloadPolicy::default().allow_private(true))
        .run(prompt())
        .await
        .unwrap();
    assert_eq!(out.output, "a cat");
    let part = &api.received()[0].json()["contents"][0]["parts"][1];
    assert_eq!(part["inlineData"]["mimeType"], "image/png");
    // YouTube stays a URL
    let youtube = UserContent::VideoUrl(verity::FileUrl::new("https://youtu.be/lCdaVNyHtjU"));
    let _ = model(DownloadPolicy::default())
        .run(vec![UserContent::from("Watch."), youtube])
        .await;
    let sent = api.received();
    let last = sent.last().unwrap().json();
    assert_eq!(
        last["contents"][0]["parts"][1]["fileData"]["fileUri"],
        "https://youtu.be/lCdaVNyHtjU"
    );
}

#[cfg(feature = "bedrock")]
#[tokio::test]
async fn bedrock_downloads_web_urls_under_the_guard() {
    use verity::models::bedrock::BedrockConverseModel;
    use verity::providers::bedrock::BedrockProvider;
    let provider = BedrockProvider::builder()
        .region("us-east-1")
        .credentials("AKIDEXAMPLE", "secret", None)
        .endpoint_url("http://127.0.0.1:9")
        .max_attempts(1)
        .build()
        .await
        .unwrap();
    let agent = Agent::builder(BedrockConverseModel::with_provider(
        "amazon.nova-pro-v1:0",
        provider,
    ))
    .build();
    let err = agent
        .run(vec![
            UserContent::from("Look."),
            UserContent::image_url("http://169.254.169.254/latest/cat.png"),
        ])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("metadata"), "{err}");
}
