//! Gemini on Vertex AI: `https://{location}-aiplatform.googleapis.com/v1beta1/projects/
//! {project}/locations/{location}/publishers/google`, with an OAuth bearer token
//! (`GOOGLE_CLOUD_ACCESS_TOKEN`, or pass one with `api_key`), project and location from
//! `GOOGLE_CLOUD_PROJECT` and `GOOGLE_CLOUD_LOCATION` (default `us-central1`).
//!
//! With the `vertex` feature, tokens come from Google credentials through `gcp_auth`:
//! [`application_default_credentials`] or [`service_account_credentials`], passed to
//! `GeminiModel::with_google_credentials` (or use `GeminiModel::vertex`). They are the
//! provider's [`Auth::Dynamic`](crate::providers::Auth::Dynamic) credentials: the
//! provider adds a fresh bearer token to every request.

use crate::error::{Error, Result};
use crate::profiles;
use crate::providers::{AuthStyle, Preset, ProviderBuilder, provider_type};

provider_type!(
    /// Vertex AI: a project and location, with an OAuth bearer token.
    GoogleVertexProvider
);

impl GoogleVertexProvider {
    /// The preset this provider starts from.
    pub const PRESET: Preset = Preset {
        name: "google-vertex",
        default_base_url: None,
        key_env: &["GOOGLE_CLOUD_ACCESS_TOKEN"],
        base_url_env: Some("VERTEX_BASE_URL"),
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::gemini,
    };

    /// A builder for `project` in `location`.
    pub fn builder(project: &str, location: &str) -> ProviderBuilder<GoogleVertexProvider> {
        let host = if location == "global" {
            "aiplatform.googleapis.com".to_owned()
        } else {
            format!("{location}-aiplatform.googleapis.com")
        };
        ProviderBuilder::new(Self::PRESET)
            .build_as()
            .base_url(format!(
                "https://{host}/v1beta1/projects/{project}/locations/{location}/publishers/google"
            ))
    }

    /// A builder with project and location from the environment
    /// (`GOOGLE_CLOUD_PROJECT`, `GOOGLE_CLOUD_LOCATION`, default `us-central1`), a static
    /// token from `GOOGLE_CLOUD_ACCESS_TOKEN`, and otherwise, with the `vertex` feature,
    /// application-default credentials loaded on the first request.
    pub fn builder_from_env() -> Result<ProviderBuilder<GoogleVertexProvider>> {
        let project = std::env::var("GOOGLE_CLOUD_PROJECT")
            .map_err(|_| Error::User("set GOOGLE_CLOUD_PROJECT for Vertex AI".into()))?;
        let location =
            std::env::var("GOOGLE_CLOUD_LOCATION").unwrap_or_else(|_| "us-central1".into());
        let builder = Self::builder(&project, &location);
        #[cfg(feature = "vertex")]
        let builder = if std::env::var_os("GOOGLE_CLOUD_ACCESS_TOKEN").is_none() {
            builder.credentials(std::sync::Arc::new(GoogleCredentials::application_default()))
        } else {
            builder
        };
        Ok(builder)
    }

    /// The provider configured from the environment alone: see
    /// [`builder_from_env`](Self::builder_from_env).
    pub fn from_env() -> Result<Self> {
        Self::builder_from_env()?.build()
    }
}

/// The OAuth scope of Vertex AI requests.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Application-default credentials: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's, or the
/// metadata server's.
#[cfg(feature = "vertex")]
pub async fn application_default_credentials() -> Result<std::sync::Arc<dyn gcp_auth::TokenProvider>>
{
    gcp_auth::provider()
        .await
        .map_err(|e| Error::User(format!("no Google credentials found: {e}")))
}

/// Credentials from a service-account key (the JSON file's contents).
#[cfg(feature = "vertex")]
pub fn service_account_credentials(
    key_json: &str,
) -> Result<std::sync::Arc<dyn gcp_auth::TokenProvider>> {
    let account = gcp_auth::CustomServiceAccount::from_json(key_json)
        .map_err(|e| Error::User(format!("invalid service-account key: {e}")))?;
    Ok(std::sync::Arc::new(account))
}

#[cfg(feature = "vertex")]
pub use credentials::GoogleCredentials;

#[cfg(feature = "vertex")]
mod credentials {
    use std::sync::Arc;

    use futures::future::BoxFuture;
    use secrecy::SecretString;

    use super::{CLOUD_PLATFORM_SCOPE, application_default_credentials};
    use crate::error::{Error, Result};
    use crate::providers::Credentials;

    /// Google credentials as a provider's per-request credentials: a bearer token with
    /// the cloud-platform scope, cached and refreshed by `gcp_auth`.
    pub struct GoogleCredentials {
        source: Source,
    }

    enum Source {
        Given(Arc<dyn gcp_auth::TokenProvider>),
        /// Application-default credentials, loaded on the first request.
        Lazy(tokio::sync::OnceCell<Arc<dyn gcp_auth::TokenProvider>>),
    }

    impl GoogleCredentials {
        /// Tokens from `provider` (application default or a service account).
        pub fn new(provider: Arc<dyn gcp_auth::TokenProvider>) -> Self {
            GoogleCredentials {
                source: Source::Given(provider),
            }
        }

        /// Application-default credentials, looked up on the first request.
        pub fn application_default() -> Self {
            GoogleCredentials {
                source: Source::Lazy(tokio::sync::OnceCell::new()),
            }
        }

        async fn provider(&self) -> Result<&Arc<dyn gcp_auth::TokenProvider>> {
            match &self.source {
                Source::Given(p) => Ok(p),
                Source::Lazy(cell) => cell.get_or_try_init(application_default_credentials).await,
            }
        }
    }

    impl Credentials for GoogleCredentials {
        fn header_value<'a>(&'a self, model_name: &'a str) -> BoxFuture<'a, Result<SecretString>> {
            Box::pin(async move {
                let token = self
                    .provider()
                    .await?
                    .token(&[CLOUD_PLATFORM_SCOPE])
                    .await
                    .map_err(|e| Error::ModelApi {
                        model_name: model_name.to_owned(),
                        message: format!("could not get a Google access token: {e}"),
                    })?;
                Ok(SecretString::from(format!("Bearer {}", token.as_str())))
            })
        }
    }
}
