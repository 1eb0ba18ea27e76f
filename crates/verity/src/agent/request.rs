//! [`RunRequest`]: the one way to start a run — set its options, then await it, stream
//! it, step through it, or block on it.

use std::future::IntoFuture;

use futures::future::BoxFuture;

use super::capture::MessageCapture;
use super::run::AgentRun;
use super::state::RunState;
use super::{Agent, RunResult};
use crate::deferred::DeferredToolResults;
use crate::error::{Error, Result};
use crate::messages::{ModelMessage, UserPrompt};
use crate::model::{IntoModel, ModelRef};
use crate::run_stream::StreamedRun;
use crate::settings::ModelSettings;
use crate::usage::{SharedUsage, UsageLimits};

/// Where a run's dependencies come from: set with [`RunRequest::deps`], or the deps
/// type's `Default`. A run of an agent whose deps type has no default does not compile
/// until `.deps(..)` is called.
pub trait DepsSource<D> {
    /// The dependencies.
    fn into_deps(self) -> D;
}

/// No deps given: the deps type's `Default` is used.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultDeps;

/// Deps given with [`RunRequest::deps`].
#[derive(Debug, Clone)]
pub struct WithDeps<D>(D);

impl<D: Default> DepsSource<D> for DefaultDeps {
    fn into_deps(self) -> D {
        D::default()
    }
}

impl<D> DepsSource<D> for WithDeps<D> {
    fn into_deps(self) -> D {
        self.0
    }
}

/// A run about to start, made by [`Agent::run`]. Set options with the builder methods,
/// then:
/// - `.await` it for the [`RunResult`];
/// - [`stream`](Self::stream) it for text, partial output and events as they arrive;
/// - [`iter`](Self::iter) it to step through the run node by node;
/// - [`blocking`](Self::blocking) to run it from synchronous code.
///
/// ```
/// use verity::prelude::*;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let agent = Agent::builder(TestModel::new()).build();
/// let first = agent.run("Hello").await.unwrap();
/// let second = agent
///     .run("And again")
///     .message_history(first.all_messages().to_vec())
///     .usage_limits(UsageLimits { request_limit: Some(5), ..Default::default() })
///     .await
///     .unwrap();
/// assert_eq!(second.all_messages().len(), 4);
/// # });
/// ```
#[must_use = "a run request does nothing until it is awaited, streamed, iterated or blocked on"]
pub struct RunRequest<D, O, S = DefaultDeps> {
    agent: Agent<D, O>,
    prompt: Option<UserPrompt>,
    deps: S,
    message_history: Vec<ModelMessage>,
    model: Option<ModelRef>,
    settings: Option<ModelSettings>,
    usage_limits: Option<UsageLimits>,
    capture: Option<MessageCapture>,
    parent_usage: Option<SharedUsage>,
    toolsets: Vec<std::sync::Arc<dyn crate::toolsets::Toolset<D>>>,
    deferred: Option<DeferredToolResults>,
}

impl<D, O, S> std::fmt::Debug for RunRequest<D, O, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunRequest")
            .field("agent", &self.agent)
            .field("message_history", &self.message_history.len())
            .field("model", &self.model.as_ref().map(|m| m.model_name()))
            .field("settings", &self.settings)
            .field("usage_limits", &self.usage_limits)
            .finish_non_exhaustive()
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> RunRequest<D, O, DefaultDeps> {
    pub(super) fn new(agent: Agent<D, O>, prompt: Option<UserPrompt>) -> Self {
        RunRequest {
            agent,
            prompt,
            deps: DefaultDeps,
            message_history: Vec::new(),
            model: None,
            settings: None,
            usage_limits: None,
            capture: None,
            parent_usage: None,
            toolsets: Vec::new(),
            deferred: None,
        }
    }

    /// The dependencies handed to tools, instruction functions and validators.
    pub fn deps(self, deps: D) -> RunRequest<D, O, WithDeps<D>> {
        RunRequest {
            agent: self.agent,
            prompt: self.prompt,
            deps: WithDeps(deps),
            message_history: self.message_history,
            model: self.model,
            settings: self.settings,
            usage_limits: self.usage_limits,
            capture: self.capture,
            parent_usage: self.parent_usage,
            toolsets: self.toolsets,
            deferred: self.deferred,
        }
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static, S: DepsSource<D>> RunRequest<D, O, S> {
    /// Continue this conversation.
    pub fn message_history(mut self, history: Vec<ModelMessage>) -> Self {
        self.message_history = history;
        self
    }

    /// Use this model instead of the agent's.
    pub fn model(mut self, model: impl IntoModel) -> Self {
        self.model = Some(model.into_model());
        self
    }

    /// Lay these settings over the agent's.
    pub fn settings(mut self, settings: ModelSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Use these limits instead of the agent's.
    pub fn usage_limits(mut self, limits: UsageLimits) -> Self {
        self.usage_limits = Some(limits);
        self
    }

    /// Leave the run's messages in `capture` when it ends — above all when it fails,
    /// where the error does not carry them (see [`MessageCapture`]). Awaited, streamed
    /// and blocking runs capture; a run stepped through with [`iter`](Self::iter) has
    /// its messages at hand in [`AgentRun::messages`] instead.
    pub fn capture_messages(mut self, capture: &MessageCapture) -> Self {
        self.capture = Some(capture.clone());
        self
    }

    /// Run as part of another run (agent delegation, PydanticAI's `usage=ctx.usage`):
    /// this run counts from the other run's usage, stops at its limits as well as its
    /// own, and adds what it used to it when it ends. In a tool:
    /// `child.run(prompt).usage(ctx.shared_usage()).await`.
    pub fn usage(mut self, parent: SharedUsage) -> Self {
        self.parent_usage = Some(parent);
        self
    }

    /// Offer this [`Toolset`](crate::toolsets::Toolset)'s tools in this run only, next
    /// to the agent's.
    pub fn toolset(mut self, toolset: impl crate::toolsets::Toolset<D> + 'static) -> Self {
        self.toolsets.push(std::sync::Arc::new(toolset));
        self
    }

    /// Step through the run node by node (see [`AgentRun::next`]).
    pub fn iter(self) -> AgentRun<D, O> {
        // a test's override (agent.override_with(..).scope(..)) wins over the run's own
        let (model, deps) = match super::overrides::find::<D, O>(&self.agent) {
            None => (self.model, self.deps.into_deps()),
            Some((model, deps)) => (
                model.or(self.model),
                match deps {
                    Some(deps) => deps,
                    None => self.deps.into_deps(),
                },
            ),
        };
        let mut run = AgentRun::new(
            self.agent,
            self.prompt,
            deps,
            RunState::new(self.message_history),
            model,
            self.settings,
            self.usage_limits,
        );
        run.capture = self.capture;
        run.deferred_results = self.deferred;
        run.toolsets.extend(self.toolsets);
        if let Some(parent) = self.parent_usage {
            run.state.usage = parent.current();
            run.start_usage = run.state.usage.clone();
            run.parent_usage = Some(parent);
        }
        run
    }

    /// Run with the model's responses streamed: see [`StreamedRun`].
    pub fn stream(self) -> StreamedRun<D, O> {
        StreamedRun::start(self.iter())
    }

    /// Run to completion from synchronous code. Works from any thread; inside an async
    /// runtime it runs on a helper thread instead of panicking.
    pub fn blocking(self) -> Result<RunResult<O>>
    where
        D: Send,
        S: Send,
    {
        // started here, so that overrides scoped around this call apply
        let run = self.into_future();
        // and so does a scoped model-request switch
        let run = match crate::model::scoped_model_requests_setting() {
            Some(allow) => Box::pin(crate::model::with_model_requests_allowed(allow, run)),
            None => run,
        };
        let block = move || -> Result<RunResult<O>> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    Error::User(format!("cannot start a runtime for a blocking run: {e}"))
                })?;
            rt.block_on(run)
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(block).join().unwrap_or_else(|_| {
                    Err(Error::User(
                        "the blocking run's helper thread panicked".into(),
                    ))
                })
            })
        } else {
            block()
        }
    }
}

impl<D, O, S> RunRequest<D, O, S> {
    /// Answer the deferred tool calls the history ends with ([`crate::deferred`]) before
    /// this run's prompt: the answered calls' returns and the prompt go to the model in
    /// one request. See [`Agent::resume`] for a run without a new prompt.
    pub fn deferred_results(mut self, results: DeferredToolResults) -> Self {
        self.deferred = Some(results);
        self
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static, S: DepsSource<D>> IntoFuture
    for RunRequest<D, O, S>
{
    type Output = Result<RunResult<O>>;
    type IntoFuture = BoxFuture<'static, Result<RunResult<O>>>;

    /// The run's state lives on the heap: a spawned task that has not started yet holds
    /// a pointer instead of the whole state machine, and the state is not moved again
    /// while the run makes its requests.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.iter().run_to_end())
    }
}
