//! Anthropic (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`): the key in `x-api-key`, the
//! `anthropic-version` header on every request.

use crate::profiles;
use crate::providers::{AuthStyle, Preset, ProviderBuilder, provider_preset};

/// The API version sent in `anthropic-version`.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

provider_preset!(
    /// Anthropic's Messages API (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`).
    AnthropicProvider,
    Preset {
        name: "anthropic",
        default_base_url: Some("https://api.anthropic.com"),
        key_env: &["ANTHROPIC_API_KEY"],
        base_url_env: Some("ANTHROPIC_BASE_URL"),
        auth_style: AuthStyle::Header("x-api-key"),
        key_required: true,
        profile: profiles::anthropic,
    },
    version_header
);

fn version_header(b: ProviderBuilder<AnthropicProvider>) -> ProviderBuilder<AnthropicProvider> {
    b.header("anthropic-version", ANTHROPIC_VERSION)
}
