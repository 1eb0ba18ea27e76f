//! The [`Model`] trait every wire API implements, and what a request carries besides
//! the messages: tool definitions, the output mode, the model's profile.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::messages::{ModelMessage, ModelResponse};
use crate::request::OutputMode;
use crate::settings::ModelSettings;
use crate::stream::{ResponseStream, stream_from_response};

pub use crate::request::{
    ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind,
};

/// Facts about a model family that change how requests are built.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelProfile {
    /// Whether the model can call tools.
    pub supports_tools: bool,
    /// Whether the model can be given a JSON schema for its output (native mode).
    pub supports_json_schema_output: bool,
    /// Whether the model has a plain JSON mode.
    pub supports_json_object_output: bool,
    /// The output mode used when the agent does not choose one.
    pub default_structured_output_mode: OutputMode,
    /// The instructions of prompted output mode; `{schema}` is replaced by the schema.
    pub prompted_output_template: String,
    /// Opening and closing tags of thinking embedded in text.
    pub thinking_tags: (String, String),
    /// Whether tool definitions may ask for strict schema adherence.
    pub supports_strict_tools: bool,
    /// Whether the model can be forced to call a tool (`tool_choice: "required"`).
    pub supports_tool_choice_required: bool,
    /// The role system prompts are sent with (`system`, or `developer` for some models).
    pub system_prompt_role: &'static str,
    /// The request field that limits output tokens.
    pub max_tokens_field: &'static str,
    /// Where thinking from this provider is sent back on the next turn (a field of the
    /// assistant message such as `reasoning_content`); `None` sends it back inside
    /// thinking tags in the text.
    pub thinking_field: Option<&'static str>,
    /// Whether streamed responses can report usage (`stream_options.include_usage`).
    pub supports_stream_usage: bool,
    /// Rewrites a tool or output schema for strict mode, when strict is asked for.
    pub strict_schema_transform: Option<SchemaTransform>,
    /// How prompt-cache breakpoints are written, if the model takes them.
    pub cache_control: CacheControlStyle,
    /// The most cache breakpoints one request may carry (older ones are dropped).
    pub max_cache_points: usize,
    /// Whether document URLs are sent as URLs (otherwise they are downloaded and inlined).
    pub supports_document_urls: bool,
}

/// A rewrite of JSON schemas a model family needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaTransform {
    /// OpenAI strict mode: closed objects, every property required.
    OpenAIStrict,
}

impl SchemaTransform {
    /// Rewrite `schema`.
    pub fn apply(self, schema: &Value) -> Value {
        match self {
            SchemaTransform::OpenAIStrict => crate::profiles::openai_strict_schema(schema),
        }
    }
}

/// How a model takes prompt-cache breakpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheControlStyle {
    /// It does not: cache points are left out.
    #[default]
    None,
    /// `cache_control: {"type": "ephemeral", "ttl": …}` (Anthropic models).
    EphemeralWithTtl,
    /// `cache_control: {"type": "ephemeral"}` (Gemini models through OpenRouter).
    Ephemeral,
}

impl Default for ModelProfile {
    fn default() -> Self {
        ModelProfile {
            supports_tools: true,
            supports_json_schema_output: false,
            supports_json_object_output: false,
            default_structured_output_mode: OutputMode::Tool,
            prompted_output_template: DEFAULT_PROMPTED_OUTPUT_TEMPLATE.to_owned(),
            thinking_tags: ("<think>".to_owned(), "</think>".to_owned()),
            supports_strict_tools: false,
            supports_tool_choice_required: true,
            system_prompt_role: "system",
            max_tokens_field: "max_tokens",
            thinking_field: None,
            supports_stream_usage: true,
            strict_schema_transform: None,
            cache_control: CacheControlStyle::None,
            max_cache_points: 4,
            supports_document_urls: false,
        }
    }
}

/// The default instructions of prompted output mode.
pub const DEFAULT_PROMPTED_OUTPUT_TEMPLATE: &str = "Always respond with a JSON object that's compatible with this schema:\n\n{schema}\n\nDon't include any text or Markdown fencing before or after.\n";

/// A model: knows one wire API and turns messages into a response.
///
/// Implementations are cheap to share: the agent holds them behind an `Arc`.
/// Streaming has a default that emits the whole response at once, so a model that
/// cannot stream still works with streamed runs.
pub trait Model: Send + Sync + 'static {
    /// Make one request.
    fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> impl Future<Output = Result<ModelResponse>> + Send;

    /// Make one streamed request. The returned stream owns everything it needs;
    /// dropping it cancels the request.
    fn request_stream(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> impl Future<Output = Result<ResponseStream>> + Send {
        async move {
            let response = self.request(messages, settings, params).await?;
            Ok(stream_from_response(response))
        }
    }

    /// Count the input tokens a request would use, where the provider offers it.
    fn count_tokens(
        &self,
        _messages: &[ModelMessage],
        _settings: &ModelSettings,
        _params: &ModelRequestParameters,
    ) -> impl Future<Output = Result<u64>> + Send {
        let name = self.model_name().to_owned();
        async move { Err(Error::User(format!("model `{name}` cannot count tokens"))) }
    }

    /// The model's name, e.g. `gpt-4o`.
    fn model_name(&self) -> &str;

    /// The provider system, e.g. `openai`.
    fn system(&self) -> &str;

    /// Facts about the model family.
    fn profile(&self) -> &ModelProfile {
        default_profile()
    }

    /// Settings the model applies under the agent's and the run's.
    fn settings(&self) -> Option<&ModelSettings> {
        None
    }
}

/// The profile of a model that says nothing about itself.
pub fn default_profile() -> &'static ModelProfile {
    &DEFAULT_PROFILE
}

static DEFAULT_PROFILE: std::sync::LazyLock<ModelProfile> =
    std::sync::LazyLock::new(ModelProfile::default);

/// The object-safe form of [`Model`], implemented for every `Model`.
pub trait DynModel: Send + Sync + 'static {
    /// See [`Model::request`].
    fn request_boxed<'a>(
        &'a self,
        messages: &'a [ModelMessage],
        settings: &'a ModelSettings,
        params: &'a ModelRequestParameters,
    ) -> BoxFuture<'a, Result<ModelResponse>>;
    /// See [`Model::request_stream`].
    fn request_stream_boxed<'a>(
        &'a self,
        messages: &'a [ModelMessage],
        settings: &'a ModelSettings,
        params: &'a ModelRequestParameters,
    ) -> BoxFuture<'a, Result<ResponseStream>>;
    /// See [`Model::count_tokens`].
    fn count_tokens_boxed<'a>(
        &'a self,
        messages: &'a [ModelMessage],
        settings: &'a ModelSettings,
        params: &'a ModelRequestParameters,
    ) -> BoxFuture<'a, Result<u64>>;
    /// See [`Model::model_name`].
    fn model_name(&self) -> &str;
    /// See [`Model::system`].
    fn system(&self) -> &str;
    /// See [`Model::profile`].
    fn profile(&self) -> &ModelProfile;
    /// See [`Model::settings`].
    fn settings(&self) -> Option<&ModelSettings>;
}

impl<M: Model> DynModel for M {
    fn request_boxed<'a>(
        &'a self,
        messages: &'a [ModelMessage],
        settings: &'a ModelSettings,
        params: &'a ModelRequestParameters,
    ) -> BoxFuture<'a, Result<ModelResponse>> {
        Box::pin(Model::request(self, messages, settings, params))
    }
    fn request_stream_boxed<'a>(
        &'a self,
        messages: &'a [ModelMessage],
        settings: &'a ModelSettings,
        params: &'a ModelRequestParameters,
    ) -> BoxFuture<'a, Result<ResponseStream>> {
        Box::pin(Model::request_stream(self, messages, settings, params))
    }
    fn count_tokens_boxed<'a>(
        &'a self,
        messages: &'a [ModelMessage],
        settings: &'a ModelSettings,
        params: &'a ModelRequestParameters,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(Model::count_tokens(self, messages, settings, params))
    }
    fn model_name(&self) -> &str {
        Model::model_name(self)
    }
    fn system(&self) -> &str {
        Model::system(self)
    }
    fn profile(&self) -> &ModelProfile {
        Model::profile(self)
    }
    fn settings(&self) -> Option<&ModelSettings> {
        Model::settings(self)
    }
}

/// A shared, type-erased model.
pub type ModelRef = Arc<dyn DynModel>;

/// Anything that can be the model of an agent: a [`Model`], a [`ModelRef`], or a
/// resolved model string ([`KnownModel`](crate::models::infer::KnownModel); resolve
/// strings with [`infer_model`](crate::models::infer::infer_model), where an unknown
/// one is an error).
pub trait IntoModel {
    /// Convert into a shared model.
    fn into_model(self) -> ModelRef;
}

impl<M: Model> IntoModel for M {
    fn into_model(self) -> ModelRef {
        Arc::new(self)
    }
}

impl IntoModel for ModelRef {
    fn into_model(self) -> ModelRef {
        self
    }
}
