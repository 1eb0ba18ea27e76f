//! Docs RAG for Verity: the records a documentation pipeline stores (title, summary,
//! chunk content, URL, chunk number, embedding), built from Markdown pages and searched
//! by an agent with a `retrieve` tool.
//!
//! - [`chunk_markdown`]: pages cut by headings, with a size cap; code fences never split.
//! - [`Embedder`]: [`OpenAIEmbedder`] (any OpenAI-compatible `/embeddings` endpoint,
//!   batched within its limits) and, with the feature `local`, `LocalEmbedder`
//!   (all-MiniLM-L6-v2 on candle, offline).
//! - [`VectorStore`]: [`SqliteStore`] (embedded, no server) and, with the feature
//!   `pgvector`, `PgVectorStore` (PostgreSQL + pgvector).
//! - [`build`]: a folder of Markdown into the store; [`rag_agent`]: the agent.
#![forbid(clippy::dbg_macro)]

pub mod agent;
pub mod chunker;
pub mod embed;
pub mod error;
pub mod ingest;
pub mod record;
pub mod store;

pub use agent::{RagDeps, rag_agent, retrieve_tool};
pub use chunker::{Chunk, ChunkOptions, chunk_markdown};
#[cfg(feature = "local")]
pub use embed::LocalEmbedder;
pub use embed::{Embedder, OpenAIEmbedder};
pub use error::{EmbedError, Error, Result, StoreError};
pub use ingest::{BuildReport, build};
pub use record::{DocRecord, ScoredRecord};
#[cfg(feature = "pgvector")]
pub use store::PgVectorStore;
pub use store::{SqliteStore, VectorStore};
