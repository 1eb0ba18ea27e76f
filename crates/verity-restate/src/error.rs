//! The errors a durable run ends with.

/// Why a durable run ended without an output. Each becomes a Restate terminal error (the
/// invocation ends, it is not retried), whose message is this error's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DurableError {
    /// The agent's name is not a valid Restate service name.
    #[error("`{name}` is not a valid Restate service name: {message}")]
    InvalidName {
        /// The name.
        name: String,
        /// What was wrong.
        message: String,
    },
    /// The handler's input was not what it takes.
    #[error("invalid input for `{handler}`: {message}")]
    InvalidInput {
        /// The handler.
        handler: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The stored conversation could not be read back.
    #[error("the stored history of conversation `{key}` cannot be read: {message}")]
    History {
        /// The conversation.
        key: String,
        /// What was wrong.
        message: String,
    },
    /// The agent's run failed (a tool's error, a usage limit, output retries spent, a
    /// model error that is not retried or whose retries are spent).
    #[error("the agent run failed: {0}")]
    Run(#[from] verity::Error),
    /// The run's output cannot be serialized as JSON.
    #[error("the run's output cannot be serialized as JSON: {0}")]
    Output(serde_json::Error),
    /// A decision was sent to a conversation with no run waiting for one.
    #[error("no run of conversation `{key}` waits for a decision")]
    NothingPending {
        /// The conversation.
        key: String,
    },
    /// A call through the ingress failed: the ingress answered with an error (`status`
    /// set; a terminal error of the handler arrives this way) or could not be reached.
    #[error("ingress call failed{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Ingress {
        /// The HTTP status, when there was an answer.
        status: Option<u16>,
        /// The error's message.
        message: String,
    },
}
