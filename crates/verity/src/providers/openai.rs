//! OpenAI (`OPENAI_API_KEY`, `OPENAI_BASE_URL`; organization and project as headers
//! from `OPENAI_ORG_ID` and `OPENAI_PROJECT_ID`).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, ProviderBuilder, provider_preset};

provider_preset!(
    /// OpenAI (`OPENAI_API_KEY`, `OPENAI_BASE_URL`; `OpenAI-Organization` /
    /// `OpenAI-Project` headers from `OPENAI_ORG_ID` / `OPENAI_PROJECT_ID` when set).
    OpenAIProvider,
    Preset {
        name: "openai",
        default_base_url: Some("https://api.openai.com/v1"),
        key_env: &["OPENAI_API_KEY"],
        base_url_env: Some("OPENAI_BASE_URL"),
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::openai,
    },
    organization_headers
);

fn organization_headers(mut b: ProviderBuilder<OpenAIProvider>) -> ProviderBuilder<OpenAIProvider> {
    for (var, header) in [
        ("OPENAI_ORG_ID", "OpenAI-Organization"),
        ("OPENAI_PROJECT_ID", "OpenAI-Project"),
    ] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            b = b.header(header, v.trim());
        }
    }
    b
}
