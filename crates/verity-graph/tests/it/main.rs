//! Tests of verity-graph (one binary).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
mod compile_fail;
mod examples;
mod mermaid;
mod persistence;
mod run;
