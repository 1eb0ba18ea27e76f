//! The MCP server: Verity tools, toolsets and agents served over MCP.
//!
//! Tool schemas are the ones Verity sends to models, made from the same Rust types
//! (`#[tool]`, [`Tool::new`](verity::Tool::new)). A tool's return value becomes text
//! content (a string as it is, other values as JSON, with the value also as
//! `structuredContent`); Verity binary content becomes image, audio or resource
//! content. A tool that asks for a retry, fails or gets invalid arguments answers with
//! `isError: true` and the message, which the calling model can act on. A call the
//! client cancels stops the tool.

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use verity::messages::UserContent;
use verity::tools::{IntoTool, Rejection, RunContext, Tool, ToolCallError, ToolError};
use verity::toolsets::{FunctionToolset, Toolset, ToolsetTool};
use verity::{Agent, ToolDefinition};

use crate::error::{McpError, Result};

type DepsFn<D> = dyn Fn() -> Arc<D> + Send + Sync;

tokio::task_local! {
    /// The MCP client whose `tools/call` is running (its peer, for sampling).
    static CLIENT: rmcp::Peer<rmcp::RoleServer>;
}

/// Verity tools served over MCP.
///
/// ```no_run
/// use verity::prelude::*;
/// use verity_mcp::McpToolServer;
///
/// /// Add two numbers.
/// ///
/// /// # Arguments
/// /// * `a` - The first number.
/// /// * `b` - The second number.
/// #[tool]
/// async fn add(a: i64, b: i64) -> i64 {
///     a + b
/// }
///
/// # async fn run() -> Result<(), verity_mcp::McpError> {
/// McpToolServer::new("calculator").tool(Add).serve_stdio().await
/// # }
/// ```
pub struct McpToolServer<D> {
    name: String,
    version: String,
    instructions: Option<String>,
    tools: FunctionToolset<D>,
    toolsets: Vec<Arc<dyn Toolset<D>>>,
    deps: Arc<DepsFn<D>>,
}

impl<D> Clone for McpToolServer<D> {
    fn clone(&self) -> Self {
        McpToolServer {
            name: self.name.clone(),
            version: self.version.clone(),
            instructions: self.instructions.clone(),
            tools: self.tools.clone(),
            toolsets: self.toolsets.clone(),
            deps: Arc::clone(&self.deps),
        }
    }
}

impl<D> std::fmt::Debug for McpToolServer<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpToolServer")
            .field("name", &self.name)
            .field("tools", &self.tools)
            .field("toolsets", &self.toolsets.len())
            .finish_non_exhaustive()
    }
}

impl McpToolServer<()> {
    /// A server with no tools yet, named `name`, whose tools get `()` as dependencies.
    pub fn new(name: impl Into<String>) -> Self {
        Self::with_deps(name, ())
    }
}

/// The arguments of an agent served as a tool.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct AgentPrompt {
    /// The request for the agent, in plain language.
    prompt: String,
}

impl<D: Send + Sync + 'static> McpToolServer<D> {
    /// A server whose tools get these dependencies (shared by every call).
    pub fn with_deps(name: impl Into<String>, deps: D) -> Self {
        let deps = Arc::new(deps);
        McpToolServer {
            name: name.into(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            instructions: None,
            tools: FunctionToolset::new("mcp"),
            toolsets: Vec::new(),
            deps: Arc::new(move || Arc::clone(&deps)),
        }
    }

    /// The version the server reports (default: this crate's).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Instructions for the clients' models.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.instructions = Some(text.into());
        self
    }

    /// Serve this tool.
    pub fn tool(mut self, tool: impl IntoTool<D>) -> Self {
        self.tools.add(tool.into_tool());
        self
    }

    /// Serve the tools of this toolset (computed at every `tools/list` and call, from a
    /// run context holding the dependencies).
    pub fn toolset(mut self, toolset: impl Toolset<D> + 'static) -> Self {
        self.toolsets.push(Arc::new(toolset));
        self
    }

    /// Serve an agent as a tool: it takes a `prompt` and answers with the run's
    /// output (a string as text, other outputs as JSON). The agent's run gets a clone
    /// of the dependencies.
    pub fn agent<O>(
        self,
        name: impl Into<String>,
        description: impl Into<String>,
        agent: Agent<D, O>,
    ) -> Self
    where
        D: Clone,
        O: serde::Serialize + Send + Sync + 'static,
    {
        self.agent_tool(name.into(), description.into(), agent, false)
    }

    /// Serve an agent as a tool, as [`agent`](Self::agent) does, that runs on the
    /// calling client's model through MCP sampling (`sampling/createMessage`) when the
    /// client offers sampling, and on its own model otherwise. Through sampling the
    /// model sees the history and instructions but no tool definitions (as PydanticAI's
    /// `MCPSamplingModel`), nothing is streamed, and `max_tokens` defaults to 16,384.
    pub fn sampling_agent<O>(
        self,
        name: impl Into<String>,
        description: impl Into<String>,
        agent: Agent<D, O>,
    ) -> Self
    where
        D: Clone,
        O: serde::Serialize + Send + Sync + 'static,
    {
        self.agent_tool(name.into(), description.into(), agent, true)
    }

    fn agent_tool<O>(
        self,
        name: String,
        description: String,
        agent: Agent<D, O>,
        use_sampling: bool,
    ) -> Self
    where
        D: Clone,
        O: serde::Serialize + Send + Sync + 'static,
    {
        let tool = Tool::new(
            name,
            description,
            move |ctx: RunContext<D>, args: AgentPrompt| {
                let agent = agent.clone();
                async move {
                    // read while the call runs (inside `call_tool`'s scope)
                    let sampling = use_sampling
                        .then(|| CLIENT.try_with(Clone::clone).ok())
                        .flatten()
                        .filter(crate::sampling::client_offers_sampling);
                    let mut run = agent.run(args.prompt).deps(ctx.deps().clone());
                    if let Some(peer) = sampling {
                        run = run.model(crate::sampling::ClientSamplingModel::new(peer));
                    }
                    let result = run.await.map_err(|e| ToolError::Failed(Box::new(e)))?;
                    Ok::<_, ToolError>(result.output)
                }
            },
        );
        self.tool(tool)
    }

    fn context(&self) -> RunContext<D> {
        RunContext::from_shared((self.deps)())
    }

    async fn definitions(&self, ctx: &RunContext<D>) -> verity::Result<Vec<(usize, ToolsetTool)>> {
        let mut out: Vec<(usize, ToolsetTool)> = Toolset::tools(&self.tools, ctx)
            .await?
            .into_iter()
            .map(|t| (0, t))
            .collect();
        for (i, ts) in self.toolsets.iter().enumerate() {
            out.extend(ts.tools(ctx).await?.into_iter().map(|t| (i + 1, t)));
        }
        Ok(out)
    }

    fn handler(&self) -> Handler<D> {
        Handler {
            server: Arc::new(self.clone()),
        }
    }

    /// Serve on this process's stdin and stdout until the client closes them.
    pub async fn serve_stdio(self) -> Result<()> {
        use rmcp::ServiceExt as _;
        let running = self
            .handler()
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| McpError::Serve(e.to_string()))?;
        running
            .waiting()
            .await
            .map_err(|e| McpError::Serve(e.to_string()))?;
        Ok(())
    }

    /// Serve on an async byte stream pair (tests, pipes, sockets) until it closes.
    pub async fn serve_io<R, W>(self, read: R, write: W) -> Result<()>
    where
        R: tokio::io::AsyncRead + Send + Unpin + 'static,
        W: tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        use rmcp::ServiceExt as _;
        let running = self
            .handler()
            .serve((read, write))
            .await
            .map_err(|e| McpError::Serve(e.to_string()))?;
        running
            .waiting()
            .await
            .map_err(|e| McpError::Serve(e.to_string()))?;
        Ok(())
    }

    /// An axum service speaking streamable HTTP, to mount in an application's router
    /// (`Router::new().nest_service("/mcp", server.http_service())`). Requests whose
    /// `Host` is not `localhost`, `127.0.0.1` or `::1` are refused (DNS rebinding
    /// protection); use [`http_service_for_hosts`](Self::http_service_for_hosts) to
    /// serve other host names.
    pub fn http_service(
        self,
    ) -> rmcp::transport::streamable_http_server::StreamableHttpService<
        Handler<D>,
        rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
    > {
        self.http_service_inner(None, CancellationToken::new())
    }

    /// [`http_service`](Self::http_service), accepting requests for these host names.
    pub fn http_service_for_hosts(
        self,
        hosts: impl IntoIterator<Item = impl Into<String>>,
    ) -> rmcp::transport::streamable_http_server::StreamableHttpService<
        Handler<D>,
        rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
    > {
        let hosts = hosts.into_iter().map(Into::into).collect();
        self.http_service_inner(Some(hosts), CancellationToken::new())
    }

    fn http_service_inner(
        self,
        hosts: Option<Vec<String>>,
        ct: CancellationToken,
    ) -> rmcp::transport::streamable_http_server::StreamableHttpService<
        Handler<D>,
        rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
    > {
        use rmcp::transport::streamable_http_server::{
            StreamableHttpServerConfig, StreamableHttpService,
        };
        let mut config = StreamableHttpServerConfig::default().with_cancellation_token(ct);
        if let Some(hosts) = hosts {
            config = config.with_allowed_hosts(hosts);
        }
        let handler = self.handler();
        StreamableHttpService::new(move || Ok(handler.clone()), Default::default(), config)
    }

    /// Serve over streamable HTTP at `http://{addr}/mcp` (port 0 picks a free one), in
    /// a background task, until the returned handle is shut down or dropped.
    pub async fn serve_http(self, addr: impl tokio::net::ToSocketAddrs) -> Result<McpHttpServer> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| McpError::Serve(format!("cannot bind: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| McpError::Serve(e.to_string()))?;
        let ct = CancellationToken::new();
        let service = self.http_service_inner(None, ct.child_token());
        let router = axum::Router::new().nest_service("/mcp", service);
        let shutdown = ct.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.cancelled_owned().await })
                .await;
        });
        Ok(McpHttpServer {
            addr: local,
            ct,
            task: Some(task),
        })
    }
}

/// A running streamable HTTP server ([`McpToolServer::serve_http`]); dropping it stops
/// the server.
#[derive(Debug)]
pub struct McpHttpServer {
    addr: SocketAddr,
    ct: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl McpHttpServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The MCP endpoint's URL (`http://127.0.0.1:PORT/mcp`).
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Stop serving and wait for the server to end.
    pub async fn shutdown(mut self) {
        self.ct.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for McpHttpServer {
    fn drop(&mut self) {
        self.ct.cancel();
    }
}

/// The rmcp server handler of an [`McpToolServer`] (what
/// [`http_service`](McpToolServer::http_service) serves).
pub struct Handler<D> {
    server: Arc<McpToolServer<D>>,
}

impl<D> Clone for Handler<D> {
    fn clone(&self) -> Self {
        Handler {
            server: Arc::clone(&self.server),
        }
    }
}

impl<D> std::fmt::Debug for Handler<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("name", &self.server.name)
            .finish()
    }
}

fn internal(message: impl Into<String>) -> rmcp::ErrorData {
    rmcp::ErrorData::internal_error(message.into(), None)
}

fn mcp_tool(def: &ToolDefinition) -> Value {
    let mut tool = Map::new();
    tool.insert("name".into(), Value::String(def.name.clone()));
    if let Some(d) = &def.description {
        tool.insert("description".into(), Value::String(d.clone()));
    }
    let mut schema = def.parameters_json_schema.clone();
    if let Value::Object(map) = &mut schema {
        map.entry("type").or_insert_with(|| json!("object"));
    }
    tool.insert("inputSchema".into(), schema);
    Value::Object(tool)
}

/// A tool's return value as MCP content (and structured content).
pub(crate) fn result_from_value(value: Value) -> Value {
    let items: Vec<Value> = match &value {
        Value::Array(items) if items.iter().any(is_media) => items.clone(),
        v if is_media(v) => vec![v.clone()],
        Value::String(s) => return json!({"content": [{"type": "text", "text": s}]}),
        other => {
            let structured = match other {
                Value::Object(_) => other.clone(),
                _ => json!({"result": other}),
            };
            return json!({
                "content": [{"type": "text", "text": other.to_string()}],
                "structuredContent": structured,
            });
        }
    };
    let content: Vec<Value> = items
        .into_iter()
        .map(|item| match serde_json::from_value::<UserContent>(item.clone()) {
            Ok(UserContent::Binary(b)) => {
                let data = base64::engine::general_purpose::STANDARD.encode(&b.data);
                if b.media_type.starts_with("image/") {
                    json!({"type": "image", "data": data, "mimeType": b.media_type})
                } else if b.media_type.starts_with("audio/") {
                    json!({"type": "audio", "data": data, "mimeType": b.media_type})
                } else {
                    let uri = format!("verity://binary/{}", b.filename.as_deref().unwrap_or("data"));
                    json!({"type": "resource", "resource": {"uri": uri, "mimeType": b.media_type, "blob": data}})
                }
            }
            Ok(UserContent::ImageUrl(u) | UserContent::AudioUrl(u) | UserContent::VideoUrl(u) | UserContent::DocumentUrl(u)) => {
                json!({"type": "resource_link", "uri": u.url, "name": u.url, "mimeType": u.media_type()})
            }
            Ok(UserContent::Text(t)) => json!({"type": "text", "text": t}),
            _ => match item {
                Value::String(s) => json!({"type": "text", "text": s}),
                other => json!({"type": "text", "text": other.to_string()}),
            },
        })
        .collect();
    json!({"content": content})
}

fn is_media(v: &Value) -> bool {
    matches!(
        v.get("kind").and_then(Value::as_str),
        Some("binary" | "image-url" | "audio-url" | "video-url" | "document-url")
    )
}

fn error_result(message: String) -> Value {
    json!({"content": [{"type": "text", "text": message}], "isError": true})
}

impl<D: Send + Sync + 'static> rmcp::ServerHandler for Handler<D> {
    fn get_info(&self) -> ServerConfig {
        let mut config = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                self.server.name.clone(),
                self.server.version.clone(),
            ));
        if let Some(i) = &self.server.instructions {
            config = config.with_instructions(i.clone());
        }
        config
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, rmcp::ErrorData> {
        let ctx = self.server.context();
        let defs = self
            .server
            .definitions(&ctx)
            .await
            .map_err(|e| internal(e.to_string()))?;
        let tools: Vec<Value> = defs.iter().map(|(_, t)| mcp_tool(&t.definition)).collect();
        serde_json::from_value(json!({ "tools": tools })).map_err(|e| internal(e.to_string()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, rmcp::ErrorData> {
        let name = request.name.to_string();
        let args = Value::Object(request.arguments.unwrap_or_default());
        let call_id = serde_json::to_value(&context.id)
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .unwrap_or_default();
        let ctx = self.server.context().with_tool_call(name.clone(), call_id);
        let defs = self
            .server
            .definitions(&ctx)
            .await
            .map_err(|e| internal(e.to_string()))?;
        let Some((owner, _)) = defs.iter().find(|(_, t)| t.name() == name) else {
            return Err(rmcp::ErrorData::invalid_params(
                format!("Unknown tool: '{name}'"),
                None,
            ));
        };
        let future = if *owner == 0 {
            Toolset::call(&self.server.tools, ctx, &name, args)
        } else {
            match self.server.toolsets.get(owner - 1) {
                Some(ts) => ts.call(ctx, &name, args),
                None => return Err(internal("toolset vanished")),
            }
        };
        // the calling client, for tools that ask it (sampling agents)
        let future = CLIENT.scope(context.peer.clone(), future);
        let outcome = tokio::select! {
            outcome = future => outcome,
            () = context.ct.cancelled() => {
                return Err(internal("the call was cancelled"));
            }
        };
        let result = match outcome {
            Ok(value) => result_from_value(value),
            Err(ToolCallError::Rejected(Rejection::Retry(m))) => error_result(m),
            Err(ToolCallError::Rejected(Rejection::Invalid(errors))) => {
                error_result(format!("Invalid arguments for tool '{name}': {errors}"))
            }
            Err(ToolCallError::Failed(e)) => error_result(e.to_string()),
            Err(ToolCallError::Deferred(_)) => error_result(format!(
                "Tool '{name}' needs approval or an external result, which this server cannot get."
            )),
        };
        let result: CallToolResult =
            serde_json::from_value(result).map_err(|e| internal(e.to_string()))?;
        Ok(CallToolResponse::Complete(result))
    }
}
