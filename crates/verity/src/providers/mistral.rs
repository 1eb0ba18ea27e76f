//! Mistral's API (`MISTRAL_API_KEY`): `https://api.mistral.ai/v1`, bearer auth.

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// Mistral's API (`MISTRAL_API_KEY`; the base URL from `MISTRAL_BASE_URL` when set),
    /// spoken to by `MistralModel`.
    MistralProvider,
    Preset {
        name: "mistral",
        default_base_url: Some("https://api.mistral.ai/v1"),
        key_env: &["MISTRAL_API_KEY"],
        base_url_env: Some("MISTRAL_BASE_URL"),
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::mistral,
    }
);
