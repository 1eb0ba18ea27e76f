//! Verity's integration tests, linked as one binary: one build and one link for all of
//! them, and one process, so whatever is started once (the local model server) is
//! shared. Run a group with `cargo test -p verity --all-features --test it <module>`.
//!
//! Tests may unwrap, index, panic and call `unreachable!`: that is how they fail.
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
mod anthropic;
mod architecture;
#[cfg(feature = "bedrock")]
mod bedrock;
mod cohere;
mod conformance;
mod deferred;
mod differential;
mod downloads;
mod faults;
mod gemini;
mod history;
mod interop;
mod local_model;
mod mistral;
mod multi_agent;
mod native_tools;
mod openai;
mod openai_responses;
mod quirks;
mod readme;
mod retry_rendering;
mod secrets;
mod streaming;
#[cfg(feature = "otel")]
mod telemetry;
mod test_model;
mod testing;
mod thinking;
mod toolsets;
mod validation;
