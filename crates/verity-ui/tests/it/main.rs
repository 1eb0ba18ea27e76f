//! verity-ui's integration tests: one binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod ag_ui;
mod chat_app;
mod convert;
mod support;
mod vercel;
