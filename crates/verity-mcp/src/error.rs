//! The typed errors of MCP clients and servers.

use std::time::Duration;

use serde_json::Value;

/// What can go wrong talking to an MCP server (or serving one). Nothing here is an
/// `rmcp` type: the SDK's errors are rendered into these variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The server's command could not be started.
    #[error("MCP server '{server}': cannot start `{command}`: {source}")]
    Spawn {
        /// The server's id.
        server: String,
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The connection or the `initialize` handshake failed.
    #[error("MCP server '{server}': connecting failed: {message}")]
    Connect {
        /// The server's id.
        server: String,
        /// What went wrong.
        message: String,
    },
    /// The connection was not made within the connect timeout.
    #[error("MCP server '{server}': no connection after {}s", timeout.as_secs_f64())]
    ConnectTimeout {
        /// The server's id.
        server: String,
        /// The timeout.
        timeout: Duration,
    },
    /// A request got no answer within the call timeout (the request was cancelled).
    #[error("MCP server '{server}': `{method}` timed out after {}s", timeout.as_secs_f64())]
    Timeout {
        /// The server's id.
        server: String,
        /// The request (`tools/call read_file`, `resources/read`, …).
        method: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The connection closed (the server exited or crashed) before an answer came. The
    /// next request reconnects.
    #[error("MCP server '{server}': connection closed during `{method}` (the server exited?)")]
    Closed {
        /// The server's id.
        server: String,
        /// The request that was in flight.
        method: String,
    },
    /// The server answered with a JSON-RPC error.
    #[error("MCP server '{server}': `{method}` failed with error {code}: {message}")]
    Protocol {
        /// The server's id.
        server: String,
        /// The request.
        method: String,
        /// The JSON-RPC error code.
        code: i32,
        /// The error message.
        message: String,
        /// The error's data, if any.
        data: Option<Value>,
    },
    /// The transport failed (HTTP error, unreadable message, …).
    #[error("MCP server '{server}': `{method}` failed: {message}")]
    Transport {
        /// The server's id.
        server: String,
        /// The request.
        method: String,
        /// What went wrong.
        message: String,
    },
    /// A tool's result said `isError` and the server is configured to fail the run on
    /// tool errors ([`ToolErrorBehavior::Fail`](crate::ToolErrorBehavior::Fail)).
    #[error("MCP server '{server}': tool `{tool}` failed: {message}")]
    ToolFailed {
        /// The server's id.
        server: String,
        /// The tool.
        tool: String,
        /// The error the tool returned.
        message: String,
    },
    /// The server's answer could not be read as what was asked for.
    #[error("MCP server '{server}': unexpected answer to `{method}`: {message}")]
    UnexpectedResponse {
        /// The server's id.
        server: String,
        /// The request.
        method: String,
        /// What was wrong with it.
        message: String,
    },
    /// A configuration (an `mcpServers` file, a header, a URL) is not usable.
    #[error("invalid MCP configuration: {0}")]
    Config(String),
    /// Serving over MCP failed (binding, the transport).
    #[error("MCP server error: {0}")]
    Serve(String),
}

/// A `Result` with [`McpError`].
pub type Result<T, E = McpError> = std::result::Result<T, E>;
