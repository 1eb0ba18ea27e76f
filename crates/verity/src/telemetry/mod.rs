//! Tracing and metrics in the OpenTelemetry GenAI semantic conventions.
//!
//! Every run is an `invoke_agent {agent}` span, every model request a `chat {model}`
//! span (kind CLIENT) inside it, and every function-tool call an `execute_tool {tool}`
//! span, all emitted through [`tracing`] with the attribute names of [`attr`]. Nothing is
//! built when nobody listens: each span is checked before its attribute values are made.
//!
//! Message content (`gen_ai.input.messages`, `gen_ai.output.messages`,
//! `gen_ai.system_instructions`, `gen_ai.tool.definitions`, tool arguments and results)
//! is left out unless an agent asks for it
//! ([`AgentBuilder::capture_message_content`](crate::agent::AgentBuilder::capture_message_content))
//! or `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` is set; binary data is
//! never inlined.
//!
//! With the `otel` feature, `init` installs an OTLP exporter for the spans and the
//! GenAI metrics (through `MetricsLayer`), and outgoing model requests carry the
//! active span's `traceparent`.
//!
//! ```no_run
//! # #[cfg(feature = "otel")]
//! # fn main() -> verity::Result<()> {
//! // OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OTEL_SERVICE_NAME=my-agent
//! let _telemetry = verity::telemetry::init()?; // flushes when dropped
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "otel"))]
//! # fn main() {}
//! ```

pub mod attr;
mod content;
#[cfg(feature = "otel")]
mod export;
#[cfg(feature = "otel")]
mod metrics;

#[cfg(feature = "otel")]
pub(crate) use export::inject_trace_context;
#[cfg(feature = "otel")]
pub use export::{TelemetryGuard, init, layers};
#[cfg(feature = "otel")]
pub use metrics::MetricsLayer;

use std::sync::OnceLock;
use std::time::Duration;

use tracing::Span;
use tracing::field::Empty;

use crate::error::Error;
use crate::messages::{ModelMessage, ModelResponse};
use crate::model::DynModel;
use crate::request::{ModelRequestParameters, OutputMode};
use crate::settings::ModelSettings;
use crate::tools::{Rejection, ToolCallError};
use crate::usage::RunUsage;

/// The `tracing` target of Verity's GenAI spans.
pub const TARGET: &str = "verity";
/// Name (in `tracing`'s metadata) of the run span.
pub const RUN_SPAN: &str = "invoke_agent";
/// Name (in `tracing`'s metadata) of the model-request span.
pub const CHAT_SPAN: &str = "chat";
/// Name (in `tracing`'s metadata) of the tool-call span.
pub const TOOL_SPAN: &str = "execute_tool";

/// The environment variable that switches content capture on for every agent that does
/// not decide itself (`true` / `false`).
pub const CAPTURE_CONTENT_ENV: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

/// The current span's W3C trace context (`traceparent`, and `tracestate` when there is
/// one), for carriers other than the HTTP headers Verity fills itself — an MCP request's
/// `_meta`, a message to a queue. Empty without the `otel` feature or outside a traced
/// span.
pub fn trace_context() -> Vec<(String, String)> {
    #[cfg(feature = "otel")]
    {
        export::current_trace_context()
    }
    #[cfg(not(feature = "otel"))]
    {
        Vec::new()
    }
}

/// Whether [`CAPTURE_CONTENT_ENV`] asks for message content (read once).
pub fn capture_content_from_env() -> bool {
    static CAPTURE: OnceLock<bool> = OnceLock::new();
    *CAPTURE.get_or_init(|| {
        std::env::var(CAPTURE_CONTENT_ENV)
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1")
    })
}

/// The well-known `gen_ai.provider.name` of a model's provider (its
/// [`system`](crate::Model::system)): `openai`, `anthropic`, `aws.bedrock`, `gcp.gemini`,
/// `gcp.vertex_ai`, `azure.ai.openai`, `mistral_ai`, `cohere`, `groq`, `deepseek`,
/// `x_ai`, …; other names are kept as they are.
pub fn provider_name(system: &str) -> &str {
    match system {
        "openai" => "openai",
        "azure" => "azure.ai.openai",
        "anthropic" => "anthropic",
        "bedrock" => "aws.bedrock",
        "google-gla" | "google" | "gemini" => "gcp.gemini",
        "google-vertex" | "vertex" | "vertexai" => "gcp.vertex_ai",
        "mistral" => "mistral_ai",
        "cohere" => "cohere",
        "groq" => "groq",
        "deepseek" => "deepseek",
        "grok" | "xai" | "x-ai" => "x_ai",
        "perplexity" => "perplexity",
        "ibm" | "watsonx" => "ibm.watsonx.ai",
        other => other,
    }
}

/// A low-cardinality name for an error (`error.type`).
pub fn error_type(error: &Error) -> &'static str {
    match error {
        Error::ModelHttp { .. } => "ModelHttp",
        Error::ModelApi { .. } => "ModelApi",
        Error::UnexpectedModelBehavior { .. } => "UnexpectedModelBehavior",
        Error::UsageLimitExceeded(_) => "UsageLimitExceeded",
        Error::ToolExecution { .. } => "ToolExecution",
        Error::FallbackExhausted(_) => "FallbackExhausted",
        Error::User(_) => "User",
        Error::ModelRequestsDisallowed { .. } => "ModelRequestsDisallowed",
        Error::Deferred(_) => "Deferred",
        Error::Serialization(_) => "Serialization",
        #[allow(unreachable_patterns)]
        _ => "_OTHER",
    }
}

/// Token counts are `i64` attributes (a `u64` would be recorded as text).
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Host and port of a base URL (`https://api.openai.com/v1` → `api.openai.com`, 443).
fn server(base_url: &str) -> (Option<&str>, Option<i64>) {
    let (scheme, rest) = match base_url.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("https", base_url),
    };
    let end = rest
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = match authority.bytes().rposition(|b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse::<i64>() {
            Ok(port) => (h, Some(port)),
            Err(_) => (authority, None),
        },
        _ => (authority, None),
    };
    let port = port.or(match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    });
    ((!host.is_empty()).then_some(host), port)
}

/// A span's OpenTelemetry name, `{operation} {target}`: made only for a span that is
/// enabled (the macros evaluate field values after the level and callsite checks), and
/// without the formatting machinery, which costs several times as much.
fn span_name(operation: &str, target: &str) -> String {
    let mut name = String::with_capacity(operation.len() + 1 + target.len());
    name.push_str(operation);
    name.push(' ');
    name.push_str(target);
    name
}

/// The span of a run: `invoke_agent {agent}`.
pub(crate) fn run_span(
    agent_name: Option<&str>,
    model: &dyn DynModel,
    messages: &[ModelMessage],
) -> Span {
    let name = agent_name.unwrap_or("agent");
    let span = tracing::info_span!(
        target: TARGET,
        RUN_SPAN,
        // what the end records comes first: `record_all!` finds each field by a scan
        { attr::USAGE_INPUT_TOKENS } = Empty,
        { attr::USAGE_OUTPUT_TOKENS } = Empty,
        { attr::USAGE_CACHE_READ_INPUT_TOKENS } = Empty,
        { attr::USAGE_CACHE_CREATION_INPUT_TOKENS } = Empty,
        { attr::USAGE_REASONING_OUTPUT_TOKENS } = Empty,
        { attr::OTEL_STATUS_CODE } = Empty,
        { attr::ERROR_TYPE } = Empty,
        { attr::OTEL_NAME } = span_name(attr::OP_INVOKE_AGENT, name),
        { attr::OTEL_KIND } = "internal",
        { attr::OPERATION_NAME } = attr::OP_INVOKE_AGENT,
        { attr::AGENT_NAME } = name,
        { attr::PROVIDER_NAME } = provider_name(model.system()),
        { attr::REQUEST_MODEL } = model.model_name(),
        { attr::CONVERSATION_ID } = Empty,
    );
    if !span.is_disabled() {
        let conversation = messages.iter().rev().find_map(|m| match m {
            ModelMessage::Request(r) => r.conversation_id.as_ref()?.as_deref(),
            ModelMessage::Response(r) => r.conversation_id.as_ref()?.as_deref(),
        });
        if let Some(id) = conversation {
            span.record(attr::CONVERSATION_ID, id);
        }
    }
    span
}

/// Record a run's end: its total usage (as `result.usage()` gives it) and its error.
pub(crate) fn record_run_end(span: &Span, usage: &RunUsage, error: Option<&Error>) {
    if span.is_disabled() {
        return;
    }
    let error = error.map(error_type);
    // one pass through the subscriber: each record is a span lookup in every layer
    tracing::record_all!(
        span,
        { attr::USAGE_INPUT_TOKENS } = int(usage.input_tokens),
        { attr::USAGE_OUTPUT_TOKENS } = int(usage.output_tokens),
        { attr::USAGE_CACHE_READ_INPUT_TOKENS } = nonzero(usage.cache_read_tokens),
        { attr::USAGE_CACHE_CREATION_INPUT_TOKENS } = nonzero(usage.cache_write_tokens),
        { attr::USAGE_REASONING_OUTPUT_TOKENS } = reasoning_tokens(&usage.details),
        { attr::OTEL_STATUS_CODE } = error.map(|_| "error"),
        { attr::ERROR_TYPE } = error,
    );
}

/// A cache token count, left out when zero.
fn nonzero(n: u64) -> Option<i64> {
    (n > 0).then(|| int(n))
}

fn reasoning_tokens(details: &std::collections::BTreeMap<String, u64>) -> Option<i64> {
    details.get("reasoning_tokens").map(|n| int(*n))
}

fn record_error(span: &Span, error_type: &str) {
    tracing::record_all!(
        span,
        { attr::OTEL_STATUS_CODE } = "error",
        { attr::ERROR_TYPE } = error_type,
    );
}

/// What the model is asked to produce (`gen_ai.output.type`).
fn output_type(params: &ModelRequestParameters) -> &'static str {
    match params.output_mode {
        OutputMode::Text => "text",
        _ => "json",
    }
}

/// The span of a model request: `chat {model}`, kind CLIENT, with the attributes a
/// sampler needs (operation, provider, model, server, settings) set at its start.
pub(crate) fn chat_span(
    model: &dyn DynModel,
    settings: &ModelSettings,
    params: &ModelRequestParameters,
) -> Span {
    let (address, port) = model.base_url().map(server).unwrap_or_default();
    let span = tracing::info_span!(
        target: TARGET,
        CHAT_SPAN,
        // what the end records comes first: `record_all!` finds each field by a scan
        { attr::RESPONSE_ID } = Empty,
        { attr::RESPONSE_MODEL } = Empty,
        { attr::USAGE_INPUT_TOKENS } = Empty,
        { attr::USAGE_OUTPUT_TOKENS } = Empty,
        { attr::USAGE_CACHE_READ_INPUT_TOKENS } = Empty,
        { attr::USAGE_CACHE_CREATION_INPUT_TOKENS } = Empty,
        { attr::USAGE_REASONING_OUTPUT_TOKENS } = Empty,
        { attr::OUTPUT_MESSAGES } = Empty,
        { attr::OTEL_STATUS_CODE } = Empty,
        { attr::ERROR_TYPE } = Empty,
        { attr::OTEL_NAME } = span_name(attr::OP_CHAT, model.model_name()),
        { attr::OTEL_KIND } = "client",
        { attr::OPERATION_NAME } = attr::OP_CHAT,
        { attr::PROVIDER_NAME } = provider_name(model.system()),
        { attr::REQUEST_MODEL } = model.model_name(),
        { attr::SERVER_ADDRESS } = address,
        { attr::SERVER_PORT } = port,
        { attr::REQUEST_MAX_TOKENS } = settings.max_tokens.map(i64::from),
        { attr::REQUEST_TEMPERATURE } = settings.temperature,
        { attr::REQUEST_TOP_P } = settings.top_p,
        { attr::REQUEST_SEED } = settings.seed,
        { attr::REQUEST_PRESENCE_PENALTY } = settings.presence_penalty,
        { attr::REQUEST_FREQUENCY_PENALTY } = settings.frequency_penalty,
        { attr::OUTPUT_TYPE } = output_type(params),
        { attr::RESPONSE_FINISH_REASONS } = Empty,
        { attr::RESPONSE_TIME_TO_FIRST_CHUNK } = Empty,
        { attr::INPUT_MESSAGES } = Empty,
        { attr::SYSTEM_INSTRUCTIONS } = Empty,
        { attr::TOOL_DEFINITIONS } = Empty,
    );
    span
}

/// Record what a request sends (content capture only).
pub(crate) fn record_chat_input(
    span: &Span,
    messages: &[ModelMessage],
    params: &ModelRequestParameters,
) {
    if span.is_disabled() {
        return;
    }
    span.record(
        attr::INPUT_MESSAGES,
        content::input_messages(messages).as_str(),
    );
    let instructions = messages.iter().rev().find_map(|m| match m {
        ModelMessage::Request(r) => Some(r.instructions.as_deref()),
        ModelMessage::Response(_) => None,
    });
    if let Some(Some(text)) = instructions {
        span.record(
            attr::SYSTEM_INSTRUCTIONS,
            content::system_instructions(text).as_str(),
        );
    }
    if let Some(defs) = content::tool_definitions(params) {
        span.record(attr::TOOL_DEFINITIONS, defs.as_str());
    }
}

/// Record the first chunk of a streamed request, `elapsed` after it was issued.
pub(crate) fn record_first_chunk(span: &Span, elapsed: Duration) {
    span.record(attr::RESPONSE_TIME_TO_FIRST_CHUNK, elapsed.as_secs_f64());
}

/// Record a request's outcome: the response's id, model, finish reason, usage (and with
/// content capture, the output messages), or the error.
pub(crate) fn record_chat_outcome(
    span: &Span,
    outcome: Result<&ModelResponse, &Error>,
    capture_content: bool,
) {
    if span.is_disabled() {
        return;
    }
    let response = match outcome {
        Ok(response) => response,
        Err(error) => return record_error(span, error_type(error)),
    };
    let usage = &response.usage;
    let output = capture_content.then(|| content::output_messages(response));
    tracing::record_all!(
        span,
        { attr::RESPONSE_ID } = response.provider_response_id.as_deref(),
        { attr::RESPONSE_MODEL } = response.model_name.as_deref(),
        { attr::USAGE_INPUT_TOKENS } = int(usage.input_tokens),
        { attr::USAGE_OUTPUT_TOKENS } = int(usage.output_tokens),
        { attr::USAGE_CACHE_READ_INPUT_TOKENS } = nonzero(usage.cache_read_tokens),
        { attr::USAGE_CACHE_CREATION_INPUT_TOKENS } = nonzero(usage.cache_write_tokens),
        { attr::USAGE_REASONING_OUTPUT_TOKENS } = reasoning_tokens(&usage.details),
        { attr::OUTPUT_MESSAGES } = output.as_deref(),
    );
    if let Some(reason) = &response.finish_reason {
        record_finish_reason(span, reason.as_str());
    }
}

#[cfg(feature = "otel")]
fn record_finish_reason(span: &Span, reason: &str) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    // a string array, which `tracing` fields cannot hold
    span.set_attribute(
        attr::RESPONSE_FINISH_REASONS,
        opentelemetry::Value::Array(
            vec![opentelemetry::StringValue::from(reason.to_owned())].into(),
        ),
    );
}

#[cfg(not(feature = "otel"))]
fn record_finish_reason(span: &Span, reason: &str) {
    span.record(attr::RESPONSE_FINISH_REASONS, reason);
}

/// The span of a function-tool call: `execute_tool {tool}`. `retry` is how many times
/// the tool has been retried in this run; `args` gives the arguments' JSON, called only
/// with content capture on and someone listening.
pub(crate) fn tool_span(
    tool_name: &str,
    tool_call_id: &str,
    retry: u32,
    args: Option<&dyn Fn() -> String>,
) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        TOOL_SPAN,
        { attr::OTEL_NAME } = span_name(attr::OP_EXECUTE_TOOL, tool_name),
        { attr::OTEL_KIND } = "internal",
        { attr::OTEL_STATUS_CODE } = Empty,
        { attr::OPERATION_NAME } = attr::OP_EXECUTE_TOOL,
        { attr::TOOL_NAME } = tool_name,
        { attr::TOOL_CALL_ID } = tool_call_id,
        { attr::TOOL_TYPE } = "function",
        { attr::TOOL_CALL_RETRY } = i64::from(retry),
        { attr::ERROR_TYPE } = Empty,
        { attr::TOOL_CALL_ARGUMENTS } = Empty,
        { attr::TOOL_CALL_RESULT } = Empty,
    );
    if let Some(args) = args
        && !span.is_disabled()
    {
        span.record(attr::TOOL_CALL_ARGUMENTS, args().as_str());
    }
    span
}

/// Record a tool call's outcome: a retry asked for (`ModelRetry`), invalid arguments
/// (`ValidationError`) and failures are errors; a deferral is not.
pub(crate) fn record_tool_outcome(
    span: &Span,
    outcome: &Result<serde_json::Value, ToolCallError>,
    capture_content: bool,
) {
    if span.is_disabled() {
        return;
    }
    match outcome {
        Ok(value) if capture_content => {
            let result = content::without_binary(value).to_string();
            span.record(attr::TOOL_CALL_RESULT, result.as_str());
        }
        Ok(_) => {}
        Err(error) => record_tool_error(span, error),
    }
}

/// Record a tool call's error (a deferral is not one).
pub(crate) fn record_tool_error(span: &Span, error: &ToolCallError) {
    match error {
        ToolCallError::Deferred(_) => {}
        ToolCallError::Rejected(Rejection::Retry(_)) => record_error(span, "ModelRetry"),
        ToolCallError::Rejected(Rejection::Invalid(_)) => record_error(span, "ValidationError"),
        ToolCallError::Failed(_) => record_error(span, "ToolExecution"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_address_and_port() {
        assert_eq!(
            server("https://api.openai.com/v1"),
            (Some("api.openai.com"), Some(443))
        );
        assert_eq!(
            server("http://127.0.0.1:8080/v1"),
            (Some("127.0.0.1"), Some(8080))
        );
        assert_eq!(server("http://user:pw@host:99"), (Some("host"), Some(99)));
        assert_eq!(server("http://[::1]:4318/x"), (Some("[::1]"), Some(4318)));
    }

    #[test]
    fn well_known_provider_names() {
        assert_eq!(provider_name("bedrock"), "aws.bedrock");
        assert_eq!(provider_name("google-vertex"), "gcp.vertex_ai");
        assert_eq!(provider_name("grok"), "x_ai");
        assert_eq!(provider_name("mistral"), "mistral_ai");
        assert_eq!(provider_name("ollama"), "ollama");
    }
}
