//! Model strings: resolution, the default model, `--list-models`.

use std::time::Duration;

use futures::StreamExt;
use verity::ModelRef;
use verity::messages::{ModelMessage, ModelRequestPart};
use verity::models::function::{FunctionModel, StreamChunk};
use verity::models::infer::{known_prefixes, provider_by_name};

use crate::error::CliError;

/// Keys checked, in order, when no model is given: the first one set picks the model.
const DEFAULTS: &[(&str, &str)] = &[
    ("OPENAI_API_KEY", "openai:gpt-4.1"),
    ("ANTHROPIC_API_KEY", "anthropic:claude-sonnet-4-5"),
    ("GEMINI_API_KEY", "google-gla:gemini-2.5-flash"),
    ("GOOGLE_API_KEY", "google-gla:gemini-2.5-flash"),
    ("MISTRAL_API_KEY", "mistral:mistral-large-latest"),
    ("GROQ_API_KEY", "groq:llama-3.3-70b-versatile"),
    ("DEEPSEEK_API_KEY", "deepseek:deepseek-chat"),
];

/// The model string used when none is given: the first provider whose key is set, else
/// the local model.
pub fn default_model_name() -> String {
    DEFAULTS
        .iter()
        .find(|(key, _)| std::env::var_os(key).is_some_and(|v| !v.is_empty()))
        .map_or_else(|| "local".to_owned(), |(_, model)| (*model).to_owned())
}

/// Resolve a model string: `local` (the local model, started on demand), the hidden
/// test model `echo`, or anything `infer_model` knows.
pub fn resolve(name: &str) -> Result<ModelRef, CliError> {
    match name {
        "local" => crate::local::model(),
        "echo" => Ok(std::sync::Arc::new(echo_model())),
        _ => verity::infer_model(name).map_err(|e| match e {
            verity::Error::User(_) => CliError::usage(crate::error::one_line(&e)),
            // a provider that cannot be configured: a missing key
            other => CliError::usage(format!(
                "model '{name}': {}",
                crate::error::one_line(&other)
            )),
        }),
    }
}

/// `--list-models`: the known prefixes and whether each provider is configured.
pub fn list_models() {
    outln!("Model strings are 'provider:model' (or 'test', or 'local').\n");
    outln!("{:<18} status", "prefix");
    for prefix in known_prefixes() {
        let status = match prefix {
            "test" => "ready (TestModel, no network)".to_owned(),
            "bedrock" => "uses the AWS SDK's configuration".to_owned(),
            _ => match provider_by_name(prefix).map(|b| b.build()) {
                Some(Ok(_)) => "ready".to_owned(),
                Some(Err(e)) => {
                    let why = crate::error::one_line(&e);
                    match why.rfind("set ") {
                        Some(i) => format!("not configured: {}", why.get(i..).unwrap_or(&why)),
                        None => format!("not configured: {why}"),
                    }
                }
                None => "unknown".to_owned(),
            },
        };
        outln!("{prefix:<18} {status}");
    }
    outln!(
        "{:<18} the local model (SmolLM2-135M on llama.cpp), installed and started on demand",
        "local"
    );
    outln!("\nDefault without -m: {}", default_model_name());
}

/// A streaming model for the CLI's own tests: answers `turn N: you said: PROMPT`, word
/// by word, `$VERITY_ECHO_DELAY_MS` apart.
fn echo_model() -> FunctionModel {
    FunctionModel::new_stream(|messages: Vec<ModelMessage>, _| {
        let prompts: Vec<String> = messages
            .iter()
            .filter_map(ModelMessage::as_request)
            .flat_map(|r| r.parts.iter())
            .filter_map(|p| match p {
                ModelRequestPart::UserPrompt(u) => Some(u.content.text()),
                _ => None,
            })
            .collect();
        let last = prompts.last().cloned().unwrap_or_default();
        let answer = format!("turn {}: you said: {}", prompts.len(), last.trim());
        let delay = std::env::var("VERITY_ECHO_DELAY_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let words: Vec<String> = answer.split_inclusive(' ').map(str::to_owned).collect();
        futures::stream::iter(words).then(move |w| async move {
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            Ok(StreamChunk::Text(w))
        })
    })
    .with_name("echo")
}
