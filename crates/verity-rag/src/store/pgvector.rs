//! PostgreSQL with the pgvector extension: records in a table with a `vector(n)` column,
//! searched by pgvector's cosine distance (`<=>`) in the server.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio_postgres::{Client, NoTls};

use super::VectorStore;
use crate::error::StoreError;
use crate::record::{DocRecord, ScoredRecord};

/// Records in a PostgreSQL table (named at connection) with a `vector(dimensions)` column.
#[derive(Clone)]
pub struct PgVectorStore {
    client: Arc<Client>,
    table: String,
    dimensions: usize,
}

impl std::fmt::Debug for PgVectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgVectorStore")
            .field("table", &self.table)
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

/// pgvector's text form of a vector: `[1,2.5,-3]`.
fn vector_literal(v: &[f32]) -> String {
    let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(","))
}

fn parse_vector(text: &str) -> Result<Vec<f32>, StoreError> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    if inner.is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split(',')
        .map(|x| {
            x.trim()
                .parse::<f32>()
                .map_err(|e| StoreError::Corrupt(format!("vector component {x:?}: {e}")))
        })
        .collect()
}

impl PgVectorStore {
    /// Connects (`host=... port=... user=... dbname=...`, as tokio-postgres takes it),
    /// creates the `vector` extension and the table when missing. The table name must be
    /// a plain identifier (letters, digits, `_`).
    pub async fn connect(config: &str, table: &str, dimensions: usize) -> Result<Self, StoreError> {
        if table.is_empty()
            || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || table.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(StoreError::Corrupt(format!(
                "not a plain table name: {table:?}"
            )));
        }
        let (client, connection) = tokio_postgres::connect(config, NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "postgres connection ended");
            }
        });
        client
            .batch_execute(&format!(
                "CREATE EXTENSION IF NOT EXISTS vector;
                 CREATE TABLE IF NOT EXISTS {table} (
                    url TEXT NOT NULL,
                    chunk_number INTEGER NOT NULL,
                    title TEXT NOT NULL,
                    summary TEXT NOT NULL,
                    content TEXT NOT NULL,
                    embedding vector({dimensions}) NOT NULL,
                    PRIMARY KEY (url, chunk_number)
                 );"
            ))
            .await?;
        Ok(PgVectorStore {
            client: Arc::new(client),
            table: table.to_owned(),
            dimensions,
        })
    }

    fn check(&self, v: &[f32]) -> Result<(), StoreError> {
        if v.len() == self.dimensions {
            Ok(())
        } else {
            Err(StoreError::Dimension {
                expected: self.dimensions,
                got: v.len(),
            })
        }
    }
}

impl VectorStore for PgVectorStore {
    fn upsert<'a>(&'a self, records: &'a [DocRecord]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let stmt = self
                .client
                .prepare(&format!(
                    "INSERT INTO {} (url, chunk_number, title, summary, content, embedding)
                     VALUES ($1, $2, $3, $4, $5, $6::text::vector)
                     ON CONFLICT (url, chunk_number) DO UPDATE SET
                       title = EXCLUDED.title, summary = EXCLUDED.summary,
                       content = EXCLUDED.content, embedding = EXCLUDED.embedding",
                    self.table
                ))
                .await?;
            for r in records {
                self.check(&r.embedding)?;
                let n = i32::try_from(r.chunk_number)
                    .map_err(|_| StoreError::Corrupt("chunk number over i32".into()))?;
                self.client
                    .execute(
                        &stmt,
                        &[
                            &r.url,
                            &n,
                            &r.title,
                            &r.summary,
                            &r.content,
                            &vector_literal(&r.embedding),
                        ],
                    )
                    .await?;
            }
            Ok(())
        })
    }

    fn search<'a>(
        &'a self,
        embedding: &'a [f32],
        k: usize,
    ) -> BoxFuture<'a, Result<Vec<ScoredRecord>, StoreError>> {
        Box::pin(async move {
            self.check(embedding)?;
            let limit = i64::try_from(k).unwrap_or(i64::MAX);
            let rows = self
                .client
                .query(
                    &format!(
                        "SELECT url, chunk_number, title, summary, content, embedding::text,
                                1 - (embedding <=> $1::text::vector) AS score
                         FROM {} ORDER BY embedding <=> $1::text::vector LIMIT $2",
                        self.table
                    ),
                    &[&vector_literal(embedding), &limit],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    let n: i32 = row.try_get(1)?;
                    let vector: String = row.try_get(5)?;
                    let score: f64 = row.try_get(6)?;
                    Ok(ScoredRecord {
                        record: DocRecord {
                            url: row.try_get(0)?,
                            chunk_number: u32::try_from(n).unwrap_or(0),
                            title: row.try_get(2)?,
                            summary: row.try_get(3)?,
                            content: row.try_get(4)?,
                            embedding: parse_vector(&vector)?,
                        },
                        score: score as f32,
                    })
                })
                .collect()
        })
    }

    fn count(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let row = self
                .client
                .query_one(&format!("SELECT COUNT(*) FROM {}", self.table), &[])
                .await?;
            let n: i64 = row.try_get(0)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.client
                .execute(&format!("DELETE FROM {}", self.table), &[])
                .await?;
            Ok(())
        })
    }
}
