//! Toolsets (PydanticAI's `toolsets`): named sets of tools whose definitions are computed
//! at every step of a run from the run context, and the combinators that shape them.
//!
//! An agent's own tools ([`AgentBuilder::tool`](crate::agent::AgentBuilder::tool)) are one
//! [`FunctionToolset`]; more toolsets are added with
//! [`AgentBuilder::toolset`](crate::agent::AgentBuilder::toolset) and per run with
//! [`RunRequest::toolset`](crate::agent::RunRequest::toolset). Names that two toolsets (or
//! a toolset and an output tool) both offer in one step are an [`Error::User`].
//!
//! ```
//! use verity::prelude::*;
//! use verity::toolsets::{FunctionToolset, ToolsetExt};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Q {
//!     q: String,
//! }
//! let search = FunctionToolset::<()>::new("search").tool(Tool::new(
//!     "find",
//!     "Find something.",
//!     |_ctx, a: Q| async move { Ok::<_, ToolError>(a.q) },
//! ));
//! let agent = Agent::builder(TestModel::new())
//!     .toolset(search.prefixed("web"))
//!     .build();
//! # let _ = agent;
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::request::ToolDefinition;
use crate::tools::{Rejection, RunContext, Tool, ToolCallError};

/// The future of one tool call.
pub type ToolFuture = BoxFuture<'static, std::result::Result<Value, ToolCallError>>;

/// One tool a toolset offers at a step: its definition, and its own retry budget.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolsetTool {
    /// The definition sent to the model.
    pub definition: ToolDefinition,
    /// How many retries the tool is allowed (`None`: the agent's default).
    pub max_retries: Option<u32>,
    /// A sequential tool never runs concurrently with other tools.
    pub sequential: bool,
}

impl ToolsetTool {
    /// A tool with this definition, the agent's retry budget, not sequential.
    pub fn new(definition: ToolDefinition) -> Self {
        ToolsetTool {
            definition,
            max_retries: None,
            sequential: false,
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.definition.name
    }
}

/// A named set of tools (PydanticAI's `AbstractToolset`). Object-safe: an agent holds
/// `Arc<dyn Toolset<D>>`.
pub trait Toolset<D>: Send + Sync {
    /// A label for messages (name conflicts).
    fn label(&self) -> String;

    /// The tools offered at this step of the run.
    fn tools<'a>(&'a self, ctx: &'a RunContext<D>) -> BoxFuture<'a, Result<Vec<ToolsetTool>>>;

    /// Call the tool `name` (a name [`tools`](Self::tools) returned) with these arguments.
    fn call(&self, ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture;
}

impl<D, T: Toolset<D> + ?Sized> Toolset<D> for Arc<T> {
    fn label(&self) -> String {
        (**self).label()
    }
    fn tools<'a>(&'a self, ctx: &'a RunContext<D>) -> BoxFuture<'a, Result<Vec<ToolsetTool>>> {
        (**self).tools(ctx)
    }
    fn call(&self, ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture {
        (**self).call(ctx, name, args)
    }
}

fn unknown(name: &str) -> ToolFuture {
    let message = format!("Unknown tool name: '{name}'.");
    Box::pin(async move { Err(ToolCallError::Rejected(Rejection::Retry(message))) })
}

/// Tools made of Rust functions ([`Tool`]s): what backs an agent's own tools. Each tool's
/// `prepare` hook runs at every step.
pub struct FunctionToolset<D> {
    name: String,
    pub(crate) tools: Vec<Tool<D>>,
}

impl<D> Clone for FunctionToolset<D> {
    fn clone(&self) -> Self {
        FunctionToolset {
            name: self.name.clone(),
            tools: self.tools.clone(),
        }
    }
}

impl<D> std::fmt::Debug for FunctionToolset<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionToolset")
            .field("name", &self.name)
            .field(
                "tools",
                &self.tools.iter().map(Tool::name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<D> FunctionToolset<D> {
    /// An empty toolset named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        FunctionToolset {
            name: name.into(),
            tools: Vec::new(),
        }
    }

    /// With this tool added.
    pub fn tool(mut self, tool: impl crate::tools::IntoTool<D>) -> Self {
        self.tools.push(tool.into_tool());
        self
    }

    /// Add a tool.
    pub fn add(&mut self, tool: Tool<D>) {
        self.tools.push(tool);
    }

    /// The tools.
    pub fn tool_list(&self) -> &[Tool<D>] {
        &self.tools
    }

    pub(crate) fn find(&self, name: &str) -> Option<&Tool<D>> {
        self.tools.iter().find(|t| t.name() == name)
    }

    /// The definitions at a step (each tool's `prepare` hook applied).
    pub(crate) fn prepared_tools(&self, ctx: &RunContext<D>) -> Vec<ToolsetTool> {
        self.tools
            .iter()
            .filter_map(|t| {
                t.prepared_definition(ctx).map(|definition| ToolsetTool {
                    definition,
                    max_retries: t.max_retries(),
                    sequential: t.is_sequential(),
                })
            })
            .collect()
    }
}

impl<D: Send + Sync + 'static> Toolset<D> for FunctionToolset<D> {
    fn label(&self) -> String {
        format!("FunctionToolset '{}'", self.name)
    }
    fn tools<'a>(&'a self, ctx: &'a RunContext<D>) -> BoxFuture<'a, Result<Vec<ToolsetTool>>> {
        let tools = self.prepared_tools(ctx);
        Box::pin(async move { Ok(tools) })
    }
    fn call(&self, ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture {
        match self.find(name) {
            Some(tool) => tool.call(ctx, args),
            None => unknown(name),
        }
    }
}

/// The name conflicts among the tools of several toolsets (or with reserved names), as
/// an [`Error::User`] naming both sides.
pub(crate) fn check_conflicts<'a>(
    groups: impl IntoIterator<Item = (String, &'a [ToolsetTool])>,
) -> Result<()> {
    let mut seen: HashMap<&'a str, String> = HashMap::new();
    for (label, tools) in groups {
        for tool in tools {
            if let Some(other) = seen.get(tool.name()) {
                return Err(Error::User(format!(
                    "{label} defines a tool whose name conflicts with existing tool from {other}: \
                     '{}'. Rename one of them, for example with `prefixed` or `renamed`.",
                    tool.name()
                )));
            }
            seen.insert(tool.name(), label.clone());
        }
    }
    Ok(())
}

/// Several toolsets as one (PydanticAI's `CombinedToolset`); conflicting names are an
/// error.
pub struct CombinedToolset<D> {
    toolsets: Vec<Arc<dyn Toolset<D>>>,
}

impl<D> std::fmt::Debug for CombinedToolset<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CombinedToolset")
            .field("toolsets", &self.toolsets.len())
            .finish()
    }
}

impl<D> CombinedToolset<D> {
    /// These toolsets as one.
    pub fn new(toolsets: Vec<Arc<dyn Toolset<D>>>) -> Self {
        CombinedToolset { toolsets }
    }
}

impl<D: Send + Sync + 'static> Toolset<D> for CombinedToolset<D> {
    fn label(&self) -> String {
        let labels: Vec<String> = self.toolsets.iter().map(|t| t.label()).collect();
        format!("CombinedToolset({})", labels.join(", "))
    }
    fn tools<'a>(&'a self, ctx: &'a RunContext<D>) -> BoxFuture<'a, Result<Vec<ToolsetTool>>> {
        Box::pin(async move {
            let mut groups = Vec::with_capacity(self.toolsets.len());
            for t in &self.toolsets {
                groups.push((t.label(), t.tools(ctx).await?));
            }
            check_conflicts(groups.iter().map(|(l, t)| (l.clone(), t.as_slice())))?;
            Ok(groups.into_iter().flat_map(|(_, t)| t).collect())
        })
    }
    fn call(&self, ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture {
        // the member whose tools hold the name, found at call time from the same context
        let toolsets = self.toolsets.clone();
        let name = name.to_owned();
        Box::pin(async move {
            for t in &toolsets {
                let tools = t
                    .tools(&ctx)
                    .await
                    .map_err(|e| ToolCallError::Failed(Box::new(e)))?;
                if tools.iter().any(|d| d.name() == name) {
                    return t.call(ctx, &name, args).await;
                }
            }
            unknown(&name).await
        })
    }
}

type FilterFn<D> = dyn Fn(&RunContext<D>, &ToolDefinition) -> bool + Send + Sync;
type PrepareAllFn<D> = dyn for<'a> Fn(&'a RunContext<D>, Vec<ToolDefinition>) -> BoxFuture<'a, Vec<ToolDefinition>>
    + Send
    + Sync;
type WrapFn<D> = dyn Fn(RunContext<D>, String, Value, ToolFuture) -> ToolFuture + Send + Sync;

/// A toolset offering only the tools a predicate keeps (PydanticAI's `FilteredToolset`).
pub struct FilteredToolset<D> {
    inner: Arc<dyn Toolset<D>>,
    filter: Arc<FilterFn<D>>,
}

/// A toolset whose tool names carry a prefix (`prefix_name`); calls strip it
/// (PydanticAI's `PrefixedToolset`).
pub struct PrefixedToolset<D> {
    inner: Arc<dyn Toolset<D>>,
    prefix: String,
}

/// A toolset with some tools renamed (new name → old name); calls under a new name run
/// the old one (PydanticAI's `RenamedToolset`).
pub struct RenamedToolset<D> {
    inner: Arc<dyn Toolset<D>>,
    new_to_old: HashMap<String, String>,
}

/// A toolset whose definitions are rewritten at every step by a function that sees them
/// all (PydanticAI's `PreparedToolset`). It may change or drop definitions; a renamed
/// definition is not callable.
pub struct PreparedToolset<D> {
    inner: Arc<dyn Toolset<D>>,
    prepare: Arc<PrepareAllFn<D>>,
}

/// A toolset whose calls all go through a function that sees the name, the arguments
/// and the inner call's future (PydanticAI's `WrapperToolset`): for logging, timeouts,
/// policies.
pub struct WrappedToolset<D> {
    inner: Arc<dyn Toolset<D>>,
    wrap: Arc<WrapFn<D>>,
}

macro_rules! debug_toolset {
    ($($t:ident),*) => {$(
        impl<D> std::fmt::Debug for $t<D> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t)).field("inner", &self.inner.label()).finish_non_exhaustive()
            }
        }
    )*};
}
debug_toolset!(
    ApprovalRequiredToolset,
    FilteredToolset,
    PrefixedToolset,
    RenamedToolset,
    PreparedToolset,
    WrappedToolset
);

impl<D: Send + Sync + 'static> Toolset<D> for FilteredToolset<D> {
    fn label(&self) -> String {
        format!("FilteredToolset({})", self.inner.label())
    }
    fn tools<'a>(&'a self, ctx: &'a RunContext<D>) -> BoxFuture<'a, Result<Vec<ToolsetTool>>> {
        Box::pin(async move {
            let mut tools = self.inner.tools(ctx).await?;
            tools.retain(|t| (self.filter)(ctx, &t.definition));
            Ok(tools)
        })
    }
    fn call(&self, ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture {
        self.inner.call(ctx, name, args)
    }
}

impl<D: Send + Sync + 'static> Toolset<D> for PrefixedToolset<D> {
    fn label(&self) -> String {
        format!("PrefixedToolset('{}', {})", self.prefix, self.inner.label())
    }
    fn tools<'a>(&'a self, ctx: &'a RunContext<D>) -> BoxFuture<'a, Result<Vec<ToolsetTool>>> {
        Box::pin(async move {
            let mut tools = self.inner.tools(ctx).await?;
            for t in &mut tools {
                t.definition.name = format!("{}_{}", self.prefix, t.definition.name);
            }
            Ok(tools)
        })
    }
    fn call(&self, ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture {
        match name
            .strip_prefix(self.prefix.as_str())
            .and_then(|n| n.strip_prefix('_'))
        {
            Some(original) => self.inner.call(ctx, original, args),
            None => unknown(name),
        }
    }
}

impl<D: Send + Sync + 'static> Toolset<D> for RenamedToolset<D> {
    fn label(&self) -> String {
        format!("RenamedToolset({})", self.inner.label())
    }
    fn tools<'a>(&'a self, ctx: &'a RunContext<D>) -> BoxFuture<'a, Result<Vec<ToolsetTool>>> {
        Box::pin(async move {
            let mut tools = self.inner.tools(ctx).await?;
            for t in &mut tools {
                if let Some((new, _)) = self
                    .new_to_old
                    .iter()
                    .find(|(_, old)| **old == t.definition.name)
                {
                    t.definition.name = new.clone();
                }
            }
            Ok(tools)
        })
    }
    fn call(&self, ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture {
        let original = self.new_to_old.get(name).map_or(name, String::as_str);
        self.inner.call(ctx, original, args)
    }
}

impl<D: Send + Sync + 'static> Toolset<D> for PreparedToolset<D> {
    fn label(&self) -> String {
        format!("PreparedToolset({})", self.inner.label())
    }
    fn tools<'a>(&'a self, ctx: &'a RunContext<D>) -> BoxFuture<'a, Result<Vec<ToolsetTool>>> {
        Box::pin(async move {
            let tools = self.inner.tools(ctx).await?;
            let defs = tools.iter().map(|t| t.definition.clone()).collect();
            let prepared = (self.prepare)(ctx, defs).await;
            // keep each tool's settings, matched by name; unknown names are dropped
            Ok(prepared
                .into_iter()
                .filter_map(|definition| {
                    tools
                        .iter()
                        .find(|t| t.definition.name == definition.name)
                        .map(|t| ToolsetTool {
                            definition,
                            ..t.clone()
                        })
                })
                .collect())
        })
    }
    fn call(&self, ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture {
        self.inner.call(ctx, name, args)
    }
}

impl<D: Send + Sync + 'static> Toolset<D> for WrappedToolset<D> {
    fn label(&self) -> String {
        format!("WrappedToolset({})", self.inner.label())
    }
    fn tools<'a>(&'a self, ctx: &'a RunContext<D>) -> BoxFuture<'a, Result<Vec<ToolsetTool>>> {
        self.inner.tools(ctx)
    }
    fn call(&self, ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture {
        let inner = self.inner.call(ctx.clone(), name, args.clone());
        (self.wrap)(ctx, name.to_owned(), args, inner)
    }
}

/// A call bounded by `timeout`: past it, the model gets a retry prompt
/// "Timed out after N seconds." (PydanticAI's tool `timeout=`).
pub fn with_timeout(call: ToolFuture, timeout: Duration) -> ToolFuture {
    Box::pin(async move {
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(ToolCallError::Rejected(Rejection::Retry(format!(
                "Timed out after {} seconds.",
                timeout.as_secs_f64()
            )))),
        }
    })
}

/// A toolset in a form the other toolsets' combinators take.
fn shared<D, T: Toolset<D> + 'static>(t: T) -> Arc<dyn Toolset<D>> {
    Arc::new(t)
}

/// Tools whose definitions are known but which the caller executes (PydanticAI's
/// `ExternalToolset`), e.g. tools a frontend runs: a call ends the run as deferred, with
/// the call in [`DeferredToolRequests::calls`](crate::deferred::DeferredToolRequests);
/// resume with the result ([`crate::deferred`]).
#[derive(Debug, Clone)]
pub struct ExternalToolset {
    name: String,
    tools: Vec<ToolsetTool>,
}

impl ExternalToolset {
    /// A toolset named `name` offering these definitions (their kind is set to
    /// [`ToolKind::External`](crate::request::ToolKind::External)).
    pub fn new(
        name: impl Into<String>,
        definitions: impl IntoIterator<Item = ToolDefinition>,
    ) -> Self {
        ExternalToolset {
            name: name.into(),
            tools: definitions
                .into_iter()
                .map(|d| ToolsetTool::new(d.with_kind(crate::request::ToolKind::External)))
                .collect(),
        }
    }
}

impl<D: Send + Sync + 'static> Toolset<D> for ExternalToolset {
    fn label(&self) -> String {
        format!("ExternalToolset '{}'", self.name)
    }
    fn tools<'a>(&'a self, _ctx: &'a RunContext<D>) -> BoxFuture<'a, Result<Vec<ToolsetTool>>> {
        let tools = self.tools.clone();
        Box::pin(async move { Ok(tools) })
    }
    fn call(&self, _ctx: RunContext<D>, _name: &str, _args: Value) -> ToolFuture {
        // the run defers these calls; one only gets here when a call was approved
        // instead of answered with its result
        Box::pin(async {
            Err(ToolCallError::Failed(
                "External tools cannot be called".into(),
            ))
        })
    }
}

type NeedsApprovalFn<D> = dyn Fn(&RunContext<D>, &str, &Value) -> bool + Send + Sync;

/// A toolset whose calls need a person's approval when a predicate of the context, the
/// tool name and the arguments says so (PydanticAI's `ApprovalRequiredToolset`). Such a
/// call is not run: the run ends with it in
/// [`DeferredToolRequests::approvals`](crate::deferred::DeferredToolRequests); once
/// approved it runs.
pub struct ApprovalRequiredToolset<D> {
    inner: Arc<dyn Toolset<D>>,
    needs_approval: Arc<NeedsApprovalFn<D>>,
}

impl<D: Send + Sync + 'static> Toolset<D> for ApprovalRequiredToolset<D> {
    fn label(&self) -> String {
        format!("ApprovalRequiredToolset({})", self.inner.label())
    }
    fn tools<'a>(&'a self, ctx: &'a RunContext<D>) -> BoxFuture<'a, Result<Vec<ToolsetTool>>> {
        self.inner.tools(ctx)
    }
    fn call(&self, ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture {
        if !ctx.tool_call_approved() && (self.needs_approval)(&ctx, name, &args) {
            return Box::pin(async {
                Err(ToolCallError::Deferred(crate::tools::Deferral {
                    kind: crate::tools::DeferralKind::Approval,
                    metadata: None,
                }))
            });
        }
        self.inner.call(ctx, name, args)
    }
}

/// The combinators, on every toolset.
pub trait ToolsetExt<D: Send + Sync + 'static>: Toolset<D> + Sized + 'static {
    /// Only the tools `filter` keeps, decided at every step.
    fn filtered(
        self,
        filter: impl Fn(&RunContext<D>, &ToolDefinition) -> bool + Send + Sync + 'static,
    ) -> FilteredToolset<D> {
        FilteredToolset {
            inner: shared(self),
            filter: Arc::new(filter),
        }
    }

    /// Every name as `prefix_name`.
    fn prefixed(self, prefix: impl Into<String>) -> PrefixedToolset<D> {
        PrefixedToolset {
            inner: shared(self),
            prefix: prefix.into(),
        }
    }

    /// Tools renamed by a map of new name → old name.
    fn renamed<K: Into<String>, V: Into<String>>(
        self,
        new_to_old: impl IntoIterator<Item = (K, V)>,
    ) -> RenamedToolset<D> {
        RenamedToolset {
            inner: shared(self),
            new_to_old: new_to_old
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Definitions rewritten at every step by `prepare`, which sees them all.
    fn prepared<F>(self, prepare: F) -> PreparedToolset<D>
    where
        F: for<'a> Fn(&'a RunContext<D>, Vec<ToolDefinition>) -> BoxFuture<'a, Vec<ToolDefinition>>
            + Send
            + Sync
            + 'static,
    {
        PreparedToolset {
            inner: shared(self),
            prepare: Arc::new(prepare),
        }
    }

    /// Every call goes through `wrap(ctx, name, args, inner_call)`.
    fn wrapped(
        self,
        wrap: impl Fn(RunContext<D>, String, Value, ToolFuture) -> ToolFuture + Send + Sync + 'static,
    ) -> WrappedToolset<D> {
        WrappedToolset {
            inner: shared(self),
            wrap: Arc::new(wrap),
        }
    }

    /// Calls for which `needs_approval(ctx, tool_name, args)` is true wait for a
    /// person's approval (see [`crate::deferred`]); the others run.
    fn approval_required(
        self,
        needs_approval: impl Fn(&RunContext<D>, &str, &Value) -> bool + Send + Sync + 'static,
    ) -> ApprovalRequiredToolset<D> {
        ApprovalRequiredToolset {
            inner: shared(self),
            needs_approval: Arc::new(needs_approval),
        }
    }

    /// Every call bounded by `timeout` (a retry prompt to the model past it).
    fn with_timeout(self, timeout: Duration) -> WrappedToolset<D> {
        self.wrapped(move |_ctx, _name, _args, call| with_timeout(call, timeout))
    }
}

impl<D: Send + Sync + 'static, T: Toolset<D> + Sized + 'static> ToolsetExt<D> for T {}

/// A toolset of an agent whose deps type changed from `()` (see
/// [`AgentBuilder::deps_type`](crate::agent::AgentBuilder::deps_type)).
pub(crate) struct UnitDepsToolset {
    pub(crate) inner: Arc<dyn Toolset<()>>,
}

impl<E: Send + Sync + 'static> Toolset<E> for UnitDepsToolset {
    fn label(&self) -> String {
        self.inner.label()
    }
    fn tools<'a>(&'a self, ctx: &'a RunContext<E>) -> BoxFuture<'a, Result<Vec<ToolsetTool>>> {
        let ctx = ctx.with_deps(Arc::new(()));
        Box::pin(async move { self.inner.tools(&ctx).await })
    }
    fn call(&self, ctx: RunContext<E>, name: &str, args: Value) -> ToolFuture {
        self.inner.call(ctx.with_deps(Arc::new(())), name, args)
    }
}
