//! Hugging Face inference router (`HF_TOKEN`).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// Hugging Face inference router (`HF_TOKEN`).
    HuggingFaceProvider,
    Preset {
        name: "huggingface",
        default_base_url: Some("https://router.huggingface.co/v1"),
        key_env: &["HF_TOKEN"],
        base_url_env: None,
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::huggingface,
    }
);
