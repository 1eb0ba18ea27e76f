//! The OpenAI-compatible client against a loopback stub: batching within the limits,
//! typed HTTP errors, the key kept out of Debug and errors.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use verity_rag::{EmbedError, Embedder, OpenAIEmbedder};

#[derive(Default)]
struct Seen {
    /// Per request: the number of inputs, their characters, the model, the auth header.
    requests: Vec<(usize, usize, String, Option<String>)>,
}

#[derive(Clone)]
struct Stub {
    seen: Arc<Mutex<Seen>>,
    /// 0: answer; 429 / 500: fail with that status
    fail: u16,
}

async fn embeddings(State(stub): State<Stub>, headers: HeaderMap, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap();
    let inputs: Vec<String> = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    stub.seen.lock().unwrap().requests.push((
        inputs.len(),
        inputs.iter().map(|s| s.chars().count()).sum(),
        body["model"].as_str().unwrap().to_owned(),
        headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
    ));
    match stub.fail {
        429 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "7")],
            r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#,
        )
            .into_response(),
        500 => (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response(),
        _ => {
            // a vector that encodes the input: [length, first byte]; items in reverse
            // order, with their indexes, as servers may answer
            let data: Vec<Value> = inputs
                .iter()
                .enumerate()
                .rev()
                .map(|(i, s)| {
                    json!({"object": "embedding", "index": i,
                           "embedding": [s.len() as f32, s.bytes().next().unwrap_or(0) as f32]})
                })
                .collect();
            let body = json!({"object": "list", "data": data, "model": "stub",
                              "usage": {"prompt_tokens": 1, "total_tokens": 1}});
            ([("content-type", "application/json")], body.to_string()).into_response()
        }
    }
}

async fn serve(fail: u16) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(Stub {
            seen: Arc::clone(&seen),
            fail,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), seen)
}

fn texts(n: usize, len: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{}{}", (b'a' + (i % 26) as u8) as char, "x".repeat(len - 1)))
        .collect()
}

#[tokio::test]
async fn batches_stay_within_input_and_character_limits() {
    let (url, seen) = serve(0).await;
    let embedder = OpenAIEmbedder::builder()
        .base_url(&url)
        .model("text-embedding-3-small")
        .api_key("sk-secret-key-123")
        .max_inputs(4)
        .max_chars(250)
        .build()
        .unwrap();
    // 10 inputs of 100 characters: at most 2 per request by characters
    let input = texts(10, 100);
    let vectors = embedder.embed(&input).await.unwrap();
    assert_eq!(vectors.len(), 10);
    for (t, v) in input.iter().zip(&vectors) {
        assert_eq!(v, &vec![100.0, t.as_bytes()[0] as f32], "order kept");
    }
    {
        let seen = seen.lock().unwrap();
        let sizes: Vec<usize> = seen.requests.iter().map(|r| r.0).collect();
        assert_eq!(sizes, vec![2, 2, 2, 2, 2]);
        assert!(seen.requests.iter().all(|r| r.1 <= 250));
        assert!(
            seen.requests
                .iter()
                .all(|r| r.2 == "text-embedding-3-small")
        );
        assert_eq!(
            seen.requests[0].3.as_deref(),
            Some("Bearer sk-secret-key-123")
        );
    }

    // 9 short inputs: by count, 4 + 4 + 1
    let (url, seen) = serve(0).await;
    let embedder = OpenAIEmbedder::builder()
        .base_url(&url)
        .max_inputs(4)
        .build()
        .unwrap();
    embedder.embed(&texts(9, 5)).await.unwrap();
    let sizes: Vec<usize> = seen.lock().unwrap().requests.iter().map(|r| r.0).collect();
    assert_eq!(sizes, vec![4, 4, 1]);
    assert_eq!(
        seen.lock().unwrap().requests[0].3,
        None,
        "no key, no header"
    );

    // nothing to embed: no request
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
    assert_eq!(seen.lock().unwrap().requests.len(), 3);
}

#[tokio::test]
async fn an_input_over_the_character_limit_is_a_typed_error_before_any_request() {
    let (url, seen) = serve(0).await;
    let embedder = OpenAIEmbedder::builder()
        .base_url(&url)
        .max_chars(50)
        .build()
        .unwrap();
    let err = embedder.embed(&texts(3, 60)).await.unwrap_err();
    assert!(
        matches!(
            err,
            EmbedError::InputTooLarge {
                index: 0,
                chars: 60,
                limit: 50
            }
        ),
        "{err:?}"
    );
    assert!(seen.lock().unwrap().requests.is_empty());
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_typed_and_never_show_the_key() {
    let (url, _) = serve(429).await;
    let embedder = OpenAIEmbedder::builder()
        .base_url(&url)
        .api_key("sk-secret-key-123")
        .build()
        .unwrap();
    let err = embedder.embed(&texts(2, 5)).await.unwrap_err();
    match &err {
        EmbedError::RateLimited { body, retry_after } => {
            assert!(body.contains("Rate limit reached"));
            assert_eq!(*retry_after, Some(std::time::Duration::from_secs(7)));
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?} {embedder:?}").contains("sk-secret"));
    assert!(format!("{embedder:?}").contains("[REDACTED]"));

    let (url, seen) = serve(500).await;
    let embedder = OpenAIEmbedder::builder()
        .base_url(&url)
        .api_key("sk-secret-key-123")
        .max_inputs(1)
        .build()
        .unwrap();
    let err = embedder.embed(&texts(3, 5)).await.unwrap_err();
    match &err {
        EmbedError::Http { status, body } => {
            assert_eq!(*status, 500);
            assert_eq!(body, "upstream exploded");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains("sk-secret"));
    assert_eq!(
        seen.lock().unwrap().requests.len(),
        1,
        "stops at the first failure"
    );

    // nothing listening: a transport error, without the key
    let embedder = OpenAIEmbedder::builder()
        .base_url("http://127.0.0.1:9/v1")
        .api_key("sk-secret-key-123")
        .build()
        .unwrap();
    let err = embedder.embed(&texts(1, 5)).await.unwrap_err();
    assert!(matches!(err, EmbedError::Transport(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("sk-secret"));
}

#[tokio::test]
async fn build_ingests_a_folder_through_the_endpoint_into_records() {
    use verity_rag::chunker::ChunkOptions;
    use verity_rag::{SqliteStore, VectorStore};

    let dir = std::env::temp_dir().join(format!("verity-rag-build-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::write(
        dir.join("agent.md"),
        "# Agents\n\nAgents are the primary interface.\n\n## Running\n\nCall `run`.\n\n## Streaming\n\nCall `run_stream`.\n",
    )
    .unwrap();
    std::fs::write(dir.join("models/index.md"), "# Models\n\nMany providers.\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "not markdown").unwrap();

    let (url, seen) = serve(0).await;
    let embedder = OpenAIEmbedder::builder()
        .base_url(&url)
        .max_inputs(2)
        .build()
        .unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let report = verity_rag::build(
        &dir,
        "https://docs.example/",
        &ChunkOptions::default(),
        &embedder,
        &store,
    )
    .await
    .unwrap();
    assert_eq!((report.pages, report.records), (2, 4));
    // 4 chunks, at most 2 per request
    let sizes: Vec<usize> = seen.lock().unwrap().requests.iter().map(|r| r.0).collect();
    assert_eq!(sizes, vec![2, 2]);
    assert_eq!(store.count().await.unwrap(), 4);

    let mut records: Vec<_> = store
        .search(&[1.0, 1.0], 10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.record)
        .collect();
    records.sort_by(|a, b| (&a.url, a.chunk_number).cmp(&(&b.url, b.chunk_number)));
    let keys: Vec<(&str, u32, &str)> = records
        .iter()
        .map(|r| (r.url.as_str(), r.chunk_number, r.title.as_str()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("https://docs.example/agent/", 0, "Agents"),
            ("https://docs.example/agent/", 1, "Agents — Running"),
            ("https://docs.example/agent/", 2, "Agents — Streaming"),
            ("https://docs.example/models/", 0, "Models"),
        ]
    );
    assert_eq!(records[1].summary, "Agents are the primary interface.");
    assert_eq!(records[1].content, "## Running\n\nCall `run`.");
    // what was embedded: the heading path, then the content
    assert_eq!(
        records[1].embedding[0],
        "Agents > Running\n\n## Running\n\nCall `run`.".len() as f32
    );

    // a second build replaces what the store held
    std::fs::remove_file(dir.join("agent.md")).unwrap();
    let report = verity_rag::build(
        &dir,
        "https://docs.example",
        &ChunkOptions::default(),
        &embedder,
        &store,
    )
    .await
    .unwrap();
    assert_eq!(report.records, 1);
    assert_eq!(store.count().await.unwrap(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
