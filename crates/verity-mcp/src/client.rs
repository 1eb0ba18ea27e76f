//! The MCP client: an MCP server as a Verity [`Toolset`].
//!
//! One [`McpServer`] holds at most one connection, made on first use (or with
//! [`McpServer::connect`]) and shared by every call: requests are multiplexed by id, so
//! parallel tool calls and concurrent runs use the same connection without any lock held
//! across a request. When the connection is found closed (the server exited or
//! crashed), the request in flight fails with [`McpError::Closed`] and the next one
//! connects again. A stdio server's process is killed when the last clone of the
//! `McpServer` is dropped (and with it the connection), or when [`McpServer::close`] is
//! called.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rmcp::ServiceExt as _;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult,
    ElicitationAction, GetPromptRequestParams, Implementation, ReadResourceRequestParams,
};
#[allow(deprecated)] // sampling is deprecated by the 2026 revision, still used by 2025 servers
use rmcp::model::{CreateMessageRequestParams, CreateMessageResult};
use rmcp::service::{NotificationContext, RequestContext, RoleClient, RunningService};
use serde_json::{Map, Value, json};
use verity::messages::{ModelMessage, ModelRequest, ModelResponse};
use verity::request::ToolDefinition;
use verity::tools::{Rejection, RunContext, ToolCallError};
use verity::toolsets::{ToolFuture, Toolset, ToolsetTool};
use verity::{ModelRef, ModelSettings};

use crate::error::{McpError, Result};
use crate::types::{
    McpTool, McpToolResult, Prompt, PromptResult, Resource, ResourceContents, ResourceTemplate,
    ServerInfo,
};

/// How long connecting (spawning, or the HTTP handshake, and `initialize`) may take by
/// default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one request may take by default (PydanticAI's `read_timeout`).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// What a tool result with `isError` becomes in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ToolErrorBehavior {
    /// A retry prompt with the error's text, so the model can try again (PydanticAI's
    /// default, `tool_error_behavior='retry'`).
    #[default]
    Retry,
    /// The run ends with [`McpError::ToolFailed`].
    Fail,
}

/// A request for information from the user, sent by a server (`elicitation/create`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ElicitationRequest {
    /// What to ask.
    pub message: String,
    /// The JSON schema of the answer (form mode).
    pub requested_schema: Option<Value>,
    /// The URL to open (URL mode).
    pub url: Option<String>,
    /// The request's parameters, as sent.
    pub raw: Value,
}

/// The user's answer to an [`ElicitationRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum ElicitationResponse {
    /// Accepted, with the content asked for (form mode).
    Accept(Option<Value>),
    /// Declined.
    Decline,
    /// Dismissed without a choice.
    Cancel,
}

type ElicitFn = dyn Fn(ElicitationRequest) -> BoxFuture<'static, ElicitationResponse> + Send + Sync;

#[derive(Clone)]
enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: Option<PathBuf>,
        stderr: bool,
    },
    Http {
        url: String,
        headers: BTreeMap<String, String>,
    },
    Sse {
        url: String,
        headers: BTreeMap<String, String>,
    },
}

/// Configures an [`McpServer`]: made by [`McpServer::stdio`] or [`McpServer::http`].
pub struct McpServerBuilder {
    transport: Transport,
    id: Option<String>,
    prefix: Option<String>,
    connect_timeout: Duration,
    call_timeout: Duration,
    max_retries: Option<u32>,
    tool_error: ToolErrorBehavior,
    cache_tools: bool,
    elicitation: Option<Arc<ElicitFn>>,
    sampling: Option<ModelRef>,
}

impl std::fmt::Debug for McpServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServerBuilder")
            .field("id", &self.id)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl McpServerBuilder {
    fn new(transport: Transport) -> Self {
        McpServerBuilder {
            transport,
            id: None,
            prefix: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_retries: None,
            tool_error: ToolErrorBehavior::Retry,
            cache_tools: true,
            elicitation: None,
            sampling: None,
        }
    }

    /// An id for messages and labels (default: the command or the URL).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Offer the server's tools as `{prefix}_{name}`; calls strip the prefix.
    pub fn tool_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// An environment variable for the server's process (stdio), on top of this
    /// process's environment.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if let Transport::Stdio { env, .. } = &mut self.transport {
            env.insert(key.into(), value.into());
        }
        self
    }

    /// Environment variables for the server's process (stdio).
    pub fn envs<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// The working directory of the server's process (stdio).
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        if let Transport::Stdio { cwd, .. } = &mut self.transport {
            *cwd = Some(dir.into());
        }
        self
    }

    /// Whether the server's stderr goes to this process's stderr (stdio; default: yes).
    /// Otherwise it is discarded.
    pub fn inherit_stderr(mut self, inherit: bool) -> Self {
        if let Transport::Stdio { stderr, .. } = &mut self.transport {
            *stderr = inherit;
        }
        self
    }

    /// An HTTP header sent with every request (streamable HTTP, SSE), e.g.
    /// `Authorization`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Transport::Http { headers, .. } | Transport::Sse { headers, .. } =
            &mut self.transport
        {
            headers.insert(name.into(), value.into());
        }
        self
    }

    /// HTTP headers sent with every request (streamable HTTP, SSE).
    pub fn headers<K: Into<String>, V: Into<String>>(
        mut self,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        for (k, v) in headers {
            self = self.header(k, v);
        }
        self
    }

    /// How long connecting may take ([`DEFAULT_CONNECT_TIMEOUT`] by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one request (a tool call, a list) may take ([`DEFAULT_CALL_TIMEOUT`] by
    /// default). A tool call that times out is cancelled on the server and the model is
    /// told `Timed out after N seconds.` (a retry, like Verity's other tool timeouts).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How many retries each of the server's tools is allowed (default: the agent's).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// What a tool result with `isError` becomes (default: a retry prompt).
    pub fn tool_error_behavior(mut self, behavior: ToolErrorBehavior) -> Self {
        self.tool_error = behavior;
        self
    }

    /// Whether the tool list is cached until the server says it changed
    /// (`notifications/tools/list_changed`) or the connection is made again (default:
    /// yes).
    pub fn cache_tools(mut self, cache: bool) -> Self {
        self.cache_tools = cache;
        self
    }

    /// Answer the server's requests for user input (elicitation) with this function;
    /// without one the client does not offer elicitation.
    pub fn elicitation<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(ElicitationRequest) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ElicitationResponse> + Send + 'static,
    {
        self.elicitation = Some(Arc::new(move |r| Box::pin(f(r))));
        self
    }

    /// Answer the server's sampling requests (`sampling/createMessage`) with this model;
    /// without one the client does not offer sampling.
    pub fn sampling_model(mut self, model: impl verity::IntoModel) -> Self {
        self.sampling = Some(model.into_model());
        self
    }

    /// The server (not connected yet: the first use connects).
    pub fn build(self) -> McpServer {
        let id = self.id.unwrap_or_else(|| match &self.transport {
            Transport::Stdio { command, .. } => command.clone(),
            Transport::Http { url, .. } | Transport::Sse { url, .. } => url.clone(),
        });
        McpServer {
            inner: Arc::new(Inner {
                id,
                transport: self.transport,
                prefix: self.prefix,
                connect_timeout: self.connect_timeout,
                call_timeout: self.call_timeout,
                max_retries: self.max_retries,
                tool_error: self.tool_error,
                cache_tools: self.cache_tools,
                shared: Arc::new(Shared {
                    generation: AtomicU64::new(0),
                    tools: Mutex::new(None),
                    elicitation: self.elicitation,
                    sampling: self.sampling,
                }),
                conn: tokio::sync::Mutex::new(None),
            }),
        }
    }
}

/// What the connection's handler shares with the server object.
struct Shared {
    /// Bumped whenever the tool list may have changed: a list fetched under an older
    /// generation is not cached.
    generation: AtomicU64,
    tools: Mutex<Option<Arc<Vec<McpTool>>>>,
    elicitation: Option<Arc<ElicitFn>>,
    sampling: Option<ModelRef>,
}

impl Shared {
    fn invalidate_tools(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut tools) = self.tools.lock() {
            *tools = None;
        }
    }
}

struct Connection {
    service: RunningService<RoleClient, Handler>,
    info: ServerInfo,
}

impl Connection {
    fn is_closed(&self) -> bool {
        self.service.is_closed() || self.service.peer().is_transport_closed()
    }
}

struct Inner {
    id: String,
    transport: Transport,
    prefix: Option<String>,
    connect_timeout: Duration,
    call_timeout: Duration,
    max_retries: Option<u32>,
    tool_error: ToolErrorBehavior,
    cache_tools: bool,
    shared: Arc<Shared>,
    conn: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

/// An MCP server whose tools a Verity agent can call: a [`Toolset`]. Cheap to clone;
/// clones share the connection.
///
/// ```no_run
/// use verity::prelude::*;
/// use verity_mcp::McpServer;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let server = McpServer::stdio("npx", ["-y", "@modelcontextprotocol/server-everything"])
///     .tool_prefix("everything")
///     .build();
/// let agent = Agent::builder(TestModel::new()).toolset(server.clone()).build();
/// let result = agent.run("Add 2 and 3").await?;
/// println!("{}", result.output);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("id", &self.inner.id)
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl McpServer {
    /// A server run as a child process speaking MCP on its stdin and stdout.
    pub fn stdio<I, S>(command: impl Into<String>, args: I) -> McpServerBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        McpServerBuilder::new(Transport::Stdio {
            command: command.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            cwd: None,
            stderr: true,
        })
    }

    /// A server reached over streamable HTTP at this URL (e.g. `http://localhost:8000/mcp`).
    pub fn http(url: impl Into<String>) -> McpServerBuilder {
        McpServerBuilder::new(Transport::Http {
            url: url.into(),
            headers: BTreeMap::new(),
        })
    }

    /// A server reached over the legacy HTTP+SSE transport (protocol 2024-11-05) at this
    /// URL (e.g. `http://localhost:3001/sse`): an event stream for the server's messages,
    /// `POST`s to the endpoint it names for the client's. Servers that speak streamable
    /// HTTP should be reached with [`http`](Self::http).
    pub fn sse(url: impl Into<String>) -> McpServerBuilder {
        McpServerBuilder::new(Transport::Sse {
            url: url.into(),
            headers: BTreeMap::new(),
        })
    }

    /// The server's id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Connect now (otherwise the first use connects), and say what the server is.
    pub async fn connect(&self) -> Result<ServerInfo> {
        Ok(self.connection().await?.info.clone())
    }

    /// What the server said about itself (connecting if needed).
    pub async fn server_info(&self) -> Result<ServerInfo> {
        self.connect().await
    }

    /// The server's instructions for the model, if it sent any (connecting if needed).
    /// Give them to an agent with
    /// [`instructions_fn`](verity::AgentBuilder::instructions_fn) and
    /// [`instructions_for`](Self::instructions_for).
    pub async fn instructions(&self) -> Result<Option<String>> {
        Ok(self.connect().await?.instructions)
    }

    /// A function for [`AgentBuilder::instructions_fn`](verity::AgentBuilder::instructions_fn)
    /// that gives the server's instructions (nothing when it has none or cannot be
    /// reached: the tool calls will report that).
    pub fn instructions_for<D>(
        &self,
    ) -> impl Fn(RunContext<D>) -> BoxFuture<'static, String> + Send + Sync + 'static {
        let server = self.clone();
        move |_ctx| {
            let server = server.clone();
            Box::pin(async move {
                server
                    .instructions()
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            })
        }
    }

    /// Close the connection (a stdio server's process is stopped). The next use
    /// connects again.
    pub async fn close(&self) {
        let conn = self.inner.conn.lock().await.take();
        if let Some(conn) = conn {
            match Arc::try_unwrap(conn) {
                Ok(mut conn) => {
                    let _ = conn
                        .service
                        .close_with_timeout(Duration::from_secs(5))
                        .await;
                }
                // calls still in flight hold it: cancel them, the process goes with it
                Err(conn) => {
                    conn.service.cancellation_token().cancel();
                }
            }
        }
    }

    async fn connection(&self) -> Result<Arc<Connection>> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(conn) = slot.as_ref()
            && !conn.is_closed()
        {
            return Ok(Arc::clone(conn));
        }
        *slot = None;
        let timeout = self.inner.connect_timeout;
        let conn = tokio::time::timeout(timeout, self.open())
            .await
            .map_err(|_| McpError::ConnectTimeout {
                server: self.inner.id.clone(),
                timeout,
            })??;
        // a new connection may be to a server with other tools
        self.inner.shared.invalidate_tools();
        let conn = Arc::new(conn);
        *slot = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// Forget a connection found closed, so that the next request reconnects.
    async fn forget(&self, conn: &Arc<Connection>) {
        let mut slot = self.inner.conn.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *slot = None;
        }
    }

    async fn open(&self) -> Result<Connection> {
        let server = self.inner.id.clone();
        let handler = Handler {
            shared: Arc::clone(&self.inner.shared),
        };
        let connect_err = |e: rmcp::service::ClientInitializeError| McpError::Connect {
            server: server.clone(),
            message: e.to_string(),
        };
        let service = match &self.inner.transport {
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
                stderr,
            } => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(args).envs(env).kill_on_drop(true);
                if let Some(cwd) = cwd {
                    cmd.current_dir(cwd);
                }
                let stderr = if *stderr {
                    std::process::Stdio::inherit()
                } else {
                    std::process::Stdio::null()
                };
                let (child, _) = rmcp::transport::TokioChildProcess::builder(cmd)
                    .stderr(stderr)
                    .spawn()
                    .map_err(|source| McpError::Spawn {
                        server: server.clone(),
                        command: command.clone(),
                        source,
                    })?;
                handler.serve(child).await.map_err(connect_err)?
            }
            Transport::Http { url, headers } => {
                use axum::http::{HeaderName, HeaderValue};
                use rmcp::transport::StreamableHttpClientTransport;
                use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
                let mut map = HashMap::new();
                for (k, v) in headers {
                    let name = HeaderName::from_bytes(k.as_bytes())
                        .map_err(|e| McpError::Config(format!("header name `{k}`: {e}")))?;
                    let value = HeaderValue::from_str(v).map_err(|_| {
                        McpError::Config(format!("header `{k}`: the value is not valid"))
                    })?;
                    map.insert(name, value);
                }
                let config =
                    StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(map);
                let transport = StreamableHttpClientTransport::from_config(config);
                handler.serve(transport).await.map_err(connect_err)?
            }
            Transport::Sse { url, headers } => {
                let transport =
                    crate::sse::SseTransport::connect(url, headers, self.inner.connect_timeout)
                        .await
                        .map_err(|e| McpError::Connect {
                            server: server.clone(),
                            message: e.to_string(),
                        })?;
                handler.serve(transport).await.map_err(connect_err)?
            }
        };
        let info = service
            .peer()
            .peer_info()
            .and_then(|i| serde_json::to_value(&*i).ok())
            .map(|v| ServerInfo::from_wire(&v))
            .unwrap_or_else(|| ServerInfo::from_wire(&Value::Null));
        Ok(Connection { service, info })
    }

    /// Run one request on the connection, with the call timeout; a closed connection
    /// is forgotten so the next request reconnects.
    async fn request<T, F, Fut>(&self, method: &str, f: F) -> Result<T>
    where
        F: FnOnce(Arc<Connection>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, rmcp::ServiceError>>,
    {
        let conn = self.connection().await?;
        let timeout = self.inner.call_timeout;
        let outcome = tokio::time::timeout(timeout, f(Arc::clone(&conn))).await;
        let error = match outcome {
            Ok(Ok(v)) => return Ok(v),
            Err(_) => McpError::Timeout {
                server: self.inner.id.clone(),
                method: method.to_owned(),
                timeout,
            },
            Ok(Err(e)) => self.service_error(method, e, &conn),
        };
        if matches!(error, McpError::Closed { .. }) || conn.is_closed() {
            self.forget(&conn).await;
        }
        Err(error)
    }

    fn service_error(&self, method: &str, e: rmcp::ServiceError, conn: &Connection) -> McpError {
        let server = self.inner.id.clone();
        let method = method.to_owned();
        match e {
            rmcp::ServiceError::McpError(e) => McpError::Protocol {
                server,
                method,
                code: e.code.0,
                message: e.message.to_string(),
                data: e.data,
            },
            rmcp::ServiceError::TransportClosed | rmcp::ServiceError::Cancelled { .. } => {
                McpError::Closed { server, method }
            }
            rmcp::ServiceError::Timeout { timeout } => McpError::Timeout {
                server,
                method,
                timeout,
            },
            other if conn.is_closed() => {
                tracing::debug!(error = %other, "MCP connection closed");
                McpError::Closed { server, method }
            }
            other => McpError::Transport {
                server,
                method,
                message: other.to_string(),
            },
        }
    }

    /// The server's tools (cached until the server says they changed, unless
    /// [`cache_tools(false)`](McpServerBuilder::cache_tools)). Names are the server's,
    /// without the prefix.
    pub async fn list_tools(&self) -> Result<Arc<Vec<McpTool>>> {
        if self.inner.cache_tools
            && let Some(tools) = self.inner.shared.tools.lock().ok().and_then(|t| t.clone())
        {
            return Ok(tools);
        }
        // connect first: connecting resets the generation
        self.connection().await?;
        let generation = self.inner.shared.generation.load(Ordering::SeqCst);
        let tools = self
            .request("tools/list", |c| async move {
                c.service.peer().list_all_tools().await
            })
            .await?;
        let tools: Vec<McpTool> = tools
            .iter()
            .filter_map(|t| {
                let wire = serde_json::to_value(t).ok()?;
                serde_json::from_value(wire).ok()
            })
            .collect();
        let tools = Arc::new(tools);
        if self.inner.cache_tools
            && generation == self.inner.shared.generation.load(Ordering::SeqCst)
            && let Ok(mut slot) = self.inner.shared.tools.lock()
        {
            *slot = Some(Arc::clone(&tools));
        }
        Ok(tools)
    }

    /// Call a tool by its name on the server (without the prefix) with these
    /// arguments (a JSON object, or `null` for none). A result with `isError` is
    /// returned as it is ([`McpToolResult::is_error`]).
    pub async fn call_tool(&self, name: &str, args: Value) -> Result<McpToolResult> {
        let arguments = match args {
            Value::Object(map) => Some(map),
            Value::Null => None,
            other => {
                return Err(McpError::Config(format!(
                    "the arguments of `{name}` must be a JSON object, got {other}"
                )));
            }
        };
        let mut params = CallToolRequestParams::new(name.to_owned());
        if let Some(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        // the trace continues on the server (SEP-414: `traceparent` in `_meta`)
        let trace = verity::telemetry::trace_context();
        if !trace.is_empty() {
            let mut meta = rmcp::model::MetaObject::new();
            for (key, value) in trace {
                meta.0.insert(key, Value::String(value));
            }
            params.meta = Some(meta.into());
        }
        let method = format!("tools/call {name}");
        let result = self
            .request(
                &method,
                |c| async move { c.service.call_tool(params).await },
            )
            .await?;
        let wire = serde_json::to_value(&result).map_err(|e| McpError::UnexpectedResponse {
            server: self.inner.id.clone(),
            method,
            message: e.to_string(),
        })?;
        Ok(McpToolResult::from_wire(&wire))
    }

    /// The server's resources.
    pub async fn list_resources(&self) -> Result<Vec<Resource>> {
        let list = self
            .request("resources/list", |c| async move {
                c.service.peer().list_all_resources().await
            })
            .await?;
        Ok(rewire(&list))
    }

    /// The server's resource templates.
    pub async fn list_resource_templates(&self) -> Result<Vec<ResourceTemplate>> {
        let list = self
            .request("resources/templates/list", |c| async move {
                c.service.peer().list_all_resource_templates().await
            })
            .await?;
        Ok(rewire(&list))
    }

    /// Read a resource.
    pub async fn read_resource(&self, uri: &str) -> Result<Vec<ResourceContents>> {
        let params = ReadResourceRequestParams::new(uri.to_owned());
        let result = self
            .request("resources/read", |c| async move {
                c.service.read_resource(params).await
            })
            .await?;
        let wire = serde_json::to_value(&result).unwrap_or(Value::Null);
        Ok(wire
            .get("contents")
            .and_then(Value::as_array)
            .map(|cs| cs.iter().filter_map(ResourceContents::from_wire).collect())
            .unwrap_or_default())
    }

    /// The server's prompts.
    pub async fn list_prompts(&self) -> Result<Vec<Prompt>> {
        let list = self
            .request("prompts/list", |c| async move {
                c.service.peer().list_all_prompts().await
            })
            .await?;
        Ok(rewire(&list))
    }

    /// Get a prompt filled in with these arguments.
    pub async fn get_prompt<K: Into<String>, V: Into<String>>(
        &self,
        name: &str,
        arguments: impl IntoIterator<Item = (K, V)>,
    ) -> Result<PromptResult> {
        let arguments: Map<String, Value> = arguments
            .into_iter()
            .map(|(k, v)| (k.into(), Value::String(v.into())))
            .collect();
        let mut params = GetPromptRequestParams::new(name.to_owned());
        if !arguments.is_empty() {
            params = params.with_arguments(arguments);
        }
        let result = self
            .request("prompts/get", |c| async move {
                c.service.get_prompt(params).await
            })
            .await?;
        let wire = serde_json::to_value(&result).unwrap_or(Value::Null);
        Ok(PromptResult::from_wire(&wire))
    }

    fn public_name(&self, name: &str) -> String {
        match &self.inner.prefix {
            Some(prefix) => format!("{prefix}_{name}"),
            None => name.to_owned(),
        }
    }

    fn server_name<'a>(&self, name: &'a str) -> Option<&'a str> {
        match &self.inner.prefix {
            Some(prefix) => name.strip_prefix(prefix.as_str())?.strip_prefix('_'),
            None => Some(name),
        }
    }
}

/// Items of an rmcp list, read again as Verity's types through their JSON.
fn rewire<T: serde::Serialize, U: serde::de::DeserializeOwned>(items: &[T]) -> Vec<U> {
    items
        .iter()
        .filter_map(|i| serde_json::from_value(serde_json::to_value(i).ok()?).ok())
        .collect()
}

impl<D: Send + Sync + 'static> Toolset<D> for McpServer {
    fn label(&self) -> String {
        format!("MCP server '{}'", self.inner.id)
    }

    fn tools<'a>(
        &'a self,
        _ctx: &'a RunContext<D>,
    ) -> BoxFuture<'a, verity::Result<Vec<ToolsetTool>>> {
        Box::pin(async move {
            let tools = self
                .list_tools()
                .await
                .map_err(|e| verity::Error::ToolExecution {
                    tool_name: format!("{} (tools/list)", Toolset::<D>::label(self)),
                    source: Box::new(e),
                })?;
            Ok(tools
                .iter()
                .filter(|t| t.visible_to_model())
                .map(|t| {
                    let mut definition =
                        ToolDefinition::new(self.public_name(&t.name), t.input_schema.clone());
                    definition.description = t.description.clone();
                    let mut tool = ToolsetTool::new(definition);
                    tool.max_retries = self.inner.max_retries;
                    tool
                })
                .collect())
        })
    }

    fn call(&self, _ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture {
        let server = self.clone();
        let name = name.to_owned();
        Box::pin(async move {
            let Some(tool) = server.server_name(&name).map(str::to_owned) else {
                return Err(ToolCallError::Rejected(Rejection::Retry(format!(
                    "Unknown tool name: '{name}'."
                ))));
            };
            let args = match args {
                Value::Object(_) | Value::Null => args,
                other => {
                    return Err(ToolCallError::Rejected(Rejection::Retry(format!(
                        "The arguments must be a JSON object, got {other}."
                    ))));
                }
            };
            match server.call_tool(&tool, args).await {
                Ok(result) if result.is_error => {
                    let message = result.error_message(&tool);
                    match server.inner.tool_error {
                        ToolErrorBehavior::Retry => {
                            Err(ToolCallError::Rejected(Rejection::Retry(message)))
                        }
                        ToolErrorBehavior::Fail => {
                            Err(ToolCallError::Failed(Box::new(McpError::ToolFailed {
                                server: server.inner.id.clone(),
                                tool,
                                message,
                            })))
                        }
                    }
                }
                Ok(result) => Ok(result.to_model_value(false)),
                Err(McpError::Timeout { timeout, .. }) => {
                    Err(ToolCallError::Rejected(Rejection::Retry(format!(
                        "Timed out after {} seconds.",
                        timeout.as_secs_f64()
                    ))))
                }
                // the server refused the request (unknown tool, invalid arguments): the
                // model may do better, as PydanticAI treats an McpError
                Err(McpError::Protocol { message, .. }) => {
                    Err(ToolCallError::Rejected(Rejection::Retry(message)))
                }
                Err(e) => Err(ToolCallError::Failed(Box::new(e))),
            }
        })
    }
}

/// The rmcp client handler: list-changed notifications, elicitation and sampling.
struct Handler {
    shared: Arc<Shared>,
}

impl rmcp::ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        let mut caps = Map::new();
        if self.shared.elicitation.is_some() {
            caps.insert("elicitation".into(), json!({"form": {}, "url": {}}));
        }
        if self.shared.sampling.is_some() {
            caps.insert("sampling".into(), json!({}));
        }
        let capabilities: ClientCapabilities =
            serde_json::from_value(Value::Object(caps)).unwrap_or_default();
        ClientConfig::new(
            capabilities,
            Implementation::new("verity-mcp", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.shared.invalidate_tools();
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> std::result::Result<ElicitResult, rmcp::ErrorData> {
        let Some(f) = self.shared.elicitation.clone() else {
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        };
        let raw = serde_json::to_value(&request).unwrap_or(Value::Null);
        let s = |k: &str| raw.get(k).and_then(Value::as_str).map(str::to_owned);
        let req = ElicitationRequest {
            message: s("message").unwrap_or_default(),
            requested_schema: raw.get("requestedSchema").cloned(),
            url: s("url"),
            raw: raw.clone(),
        };
        let schema = req.requested_schema.clone();
        Ok(match f(req).await {
            ElicitationResponse::Accept(content) => {
                let content = with_schema_defaults(content, schema.as_ref());
                match content {
                    Some(content) => {
                        ElicitResult::new(ElicitationAction::Accept).with_content(content)
                    }
                    None => ElicitResult::new(ElicitationAction::Accept),
                }
            }
            ElicitationResponse::Decline => ElicitResult::new(ElicitationAction::Decline),
            ElicitationResponse::Cancel => ElicitResult::new(ElicitationAction::Cancel),
        })
    }

    #[allow(deprecated)] // sampling is deprecated by the 2026 revision, still used by 2025 servers
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> std::result::Result<CreateMessageResult, rmcp::ErrorData> {
        let Some(model) = self.shared.sampling.clone() else {
            return Err(rmcp::ErrorData::new(
                rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                "sampling is not offered",
                None,
            ));
        };
        let wire = serde_json::to_value(&params).unwrap_or(Value::Null);
        let result = crate::sampling::sample(&model, &wire)
            .await
            .map_err(|e| rmcp::ErrorData::internal_error(e.to_string(), None))?;
        serde_json::from_value(result)
            .map_err(|e| rmcp::ErrorData::internal_error(e.to_string(), None))
    }
}

/// Messages and settings of a sampling request, for a Verity model.
pub(crate) fn sampling_messages(params: &Value) -> (Vec<ModelMessage>, ModelSettings) {
    let mut messages = Vec::new();
    let system = params
        .get("systemPrompt")
        .and_then(Value::as_str)
        .map(str::to_owned);
    for m in params
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let blocks: Vec<Value> = match m.get("content") {
            Some(Value::Array(items)) => items.clone(),
            Some(item) => vec![item.clone()],
            None => Vec::new(),
        };
        let contents: Vec<crate::types::McpContent> = blocks
            .iter()
            .map(crate::types::McpContent::from_wire)
            .collect();
        if m.get("role").and_then(Value::as_str) == Some("assistant") {
            let text: String = contents
                .iter()
                .filter_map(|c| match c {
                    crate::types::McpContent::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n");
            messages.push(ModelMessage::Response(ModelResponse::text(text)));
        } else {
            let parts: Vec<verity::UserContent> = contents
                .iter()
                .filter_map(|c| c.to_user_content())
                .collect();
            messages.push(ModelMessage::Request(ModelRequest::user_prompt(
                verity::UserPrompt::Parts(parts),
            )));
        }
    }
    if let (Some(system), Some(ModelMessage::Request(first))) = (system, messages.first_mut()) {
        first.instructions = Some(system);
    }
    let mut settings = ModelSettings::default();
    settings.max_tokens = params
        .get("maxTokens")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok());
    settings.temperature = params.get("temperature").and_then(Value::as_f64);
    settings.stop_sequences = params
        .get("stopSequences")
        .and_then(|s| serde_json::from_value(s.clone()).ok());
    (messages, settings)
}

/// An accepted elicitation's content with the requested schema's `default`s filled in
/// for the properties the application left out (SEP-1034: servers may rely on them).
fn with_schema_defaults(content: Option<Value>, schema: Option<&Value>) -> Option<Value> {
    let Some(properties) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return content;
    };
    let defaults: Vec<(&String, &Value)> = properties
        .iter()
        .filter_map(|(name, prop)| prop.get("default").map(|d| (name, d)))
        .collect();
    if defaults.is_empty() {
        return content;
    }
    let mut content = match content {
        Some(Value::Object(map)) => map,
        None => serde_json::Map::new(),
        Some(other) => return Some(other),
    };
    for (name, default) in defaults {
        content
            .entry(name.clone())
            .or_insert_with(|| default.clone());
    }
    Some(Value::Object(content))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepted_elicitation_content_gets_the_schemas_defaults() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string", "default": "Ada"},
            "age": {"type": "integer", "default": 36},
            "city": {"type": "string"}
        }});
        let given = Some(json!({"name": "Grace"}));
        assert_eq!(
            with_schema_defaults(given, Some(&schema)),
            Some(json!({"name": "Grace", "age": 36}))
        );
        assert_eq!(
            with_schema_defaults(None, Some(&schema)),
            Some(json!({"name": "Ada", "age": 36}))
        );
        // no schema, or a schema without defaults: as the application answered
        assert_eq!(with_schema_defaults(None, None), None);
        let plain = json!({"properties": {"x": {"type": "string"}}});
        assert_eq!(with_schema_defaults(None, Some(&plain)), None);
    }
}
