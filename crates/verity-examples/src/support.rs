//! Choosing the model an example runs on.

use verity::models::openai::OpenAIChatModel;
use verity::providers::openai_compatible::OpenAICompatibleProvider;
use verity::{IntoModel, ModelRef, infer_model};

/// The model an example runs on.
pub enum Choice {
    /// A real model named by `VERITY_MODEL` (e.g. `openai:gpt-4o`).
    Named(ModelRef),
    /// The local model (SmolLM2-135M behind llama.cpp's OpenAI-compatible server).
    Local(ModelRef),
    /// The example's scripted stand-in (`VERITY_MODEL=scripted`, or the default when
    /// the local model is not wanted or cannot start).
    Scripted,
}

impl Choice {
    /// The model's name, for printing.
    pub fn describe(&self) -> String {
        match self {
            Choice::Named(m) | Choice::Local(m) => m.model_name().to_owned(),
            Choice::Scripted => "scripted (a FunctionModel)".to_owned(),
        }
    }
}

/// `VERITY_MODEL` names the model (`scripted` for the example's stand-in). Without it
/// the example runs on the local model when `try_local` (falling back to the scripted
/// stand-in, loudly, when the local model cannot start), else on the scripted stand-in.
pub fn choose_model(try_local: bool) -> verity::Result<Choice> {
    match std::env::var("VERITY_MODEL") {
        Ok(name) if name == "scripted" => Ok(Choice::Scripted),
        Ok(name) if !name.trim().is_empty() => Ok(Choice::Named(infer_model(name.trim())?)),
        _ if try_local => match local_model() {
            Ok(model) => Ok(Choice::Local(model)),
            Err(why) => {
                eprintln!(
                    "*** the local model could not start ({why}); running on the scripted stand-in.\n\
                     *** Set VERITY_MODEL (e.g. openai:gpt-4o) to use another model."
                );
                Ok(Choice::Scripted)
            }
        },
        _ => Ok(Choice::Scripted),
    }
}

/// Start (or find) the local model server with `scripts/local-model start` and return a
/// model on it.
pub fn local_model() -> Result<ModelRef, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/local-model");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg("start")
        .output()
        .map_err(|e| format!("cannot run scripts/local-model: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let provider = OpenAICompatibleProvider::builder()
        .name("llama.cpp")
        .base_url(url)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(OpenAIChatModel::new("SmolLM2-135M-Instruct", provider).into_model())
}
