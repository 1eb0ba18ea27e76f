//! [`Override`]: another model or deps for an agent, for the runs started inside a scope
//! (PydanticAI's `agent.override(..)`), so that tests can replace the model of an agent
//! that application code holds without changing that code.

use std::any::Any;
use std::future::IntoFuture;
use std::sync::Arc;

use super::Agent;
use crate::model::{IntoModel, ModelRef};

type DepsFn<D> = Arc<dyn Fn() -> D + Send + Sync>;

/// What to replace in the runs of an agent inside an
/// [`OverrideScope`]: made with [`new`](Self::new), applied with
/// [`Agent::override_with`].
///
/// An overridden model or deps wins over the agent's and over the one given to the run
/// itself with [`RunRequest::model`](super::RunRequest::model) or
/// [`RunRequest::deps`](super::RunRequest::deps), as in PydanticAI.
pub struct Override<D> {
    model: Option<ModelRef>,
    deps: Option<DepsFn<D>>,
}

impl<D> std::fmt::Debug for Override<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Override")
            .field("model", &self.model.as_ref().map(|m| m.model_name()))
            .field("deps", &self.deps.is_some())
            .finish()
    }
}

impl<D> Default for Override<D> {
    fn default() -> Self {
        Override {
            model: None,
            deps: None,
        }
    }
}

impl<D> Override<D> {
    /// Nothing overridden yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Run with this model.
    pub fn model(mut self, model: impl IntoModel) -> Self {
        self.model = Some(model.into_model());
        self
    }
}

impl<D: Clone + Send + Sync + 'static> Override<D> {
    /// Run with (a clone of) these deps.
    pub fn deps(mut self, deps: D) -> Self {
        self.deps = Some(Arc::new(move || deps.clone()));
        self
    }
}

/// An agent and what to override in its runs: [`scope`](Self::scope) a future with it.
/// Made by [`Agent::override_with`].
#[must_use = "an override does nothing until a future is scoped with it"]
pub struct OverrideScope<D, O> {
    agent: Agent<D, O>,
    over: Override<D>,
}

impl<D, O> std::fmt::Debug for OverrideScope<D, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverrideScope")
            .field("agent", &self.agent)
            .field("override", &self.over)
            .finish()
    }
}

#[derive(Clone)]
struct Entry {
    /// The agent's identity: the address of its shared state.
    agent: usize,
    model: Option<ModelRef>,
    /// A `DepsFn<D>` of the agent's deps type.
    deps: Option<Arc<dyn Any + Send + Sync>>,
}

tokio::task_local! {
    static OVERRIDES: Vec<Entry>;
}

fn identity<D, O>(agent: &Agent<D, O>) -> usize {
    Arc::as_ptr(&agent.inner).cast::<()>() as usize
}

impl<D: Send + Sync + 'static, O> OverrideScope<D, O> {
    /// Run `future` with the override in force: every run of the agent started inside
    /// it, on the task that polls it, uses the overridden model and deps. Runs on other
    /// tasks (tests running in parallel) see the agent unchanged. Scopes nest; an inner
    /// one keeps what it does not override from the outer one.
    pub async fn scope<F: IntoFuture>(self, future: F) -> F::Output {
        let key = identity(&self.agent);
        let mut entries = OVERRIDES.try_with(Clone::clone).unwrap_or_default();
        let outer = entries.iter().rev().find(|e| e.agent == key).cloned();
        let deps = self
            .over
            .deps
            .map(|f| Arc::new(f) as Arc<dyn Any + Send + Sync>);
        entries.push(Entry {
            agent: key,
            model: self
                .over
                .model
                .or_else(|| outer.as_ref().and_then(|o| o.model.clone())),
            deps: deps.or_else(|| outer.and_then(|o| o.deps)),
        });
        // the agent is held for the scope's length: its address is not reused meanwhile
        let _agent = self.agent;
        OVERRIDES.scope(entries, future.into_future()).await
    }
}

/// The overridden model and deps for a run of `agent` starting now, if any.
pub(super) fn find<D: 'static, O>(agent: &Agent<D, O>) -> Option<(Option<ModelRef>, Option<D>)> {
    OVERRIDES
        .try_with(|entries| {
            let key = identity(agent);
            entries.iter().rev().find(|e| e.agent == key).map(|e| {
                let deps = e
                    .deps
                    .as_ref()
                    .and_then(|d| d.downcast_ref::<DepsFn<D>>())
                    .map(|f| f());
                (e.model.clone(), deps)
            })
        })
        .ok()
        .flatten()
}

impl<D, O> Agent<D, O> {
    /// Override this agent's model and/or deps for the runs started inside a scope,
    /// without touching the code that runs it (PydanticAI's `agent.override(..)`).
    ///
    /// ```
    /// use verity::prelude::*;
    /// use verity::agent::Override;
    ///
    /// async fn app_code(agent: &Agent) -> String {
    ///     agent.run("hello").await.unwrap().output
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let agent = Agent::builder(FunctionModel::new(|_, _| ModelResponse::text("real"))).build();
    /// let output = agent
    ///     .override_with(Override::new().model(TestModel::new().with_output_text("fake")))
    ///     .scope(app_code(&agent))
    ///     .await;
    /// assert_eq!(output, "fake");
    /// assert_eq!(app_code(&agent).await, "real"); // outside the scope
    /// # });
    /// ```
    pub fn override_with(&self, over: Override<D>) -> OverrideScope<D, O> {
        OverrideScope {
            agent: self.clone(),
            over,
        }
    }
}
