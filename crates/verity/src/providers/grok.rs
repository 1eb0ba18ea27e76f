//! xAI Grok (`XAI_API_KEY` or `GROK_API_KEY`).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// xAI Grok (`XAI_API_KEY` or `GROK_API_KEY`).
    GrokProvider,
    Preset {
        name: "grok",
        default_base_url: Some("https://api.x.ai/v1"),
        key_env: &["XAI_API_KEY", "GROK_API_KEY"],
        base_url_env: None,
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::openai_compatible_tagged,
    }
);
