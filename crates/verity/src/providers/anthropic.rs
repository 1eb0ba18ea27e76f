//! Anthropic (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`): the key in `x-api-key`, the
//! `anthropic-version` header on every request.

use crate::profiles;
use crate::providers::{AuthStyle, Preset, Provider, ProviderBuilder};

/// The API version sent in `anthropic-version`.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Anthropic's Messages API.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnthropicProvider;

impl AnthropicProvider {
    /// The preset this provider starts from.
    pub const PRESET: Preset = Preset {
        name: "anthropic",
        default_base_url: Some("https://api.anthropic.com"),
        key_env: &["ANTHROPIC_API_KEY"],
        base_url_env: Some("ANTHROPIC_BASE_URL"),
        auth_style: AuthStyle::Header("x-api-key"),
        key_required: true,
        profile: profiles::anthropic,
    };

    /// A builder starting from this provider's preset, with the version header.
    pub fn builder() -> ProviderBuilder {
        ProviderBuilder::new(Self::PRESET).header("anthropic-version", ANTHROPIC_VERSION)
    }

    /// The provider with its base URL and key from the environment.
    pub fn from_env() -> crate::Result<Provider> {
        Self::builder().build()
    }
}
