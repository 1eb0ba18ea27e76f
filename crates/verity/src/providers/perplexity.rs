//! Perplexity (`PERPLEXITY_API_KEY`): OpenAI Chat Completions whose streams send the
//! whole text so far in every chunk.

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// Perplexity's Sonar API (`PERPLEXITY_API_KEY`).
    PerplexityProvider,
    Preset {
        name: "perplexity",
        default_base_url: Some("https://api.perplexity.ai"),
        key_env: &["PERPLEXITY_API_KEY"],
        base_url_env: None,
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::perplexity,
    }
);
