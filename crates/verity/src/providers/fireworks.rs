//! Fireworks AI (`FIREWORKS_API_KEY`).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// Fireworks AI (`FIREWORKS_API_KEY`).
    FireworksProvider,
    Preset {
        name: "fireworks",
        default_base_url: Some("https://api.fireworks.ai/inference/v1"),
        key_env: &["FIREWORKS_API_KEY"],
        base_url_env: None,
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::openai_compatible_tagged,
    }
);
