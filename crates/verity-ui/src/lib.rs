//! Chat UIs for Verity agents (PydanticAI's `pydantic_ai.ui`).
//!
//! - [`vercel`]: the Vercel AI SDK's UI message stream protocol — an AI SDK frontend
//!   (`useChat`) posts its messages, the agent's streamed run comes back as SSE chunks;
//!   [`vercel::dump_messages`] / [`vercel::load_messages`] convert between Verity's
//!   history and the SDK's `UIMessage`s, exactly both ways.
//! - [`ag_ui`]: the AG-UI protocol — `RunAgentInput` in, AG-UI events out as SSE, from the
//!   same run events.
//! - [`chat_app`]: a web chat (an axum router): a plain HTML/JS page that streams the
//!   answers, the conversation kept in SQLite.
//!
//! Both protocols answer with an axum [`Response`]; a malformed request
//! is a [`UiError`], answered with a 400 and a JSON error, never a panic.
#![forbid(clippy::dbg_macro)]

pub mod ag_ui;
pub mod chat_app;
mod parts;
pub mod sse;
pub mod vercel;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use verity::Agent;
use verity::agent::{RunRequest, WithDeps};
use verity::deferred::DeferredToolResults;
use verity::messages::{ModelMessage, UserPrompt};

/// What a chat request asks the agent to do: continue `history` with `prompt`, after
/// answering the deferred tool calls the history ends with (approvals the user gave).
#[derive(Debug, Clone)]
pub struct RunInput {
    /// The conversation before the new prompt.
    pub history: Vec<ModelMessage>,
    /// The new user prompt, if the request ends with one.
    pub prompt: Option<UserPrompt>,
    /// The user's answers to approval requests, if the request carries any.
    pub deferred: Option<DeferredToolResults>,
}

impl RunInput {
    /// The run this input asks for, with deps from the deps type's `Default`; then
    /// `.stream()` it.
    pub fn request<D, O>(self, agent: &Agent<D, O>) -> RunRequest<D, O>
    where
        D: Default + Send + Sync + 'static,
        O: Send + Sync + 'static,
    {
        let RunInput {
            history,
            prompt,
            deferred,
        } = self;
        start(agent, prompt, deferred).message_history(history)
    }

    /// The run this input asks for, with these deps; then `.stream()` it.
    pub fn request_with_deps<D, O>(
        self,
        agent: &Agent<D, O>,
        deps: D,
    ) -> RunRequest<D, O, WithDeps<D>>
    where
        D: Send + Sync + 'static,
        O: Send + Sync + 'static,
    {
        let RunInput {
            history,
            prompt,
            deferred,
        } = self;
        start(agent, prompt, deferred)
            .deps(deps)
            .message_history(history)
    }
}

fn start<D, O>(
    agent: &Agent<D, O>,
    prompt: Option<UserPrompt>,
    deferred: Option<DeferredToolResults>,
) -> RunRequest<D, O>
where
    D: Send + Sync + 'static,
    O: Send + Sync + 'static,
{
    match (prompt, deferred) {
        (Some(prompt), Some(results)) => agent.run(prompt).deferred_results(results),
        (Some(prompt), None) => agent.run(prompt),
        (None, results) => agent.resume(results.unwrap_or_default()),
    }
}

/// The protocol items a tool return's metadata holds for the client: one item, or an
/// array of them; values that are not items of type `T` are skipped.
pub(crate) fn metadata_items<T: serde::de::DeserializeOwned>(
    metadata: Option<&serde_json::Value>,
) -> Vec<T> {
    use serde_json::Value;
    let parse = |v: &Value| serde_json::from_value::<T>(v.clone()).ok();
    match metadata {
        Some(Value::Array(items)) => items.iter().filter_map(parse).collect(),
        Some(one @ Value::Object(_)) => parse(one).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Why a UI request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The request body is malformed or asks for something impossible.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl UiError {
    /// The HTTP status the error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.to_string()}).to_string();
        let mut response = (self.status(), body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

impl From<UiError> for Response {
    fn from(e: UiError) -> Self {
        e.into_response()
    }
}

/// The README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
