//! The local model (`verity::models::local`): started on demand when no model is given
//! and no API key is set.

use std::io::IsTerminal;
use std::sync::Arc;

use verity::ModelRef;
use verity::models::local;

use crate::error::CliError;

/// Start the local model if it is not running (printing a progress line on stderr) and
/// return a model talking to it.
pub fn model() -> Result<ModelRef, CliError> {
    let url = match local::status() {
        Ok(url) => url,
        Err(_) => {
            eprintln!(
                "verity: no model given and no API key set: starting the local model \
                 (SmolLM2-135M on llama.cpp; the first run installs it, about a minute)…"
            );
            local::start(std::io::stderr().is_terminal()).map_err(|e| {
                CliError::run(format!("{e} (give a model with -m, e.g. -m openai:gpt-4o)"))
            })?
        }
    };
    let model = local::model_at(&url).map_err(|e| CliError::run(e.to_string()))?;
    Ok(Arc::new(model))
}
