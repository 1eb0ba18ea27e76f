//! verity-tools against a local stub serving DuckDuckGo's and Tavily's formats (no test
//! reaches the internet).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod duckduckgo;
mod stub;
mod tavily;
