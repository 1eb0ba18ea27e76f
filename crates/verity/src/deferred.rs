//! Deferred tool calls and human-in-the-loop approval (PydanticAI's deferred tools).
//!
//! Some tool calls cannot run inside the run that made them: a tool that needs a
//! person's approval first ([`Tool::with_requires_approval`](crate::Tool::with_requires_approval),
//! or a tool returning [`ToolError::ApprovalRequired`](crate::ToolError::ApprovalRequired)
//! for the calls it decides need one), and a tool someone else executes
//! ([`ExternalToolset`](crate::toolsets::ExternalToolset), or a tool returning
//! [`ToolError::CallDeferred`](crate::ToolError::CallDeferred)). When the model makes such
//! a call, the run ends with a [`DeferredToolRequests`] as its output — which the agent's
//! output type must allow: [`AgentBuilder::deferrable`](crate::agent::AgentBuilder::deferrable)
//! makes it [`Deferrable<O>`]. The caller gathers a [`DeferredToolResults`] (one decision
//! per pending call) and resumes with
//! [`Agent::resume`](crate::Agent::resume) and the run's messages.
//!
//! Resuming fails closed, before any tool runs: every pending call needs a decision, a
//! decision is bound to the tool name and arguments of the call it was made for (made
//! from the [`ToolCallPart`] the approver saw), and a decision for a call that is not
//! pending is refused — each with a typed [`DeferredError`].
//!
//! ```
//! use verity::prelude::*;
//! use verity::deferred::{Deferrable, DeferredToolResults};
//! use verity::models::function::{AgentInfo, FunctionModel};
//! use verity::messages::{ModelMessage, ModelResponse};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Path {
//!     path: String,
//! }
//!
//! // a model that deletes a file, then reports what happened
//! let model = FunctionModel::new(|messages: &[ModelMessage], _: &AgentInfo| {
//!     if messages.len() == 1 {
//!         ModelResponse::tool_call("delete_file", serde_json::json!({"path": "notes.txt"}))
//!     } else {
//!         ModelResponse::text(verity::messages::last_tool_returns(messages)[0].model_response_str())
//!     }
//! });
//! let agent = Agent::builder(model)
//!     .tool(
//!         Tool::new("delete_file", "Delete a file.", |_ctx, a: Path| async move {
//!             Ok::<_, ToolError>(format!("deleted {}", a.path))
//!         })
//!         .with_requires_approval(true),
//!     )
//!     .deferrable()
//!     .build();
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let first = agent.run("Delete notes.txt").await.unwrap();
//! let Deferrable::Deferred(requests) = &first.output else { panic!("expected a request") };
//! let mut results = DeferredToolResults::new();
//! for call in &requests.approvals {
//!     results.approve(call); // or results.deny(call, "Not today")
//! }
//! let second = agent
//!     .resume(results)
//!     .message_history(first.all_messages().to_vec())
//!     .await
//!     .unwrap();
//! assert_eq!(second.output, Deferrable::Output("deleted notes.txt".to_string()));
//! # });
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::messages::ToolCallPart;

/// The output of an agent whose runs may end waiting on deferred tool calls (made by
/// [`AgentBuilder::deferrable`](crate::agent::AgentBuilder::deferrable)): PydanticAI's
/// `output_type=[O, DeferredToolRequests]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Deferrable<O> {
    /// The run produced its output.
    Output(O),
    /// The run stopped at tool calls that wait for an approval or an external result.
    Deferred(DeferredToolRequests),
}

impl<O> Deferrable<O> {
    /// The output, if the run produced one.
    pub fn output(&self) -> Option<&O> {
        match self {
            Deferrable::Output(o) => Some(o),
            Deferrable::Deferred(_) => None,
        }
    }

    /// The pending calls, if the run stopped at some.
    pub fn deferred(&self) -> Option<&DeferredToolRequests> {
        match self {
            Deferrable::Deferred(d) => Some(d),
            Deferrable::Output(_) => None,
        }
    }

    /// The output, consuming this value; `None` when the run stopped at deferred calls.
    pub fn into_output(self) -> Option<O> {
        match self {
            Deferrable::Output(o) => Some(o),
            Deferrable::Deferred(_) => None,
        }
    }
}

/// The tool calls a run stopped at (PydanticAI's `DeferredToolRequests`, same JSON).
/// The run's messages hold the response that made them; resume with a
/// [`DeferredToolResults`] and those messages.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeferredToolRequests {
    /// Calls to be executed outside the run; answer each with an [`ExternalResult`].
    #[serde(default)]
    pub calls: Vec<ToolCallPart>,
    /// Calls waiting for approval; answer each with a [`ToolApproval`].
    #[serde(default)]
    pub approvals: Vec<ToolCallPart>,
    /// What the tools attached to their deferral, by tool call id.
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
}

impl DeferredToolRequests {
    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.approvals.is_empty()
    }

    /// Results approving every call waiting for approval as it is (external calls still
    /// need their results).
    pub fn approve_all(&self) -> DeferredToolResults {
        let mut results = DeferredToolResults::new();
        for call in &self.approvals {
            results.approve(call);
        }
        results
    }
}

/// A decision on a call waiting for approval (PydanticAI's `ToolApproved` /
/// `ToolDenied`, same JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum ToolApproval {
    /// Run the tool, with these arguments instead of the model's when given.
    #[serde(rename = "tool-approved")]
    Approved {
        /// Arguments to run the tool with instead of the model's.
        #[serde(default)]
        override_args: Option<Value>,
    },
    /// Do not run the tool; the model is told this message instead.
    #[serde(rename = "tool-denied")]
    Denied {
        /// What the model is told.
        #[serde(default = "default_denial")]
        message: String,
    },
}

/// What the model is told about a denied call unless the denial says otherwise.
pub const DEFAULT_DENIAL: &str = "The tool call was denied.";

fn default_denial() -> String {
    DEFAULT_DENIAL.to_owned()
}

/// The result of a call executed outside the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum ExternalResult {
    /// The tool's return value.
    Return(Value),
    /// Ask the model to try again with this message (counts against the tool's retries).
    Retry(String),
    /// The call failed; the model is told this message (outcome `failed`, no retry).
    Failed(String),
}

/// The answer to one pending call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DeferredAnswer {
    /// For a call waiting for approval.
    Approval(ToolApproval),
    /// For a call executed outside the run.
    External(ExternalResult),
}

/// One pending call's answer, bound to the call it was made for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeferredDecision {
    /// The tool the decision was made for.
    pub tool_name: String,
    /// The arguments the decision was made for (as the model sent them).
    pub args: Value,
    /// The answer.
    pub answer: DeferredAnswer,
}

/// The answers to a run's deferred calls, by tool call id (PydanticAI's
/// `DeferredToolResults`). Each answer is made from the [`ToolCallPart`] it answers and
/// keeps that call's tool name and arguments: a resumed run checks them against the
/// history and refuses to run a tool whose call differs from the one decided on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeferredToolResults {
    /// The decisions, by tool call id.
    #[serde(default)]
    pub decisions: BTreeMap<String, DeferredDecision>,
    /// Metadata handed to each tool that runs (by tool call id), in
    /// [`RunContext::tool_call_metadata`](crate::RunContext::tool_call_metadata).
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
}

impl DeferredToolResults {
    /// No decisions yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answer `call` (replacing an earlier answer to it).
    pub fn answer(&mut self, call: &ToolCallPart, answer: DeferredAnswer) -> &mut Self {
        let args = call.args.to_value().unwrap_or(Value::Null);
        self.decisions.insert(
            call.tool_call_id.clone(),
            DeferredDecision {
                tool_name: call.tool_name.clone(),
                args,
                answer,
            },
        );
        self
    }

    /// Approve `call` with the model's arguments.
    pub fn approve(&mut self, call: &ToolCallPart) -> &mut Self {
        self.answer(
            call,
            DeferredAnswer::Approval(ToolApproval::Approved {
                override_args: None,
            }),
        )
    }

    /// Approve `call`, to run with `args` instead of the model's.
    pub fn approve_with_args(&mut self, call: &ToolCallPart, args: Value) -> &mut Self {
        self.answer(
            call,
            DeferredAnswer::Approval(ToolApproval::Approved {
                override_args: Some(args),
            }),
        )
    }

    /// Deny `call`; the model is told `message`.
    pub fn deny(&mut self, call: &ToolCallPart, message: impl Into<String>) -> &mut Self {
        self.answer(
            call,
            DeferredAnswer::Approval(ToolApproval::Denied {
                message: message.into(),
            }),
        )
    }

    /// Give the result of `call`, executed outside the run.
    pub fn external(&mut self, call: &ToolCallPart, result: ExternalResult) -> &mut Self {
        self.answer(call, DeferredAnswer::External(result))
    }

    /// Give the return value of `call`, executed outside the run.
    pub fn external_return(&mut self, call: &ToolCallPart, value: impl Into<Value>) -> &mut Self {
        self.external(call, ExternalResult::Return(value.into()))
    }

    /// Hand `metadata` to the tool when `call` runs.
    pub fn with_metadata(&mut self, call: &ToolCallPart, metadata: Value) -> &mut Self {
        self.metadata.insert(call.tool_call_id.clone(), metadata);
        self
    }

    /// Whether no call is answered.
    pub fn is_empty(&self) -> bool {
        self.decisions.is_empty()
    }
}

/// Why a run's deferred calls could not be resumed. Nothing ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeferredError {
    /// A tool call was deferred, but the agent's output type does not allow it.
    #[error(
        "A deferred tool call was present, but the agent's output does not allow `DeferredToolRequests`: build the agent with `.deferrable()`."
    )]
    NotAllowed,
    /// Results were given, but the history has no response with tool calls to resume.
    #[error("Tool call results were provided, but {0}.")]
    NothingToResume(&'static str),
    /// Pending calls without a decision (or decisions for calls not in the response).
    #[error(
        "Tool call results need to be provided for all deferred tool calls. Expected: {expected:?}, got: {got:?}"
    )]
    Incomplete {
        /// The ids of the calls that need a decision, sorted.
        expected: Vec<String>,
        /// The ids decided on (or answered in the history), sorted.
        got: Vec<String>,
    },
    /// A decision for a call the history already answers.
    #[error("Tool call '{0}' was already executed and its result cannot be overridden.")]
    AlreadyAnswered(String),
    /// A decision made for another tool or other arguments than the history's call.
    #[error(
        "The decision for tool call '{tool_call_id}' was made for {decided}, but the history's call is {actual}: nothing was run."
    )]
    CallChanged {
        /// The call's id.
        tool_call_id: String,
        /// The tool and arguments the decision was made for.
        decided: String,
        /// The tool and arguments in the history.
        actual: String,
    },
    /// Two tool calls of the response share an id, so a decision cannot be bound to one.
    #[error(
        "Tool call results cannot be matched unambiguously because the message history contains duplicate tool_call_id values: {0:?}"
    )]
    DuplicateIds(Vec<String>),
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, args: Value, id: &str) -> ToolCallPart {
        ToolCallPart::new(name, crate::messages::ToolCallArgs::from(args), id)
    }

    #[test]
    fn approvals_serialize_as_pydantic_ai_writes_them() {
        let approved = ToolApproval::Approved {
            override_args: None,
        };
        assert_eq!(
            serde_json::to_value(&approved).unwrap(),
            json!({"kind": "tool-approved", "override_args": null})
        );
        let denied: ToolApproval = serde_json::from_value(json!({"kind": "tool-denied"})).unwrap();
        assert_eq!(
            denied,
            ToolApproval::Denied {
                message: DEFAULT_DENIAL.into()
            }
        );
        // a malformed decision does not deserialize (it never becomes an approval)
        assert!(serde_json::from_value::<ToolApproval>(json!({"kind": "maybe"})).is_err());
        assert!(serde_json::from_value::<ToolApproval>(json!(null)).is_err());
    }

    #[test]
    fn decisions_keep_the_call_they_answer() {
        let c = call("delete_file", json!({"path": "a"}), "c1");
        let mut results = DeferredToolResults::new();
        results.deny(&c, "no");
        let d = &results.decisions["c1"];
        assert_eq!(d.tool_name, "delete_file");
        assert_eq!(d.args, json!({"path": "a"}));
        let round: DeferredToolResults =
            serde_json::from_value(serde_json::to_value(&results).unwrap()).unwrap();
        assert_eq!(round, results);
    }

    #[test]
    fn requests_read_pydantic_ai_json() {
        let r: DeferredToolRequests = serde_json::from_value(json!({
            "calls": [],
            "approvals": [{"tool_name": "delete_file", "args": {"path": "x"}, "tool_call_id": "d1", "part_kind": "tool-call"}],
            "metadata": {"d1": {"reason": "protected"}}
        }))
        .unwrap();
        assert_eq!(r.approvals[0].tool_name, "delete_file");
        assert_eq!(r.approve_all().decisions.len(), 1);
    }
}
