//! Model strings: `"test"`, or `provider:model` (`"openai:gpt-4o"`,
//! `"anthropic:claude-sonnet-4-5"`, `"ollama:llama3.2"`, …). As in PydanticAI 2.x,
//! `openai:` (and `openai-responses:`) speaks the OpenAI Responses API and
//! `openai-chat:` Chat Completions; the other OpenAI-compatible providers speak Chat
//! Completions.
//!
//! One table ([`MODEL_PREFIXES`]) maps each prefix to the wire API spoken and the
//! provider preset the model is sent to; a new provider is one row. This is the only
//! module that names concrete models. A string that does not resolve is an error when
//! it is converted ([`infer_model`], [`KnownModel`]), never at the first request.
//!
//! ```
//! use verity::prelude::*;
//!
//! # fn main() -> verity::Result<()> {
//! let agent = Agent::builder(infer_model("test")?).build();
//! assert_eq!(agent.run("hi").blocking()?.output, "success (no tool calls)");
//!
//! let Err(Error::User(message)) = infer_model("opnai:gpt-4o") else { unreachable!() };
//! assert!(message.contains("did you mean 'openai'?"), "{message}");
//! # Ok(()) }
//! ```

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::model::{IntoModel, ModelRef};
use crate::providers::{self, ProviderBuilder};

/// The wire API a model-string prefix speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireApi {
    /// [`TestModel`](crate::models::test::TestModel): no provider.
    Test,
    /// OpenAI Chat Completions ([`OpenAIChatModel`](crate::models::openai::OpenAIChatModel)).
    OpenAIChat,
    /// OpenAI Responses
    /// ([`OpenAIResponsesModel`](crate::models::openai_responses::OpenAIResponsesModel)).
    OpenAIResponses,
    /// Anthropic Messages ([`AnthropicModel`](crate::models::anthropic::AnthropicModel)).
    Anthropic,
    /// Gemini `generateContent` ([`GeminiModel`](crate::models::gemini::GeminiModel)).
    Gemini,
    /// Bedrock Converse (feature `bedrock`), through the AWS SDK's own configuration.
    BedrockConverse,
    /// Mistral chat completions ([`MistralModel`](crate::models::mistral::MistralModel)).
    Mistral,
    /// Cohere v2 chat ([`CohereModel`](crate::models::cohere::CohereModel)).
    Cohere,
}

/// A row of the model-string table: the prefixes, the wire API, and where the
/// provider comes from (`None` for models that need no HTTP provider).
#[derive(Debug, Clone, Copy)]
pub struct PrefixRow {
    /// The prefixes (the part before the first `:`) this row answers to.
    pub prefixes: &'static [&'static str],
    /// The wire API spoken.
    pub wire: WireApi,
    /// The provider's builder, configured from the environment.
    pub provider: Option<fn() -> Result<ProviderBuilder>>,
}

const fn row(
    prefixes: &'static [&'static str],
    wire: WireApi,
    provider: fn() -> Result<ProviderBuilder>,
) -> PrefixRow {
    PrefixRow {
        prefixes,
        wire,
        provider: Some(provider),
    }
}

/// Every model-string prefix Verity knows.
pub const MODEL_PREFIXES: &[PrefixRow] = &[
    PrefixRow {
        prefixes: &["test"],
        wire: WireApi::Test,
        provider: None,
    },
    // `openai:` is the Responses API, as in PydanticAI 2.x
    row(
        &["openai", "openai-responses"],
        WireApi::OpenAIResponses,
        || Ok(providers::openai::OpenAIProvider::builder().build_as()),
    ),
    row(&["openai-chat"], WireApi::OpenAIChat, || {
        Ok(providers::openai::OpenAIProvider::builder().build_as())
    }),
    row(&["anthropic"], WireApi::Anthropic, || {
        Ok(providers::anthropic::AnthropicProvider::builder().build_as())
    }),
    row(&["google-gla", "gemini"], WireApi::Gemini, || {
        Ok(providers::google_gla::GoogleGlaProvider::builder().build_as())
    }),
    row(&["google-vertex"], WireApi::Gemini, || {
        Ok(providers::google_vertex::GoogleVertexProvider::builder_from_env()?.build_as())
    }),
    PrefixRow {
        prefixes: &["bedrock"],
        wire: WireApi::BedrockConverse,
        provider: None,
    },
    row(&["azure"], WireApi::OpenAIChat, || {
        Ok(providers::azure::AzureProvider::builder().build_as())
    }),
    row(&["deepseek"], WireApi::OpenAIChat, || {
        Ok(providers::deepseek::DeepSeekProvider::builder().build_as())
    }),
    row(&["ollama"], WireApi::OpenAIChat, || {
        Ok(providers::ollama::OllamaProvider::builder().build_as())
    }),
    row(&["openrouter"], WireApi::OpenAIChat, || {
        Ok(providers::openrouter::OpenRouterProvider::builder().build_as())
    }),
    row(&["together"], WireApi::OpenAIChat, || {
        Ok(providers::together::TogetherProvider::builder().build_as())
    }),
    row(&["fireworks"], WireApi::OpenAIChat, || {
        Ok(providers::fireworks::FireworksProvider::builder().build_as())
    }),
    row(&["grok", "xai"], WireApi::OpenAIChat, || {
        Ok(providers::grok::GrokProvider::builder().build_as())
    }),
    row(&["groq"], WireApi::OpenAIChat, || {
        Ok(providers::groq::GroqProvider::builder().build_as())
    }),
    row(&["github"], WireApi::OpenAIChat, || {
        Ok(providers::github::GitHubProvider::builder().build_as())
    }),
    row(&["cerebras"], WireApi::OpenAIChat, || {
        Ok(providers::cerebras::CerebrasProvider::builder().build_as())
    }),
    row(&["huggingface"], WireApi::OpenAIChat, || {
        Ok(providers::huggingface::HuggingFaceProvider::builder().build_as())
    }),
    row(&["perplexity"], WireApi::OpenAIChat, || {
        Ok(providers::perplexity::PerplexityProvider::builder().build_as())
    }),
    row(&["mistral"], WireApi::Mistral, || {
        Ok(providers::mistral::MistralProvider::builder().build_as())
    }),
    row(&["cohere"], WireApi::Cohere, || {
        Ok(providers::cohere::CohereProvider::builder().build_as())
    }),
];

/// The table row of `prefix`.
pub fn prefix_row(prefix: &str) -> Option<&'static PrefixRow> {
    MODEL_PREFIXES.iter().find(|r| r.prefixes.contains(&prefix))
}

/// The provider builder of a model-string prefix (`openai`, `deepseek`, …), configured
/// from the environment; `None` for unknown prefixes and prefixes without an HTTP
/// provider (`test`, `bedrock`).
pub fn provider_by_name(prefix: &str) -> Option<ProviderBuilder> {
    prefix_row(prefix)?.provider.and_then(|p| p().ok())
}

/// Every known prefix, in table order.
pub fn known_prefixes() -> impl Iterator<Item = &'static str> {
    MODEL_PREFIXES
        .iter()
        .flat_map(|r| r.prefixes.iter().copied())
}

/// Resolve a model string: `test`, or `provider:model` for a prefix of
/// [`MODEL_PREFIXES`]. Unknown or malformed strings are [`Error::User`] naming the
/// closest known prefix; a provider that cannot be configured (a missing key) is the
/// provider's error.
pub fn infer_model(name: &str) -> Result<ModelRef> {
    let (prefix, model) = match name.split_once(':') {
        Some((prefix, model)) => (prefix, model),
        None if name == "test" => ("test", "test"),
        None => {
            return Err(Error::User(format!(
                "unknown model '{name}': expected 'test' or 'provider:model'{}; known prefixes: {}",
                suggestion(name),
                known_prefixes().collect::<Vec<_>>().join(", ")
            )));
        }
    };
    let row = prefix_row(prefix).ok_or_else(|| {
        Error::User(format!(
            "unknown model provider '{prefix}' in '{name}'{}; known prefixes: {}",
            suggestion(prefix),
            known_prefixes().collect::<Vec<_>>().join(", ")
        ))
    })?;
    if model.is_empty() {
        return Err(Error::User(format!(
            "no model name after '{prefix}:' in '{name}'"
        )));
    }
    let builder = || -> Result<ProviderBuilder> {
        let source = row.provider.ok_or_else(|| {
            Error::User(format!("model provider '{prefix}' has no HTTP provider"))
        })?;
        source()
    };
    Ok(match row.wire {
        WireApi::Test => Arc::new(crate::models::test::TestModel::new()),
        WireApi::OpenAIChat => Arc::new(crate::models::openai::OpenAIChatModel::new(
            model,
            builder()?.build()?,
        )),
        WireApi::OpenAIResponses => Arc::new(
            crate::models::openai_responses::OpenAIResponsesModel::new(model, builder()?.build()?),
        ),
        WireApi::Anthropic => Arc::new(crate::models::anthropic::AnthropicModel::new(
            model,
            builder()?.build()?,
        )),
        WireApi::Gemini => Arc::new(crate::models::gemini::GeminiModel::new(
            model,
            builder()?.build()?,
        )),
        WireApi::BedrockConverse => bedrock(model)?,
        WireApi::Mistral => Arc::new(crate::models::mistral::MistralModel::new(
            model,
            builder()?.build()?,
        )),
        WireApi::Cohere => Arc::new(crate::models::cohere::CohereModel::new(
            model,
            builder()?.build()?,
        )),
    })
}

#[cfg(feature = "bedrock")]
fn bedrock(model: &str) -> Result<ModelRef> {
    Ok(Arc::new(crate::models::bedrock::BedrockConverseModel::new(
        model,
    )))
}

#[cfg(not(feature = "bedrock"))]
fn bedrock(model: &str) -> Result<ModelRef> {
    Err(Error::User(format!(
        "model 'bedrock:{model}' needs Verity's `bedrock` feature"
    )))
}

/// `; did you mean '…'?` for the known prefix closest to `typed`, when one is close.
fn suggestion(typed: &str) -> String {
    let typed = typed.to_ascii_lowercase();
    let best = known_prefixes()
        .map(|p| (edit_distance(&typed, p), p))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, p)) if d <= 2 + p.len() / 4 => format!("; did you mean '{p}'?"),
        _ => String::new(),
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        let mut row = cur.iter_mut();
        if let Some(first) = row.next() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let sub = prev
                .get(j)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(usize::from(ca != *cb));
            let del = prev
                .get(j + 1)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let ins = cur.get(j).copied().unwrap_or(usize::MAX).saturating_add(1);
            if let Some(cell) = cur.get_mut(j + 1) {
                *cell = sub.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

/// A model string that resolved: converting is where an unknown or malformed string
/// fails, so an agent built from a `KnownModel` always has a real model.
///
/// ```
/// use verity::prelude::*;
/// use verity::models::infer::KnownModel;
///
/// let model: KnownModel = "test".parse().unwrap();
/// let agent = Agent::builder(model).build();
/// assert!("nosuch:model".parse::<KnownModel>().is_err());
/// ```
#[derive(Clone)]
pub struct KnownModel(ModelRef);

impl KnownModel {
    /// The resolved model.
    pub fn model(&self) -> &ModelRef {
        &self.0
    }
}

impl std::fmt::Debug for KnownModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("KnownModel")
            .field(&format_args!("{}:{}", self.0.system(), self.0.model_name()))
            .finish()
    }
}

impl TryFrom<&str> for KnownModel {
    type Error = Error;
    fn try_from(name: &str) -> Result<Self> {
        infer_model(name).map(KnownModel)
    }
}

impl TryFrom<String> for KnownModel {
    type Error = Error;
    fn try_from(name: String) -> Result<Self> {
        infer_model(&name).map(KnownModel)
    }
}

impl std::str::FromStr for KnownModel {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self> {
        infer_model(name).map(KnownModel)
    }
}

impl IntoModel for KnownModel {
    fn into_model(self) -> ModelRef {
        self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn user_error(name: &str) -> String {
        match infer_model(name) {
            Err(Error::User(m)) => m,
            Err(e) => panic!("{name}: {e}"),
            Ok(_) => panic!("{name} resolved"),
        }
    }

    #[test]
    fn unknown_prefixes_name_the_closest_known_one() {
        let m = user_error("opnai:gpt-4o");
        assert!(
            m.starts_with(
                "unknown model provider 'opnai' in 'opnai:gpt-4o'; did you mean 'openai'?"
            ),
            "{m}"
        );
        assert!(
            m.contains("known prefixes: test, openai, openai-responses, openai-chat, anthropic"),
            "{m}"
        );
        assert!(user_error("antropic:claude").contains("did you mean 'anthropic'?"));
        assert!(user_error("tset").contains("did you mean 'test'?"));
        assert!(!user_error("nosuchprovider:model").contains("did you mean"));
        assert!(user_error("openai:").contains("no model name"));
    }

    #[test]
    fn every_prefix_is_listed_once() {
        let all: Vec<_> = known_prefixes().collect();
        for p in &all {
            assert_eq!(all.iter().filter(|q| *q == p).count(), 1, "{p}");
        }
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn test_strings_resolve() {
        assert_eq!(infer_model("test").unwrap().system(), "test");
        assert_eq!(infer_model("test:test").unwrap().system(), "test");
    }
}
