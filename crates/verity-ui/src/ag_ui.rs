//! The [AG-UI protocol](https://docs.ag-ui.com): a `RunAgentInput` in, AG-UI events out
//! as SSE (PydanticAI's `AGUIAdapter`), from the same run events as the Vercel stream.
//!
//! A run's events: `RUN_STARTED`; per text part `TEXT_MESSAGE_START` /
//! `TEXT_MESSAGE_CONTENT` / `TEXT_MESSAGE_END`; per reasoning part `REASONING_START`,
//! `REASONING_MESSAGE_START` / `REASONING_MESSAGE_CONTENT` / `REASONING_MESSAGE_END`,
//! `REASONING_END`; per tool call `TOOL_CALL_START` / `TOOL_CALL_ARGS` /
//! `TOOL_CALL_END` and, when the tool ran, `TOOL_CALL_RESULT`; then `RUN_FINISHED`, or
//! `RUN_ERROR` when the run failed.
//!
//! ```no_run
//! use axum::{Router, body::Bytes, routing::post};
//! use verity::prelude::*;
//! use verity_ui::ag_ui::AgUiAdapter;
//!
//! # fn app(agent: Agent<(), String>) -> Router {
//! Router::new().route(
//!     "/agent",
//!     post(move |body: Bytes| async move { AgUiAdapter::new().dispatch(&agent, &body) }),
//! )
//! # }
//! ```

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use verity::messages::{
    ModelMessage, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart,
    SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs, ToolCallPart, ToolOutcome,
    ToolReturnPart, UserContent, UserPrompt, UserPromptPart,
};
use verity::stream::PartDelta;
use verity::{Agent, AgentEvent, StreamedRun};

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
    /// The conversation, the new user message last.
    pub messages: Vec<AgUiMessage>,
    /// Tools the client offers (not run by Verity yet: see the crate README).
    #[serde(default)]
    pub tools: Vec<Value>,
    /// Context the client gives.
    #[serde(default)]
    pub context: Vec<Value>,
    /// Anything else the client forwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_props: Option<Value>,
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
    /// The run finished.
    #[serde(rename_all = "camelCase")]
    RunFinished {
        thread_id: String,
        run_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<Value>,
    },
    /// The run failed.
    #[serde(rename_all = "camelCase")]
    RunError { message: String },
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
        }
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
                    )),
                    ModelRequestPart::RetryPrompt(retry) => {
                        Some((retry.tool_call_id.clone(), retry.model_response_str()))
                    }
                    _ => None,
                };
                if let Some((tool_call_id, content)) = result {
                    out.push(AgUiEvent::ToolCallResult {
                        message_id: (self.ids)(),
                        tool_call_id,
                        content,
                        role: "tool".into(),
                    });
                }
            }
            _ => {}
        }
        out
    }

    /// The event that ends a run that completed: `RUN_FINISHED`.
    pub fn finish(&mut self) -> Vec<AgUiEvent> {
        let mut out = Vec::new();
        self.close_open(&mut out);
        out.push(AgUiEvent::RunFinished {
            thread_id: self.thread_id.clone(),
            run_id: self.run_id.clone(),
            outcome: Some(serde_json::json!({"type": "success"})),
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

fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs an agent for an AG-UI client (PydanticAI's `AGUIAdapter`).
#[derive(Debug, Clone, Default)]
pub struct AgUiAdapter {}

impl AgUiAdapter {
    /// An adapter.
    pub fn new() -> Self {
        Self::default()
    }

    /// A request body as a [`RunAgentInput`]; a malformed body is a
    /// [`UiError::BadRequest`].
    pub fn parse_input(body: &[u8]) -> Result<RunAgentInput, UiError> {
        serde_json::from_slice(body)
            .map_err(|e| UiError::BadRequest(format!("invalid RunAgentInput: {e}")))
    }

    /// The run an input asks for: its messages as history, the last (a user message)
    /// as the new prompt.
    pub fn run_input(input: &RunAgentInput) -> Result<RunInput, UiError> {
        let Some((AgUiMessage::User { content, .. }, earlier)) = input.messages.split_last() else {
            return Err(UiError::BadRequest(
                "the last message must be a user message".into(),
            ));
        };
        Ok(RunInput {
            history: load_messages(earlier)?,
            prompt: Some(user_prompt(content)?),
            deferred: None,
        })
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
        let mut encoder = AgUiEncoder::new(input.thread_id.clone(), input.run_id.clone());
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

    /// Events as an SSE response.
    pub fn response(events: impl Stream<Item = AgUiEvent> + Send + 'static) -> SseResponse {
        sse::response(events.map(|e| e.to_sse()), &[])
    }

    /// Handle an AG-UI request end to end: parse the body, run the agent (deps from its
    /// deps type's `Default`) streamed, answer with the events. A malformed body is
    /// answered with a 400 and a JSON error.
    pub fn dispatch<D, O>(&self, agent: &Agent<D, O>, body: &[u8]) -> SseResponse
    where
        D: Default + Send + Sync + 'static,
        O: Send + Sync + 'static,
    {
        let input = match Self::parse_input(body) {
            Ok(input) => input,
            Err(e) => return e.into(),
        };
        let run_input = match Self::run_input(&input) {
            Ok(run_input) => run_input,
            Err(e) => return e.into(),
        };
        let run = run_input.request(agent).stream();
        Self::response(self.stream(&input, run))
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
                ..
            } => {
                let tool_name = call_names
                    .get(tool_call_id)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let content = match content {
                    Value::String(text) => {
                        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
                    }
                    other => other.clone(),
                };
                let mut ret = ToolReturnPart::new(tool_name, content, tool_call_id.clone());
                if let Some(error) = error {
                    ret.outcome = ToolOutcome::Failed;
                    ret.content = Value::String(error.clone());
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
                    parts.push(ModelResponsePart::ToolCall(ToolCallPart::new(
                        call.function.name.clone(),
                        ToolCallArgs::Json(call.function.arguments.clone()),
                        call.id.clone(),
                    )));
                }
                out.push(ModelMessage::Response(ModelResponse::new(parts)));
            }
            AgUiMessage::Activity { .. } => {}
        }
    }
    flush(&mut out, &mut request);
    Ok(out)
}
