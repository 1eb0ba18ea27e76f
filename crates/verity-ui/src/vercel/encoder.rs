//! [`AgentEvent`]s to UI message stream chunks.

use serde_json::{Value, json};
use verity::AgentEvent;
use verity::deferred::DeferredToolRequests;
use verity::messages::{
    FinishReason, ModelRequestPart, ModelResponse, ModelResponsePart, ToolCallPart, ToolOutcome,
    ToolReturnPart,
};
use verity::stream::PartDelta;

use super::chunks::UiChunk;
use crate::parts::{OpenPart, Segment};

/// The AI SDK major version a stream is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SdkVersion {
    /// AI SDK 5: no approval or denial chunks.
    #[default]
    V5,
    /// AI SDK 6 (and 7, whose stream is the same): tool approvals
    /// (`tool-approval-request`), denials (`tool-output-denied`).
    V6,
}

/// Turns a run's [`AgentEvent`]s into UI message stream chunks, as PydanticAI's
/// `VercelAIEventStream` does.
///
/// Call [`start`](Self::start) first, [`event`](Self::event) for each event, then
/// [`finish`](Self::finish) or [`error`](Self::error). Text and reasoning parts end
/// (`text-end`, `reasoning-end`) when the next part starts or the response is
/// complete; consecutive text parts of a response stream into one UI text part. A tool
/// call's `tool-input-available` is sent when the tool is about to run (or, for calls
/// that do not run in this run, when the run stops at them or ends).
pub struct VercelEncoder {
    sdk_version: SdkVersion,
    message_id: Option<String>,
    /// Whether a step was started.
    step_started: bool,
    /// A model response completed: the next part starts a new step.
    step_done: bool,
    /// Approval requests, sent once the run ends (after the message metadata).
    approvals: Vec<String>,
    open: OpenPart,
    /// Whether the current response's parts were streamed (a response that arrives whole
    /// is written from its `ModelResponse` event).
    streamed_parts: bool,
    /// Tool calls of completed responses whose input was not yet announced.
    pending_calls: Vec<ToolCallPart>,
    /// Calls whose arguments failed their tool's checks (AI SDK v6): announced with
    /// `tool-input-error` when their retry prompt arrives, never as available input.
    invalid_calls: Vec<ToolCallPart>,
    last_response: Option<ModelResponse>,
    finish_reason: Option<String>,
    ids: Box<dyn FnMut() -> String + Send>,
}

impl std::fmt::Debug for VercelEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VercelEncoder")
            .field("sdk_version", &self.sdk_version)
            .field("message_id", &self.message_id)
            .finish_non_exhaustive()
    }
}

impl Default for VercelEncoder {
    fn default() -> Self {
        Self::new(SdkVersion::default())
    }
}

impl VercelEncoder {
    /// An encoder for this SDK version; UI part ids are fresh UUIDs.
    pub fn new(sdk_version: SdkVersion) -> Self {
        VercelEncoder {
            sdk_version,
            message_id: None,
            step_started: false,
            step_done: false,
            approvals: Vec::new(),
            open: OpenPart::default(),
            streamed_parts: false,
            pending_calls: Vec::new(),
            invalid_calls: Vec::new(),
            last_response: None,
            finish_reason: None,
            ids: Box::new(|| uuid::Uuid::now_v7().to_string()),
        }
    }

    /// Put this id in the `start` chunk (the assistant message's id).
    pub fn with_message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// Make UI part ids with this function instead (deterministic ids for tests).
    pub fn with_id_generator(mut self, ids: impl FnMut() -> String + Send + 'static) -> Self {
        self.ids = Box::new(ids);
        self
    }

    /// The chunk that opens the stream: `start`. (Each model response's first part
    /// starts a step: `start-step`, after a `finish-step` for the step before.)
    pub fn start(&mut self) -> Vec<UiChunk> {
        vec![UiChunk::Start {
            message_id: self.message_id.clone(),
            message_metadata: None,
        }]
    }

    /// The chunks one event becomes.
    pub fn event(&mut self, event: &AgentEvent) -> Vec<UiChunk> {
        let mut out = Vec::new();
        match event {
            AgentEvent::PartStart { index, part } => {
                self.streamed_parts = true;
                self.part_start(*index, part, &mut out);
            }
            AgentEvent::PartDelta { index, delta } => self.part_delta(*index, delta, &mut out),
            AgentEvent::FinalResult { .. } => {}
            AgentEvent::ModelResponse(response) => {
                if !self.streamed_parts {
                    for (index, part) in response.parts.iter().enumerate() {
                        self.part_start(index, part, &mut out);
                    }
                }
                self.close_open(&mut out);
                self.pending_calls.extend(response.tool_calls().cloned());
                self.finish_reason = response.finish_reason.as_ref().map(finish_reason);
                self.last_response = Some(response.clone());
                self.step_done = true;
                self.streamed_parts = false;
            }
            // a call that does not run here (skipped, or answered on resuming) is
            // announced, if it streamed in this run, when its result arrives
            AgentEvent::FunctionToolCall {
                args_valid: None, ..
            } => {}
            AgentEvent::FunctionToolCall {
                part,
                args_valid: Some(valid),
            } => {
                // a call not streamed in this run (an approved call run on resuming) is
                // announced too
                let call = self
                    .take_pending(&part.tool_call_id)
                    .unwrap_or_else(|| part.clone());
                if !valid && self.sdk_version == SdkVersion::V6 {
                    self.invalid_calls.push(call);
                } else {
                    out.push(input_available(&call));
                }
            }
            AgentEvent::FunctionToolResult(part) => self.tool_result(part, &mut out),
            AgentEvent::DeferredToolRequests(requests) => self.deferred(requests, &mut out),
            _ => {}
        }
        out
    }

    /// The chunks that end a run that completed: inputs not yet announced, the message
    /// metadata (`{"verity": {"timestamp": …}}` of the last response), approval
    /// requests (AI SDK v6), `finish-step`, `finish`. The stream then ends with [`DONE`](super::chunks::DONE).
    pub fn finish(&mut self) -> Vec<UiChunk> {
        let mut out = Vec::new();
        self.close_open(&mut out);
        self.flush_pending(&mut out);
        if let Some(timestamp) = self.last_response.as_ref().and_then(|r| r.timestamp) {
            out.push(UiChunk::MessageMetadata {
                message_metadata: json!({"verity": {"timestamp": timestamp.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)}}),
            });
        }
        for id in std::mem::take(&mut self.approvals) {
            out.push(UiChunk::ToolApprovalRequest {
                approval_id: id.clone(),
                tool_call_id: id,
            });
        }
        out.push(UiChunk::FinishStep);
        out.push(UiChunk::Finish {
            finish_reason: self.finish_reason.take(),
            message_metadata: None,
        });
        out
    }

    /// The chunks that end a run that failed: inputs not yet announced, `error`,
    /// `finish-step`, `finish` (reason `error`).
    pub fn error(&mut self, error_text: impl Into<String>) -> Vec<UiChunk> {
        let mut out = Vec::new();
        self.close_open(&mut out);
        self.flush_pending(&mut out);
        out.push(UiChunk::Error {
            error_text: error_text.into(),
        });
        out.push(UiChunk::FinishStep);
        out.push(UiChunk::Finish {
            finish_reason: Some("error".to_owned()),
            message_metadata: None,
        });
        out
    }

    fn ensure_step(&mut self, out: &mut Vec<UiChunk>) {
        if !self.step_started {
            self.step_started = true;
            self.step_done = false;
            out.push(UiChunk::StartStep);
        } else if self.step_done {
            self.step_done = false;
            out.push(UiChunk::FinishStep);
            out.push(UiChunk::StartStep);
        }
    }

    fn part_start(&mut self, index: usize, part: &ModelResponsePart, out: &mut Vec<UiChunk>) {
        self.ensure_step(out);
        let mut segments = Vec::new();
        self.open.start(index, part, &mut *self.ids, &mut segments);
        write(segments, out);
    }

    fn part_delta(&mut self, index: usize, delta: &PartDelta, out: &mut Vec<UiChunk>) {
        let mut segments = Vec::new();
        self.open.delta(index, delta, &mut segments);
        write(segments, out);
    }

    fn close_open(&mut self, out: &mut Vec<UiChunk>) {
        let mut segments = Vec::new();
        self.open.close(&mut segments);
        write(segments, out);
    }

    fn take_pending(&mut self, call_id: &str) -> Option<ToolCallPart> {
        take_call(&mut self.pending_calls, call_id)
    }

    fn flush_pending(&mut self, out: &mut Vec<UiChunk>) {
        for call in std::mem::take(&mut self.pending_calls) {
            out.push(input_available(&call));
        }
    }

    fn tool_result(&mut self, part: &ModelRequestPart, out: &mut Vec<UiChunk>) {
        let call_id = match part {
            ModelRequestPart::ToolReturn(ret) => &ret.tool_call_id,
            ModelRequestPart::RetryPrompt(retry) => &retry.tool_call_id,
            _ => return,
        };
        // a call whose arguments failed never ran: the result is its input's error (v6)
        if let Some(call) = take_call(&mut self.invalid_calls, call_id) {
            out.push(UiChunk::ToolInputError {
                tool_call_id: call.tool_call_id.clone(),
                tool_name: call.tool_name.clone(),
                input: args_value(&call),
                error_text: match part {
                    ModelRequestPart::RetryPrompt(retry) => retry.client_error_text(),
                    ModelRequestPart::ToolReturn(ret) => error_text(ret),
                    _ => String::new(),
                },
            });
            return;
        }
        if let Some(call) = self.take_pending(call_id) {
            out.push(input_available(&call));
        }
        match part {
            ModelRequestPart::ToolReturn(ret) => {
                out.push(self.tool_return(ret));
                // data the tool returned for the client, after its output
                out.extend(UiChunk::from_tool_metadata(ret.metadata.as_ref()));
            }
            ModelRequestPart::RetryPrompt(retry) => out.push(UiChunk::ToolOutputError {
                tool_call_id: retry.tool_call_id.clone(),
                error_text: retry.client_error_text(),
                provider_executed: None,
            }),
            _ => {}
        }
    }

    fn tool_return(&self, ret: &ToolReturnPart) -> UiChunk {
        if ret.outcome == ToolOutcome::Denied && self.sdk_version == SdkVersion::V6 {
            UiChunk::ToolOutputDenied {
                tool_call_id: ret.tool_call_id.clone(),
            }
        } else if ret.outcome == ToolOutcome::Denied || ret.is_error() {
            UiChunk::ToolOutputError {
                tool_call_id: ret.tool_call_id.clone(),
                error_text: error_text(ret),
                provider_executed: None,
            }
        } else {
            UiChunk::ToolOutputAvailable {
                tool_call_id: ret.tool_call_id.clone(),
                output: ret.content.clone(),
                provider_executed: None,
            }
        }
    }

    fn deferred(&mut self, requests: &DeferredToolRequests, out: &mut Vec<UiChunk>) {
        for call in requests.calls.iter().chain(&requests.approvals) {
            if let Some(call) = self.take_pending(&call.tool_call_id) {
                out.push(input_available(&call));
            }
        }
        if self.sdk_version == SdkVersion::V6 {
            self.approvals
                .extend(requests.approvals.iter().map(|c| c.tool_call_id.clone()));
        }
    }
}

/// Remove and return the call with this id.
fn take_call(calls: &mut Vec<ToolCallPart>, call_id: &str) -> Option<ToolCallPart> {
    let at = calls.iter().position(|c| c.tool_call_id == call_id)?;
    Some(calls.remove(at))
}

/// The text shown for a failed, retried or denied tool return: the feedback itself.
pub(crate) fn error_text(ret: &ToolReturnPart) -> String {
    verity::messages::client_error_text(&ret.content)
}

/// A tool call's arguments as the JSON value the UI shows; arguments that are not valid
/// JSON are kept as `{"INVALID_JSON": text}` (PydanticAI's `args_as_dict`).
pub(crate) fn args_value(call: &ToolCallPart) -> Value {
    call.args
        .to_value()
        .unwrap_or_else(|_| json!({"INVALID_JSON": call.args.to_json_string()}))
}

/// The segments as chunks (a tool call's input ends with `tool-input-available`, sent
/// when the call runs, not when its part ends).
fn write(segments: Vec<Segment>, out: &mut Vec<UiChunk>) {
    for segment in segments {
        out.push(match segment {
            Segment::TextStart { id } => UiChunk::TextStart {
                id,
                provider_metadata: None,
            },
            Segment::TextDelta { id, delta } => UiChunk::TextDelta {
                id,
                delta,
                provider_metadata: None,
            },
            Segment::TextEnd { id } => UiChunk::TextEnd {
                id,
                provider_metadata: None,
            },
            Segment::ReasoningStart { id } => UiChunk::ReasoningStart {
                id,
                provider_metadata: None,
            },
            Segment::ReasoningDelta { id, delta } => UiChunk::ReasoningDelta {
                id,
                delta,
                provider_metadata: None,
            },
            Segment::ReasoningEnd { id } => UiChunk::ReasoningEnd {
                id,
                provider_metadata: None,
            },
            Segment::ToolStart { call_id, name } => UiChunk::ToolInputStart {
                tool_call_id: call_id,
                tool_name: name,
                provider_executed: None,
            },
            Segment::ToolArgs { call_id, delta } => UiChunk::ToolInputDelta {
                tool_call_id: call_id,
                input_text_delta: delta,
            },
            Segment::ToolEnd { .. } => continue,
        });
    }
}

fn input_available(call: &ToolCallPart) -> UiChunk {
    UiChunk::ToolInputAvailable {
        tool_call_id: call.tool_call_id.clone(),
        tool_name: call.tool_name.clone(),
        input: args_value(call),
        provider_executed: None,
        provider_metadata: None,
    }
}

fn finish_reason(reason: &FinishReason) -> String {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ContentFilter => "content-filter",
        FinishReason::ToolCall => "tool-calls",
        FinishReason::Error => "error",
        _ => "other",
    }
    .to_owned()
}
