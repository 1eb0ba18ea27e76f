//! Durable Verity agent runs on [Restate](https://restate.dev).
//!
//! A [`DurableAgent`] wraps a Verity [`Agent`] and serves it as a Restate *virtual
//! object*: one object per conversation (its key), so that one conversation's runs are
//! serialized and its history is Restate state. Inside the `run` handler the agent's loop
//! runs as usual, but each model request and each tool call is a journaled step
//! (`ctx.run`): after a crash or a deploy, Restate replays the invocation, the journaled
//! steps return what they returned the first time, and the run goes on from the first
//! step that had not finished. Deps are never serialized: they live in the service
//! process ([`DurableAgent::with_deps`]).
//!
//! ```no_run
//! use verity::prelude::*;
//! use verity::toolsets::FunctionToolset;
//! use verity_restate::DurableAgent;
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Order {
//!     id: String,
//! }
//! let tools = FunctionToolset::<()>::new("shop").tool(Tool::new(
//!     "cancel_order",
//!     "Cancel an order.",
//!     |_ctx, o: Order| async move {
//!         // the same key on every attempt of this call: hand it to the shop's API
//!         let key = verity_restate::idempotency_key();
//!         Ok::<_, ToolError>(format!("cancelled {} ({key:?})", o.id))
//!     },
//! ));
//! let agent = Agent::builder(infer_model("openai:gpt-4o-mini")?).build();
//! let durable = DurableAgent::new("shop", agent).toolset(tools);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9080").await?;
//! verity_restate::serve(listener, [durable.into_service()?]).await;
//! # Ok(()) }
//! ```
//!
//! The object's handlers (called over Restate's ingress, e.g.
//! `POST http://localhost:8080/shop/<conversation>/run`):
//!
//! | handler | kind | input → output |
//! |---|---|---|
//! | `run` | exclusive | [`RunInput`] → [`RunOutput`] |
//! | `history` | shared | → the conversation's messages (PydanticAI's JSON) |
//! | `pending` | shared | → the [`PendingDecision`] a suspended run waits for, or `null` |
//! | `decide` | shared | [`DeferredToolResults`](verity::deferred::DeferredToolResults) → `null`; resumes the suspended run |
//! | `clear` | exclusive | → `null`; forgets the conversation |
//!
//! From Rust, [`IngressClient`] calls them.
//!
//! See the crate's README for the failure semantics: which steps can repeat, retry
//! policies, timeouts and terminal errors.

#![forbid(clippy::dbg_macro)]

mod client;
mod error;
mod journal;
mod service;

use std::collections::BTreeSet;
use std::sync::Arc;

pub use client::IngressClient;
pub use error::DurableError;
pub use journal::idempotency_key;
pub use restate_sdk;
pub use restate_sdk::context::RunRetryPolicy;
pub use service::{PendingDecision, RunInput, RunOutput, serve};

use serde::Serialize;
use verity::Agent;
use verity::deferred::{Deferrable, DeferredToolRequests};
use verity::toolsets::Toolset;

/// What a run's output is, for the handler: a value to return, or calls to wait on.
pub(crate) enum Outcome {
    Output(serde_json::Value),
    Deferred(DeferredToolRequests),
}

type OutcomeFn<O> = fn(&O) -> Result<Outcome, serde_json::Error>;

fn plain_outcome<O: Serialize>(output: &O) -> Result<Outcome, serde_json::Error> {
    serde_json::to_value(output).map(Outcome::Output)
}

fn deferrable_outcome<T: Serialize>(output: &Deferrable<T>) -> Result<Outcome, serde_json::Error> {
    match output {
        Deferrable::Output(o) => serde_json::to_value(o).map(Outcome::Output),
        Deferrable::Deferred(requests) => Ok(Outcome::Deferred(requests.clone())),
    }
}

/// An agent served durably on Restate, as a virtual object named
/// [`name`](Self::name) whose keys are conversation ids.
///
/// Every tool call is a journaled step, run at most once per successful journal entry
/// (see [`idempotency_key`] for the call in flight at a crash): the agent's own tools
/// (`AgentBuilder::tool`), its toolsets (`AgentBuilder::toolset`) and those given with
/// [`toolset`](Self::toolset), unless a tool is declared [pure](Self::pure_tool).
/// Each step's tool list of a toolset (an MCP server's `tools/list`) is journaled too.
pub struct DurableAgent<D, O> {
    name: String,
    agent: Agent<D, O>,
    deps: Arc<dyn Fn() -> D + Send + Sync>,
    toolsets: Vec<Arc<dyn Toolset<D>>>,
    pure_tools: Arc<BTreeSet<String>>,
    model_retry: Option<RunRetryPolicy>,
    tool_retry: Option<RunRetryPolicy>,
    outcome: OutcomeFn<O>,
    on_model_event: Option<ModelEventFn>,
}

/// What [`DurableAgent::on_model_event`] calls: the conversation's key and the event.
type ModelEventFn = Arc<dyn Fn(&str, &verity::stream::ModelStreamEvent) + Send + Sync>;

impl<D, O> std::fmt::Debug for DurableAgent<D, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableAgent")
            .field("name", &self.name)
            .field("agent", &self.agent)
            .field("toolsets", &self.toolsets.len())
            .field("pure_tools", &self.pure_tools)
            .field("model_retry", &self.model_retry)
            .field("tool_retry", &self.tool_retry)
            .finish_non_exhaustive()
    }
}

impl<D: Default + Send + Sync + 'static, O: Serialize + Send + Sync + 'static> DurableAgent<D, O> {
    /// Serve `agent` as the virtual object `name`, with the deps type's `Default` as the
    /// deps of every run. The output is returned as JSON (a `Deferrable` output is
    /// returned as it is: use [`with_approvals`](DurableAgent::with_approvals) to have a
    /// run wait for decisions instead).
    pub fn new(name: impl Into<String>, agent: Agent<D, O>) -> Self {
        Self::with_deps(name, agent, D::default)
    }
}

impl<D: Send + Sync + 'static, O: Serialize + Send + Sync + 'static> DurableAgent<D, O> {
    /// [`new`](Self::new) with deps made by `deps` for every run (and every replay) in
    /// this process: deps are never serialized.
    pub fn with_deps(
        name: impl Into<String>,
        agent: Agent<D, O>,
        deps: impl Fn() -> D + Send + Sync + 'static,
    ) -> Self {
        // the agent's own tools and toolsets go through the journal like those given
        // to the durable agent (own tools first: their list is not journaled)
        let (agent, tools) = agent.split_tools();
        let mut toolsets: Vec<Arc<dyn Toolset<D>>> = vec![Arc::new(tools.own)];
        toolsets.extend(tools.toolsets);
        DurableAgent {
            name: name.into(),
            agent,
            deps: Arc::new(deps),
            toolsets,
            pure_tools: Arc::new(BTreeSet::new()),
            model_retry: None,
            tool_retry: None,
            outcome: plain_outcome::<O>,
            on_model_event: None,
        }
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> DurableAgent<D, O> {
    /// The Restate service (virtual object) name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wrapped agent.
    pub fn agent(&self) -> &Agent<D, O> {
        &self.agent
    }

    /// Offer this toolset's tools in every run; each call is a journaled step (unless
    /// the tool is [pure](Self::pure_tool)), and so is its tool list at each step. An MCP
    /// server's toolset (`verity_mcp::McpServer`) works too: its `tools/list` and
    /// `tools/call` requests are journaled.
    pub fn toolset(mut self, toolset: impl Toolset<D> + 'static) -> Self {
        self.toolsets.push(Arc::new(toolset));
        self
    }

    /// Mark the tool `name` (of a [`toolset`](Self::toolset)) as pure: its calls are not
    /// journaled, run again on a replay, and run concurrently with the other calls of
    /// their batch. For tools without side effects whose result may differ on a replay
    /// without harm (the model's responses, which depend on them, are journaled).
    pub fn pure_tool(mut self, name: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.pure_tools).insert(name.into());
        self
    }

    /// The retry policy of each model request step. Without one, Restate's invocation
    /// retry policy applies (by default: retried with backoff, then paused).
    pub fn model_retry_policy(mut self, policy: RunRetryPolicy) -> Self {
        self.model_retry = Some(policy);
        self
    }

    /// The retry policy of each tool call step: it applies to a tool call that panics
    /// or whose future is lost, since every outcome of a call that returns (a value, a
    /// retry, a failure) is journaled as it is. Without one, Restate's invocation retry
    /// policy applies.
    pub fn tool_retry_policy(mut self, policy: RunRetryPolicy) -> Self {
        self.tool_retry = Some(policy);
        self
    }

    /// Stream each model request and hand its events, as they arrive, to `handler` in
    /// this process (with the conversation's key), e.g. to push text to a user's open
    /// connection. Only the final response is journaled: a request replayed from the
    /// journal is not made again, so its events are not handed over again, and a
    /// request retried after a failure hands over the new attempt's events.
    pub fn on_model_event(
        mut self,
        handler: impl Fn(&str, &verity::stream::ModelStreamEvent) + Send + Sync + 'static,
    ) -> Self {
        self.on_model_event = Some(Arc::new(handler));
        self
    }

    /// The Restate service definition, to bind to an endpoint
    /// (`Endpoint::builder().bind(..)`) or to hand to [`serve`].
    ///
    /// Fails when the name is not a valid Restate service name (letters, digits and
    /// `_`, not starting with a digit).
    pub fn into_service(self) -> Result<restate_sdk::service::ServiceDefinition, DurableError> {
        service::definition(self)
    }
}

impl<D: Send + Sync + 'static, T: Serialize + Send + Sync + 'static>
    DurableAgent<D, Deferrable<T>>
{
    /// Suspend a run that stops at deferred tool calls (tools that need an approval,
    /// or external results) until a decision arrives through the `decide` handler,
    /// then resume the same invocation with it; the run's output is then the agent's
    /// `T` (not a `Deferrable`).
    pub fn with_approvals(mut self) -> Self {
        self.outcome = deferrable_outcome::<T>;
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use verity::prelude::*;

    #[test]
    fn a_deferrable_output_is_unwrapped_only_with_approvals() {
        let out: Deferrable<String> = Deferrable::Output("hi".into());
        let Outcome::Output(v) = deferrable_outcome(&out).unwrap() else {
            panic!("expected an output")
        };
        assert_eq!(v, serde_json::json!("hi"));
        let Outcome::Output(v) = plain_outcome(&out).unwrap() else {
            panic!("expected an output")
        };
        assert_eq!(v, serde_json::json!({"Output": "hi"}));
        let deferred: Deferrable<String> = Deferrable::Deferred(DeferredToolRequests::default());
        assert!(matches!(
            deferrable_outcome(&deferred).unwrap(),
            Outcome::Deferred(_)
        ));
    }

    #[test]
    fn builder_records_pure_tools_and_name() {
        let agent = Agent::builder(TestModel::new()).build();
        let durable = DurableAgent::new("assistant", agent).pure_tool("echo");
        assert_eq!(durable.name(), "assistant");
        assert!(durable.pure_tools.contains("echo"));
    }
}
