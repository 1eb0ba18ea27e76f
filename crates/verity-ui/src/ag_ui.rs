//! The [AG-UI protocol](https://docs.ag-ui.com): a `RunAgentInput` in, AG-UI events out
//! as SSE (PydanticAI's `AGUIAdapter`), from the same run events as the Vercel stream.
//!
//! A run's events: `RUN_STARTED`; per text part `TEXT_MESSAGE_START` /
//! `TEXT_MESSAGE_CONTENT` / `TEXT_MESSAGE_END`; per reasoning part `REASONING_START`,
//! `REASONING_MESSAGE_START` / `REASONING_MESSAGE_CONTENT` / `REASONING_MESSAGE_END`,
//! `REASONING_END`; per tool call `TOOL_CALL_START` / `TOOL_CALL_ARGS` /
//! `TOOL_CALL_END` and, when the tool ran, `TOOL_CALL_RESULT` (followed, for a result
//! that is not a success, by a `REASONING_ENCRYPTED_VALUE` holding its outcome for the
//! client to send back); then `RUN_FINISHED`, or `RUN_ERROR` when the run failed.
//!
//! **Frontend tools.** The tools a client offers ([`RunAgentInput::tools`]) are offered
//! to the model next to the agent's ([`AgUiAdapter::toolset`]). A call to one streams
//! like any call, and the run finishes there, without a `TOOL_CALL_RESULT`
//! (`RUN_FINISHED`'s outcome names the call in `pendingToolCallIds` for a client that
//! declared AG-UI 1.0). The client runs the tool and sends the conversation back ending
//! with the assistant message and a `tool` message per result; the run goes on from
//! there and the model answers.
//!
//! **State and events.** [`AgUiAdapter::dispatch_with_state`] hands the client's
//! `state` to the run as [`StateDeps`]; a tool whose
//! [`ToolReturn`](verity::tools::ToolReturn) metadata holds AG-UI events (a
//! [`AgUiEvent::StateSnapshot`], a [`AgUiEvent::Custom`], …) has them sent after its
//! `TOOL_CALL_RESULT`.
//!
//! **Approvals as interrupts.** A run that stops at calls needing approval
//! ([`Tool::with_requires_approval`](verity::Tool::with_requires_approval)) finishes with
//! the `interrupt` outcome: one [`Interrupt`] per call, its id `int-` and the call's id,
//! its `responseSchema` the [`resume_response_schema`]. The client answers with a new
//! request whose messages end with that assistant message and whose `resume` entries
//! give the decisions ([`ResumeEntry`]): deny by default, only a payload matching the
//! schema with `approved: true` approves ([`resume_entry_approval`]); a payload that does
//! not match fails the run (`RUN_STARTED`, `RUN_ERROR`), nothing runs.
//!
//! Both end a run with its calls pending, so the run's output must allow it. For
//! frontend tools [`AgUiAdapter::dispatch`] sees to it: an agent that is not deferrable
//! runs as [`Agent::deferrable`] makes it (as PydanticAI's adapter adds
//! `DeferredToolRequests` to the run's output type). Approvals need the agent built with
//! [`.deferrable()`](verity::agent::AgentBuilder::deferrable), as in PydanticAI.
//!
//! ```no_run
//! use axum::{Router, body::Bytes, routing::post};
//! use verity::prelude::*;
//! use verity_ui::ag_ui::AgUiAdapter;
//!
//! # fn app(agent: Agent<(), Deferrable<String>>) -> Router {
//! Router::new().route(
//!     "/agent",
//!     post(move |body: Bytes| async move { AgUiAdapter::new().dispatch(&agent, &body) }),
//! )
//! # }
//! ```

use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use verity::deferred::{
    DEFAULT_DENIAL, DeferredAnswer, DeferredToolRequests, DeferredToolResults, ExternalResult,
    ToolApproval,
};
use verity::messages::{
    ModelMessage, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart,
    SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs, ToolCallPart, ToolOutcome,
    ToolReturnPart, UserContent, UserPrompt, UserPromptPart,
};
use verity::stream::PartDelta;
use verity::usage::RunUsage;
use verity::{Agent, AgentEvent, ExternalToolset, StreamedRun, ToolDefinition};

use crate::parts::{OpenPart, Segment};
use crate::sse::{self, SseResponse};
use crate::{RunInput, UiError};

/// The AG-UI protocol version the events follow (sent in `RUN_STARTED`).
pub const PROTOCOL_VERSION: &str = "1.0";

/// What an AG-UI client posts to run an agent (`RunAgentInput`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunAgentInput {
    /// The conversation's id.
    pub thread_id: String,
    /// This run's id.
    pub run_id: String,
    /// The run this one follows, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<String>,
    /// The client's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
    /// The AG-UI version the client speaks (`MAJOR.MINOR`), if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// The conversation: a new user message last; or the assistant message whose calls
    /// to frontend tools the client ran, followed by their results (`tool` messages); or,
    /// when the request answers interrupts (`resume`), the assistant message whose calls
    /// wait for approval.
    pub messages: Vec<AgUiMessage>,
    /// Tools the client offers and runs itself (frontend tools): the model may call them
    /// as it calls the agent's tools, and a call ends the run with the call pending (see
    /// [`AgUiAdapter::toolset`]).
    #[serde(default)]
    pub tools: Vec<AgUiTool>,
    /// Context the client gives.
    #[serde(default)]
    pub context: Vec<Value>,
    /// Anything else the client forwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_props: Option<Value>,
    /// The client's answers to the interrupts the previous run finished with (see
    /// [`AgUiAdapter::deferred_tool_results`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resume: Vec<ResumeEntry>,
}

impl RunAgentInput {
    /// Whether the client declared AG-UI 1.0 or newer in `protocolVersion`: a version
    /// that is not `MAJOR.MINOR` counts as newer (as the protocol asks); no version is an
    /// older client.
    pub fn declares_1_0(&self) -> bool {
        let Some(declared) = &self.protocol_version else {
            return false;
        };
        let parsed = declared
            .split_once('.')
            .filter(|(major, minor)| {
                !major.is_empty()
                    && !minor.is_empty()
                    && major
                        .bytes()
                        .chain(minor.bytes())
                        .all(|b| b.is_ascii_digit())
            })
            .map(|(major, minor)| (major.parse::<u64>(), minor.parse::<u64>()));
        match parsed {
            Some((Ok(major), Ok(_))) => major >= 1,
            // not the protocol's grammar (or too large to read): newer than this code
            _ => true,
        }
    }
}

/// A tool the client offers and runs itself (AG-UI `Tool`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgUiTool {
    /// The tool's name.
    pub name: String,
    /// What the tool does (shown to the model).
    pub description: String,
    /// The JSON schema of its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// Whether the client resolved an interrupt or cancelled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResumeStatus {
    /// The client answered the interrupt with a payload.
    Resolved,
    /// The client dismissed the interrupt: the call is denied.
    Cancelled,
}

/// The client's answer to one interrupt (AG-UI `ResumeEntry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeEntry {
    /// The interrupt's id (`int-` and the tool call's id, as [`Interrupt::id`] was).
    pub interrupt_id: String,
    /// Resolved or cancelled.
    pub status: ResumeStatus,
    /// The answer, which must match the interrupt's `responseSchema`
    /// ([`resume_response_schema`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Anything the client attaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// Something the run needs from the client before it can go on (AG-UI `Interrupt`):
/// here, always the approval of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interrupt {
    /// `int-` and the tool call's id.
    pub id: String,
    /// Why the run stopped: `tool_call`.
    pub reason: String,
    /// A question to show the user: `Approve name({args})?`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The call waiting for approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The JSON schema the answer's payload must match ([`resume_response_schema`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    /// What the tool attached to its request for approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// How a run ended (the `outcome` of `RUN_FINISHED`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RunOutcome {
    /// The run completed.
    #[serde(rename_all = "camelCase")]
    Success {
        /// Calls to frontend tools the run left for the client to run (sent to clients
        /// that declared AG-UI 1.0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pending_tool_call_ids: Option<Vec<String>>,
    },
    /// The run stopped at calls that need the user's approval; a run whose `resume`
    /// answers them goes on.
    Interrupt {
        /// One per call.
        interrupts: Vec<Interrupt>,
    },
    /// The run was stopped before it completed (AG-UI 1.0; Verity does not send it, its
    /// runs have no first-party cancellation).
    Cancelled,
}

/// The tokens a run used with one provider's model (AG-UI 1.0 `TokenUsage`); counts of
/// zero are left out, as not reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)] // the fields are the protocol's
pub struct TokenUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u64>,
}

/// A run's usage with one (provider, model).
type ModelUsage = ((Option<String>, Option<String>), RunUsage);

/// The largest count a `TokenUsage` carries: JavaScript's `Number.MAX_SAFE_INTEGER`.
const MAX_TOKEN_COUNT: u64 = (1 << 53) - 1;

/// A count as `TokenUsage` takes it: absent when zero (not reported) or too large.
fn reported(count: u64) -> Option<u64> {
    (count > 0 && count <= MAX_TOKEN_COUNT).then_some(count)
}

/// One [`TokenUsage`] per provider and model, in the order they first answered; a pair
/// with neither input nor output tokens is left out (PydanticAI's
/// `token_usage_from_messages`).
fn token_usage(by_model: &[ModelUsage]) -> Vec<TokenUsage> {
    by_model
        .iter()
        .filter_map(|((provider, model), usage)| {
            let (input, output) = (reported(usage.input_tokens), reported(usage.output_tokens));
            if input.is_none() && output.is_none() {
                return None;
            }
            let total = usage
                .input_tokens
                .checked_add(usage.output_tokens)
                .filter(|_| {
                    usage.input_tokens <= MAX_TOKEN_COUNT && usage.output_tokens <= MAX_TOKEN_COUNT
                })
                .and_then(reported);
            Some(TokenUsage {
                provider: provider.clone(),
                model: model.clone(),
                input_tokens: input,
                output_tokens: output,
                total_tokens: total,
                reasoning_tokens: usage
                    .details
                    .get("reasoning_tokens")
                    .copied()
                    .and_then(reported),
                cached_input_tokens: reported(usage.cache_read_tokens),
                cache_write_input_tokens: reported(usage.cache_write_tokens),
            })
        })
        .collect()
}

/// The prefix of an interrupt's id, before the id of the call it is about.
pub const INTERRUPT_ID_PREFIX: &str = "int-";

/// The JSON schema an interrupt's answer must match: `approved` (a boolean, required),
/// `editedArgs` (an object: the arguments to run the tool with instead of the model's)
/// and `reason` (a string: what the model is told about a denial).
pub fn resume_response_schema() -> Value {
    serde_json::json!({
        "properties": {
            "approved": {"type": "boolean"},
            "editedArgs": {"type": "object"},
            "reason": {"type": "string"},
        },
        "required": ["approved"],
        "type": "object",
    })
}

/// The interrupt that asks for the approval of `call`; `metadata` is what its tool
/// attached, if anything.
pub fn approval_interrupt(call: &ToolCallPart, metadata: Option<&Value>) -> Interrupt {
    Interrupt {
        id: format!("{INTERRUPT_ID_PREFIX}{}", call.tool_call_id),
        reason: "tool_call".into(),
        message: Some(format!(
            "Approve {}({})?",
            call.tool_name,
            crate::vercel::args_value(call)
        )),
        tool_call_id: Some(call.tool_call_id.clone()),
        response_schema: Some(resume_response_schema()),
        metadata: metadata.cloned(),
    }
}

/// Why the interrupts a request answers cannot be mapped to approvals. The run does not
/// start: [`AgUiAdapter::dispatch`] answers with `RUN_STARTED` and `RUN_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The interrupt id does not start with [`INTERRUPT_ID_PREFIX`].
    #[error(
        "ResumeEntry.interruptId '{0}' does not start with the expected 'int-' prefix; cannot map it back to a tool call id."
    )]
    UnknownInterrupt(String),
    /// The payload does not match [`resume_response_schema`]: each problem as
    /// `field: error` (`approved: missing`, `approved: bool_type`, …).
    #[error(
        "`ResumeEntry` payload for interrupt '{interrupt_id}' does not match the `responseSchema` advertised on the interrupt ({details})."
    )]
    InvalidPayload {
        /// The interrupt answered.
        interrupt_id: String,
        /// What is wrong with the payload.
        details: String,
    },
    /// The interrupt is about a call the conversation's last assistant message did not
    /// make.
    #[error(
        "ResumeEntry.interruptId '{interrupt_id}' answers tool call '{tool_call_id}', which the conversation is not waiting on."
    )]
    NotPending {
        /// The interrupt answered.
        interrupt_id: String,
        /// The call it names.
        tool_call_id: String,
    },
}

impl From<ResumeError> for UiError {
    fn from(e: ResumeError) -> Self {
        UiError::BadRequest(e.to_string())
    }
}

/// The decision a resume entry's payload makes, deny by default: only a payload that
/// matches [`resume_response_schema`] with `approved: true` approves; a cancelled entry
/// denies; a payload that does not match is an error, never a decision.
pub fn resume_entry_approval(entry: &ResumeEntry) -> Result<ToolApproval, ResumeError> {
    if entry.status == ResumeStatus::Cancelled {
        return Ok(ToolApproval::Denied {
            message: "Cancelled by user.".into(),
        });
    }
    let invalid = |details: String| ResumeError::InvalidPayload {
        interrupt_id: entry.interrupt_id.clone(),
        details,
    };
    let Some(Value::Object(payload)) = &entry.payload else {
        return Err(invalid("payload: model_type".into()));
    };
    let mut problems = Vec::new();
    let approved = match payload.get("approved") {
        None => {
            problems.push("approved: missing");
            None
        }
        Some(Value::Bool(approved)) => Some(*approved),
        Some(_) => {
            problems.push("approved: bool_type");
            None
        }
    };
    let edited_args = match payload.get("editedArgs") {
        None | Some(Value::Null) => None,
        Some(args @ Value::Object(_)) => Some(args.clone()),
        Some(_) => {
            problems.push("editedArgs: dict_type");
            None
        }
    };
    let reason = match payload.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(reason)) => Some(reason.clone()),
        Some(_) => {
            problems.push("reason: string_type");
            None
        }
    };
    match approved {
        Some(approved) if problems.is_empty() => Ok(if approved {
            ToolApproval::Approved {
                override_args: edited_args,
            }
        } else {
            ToolApproval::Denied {
                message: reason
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| DEFAULT_DENIAL.to_owned()),
            }
        }),
        _ => Err(invalid(problems.join(", "))),
    }
}

/// A function call in an assistant message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgUiFunctionCall {
    /// The tool's name.
    pub name: String,
    /// The arguments, as JSON text.
    pub arguments: String,
}

/// A tool call in an assistant message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgUiToolCall {
    /// The call's id.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The call.
    pub function: AgUiFunctionCall,
}

fn function_type() -> String {
    "function".to_owned()
}

/// A message of an AG-UI conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
#[allow(missing_docs)] // the fields are the protocol's
pub enum AgUiMessage {
    /// Instructions from the developer.
    Developer { id: String, content: String },
    /// System instructions.
    System { id: String, content: String },
    /// The user: text, or a list of content parts.
    User { id: String, content: Value },
    /// The agent: text and tool calls.
    #[serde(rename_all = "camelCase")]
    Assistant {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_calls: Option<Vec<AgUiToolCall>>,
    },
    /// A tool's result.
    #[serde(rename_all = "camelCase")]
    Tool {
        id: String,
        content: Value,
        tool_call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// What PydanticAI's (and Verity's) `REASONING_ENCRYPTED_VALUE` attached to the
        /// result: a non-success outcome (`{"pydantic_ai": {"outcome": "denied"}}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted_value: Option<String>,
    },
    /// The agent's reasoning.
    Reasoning { id: String, content: String },
    /// Progress shown in the UI; not part of the conversation the model sees.
    Activity { id: String },
}

/// One AG-UI event, written as one SSE `data:` line of JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)] // the fields are the protocol's
pub enum AgUiEvent {
    /// The run started.
    #[serde(rename_all = "camelCase")]
    RunStarted {
        thread_id: String,
        run_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol_version: Option<String>,
    },
    /// An assistant text message starts.
    #[serde(rename_all = "camelCase")]
    TextMessageStart { message_id: String, role: String },
    /// More of its text.
    #[serde(rename_all = "camelCase")]
    TextMessageContent { message_id: String, delta: String },
    /// The text message ends.
    #[serde(rename_all = "camelCase")]
    TextMessageEnd { message_id: String },
    /// Reasoning starts.
    #[serde(rename_all = "camelCase")]
    ReasoningStart { message_id: String },
    /// A reasoning message starts.
    #[serde(rename_all = "camelCase")]
    ReasoningMessageStart { message_id: String, role: String },
    /// More of the reasoning.
    #[serde(rename_all = "camelCase")]
    ReasoningMessageContent { message_id: String, delta: String },
    /// The reasoning message ends.
    #[serde(rename_all = "camelCase")]
    ReasoningMessageEnd { message_id: String },
    /// Reasoning ends.
    #[serde(rename_all = "camelCase")]
    ReasoningEnd { message_id: String },
    /// A tool call starts.
    #[serde(rename_all = "camelCase")]
    ToolCallStart {
        tool_call_id: String,
        tool_call_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent_message_id: Option<String>,
    },
    /// More of its arguments (JSON text).
    #[serde(rename_all = "camelCase")]
    ToolCallArgs { tool_call_id: String, delta: String },
    /// The call's arguments are complete.
    #[serde(rename_all = "camelCase")]
    ToolCallEnd { tool_call_id: String },
    /// The tool's result.
    #[serde(rename_all = "camelCase")]
    ToolCallResult {
        message_id: String,
        tool_call_id: String,
        content: String,
        role: String,
    },
    /// Opaque data for the client to keep with a message and send back with it: here, a
    /// tool result's non-success outcome (`subtype` `message`, `entityId` the
    /// `TOOL_CALL_RESULT`'s message id).
    #[serde(rename_all = "camelCase")]
    ReasoningEncryptedValue {
        subtype: String,
        entity_id: String,
        encrypted_value: String,
    },
    /// The run finished.
    #[serde(rename_all = "camelCase")]
    RunFinished {
        thread_id: String,
        run_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<RunOutcome>,
        /// Tokens used, per provider and model (AG-UI 1.0; see
        /// [`AgUiAdapter::include_usage`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Vec<TokenUsage>>,
    },
    /// The run failed.
    #[serde(rename_all = "camelCase")]
    RunError { message: String },
    /// The whole shared state, for the client to replace its own with.
    #[serde(rename_all = "camelCase")]
    StateSnapshot { snapshot: Value },
    /// A change to the shared state, as JSON Patch operations (RFC 6902).
    #[serde(rename_all = "camelCase")]
    StateDelta { delta: Value },
    /// An application's own event.
    #[serde(rename_all = "camelCase")]
    Custom { name: String, value: Value },
}

/// An event as a tool's return metadata: a tool that returns a
/// [`ToolReturn`](verity::tools::ToolReturn) with AG-UI events as its metadata (one, or
/// an array) has them sent after its `TOOL_CALL_RESULT`, as PydanticAI sends the events
/// in a `ToolReturn`'s metadata.
impl From<AgUiEvent> for Value {
    fn from(event: AgUiEvent) -> Value {
        serde_json::to_value(event).unwrap_or(Value::Null)
    }
}

impl AgUiEvent {
    /// The event as one SSE event, stamped now (`timestamp`, milliseconds since the
    /// epoch, as PydanticAI stamps every event): `data: {json}\n\n`.
    pub fn to_sse(&self) -> String {
        self.to_sse_at(chrono::Utc::now().timestamp_millis())
    }

    /// The event as one SSE event stamped with this `timestamp` (milliseconds).
    pub fn to_sse_at(&self, timestamp: i64) -> String {
        let json = match serde_json::to_value(self) {
            Ok(Value::Object(mut fields)) => {
                fields.insert("timestamp".into(), timestamp.into());
                Value::Object(fields).to_string()
            }
            _ => "{}".to_owned(),
        };
        format!("data: {json}\n\n")
    }
}

/// Turns a run's [`AgentEvent`]s into AG-UI events (PydanticAI's `AGUIEventStream`).
pub struct AgUiEncoder {
    thread_id: String,
    run_id: String,
    /// The assistant message the current response's parts belong to.
    message_id: Option<String>,
    /// Whether a `TEXT_MESSAGE_START` was sent for `message_id`.
    started: bool,
    open: OpenPart,
    streamed_parts: bool,
    ids: Box<dyn FnMut() -> String + Send>,
    /// Whether `RUN_FINISHED` names the frontend tool calls left pending.
    pending_ids: bool,
    /// The calls the run stopped at, if it did.
    deferred: Option<DeferredToolRequests>,
    /// Calls whose results the client sent: it has them, they are not sent back.
    client_results: Vec<String>,
    /// Whether `RUN_FINISHED` reports the run's token usage.
    include_usage: bool,
    /// The run's usage per provider and model, in the order they first answered.
    usage: Vec<ModelUsage>,
}

impl std::fmt::Debug for AgUiEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgUiEncoder")
            .field("thread_id", &self.thread_id)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

impl AgUiEncoder {
    /// An encoder for this thread and run; message ids are fresh UUIDs.
    pub fn new(thread_id: impl Into<String>, run_id: impl Into<String>) -> Self {
        AgUiEncoder {
            thread_id: thread_id.into(),
            run_id: run_id.into(),
            message_id: None,
            started: false,
            open: OpenPart::default(),
            streamed_parts: false,
            ids: Box::new(|| uuid::Uuid::now_v7().to_string()),
            pending_ids: false,
            deferred: None,
            client_results: Vec::new(),
            include_usage: false,
            usage: Vec::new(),
        }
    }

    /// An encoder for the run `input` asks for: its thread and run ids; the frontend
    /// tool calls left pending are named in `RUN_FINISHED` when the client declared AG-UI
    /// 1.0 ([`RunAgentInput::declares_1_0`]).
    ///
    /// The results of frontend tool calls that `input` ends with are the client's own:
    /// no `TOOL_CALL_RESULT` is sent for them.
    pub fn for_input(input: &RunAgentInput) -> Self {
        let mut encoder = Self::new(input.thread_id.clone(), input.run_id.clone())
            .with_pending_tool_call_ids(input.declares_1_0());
        encoder.client_results = input
            .messages
            .iter()
            .rev()
            .map_while(|m| match m {
                AgUiMessage::Tool { tool_call_id, .. } => Some(tool_call_id.clone()),
                _ => None,
            })
            .collect();
        encoder
    }

    /// Whether `RUN_FINISHED` reports the run's token usage per provider and model
    /// (sent only where pending tool call ids are, to AG-UI 1.0 clients).
    pub fn with_usage(mut self, include: bool) -> Self {
        self.include_usage = include;
        self
    }

    /// Whether `RUN_FINISHED` names the frontend tool calls the run left pending
    /// (`outcome.pendingToolCallIds`, AG-UI 1.0; older clients reject the field).
    pub fn with_pending_tool_call_ids(mut self, pending: bool) -> Self {
        self.pending_ids = pending;
        self
    }

    /// Make message ids with this function instead (deterministic ids for tests).
    pub fn with_id_generator(mut self, ids: impl FnMut() -> String + Send + 'static) -> Self {
        self.ids = Box::new(ids);
        self
    }

    /// The event that opens the stream: `RUN_STARTED`.
    pub fn start(&mut self) -> Vec<AgUiEvent> {
        vec![AgUiEvent::RunStarted {
            thread_id: self.thread_id.clone(),
            run_id: self.run_id.clone(),
            protocol_version: Some(PROTOCOL_VERSION.to_owned()),
        }]
    }

    /// The events one run event becomes.
    pub fn event(&mut self, event: &AgentEvent) -> Vec<AgUiEvent> {
        let mut out = Vec::new();
        match event {
            AgentEvent::PartStart { index, part } => {
                self.streamed_parts = true;
                self.part_start(*index, part, &mut out);
            }
            AgentEvent::PartDelta { index, delta } => self.part_delta(*index, delta, &mut out),
            AgentEvent::ModelResponse(response) => {
                let key = (response.provider_name.clone(), response.model_name.clone());
                match self.usage.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, usage)) => usage.add_response(&response.usage),
                    None => {
                        let mut usage = RunUsage::default();
                        usage.add_response(&response.usage);
                        self.usage.push((key, usage));
                    }
                }
                if !self.streamed_parts {
                    for (index, part) in response.parts.iter().enumerate() {
                        self.part_start(index, part, &mut out);
                    }
                }
                self.close_open(&mut out);
                self.streamed_parts = false;
                self.message_id = None;
                self.started = false;
            }
            AgentEvent::FunctionToolResult(part) => {
                let result = match part {
                    ModelRequestPart::ToolReturn(ret) => Some((
                        ret.tool_call_id.clone(),
                        if ret.is_error() || ret.outcome == ToolOutcome::Denied {
                            crate::vercel::error_text_of(ret)
                        } else {
                            content_text(&ret.content)
                        },
                        outcome_value(ret),
                    )),
                    ModelRequestPart::RetryPrompt(retry) => {
                        Some((retry.tool_call_id.clone(), retry.client_error_text(), None))
                    }
                    _ => None,
                };
                if let Some((tool_call_id, content, encrypted)) = result
                    && !self.client_results.contains(&tool_call_id)
                {
                    let message_id = (self.ids)();
                    out.push(AgUiEvent::ToolCallResult {
                        message_id: message_id.clone(),
                        tool_call_id,
                        content,
                        role: "tool".into(),
                    });
                    // the outcome rides along for the client to send back with the result
                    if let Some(encrypted_value) = encrypted {
                        out.push(AgUiEvent::ReasoningEncryptedValue {
                            subtype: "message".into(),
                            entity_id: message_id,
                            encrypted_value,
                        });
                    }
                    // events the tool returned as its metadata (state, custom events)
                    if let ModelRequestPart::ToolReturn(ret) = part {
                        out.extend(crate::metadata_items::<AgUiEvent>(ret.metadata.as_ref()));
                    }
                }
            }
            AgentEvent::DeferredToolRequests(requests) => {
                self.deferred = Some(requests.clone());
            }
            _ => {}
        }
        out
    }

    /// The event that ends a run that completed: `RUN_FINISHED`, its outcome an
    /// interrupt per call waiting for approval when the run stopped at some, else a
    /// success (naming the frontend tool calls left pending, see
    /// [`with_pending_tool_call_ids`](Self::with_pending_tool_call_ids)).
    pub fn finish(&mut self) -> Vec<AgUiEvent> {
        let mut out = Vec::new();
        self.close_open(&mut out);
        let outcome = match self.deferred.take() {
            Some(requests) if !requests.approvals.is_empty() => RunOutcome::Interrupt {
                interrupts: requests
                    .approvals
                    .iter()
                    .map(|call| approval_interrupt(call, requests.metadata.get(&call.tool_call_id)))
                    .collect(),
            },
            Some(requests) if !requests.calls.is_empty() && self.pending_ids => {
                RunOutcome::Success {
                    pending_tool_call_ids: Some(
                        requests
                            .calls
                            .iter()
                            .map(|c| c.tool_call_id.clone())
                            .collect(),
                    ),
                }
            }
            _ => RunOutcome::Success {
                pending_tool_call_ids: None,
            },
        };
        let usage = (self.include_usage && self.pending_ids)
            .then(|| token_usage(&self.usage))
            .filter(|usage| !usage.is_empty());
        out.push(AgUiEvent::RunFinished {
            thread_id: self.thread_id.clone(),
            run_id: self.run_id.clone(),
            outcome: Some(outcome),
            usage,
        });
        out
    }

    /// The event that ends a run that failed: `RUN_ERROR`.
    pub fn error(&mut self, message: impl Into<String>) -> Vec<AgUiEvent> {
        let mut out = Vec::new();
        self.close_open(&mut out);
        out.push(AgUiEvent::RunError {
            message: message.into(),
        });
        out
    }

    fn part_start(&mut self, index: usize, part: &ModelResponsePart, out: &mut Vec<AgUiEvent>) {
        let mut segments = Vec::new();
        self.open.start(index, part, &mut *self.ids, &mut segments);
        self.write(segments, out);
    }

    fn part_delta(&mut self, index: usize, delta: &PartDelta, out: &mut Vec<AgUiEvent>) {
        let mut segments = Vec::new();
        self.open.delta(index, delta, &mut segments);
        self.write(segments, out);
    }

    fn close_open(&mut self, out: &mut Vec<AgUiEvent>) {
        let mut segments = Vec::new();
        self.open.close(&mut segments);
        self.write(segments, out);
    }

    /// The segments as AG-UI events: text is an assistant message; tool calls name the
    /// assistant message they belong to as their parent (one is opened and closed for
    /// them when no text came first); reasoning is its own message, after which calls
    /// belong to a new assistant message.
    fn write(&mut self, segments: Vec<Segment>, out: &mut Vec<AgUiEvent>) {
        for segment in segments {
            match segment {
                Segment::TextStart { id } => {
                    self.message_id = Some(id.clone());
                    self.started = true;
                    out.push(AgUiEvent::TextMessageStart {
                        message_id: id,
                        role: "assistant".into(),
                    });
                }
                Segment::TextDelta { id, delta } => out.push(AgUiEvent::TextMessageContent {
                    message_id: id,
                    delta,
                }),
                Segment::TextEnd { id } => {
                    out.push(AgUiEvent::TextMessageEnd { message_id: id });
                }
                Segment::ReasoningStart { id } => {
                    self.message_id = None;
                    self.started = false;
                    out.push(AgUiEvent::ReasoningStart {
                        message_id: id.clone(),
                    });
                    out.push(AgUiEvent::ReasoningMessageStart {
                        message_id: id,
                        role: "reasoning".into(),
                    });
                }
                Segment::ReasoningDelta { id, delta } => {
                    out.push(AgUiEvent::ReasoningMessageContent {
                        message_id: id,
                        delta,
                    });
                }
                Segment::ReasoningEnd { id } => {
                    out.push(AgUiEvent::ReasoningMessageEnd {
                        message_id: id.clone(),
                    });
                    out.push(AgUiEvent::ReasoningEnd { message_id: id });
                }
                Segment::ToolStart { call_id, name } => {
                    let parent = match &self.message_id {
                        Some(id) => id.clone(),
                        None => {
                            let id = (self.ids)();
                            self.message_id = Some(id.clone());
                            id
                        }
                    };
                    if !self.started {
                        // the parent message must exist before a call can name it
                        self.started = true;
                        out.push(AgUiEvent::TextMessageStart {
                            message_id: parent.clone(),
                            role: "assistant".into(),
                        });
                        out.push(AgUiEvent::TextMessageEnd {
                            message_id: parent.clone(),
                        });
                    }
                    out.push(AgUiEvent::ToolCallStart {
                        tool_call_id: call_id,
                        tool_call_name: name,
                        parent_message_id: Some(parent),
                    });
                }
                Segment::ToolArgs { call_id, delta } => out.push(AgUiEvent::ToolCallArgs {
                    tool_call_id: call_id,
                    delta,
                }),
                Segment::ToolEnd { call_id } => out.push(AgUiEvent::ToolCallEnd {
                    tool_call_id: call_id,
                }),
            }
        }
    }
}

/// A tool result's non-success outcome (and what it is, and why it was retried) as
/// PydanticAI writes it for the client to keep: `{"pydantic_ai": {"outcome": "denied"}}`,
/// as Python's `json.dumps` spaces it.
fn outcome_value(ret: &ToolReturnPart) -> Option<String> {
    if ret.outcome == ToolOutcome::Success {
        return None;
    }
    let py = |value: &Value| {
        let mut text = String::new();
        python_json(value, &mut text);
        text
    };
    let mut fields: Vec<(String, String)> = Vec::new();
    if let Some(Some(kind)) = &ret.tool_kind {
        fields.push(("tool_kind".into(), py(&Value::String(kind.clone()))));
    }
    let outcome = serde_json::to_value(&ret.outcome).unwrap_or(Value::Null);
    fields.push(("outcome".into(), py(&outcome)));
    if let Some(retry) = &ret.retry {
        // PydanticAI's field order; the fields that are not set left out
        let mut retry_fields = vec![("cause".to_owned(), py(&Value::String(retry.cause.clone())))];
        retry_fields.extend(retry.attempt.map(|a| ("attempt".to_owned(), a.to_string())));
        retry_fields.extend(
            retry
                .max_retries
                .map(|m| ("max_retries".to_owned(), m.to_string())),
        );
        if let Ok(Value::Object(all)) = serde_json::to_value(retry) {
            for (key, value) in all {
                if !value.is_null() && !retry_fields.iter().any(|(k, _)| *k == key) {
                    retry_fields.push((key, py(&value)));
                }
            }
        }
        fields.push(("retry".into(), python_object(&retry_fields)));
    }
    let payload = python_object(&fields);
    Some(format!("{{\"pydantic_ai\": {payload}}}"))
}

/// An object as Python's `json.dumps` writes it: these fields, their values already
/// written, in this order.
fn python_object(fields: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        python_json(&Value::String(key.clone()), &mut out);
        out.push_str(": ");
        out.push_str(value);
    }
    out.push('}');
    out
}

/// JSON as Python's `json.dumps` writes it by default: `", "` and `": "` between items,
/// everything outside printable ASCII escaped.
fn python_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_json(&Value::String(key.clone()), out);
                out.push_str(": ");
                python_json(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_json(item, out);
            }
            out.push(']');
        }
        Value::String(_) => {
            for c in value.to_string().chars() {
                if c.is_ascii() && c != '\u{7f}' {
                    out.push(c);
                } else {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
        }
        other => out.push_str(&other.to_string()),
    }
}

fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs an agent for an AG-UI client (PydanticAI's `AGUIAdapter`).
#[derive(Debug, Clone, Default)]
pub struct AgUiAdapter {
    include_usage: bool,
}

impl AgUiAdapter {
    /// An adapter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Report the run's token usage per provider and model in `RUN_FINISHED` to clients
    /// that declared AG-UI 1.0 (PydanticAI's `include_usage`; off by default).
    pub fn include_usage(mut self, include: bool) -> Self {
        self.include_usage = include;
        self
    }

    /// A request body as a [`RunAgentInput`]; a malformed body is a
    /// [`UiError::BadRequest`].
    pub fn parse_input(body: &[u8]) -> Result<RunAgentInput, UiError> {
        serde_json::from_slice(body)
            .map_err(|e| UiError::BadRequest(format!("invalid RunAgentInput: {e}")))
    }

    /// The run an input asks for (see [`RunAgentInput::messages`]):
    /// - a last user message is the new prompt, the messages before it the history;
    /// - `tool` messages last are the results of the frontend tool calls the assistant
    ///   message before them made: the history goes up to that message, and the results
    ///   answer its calls ([`DeferredToolResults`]), so the run goes on from them;
    /// - a last assistant message, with `resume` entries, is where the history ends.
    ///
    /// The `resume` entries answer the calls of the history's last response that wait
    /// for approval ([`deferred_tool_results`](Self::deferred_tool_results)); when the
    /// history ends with a response, its calls neither answered nor approved are dropped
    /// (as PydanticAI drops them from a client's history). Offer the
    /// frontend tools to the run too ([`toolset`](Self::toolset); [`dispatch`](Self::dispatch)
    /// does both). A request asking for anything else, or whose resume entries do not
    /// map to approvals, is a [`UiError::BadRequest`].
    pub fn run_input(input: &RunAgentInput) -> Result<RunInput, UiError> {
        Ok(Self::prepare(input)??)
    }

    /// [`run_input`](Self::run_input), keeping apart the errors of the `resume` entries
    /// (which [`dispatch`](Self::dispatch) reports in the stream, as PydanticAI does).
    fn prepare(input: &RunAgentInput) -> Result<Result<RunInput, ResumeError>, UiError> {
        let messages = &input.messages;
        let (mut history, prompt, mut results) = match messages.split_last() {
            None => return Err(UiError::BadRequest("the request has no messages".into())),
            Some((AgUiMessage::User { content, .. }, earlier)) => {
                (load_messages(earlier)?, Some(user_prompt(content)?), None)
            }
            Some((AgUiMessage::Tool { .. }, _)) => {
                let (history, results) = frontend_results(messages)?;
                (history, None, Some(results))
            }
            Some((AgUiMessage::Assistant { .. }, _)) if !input.resume.is_empty() => {
                (load_messages(messages)?, None, None)
            }
            Some(_) => {
                return Err(UiError::BadRequest(
                    "the last message must be a user message, the results of frontend tool \
                     calls, or an assistant message whose interrupts the request resumes"
                        .into(),
                ));
            }
        };
        let approvals = match Self::deferred_tool_results(input, &history) {
            Ok(approvals) => approvals,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(approvals) = approvals {
            let results = results.get_or_insert_with(DeferredToolResults::new);
            results.decisions.extend(approvals.decisions);
        }
        if let Some(results) = &results {
            drop_unanswered_calls(&mut history, results);
        }
        Ok(Ok(RunInput {
            history,
            prompt,
            deferred: results,
        }))
    }

    /// The tools the client offers ([`RunAgentInput::tools`]) as a toolset for the run
    /// (PydanticAI's `AGUIAdapter.toolset`): the model sees them like the agent's tools,
    /// and a call to one ends the run with the call pending
    /// ([`DeferredToolRequests::calls`]), for the client to run and send back. `None` when
    /// the client offers none.
    ///
    /// The run can only end that way when its output allows it: [`dispatch`](Self::dispatch)
    /// runs an agent that is not deferrable as [`Agent::deferrable`] makes it; a run of
    /// your own needs the same.
    pub fn toolset(input: &RunAgentInput) -> Option<ExternalToolset> {
        if input.tools.is_empty() {
            return None;
        }
        let definitions = input.tools.iter().map(|tool| {
            ToolDefinition::new(
                tool.name.clone(),
                tool.parameters
                    .clone()
                    .unwrap_or_else(|| Value::Object(Map::new())),
            )
            .with_description(tool.description.clone())
        });
        Some(ExternalToolset::new(FRONTEND_TOOLSET, definitions))
    }

    /// The approvals the request's `resume` entries give (PydanticAI's
    /// `AGUIAdapter.deferred_tool_results`), bound to the calls of `history`'s last
    /// response they answer; `None` when the request has none. Deny by default: see
    /// [`resume_entry_approval`].
    pub fn deferred_tool_results(
        input: &RunAgentInput,
        history: &[ModelMessage],
    ) -> Result<Option<DeferredToolResults>, ResumeError> {
        if input.resume.is_empty() {
            return Ok(None);
        }
        let calls: Vec<&ToolCallPart> = history
            .iter()
            .rev()
            .find_map(ModelMessage::as_response)
            .map(|r| r.tool_calls().collect())
            .unwrap_or_default();
        let mut results = DeferredToolResults::new();
        for entry in &input.resume {
            let Some(tool_call_id) = entry.interrupt_id.strip_prefix(INTERRUPT_ID_PREFIX) else {
                return Err(ResumeError::UnknownInterrupt(entry.interrupt_id.clone()));
            };
            let approval = resume_entry_approval(entry)?;
            let Some(call) = calls.iter().find(|c| c.tool_call_id == tool_call_id) else {
                return Err(ResumeError::NotPending {
                    interrupt_id: entry.interrupt_id.clone(),
                    tool_call_id: tool_call_id.to_owned(),
                });
            };
            results.answer(call, DeferredAnswer::Approval(approval));
        }
        Ok(Some(results))
    }

    /// A streamed run's events as AG-UI events; an error ends the stream with
    /// `RUN_ERROR`.
    pub fn stream<D, O>(
        &self,
        input: &RunAgentInput,
        mut run: StreamedRun<D, O>,
    ) -> impl Stream<Item = AgUiEvent> + Send + 'static
    where
        D: Send + Sync + 'static,
        O: Send + Sync + 'static,
    {
        let mut encoder = AgUiEncoder::for_input(input).with_usage(self.include_usage);
        async_stream::stream! {
            for event in encoder.start() {
                yield event;
            }
            let mut error = None;
            while let Some(event) = run.next_event().await {
                match event {
                    Ok(event) => {
                        for e in encoder.event(&event) {
                            yield e;
                        }
                    }
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            let last = match error {
                Some(e) => encoder.error(e.to_string()),
                None => encoder.finish(),
            };
            for e in last {
                yield e;
            }
        }
    }

    /// The events of a run that could not start: `RUN_STARTED`, then `RUN_ERROR` with
    /// `error` (how [`dispatch`](Self::dispatch) answers resume entries that do not map
    /// to approvals).
    pub fn rejected(
        &self,
        input: &RunAgentInput,
        error: impl std::fmt::Display,
    ) -> impl Stream<Item = AgUiEvent> + Send + 'static {
        let mut encoder = AgUiEncoder::for_input(input).with_usage(self.include_usage);
        let mut events = encoder.start();
        events.extend(encoder.error(error.to_string()));
        futures::stream::iter(events)
    }

    /// Events as an SSE response.
    pub fn response(events: impl Stream<Item = AgUiEvent> + Send + 'static) -> SseResponse {
        sse::response(events.map(|e| e.to_sse()), &[])
    }

    /// Handle an AG-UI request end to end: parse the body, run the agent (deps from its
    /// deps type's `Default`) streamed, with the client's frontend tools
    /// ([`toolset`](Self::toolset)) and its answers to interrupts, answer with the events.
    /// A malformed body is answered with a 400 and a JSON error; resume entries that do
    /// not map to approvals with `RUN_STARTED` and `RUN_ERROR`.
    pub fn dispatch<D, O>(&self, agent: &Agent<D, O>, body: &[u8]) -> SseResponse
    where
        D: Default + Send + Sync + 'static,
        O: Send + Sync + 'static,
    {
        match Self::parse_input(body) {
            Ok(input) => self.serve(agent, &input, D::default()),
            Err(e) => e.into(),
        }
    }

    /// [`dispatch`](Self::dispatch) for an agent whose deps hold the client's shared
    /// state (PydanticAI's `StateDeps`): the run's deps are a [`StateDeps`] with the
    /// request's `state` ([`state`](Self::state)). A state that does not fit `S` is
    /// answered with a 400.
    pub fn dispatch_with_state<S, O>(
        &self,
        agent: &Agent<StateDeps<S>, O>,
        body: &[u8],
    ) -> SseResponse
    where
        S: DeserializeOwned + Default + Send + Sync + 'static,
        O: Send + Sync + 'static,
    {
        let input = match Self::parse_input(body) {
            Ok(input) => input,
            Err(e) => return e.into(),
        };
        match Self::state::<S>(&input) {
            Ok(state) => self.serve(agent, &input, StateDeps { state }),
            Err(e) => e.into(),
        }
    }

    /// The client's shared state (`RunAgentInput.state`) as `S`; `S::default()` when it
    /// sent none (no state, `null` or `{}`), as PydanticAI keeps the deps' own state
    /// then. A state that does not fit `S` is a [`UiError::BadRequest`].
    pub fn state<S: DeserializeOwned + Default>(input: &RunAgentInput) -> Result<S, UiError> {
        match &input.state {
            None | Some(Value::Null) => Ok(S::default()),
            Some(Value::Object(fields)) if fields.is_empty() => Ok(S::default()),
            Some(state) => serde_json::from_value(state.clone())
                .map_err(|e| UiError::BadRequest(format!("invalid state: {e}"))),
        }
    }

    /// Run a parsed request with these deps and answer with its events.
    fn serve<D, O>(&self, agent: &Agent<D, O>, input: &RunAgentInput, deps: D) -> SseResponse
    where
        D: Send + Sync + 'static,
        O: Send + Sync + 'static,
    {
        let run_input = match Self::prepare(input) {
            Ok(Ok(run_input)) => run_input,
            Ok(Err(e)) => return Self::response(self.rejected(input, e)),
            Err(e) => return e.into(),
        };
        match Self::toolset(input) {
            None => {
                let request = run_input.request_with_deps(agent, deps);
                Self::response(self.stream(input, request.stream()))
            }
            Some(toolset) if agent.is_deferrable() => {
                let request = run_input.request_with_deps(agent, deps).toolset(toolset);
                Self::response(self.stream(input, request.stream()))
            }
            // a call to a frontend tool ends the run pending, so this run's output must
            // allow it (as PydanticAI's adapter widens the run's output type)
            Some(toolset) => {
                let request = run_input
                    .request_with_deps(&agent.deferrable(), deps)
                    .toolset(toolset);
                Self::response(self.stream(input, request.stream()))
            }
        }
    }
}

/// Dependencies holding an AG-UI client's shared state (PydanticAI's `StateDeps`): what
/// [`AgUiAdapter::dispatch_with_state`] gives a run, the state read from the request.
/// Tools and instructions read it as `ctx.deps().state`; a tool sends a changed state
/// back with a [`AgUiEvent::StateSnapshot`] in its return's metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDeps<S> {
    /// The client's state.
    pub state: S,
}

/// The name of the toolset of the client's tools.
const FRONTEND_TOOLSET: &str = "AG-UI frontend tools";

/// The history up to the assistant message the `tool` messages that end `messages`
/// answer, and their results as the answers to its calls.
fn frontend_results(
    messages: &[AgUiMessage],
) -> Result<(Vec<ModelMessage>, DeferredToolResults), UiError> {
    let start = messages
        .iter()
        .rposition(|m| !matches!(m, AgUiMessage::Tool { .. }))
        .map_or(0, |i| i.saturating_add(1));
    let (earlier, results) = messages.split_at_checked(start).unwrap_or((&[], messages));
    let Some(AgUiMessage::Assistant {
        tool_calls: Some(tool_calls),
        ..
    }) = earlier.last()
    else {
        return Err(UiError::BadRequest(
            "tool results must follow the assistant message whose calls they answer".into(),
        ));
    };
    let mut answers = DeferredToolResults::new();
    for result in results {
        let AgUiMessage::Tool {
            content,
            tool_call_id,
            error,
            ..
        } = result
        else {
            continue;
        };
        let Some(call) = tool_calls.iter().find(|c| c.id == *tool_call_id) else {
            return Err(UiError::BadRequest(format!(
                "tool result for {tool_call_id}, a call the assistant message before it did not make"
            )));
        };
        let call = tool_call_part(call);
        let answer = match error {
            Some(error) => ExternalResult::Failed(error.clone()),
            None => ExternalResult::Return(tool_content(content)),
        };
        answers.external(&call, answer);
    }
    Ok((load_messages(earlier)?, answers))
}

/// The calls of the response `history` ends with that `answers` leave unanswered are
/// dropped from it, as PydanticAI drops them from a client's history: a call the client
/// neither answered nor approved is not run, and the run goes on without it (a response
/// left empty goes too).
fn drop_unanswered_calls(history: &mut Vec<ModelMessage>, answers: &DeferredToolResults) {
    let Some(ModelMessage::Response(response)) = history.last_mut() else {
        return;
    };
    response.parts.retain(|part| match part {
        ModelResponsePart::ToolCall(call) => answers.decisions.contains_key(&call.tool_call_id),
        _ => true,
    });
    if response.parts.is_empty() {
        history.pop();
    }
}

/// A call of an assistant message as the history holds it.
fn tool_call_part(call: &AgUiToolCall) -> ToolCallPart {
    ToolCallPart::new(
        call.function.name.clone(),
        ToolCallArgs::Json(call.function.arguments.clone()),
        call.id.clone(),
    )
}

/// A tool message's content: JSON text as the value it holds, other text as it is.
fn tool_content(content: &Value) -> Value {
    match content {
        Value::String(text) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
        }
        other => other.clone(),
    }
}

/// The outcome a tool message's `encryptedValue` claims (see
/// [`AgUiEvent::ReasoningEncryptedValue`]), when it is one a return can have.
fn claimed_outcome(encrypted_value: Option<&str>) -> Option<ToolOutcome> {
    let value: Value = serde_json::from_str(encrypted_value?).ok()?;
    match value.get("pydantic_ai")?.get("outcome")?.as_str()? {
        "failed" => Some(ToolOutcome::Failed),
        "denied" => Some(ToolOutcome::Denied),
        "retried" => Some(ToolOutcome::Retried),
        _ => None,
    }
}

fn user_prompt(content: &Value) -> Result<UserPrompt, UiError> {
    match content {
        Value::String(text) => Ok(UserPrompt::Text(text.clone())),
        Value::Array(parts) => {
            let mut contents = Vec::new();
            for part in parts {
                match (
                    part.get("type").and_then(Value::as_str),
                    part.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(text)) => contents.push(UserContent::Text(text.to_owned())),
                    _ => {
                        return Err(UiError::BadRequest(format!(
                            "unsupported user content part: {part}"
                        )));
                    }
                }
            }
            Ok(UserPrompt::Parts(contents))
        }
        other => Err(UiError::BadRequest(format!(
            "a user message's content must be text or a list of parts, not {other}"
        ))),
    }
}

/// AG-UI messages as a Verity history: system, developer and user messages and tool
/// results become requests (consecutive ones one request), assistant messages
/// responses (their reasoning first).
pub fn load_messages(messages: &[AgUiMessage]) -> Result<Vec<ModelMessage>, UiError> {
    let mut out = Vec::new();
    let mut request: Vec<ModelRequestPart> = Vec::new();
    let mut thinking: Vec<ModelResponsePart> = Vec::new();
    let mut call_names: Map<String, Value> = Map::new();
    let flush = |out: &mut Vec<ModelMessage>, request: &mut Vec<ModelRequestPart>| {
        if !request.is_empty() {
            out.push(ModelMessage::Request(ModelRequest::new(std::mem::take(
                request,
            ))));
        }
    };
    for message in messages {
        match message {
            AgUiMessage::System { content, .. } | AgUiMessage::Developer { content, .. } => request
                .push(ModelRequestPart::SystemPrompt(SystemPromptPart::new(
                    content.clone(),
                ))),
            AgUiMessage::User { content, .. } => request.push(ModelRequestPart::UserPrompt(
                UserPromptPart::new(user_prompt(content)?),
            )),
            AgUiMessage::Tool {
                content,
                tool_call_id,
                error,
                encrypted_value,
                ..
            } => {
                let tool_name = call_names
                    .get(tool_call_id)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let mut ret =
                    ToolReturnPart::new(tool_name, tool_content(content), tool_call_id.clone());
                if let Some(error) = error {
                    ret.outcome = ToolOutcome::Failed;
                    ret.content = Value::String(error.clone());
                }
                if let Some(outcome) = claimed_outcome(encrypted_value.as_deref()) {
                    ret.outcome = outcome;
                }
                request.push(ModelRequestPart::ToolReturn(ret));
            }
            AgUiMessage::Reasoning { content, .. } => {
                thinking.push(ModelResponsePart::Thinking(ThinkingPart::new(
                    content.clone(),
                )));
            }
            AgUiMessage::Assistant {
                content,
                tool_calls,
                ..
            } => {
                flush(&mut out, &mut request);
                let mut parts = std::mem::take(&mut thinking);
                if let Some(text) = content.as_ref().filter(|t| !t.is_empty()) {
                    parts.push(ModelResponsePart::Text(TextPart::new(text.clone())));
                }
                for call in tool_calls.iter().flatten() {
                    call_names.insert(call.id.clone(), Value::String(call.function.name.clone()));
                    parts.push(ModelResponsePart::ToolCall(tool_call_part(call)));
                }
                out.push(ModelMessage::Response(ModelResponse::new(parts)));
            }
            AgUiMessage::Activity { .. } => {}
        }
    }
    flush(&mut out, &mut request);
    Ok(out)
}
