//! The [`Model`] trait every wire API implements, its object-safe twin [`DynModel`],
//! and [`IntoModel`]. What a request carries besides the messages lives in
//! [`request`](crate::request) and the model's facts in [`profiles`](crate::profiles);
//! both are re-exported here. This module names no concrete model: model strings are
//! resolved by [`infer_model`](crate::models::infer::infer_model).

mod allow;

pub use allow::{
    ALLOW_MODEL_REQUESTS_ENV, model_requests_allowed, set_allow_model_requests,
    with_model_requests_allowed,
};
pub(crate) use allow::{check_model_requests_allowed, scoped_model_requests_setting};

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::{Error, Result};
use crate::messages::{ModelMessage, ModelResponse};
use crate::settings::ModelSettings;
use crate::stream::{ResponseStream, stream_from_response};

pub use crate::profiles::{
    CacheControlStyle, DEFAULT_PROMPTED_OUTPUT_TEMPLATE, ModelProfile, SchemaTransform,
    default_profile,
};
pub use crate::request::{
    ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind,
};

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

    /// The endpoint's base URL, when the model talks to one (`server.address` and
    /// `server.port` of its telemetry spans).
    fn base_url(&self) -> Option<&str> {
        None
    }

    /// Facts about the model family.
    fn profile(&self) -> &ModelProfile {
        default_profile()
    }

    /// Settings the model applies under the agent's and the run's.
    fn settings(&self) -> Option<&ModelSettings> {
        None
    }
}

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
    /// See [`Model::base_url`].
    fn base_url(&self) -> Option<&str>;
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
    fn base_url(&self) -> Option<&str> {
        Model::base_url(self)
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
