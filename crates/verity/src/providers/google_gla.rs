//! The Gemini API (`GEMINI_API_KEY` or `GOOGLE_API_KEY`, sent as `x-goog-api-key`).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// The Gemini API (Google AI Studio keys).
    GoogleGlaProvider,
    Preset {
        name: "google-gla",
        default_base_url: Some("https://generativelanguage.googleapis.com/v1beta"),
        key_env: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        base_url_env: Some("GEMINI_BASE_URL"),
        auth_style: AuthStyle::Header("x-goog-api-key"),
        key_required: true,
        profile: profiles::gemini,
    }
);
