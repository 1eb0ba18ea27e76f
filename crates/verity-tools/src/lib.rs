//! Ready-made tools for Verity agents — PydanticAI's "common tools": web search through
//! DuckDuckGo (no key) and Tavily (an API key).
//!
//! ```no_run
//! use verity::prelude::*;
//! use verity_tools::{duckduckgo_search_tool, tavily_search_tool};
//!
//! # async fn run() -> verity::Result<()> {
//! let agent = Agent::builder(infer_model("openai:gpt-4o")?)
//!     .tool(duckduckgo_search_tool())
//!     .tool(tavily_search_tool(std::env::var("TAVILY_API_KEY").unwrap_or_default()))
//!     .instructions("Search the web for the given query and return the results.")
//!     .build();
//! let result = agent.run("What is the latest Rust release?").await?;
//! println!("{}", result.output);
//! # Ok(()) }
//! ```
//!
//! Both tools return typed results ([`DuckDuckGoResult`], [`TavilySearchResult`]) and fail
//! with a [`SearchError`]: a rate limit, server error or timeout asks the model to try
//! again, a refused key or an unreadable body ends the run. The endpoints are
//! configurable ([`DuckDuckGoSearch::endpoint`], [`TavilySearch::endpoint`]).

#![forbid(clippy::dbg_macro)]

mod duckduckgo;
mod error;
mod tavily;

pub use duckduckgo::{
    DUCKDUCKGO_HTML_URL, DuckDuckGoResult, DuckDuckGoSearch, DuckDuckGoSearchArgs,
    duckduckgo_search_tool, parse_results as parse_duckduckgo_results,
};
pub use error::SearchError;
pub use tavily::{
    SearchDepth, TAVILY_SEARCH_URL, TavilySearch, TavilySearchArgs, TavilySearchResult, TimeRange,
    Topic, parse_response as parse_tavily_response, tavily_search_tool,
};
