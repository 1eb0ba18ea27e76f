//! Vector stores: records in, the nearest records out.

use futures::future::BoxFuture;

use crate::error::StoreError;
use crate::record::{DocRecord, ScoredRecord};

mod sqlite;
pub use sqlite::SqliteStore;

#[cfg(feature = "pgvector")]
mod pgvector;
#[cfg(feature = "pgvector")]
pub use pgvector::PgVectorStore;

/// Stores records and finds the ones nearest to a query vector (cosine similarity).
///
/// Object safe (boxed futures), so the agent's `retrieve` tool can hold an
/// `Arc<dyn VectorStore>`.
pub trait VectorStore: Send + Sync {
    /// Inserts records, replacing any with the same URL and chunk number.
    fn upsert<'a>(&'a self, records: &'a [DocRecord]) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The `k` records most similar to `embedding`, most similar first.
    fn search<'a>(
        &'a self,
        embedding: &'a [f32],
        k: usize,
    ) -> BoxFuture<'a, Result<Vec<ScoredRecord>, StoreError>>;

    /// How many records the store holds.
    fn count(&self) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Removes every record.
    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

impl<S: VectorStore + ?Sized> VectorStore for std::sync::Arc<S> {
    fn upsert<'a>(&'a self, records: &'a [DocRecord]) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).upsert(records)
    }
    fn search<'a>(
        &'a self,
        embedding: &'a [f32],
        k: usize,
    ) -> BoxFuture<'a, Result<Vec<ScoredRecord>, StoreError>> {
        (**self).search(embedding, k)
    }
    fn count(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        (**self).count()
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        (**self).clear()
    }
}
