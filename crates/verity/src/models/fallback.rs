//! [`FallbackModel`]: try models in turn until one answers.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::messages::{ModelMessage, ModelResponse};
use crate::model::{IntoModel, Model, ModelProfile, ModelRef, ModelRequestParameters};
use crate::settings::ModelSettings;
use crate::stream::ResponseStream;

type FallbackOn = Arc<dyn Fn(&Error) -> bool + Send + Sync>;

/// Tries each model in order; on an error that `fallback_on` accepts (by default any
/// model API error: an HTTP status or a transport failure) it moves to the next. Other
/// errors are returned at once. When every model fails, the errors are returned together
/// in [`Error::FallbackExhausted`].
///
/// ```
/// use verity::prelude::*;
///
/// let flaky = FunctionModel::new_async(|_, _| async {
///     Err(verity::Error::ModelHttp { status: 503, model_name: "a".into(), body: "busy".into(), retry_after: None })
/// });
/// let model = FallbackModel::new([flaky.into_model(), TestModel::new().into_model()]);
/// let agent = Agent::builder(model).build();
/// assert_eq!(agent.run("hi").blocking().unwrap().output, "success (no tool calls)");
/// ```
#[derive(Clone)]
pub struct FallbackModel {
    models: Vec<ModelRef>,
    fallback_on: FallbackOn,
    name: String,
}

impl std::fmt::Debug for FallbackModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackModel")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl FallbackModel {
    /// Fall back through these models, in order.
    pub fn new(models: impl IntoIterator<Item = ModelRef>) -> Self {
        let models: Vec<ModelRef> = models.into_iter().collect();
        let name = format!(
            "fallback:{}",
            models
                .iter()
                .map(|m| m.model_name())
                .collect::<Vec<_>>()
                .join(",")
        );
        FallbackModel {
            models,
            fallback_on: Arc::new(Error::is_model_api_error),
            name,
        }
    }

    /// Two models: `first`, then `second`.
    pub fn pair(first: impl IntoModel, second: impl IntoModel) -> Self {
        Self::new([first.into_model(), second.into_model()])
    }

    /// Choose the errors that move on to the next model.
    pub fn fallback_on(mut self, f: impl Fn(&Error) -> bool + Send + Sync + 'static) -> Self {
        self.fallback_on = Arc::new(f);
        self
    }

    fn merged(model: &ModelRef, settings: &ModelSettings) -> ModelSettings {
        match model.settings() {
            Some(own) => own.merge(settings),
            None => settings.clone(),
        }
    }
}

impl Model for FallbackModel {
    async fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ModelResponse> {
        let mut errors = Vec::new();
        for model in &self.models {
            let s = Self::merged(model, settings);
            match model.request_boxed(messages, &s, params).await {
                Ok(r) => return Ok(r),
                Err(e) if (self.fallback_on)(&e) => {
                    tracing::debug!(model = model.model_name(), error = %e, "falling back");
                    errors.push(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::FallbackExhausted(errors))
    }

    async fn request_stream(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ResponseStream> {
        let mut errors = Vec::new();
        for model in &self.models {
            let s = Self::merged(model, settings);
            match model.request_stream_boxed(messages, &s, params).await {
                Ok(stream) => return Ok(stream),
                Err(e) if (self.fallback_on)(&e) => errors.push(e),
                Err(e) => return Err(e),
            }
        }
        Err(Error::FallbackExhausted(errors))
    }

    fn model_name(&self) -> &str {
        &self.name
    }

    fn system(&self) -> &str {
        self.models.first().map_or("fallback", |m| m.system())
    }

    fn base_url(&self) -> Option<&str> {
        self.models.first().and_then(|m| m.base_url())
    }

    fn profile(&self) -> &ModelProfile {
        match self.models.first() {
            Some(m) => m.profile(),
            None => crate::model::default_profile(),
        }
    }
}
