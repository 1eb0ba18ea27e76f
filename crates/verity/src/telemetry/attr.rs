//! The attribute names Verity's spans and metrics carry: the OpenTelemetry GenAI semantic
//! conventions (schema gen-ai 1.42), the general ones they use (`server.*`, `error.type`),
//! and the `otel.*` fields `tracing-opentelemetry` reads as span name, kind and status.
//!
//! Defined here because the `opentelemetry-semantic-conventions` crate has the GenAI names
//! only as deprecated experimental constants.

/// Span name override read by `tracing-opentelemetry` (`chat gpt-4o`).
pub const OTEL_NAME: &str = "otel.name";
/// Span kind read by `tracing-opentelemetry` (`client`, `internal`).
pub const OTEL_KIND: &str = "otel.kind";
/// Span status read by `tracing-opentelemetry` (`error` on failure).
pub const OTEL_STATUS_CODE: &str = "otel.status_code";

/// What the span does: `invoke_agent`, `chat`, `execute_tool`.
pub const OPERATION_NAME: &str = "gen_ai.operation.name";
/// The provider, as the well-known values say (`openai`, `anthropic`, `aws.bedrock`, …).
pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
/// The agent's name.
pub const AGENT_NAME: &str = "gen_ai.agent.name";
/// The conversation a run belongs to, when its messages carry one.
pub const CONVERSATION_ID: &str = "gen_ai.conversation.id";
/// The model asked for.
pub const REQUEST_MODEL: &str = "gen_ai.request.model";
/// `max_tokens` setting.
pub const REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
/// `temperature` setting.
pub const REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
/// `top_p` setting.
pub const REQUEST_TOP_P: &str = "gen_ai.request.top_p";
/// `seed` setting.
pub const REQUEST_SEED: &str = "gen_ai.request.seed";
/// `presence_penalty` setting.
pub const REQUEST_PRESENCE_PENALTY: &str = "gen_ai.request.presence_penalty";
/// `frequency_penalty` setting.
pub const REQUEST_FREQUENCY_PENALTY: &str = "gen_ai.request.frequency_penalty";
/// What the model is asked to produce: `text` or `json`.
pub const OUTPUT_TYPE: &str = "gen_ai.output.type";
/// The provider's id of the response.
pub const RESPONSE_ID: &str = "gen_ai.response.id";
/// The model that answered.
pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
/// Why the model stopped (a string array).
pub const RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// Seconds from issuing a streamed request to its first chunk.
pub const RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
/// Input tokens (cached ones included).
pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// Output tokens (reasoning included).
pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// Input tokens read from the provider's cache.
pub const USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
/// Input tokens written to the provider's cache.
pub const USAGE_CACHE_CREATION_INPUT_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
/// Output tokens spent reasoning.
pub const USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
/// The endpoint's host.
pub const SERVER_ADDRESS: &str = "server.address";
/// The endpoint's port.
pub const SERVER_PORT: &str = "server.port";
/// A low-cardinality name of what failed.
pub const ERROR_TYPE: &str = "error.type";

/// The tool's name.
pub const TOOL_NAME: &str = "gen_ai.tool.name";
/// The id of the call.
pub const TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
/// `function` for the agent's tools.
pub const TOOL_TYPE: &str = "gen_ai.tool.type";
/// The call's arguments (content; captured only when enabled).
pub const TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
/// The call's result (content; captured only when enabled).
pub const TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";
/// Which retry of the tool this call is (0 for the first attempt): Verity's own.
pub const TOOL_CALL_RETRY: &str = "verity.tool.retry";

/// The messages sent (content; captured only when enabled).
pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// The messages received (content; captured only when enabled).
pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// The instructions sent (content; captured only when enabled).
pub const SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
/// The tools offered (content; captured only when enabled).
pub const TOOL_DEFINITIONS: &str = "gen_ai.tool.definitions";

/// Metric dimension: `input` or `output`.
pub const TOKEN_TYPE: &str = "gen_ai.token.type";

/// `gen_ai.operation.name` of a run.
pub const OP_INVOKE_AGENT: &str = "invoke_agent";
/// `gen_ai.operation.name` of a model request.
pub const OP_CHAT: &str = "chat";
/// `gen_ai.operation.name` of a tool call.
pub const OP_EXECUTE_TOOL: &str = "execute_tool";

/// Histogram of model-request durations, in seconds.
pub const METRIC_OPERATION_DURATION: &str = "gen_ai.client.operation.duration";
/// Histogram of tokens per request, by `gen_ai.token.type`.
pub const METRIC_TOKEN_USAGE: &str = "gen_ai.client.token.usage";
/// Histogram of the time to the first chunk of streamed requests, in seconds.
pub const METRIC_TIME_TO_FIRST_CHUNK: &str = "gen_ai.client.operation.time_to_first_chunk";
