//! Ollama's OpenAI-compatible API (`OLLAMA_BASE_URL`, default `http://localhost:11434/v1`; no key needed).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// Ollama's OpenAI-compatible API (`OLLAMA_BASE_URL`, default `http://localhost:11434/v1`; no key needed).
    OllamaProvider,
    Preset {
        name: "ollama",
        default_base_url: Some("http://localhost:11434/v1"),
        key_env: &["OLLAMA_API_KEY"],
        base_url_env: Some("OLLAMA_BASE_URL"),
        auth_style: AuthStyle::Bearer,
        key_required: false,
        profile: profiles::reasoning_field_tagged,
    }
);
