//! [`Agent`]: instructions, tools and an output type around a model, and the run loop.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::{BoxFuture, join_all};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::messages::{
    ModelMessage, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart, RetryInfo,
    RetryPromptPart, SystemPromptPart, ToolCallPart, ToolOutcome, ToolReturnPart, UserPrompt,
    UserPromptPart, messages_from_json, messages_to_json,
};
use crate::model::{IntoModel, ModelProfile, ModelRef, ModelRequestParameters};
use crate::output::{OutputMode, OutputSpec};
use crate::settings::ModelSettings;
use crate::tools::{IntoTool, RunContext, Tool, ToolCallError, ToolError};
use crate::usage::{RunUsage, UsageLimits};
use crate::validation::ValidationErrors;

/// What to do with other tool calls once a final result is found in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndStrategy {
    /// Stop at the first valid output; other tool calls are not run.
    #[default]
    Early,
    /// Run every function tool call of the response, then end.
    Exhaustive,
}

type TextFn<D> = Arc<dyn Fn(RunContext<D>) -> BoxFuture<'static, String> + Send + Sync>;
type ValidatorFn<D, O> =
    Arc<dyn Fn(RunContext<D>, O) -> BoxFuture<'static, Result<O, ToolError>> + Send + Sync>;

enum Text<D> {
    Static(String),
    Dynamic(TextFn<D>),
}

impl<D> Clone for Text<D> {
    fn clone(&self) -> Self {
        match self {
            Text::Static(s) => Text::Static(s.clone()),
            Text::Dynamic(f) => Text::Dynamic(Arc::clone(f)),
        }
    }
}

impl<D: Send + Sync + 'static> Text<D> {
    async fn render(&self, ctx: &RunContext<D>) -> String {
        match self {
            Text::Static(s) => s.clone(),
            Text::Dynamic(f) => f(ctx.clone()).await,
        }
    }

    fn map_unit_deps<E: Send + Sync + 'static>(self, unit: Arc<D>) -> Text<E> {
        match self {
            Text::Static(s) => Text::Static(s),
            Text::Dynamic(f) => Text::Dynamic(Arc::new(move |ctx: RunContext<E>| {
                f(ctx.with_deps(Arc::clone(&unit)))
            })),
        }
    }
}

struct AgentInner<D, O> {
    name: Option<String>,
    model: ModelRef,
    instructions: Vec<Text<D>>,
    system_prompts: Vec<Text<D>>,
    tools: Vec<Tool<D>>,
    output: OutputSpec<O>,
    output_validators: Vec<ValidatorFn<D, O>>,
    output_retries: u32,
    tool_retries: u32,
    settings: ModelSettings,
    usage_limits: UsageLimits,
    end_strategy: EndStrategy,
    /// Request parameters for the last model profile seen (built once, shared by runs).
    params_cache: ParamsCache,
}

type ParamsCache =
    std::sync::Mutex<Option<(ModelProfile, Arc<ModelRequestParameters>, Option<String>)>>;

/// An agent: a model, instructions, tools and a typed output.
///
/// `D` is the type of the dependencies handed to tools, instruction functions and
/// output validators through [`RunContext`]; `O` is the output type (`String` for text).
/// Cloning is cheap.
///
/// ```
/// use verity::prelude::*;
///
/// #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
/// struct CityLocation {
///     city: String,
///     country: String,
/// }
///
/// # tokio_test();
/// # fn tokio_test() { tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let agent = Agent::builder(TestModel::new())
///     .instructions("Be concise.")
///     .output::<CityLocation>()
///     .build();
/// let result = agent.run("Where were the olympics held in 2012?").await.unwrap();
/// println!("{:?} {:?}", result.output, result.usage());
/// # }) }
/// ```
pub struct Agent<D = (), O = String> {
    inner: Arc<AgentInner<D, O>>,
}

impl<D, O> Clone for Agent<D, O> {
    fn clone(&self) -> Self {
        Agent {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<D, O> std::fmt::Debug for Agent<D, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("name", &self.inner.name)
            .field("model", &self.inner.model.model_name())
            .field(
                "tools",
                &self.inner.tools.iter().map(Tool::name).collect::<Vec<_>>(),
            )
            .field("output", &self.inner.output)
            .finish_non_exhaustive()
    }
}

impl Agent<(), String> {
    /// Start building an agent on a model: any [`Model`](crate::Model), a
    /// [`ModelRef`], or a model string such as `"test"`.
    pub fn builder(model: impl IntoModel) -> AgentBuilder<(), String> {
        AgentBuilder {
            inner: AgentInner {
                name: None,
                model: model.into_model(),
                instructions: Vec::new(),
                system_prompts: Vec::new(),
                tools: Vec::new(),
                output: OutputSpec::text(),
                output_validators: Vec::new(),
                output_retries: 1,
                tool_retries: 1,
                settings: ModelSettings::default(),
                usage_limits: UsageLimits::default(),
                end_strategy: EndStrategy::Early,
                params_cache: Default::default(),
            },
        }
    }
}

/// Builds an [`Agent`]. Set the dependencies type ([`deps_type`](Self::deps_type)) and
/// the output type ([`output`](Self::output)) before adding validators.
pub struct AgentBuilder<D, O> {
    inner: AgentInner<D, O>,
}

impl<O: Send + Sync + 'static> AgentBuilder<(), O> {
    /// Set the type of the dependencies given to each run. Tools and instruction
    /// functions added earlier (which saw `()`) keep working.
    pub fn deps_type<E: Send + Sync + 'static>(self) -> AgentBuilder<E, O> {
        let unit = Arc::new(());
        let i = self.inner;
        AgentBuilder {
            inner: AgentInner {
                name: i.name,
                model: i.model,
                instructions: i
                    .instructions
                    .into_iter()
                    .map(|t| t.map_unit_deps(Arc::clone(&unit)))
                    .collect(),
                system_prompts: i
                    .system_prompts
                    .into_iter()
                    .map(|t| t.map_unit_deps(Arc::clone(&unit)))
                    .collect(),
                tools: i
                    .tools
                    .into_iter()
                    .map(|t| t.map_deps(Arc::clone(&unit)))
                    .collect(),
                output: i.output,
                output_validators: i
                    .output_validators
                    .into_iter()
                    .map(|v| {
                        let unit = Arc::clone(&unit);
                        Arc::new(move |ctx: RunContext<E>, o: O| {
                            v(ctx.with_deps(Arc::clone(&unit)), o)
                        }) as ValidatorFn<E, O>
                    })
                    .collect(),
                output_retries: i.output_retries,
                tool_retries: i.tool_retries,
                settings: i.settings,
                usage_limits: i.usage_limits,
                end_strategy: i.end_strategy,
                params_cache: Default::default(),
            },
        }
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> AgentBuilder<D, O> {
    /// Name the agent.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.inner.name = Some(name.into());
        self
    }

    /// Add static instructions (sent with every request, never stored as history parts).
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.inner.instructions.push(Text::Static(text.into()));
        self
    }

    /// Add instructions computed from the run context before every request.
    pub fn instructions_fn<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(RunContext<D>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = String> + Send + 'static,
    {
        self.inner
            .instructions
            .push(Text::Dynamic(Arc::new(move |ctx| Box::pin(f(ctx)))));
        self
    }

    /// Add a static system prompt (stored in the history as a part).
    pub fn system_prompt(mut self, text: impl Into<String>) -> Self {
        self.inner.system_prompts.push(Text::Static(text.into()));
        self
    }

    /// Add a system prompt computed from the run context at the start of a run.
    pub fn system_prompt_fn<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(RunContext<D>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = String> + Send + 'static,
    {
        self.inner
            .system_prompts
            .push(Text::Dynamic(Arc::new(move |ctx| Box::pin(f(ctx)))));
        self
    }

    /// Add a tool: a [`Tool`] or a function marked with [`#[tool]`](crate::tool).
    pub fn tool(mut self, tool: impl IntoTool<D>) -> Self {
        self.inner.tools.push(tool.into_tool());
        self
    }

    /// Add a tool from a closure taking the run context and a typed arguments struct.
    pub fn tool_fn<A, T, E, F, Fut>(
        self,
        name: impl Into<String>,
        description: impl Into<String>,
        f: F,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        T: serde::Serialize,
        E: Into<ToolError>,
        F: Fn(RunContext<D>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
    {
        self.tool(Tool::new(name, description, f))
    }

    /// Produce structured output of type `T` (through an output tool unless another mode
    /// is chosen). Output validators added before are dropped: add them after.
    pub fn output<T>(self) -> AgentBuilder<D, T>
    where
        T: DeserializeOwned + JsonSchema + Send + Sync + 'static,
    {
        self.output_spec(OutputSpec::<T>::structured())
    }

    /// Produce output as described by `spec`. Output validators added before are dropped.
    pub fn output_spec<T: Send + Sync + 'static>(self, spec: OutputSpec<T>) -> AgentBuilder<D, T> {
        let i = self.inner;
        AgentBuilder {
            inner: AgentInner {
                name: i.name,
                model: i.model,
                instructions: i.instructions,
                system_prompts: i.system_prompts,
                tools: i.tools,
                output: spec,
                output_validators: Vec::new(),
                output_retries: i.output_retries,
                tool_retries: i.tool_retries,
                settings: i.settings,
                usage_limits: i.usage_limits,
                end_strategy: i.end_strategy,
                params_cache: Default::default(),
            },
        }
    }

    /// Choose how structured output is requested (tool, native or prompted).
    pub fn output_mode(mut self, mode: OutputMode) -> Self {
        self.inner.output = self.inner.output.with_mode(mode);
        self
    }

    /// Add an output validator: it may fix the output, or reject it with
    /// [`ModelRetry`](crate::ModelRetry) to make the model try again.
    pub fn output_validator<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(RunContext<D>, O) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<O, E>> + Send + 'static,
        E: Into<ToolError>,
    {
        let f = Arc::new(f);
        self.inner.output_validators.push(Arc::new(move |ctx, o| {
            let fut = f(ctx, o);
            Box::pin(async move { fut.await.map_err(Into::into) })
        }));
        self
    }

    /// How many times invalid output is sent back for another try (default 1).
    pub fn output_retries(mut self, retries: u32) -> Self {
        self.inner.output_retries = retries;
        self
    }

    /// How many retries each tool is allowed unless it sets its own (default 1).
    pub fn retries(mut self, retries: u32) -> Self {
        self.inner.tool_retries = retries;
        self
    }

    /// Model settings of the agent (laid over the model's, under the run's).
    pub fn settings(mut self, settings: ModelSettings) -> Self {
        self.inner.settings = settings;
        self
    }

    /// Usage limits of every run (default: 50 requests).
    pub fn usage_limits(mut self, limits: UsageLimits) -> Self {
        self.inner.usage_limits = limits;
        self
    }

    /// What happens to other tool calls once a final result is found.
    pub fn end_strategy(mut self, strategy: EndStrategy) -> Self {
        self.inner.end_strategy = strategy;
        self
    }

    /// Finish building.
    pub fn build(self) -> Agent<D, O> {
        Agent {
            inner: Arc::new(self.inner),
        }
    }
}

/// Options of one run.
pub struct RunOptions<D> {
    /// The dependencies handed to tools and instruction functions.
    pub deps: D,
    /// The conversation so far; the run continues it.
    pub message_history: Vec<ModelMessage>,
    /// A model to use instead of the agent's.
    pub model: Option<ModelRef>,
    /// Settings laid over the agent's for this run.
    pub settings: Option<ModelSettings>,
    /// Limits replacing the agent's for this run.
    pub usage_limits: Option<UsageLimits>,
}

impl<D: Default> Default for RunOptions<D> {
    fn default() -> Self {
        RunOptions::new(D::default())
    }
}

impl<D> RunOptions<D> {
    /// Options with these dependencies and nothing else set.
    pub fn new(deps: D) -> Self {
        RunOptions {
            deps,
            message_history: Vec::new(),
            model: None,
            settings: None,
            usage_limits: None,
        }
    }
    /// Continue this conversation.
    pub fn message_history(mut self, history: Vec<ModelMessage>) -> Self {
        self.message_history = history;
        self
    }
    /// Use this model for the run.
    pub fn model(mut self, model: impl IntoModel) -> Self {
        self.model = Some(model.into_model());
        self
    }
    /// Lay these settings over the agent's.
    pub fn settings(mut self, settings: ModelSettings) -> Self {
        self.settings = Some(settings);
        self
    }
    /// Use these limits.
    pub fn usage_limits(mut self, limits: UsageLimits) -> Self {
        self.usage_limits = Some(limits);
        self
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct RunResult<O> {
    /// The validated output.
    pub output: O,
    messages: Vec<ModelMessage>,
    new_message_index: usize,
    usage: RunUsage,
    run_id: Arc<str>,
}

impl<O> RunResult<O> {
    /// Usage of the run.
    pub fn usage(&self) -> &RunUsage {
        &self.usage
    }
    /// The whole conversation, history included.
    pub fn all_messages(&self) -> &[ModelMessage] {
        &self.messages
    }
    /// The messages this run added.
    pub fn new_messages(&self) -> &[ModelMessage] {
        self.messages
            .get(self.new_message_index..)
            .unwrap_or_default()
    }
    /// The whole conversation as JSON in PydanticAI's format.
    pub fn all_messages_json(&self) -> Result<String> {
        messages_to_json(&self.messages)
    }
    /// This run's messages as JSON in PydanticAI's format.
    pub fn new_messages_json(&self) -> Result<String> {
        messages_to_json(self.new_messages())
    }
    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }
    /// The output, consuming the result.
    pub fn into_output(self) -> O {
        self.output
    }
}

/// Load a message history from JSON, to pass as [`RunOptions::message_history`].
pub fn load_messages(json: &str) -> Result<Vec<ModelMessage>> {
    messages_from_json(json)
}

/// The final result of a run, with the output tool call that produced it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalResult<O> {
    /// The validated output.
    pub output: O,
    /// The output tool that carried it.
    pub tool_name: Option<String>,
    /// The id of that call.
    pub tool_call_id: Option<String>,
}

/// A step of a run, as [`AgentRun::next`] hands them out.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // nodes are moved once per step
pub enum AgentNode<O> {
    /// The start: the user prompt (and system prompts) are turned into a request.
    UserPrompt,
    /// A request about to be sent to the model; it may be changed before it is.
    ModelRequest(ModelRequest),
    /// A model response whose tool calls and output are about to be handled.
    CallTools(ModelResponse),
    /// The run is over.
    End(FinalResult<O>),
}

/// A run in progress: step through it with [`next`](Self::next).
pub struct AgentRun<D, O> {
    agent: Agent<D, O>,
    deps: Arc<D>,
    prompt: Option<UserPrompt>,
    pub(crate) model: ModelRef,
    pub(crate) settings: ModelSettings,
    limits: UsageLimits,
    /// Shared with the run contexts handed out; copied only when one is still held
    /// while the history grows.
    messages: Arc<Vec<ModelMessage>>,
    new_message_index: usize,
    usage: RunUsage,
    output_retries_used: u32,
    tool_retries_used: HashMap<String, u32>,
    run_step: u64,
    run_id: Arc<str>,
    model_name: Arc<str>,
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> Agent<D, O> {
    /// Run the agent on a prompt with default dependencies and options.
    pub async fn run(&self, prompt: impl Into<UserPrompt>) -> Result<RunResult<O>>
    where
        D: Default,
    {
        self.run_with(prompt, RunOptions::default()).await
    }

    /// Run the agent on a prompt with the given dependencies, history, model, settings
    /// and limits.
    pub async fn run_with(
        &self,
        prompt: impl Into<UserPrompt>,
        options: RunOptions<D>,
    ) -> Result<RunResult<O>> {
        let run = self.start_run(Some(prompt.into()), options);
        // The run's state lives on the heap from its first poll: a spawned task that has
        // not started yet holds a few words instead of the whole state machine, and the
        // state is not moved again while the run makes its requests.
        Box::pin(run.run_to_end()).await
    }

    /// Run to completion from a thread that is not async. Works from any thread; inside
    /// an async runtime it runs on a helper thread instead of panicking.
    pub fn run_sync(&self, prompt: impl Into<UserPrompt>) -> Result<RunResult<O>>
    where
        D: Default,
    {
        self.run_sync_with(prompt, RunOptions::default())
    }

    /// [`run_sync`](Self::run_sync) with options.
    pub fn run_sync_with(
        &self,
        prompt: impl Into<UserPrompt>,
        options: RunOptions<D>,
    ) -> Result<RunResult<O>> {
        let prompt = prompt.into();
        let block = move || -> Result<RunResult<O>> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::User(format!("cannot start a runtime for run_sync: {e}")))?;
            rt.block_on(self.run_with(prompt, options))
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(block).join().unwrap_or_else(|_| {
                    Err(Error::User("run_sync's helper thread panicked".into()))
                })
            })
        } else {
            block()
        }
    }

    /// Start a run to step through node by node:
    ///
    /// ```
    /// # use verity::prelude::*;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let agent = Agent::builder(TestModel::new()).build();
    /// let mut run = agent.iter("hello", RunOptions::default());
    /// let mut node = AgentNode::UserPrompt;
    /// let output = loop {
    ///     node = run.next(node).await.unwrap();
    ///     if let AgentNode::End(result) = node { break result.output; }
    /// };
    /// assert_eq!(output, "success (no tool calls)");
    /// # });
    /// ```
    pub fn iter(&self, prompt: impl Into<UserPrompt>, options: RunOptions<D>) -> AgentRun<D, O> {
        self.start_run(Some(prompt.into()), options)
    }

    fn start_run(&self, prompt: Option<UserPrompt>, options: RunOptions<D>) -> AgentRun<D, O> {
        let model = options
            .model
            .unwrap_or_else(|| Arc::clone(&self.inner.model));
        let mut settings = model
            .settings()
            .cloned()
            .unwrap_or_default()
            .merge(&self.inner.settings);
        if let Some(run_settings) = &options.settings {
            settings = settings.merge(run_settings);
        }
        let new_message_index = options.message_history.len();
        let model_name: Arc<str> = Arc::from(model.model_name());
        AgentRun {
            agent: self.clone(),
            deps: Arc::new(options.deps),
            prompt,
            model,
            settings,
            limits: options
                .usage_limits
                .unwrap_or_else(|| self.inner.usage_limits.clone()),
            messages: Arc::new(options.message_history),
            new_message_index,
            usage: RunUsage::default(),
            output_retries_used: 0,
            tool_retries_used: HashMap::new(),
            run_step: 0,
            run_id: Arc::from(
                &*crate::messages::uuid_v7()
                    .hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            ),
            model_name,
        }
    }

    /// The agent's name.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The agent's model.
    pub fn model(&self) -> &ModelRef {
        &self.inner.model
    }

    /// The agent's output specification.
    pub fn output_spec(&self) -> &OutputSpec<O> {
        &self.inner.output
    }

    /// Run the agent, streaming: see [`StreamedRun`](crate::StreamedRun).
    pub fn run_stream(&self, prompt: impl Into<UserPrompt>) -> crate::StreamedRun<D, O>
    where
        D: Default,
    {
        self.run_stream_with(prompt, RunOptions::default())
    }

    /// [`run_stream`](Self::run_stream) with options.
    pub fn run_stream_with(
        &self,
        prompt: impl Into<UserPrompt>,
        options: RunOptions<D>,
    ) -> crate::StreamedRun<D, O> {
        crate::StreamedRun::start(self.clone(), self.start_run(Some(prompt.into()), options))
    }
}

/// One tool call's outcome before it is written into the next request.
enum CallOutcome {
    Part(ModelRequestPart),
    Fatal(Error),
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> AgentRun<D, O> {
    /// Usage so far.
    pub fn usage(&self) -> &RunUsage {
        &self.usage
    }

    /// The conversation so far.
    pub fn messages(&self) -> &[ModelMessage] {
        &self.messages
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Step from the start to the end. The same steps as [`next`](Self::next), except
    /// that a response goes into the history without being copied for a `CallTools`
    /// node nobody looks at.
    async fn run_to_end(mut self) -> Result<RunResult<O>> {
        let mut node = AgentNode::UserPrompt;
        loop {
            let reply = match node {
                AgentNode::UserPrompt => {
                    node = self.user_prompt().await?;
                    continue;
                }
                AgentNode::ModelRequest(request) => {
                    let response = self.request_model(request).await?;
                    let reply = Reply::of(&response);
                    self.record_response(response)?;
                    reply
                }
                AgentNode::CallTools(response) => Reply::from_response(response),
                AgentNode::End(result) => return Ok(self.into_result(result.output)),
            };
            node = self.handle_reply(reply).await?;
        }
    }

    /// Finish the run with an output, as [`Agent::run_with`] does.
    pub fn into_result(self, output: O) -> RunResult<O> {
        RunResult {
            output,
            messages: Arc::unwrap_or_clone(self.messages),
            new_message_index: self.new_message_index,
            usage: self.usage,
            run_id: self.run_id,
        }
    }

    fn context(&self) -> RunContext<D> {
        RunContext {
            deps: Arc::clone(&self.deps),
            usage: self.usage.clone(),
            messages: Arc::clone(&self.messages),
            model_name: Arc::clone(&self.model_name),
            run_id: Arc::clone(&self.run_id),
            run_step: self.run_step,
            retry: 0,
            max_retries: 0,
            tool_name: None,
            tool_call_id: None,
        }
    }

    /// Handle one node and return the next. Calling it again after
    /// [`AgentNode::End`] returns the same end.
    pub async fn next(&mut self, node: AgentNode<O>) -> Result<AgentNode<O>> {
        match node {
            AgentNode::UserPrompt => self.user_prompt().await,
            AgentNode::ModelRequest(request) => {
                let response = self.request_model(request).await?;
                self.finish_request(response)
            }
            AgentNode::CallTools(response) => self.call_tools(response).await,
            AgentNode::End(r) => Ok(AgentNode::End(r)),
        }
    }

    async fn user_prompt(&mut self) -> Result<AgentNode<O>> {
        let mut parts = Vec::new();
        if self.messages.is_empty() {
            let ctx = self.context();
            for sp in &self.agent.inner.system_prompts {
                let text = sp.render(&ctx).await;
                parts.push(ModelRequestPart::SystemPrompt(SystemPromptPart::new(text)));
            }
        }
        if let Some(prompt) = self.prompt.take() {
            parts.push(ModelRequestPart::UserPrompt(UserPromptPart::new(prompt)));
        }
        Ok(AgentNode::ModelRequest(ModelRequest::new(parts)))
    }

    /// Check limits, render instructions, prepare tools and append the request to the
    /// history. Returns the request parameters and the request as sent.
    pub(crate) async fn prepare_request(
        &mut self,
        mut request: ModelRequest,
    ) -> Result<Arc<ModelRequestParameters>> {
        self.limits.check_before_request(&self.usage)?;
        self.run_step += 1;
        let inner = &*self.agent.inner;
        let dynamic = !inner
            .instructions
            .iter()
            .all(|i| matches!(i, Text::Static(_)))
            || inner.tools.iter().any(Tool::has_prepare);
        let ctx = dynamic.then(|| self.context());
        let (params, output_instructions) = self.parameters(ctx.as_ref());
        let mut instructions = Vec::new();
        for ins in &inner.instructions {
            let text = match (ins, &ctx) {
                (Text::Static(s), _) => s.clone(),
                (Text::Dynamic(_), Some(ctx)) => ins.render(ctx).await,
                (Text::Dynamic(_), None) => String::new(),
            };
            if !text.trim().is_empty() {
                instructions.push(text);
            }
        }
        if let Some(extra) = output_instructions {
            instructions.push(extra);
        }
        request.instructions = (!instructions.is_empty()).then(|| instructions.join("\n\n"));
        request.run_id = Some(self.run_id.to_string());
        drop(ctx);
        Arc::make_mut(&mut self.messages).push(ModelMessage::Request(request));
        Ok(params)
    }

    /// The tool definitions and output settings of a request, with the instructions the
    /// output mode adds. Without `prepare` hooks they are the same for every request of a
    /// model, so they are built once per agent and model and shared.
    fn parameters(
        &self,
        ctx: Option<&RunContext<D>>,
    ) -> (Arc<ModelRequestParameters>, Option<String>) {
        let inner = &self.agent.inner;
        let profile = self.model.profile();
        let build = |ctx: Option<&RunContext<D>>| {
            let output = inner.output.resolve(profile);
            let function_tools = inner
                .tools
                .iter()
                .filter_map(|t| match ctx {
                    Some(ctx) => t.prepared_definition(ctx),
                    None => Some(t.definition().clone()),
                })
                .collect();
            let params = ModelRequestParameters {
                function_tools,
                output_tools: output.output_tools,
                output_mode: output.mode,
                output_object: output.output_object,
                allow_text_output: output.allow_text_output,
            };
            (Arc::new(params), output.instructions)
        };
        if inner.tools.iter().any(Tool::has_prepare) {
            return build(ctx);
        }
        let mut cache = inner
            .params_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((cached_profile, params, instructions)) = cache.as_ref()
            && cached_profile == profile
        {
            return (Arc::clone(params), instructions.clone());
        }
        let (params, instructions) = build(None);
        *cache = Some((profile.clone(), Arc::clone(&params), instructions.clone()));
        (params, instructions)
    }

    /// Send a request (prepared as [`prepare_request`](Self::prepare_request) does) and
    /// return the model's response.
    async fn request_model(&mut self, request: ModelRequest) -> Result<ModelResponse> {
        let params = self.prepare_request(request).await?;
        self.model
            .request_boxed(&self.messages, &self.settings, &params)
            .await
    }

    /// Record a response (usage, limits, history) and hand it on as a `CallTools` node.
    pub(crate) fn finish_request(&mut self, response: ModelResponse) -> Result<AgentNode<O>> {
        let mut node = response.clone();
        node.run_id = Some(self.run_id.to_string());
        self.record_response(response)?;
        Ok(AgentNode::CallTools(node))
    }

    /// Record a response: usage, limits, history.
    fn record_response(&mut self, mut response: ModelResponse) -> Result<()> {
        self.usage.requests += 1;
        self.usage.add_response(&response.usage);
        response.run_id = Some(self.run_id.to_string());
        Arc::make_mut(&mut self.messages).push(ModelMessage::Response(response));
        self.limits.check_tokens(&self.usage)
    }

    fn bump_output_retries(&mut self) -> Result<u32> {
        bump_output_retries(
            &mut self.output_retries_used,
            self.agent.inner.output_retries,
        )
    }

    async fn validate_output(&self, mut output: O, ctx: RunContext<D>) -> Result<O, ToolError> {
        for v in &self.agent.inner.output_validators {
            output = v(ctx.clone(), output).await?;
        }
        Ok(output)
    }

    pub(crate) async fn call_tools(&mut self, response: ModelResponse) -> Result<AgentNode<O>> {
        self.handle_reply(Reply::from_response(response)).await
    }

    /// Run the tool calls of a response, or else judge its text.
    async fn handle_reply(&mut self, reply: Reply) -> Result<AgentNode<O>> {
        let calls = reply.calls;
        if calls.is_empty() {
            return self.handle_text(reply.text).await;
        }
        let inner = &*self.agent.inner;
        let mut outcomes: Vec<Option<CallOutcome>> = (0..calls.len()).map(|_| None).collect();
        let mut final_result: Option<FinalResult<O>> = None;

        // Output tools first: the first valid one is the final result.
        for (i, call) in calls.iter().enumerate() {
            if !inner.output.is_output_tool(&call.tool_name) {
                continue;
            }
            let part = if final_result.is_some() {
                tool_return(
                    call,
                    "Output tool not used - a final result was already processed.",
                )
            } else {
                let parsed = match inner
                    .output
                    .parse_valid_json_args(&call.tool_name, &call.args)
                {
                    Some(output) => Ok(output),
                    None => match call.args.to_value() {
                        Ok(args) => inner.output.parse_tool_args(&call.tool_name, &args),
                        Err(e) => Err(invalid_json(&call.args.to_json_string(), &e)),
                    },
                };
                let checked = match parsed {
                    Ok(o) if inner.output_validators.is_empty() => Ok(o),
                    Ok(o) => {
                        let mut octx = self.context();
                        octx.retry = self.output_retries_used;
                        octx.max_retries = inner.output_retries;
                        octx.tool_name = Some(call.tool_name.clone());
                        octx.tool_call_id = Some(call.tool_call_id.clone());
                        self.validate_output(o, octx).await.map_err(Rejection::from)
                    }
                    Err(e) => Err(Rejection::Invalid(e)),
                };
                match checked {
                    Ok(output) => {
                        final_result = Some(FinalResult {
                            output,
                            tool_name: Some(call.tool_name.clone()),
                            tool_call_id: Some(call.tool_call_id.clone()),
                        });
                        tool_return(call, "Final result processed.")
                    }
                    Err(Rejection::Fatal(e)) => {
                        return Err(Error::ToolExecution {
                            tool_name: call.tool_name.clone(),
                            source: e,
                        });
                    }
                    Err(rejection) => {
                        let attempt = bump_output_retries(
                            &mut self.output_retries_used,
                            inner.output_retries,
                        )?;
                        retried_return(call, rejection, attempt, inner.output_retries)
                    }
                }
            };
            if let Some(slot) = outcomes.get_mut(i) {
                *slot = Some(CallOutcome::Part(part));
            }
        }

        // Function tools, concurrently, unless a final result ends the run early.
        let skip_functions = final_result.is_some() && inner.end_strategy == EndStrategy::Early;
        let mut to_run = Vec::new();
        for (i, call) in calls.iter().enumerate() {
            if inner.output.is_output_tool(&call.tool_name) {
                continue;
            }
            match inner.tools.iter().find(|t| t.name() == call.tool_name) {
                Some(tool) if skip_functions => {
                    let _ = tool;
                    if let Some(slot) = outcomes.get_mut(i) {
                        *slot = Some(CallOutcome::Part(tool_return(
                            call,
                            "Tool not executed - a final result was already processed.",
                        )));
                    }
                }
                Some(tool) => to_run.push((i, call, tool)),
                None if final_result.is_some() => {
                    if let Some(slot) = outcomes.get_mut(i) {
                        *slot = Some(CallOutcome::Part(tool_return(
                            call,
                            "Tool not executed - a final result was already processed.",
                        )));
                    }
                }
                None => {
                    let mut names: Vec<String> = inner
                        .tools
                        .iter()
                        .map(|t| format!("'{}'", t.name()))
                        .collect();
                    names.extend(
                        inner
                            .output
                            .resolve(self.model.profile())
                            .output_tools
                            .iter()
                            .map(|t| format!("'{}'", t.name)),
                    );
                    let msg = if names.is_empty() {
                        format!(
                            "Unknown tool name: '{}'. No tools available.",
                            call.tool_name
                        )
                    } else {
                        format!(
                            "Unknown tool name: '{}'. Available tools: {}",
                            call.tool_name,
                            names.join(", ")
                        )
                    };
                    bump_output_retries(&mut self.output_retries_used, inner.output_retries)?;
                    if let Some(slot) = outcomes.get_mut(i) {
                        *slot = Some(CallOutcome::Part(ModelRequestPart::RetryPrompt(
                            RetryPromptPart::new(
                                msg,
                                Some(call.tool_name.clone()),
                                call.tool_call_id.clone(),
                            ),
                        )));
                    }
                }
            }
        }
        if !to_run.is_empty() {
            self.limits
                .check_before_tool_calls(&self.usage, to_run.len() as u64)?;
            let ctx = self.context();
            let futures = to_run.iter().map(|(_, call, tool)| {
                let mut tctx = ctx.clone();
                tctx.retry = self
                    .tool_retries_used
                    .get(&call.tool_name)
                    .copied()
                    .unwrap_or(0);
                tctx.max_retries = tool.max_retries().unwrap_or(inner.tool_retries);
                tctx.tool_name = Some(call.tool_name.clone());
                tctx.tool_call_id = Some(call.tool_call_id.clone());
                let args = call.args.to_value();
                let fut = args.map(|a| tool.call(tctx, a));
                async move {
                    match fut {
                        Ok(f) => f.await,
                        Err(e) => Err(ToolCallError::Validation(invalid_json(
                            &call.args.to_json_string(),
                            &e,
                        ))),
                    }
                }
            });
            let results = join_all(futures).await;
            for ((i, call, tool), result) in to_run.iter().zip(results) {
                let outcome = match result {
                    Ok(value) => {
                        self.usage.tool_calls += 1;
                        CallOutcome::Part(tool_return(call, value))
                    }
                    Err(ToolCallError::Failed(source)) => {
                        CallOutcome::Fatal(Error::ToolExecution {
                            tool_name: call.tool_name.clone(),
                            source,
                        })
                    }
                    Err(err) => {
                        let max = tool.max_retries().unwrap_or(inner.tool_retries);
                        let used = self
                            .tool_retries_used
                            .entry(call.tool_name.clone())
                            .or_insert(0);
                        *used += 1;
                        if *used > max {
                            CallOutcome::Fatal(Error::unexpected(format!(
                                "Tool '{}' exceeded max retries count of {max}",
                                call.tool_name
                            )))
                        } else {
                            let rejection = match err {
                                ToolCallError::Validation(e) => Rejection::Invalid(e),
                                ToolCallError::Retry(m) => Rejection::Retry(m),
                                ToolCallError::Failed(_) => Rejection::Retry(String::new()),
                            };
                            CallOutcome::Part(retried_return(call, rejection, *used, max))
                        }
                    }
                };
                if let Some(slot) = outcomes.get_mut(*i) {
                    *slot = Some(outcome);
                }
            }
        }

        let mut parts = Vec::with_capacity(outcomes.len());
        for outcome in outcomes.into_iter().flatten() {
            match outcome {
                CallOutcome::Part(p) => parts.push(p),
                CallOutcome::Fatal(e) => return Err(e),
            }
        }
        match final_result {
            Some(result) => {
                if !parts.is_empty() {
                    let mut request = ModelRequest::new(parts);
                    request.run_id = Some(self.run_id.to_string());
                    Arc::make_mut(&mut self.messages).push(ModelMessage::Request(request));
                }
                Ok(AgentNode::End(result))
            }
            None => Ok(AgentNode::ModelRequest(ModelRequest::new(parts))),
        }
    }

    async fn handle_text(&mut self, text: Option<String>) -> Result<AgentNode<O>> {
        let inner = Arc::clone(&self.agent.inner);
        let allow_text = inner.output.resolve(self.model.profile()).allow_text_output;
        let rejection = match text {
            Some(text) if allow_text => {
                let parsed = inner.output.parse_text(&text);
                let mut ctx = self.context();
                ctx.retry = self.output_retries_used;
                ctx.max_retries = inner.output_retries;
                let checked = match parsed {
                    Ok(o) => self.validate_output(o, ctx).await.map_err(Rejection::from),
                    Err(e) => Err(Rejection::Invalid(e)),
                };
                match checked {
                    Ok(output) => {
                        return Ok(AgentNode::End(FinalResult {
                            output,
                            tool_name: None,
                            tool_call_id: None,
                        }));
                    }
                    Err(Rejection::Fatal(e)) => {
                        return Err(Error::ToolExecution {
                            tool_name: "output_validator".into(),
                            source: e,
                        });
                    }
                    Err(r) => r,
                }
            }
            Some(_) => Rejection::Retry("Please include your response in a tool call.".into()),
            None => {
                Rejection::Retry("Responses without text or tool calls are not permitted.".into())
            }
        };
        self.bump_output_retries()?;
        let content = match rejection {
            Rejection::Invalid(e) => e.to_value(),
            Rejection::Retry(m) => Value::String(m),
            Rejection::Fatal(_) => Value::Null,
        };
        let part = RetryPromptPart::new(content, None, crate::messages::generate_tool_call_id());
        Ok(AgentNode::ModelRequest(ModelRequest::new(vec![
            ModelRequestPart::RetryPrompt(part),
        ])))
    }
}

/// Count an output retry against `max`.
fn bump_output_retries(used: &mut u32, max: u32) -> Result<u32> {
    *used += 1;
    if *used > max {
        return Err(Error::unexpected(format!(
            "Exceeded maximum retries ({max}) for output validation"
        )));
    }
    Ok(*used)
}

/// What a response asks of the run: its tool calls, or (when it has none) its text.
struct Reply {
    calls: Vec<ToolCallPart>,
    text: Option<String>,
}

impl Reply {
    /// Copied from a response that goes on into the history.
    fn of(response: &ModelResponse) -> Self {
        let calls: Vec<ToolCallPart> = response.tool_calls().cloned().collect();
        let text = calls.is_empty().then(|| response.text_content()).flatten();
        Reply { calls, text }
    }

    /// Taken from a response that is not needed afterwards.
    fn from_response(response: ModelResponse) -> Self {
        let text = response
            .tool_calls()
            .next()
            .is_none()
            .then(|| response.text_content())
            .flatten();
        let calls = response
            .parts
            .into_iter()
            .filter_map(|p| match p {
                ModelResponsePart::ToolCall(c) => Some(c),
                _ => None,
            })
            .collect();
        Reply { calls, text }
    }
}

/// Why an output or a tool call was not accepted.
enum Rejection {
    Invalid(ValidationErrors),
    Retry(String),
    Fatal(Box<dyn std::error::Error + Send + Sync>),
}

impl From<ToolError> for Rejection {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::Retry(m) => Rejection::Retry(m),
            ToolError::Failed(e) => Rejection::Fatal(e),
        }
    }
}

fn invalid_json(text: &str, e: &serde_json::Error) -> ValidationErrors {
    ValidationErrors::message(
        "json_invalid",
        format!("Invalid JSON: {e}"),
        Value::String(text.to_owned()),
    )
}

fn tool_return(call: &ToolCallPart, content: impl Into<Value>) -> ModelRequestPart {
    ModelRequestPart::ToolReturn(ToolReturnPart::new(
        call.tool_name.clone(),
        content,
        call.tool_call_id.clone(),
    ))
}

fn retried_return(
    call: &ToolCallPart,
    rejection: Rejection,
    attempt: u32,
    max_retries: u32,
) -> ModelRequestPart {
    let (content, cause) = match rejection {
        Rejection::Invalid(e) => (e.to_value(), "validation_error"),
        Rejection::Retry(m) => (Value::String(m), "model_retry"),
        Rejection::Fatal(e) => (Value::String(e.to_string()), "error"),
    };
    let mut part = ToolReturnPart::new(call.tool_name.clone(), content, call.tool_call_id.clone());
    part.outcome = ToolOutcome::Retried;
    part.retry = Some(RetryInfo {
        cause: cause.to_owned(),
        attempt,
        max_retries,
        extra: Default::default(),
    });
    ModelRequestPart::ToolReturn(part)
}
