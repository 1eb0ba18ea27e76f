//! Gemini on Vertex AI: `https://{location}-aiplatform.googleapis.com/v1beta1/projects/
//! {project}/locations/{location}/publishers/google`, with an OAuth bearer token
//! (`GOOGLE_CLOUD_ACCESS_TOKEN`, or pass one with `api_key`), project and location from
//! `GOOGLE_CLOUD_PROJECT` and `GOOGLE_CLOUD_LOCATION` (default `us-central1`).

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
