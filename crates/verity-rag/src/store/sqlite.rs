//! The embedded default: SQLite (a file or memory), searched by brute-force cosine
//! similarity in the process. Documentation sets of a few thousand chunks are searched
//! in milliseconds; no server is needed.

use std::path::Path;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use rusqlite::{Connection, params};

use super::VectorStore;
use crate::error::StoreError;
use crate::record::{DocRecord, ScoredRecord, cosine_similarity};

/// Records in a SQLite table `docs` (embeddings as little-endian `f32` blobs).
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS docs (
    url TEXT NOT NULL,
    chunk_number INTEGER NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    content TEXT NOT NULL,
    embedding BLOB NOT NULL,
    PRIMARY KEY (url, chunk_number)
)";

impl SqliteStore {
    /// Opens (creating when missing) a store in this file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?)
    }

    /// A store in memory, gone when dropped.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs blocking SQLite work off the async runtime.
    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Task("the connection's lock is poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(b: &[u8]) -> Result<Vec<f32>, StoreError> {
    if !b.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt(format!(
            "an embedding blob of {} bytes",
            b.len()
        )));
    }
    Ok(b.chunks_exact(4)
        .filter_map(|c| <[u8; 4]>::try_from(c).ok().map(f32::from_le_bytes))
        .collect())
}

impl VectorStore for SqliteStore {
    fn upsert<'a>(&'a self, records: &'a [DocRecord]) -> BoxFuture<'a, Result<(), StoreError>> {
        let records = records.to_vec();
        Box::pin(self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare(
                    "INSERT OR REPLACE INTO docs (url, chunk_number, title, summary, content, embedding)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for r in &records {
                    stmt.execute(params![
                        r.url,
                        r.chunk_number,
                        r.title,
                        r.summary,
                        r.content,
                        to_blob(&r.embedding)
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        }))
    }

    fn search<'a>(
        &'a self,
        embedding: &'a [f32],
        k: usize,
    ) -> BoxFuture<'a, Result<Vec<ScoredRecord>, StoreError>> {
        let query = embedding.to_vec();
        Box::pin(self.with_conn(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT url, chunk_number, title, summary, content, embedding FROM docs",
            )?;
            let mut rows = stmt.query([])?;
            let mut scored: Vec<ScoredRecord> = Vec::new();
            while let Some(row) = rows.next()? {
                let blob: Vec<u8> = row.get(5)?;
                let embedding = from_blob(&blob)?;
                if embedding.len() != query.len() {
                    return Err(StoreError::Dimension {
                        expected: embedding.len(),
                        got: query.len(),
                    });
                }
                let score = cosine_similarity(&query, &embedding);
                scored.push(ScoredRecord {
                    record: DocRecord {
                        url: row.get(0)?,
                        chunk_number: row.get(1)?,
                        title: row.get(2)?,
                        summary: row.get(3)?,
                        content: row.get(4)?,
                        embedding,
                    },
                    score,
                });
            }
            scored.sort_by(|a, b| b.score.total_cmp(&a.score));
            scored.truncate(k);
            Ok(scored)
        }))
    }

    fn count(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(self.with_conn(|conn| {
            let n: i64 = conn.query_row("SELECT COUNT(*) FROM docs", [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        }))
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.with_conn(|conn| {
            conn.execute("DELETE FROM docs", [])?;
            Ok(())
        }))
    }
}
