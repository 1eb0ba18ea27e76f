//! [`Agent`]: instructions, tools and an output type around a model, and the run loop.
//!
//! - `mod.rs`: the agent, its configuration and builder, and what a run returns;
//! - `request.rs`: [`RunRequest`], what `agent.run(prompt)` returns;
//! - `run.rs`: [`AgentRun`], the run's steps and the one loop over them;
//! - `state.rs`: [`RunState`], the serializable state of a run;
//! - `tool_calls.rs`: the tool-call step (output calls, function calls, returns).

mod capture;
mod overrides;
mod request;
mod run;
mod state;
mod tool_calls;

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::deferred::{Deferrable, DeferredToolRequests, DeferredToolResults};
use crate::error::Result;
use crate::history::HistoryProcessor;
use crate::messages::{ModelMessage, messages_from_json, messages_to_json};
use crate::model::{IntoModel, ModelRef};
use crate::output::{OutputMode, OutputSpec};
use crate::profiles::ModelProfile;
use crate::request::{ModelRequestParameters, ToolDefinition};
use crate::settings::ModelSettings;
use crate::tools::{IntoTool, RunContext, Tool, ToolError};
use crate::toolsets::{Toolset, UnitDepsToolset};
use crate::usage::{RunUsage, UsageLimits};

pub use capture::MessageCapture;
pub use overrides::{Override, OverrideScope};
pub use request::{DefaultDeps, DepsSource, RunRequest, WithDeps};
pub use run::{AgentNode, AgentRun};
pub use state::RunState;

/// What happens to the other tool calls of a response that holds the final result
/// (PydanticAI 2.x's `end_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EndStrategy {
    /// Output calls first, in order, stopping at the first valid one; function calls
    /// are then not executed (they run only when no output call was valid).
    Early,
    /// Calls in the order the model made them: function calls before an output call run
    /// first, function calls after it run too; output calls after the first valid one are
    /// not used. A function tool's retry holds back the output. The default.
    #[default]
    Graceful,
    /// Every call runs; the first valid output by order is the final result. A function
    /// tool's retry holds back the output.
    Exhaustive,
}

/// The agent-wide `prepare_tools` hook: sees all function-tool definitions of a step.
pub(crate) type PrepareToolsFn<D> = Arc<
    dyn Fn(RunContext<D>, Vec<ToolDefinition>) -> BoxFuture<'static, Vec<ToolDefinition>>
        + Send
        + Sync,
>;

type TextFn<D> = Arc<dyn Fn(RunContext<D>) -> BoxFuture<'static, String> + Send + Sync>;
/// An output function: the output tool's arguments (validated) in, the output out.
type OutputFn<D, O> = Arc<
    dyn Fn(
            RunContext<D>,
            serde_json::Value,
        ) -> BoxFuture<'static, Result<O, crate::tools::ToolCallError>>
        + Send
        + Sync,
>;
type ValidatorFn<D, O> =
    Arc<dyn Fn(RunContext<D>, O) -> BoxFuture<'static, Result<O, ToolError>> + Send + Sync>;

/// Instructions or a system prompt: fixed text, or computed from the run context.
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

/// The parts of an agent's configuration that depend on neither the deps nor the
/// output type.
#[derive(Clone)]
struct Common {
    name: Option<String>,
    model: ModelRef,
    output_retries: u32,
    tool_retries: u32,
    settings: ModelSettings,
    usage_limits: UsageLimits,
    end_strategy: EndStrategy,
    /// Whether telemetry spans carry message content; `None`: as
    /// [`telemetry::capture_content_from_env`](crate::telemetry::capture_content_from_env) says.
    capture_content: Option<bool>,
}

/// An agent's whole configuration, moved as one value from the builder into the agent.
struct AgentConfig<D, O> {
    common: Common,
    instructions: Vec<Text<D>>,
    /// System prompts, each with the name a dynamic one is re-evaluated under.
    system_prompts: Vec<(Option<String>, Text<D>)>,
    tools: Vec<Tool<D>>,
    /// Toolsets added with [`AgentBuilder::toolset`].
    toolsets: Vec<Arc<dyn Toolset<D>>>,
    prepare_tools: Option<PrepareToolsFn<D>>,
    output: OutputSpec<O>,
    output_validators: Vec<ValidatorFn<D, O>>,
    /// Set when the output comes from an output function (the output tool's arguments
    /// are its input).
    output_function: Option<OutputFn<D, O>>,
    history_processors: Vec<HistoryProcessor<D>>,
    /// The default timeout of the agent's own tools.
    tool_timeout: Option<std::time::Duration>,
    /// How a run that stops at deferred tool calls ends: set when the output allows it
    /// ([`AgentBuilder::deferrable`]); without it such a run fails.
    deferred_output: Option<fn(DeferredToolRequests) -> O>,
    /// Tools the provider runs itself.
    native_tools: Vec<crate::request::NativeTool>,
}

impl<D, O> Clone for AgentConfig<D, O> {
    fn clone(&self) -> Self {
        AgentConfig {
            common: self.common.clone(),
            instructions: self.instructions.clone(),
            system_prompts: self.system_prompts.clone(),
            tools: self.tools.clone(),
            toolsets: self.toolsets.clone(),
            prepare_tools: self.prepare_tools.clone(),
            output: self.output.clone(),
            output_validators: self.output_validators.clone(),
            output_function: self.output_function.clone(),
            history_processors: self.history_processors.clone(),
            tool_timeout: self.tool_timeout,
            deferred_output: self.deferred_output,
            native_tools: self.native_tools.clone(),
        }
    }
}

/// What an agent holds: its configuration and the request parameters built from it.
struct AgentInner<D, O> {
    config: AgentConfig<D, O>,
    /// A tool name the agent's own tools use twice (found when built; every run of such
    /// an agent fails with it instead of one tool silently shadowing the other).
    duplicate_tool: Option<String>,
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
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let agent = Agent::builder(TestModel::new())
///     .instructions("Be concise.")
///     .output::<CityLocation>()
///     .build();
/// let result = agent.run("Where were the olympics held in 2012?").await.unwrap();
/// println!("{:?} {:?}", result.output, result.usage());
/// # })
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
        let config = &self.inner.config;
        f.debug_struct("Agent")
            .field("name", &config.common.name)
            .field("model", &config.common.model.model_name())
            .field(
                "tools",
                &config.tools.iter().map(Tool::name).collect::<Vec<_>>(),
            )
            .field("output", &config.output)
            .finish_non_exhaustive()
    }
}

impl Agent<(), String> {
    /// Start building an agent on a model: any [`Model`](crate::Model) or a
    /// [`ModelRef`] (model strings resolve through
    /// [`infer_model`](crate::infer_model)).
    pub fn builder(model: impl IntoModel) -> AgentBuilder<(), String> {
        AgentBuilder {
            config: AgentConfig {
                common: Common {
                    name: None,
                    model: model.into_model(),
                    output_retries: 1,
                    tool_retries: 1,
                    settings: ModelSettings::default(),
                    usage_limits: UsageLimits::default(),
                    end_strategy: EndStrategy::Graceful,
                    capture_content: None,
                },
                instructions: Vec::new(),
                system_prompts: Vec::new(),
                tools: Vec::new(),
                toolsets: Vec::new(),
                prepare_tools: None,
                output: OutputSpec::text(),
                output_validators: Vec::new(),
                output_function: None,
                history_processors: Vec::new(),
                tool_timeout: None,
                deferred_output: None,
                native_tools: Vec::new(),
            },
            state: std::marker::PhantomData,
        }
    }
}

/// The states of an [`AgentBuilder`]: whether the output type may still change.
pub mod builder_state {
    /// The output type may still change ([`output`](super::AgentBuilder::output)),
    /// and so may the deps type; no output validator has been added yet.
    #[derive(Debug)]
    pub struct OutputOpen;
    /// An output validator was added: the output type is fixed from here on.
    #[derive(Debug)]
    pub struct OutputFixed;
}

use builder_state::{OutputFixed, OutputOpen};

/// Builds an [`Agent`]. The deps type ([`deps_type`](Self::deps_type)) and the output
/// type ([`output`](Self::output)) are chosen before the first
/// [`output_validator`](Self::output_validator): after it they cannot change, so a
/// validator is never dropped by a later change of type.
///
/// ```compile_fail
/// use verity::prelude::*;
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Answer { value: i64 }
/// // an output validator fixes the output type: `.output()` after it does not compile
/// let agent = Agent::builder(TestModel::new())
///     .output_validator(|_ctx, text: String| async move { Ok::<_, ModelRetry>(text) })
///     .output::<Answer>()
///     .build();
/// ```
pub struct AgentBuilder<D, O, S = OutputOpen> {
    config: AgentConfig<D, O>,
    state: std::marker::PhantomData<S>,
}

impl<O: Send + Sync + 'static> AgentBuilder<(), O, OutputOpen> {
    /// Set the type of the dependencies given to each run. Tools and instruction
    /// functions added earlier (which saw `()`) keep working.
    pub fn deps_type<E: Send + Sync + 'static>(self) -> AgentBuilder<E, O, OutputOpen> {
        let unit = Arc::new(());
        let c = self.config;
        let map_texts = |texts: Vec<Text<()>>| -> Vec<Text<E>> {
            texts
                .into_iter()
                .map(|t| t.map_unit_deps(Arc::clone(&unit)))
                .collect()
        };
        AgentBuilder {
            config: AgentConfig {
                common: c.common,
                instructions: map_texts(c.instructions),
                system_prompts: {
                    let (names, texts): (Vec<_>, Vec<_>) = c.system_prompts.into_iter().unzip();
                    names.into_iter().zip(map_texts(texts)).collect()
                },
                tools: c
                    .tools
                    .into_iter()
                    .map(|t| t.map_deps(Arc::clone(&unit)))
                    .collect(),
                toolsets: c
                    .toolsets
                    .into_iter()
                    .map(|inner| Arc::new(UnitDepsToolset { inner }) as Arc<dyn Toolset<E>>)
                    .collect(),
                prepare_tools: c.prepare_tools.map(|p| {
                    let unit = Arc::clone(&unit);
                    Arc::new(move |ctx: RunContext<E>, defs| {
                        p(ctx.with_deps(Arc::clone(&unit)), defs)
                    }) as PrepareToolsFn<E>
                }),
                output: c.output,
                // no validator exists in this state
                output_validators: Vec::new(),
                output_function: c.output_function.map(|f| {
                    let unit = Arc::clone(&unit);
                    Arc::new(move |ctx: RunContext<E>, args| {
                        f(ctx.with_deps(Arc::clone(&unit)), args)
                    }) as OutputFn<E, O>
                }),
                history_processors: c
                    .history_processors
                    .into_iter()
                    .map(|p| {
                        let unit = Arc::clone(&unit);
                        Arc::new(move |ctx: RunContext<E>, messages| {
                            p(ctx.with_deps(Arc::clone(&unit)), messages)
                        }) as HistoryProcessor<E>
                    })
                    .collect(),
                tool_timeout: c.tool_timeout,
                deferred_output: c.deferred_output,
                native_tools: c.native_tools,
            },
            state: std::marker::PhantomData,
        }
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> AgentBuilder<D, O, OutputOpen> {
    /// Produce structured output of type `T` (through an output tool unless another mode
    /// is chosen).
    pub fn output<T>(self) -> AgentBuilder<D, T, OutputOpen>
    where
        T: DeserializeOwned + JsonSchema + Send + Sync + 'static,
    {
        self.output_spec(OutputSpec::<T>::structured())
    }

    /// Produce output as described by `spec`.
    pub fn output_spec<T: Send + Sync + 'static>(
        self,
        spec: OutputSpec<T>,
    ) -> AgentBuilder<D, T, OutputOpen> {
        let c = self.config;
        AgentBuilder {
            config: AgentConfig {
                common: c.common,
                instructions: c.instructions,
                system_prompts: c.system_prompts,
                tools: c.tools,
                toolsets: c.toolsets,
                prepare_tools: c.prepare_tools,
                output: spec,
                // no validator exists in this state
                output_validators: Vec::new(),
                output_function: None,
                history_processors: c.history_processors,
                tool_timeout: c.tool_timeout,
                deferred_output: None,
                native_tools: c.native_tools,
            },
            state: std::marker::PhantomData,
        }
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> AgentBuilder<D, O, OutputOpen> {
    /// Produce the output by calling a function with the model's arguments (PydanticAI's
    /// output functions): the output tool `name` takes `A` (its schema from `A`, checked
    /// as tool arguments are), and what `f` returns is the output. `f` may return
    /// [`ModelRetry`](crate::ModelRetry) to make the model try again, and may itself run
    /// another agent (a hand-off).
    ///
    /// ```
    /// use verity::prelude::*;
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Lookup { city: String }
    ///
    /// let agent = Agent::builder(TestModel::new())
    ///     .output_function("lookup_country", "Finds the country of a city.",
    ///         |_ctx: RunContext<()>, a: Lookup| async move {
    ///             Ok::<_, ModelRetry>(format!("the country of {}", a.city))
    ///         })
    ///     .build();
    /// let out = agent.run("Where is Paris?").blocking().unwrap().output;
    /// assert!(out.starts_with("the country of"));
    /// ```
    pub fn output_function<A, T, E, F, Fut>(
        self,
        name: impl Into<String>,
        description: impl Into<String>,
        f: F,
    ) -> AgentBuilder<D, T, OutputOpen>
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        T: Send + Sync + 'static,
        E: Into<ToolError>,
        F: Fn(RunContext<D>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
    {
        let validator = Arc::new(crate::validation::Validator::for_type::<A>());
        let wrapped = crate::output::is_wrapped::<A>();
        let f = Arc::new(f);
        let function: OutputFn<D, T> = Arc::new(move |ctx, args| {
            // a non-object input arrives as {"response": ...}
            let args = match args {
                serde_json::Value::Object(mut map) if wrapped => {
                    map.remove("response").unwrap_or_default()
                }
                other => other,
            };
            let parsed = validator.deserialize::<A>(&args);
            let f = Arc::clone(&f);
            Box::pin(async move {
                let args = parsed?;
                f(ctx, args)
                    .await
                    .map_err(|e| crate::tools::ToolCallError::from(e.into()))
            })
        });
        let mut builder = self.output_spec(OutputSpec::<T>::for_function::<A>(name, description));
        builder.config.output_function = Some(function);
        builder
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static, S> AgentBuilder<D, O, S> {
    /// Let runs stop at deferred tool calls (PydanticAI's `output_type=[O,
    /// DeferredToolRequests]`): the output becomes [`Deferrable<O>`], which is either
    /// the output or the [`DeferredToolRequests`] the run stopped at (see
    /// [`crate::deferred`]). Without it, a run whose model calls a tool that needs
    /// approval or is executed outside the run fails with
    /// [`DeferredError::NotAllowed`](crate::deferred::DeferredError::NotAllowed).
    /// Output validators added before see only outputs, never the requests. Call it
    /// after choosing the output type.
    pub fn deferrable(self) -> AgentBuilder<D, Deferrable<O>, S> {
        let c = self.config;
        AgentBuilder {
            config: AgentConfig {
                common: c.common,
                instructions: c.instructions,
                system_prompts: c.system_prompts,
                tools: c.tools,
                toolsets: c.toolsets,
                prepare_tools: c.prepare_tools,
                output: c.output.map(Deferrable::Output),
                output_validators: c
                    .output_validators
                    .into_iter()
                    .map(|v| {
                        Arc::new(move |ctx, output: Deferrable<O>| {
                            let v = Arc::clone(&v);
                            Box::pin(async move {
                                match output {
                                    Deferrable::Output(o) => {
                                        v(ctx, o).await.map(Deferrable::Output)
                                    }
                                    deferred => Ok(deferred),
                                }
                            }) as BoxFuture<'static, _>
                        }) as ValidatorFn<D, Deferrable<O>>
                    })
                    .collect(),
                output_function: c.output_function.map(|f| {
                    Arc::new(move |ctx, args| {
                        let fut = f(ctx, args);
                        Box::pin(async move { fut.await.map(Deferrable::Output) })
                            as BoxFuture<'static, _>
                    }) as OutputFn<D, Deferrable<O>>
                }),
                history_processors: c.history_processors,
                tool_timeout: c.tool_timeout,
                deferred_output: Some(Deferrable::Deferred),
                native_tools: c.native_tools,
            },
            state: std::marker::PhantomData,
        }
    }

    /// Name the agent.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.common.name = Some(name.into());
        self
    }

    /// Whether this agent's telemetry spans carry message content (the messages sent and
    /// received, instructions, tool definitions, tool arguments and results), in the
    /// JSON shapes of the OpenTelemetry GenAI conventions. Off by default, unless
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`; this setting wins over
    /// the variable. Binary data is never inlined. See [`telemetry`](crate::telemetry).
    pub fn capture_message_content(mut self, capture: bool) -> Self {
        self.config.common.capture_content = Some(capture);
        self
    }

    /// Add static instructions (sent with every request, never stored as history parts).
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.config.instructions.push(Text::Static(text.into()));
        self
    }

    /// Add instructions computed from the run context before every request.
    pub fn instructions_fn<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(RunContext<D>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = String> + Send + 'static,
    {
        self.config
            .instructions
            .push(Text::Dynamic(Arc::new(move |ctx| Box::pin(f(ctx)))));
        self
    }

    /// Add a static system prompt (stored in the history as a part).
    pub fn system_prompt(mut self, text: impl Into<String>) -> Self {
        self.config
            .system_prompts
            .push((None, Text::Static(text.into())));
        self
    }

    /// Add a system prompt computed from the run context at the start of a run.
    pub fn system_prompt_fn<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(RunContext<D>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = String> + Send + 'static,
    {
        self.config
            .system_prompts
            .push((None, Text::Dynamic(Arc::new(move |ctx| Box::pin(f(ctx))))));
        self
    }

    /// Add a system prompt computed from the run context that is evaluated again when a
    /// run continues a history holding it (PydanticAI's `dynamic=True`): the part keeps
    /// `name` as its `dynamic_ref`, and its text is replaced with a fresh one.
    pub fn system_prompt_dynamic<F, Fut>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(RunContext<D>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = String> + Send + 'static,
    {
        self.config.system_prompts.push((
            Some(name.into()),
            Text::Dynamic(Arc::new(move |ctx| Box::pin(f(ctx)))),
        ));
        self
    }

    /// Add a tool: a [`Tool`] or a function marked with [`#[tool]`](crate::tool).
    pub fn tool(mut self, tool: impl IntoTool<D>) -> Self {
        self.config.tools.push(tool.into_tool());
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
        T: serde::Serialize + 'static,
        E: Into<ToolError>,
        F: Fn(RunContext<D>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
    {
        self.tool(Tool::new(name, description, f))
    }

    /// Add a [`Toolset`]: its tools are offered next to the
    /// agent's own, computed at every step. A name two toolsets share is an
    /// [`Error::User`](crate::Error::User) when the step's tools are collected.
    pub fn toolset(mut self, toolset: impl Toolset<D> + 'static) -> Self {
        self.config.toolsets.push(Arc::new(toolset));
        self
    }

    /// Offer a tool the provider runs itself (web search, code execution, web fetch),
    /// next to the agent's own tools. A model whose wire API has no such tool fails the
    /// request with [`Error::User`](crate::Error::User) instead of dropping it.
    ///
    /// ```
    /// use verity::prelude::*;
    /// use verity::request::NativeTool;
    /// let agent = Agent::builder(TestModel::new())
    ///     .native_tool(NativeTool::web_search())
    ///     .build();
    /// # let _ = agent;
    /// ```
    pub fn native_tool(mut self, tool: crate::request::NativeTool) -> Self {
        self.config.native_tools.push(tool);
        self
    }

    /// One hook that sees all function-tool definitions of every step (the agent's own
    /// and its toolsets') and may change or drop them (PydanticAI's `prepare_tools`).
    pub fn prepare_tools<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(RunContext<D>, Vec<ToolDefinition>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<ToolDefinition>> + Send + 'static,
    {
        self.config.prepare_tools = Some(Arc::new(move |ctx, defs| Box::pin(f(ctx, defs))));
        self
    }

    /// Add a history processor ([`crate::history`]): it shapes the messages every model
    /// request sends (the run keeps its whole history); processors run in the order
    /// added, and what they return is repaired so a provider accepts it.
    pub fn history_processor(mut self, processor: HistoryProcessor<D>) -> Self {
        self.config.history_processors.push(processor);
        self
    }

    /// Add a history processor from an async function of the run context and the
    /// messages.
    pub fn history_processor_fn<F, Fut>(self, f: F) -> Self
    where
        F: Fn(RunContext<D>, Vec<ModelMessage>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<ModelMessage>> + Send + 'static,
    {
        self.history_processor(Arc::new(move |ctx, messages| Box::pin(f(ctx, messages))))
    }

    /// Choose how structured output is requested (tool, native or prompted).
    pub fn output_mode(mut self, mode: OutputMode) -> Self {
        self.config.output = self.config.output.with_mode(mode);
        self
    }

    /// Add an output validator: it may fix the output, or reject it with
    /// [`ModelRetry`](crate::ModelRetry) to make the model try again. From here on the
    /// output and deps types are fixed.
    pub fn output_validator<F, Fut, E>(mut self, f: F) -> AgentBuilder<D, O, OutputFixed>
    where
        F: Fn(RunContext<D>, O) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<O, E>> + Send + 'static,
        E: Into<ToolError>,
    {
        let f = Arc::new(f);
        self.config.output_validators.push(Arc::new(move |ctx, o| {
            let fut = f(ctx, o);
            Box::pin(async move { fut.await.map_err(Into::into) })
        }));
        AgentBuilder {
            config: self.config,
            state: std::marker::PhantomData,
        }
    }

    /// How many times invalid output is sent back for another try (default 1).
    pub fn output_retries(mut self, retries: u32) -> Self {
        self.config.common.output_retries = retries;
        self
    }

    /// Bound every call of the agent's own tools that set no timeout of their own
    /// (PydanticAI's `tool_timeout`): past it, the model gets the retry prompt "Timed out
    /// after N seconds.". Toolsets take [`ToolsetExt::with_timeout`](crate::toolsets::ToolsetExt::with_timeout).
    pub fn tool_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.config.tool_timeout = Some(timeout);
        self
    }

    /// How many retries each tool is allowed unless it sets its own (default 1).
    pub fn retries(mut self, retries: u32) -> Self {
        self.config.common.tool_retries = retries;
        self
    }

    /// Model settings of the agent (laid over the model's, under the run's).
    pub fn settings(mut self, settings: ModelSettings) -> Self {
        self.config.common.settings = settings;
        self
    }

    /// Usage limits of every run (default: 50 requests).
    pub fn usage_limits(mut self, limits: UsageLimits) -> Self {
        self.config.common.usage_limits = limits;
        self
    }

    /// What happens to other tool calls once a final result is found.
    pub fn end_strategy(mut self, strategy: EndStrategy) -> Self {
        self.config.common.end_strategy = strategy;
        self
    }

    /// Finish building.
    pub fn build(mut self) -> Agent<D, O> {
        if let Some(timeout) = self.config.tool_timeout {
            self.config.tools = std::mem::take(&mut self.config.tools)
                .into_iter()
                .map(|t| t.with_default_timeout(timeout))
                .collect();
        }
        let mut seen = std::collections::HashSet::new();
        let duplicate_tool = self
            .config
            .tools
            .iter()
            .map(Tool::name)
            .find(|name| !seen.insert(*name))
            .map(str::to_owned);
        Agent {
            inner: Arc::new(AgentInner {
                config: self.config,
                duplicate_tool,
                params_cache: Default::default(),
            }),
        }
    }
}

/// An agent's tools taken out of it by [`Agent::split_tools`].
pub struct AgentTools<D> {
    /// The agent's own tools ([`AgentBuilder::tool`]), with their retries, timeouts,
    /// `prepare` hooks and sequential flags.
    pub own: crate::FunctionToolset<D>,
    /// Its toolsets ([`AgentBuilder::toolset`]), in the order they were added.
    pub toolsets: Vec<Arc<dyn Toolset<D>>>,
}

impl<D> std::fmt::Debug for AgentTools<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentTools")
            .field("toolsets", &self.toolsets.len())
            .finish_non_exhaustive()
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> Agent<D, O> {
    /// This agent without its tools, and the tools: its own as a
    /// [`FunctionToolset`](crate::FunctionToolset), and its toolsets. A run of the first
    /// given them back ([`RunRequest::toolset`], own tools first, each wrapped as you
    /// need) offers and calls the same tools: for wrappers that must see every tool call
    /// and tool list, as durable execution journals each.
    ///
    /// ```
    /// use verity::prelude::*;
    ///
    /// /// Add two numbers.
    /// #[tool]
    /// async fn add(a: i64, b: i64) -> i64 { a + b }
    ///
    /// let agent = Agent::builder(TestModel::new()).tool(Add).build();
    /// let (bare, tools) = agent.split_tools();
    /// let result = bare.run("add").toolset(tools.own).blocking().unwrap();
    /// assert_eq!(result.output, r#"{"add":0}"#);
    /// ```
    pub fn split_tools(&self) -> (Agent<D, O>, AgentTools<D>) {
        let mut config = self.inner.config.clone();
        let mut own = crate::FunctionToolset::new("the agent's tools");
        for tool in std::mem::take(&mut config.tools) {
            own.add(tool);
        }
        let toolsets = std::mem::take(&mut config.toolsets);
        let bare = Agent {
            inner: Arc::new(AgentInner {
                config,
                duplicate_tool: self.inner.duplicate_tool.clone(),
                params_cache: Default::default(),
            }),
        };
        (bare, AgentTools { own, toolsets })
    }

    /// Whether runs may stop at deferred tool calls (the agent was built with
    /// [`AgentBuilder::deferrable`]).
    pub fn is_deferrable(&self) -> bool {
        self.inner.config.deferred_output.is_some()
    }

    /// This agent with runs that may stop at deferred tool calls, as
    /// [`AgentBuilder::deferrable`] would have built it: same model, instructions, tools
    /// and output, the output wrapped in [`Deferrable`]. What a UI adapter uses when a
    /// client offers tools it runs itself (PydanticAI's adapters add
    /// `DeferredToolRequests` to the run's output type).
    ///
    /// ```
    /// use verity::prelude::*;
    ///
    /// let agent = Agent::builder(TestModel::new()).build();
    /// assert!(!agent.is_deferrable());
    /// let widened: Agent<(), Deferrable<String>> = agent.deferrable();
    /// assert!(widened.is_deferrable());
    /// ```
    pub fn deferrable(&self) -> Agent<D, Deferrable<O>> {
        let builder: AgentBuilder<D, O, OutputOpen> = AgentBuilder {
            config: self.inner.config.clone(),
            state: std::marker::PhantomData,
        };
        Agent {
            inner: Arc::new(AgentInner {
                config: builder.deferrable().config,
                duplicate_tool: self.inner.duplicate_tool.clone(),
                params_cache: Default::default(),
            }),
        }
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> Agent<D, O> {
    /// Start a run on a prompt. The returned [`RunRequest`] takes the run's options
    /// (deps, history, model, settings, limits) and is then awaited, streamed
    /// ([`stream`](RunRequest::stream)), stepped through ([`iter`](RunRequest::iter)) or
    /// run to completion from synchronous code ([`blocking`](RunRequest::blocking)):
    ///
    /// ```
    /// # use verity::prelude::*;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let agent = Agent::builder(TestModel::new()).deps_type::<String>().build();
    /// let result = agent.run("hello").deps("a dependency".to_string()).await.unwrap();
    /// assert_eq!(result.output, "success (no tool calls)");
    /// # });
    /// ```
    pub fn run(&self, prompt: impl Into<crate::messages::UserPrompt>) -> RunRequest<D, O> {
        RunRequest::new(self.clone(), Some(prompt.into()))
    }

    /// Resume a run that stopped at deferred tool calls ([`crate::deferred`]): give its
    /// messages with [`message_history`](RunRequest::message_history); the calls are
    /// answered with `results` (approved calls run, denied ones tell the model why,
    /// external results are returned) and the run goes on from there, without a new
    /// prompt. To add one, use [`run`](Self::run) with
    /// [`deferred_results`](RunRequest::deferred_results).
    ///
    /// Nothing runs unless every pending call has a decision made for exactly that call
    /// (tool name and arguments); otherwise the run fails with a
    /// [`DeferredError`](crate::deferred::DeferredError).
    pub fn resume(&self, results: DeferredToolResults) -> RunRequest<D, O> {
        RunRequest::new(self.clone(), None).deferred_results(results)
    }

    /// The agent's name.
    pub fn name(&self) -> Option<&str> {
        self.inner.config.common.name.as_deref()
    }

    /// The agent's model.
    pub fn model(&self) -> &ModelRef {
        &self.inner.config.common.model
    }

    /// The agent's output specification.
    pub fn output_spec(&self) -> &OutputSpec<O> {
        &self.inner.config.output
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

/// Load a message history from JSON, to pass to [`RunRequest::message_history`].
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
