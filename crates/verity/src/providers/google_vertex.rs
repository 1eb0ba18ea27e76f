//! Gemini on Vertex AI: `https://{location}-aiplatform.googleapis.com/v1beta1/projects/
//! {project}/locations/{location}/publishers/google`, with an OAuth bearer token
//! (`GOOGLE_CLOUD_ACCESS_TOKEN`, or pass one with `api_key`), project and location from
//! `GOOGLE_CLOUD_PROJECT` and `GOOGLE_CLOUD_LOCATION` (default `us-central1`).
//!
//! With the `vertex` feature, tokens come from Google credentials through `gcp_auth`:
//! [`application_default_credentials`] or [`service_account_credentials`], passed to
//! `GeminiModel::with_google_credentials` (or use `GeminiModel::vertex`).

use crate::error::{Error, Result};
use crate::profiles;
use crate::providers::{AuthStyle, Preset, ProviderBuilder};

/// Vertex AI.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoogleVertexProvider;

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
    pub fn builder(project: &str, location: &str) -> ProviderBuilder {
        let host = if location == "global" {
            "aiplatform.googleapis.com".to_owned()
        } else {
            format!("{location}-aiplatform.googleapis.com")
        };
        ProviderBuilder::new(Self::PRESET).base_url(format!(
            "https://{host}/v1beta1/projects/{project}/locations/{location}/publishers/google"
        ))
    }

    /// A builder with project and location from the environment.
    pub fn from_env_builder() -> Result<ProviderBuilder> {
        let project = std::env::var("GOOGLE_CLOUD_PROJECT")
            .map_err(|_| Error::User("set GOOGLE_CLOUD_PROJECT for Vertex AI".into()))?;
        let location =
            std::env::var("GOOGLE_CLOUD_LOCATION").unwrap_or_else(|_| "us-central1".into());
        Ok(Self::builder(&project, &location))
    }
}

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
