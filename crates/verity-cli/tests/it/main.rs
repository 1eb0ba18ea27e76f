//! The `verity` binary driven from outside: one-shot runs, piped output, errors and
//! sessions through `assert_cmd`, the interactive chat through a pseudo-terminal.
//!
//! The models are `test` (TestModel) and the CLI's hidden `echo` model, which streams
//! `turn N: you said: PROMPT` word by word (`VERITY_ECHO_DELAY_MS` apart).
//!
//! Tests may unwrap, index, panic: that is how they fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unreachable,
    missing_docs
)]

mod eval;
mod interactive;
mod local;
mod mcp;
mod oneshot;
mod sessions;

use assert_cmd::Command;

/// The binary with its own data dir and no provider keys.
pub fn verity(home: &tempfile::TempDir) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verity"));
    cmd.env("VERITY_HOME", home.path())
        .env_remove("VERITY_MODEL");
    for key in [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "MISTRAL_API_KEY",
        "GROQ_API_KEY",
        "DEEPSEEK_API_KEY",
    ] {
        cmd.env_remove(key);
    }
    cmd
}

pub fn home() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
