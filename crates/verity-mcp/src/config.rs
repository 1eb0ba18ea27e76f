//! Servers from the `mcpServers` JSON format that Claude Desktop, Claude Code, Cursor and
//! PydanticAI's `load_mcp_toolsets` read:
//!
//! ```json
//! {"mcpServers": {
//!   "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."]},
//!   "search": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}}
//! }}
//! ```
//!
//! `${VAR}` is replaced by the environment variable `VAR` (an error when it is not
//! set) and `${VAR:-default}` by `VAR` or `default`, anywhere in a string. Keys Verity
//! does not read (`type`, `disabled`, …) are ignored, as PydanticAI ignores them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::client::{McpServer, McpServerBuilder};
use crate::error::{McpError, Result};

/// One entry of `mcpServers`: a command to run (stdio) or a URL (streamable HTTP).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct McpServerConfig {
    /// The command to run (stdio).
    #[serde(default)]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// Environment variables for it.
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    /// Its working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// The server's URL: streamable HTTP, or the legacy SSE transport when `type` says
    /// `sse` or (as PydanticAI reads it) the URL's path ends in `/sse`.
    #[serde(default)]
    pub url: Option<String>,
    /// The transport of a `url` server: `http`/`streamable-http` or `sse`.
    #[serde(default, rename = "type")]
    pub transport: Option<String>,
    /// HTTP headers for every request.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}

impl McpServerConfig {
    /// A builder for this server, with `name` as its id.
    pub fn builder(&self, name: &str) -> Result<McpServerBuilder> {
        let builder = match (&self.command, &self.url) {
            (Some(command), _) => {
                let mut b =
                    McpServer::stdio(command.clone(), self.args.clone().unwrap_or_default())
                        .envs(self.env.clone().unwrap_or_default());
                if let Some(cwd) = &self.cwd {
                    b = b.cwd(cwd);
                }
                b
            }
            (None, Some(url)) => {
                let sse = match self.transport.as_deref() {
                    Some("sse") => true,
                    Some(_) => false,
                    None => url
                        .split(['?', '#'])
                        .next()
                        .is_some_and(|path| path.trim_end_matches('/').ends_with("/sse")),
                };
                let builder = if sse {
                    McpServer::sse(url.clone())
                } else {
                    McpServer::http(url.clone())
                };
                builder.headers(self.headers.clone().unwrap_or_default())
            }
            (None, None) => {
                return Err(McpError::Config(format!(
                    "MCP server config '{name}' must have either `command` or `url`"
                )));
            }
        };
        Ok(builder.id(name))
    }
}

/// An `mcpServers` configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct McpConfig {
    /// The servers by name.
    #[serde(rename = "mcpServers")]
    pub servers: BTreeMap<String, McpServerConfig>,
}

impl McpConfig {
    /// Read a configuration from JSON text, environment variables expanded.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| McpError::Config(format!("not valid JSON: {e}")))?;
        let value = expand_env_vars(value)?;
        serde_json::from_value(value)
            .map_err(|e| McpError::Config(format!("not an `mcpServers` configuration: {e}")))
    }

    /// Read a configuration file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| McpError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_json(&text)
    }

    /// One server for each entry, its tools prefixed with the entry's name (as
    /// PydanticAI's `load_mcp_toolsets` does), in name order. Nothing is started yet.
    pub fn into_servers(self) -> Result<Vec<McpServer>> {
        self.servers
            .iter()
            .map(|(name, config)| Ok(config.builder(name)?.tool_prefix(name.clone()).build()))
            .collect()
    }
}

/// The servers of an `mcpServers` file, each prefixed with its name (PydanticAI's
/// `load_mcp_toolsets`): add each to an agent with
/// [`AgentBuilder::toolset`](verity::AgentBuilder::toolset).
pub fn load_mcp_servers(path: impl AsRef<Path>) -> Result<Vec<McpServer>> {
    McpConfig::from_path(path)?.into_servers()
}

/// Expand `${VAR}` and `${VAR:-default}` in every string of a JSON value (keys are
/// left alone). An unset variable without a default is an error.
pub fn expand_env_vars(value: Value) -> Result<Value> {
    Ok(match value {
        Value::String(s) => Value::String(expand_str(&s)?),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(expand_env_vars)
                .collect::<Result<_>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, expand_env_vars(v)?)))
                .collect::<Result<_>>()?,
        ),
        other => other,
    })
}

fn expand_str(s: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        out.push_str(before);
        let body = after.get(2..).unwrap_or_default();
        let Some(end) = body.find('}') else {
            // no closing brace: not a reference
            out.push_str(after);
            return Ok(out);
        };
        let reference = body.get(..end).unwrap_or_default();
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            out.push_str("${");
            rest = body;
            continue;
        }
        match (std::env::var(name), default) {
            (Ok(v), _) => out.push_str(&v),
            (Err(_), Some(d)) => out.push_str(d),
            (Err(_), None) => {
                return Err(McpError::Config(format!(
                    "environment variable ${{{name}}} is not defined"
                )));
            }
        }
        rest = body.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}
