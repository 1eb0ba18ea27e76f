//! Cerebras (`CEREBRAS_API_KEY`).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// Cerebras (`CEREBRAS_API_KEY`).
    CerebrasProvider,
    Preset {
        name: "cerebras",
        default_base_url: Some("https://api.cerebras.ai/v1"),
        key_env: &["CEREBRAS_API_KEY"],
        base_url_env: None,
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::reasoning_field_tagged,
    }
);
