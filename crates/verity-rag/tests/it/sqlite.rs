//! The embedded SQLite store: a round trip, replacement, top-k order, persistence.

use verity_rag::{DocRecord, SqliteStore, StoreError, VectorStore};

fn record(url: &str, n: u32, embedding: Vec<f32>) -> DocRecord {
    DocRecord {
        url: url.into(),
        chunk_number: n,
        title: format!("Title {n}"),
        summary: "Summary.".into(),
        content: format!("content of {url} #{n}"),
        embedding,
    }
}

#[tokio::test]
async fn round_trip_and_top_k_by_cosine_similarity() {
    let store = SqliteStore::in_memory().unwrap();
    let records = vec![
        record("https://d/a/", 0, vec![1.0, 0.0, 0.0]),
        record("https://d/a/", 1, vec![0.7, 0.7, 0.0]),
        record("https://d/b/", 0, vec![0.0, 1.0, 0.0]),
        record("https://d/c/", 0, vec![-1.0, 0.0, 0.0]),
    ];
    store.upsert(&records).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 4);

    let found = store.search(&[2.0, 0.1, 0.0], 2).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(
        found[0].record, records[0],
        "everything comes back, the vector too"
    );
    assert_eq!(found[1].record, records[1]);
    assert!(found[0].score > found[1].score);
    assert!(
        (found[0].score - 0.99875).abs() < 1e-3,
        "{}",
        found[0].score
    );

    // same url and chunk number: replaced
    store
        .upsert(&[record("https://d/c/", 0, vec![1.0, 0.0, 0.0])])
        .await
        .unwrap();
    assert_eq!(store.count().await.unwrap(), 4);
    let all = store.search(&[1.0, 0.0, 0.0], 10).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all.last().unwrap().record.url, "https://d/b/");

    // a query of another dimension is a typed error
    let err = store.search(&[1.0, 0.0], 3).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Dimension {
                expected: 3,
                got: 2
            }
        ),
        "{err:?}"
    );

    store.clear().await.unwrap();
    assert_eq!(store.count().await.unwrap(), 0);
    assert!(store.search(&[1.0, 0.0, 0.0], 3).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_file_store_keeps_its_records() {
    let dir = std::env::temp_dir().join(format!("verity-rag-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("docs.sqlite");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .upsert(&[record("https://d/x/", 3, vec![0.25, -0.5])])
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let found = store.search(&[0.25, -0.5], 5).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].record.chunk_number, 3);
    assert_eq!(found[0].record.embedding, vec![0.25, -0.5]);
    std::fs::remove_dir_all(&dir).unwrap();
}
