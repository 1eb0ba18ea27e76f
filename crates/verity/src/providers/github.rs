//! GitHub Models (`GITHUB_API_KEY`).

use crate::profiles;
use crate::providers::{AuthStyle, Preset, provider_preset};

provider_preset!(
    /// GitHub Models (`GITHUB_API_KEY`).
    GitHubProvider,
    Preset {
        name: "github",
        default_base_url: Some("https://models.github.ai/inference"),
        key_env: &["GITHUB_API_KEY"],
        base_url_env: None,
        auth_style: AuthStyle::Bearer,
        key_required: true,
        profile: profiles::openai_compatible,
    }
);
