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
