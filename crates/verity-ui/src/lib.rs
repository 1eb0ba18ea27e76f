//! Chat UIs for Verity agents (PydanticAI's `pydantic_ai.ui`).
//!
//! - [`vercel`]: the Vercel AI SDK's UI message stream protocol — an AI SDK frontend
//!   (`useChat`) posts its messages, the agent's streamed run comes back as SSE chunks;
//!   [`vercel::dump_messages`] / [`vercel::load_messages`] convert between Verity's
//!   history and the SDK's `UIMessage`s, exactly both ways.
//! - [`ag_ui`]: the AG-UI protocol — `RunAgentInput` in, AG-UI events out as SSE, from the
//!   same run events.
//!
//! Both answer with an axum [`Response`](axum::response::Response); a malformed request
//! is a [`UiError`], answered with a 400 and a JSON error, never a panic.
#![forbid(clippy::dbg_macro)]

pub mod ag_ui;
pub mod chat_app;
pub mod sse;
pub mod vercel;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

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
