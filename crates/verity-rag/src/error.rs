//! The crate's typed errors.

use std::time::Duration;

/// What an [`Embedder`](crate::Embedder) can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The endpoint answered 429 Too Many Requests.
    #[error("embeddings endpoint rate limited the request (429): {body}")]
    RateLimited {
        /// The response body, as sent.
        body: String,
        /// The `Retry-After` delay the endpoint asked for, when it gave one.
        retry_after: Option<Duration>,
    },
    /// The endpoint answered another non-success status.
    #[error("embeddings endpoint answered HTTP {status}: {body}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The response body, as sent.
        body: String,
    },
    /// The request could not be sent or its response not read.
    #[error("embeddings request failed: {0}")]
    Transport(String),
    /// The response was not the embeddings JSON expected.
    #[error("embeddings response could not be read: {0}")]
    Decode(String),
    /// One input is longer than a request may carry.
    #[error("input {index} has {chars} characters, more than the {limit} a request may carry")]
    InputTooLarge {
        /// The input's position in the batch.
        index: usize,
        /// Its length in characters.
        chars: usize,
        /// The configured per-request limit.
        limit: usize,
    },
    /// The local model could not be loaded or run.
    #[error("local embedding model: {0}")]
    Model(String),
}

/// What a [`VectorStore`](crate::VectorStore) can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[cfg(feature = "pgvector")]
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// A vector of another dimension than the store's.
    #[error("embedding has {got} dimensions, the store holds {expected}")]
    Dimension {
        /// The store's dimension.
        expected: usize,
        /// The dimension given.
        got: usize,
    },
    /// A stored value could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A blocking task could not finish (it panicked or the runtime shut down).
    #[error("store task failed: {0}")]
    Task(String),
}

/// Any error of the RAG pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Embedding failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// The vector store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading the documentation folder failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The embedder returned another number of vectors than texts given.
    #[error("the embedder returned {got} vectors for {expected} texts")]
    CountMismatch {
        /// Texts sent.
        expected: usize,
        /// Vectors received.
        got: usize,
    },
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
