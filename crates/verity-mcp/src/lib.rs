//! # verity-mcp
//!
//! [MCP](https://modelcontextprotocol.io) for Verity, on the official Rust SDK `rmcp`
//! (kept behind Verity's own types, so the SDK's major versions do not leak into this
//! API):
//!
//! - **Client**: an MCP server's tools as a [`Toolset`](verity::Toolset) of an agent
//!   ([`McpServer`]), over stdio (a child process), streamable HTTP or legacy SSE; its resources,
//!   prompts and instructions; elicitation and sampling answered by the application;
//!   servers loaded from the `mcpServers` JSON format ([`McpConfig`]).
//! - **Server**: Verity tools, any toolset, or a whole agent served over MCP
//!   ([`McpToolServer`]), on stdio or streamable HTTP (axum).
//!
//! ```no_run
//! use verity::prelude::*;
//! use verity_mcp::McpServer;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let server = McpServer::stdio("uvx", ["mcp-run-python", "stdio"]).build();
//! let agent = Agent::builder(TestModel::new())
//!     .toolset(server)
//!     .build();
//! let result = agent.run("How many days between 2000-01-01 and 2025-03-18?").await?;
//! println!("{}", result.output);
//! # Ok(()) }
//! ```
#![forbid(clippy::dbg_macro)]

mod client;
mod config;
mod error;
mod sampling;
mod server;
mod sse;
mod types;

pub use client::{
    DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, ElicitationRequest, ElicitationResponse,
    McpServer, McpServerBuilder, ToolErrorBehavior,
};
pub use config::{McpConfig, McpServerConfig, expand_env_vars, load_mcp_servers};
pub use error::{McpError, Result};
pub use server::{McpHttpServer, McpToolServer};
pub use types::{
    McpContent, McpTool, McpToolResult, Prompt, PromptArgument, PromptMessage, PromptResult,
    Resource, ResourceContents, ResourceTemplate, ServerInfo,
};
