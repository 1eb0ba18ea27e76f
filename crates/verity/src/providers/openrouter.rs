//! OpenRouter (`OPENROUTER_API_KEY`).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// OpenRouter (`OPENROUTER_API_KEY`).
    OpenRouterProvider,
    Preset {
        name: "openrouter",
        default_base_url: Some("https://openrouter.ai/api/v1"),
        key_env: &["OPENROUTER_API_KEY"],
        base_url_env: None,
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::openrouter,
    }
);
