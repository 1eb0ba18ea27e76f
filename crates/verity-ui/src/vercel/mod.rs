//! The Vercel AI SDK's UI message stream protocol: what `useChat` posts in, a streamed
//! run's events out as SSE, and history ↔ UI messages.
//!
//! ```no_run
//! use axum::{Router, body::Bytes, routing::post};
//! use verity::prelude::*;
//! use verity_ui::vercel::VercelAiAdapter;
//!
//! # async fn serve(agent: Agent<(), String>) {
//! let app: Router = Router::new().route(
//!     "/api/chat",
//!     post(move |body: Bytes| async move { VercelAiAdapter::new().dispatch(&agent, &body) }),
//! );
//! # }
//! ```

mod chunks;
mod convert;
mod encoder;
mod types;

use futures::{Stream, StreamExt};
use verity::agent::RunResult;
use verity::deferred::DeferredToolResults;
use verity::messages::{ModelMessage, ModelRequestPart};
use verity::{Agent, StreamedRun};

pub use chunks::{DONE, DataChunk, UiChunk};
pub use convert::{DENIED_TEXT, dump_messages, load_messages};
pub use encoder::{SdkVersion, VercelEncoder};
pub(crate) use encoder::{args_value, error_text as error_text_of};
pub use types::{ChatRequest, ToolApprovalUi, ToolState, ToolUiPart, UiMessage, UiPart, UiRole};

pub use crate::RunInput;
use crate::UiError;
use crate::sse::{self, SseResponse};

/// The header that marks a response as a UI message stream.
pub const UI_MESSAGE_STREAM_HEADER: (&str, &str) = ("x-vercel-ai-ui-message-stream", "v1");

/// Runs an agent for an AI SDK frontend (PydanticAI's `VercelAIAdapter`): a `useChat`
/// request in, a UI message stream out.
#[derive(Debug, Clone, Default)]
pub struct VercelAiAdapter {
    sdk_version: SdkVersion,
    message_id: Option<String>,
}

impl VercelAiAdapter {
    /// An adapter writing AI SDK 5 streams.
    pub fn new() -> Self {
        Self::default()
    }

    /// Write streams for this AI SDK version ([`SdkVersion::V6`] adds approvals).
    pub fn sdk_version(mut self, version: SdkVersion) -> Self {
        self.sdk_version = version;
        self
    }

    /// Give the streamed assistant message this id (in the `start` chunk).
    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// A request body as a [`ChatRequest`]; a malformed body is a
    /// [`UiError::BadRequest`].
    pub fn parse_request(body: &[u8]) -> Result<ChatRequest, UiError> {
        serde_json::from_slice(body)
            .map_err(|e| UiError::BadRequest(format!("invalid chat request: {e}")))
    }

    /// The run a request asks for: its messages as history; a last user message is the
    /// new prompt; approvals answered in the last assistant message (tool parts in state
    /// `approval-responded`) are the deferred results.
    pub fn run_input(request: &ChatRequest) -> Result<RunInput, UiError> {
        let Some((last, earlier)) = request.messages.split_last() else {
            return Err(UiError::BadRequest("the request has no messages".into()));
        };
        let mut history = load_messages(earlier)?;
        match last.role {
            UiRole::User => {
                let prompt = convert::user_prompt(&last.parts)?;
                Ok(RunInput {
                    history,
                    prompt: Some(prompt),
                    deferred: None,
                })
            }
            UiRole::Assistant => {
                history.extend(load_messages(std::slice::from_ref(last))?);
                let deferred = approvals(last, &history)?;
                Ok(RunInput {
                    history,
                    prompt: None,
                    deferred: Some(deferred),
                })
            }
            UiRole::System => Err(UiError::BadRequest(
                "the last message is a system message: nothing to answer".into(),
            )),
        }
    }

    /// [`run_input`](Self::run_input) for a server that keeps the conversation itself:
    /// `history` (the stored one) instead of the request's earlier messages; the request's
    /// last message is still the new prompt, or the approvals, bound to the calls
    /// `history` ends with.
    pub fn run_input_with_history(
        request: &ChatRequest,
        history: Vec<ModelMessage>,
    ) -> Result<RunInput, UiError> {
        let Some(last) = request.messages.last() else {
            return Err(UiError::BadRequest("the request has no messages".into()));
        };
        match last.role {
            UiRole::User => Ok(RunInput {
                history,
                prompt: Some(convert::user_prompt(&last.parts)?),
                deferred: None,
            }),
            UiRole::Assistant => {
                let deferred = approvals(last, &history)?;
                Ok(RunInput {
                    history,
                    prompt: None,
                    deferred: Some(deferred),
                })
            }
            UiRole::System => Err(UiError::BadRequest(
                "the last message is a system message: nothing to answer".into(),
            )),
        }
    }

    /// An encoder for one stream with this adapter's settings.
    pub fn encoder(&self) -> VercelEncoder {
        let encoder = VercelEncoder::new(self.sdk_version);
        match &self.message_id {
            Some(id) => encoder.with_message_id(id.clone()),
            None => encoder,
        }
    }

    /// A streamed run's events as UI message stream chunks; an error ends the stream
    /// with an `error` chunk.
    pub fn stream<D, O>(
        &self,
        run: StreamedRun<D, O>,
    ) -> impl Stream<Item = UiChunk> + Send + 'static
    where
        D: Send + Sync + 'static,
        O: Send + Sync + 'static,
    {
        self.stream_with(run, |_| {})
    }

    /// [`stream`](Self::stream), calling `on_complete` with the run's result when it
    /// completes (to store the conversation, say) before the last chunks are sent.
    pub fn stream_with<D, O, F>(
        &self,
        mut run: StreamedRun<D, O>,
        on_complete: F,
    ) -> impl Stream<Item = UiChunk> + Send + 'static
    where
        D: Send + Sync + 'static,
        O: Send + Sync + 'static,
        F: FnOnce(&RunResult<O>) + Send + 'static,
    {
        let mut encoder = self.encoder();
        async_stream::stream! {
            for chunk in encoder.start() {
                yield chunk;
            }
            let mut error = None;
            while let Some(event) = run.next_event().await {
                match event {
                    Ok(event) => {
                        for chunk in encoder.event(&event) {
                            yield chunk;
                        }
                    }
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            let chunks = match (error, run.result()) {
                (Some(e), _) => encoder.error(e.to_string()),
                (None, Some(result)) => {
                    on_complete(result);
                    encoder.finish()
                }
                (None, None) => encoder.error("the run ended without a result"),
            };
            for chunk in chunks {
                yield chunk;
            }
        }
    }

    /// Chunks as an SSE response with the UI message stream's headers, ending with
    /// `data: [DONE]`.
    pub fn response(chunks: impl Stream<Item = UiChunk> + Send + 'static) -> SseResponse {
        let events = chunks
            .map(|chunk| chunk.to_sse())
            .chain(futures::stream::once(async { DONE.to_owned() }));
        sse::response(events, &[UI_MESSAGE_STREAM_HEADER])
    }

    /// Handle a `useChat` request end to end: parse the body, run the agent (deps from
    /// its deps type's `Default`) streamed, answer with the UI message stream. A
    /// malformed body is answered with a 400 and a JSON error.
    pub fn dispatch<D, O>(&self, agent: &Agent<D, O>, body: &[u8]) -> SseResponse
    where
        D: Default + Send + Sync + 'static,
        O: Send + Sync + 'static,
    {
        let input = match Self::parse_request(body).and_then(|r| Self::run_input(&r)) {
            Ok(input) => input,
            Err(e) => return e.into(),
        };
        let run = input.request(agent).stream();
        Self::response(self.stream(run))
    }
}

/// The approvals answered in an assistant message, bound to the calls they answer.
fn approvals(last: &UiMessage, history: &[ModelMessage]) -> Result<DeferredToolResults, UiError> {
    let mut results = DeferredToolResults::new();
    let calls: Vec<_> = history
        .iter()
        .rev()
        .find_map(ModelMessage::as_response)
        .map(|r| r.tool_calls().cloned().collect())
        .unwrap_or_default();
    let answered: Vec<&str> = history
        .iter()
        .filter_map(ModelMessage::as_request)
        .flat_map(|r| &r.parts)
        .filter_map(|p| match p {
            ModelRequestPart::ToolReturn(t) => Some(t.tool_call_id.as_str()),
            _ => None,
        })
        .collect();
    for part in &last.parts {
        let UiPart::Tool(tool) = part else { continue };
        let Some(approval) = tool
            .approval
            .as_ref()
            .filter(|_| tool.state == ToolState::ApprovalResponded)
        else {
            continue;
        };
        if answered.contains(&tool.tool_call_id.as_str()) {
            continue;
        }
        let call = calls
            .iter()
            .find(|c| c.tool_call_id == tool.tool_call_id)
            .ok_or_else(|| UiError::BadRequest(format!("no pending call {}", tool.tool_call_id)))?;
        match approval.approved {
            Some(true) => results.approve(call),
            _ => results.deny(
                call,
                approval
                    .reason
                    .clone()
                    .unwrap_or_else(|| DENIED_TEXT.to_owned()),
            ),
        };
    }
    Ok(results)
}
