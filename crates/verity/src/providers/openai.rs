//! OpenAI (`OPENAI_API_KEY`, `OPENAI_BASE_URL`; organization and project as headers).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// OpenAI (`OPENAI_API_KEY`, `OPENAI_BASE_URL`; organization and project as headers).
    OpenAIProvider,
    Preset {
        name: "openai",
        default_base_url: Some("https://api.openai.com/v1"),
        key_env: &["OPENAI_API_KEY"],
        base_url_env: Some("OPENAI_BASE_URL"),
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::openai,
    }
);

impl OpenAIProvider {
    /// A builder that also sends `OpenAI-Organization` / `OpenAI-Project` from
    /// `OPENAI_ORG_ID` / `OPENAI_PROJECT_ID` when they are set.
    pub fn configured() -> crate::providers::ProviderBuilder {
        let mut b = Self::builder();
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
}
