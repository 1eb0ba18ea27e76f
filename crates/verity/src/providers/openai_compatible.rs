//! Any OpenAI-compatible server: give `base_url` (and `api_key` if it needs one).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// Any OpenAI-compatible server: give `base_url` (and `api_key` if it needs one).
    OpenAICompatibleProvider,
    Preset {
        name: "openai-compatible",
        default_base_url: None,
        key_env: &["OPENAI_COMPATIBLE_API_KEY"],
        base_url_env: Some("OPENAI_COMPATIBLE_BASE_URL"),
        auth_style: AuthStyle::Bearer,
        key_required: false,
        profile: profiles::openai_compatible,
    }
);
