//! Tools: plain Rust functions the model can call, and the run context they receive.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::messages::{ModelMessage, UserContent};
use crate::request::{ToolDefinition, ToolKind};
pub use crate::schema::parameters_schema;
use crate::usage::{RunUsage, SharedUsage};
use crate::validation::{ValidationErrors, Validator};

/// What a tool, an instruction function or an output validator can see of the run.
///
/// Cheap to clone: the dependencies and the message history are shared. The agent makes
/// one for every call; to unit-test a tool, make one with [`RunContext::new`]:
///
/// ```
/// use verity::RunContext;
///
/// let ctx = RunContext::new("my deps").with_tool_call("get_weather", "call_1");
/// assert_eq!(*ctx.deps(), "my deps");
/// assert_eq!(ctx.tool_name(), Some("get_weather"));
/// assert_eq!(ctx.retry(), 0);
/// ```
pub struct RunContext<D> {
    deps: Arc<D>,
    usage: RunUsage,
    messages: Arc<Vec<ModelMessage>>,
    model_name: Arc<str>,
    run_id: Arc<str>,
    run_step: u64,
    retry: u32,
    max_retries: u32,
    tool_name: Option<String>,
    tool_call_id: Option<String>,
    shared_usage: Option<SharedUsage>,
    tool_call_approved: bool,
    tool_call_metadata: Option<Arc<Value>>,
    /// Where a call records what it returns besides its value (set by the agent).
    return_extras: Option<ReturnSlot>,
}

/// Shared between a call's context and the agent that reads it after the call.
pub(crate) type ReturnSlot = Arc<std::sync::Mutex<Option<ReturnExtras>>>;

impl<D> Clone for RunContext<D> {
    fn clone(&self) -> Self {
        self.with_deps(Arc::clone(&self.deps))
    }
}

impl<D> std::fmt::Debug for RunContext<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("usage", &self.usage)
            .field("messages", &self.messages.len())
            .field("model_name", &self.model_name)
            .field("run_id", &self.run_id)
            .field("run_step", &self.run_step)
            .field("retry", &self.retry)
            .field("tool_name", &self.tool_name)
            .finish_non_exhaustive()
    }
}

impl<D> RunContext<D> {
    /// A context with these dependencies, no history, no usage, step 0, and no tool
    /// call: what a unit test of a tool needs. Change it with the `with_` methods.
    pub fn new(deps: D) -> Self {
        Self::from_shared(Arc::new(deps))
    }

    /// [`new`](Self::new) with dependencies that are already shared.
    pub fn from_shared(deps: Arc<D>) -> Self {
        RunContext {
            deps,
            usage: RunUsage::default(),
            messages: Arc::new(Vec::new()),
            model_name: Arc::from(""),
            run_id: Arc::from(""),
            run_step: 0,
            retry: 0,
            max_retries: 0,
            tool_name: None,
            tool_call_id: None,
            shared_usage: None,
            tool_call_approved: false,
            tool_call_metadata: None,
            return_extras: None,
        }
    }

    /// The context the agent hands out at a step of a run (no allocation).
    pub(crate) fn for_run(
        deps: Arc<D>,
        usage: RunUsage,
        messages: Arc<Vec<ModelMessage>>,
        model_name: Arc<str>,
        run_id: Arc<str>,
        run_step: u64,
    ) -> Self {
        RunContext {
            deps,
            usage,
            messages,
            model_name,
            run_id,
            run_step,
            retry: 0,
            max_retries: 0,
            tool_name: None,
            tool_call_id: None,
            shared_usage: None,
            tool_call_approved: false,
            tool_call_metadata: None,
            return_extras: None,
        }
    }

    /// The dependencies.
    pub fn deps(&self) -> &D {
        &self.deps
    }

    /// The dependencies, shared.
    pub fn shared_deps(&self) -> &Arc<D> {
        &self.deps
    }

    /// Usage of the run so far.
    pub fn usage(&self) -> &RunUsage {
        &self.usage
    }

    /// The conversation so far.
    pub fn messages(&self) -> &[ModelMessage] {
        &self.messages
    }

    /// The name of the model in use.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// How many model requests the run has made.
    pub fn run_step(&self) -> u64 {
        self.run_step
    }

    /// How many times the current tool (or output) has been retried.
    pub fn retry(&self) -> u32 {
        self.retry
    }

    /// How many retries the current tool (or output) is allowed.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The tool being called, in a tool (or the output tool, in an output validator).
    pub fn tool_name(&self) -> Option<&str> {
        self.tool_name.as_deref()
    }

    /// The id of the call being answered, in a tool.
    pub fn tool_call_id(&self) -> Option<&str> {
        self.tool_call_id.as_deref()
    }

    /// With this usage.
    pub fn with_usage(mut self, usage: RunUsage) -> Self {
        self.usage = usage;
        self
    }

    /// With this conversation.
    pub fn with_messages(mut self, messages: impl Into<Arc<Vec<ModelMessage>>>) -> Self {
        self.messages = messages.into();
        self
    }

    /// With this model name.
    pub fn with_model_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.model_name = name.into();
        self
    }

    /// With this run id and step.
    pub fn with_run(mut self, run_id: impl Into<Arc<str>>, run_step: u64) -> Self {
        self.run_id = run_id.into();
        self.run_step = run_step;
        self
    }

    /// With these retry counts.
    pub fn with_retries(mut self, retry: u32, max_retries: u32) -> Self {
        self.retry = retry;
        self.max_retries = max_retries;
        self
    }

    /// As seen by a call of `tool_name` with id `tool_call_id`.
    pub fn with_tool_call(
        mut self,
        tool_name: impl Into<String>,
        tool_call_id: impl Into<String>,
    ) -> Self {
        self.tool_name = Some(tool_name.into());
        self.tool_call_id = Some(tool_call_id.into());
        self
    }

    /// The same context with other dependencies.
    pub fn with_deps<E>(&self, deps: Arc<E>) -> RunContext<E> {
        RunContext {
            deps,
            usage: self.usage.clone(),
            messages: Arc::clone(&self.messages),
            model_name: Arc::clone(&self.model_name),
            run_id: Arc::clone(&self.run_id),
            run_step: self.run_step,
            retry: self.retry,
            max_retries: self.max_retries,
            tool_name: self.tool_name.clone(),
            tool_call_id: self.tool_call_id.clone(),
            shared_usage: self.shared_usage.clone(),
            tool_call_approved: self.tool_call_approved,
            tool_call_metadata: self.tool_call_metadata.clone(),
            return_extras: self.return_extras.clone(),
        }
    }

    /// This run's usage and limits for a run it delegates to: pass it to the child's
    /// [`RunRequest::usage`](crate::agent::RunRequest::usage), and the child's requests
    /// and tokens count in this run's usage and limits (PydanticAI's `usage=ctx.usage`).
    /// Outside a tool call (no run to report to) it is a snapshot without limits.
    pub fn shared_usage(&self) -> SharedUsage {
        self.shared_usage.clone().unwrap_or_else(|| {
            SharedUsage::new(self.usage.clone(), crate::usage::UsageLimits::unlimited())
        })
    }

    /// The same context, delegated runs reporting to `shared`.
    pub(crate) fn with_shared_usage(mut self, shared: SharedUsage) -> Self {
        self.shared_usage = Some(shared);
        self
    }
}

impl<D> RunContext<D> {
    /// Whether this call was approved by a person (a run resumed with
    /// [`DeferredToolResults`](crate::deferred::DeferredToolResults)): a tool that asks
    /// for approval with [`ToolError::ApprovalRequired`] runs when this is `true`.
    pub fn tool_call_approved(&self) -> bool {
        self.tool_call_approved
    }

    /// The metadata the resuming caller attached to this call, if any.
    pub fn tool_call_metadata(&self) -> Option<&Value> {
        self.tool_call_metadata.as_deref()
    }

    /// With the call marked approved (or not), and with this metadata.
    pub fn with_tool_call_approval(mut self, approved: bool, metadata: Option<Value>) -> Self {
        self.tool_call_approved = approved;
        self.tool_call_metadata = metadata.map(Arc::new);
        self
    }

    /// Record what this call returns besides its value: what returning a [`ToolReturn`]
    /// from a [`Tool`] does. A toolset that answers a call without running it again (a
    /// durable run replaying its journal) records what the call returned the first
    /// time. Outside a call the agent runs, nothing is kept.
    pub fn record_return_extras(&self, extras: ReturnExtras) {
        if let Some(slot) = &self.return_extras
            && let Ok(mut kept) = slot.lock()
        {
            *kept = Some(extras);
        }
    }

    /// What this call recorded besides its value, if anything (see
    /// [`record_return_extras`](Self::record_return_extras)).
    pub fn return_extras(&self) -> Option<ReturnExtras> {
        let slot = self.return_extras.as_ref()?;
        slot.lock().ok()?.clone()
    }

    /// With a fresh place for the call's extras, which the agent keeps to read them.
    pub(crate) fn with_return_slot(mut self) -> (Self, ReturnSlot) {
        let slot = ReturnSlot::default();
        self.return_extras = Some(Arc::clone(&slot));
        (self, slot)
    }
}

/// What a tool returns besides the value the model is sent (PydanticAI's advanced tool
/// returns): content the model sees as a separate user message after the tool results,
/// and metadata for the application, kept on the call's
/// [`ToolReturnPart`](crate::messages::ToolReturnPart) and never sent to the model.
///
/// ```
/// use verity::prelude::*;
/// use verity::tools::ToolReturn;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Click { x: i64, y: i64 }
///
/// let tool: Tool<()> = Tool::new("click", "Click and look.", |_ctx, c: Click| async move {
///     Ok::<_, ToolError>(
///         ToolReturn::new(format!("clicked at ({}, {})", c.x, c.y))
///             .with_content(["The screen after the click:"])
///             .with_metadata(serde_json::json!({"x": c.x, "y": c.y})),
///     )
/// });
/// # let _ = tool;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ToolReturn {
    /// The tool's result, sent to the model.
    pub return_value: Value,
    /// Content sent to the model as a user message after the tool results.
    pub content: Vec<UserContent>,
    /// For the application only.
    pub metadata: Option<Value>,
}

impl ToolReturn {
    /// A return of this value, with no content and no metadata.
    pub fn new(return_value: impl Into<Value>) -> Self {
        ToolReturn {
            return_value: return_value.into(),
            content: Vec::new(),
            metadata: None,
        }
    }

    /// With this content for the model, after the tool results.
    pub fn with_content<C: Into<UserContent>>(
        mut self,
        content: impl IntoIterator<Item = C>,
    ) -> Self {
        self.content.extend(content.into_iter().map(Into::into));
        self
    }

    /// With this metadata for the application.
    pub fn with_metadata(mut self, metadata: impl Into<Value>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }

    /// The value, and what the call recorded besides it.
    fn split(self) -> (Value, ReturnExtras) {
        (
            self.return_value,
            ReturnExtras {
                content: self.content,
                metadata: self.metadata,
            },
        )
    }
}

/// Serialized, a `ToolReturn` is its return value.
impl Serialize for ToolReturn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.return_value.serialize(serializer)
    }
}

/// What a call returned besides its value (a [`ToolReturn`]'s content and metadata), as
/// [`RunContext::record_return_extras`] keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReturnExtras {
    /// Content sent to the model as a user message after the tool results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<UserContent>,
    /// For the application only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl ReturnExtras {
    /// Whether there is nothing besides the value.
    pub fn is_empty(&self) -> bool {
        self.content.is_empty() && self.metadata.is_none()
    }
}

/// A tool function's return value as the JSON sent to the model; a [`ToolReturn`]'s
/// content and metadata go to `slot`, the call's place for them.
fn tool_value<T: Serialize + 'static>(
    slot: Option<&ReturnSlot>,
    value: T,
) -> Result<Value, ToolCallError> {
    let mut value = Some(value);
    let Some(rich) = take_rich(&mut value) else {
        // `Some(v)` serializes as `v`
        return serde_json::to_value(&value).map_err(|e| ToolCallError::Failed(Box::new(e)));
    };
    let (value, extras) = rich.split();
    if let Some(slot) = slot
        && !extras.is_empty()
        && let Ok(mut kept) = slot.lock()
    {
        *kept = Some(extras);
    }
    Ok(value)
}

/// The value, taken out, when it is a [`ToolReturn`] (or a `#[tool]` function's).
fn take_rich<T: 'static>(value: &mut Option<T>) -> Option<ToolReturn> {
    let any: &mut dyn std::any::Any = value;
    if let Some(rich) = any.downcast_mut::<Option<ToolReturn>>() {
        return rich.take();
    }
    match any.downcast_mut::<Option<MacroValue>>() {
        Some(slot @ Some(MacroValue::Rich(_))) => match slot.take() {
            Some(MacroValue::Rich(rich)) => Some(rich),
            _ => None,
        },
        _ => None,
    }
}

/// What a `#[tool]` function's return becomes: its JSON, or a [`ToolReturn`] kept whole.
#[doc(hidden)]
#[derive(Debug)]
pub enum MacroValue {
    /// The serialized return value.
    Value(Value),
    /// A rich return.
    Rich(ToolReturn),
}

impl Serialize for MacroValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MacroValue::Value(v) => v.serialize(serializer),
            MacroValue::Rich(r) => r.serialize(serializer),
        }
    }
}

/// Returned by a tool or an output validator to ask the model to try again; the
/// message is sent to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRetry(pub String);

impl ModelRetry {
    /// A retry with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ModelRetry(message.into())
    }
}

impl std::fmt::Display for ModelRetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a tool (or output validator) can fail.
#[derive(Debug)]
pub enum ToolError {
    /// Ask the model to try again with this message.
    Retry(String),
    /// End the run with this error.
    Failed(Box<dyn std::error::Error + Send + Sync>),
    /// This call needs a person's approval first (PydanticAI's `ApprovalRequired`): it
    /// is not run now, and the run ends with it in
    /// [`DeferredToolRequests::approvals`](crate::deferred::DeferredToolRequests), with
    /// this metadata. Check [`RunContext::tool_call_approved`] to run approved calls.
    ApprovalRequired(Option<Value>),
    /// This call is executed outside the run (PydanticAI's `CallDeferred`): the run ends
    /// with it in [`DeferredToolRequests::calls`](crate::deferred::DeferredToolRequests),
    /// with this metadata.
    CallDeferred(Option<Value>),
}

impl From<ModelRetry> for ToolError {
    fn from(r: ModelRetry) -> Self {
        ToolError::Retry(r.0)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for ToolError {
    fn from(e: E) -> Self {
        ToolError::Failed(Box::new(e))
    }
}

impl ToolError {
    /// A failure with a plain message.
    pub fn failed(message: impl Into<String>) -> Self {
        ToolError::Failed(message.into().into())
    }
}

/// Why a tool call, an output or a validator was not accepted: the model is asked
/// again with this feedback.
#[derive(Debug)]
pub enum Rejection {
    /// The arguments (or the output) did not validate.
    Invalid(ValidationErrors),
    /// A tool or validator asked for a retry with this message.
    Retry(String),
}

/// What a deferred call waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeferralKind {
    /// A person's approval.
    Approval,
    /// A result from outside the run.
    External,
}

/// A tool call that is not run now (see [`crate::deferred`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Deferral {
    /// What it waits for.
    pub kind: DeferralKind,
    /// What the tool attached (in [`DeferredToolRequests::metadata`](crate::deferred::DeferredToolRequests)).
    pub metadata: Option<Value>,
}

/// Why a tool call did not produce a value (what a [`Toolset`](crate::toolsets::Toolset)
/// call returns on failure).
#[derive(Debug)]
pub enum ToolCallError {
    /// Sent back to the model for another try.
    Rejected(Rejection),
    /// The run ends with this error.
    Failed(Box<dyn std::error::Error + Send + Sync>),
    /// The call waits for an approval or an external result.
    Deferred(Deferral),
}

impl From<ToolError> for ToolCallError {
    fn from(e: ToolError) -> Self {
        let deferred = |kind, metadata| ToolCallError::Deferred(Deferral { kind, metadata });
        match e {
            ToolError::Retry(m) => ToolCallError::Rejected(Rejection::Retry(m)),
            ToolError::Failed(e) => ToolCallError::Failed(e),
            ToolError::ApprovalRequired(m) => deferred(DeferralKind::Approval, m),
            ToolError::CallDeferred(m) => deferred(DeferralKind::External, m),
        }
    }
}

impl From<ValidationErrors> for ToolCallError {
    fn from(e: ValidationErrors) -> Self {
        ToolCallError::Rejected(Rejection::Invalid(e))
    }
}

type CallFn<D> =
    dyn Fn(RunContext<D>, Value) -> BoxFuture<'static, Result<Value, ToolCallError>> + Send + Sync;
type PrepareFn<D> = dyn Fn(&RunContext<D>, ToolDefinition) -> Option<ToolDefinition> + Send + Sync;

/// A tool the agent can offer the model.
///
/// Make one with [`#[tool]`](crate::tool) on a function, or with [`Tool::new`] from a
/// closure and a typed arguments struct:
///
/// ```
/// use verity::prelude::*;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct AddArgs {
///     /// The first number.
///     a: i64,
///     /// The second number.
///     b: i64,
/// }
///
/// let add: Tool<()> = Tool::new("add", "Add two numbers.", |_ctx, args: AddArgs| async move {
///     Ok::<_, ToolError>(args.a + args.b)
/// });
/// assert_eq!(add.definition().name, "add");
/// ```
pub struct Tool<D> {
    def: ToolDefinition,
    max_retries: Option<u32>,
    call: Arc<CallFn<D>>,
    prepare: Option<Arc<PrepareFn<D>>>,
    sequential: bool,
    timeout: Option<std::time::Duration>,
    /// Checks arguments without running the tool (for calls deferred before they run).
    args_validator: Option<Arc<Validator>>,
}

impl<D> Clone for Tool<D> {
    fn clone(&self) -> Self {
        Tool {
            def: self.def.clone(),
            max_retries: self.max_retries,
            call: Arc::clone(&self.call),
            prepare: self.prepare.clone(),
            sequential: self.sequential,
            timeout: self.timeout,
            args_validator: self.args_validator.clone(),
        }
    }
}

impl<D> std::fmt::Debug for Tool<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("def", &self.def)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl<D: Send + Sync + 'static> Tool<D> {
    /// A tool from a closure taking the run context and a typed arguments struct. The
    /// schema comes from the struct (doc comments become descriptions); the return value
    /// is any `Serialize` type, or an error convertible to [`ToolError`].
    pub fn new<A, T, E, F, Fut>(
        name: impl Into<String>,
        description: impl Into<String>,
        f: F,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        T: Serialize + 'static,
        E: Into<ToolError>,
        F: Fn(RunContext<D>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let description: String = description.into();
        let schema = function_parameters_schema(parameters_schema::<A>());
        let validator = Arc::new(Validator::new(&schema));
        let def = ToolDefinition {
            name: name.into(),
            description: (!description.is_empty()).then_some(description),
            parameters_json_schema: schema,
            strict: None,
            kind: ToolKind::Function,
            extra_fields: Default::default(),
        };
        let f = Arc::new(f);
        let args_validator = Some(Arc::clone(&validator));
        let call = move |ctx: RunContext<D>,
                         args: Value|
              -> BoxFuture<'static, Result<Value, ToolCallError>> {
            let f = Arc::clone(&f);
            let validated = validator.deserialize::<A>(&args);
            Box::pin(async move {
                let args: A = validated?;
                let slot = ctx.return_extras.clone();
                match f(ctx, args).await {
                    Ok(v) => tool_value(slot.as_ref(), v),
                    Err(e) => Err(ToolCallError::from(e.into())),
                }
            })
        };
        Tool {
            def,
            max_retries: None,
            call: Arc::new(call),
            prepare: None,
            sequential: false,
            timeout: None,
            args_validator,
        }
    }
}

/// A function tool's parameter schema closed the way PydanticAI closes the schema of a
/// function's signature: `additionalProperties: false` on the top-level object, so extra
/// arguments are rejected (`extra_forbidden`) rather than dropped. Schemas that say
/// otherwise already, or that combine subschemas, are left alone.
fn function_parameters_schema(mut schema: Value) -> Value {
    if let Value::Object(map) = &mut schema
        && map.contains_key("properties")
        && !["additionalProperties", "anyOf", "oneOf", "allOf", "$ref"]
            .iter()
            .any(|k| map.contains_key(*k))
    {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    schema
}

impl<D> Tool<D> {
    /// The definition sent to the model.
    pub fn definition(&self) -> &ToolDefinition {
        &self.def
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// Rename the tool.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.def.name = name.into();
        self
    }

    /// Replace the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.def.description = Some(description.into());
        self
    }

    /// Allow this many retries (instead of the agent's default).
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// Ask for strict schema adherence.
    pub fn with_strict(mut self, strict: bool) -> Self {
        self.def.strict = Some(strict);
        self
    }

    /// A hook run before every model request: it may change the definition, or return
    /// `None` to leave the tool out of that request.
    pub fn with_prepare(
        mut self,
        prepare: impl Fn(&RunContext<D>, ToolDefinition) -> Option<ToolDefinition>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.prepare = Some(Arc::new(prepare));
        self
    }

    /// Never run this tool concurrently with other tools: the tool-call step runs it
    /// alone, in call order.
    pub fn with_sequential(mut self, sequential: bool) -> Self {
        self.sequential = sequential;
        self
    }

    /// This tool with `timeout` unless it has its own (the agent's default).
    pub(crate) fn with_default_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout.get_or_insert(timeout);
        self
    }

    /// Bound each call by `timeout`: past it, the model gets a retry prompt "Timed out
    /// after N seconds." that counts toward the tool's retries (PydanticAI's `timeout=`).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether the tool runs alone.
    pub fn is_sequential(&self) -> bool {
        self.sequential
    }

    /// Whether the tool has a `prepare` hook.
    pub fn has_prepare(&self) -> bool {
        self.prepare.is_some()
    }

    pub(crate) fn max_retries(&self) -> Option<u32> {
        self.max_retries
    }

    pub(crate) fn prepared_definition(&self, ctx: &RunContext<D>) -> Option<ToolDefinition> {
        match &self.prepare {
            Some(p) => p(ctx, self.def.clone()),
            None => Some(self.def.clone()),
        }
    }

    /// Require a person's approval before every call (PydanticAI's
    /// `requires_approval=True`): a call is not run in the step that makes it; the run
    /// ends with it in [`DeferredToolRequests::approvals`](crate::deferred::DeferredToolRequests)
    /// (see [`crate::deferred`]). For approval that depends on the call, return
    /// [`ToolError::ApprovalRequired`] from the tool instead.
    pub fn with_requires_approval(mut self, required: bool) -> Self {
        self.def.kind = if required {
            ToolKind::Unapproved
        } else {
            ToolKind::Function
        };
        self
    }

    /// Whether every call needs approval first.
    pub fn requires_approval(&self) -> bool {
        self.def.kind == ToolKind::Unapproved
    }

    /// Check arguments against the tool's schema without running it.
    pub(crate) fn validate_args(&self, args: &Value) -> Result<(), ValidationErrors> {
        match &self.args_validator {
            Some(v) => v.validate(args).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Whether arguments pass the tool's schema; `None` for a tool without a validator
    /// of its own, which checks its arguments itself when called.
    pub(crate) fn check_args(&self, args: &Value) -> Option<bool> {
        self.args_validator
            .as_ref()
            .map(|v| v.validate(args).is_ok())
    }

    pub(crate) fn call(
        &self,
        ctx: RunContext<D>,
        args: Value,
    ) -> BoxFuture<'static, Result<Value, ToolCallError>> {
        if self.requires_approval() && !ctx.tool_call_approved() {
            return Box::pin(async {
                Err(ToolCallError::Deferred(Deferral {
                    kind: DeferralKind::Approval,
                    metadata: None,
                }))
            });
        }
        let call = (self.call)(ctx, args);
        match self.timeout {
            Some(t) => crate::toolsets::with_timeout(call, t),
            None => call,
        }
    }
}

impl<D: Send + Sync + 'static> Tool<D> {
    /// This tool for an agent with other dependencies: the tool still sees `D`, taken
    /// from the given context-to-deps mapping.
    pub(crate) fn map_deps<E: Send + Sync + 'static>(self, deps: Arc<D>) -> Tool<E> {
        let call = Arc::clone(&self.call);
        let prepare = self.prepare.clone();
        let deps_for_prepare = Arc::clone(&deps);
        Tool {
            def: self.def,
            max_retries: self.max_retries,
            call: Arc::new(move |ctx: RunContext<E>, args| {
                call(ctx.with_deps(Arc::clone(&deps)), args)
            }),
            prepare: prepare.map(|p| {
                Arc::new(move |ctx: &RunContext<E>, def| {
                    p(&ctx.with_deps(Arc::clone(&deps_for_prepare)), def)
                }) as Arc<PrepareFn<E>>
            }),
            sequential: self.sequential,
            timeout: self.timeout,
            args_validator: self.args_validator,
        }
    }
}

/// Anything that can become a [`Tool`]: a `Tool` itself, or the marker struct that
/// [`#[tool]`](crate::tool) generates for a function.
pub trait IntoTool<D> {
    /// Build the tool.
    fn into_tool(self) -> Tool<D>;
}

impl<D> IntoTool<D> for Tool<D> {
    fn into_tool(self) -> Tool<D> {
        self
    }
}

/// Used by the `#[tool]` macro: serialize a tool's return value, keeping a
/// [`ToolReturn`] whole.
#[doc(hidden)]
pub fn __to_tool_value<T: Serialize + 'static>(value: T) -> Result<MacroValue, ToolError> {
    let mut value = Some(value);
    match take_rich(&mut value) {
        Some(rich) => Ok(MacroValue::Rich(rich)),
        None => serde_json::to_value(&value)
            .map(MacroValue::Value)
            .map_err(ToolError::from),
    }
}

/// Used by the `#[tool]` macro: build the tool, taking the description and parameter
/// descriptions from the function's doc comment.
#[doc(hidden)]
pub fn __macro_tool<D, A, F, Fut>(
    name: &str,
    doc: &str,
    retries: Option<u32>,
    strict: Option<bool>,
    f: F,
) -> Tool<D>
where
    D: Send + Sync + 'static,
    A: DeserializeOwned + JsonSchema + Send + 'static,
    F: Fn(RunContext<D>, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<MacroValue, ToolError>> + Send + 'static,
{
    let (description, params) = parse_doc(doc);
    let mut tool = Tool::new(name, description, f);
    if let Some(Value::Object(props)) = tool.def.parameters_json_schema.get_mut("properties") {
        for (param, text) in params {
            if let Some(Value::Object(prop)) = props.get_mut(&param) {
                prop.insert("description".into(), Value::String(text));
            }
        }
    }
    tool.max_retries = retries;
    tool.def.strict = strict;
    tool
}

/// Used by the `#[tool]` macro: parse the argument docs out of a function's doc comment.
///
/// Recognised sections: `# Arguments` / `# Args` / `# Parameters` (rustdoc style, items
/// `* `name` - text` or `- name: text`) and `Args:` / `Arguments:` (Google style,
/// `name: text`). Returns the text before the first section as the description, and
/// `(name, text)` pairs.
pub fn parse_doc(doc: &str) -> (String, Vec<(String, String)>) {
    let mut description = Vec::new();
    let mut params: Vec<(String, String)> = Vec::new();
    let mut in_args = false;
    let mut in_other_section = false;
    for line in doc.lines() {
        let t = line.trim();
        let lower = t.to_ascii_lowercase();
        let heading = lower.trim_start_matches('#').trim().trim_end_matches(':');
        let is_heading = (t.starts_with('#') || t.ends_with(':'))
            && matches!(heading, "arguments" | "args" | "parameters" | "params");
        if is_heading {
            in_args = true;
            in_other_section = false;
            continue;
        }
        if t.starts_with("# ") {
            // another rustdoc section (# Errors, # Examples, …): not part of the description
            in_args = false;
            in_other_section = true;
            continue;
        }
        if in_other_section {
            continue;
        }
        if in_args {
            if t.is_empty() {
                continue;
            }
            let item = t.trim_start_matches(['*', '-']).trim();
            let (name, text) = match item.split_once(" - ").or_else(|| item.split_once(':')) {
                Some((n, d)) => (n.trim().trim_matches('`').trim(), d.trim()),
                None => ("", item),
            };
            let is_name = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            if is_name {
                params.push((name.to_owned(), text.to_owned()));
            } else if let Some((_, last)) = params.last_mut() {
                last.push(' ');
                last.push_str(t);
            }
            continue;
        }
        description.push(line.strip_prefix(' ').unwrap_or(line));
    }
    (description.join("\n").trim().to_owned(), params)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn doc_sections_give_parameter_descriptions() {
        let (d, p) = parse_doc(
            " Get the weather.\n\n More text.\n\n # Arguments\n\n * `city` - The city.\n * `days` - How many\n   days ahead.\n\n # Errors\n none",
        );
        assert_eq!(d, "Get the weather.\n\nMore text.");
        assert_eq!(p[0], ("city".into(), "The city.".into()));
        assert_eq!(p[1], ("days".into(), "How many days ahead.".into()));
        let (d, p) = parse_doc("Look it up.\n\nArgs:\n    item_id: The item.\n");
        assert_eq!(d, "Look it up.");
        assert_eq!(p, vec![("item_id".into(), "The item.".into())]);
    }
}
