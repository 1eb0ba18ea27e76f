//! The journaling bridge: a [`Model`] and a [`Toolset`] wrapper that hand each model
//! request and each tool call to the Restate handler, which runs it as a journaled step
//! (`ctx.run`) and hands the journaled result back.
//!
//! The wrappers live inside the agent's run (a `'static` future), the Restate context
//! lives in the handler: they meet over a channel. The handler polls the run and the
//! channel's receiver in the same task, and runs one step at a time, in the order the
//! steps were sent: the SDK cannot await journaled steps concurrently, and a replay must
//! meet the steps in the order they were journaled. A toolset's `call` sends its step
//! synchronously, when the run asks for the call (the run asks in call order, also for a
//! batch that then runs concurrently), so the order is the model's call order.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use verity::messages::{ModelMessage, ModelResponse};
use verity::model::{Model, ModelProfile, ModelRef, ModelRequestParameters, ToolDefinition};
use verity::request::ToolKind;
use verity::settings::ModelSettings;
use verity::tools::{Deferral, DeferralKind, Rejection, ReturnExtras, ToolCallError};
use verity::toolsets::{ToolFuture, Toolset, ToolsetTool};
use verity::validation::ValidationErrors;
use verity::{Error, RunContext};

tokio::task_local! {
    static IDEMPOTENCY_KEY: Arc<str>;
}

/// The idempotency key of the journaled tool call running now: the Restate invocation
/// id and the tool call id, as `"{invocation_id}/{tool_call_id}"`. It is the same on
/// every attempt of the call (a retry after a failure, or a replay after a crash while
/// the call was in flight), so a tool can hand it to the system it changes (a payment
/// API's `Idempotency-Key`, a unique row) and make a repeated attempt harmless.
///
/// `None` outside a journaled tool call (a pure tool, a plain run, a task the tool
/// spawned).
pub fn idempotency_key() -> Option<String> {
    IDEMPOTENCY_KEY.try_with(|k| k.to_string()).ok()
}

/// A step the run asks the handler to journal.
pub(crate) enum Step {
    /// One model request; only its response is journaled.
    Model(Box<ModelStep>),
    /// One tool call; its outcome (a value, a retry, a denial or deferral, a failure)
    /// is journaled as data.
    Tool {
        name: String,
        call_id: String,
        call: Box<dyn FnOnce() -> BoxFuture<'static, ToolOutcome> + Send>,
        reply: oneshot::Sender<ToolOutcome>,
    },
    /// A toolset's tool list at a step (an MCP server's `tools/list`); the list is
    /// journaled, so a replay offers and dispatches the same tools.
    ListTools {
        label: String,
        list: ListFn,
        reply: oneshot::Sender<Result<Vec<ToolsetTool>, Error>>,
    },
}

/// What lists a toolset's tools for a [`Step::ListTools`].
pub(crate) type ListFn =
    Box<dyn FnOnce() -> BoxFuture<'static, Result<Vec<ToolsetTool>, Error>> + Send>;

/// A tool of a journaled tool list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ListedTool {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    parameters: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
    kind: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    extra_fields: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_retries: Option<u32>,
    #[serde(default)]
    sequential: bool,
}

impl ListedTool {
    /// The tool as journaled; `None` for a tool kind this crate does not know.
    pub(crate) fn of(tool: &ToolsetTool) -> Option<ListedTool> {
        let def = &tool.definition;
        let kind = match def.kind {
            ToolKind::Function => "function",
            ToolKind::Output => "output",
            ToolKind::External => "external",
            ToolKind::Unapproved => "unapproved",
            _ => return None,
        };
        Some(ListedTool {
            name: def.name.clone(),
            description: def.description.clone(),
            parameters: def.parameters_json_schema.clone(),
            strict: def.strict,
            kind: kind.to_owned(),
            extra_fields: def.extra_fields.clone(),
            max_retries: tool.max_retries,
            sequential: tool.sequential,
        })
    }

    /// The journaled tool as the run sees it; `None` for a kind this crate does not know.
    pub(crate) fn into_tool(self) -> Option<ToolsetTool> {
        let kind = match self.kind.as_str() {
            "function" => ToolKind::Function,
            "output" => ToolKind::Output,
            "external" => ToolKind::External,
            "unapproved" => ToolKind::Unapproved,
            _ => return None,
        };
        let mut definition =
            ToolDefinition::new(self.name, self.parameters).with_strict(self.strict);
        definition.description = self.description;
        definition.kind = kind;
        definition.extra_fields = self.extra_fields;
        let mut tool = ToolsetTool::new(definition);
        tool.max_retries = self.max_retries;
        tool.sequential = self.sequential;
        Some(tool)
    }
}

/// One model request to journal.
pub(crate) struct ModelStep {
    pub(crate) model: ModelRef,
    pub(crate) messages: Vec<ModelMessage>,
    pub(crate) settings: ModelSettings,
    pub(crate) params: ModelRequestParameters,
    pub(crate) reply: oneshot::Sender<Result<ModelResponse, Error>>,
}

/// A tool call's outcome, as it is journaled: every way a call ends is data, so that a
/// replay hands the run exactly what the first execution did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum ToolOutcome {
    /// The tool's return value, and what it returned besides (a `ToolReturn`'s content
    /// and metadata).
    Return {
        value: Value,
        #[serde(default, skip_serializing_if = "ReturnExtras::is_empty")]
        extras: ReturnExtras,
    },
    /// The tool asked the model to try again (`ModelRetry`).
    Retry { message: String },
    /// The arguments did not validate.
    Invalid { errors: Vec<Value> },
    /// The call waits for an approval or an external result.
    Deferred {
        approval: bool,
        metadata: Option<Value>,
    },
    /// The tool failed; the run ends with this message.
    Failed { message: String },
}

impl From<Result<Value, ToolCallError>> for ToolOutcome {
    fn from(result: Result<Value, ToolCallError>) -> Self {
        match result {
            Ok(value) => ToolOutcome::Return {
                value,
                extras: ReturnExtras::default(),
            },
            Err(ToolCallError::Rejected(Rejection::Retry(message))) => {
                ToolOutcome::Retry { message }
            }
            Err(ToolCallError::Rejected(Rejection::Invalid(errors))) => {
                ToolOutcome::Invalid { errors: errors.0 }
            }
            Err(ToolCallError::Deferred(deferral)) => ToolOutcome::Deferred {
                approval: deferral.kind == DeferralKind::Approval,
                metadata: deferral.metadata,
            },
            Err(ToolCallError::Failed(e)) => ToolOutcome::Failed {
                message: e.to_string(),
            },
        }
    }
}

impl From<ToolOutcome> for Result<Value, ToolCallError> {
    fn from(outcome: ToolOutcome) -> Self {
        match outcome {
            ToolOutcome::Return { value, .. } => Ok(value),
            ToolOutcome::Retry { message } => {
                Err(ToolCallError::Rejected(Rejection::Retry(message)))
            }
            ToolOutcome::Invalid { errors } => Err(ToolCallError::Rejected(Rejection::Invalid(
                ValidationErrors(errors),
            ))),
            ToolOutcome::Deferred { approval, metadata } => {
                Err(ToolCallError::Deferred(Deferral {
                    kind: if approval {
                        DeferralKind::Approval
                    } else {
                        DeferralKind::External
                    },
                    metadata,
                }))
            }
            ToolOutcome::Failed { message } => {
                Err(ToolCallError::Failed(Box::new(JournaledFailure(message))))
            }
        }
    }
}

/// A tool failure read back from the journal (its message as the tool gave it).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct JournaledFailure(String);

/// Run `call` with the idempotency key of `key` visible to it.
pub(crate) async fn with_idempotency_key<T>(
    key: Arc<str>,
    fut: impl std::future::Future<Output = T>,
) -> T {
    IDEMPOTENCY_KEY.scope(key, fut).await
}

/// The model of a durable run: every request goes to the handler as a journaled step.
pub(crate) struct JournaledModel {
    inner: ModelRef,
    steps: mpsc::UnboundedSender<Step>,
}

impl JournaledModel {
    pub(crate) fn new(inner: ModelRef, steps: mpsc::UnboundedSender<Step>) -> Self {
        JournaledModel { inner, steps }
    }
}

fn bridge_closed(model_name: &str) -> Error {
    Error::ModelApi {
        model_name: model_name.to_owned(),
        message: "the durable run's step channel closed".to_owned(),
    }
}

impl Model for JournaledModel {
    fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> impl std::future::Future<Output = verity::Result<ModelResponse>> + Send {
        let (reply, response) = oneshot::channel();
        let sent = self.steps.send(Step::Model(Box::new(ModelStep {
            model: Arc::clone(&self.inner),
            messages: messages.to_vec(),
            settings: settings.clone(),
            params: params.clone(),
            reply,
        })));
        let name = self.inner.model_name().to_owned();
        async move {
            if sent.is_err() {
                return Err(bridge_closed(&name));
            }
            response.await.map_err(|_| bridge_closed(&name))?
        }
    }

    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn system(&self) -> &str {
        self.inner.system()
    }

    fn base_url(&self) -> Option<&str> {
        self.inner.base_url()
    }

    fn profile(&self) -> &ModelProfile {
        self.inner.profile()
    }

    fn settings(&self) -> Option<&ModelSettings> {
        self.inner.settings()
    }
}

/// A toolset of a durable run: each call of a tool not named pure goes to the handler
/// as a journaled step; pure tools run as they are (again on a replay, and concurrently
/// with the other calls of their batch).
pub(crate) struct JournaledToolset<D> {
    inner: Arc<dyn Toolset<D>>,
    pure: Arc<BTreeSet<String>>,
    steps: mpsc::UnboundedSender<Step>,
    /// Whether each step's tool list is journaled too (a toolset given to the durable
    /// agent, e.g. an MCP server's; the agent's own tools list the same every time).
    journal_list: bool,
}

impl<D> JournaledToolset<D> {
    pub(crate) fn new(
        inner: Arc<dyn Toolset<D>>,
        pure: Arc<BTreeSet<String>>,
        steps: mpsc::UnboundedSender<Step>,
        journal_list: bool,
    ) -> Self {
        JournaledToolset {
            inner,
            pure,
            steps,
            journal_list,
        }
    }
}

impl<D: Send + Sync + 'static> Toolset<D> for JournaledToolset<D> {
    fn label(&self) -> String {
        format!("journaled {}", self.inner.label())
    }

    fn tools<'a>(
        &'a self,
        ctx: &'a RunContext<D>,
    ) -> BoxFuture<'a, verity::Result<Vec<ToolsetTool>>> {
        if !self.journal_list {
            return self.inner.tools(ctx);
        }
        let (reply, listed) = oneshot::channel();
        let inner = Arc::clone(&self.inner);
        let ctx = ctx.clone();
        // sent now, in the order the run asks (toolset by toolset)
        let sent = self.steps.send(Step::ListTools {
            label: self.inner.label(),
            list: Box::new(move || Box::pin(async move { inner.tools(&ctx).await })),
            reply,
        });
        Box::pin(async move {
            if sent.is_err() {
                return Err(Error::User(
                    "the durable run's step channel closed".to_owned(),
                ));
            }
            listed.await.unwrap_or_else(|_| {
                Err(Error::User(
                    "the durable run ended before the tool list was journaled".to_owned(),
                ))
            })
        })
    }

    fn call(&self, ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture {
        if self.pure.contains(name) {
            return self.inner.call(ctx, name, args);
        }
        let (reply, outcome) = oneshot::channel();
        let inner = Arc::clone(&self.inner);
        let call_id = ctx.tool_call_id().unwrap_or_default().to_owned();
        let owned_name = name.to_owned();
        // sent now, in the order the run asks for the calls (the model's call order)
        // shares the call's place for what it returns besides its value
        let call_ctx = ctx.clone();
        let sent = self.steps.send(Step::Tool {
            name: name.to_owned(),
            call_id,
            call: Box::new(move || {
                let probe = ctx.clone();
                let call = inner.call(ctx, &owned_name, args);
                Box::pin(async move {
                    match ToolOutcome::from(call.await) {
                        ToolOutcome::Return { value, .. } => ToolOutcome::Return {
                            value,
                            extras: probe.return_extras().unwrap_or_default(),
                        },
                        other => other,
                    }
                })
            }),
            reply,
        });
        Box::pin(async move {
            if sent.is_err() {
                return Err(ToolCallError::Failed(Box::new(JournaledFailure(
                    "the durable run's step channel closed".to_owned(),
                ))));
            }
            match outcome.await {
                Ok(outcome) => {
                    // a replayed call did not run: put back what it returned besides
                    if let ToolOutcome::Return { extras, .. } = &outcome
                        && !extras.is_empty()
                    {
                        call_ctx.record_return_extras(extras.clone());
                    }
                    outcome.into()
                }
                Err(_) => Err(ToolCallError::Failed(Box::new(JournaledFailure(
                    "the durable run ended before the tool call was journaled".to_owned(),
                )))),
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn tool_outcomes_round_trip_through_json_and_back_into_results() {
        let outcomes = [
            ToolOutcome::Return {
                value: serde_json::json!({"a": 1}),
                extras: ReturnExtras::default(),
            },
            ToolOutcome::Retry {
                message: "again".into(),
            },
            ToolOutcome::Invalid {
                errors: vec![serde_json::json!({"type": "missing", "loc": ["a"]})],
            },
            ToolOutcome::Deferred {
                approval: true,
                metadata: Some(serde_json::json!({"why": "money"})),
            },
            ToolOutcome::Deferred {
                approval: false,
                metadata: None,
            },
            ToolOutcome::Failed {
                message: "boom".into(),
            },
        ];
        for outcome in outcomes {
            let json = serde_json::to_string(&outcome).unwrap();
            let back: ToolOutcome = serde_json::from_str(&json).unwrap();
            assert_eq!(back, outcome);
            let result: Result<Value, ToolCallError> = back.into();
            assert_eq!(ToolOutcome::from(result), outcome);
        }
    }

    #[tokio::test]
    async fn the_idempotency_key_is_visible_only_inside_its_scope() {
        assert_eq!(idempotency_key(), None);
        let seen = with_idempotency_key(Arc::from("inv/call_1"), async { idempotency_key() }).await;
        assert_eq!(seen.as_deref(), Some("inv/call_1"));
        assert_eq!(idempotency_key(), None);
    }
}
