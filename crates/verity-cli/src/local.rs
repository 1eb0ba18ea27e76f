//! The local model: SmolLM2-135M behind llama.cpp's OpenAI-compatible server, installed
//! and started on demand by the repository's `scripts/local-model` (embedded here, so
//! an installed binary carries it).

use std::io::IsTerminal;
use std::process::{Command, Stdio};
use std::sync::Arc;

use verity::ModelRef;
use verity::models::openai::OpenAIChatModel;
use verity::providers::openai_compatible::OpenAICompatibleProvider;

use crate::error::CliError;

const SCRIPT: &str = include_str!("../../../scripts/local-model");

/// The name the server answers to.
const MODEL_NAME: &str = "SmolLM2-135M-Instruct";

/// Start the local model if it is not running (printing a progress line on stderr) and
/// return a model talking to it.
pub fn model() -> Result<ModelRef, CliError> {
    let url = match run_script("status") {
        Ok(url) => url,
        Err(_) => {
            eprintln!(
                "verity: no model given and no API key set: starting the local model \
                 (SmolLM2-135M on llama.cpp; the first run installs it, about a minute)…"
            );
            run_script("start").map_err(|why| {
                CliError::run(format!(
                    "the local model did not start: {why} (give a model with -m, e.g. -m openai:gpt-4o)"
                ))
            })?
        }
    };
    let provider = OpenAICompatibleProvider::builder()
        .name("llama.cpp")
        .base_url(url.as_str())
        .build()
        .map_err(|e| CliError::run(crate::error::one_line(&e)))?;
    Ok(Arc::new(OpenAIChatModel::new(MODEL_NAME, provider)))
}

fn run_script(command: &str) -> Result<String, String> {
    let stderr = if std::io::stderr().is_terminal() && command == "start" {
        Stdio::inherit()
    } else {
        Stdio::piped()
    };
    let out = Command::new("bash")
        .arg("-c")
        .arg(SCRIPT)
        .arg("local-model")
        .arg(command)
        .stdin(Stdio::null())
        .stderr(stderr)
        .output()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    if out.status.success() {
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if url.is_empty() {
            return Err("the local-model script printed no URL".to_owned());
        }
        Ok(url)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed");
        Err(last.trim().to_owned())
    }
}
