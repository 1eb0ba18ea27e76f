//! Azure OpenAI (`AZURE_OPENAI_ENDPOINT`, `AZURE_OPENAI_API_KEY`, `OPENAI_API_VERSION`):
//! the key goes in the `api-key` header and, with an API version, the model name is the
//! deployment in the path.

use crate::profiles;
use crate::providers::{AuthStyle, FromProvider, Preset, ProviderBuilder, provider_preset};

provider_preset!(
    /// Azure OpenAI. With `OPENAI_API_VERSION` set (or [`api_version`] called), the
    /// classic deployment URLs with that `api-version` are used.
    AzureProvider,
    Preset {
        name: "azure",
        default_base_url: None,
        key_env: &["AZURE_OPENAI_API_KEY"],
        base_url_env: Some("AZURE_OPENAI_ENDPOINT"),
        auth_style: AuthStyle::Header("api-key"),
        key_required: true,
        profile: profiles::openai,
    },
    configure
);

/// Use the classic deployment URLs with this `api-version`.
pub fn api_version<P: FromProvider>(
    builder: ProviderBuilder<P>,
    version: &str,
) -> ProviderBuilder<P> {
    builder.deployment_path(true).query("api-version", version)
}

/// The API version from `OPENAI_API_VERSION`, when set.
pub(crate) fn configure<P: FromProvider>(builder: ProviderBuilder<P>) -> ProviderBuilder<P> {
    match std::env::var("OPENAI_API_VERSION") {
        Ok(v) if !v.trim().is_empty() => api_version(builder, v.trim()),
        _ => builder,
    }
}
