//! DeepSeek (`DEEPSEEK_API_KEY`).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// DeepSeek (`DEEPSEEK_API_KEY`).
    DeepSeekProvider,
    Preset {
        name: "deepseek",
        default_base_url: Some("https://api.deepseek.com"),
        key_env: &["DEEPSEEK_API_KEY"],
        base_url_env: None,
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::deepseek,
    }
);
