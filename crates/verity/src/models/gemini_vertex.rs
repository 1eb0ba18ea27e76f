//! Gemini on Vertex AI with Google credentials (feature `vertex`): the provider's
//! per-request credentials come from `gcp_auth`.

use std::sync::Arc;

use crate::error::Result;
use crate::models::gemini::GeminiModel;
use crate::providers::google_vertex::{
    GoogleCredentials, GoogleVertexProvider, application_default_credentials,
};

impl GeminiModel {
    /// Authenticate each request with a token from these Google credentials
    /// (application default or a service account; tokens are cached and refreshed).
    pub fn with_google_credentials(self, credentials: Arc<dyn gcp_auth::TokenProvider>) -> Self {
        self.with_credentials(Arc::new(GoogleCredentials::new(credentials)))
    }

    /// `model_name` on Vertex AI in `project` and `location`, with application-default
    /// credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud, the metadata server).
    pub async fn vertex(
        model_name: impl Into<String>,
        project: &str,
        location: &str,
    ) -> Result<Self> {
        let provider = GoogleVertexProvider::builder(project, location).build()?;
        let credentials = application_default_credentials().await?;
        Ok(Self::new(model_name, provider).with_google_credentials(credentials))
    }

    /// Authenticate with application-default credentials, loaded on the first
    /// request (what `google-vertex:<model>` model strings use).
    pub fn with_application_default_credentials(self) -> Self {
        self.with_credentials(Arc::new(GoogleCredentials::application_default()))
    }
}
