//! Tests of verity-evals (one binary), all offline except `local_model`, which needs the
//! local model server (`scripts/local-model`) and fails loudly in CI without it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod builtins;
mod diff;
mod example;
mod files;
mod generate;
mod judge;
mod local_model;
mod report;
mod run;
mod spans;
