//! Groq's OpenAI-compatible endpoint (`GROQ_API_KEY`, `GROQ_BASE_URL`).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// Groq's OpenAI-compatible endpoint (`GROQ_API_KEY`, `GROQ_BASE_URL`).
    GroqProvider,
    Preset {
        name: "groq",
        default_base_url: Some("https://api.groq.com/openai/v1"),
        key_env: &["GROQ_API_KEY"],
        base_url_env: Some("GROQ_BASE_URL"),
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::reasoning_field,
    }
);
