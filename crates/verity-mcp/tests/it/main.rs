//! verity-mcp's integration tests, linked as one binary. The servers they talk to (the
//! reference server from npm, a Python server on the `mcp` package) are installed by
//! `tests/install-servers.sh` into a cache outside the clone; without them (no node,
//! no Python, no registry) a test prints a notice and passes, except in CI
//! (`CI=true`), where it fails.
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

mod agent;
mod config;
mod conformance;
mod everything;
mod python;
mod server;
