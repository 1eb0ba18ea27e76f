//! Together AI (`TOGETHER_API_KEY`).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// Together AI (`TOGETHER_API_KEY`).
    TogetherProvider,
    Preset {
        name: "together",
        default_base_url: Some("https://api.together.xyz/v1"),
        key_env: &["TOGETHER_API_KEY"],
        base_url_env: None,
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::openai_compatible_tagged,
    }
);
