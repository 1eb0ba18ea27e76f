//! The one error type of the crate.

use std::time::Duration;

/// Result alias used throughout Verity.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can end a run or a model request.
///
/// Provider errors keep the HTTP status and body; nothing here ever carries an API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The provider answered with a non-success HTTP status.
    #[error("model `{model_name}` returned HTTP {status}: {body}")]
    ModelHttp {
        /// HTTP status code.
        status: u16,
        /// Name of the model that was called.
        model_name: String,
        /// Response body, as text (possibly truncated to the body-size limit).
        body: String,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The model API could not be reached or its answer could not be read
    /// (connection refused, reset, timeout, truncated stream).
    #[error("model `{model_name}` API error: {message}")]
    ModelApi {
        /// Name of the model that was called.
        model_name: String,
        /// What went wrong.
        message: String,
    },
    /// The model answered in a way the run cannot accept (invalid output after all
    /// retries, unknown parts, malformed bodies).
    #[error("unexpected model behavior: {message}")]
    UnexpectedModelBehavior {
        /// What went wrong.
        message: String,
        /// The offending body, when there is one.
        body: Option<String>,
    },
    /// The provider's content filter ended the response (or blocked the prompt) with
    /// nothing to act on: a prompt blocked by a safety or policy filter (Vertex Model
    /// Armor, Gemini `promptFeedback`), a refusal. Never an empty success.
    #[error("{message}")]
    ContentFilter {
        /// `Content filter triggered.` and the provider's reason, as PydanticAI words it.
        message: String,
        /// The response, as JSON.
        body: Option<String>,
    },
    /// A usage limit would be exceeded.
    #[error("usage limit exceeded: {0}")]
    UsageLimitExceeded(String),
    /// A tool failed with an error other than [`ModelRetry`](crate::ModelRetry).
    #[error("tool `{tool_name}` failed: {source}")]
    ToolExecution {
        /// The tool's name.
        tool_name: String,
        /// The tool's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Every model of a [`FallbackModel`](crate::models::fallback::FallbackModel) failed.
    #[error("all fallback models failed: {}", format_errors(.0))]
    FallbackExhausted(Vec<Error>),
    /// The caller configured something that cannot work (unknown model name, missing
    /// settings, invalid schema).
    #[error("user error: {0}")]
    User(String),
    /// A real model request was about to be sent while model requests are disallowed
    /// (see [`set_allow_model_requests`](crate::models::set_allow_model_requests)):
    /// nothing was sent.
    #[error(
        "model requests are not allowed, but model `{model}` was about to send one \
         (set VERITY_ALLOW_MODEL_REQUESTS or use a TestModel or FunctionModel)"
    )]
    ModelRequestsDisallowed {
        /// Name of the model that tried to send the request.
        model: String,
    },
    /// Deferred tool calls could not be resumed, or were made where the agent's output
    /// does not allow them ([`crate::deferred`]); no tool was run for them.
    #[error("deferred tool calls: {0}")]
    Deferred(#[from] crate::deferred::DeferredError),
    /// JSON (de)serialization of messages or other data failed.
    #[error("serialization error: {0}")]
    Serialization(#[from] serde_json::Error),
}

fn format_errors(errors: &[Error]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// A short constructor for [`Error::UnexpectedModelBehavior`] without a body.
    pub fn unexpected(message: impl Into<String>) -> Self {
        Error::UnexpectedModelBehavior {
            message: message.into(),
            body: None,
        }
    }

    /// [`Error::UnexpectedModelBehavior`] keeping the offending body (lossily as text).
    pub fn unexpected_body(message: impl Into<String>, body: &[u8]) -> Self {
        Error::UnexpectedModelBehavior {
            message: message.into(),
            body: Some(String::from_utf8_lossy(body).into_owned()),
        }
    }

    /// The HTTP status of a provider error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::ModelHttp { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether this error came from the model API (HTTP status or transport): the
    /// errors a [`FallbackModel`](crate::models::fallback::FallbackModel) falls back on by default.
    pub fn is_model_api_error(&self) -> bool {
        matches!(self, Error::ModelHttp { .. } | Error::ModelApi { .. })
    }
}
