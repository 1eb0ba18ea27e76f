//! Azure OpenAI (`AZURE_OPENAI_ENDPOINT`, `AZURE_OPENAI_API_KEY`, `OPENAI_API_VERSION`):
//! the key goes in the `api-key` header and, with an API version, the model name is the
//! deployment in the path.

use crate::profiles;
use crate::providers::{AuthStyle, Preset, ProviderBuilder, provider_preset};

provider_preset!(
    /// Azure OpenAI. Use [`AzureProvider::configured`] to apply the API version from
    /// `OPENAI_API_VERSION`, or set it with [`api_version`].
    AzureProvider,
    Preset {
        name: "azure",
        default_base_url: None,
        key_env: &["AZURE_OPENAI_API_KEY"],
        base_url_env: Some("AZURE_OPENAI_ENDPOINT"),
        auth_style: AuthStyle::Header("api-key"),
        key_required: true,
        profile: profiles::openai,
    }
);

impl AzureProvider {
    /// A builder with the API version from `OPENAI_API_VERSION`, when set.
    pub fn configured() -> ProviderBuilder {
        configure(Self::builder())
    }
}

/// Use the classic deployment URLs with this `api-version`.
pub fn api_version(builder: ProviderBuilder, version: &str) -> ProviderBuilder {
    builder.deployment_path(true).query("api-version", version)
}

pub(crate) fn configure(builder: ProviderBuilder) -> ProviderBuilder {
    match std::env::var("OPENAI_API_VERSION") {
        Ok(v) if !v.trim().is_empty() => api_version(builder, v.trim()),
        _ => builder,
    }
}
