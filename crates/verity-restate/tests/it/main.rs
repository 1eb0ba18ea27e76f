//! verity-restate's integration tests: durable runs against a real Restate server
//! (installed from npm by `tests/install-server.sh`, started once per test run on
//! loopback), a mock OpenAI-compatible model served by the test process, and worker
//! processes built from `tests/worker`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod durable;
mod support;
