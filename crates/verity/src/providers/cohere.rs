//! Cohere's API (`CO_API_KEY`, or `COHERE_API_KEY`; `CO_BASE_URL`):
//! `https://api.cohere.com`, bearer auth.

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// Cohere's API (`CO_API_KEY` as PydanticAI reads it, or `COHERE_API_KEY`; the base
    /// URL from `CO_BASE_URL` when set), spoken to by `CohereModel`.
    CohereProvider,
    Preset {
        name: "cohere",
        default_base_url: Some("https://api.cohere.com"),
        key_env: &["CO_API_KEY", "COHERE_API_KEY"],
        base_url_env: Some("CO_BASE_URL"),
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::cohere,
    }
);
