//! One profile function per model family.

use super::{
    CacheControlStyle, ModelProfile, OpenAIProfile, SchemaTransform, SystemRole, ThinkingStyle,
};

/// Any OpenAI-compatible endpoint: JSON-schema output, forced tool choice, system role
/// (mid-conversation too, as PydanticAI's `openai_model_profile` says).
pub fn openai_compatible(_model: &str) -> ModelProfile {
    ModelProfile {
        supports_json_schema_output: true,
        supports_json_object_output: true,
        system_role: SystemRole::Native,
        ..ModelProfile::default()
    }
}

/// OpenAI's own models: strict tools (with OpenAI's strict schema rewrite) and
/// `max_completion_tokens`.
pub fn openai(model: &str) -> ModelProfile {
    let base = openai_compatible(model);
    ModelProfile {
        thinking: openai_thinking(model),
        supports_strict_tools: true,
        strict_schema_transform: Some(SchemaTransform::OpenAIStrict),
        openai: OpenAIProfile {
            max_tokens_field: "max_completion_tokens",
            ..base.openai.clone()
        },
        ..base
    }
}

/// OpenAI's reasoning models take `reasoning_effort` (GPT-5 down to `minimal`).
fn openai_thinking(model: &str) -> ThinkingStyle {
    let name = model.rsplit('/').next().unwrap_or(model);
    if name.starts_with("gpt-5") {
        ThinkingStyle::Effort { lowest: "minimal" }
    } else if starts_with_any(name, &["o1", "o3", "o4", "gpt-oss"]) {
        ThinkingStyle::Effort { lowest: "low" }
    } else {
        ThinkingStyle::Unsupported
    }
}

/// Claude models with adaptive thinking (extended thinking removed or deprecated).
const ANTHROPIC_ADAPTIVE_PREFIXES: [&str; 5] = [
    "claude-opus-4-6",
    "claude-opus-4-7",
    "claude-opus-4-8",
    "claude-opus-5",
    "claude-sonnet-5",
];

/// Claude models without any thinking (before Claude 3.7).
const ANTHROPIC_NO_THINKING_PREFIXES: [&str; 4] = [
    "claude-3-5",
    "claude-3-opus",
    "claude-3-haiku",
    "claude-3-sonnet",
];

/// How a Claude model thinks, by its name (also inside Bedrock ids such as
/// `us.anthropic.claude-opus-4-6-v1`).
pub fn anthropic_thinking(model: &str) -> ThinkingStyle {
    let name = model
        .find("claude-")
        .and_then(|at| model.get(at..))
        .unwrap_or(model);
    if starts_with_any(name, &ANTHROPIC_ADAPTIVE_PREFIXES) {
        ThinkingStyle::Adaptive
    } else if starts_with_any(name, &ANTHROPIC_NO_THINKING_PREFIXES) || !name.starts_with("claude-")
    {
        ThinkingStyle::Unsupported
    } else {
        ThinkingStyle::Budget
    }
}

/// DeepSeek: reasoning comes as `reasoning_content` and goes back the same way; no
/// mid-conversation system role (PydanticAI's DeepSeek provider profile does not build on
/// `openai_model_profile`).
pub fn deepseek(model: &str) -> ModelProfile {
    let base = openai_compatible(model);
    ModelProfile {
        supports_strict_tools: true,
        system_role: SystemRole::Tagged,
        strict_schema_transform: Some(SchemaTransform::OpenAIStrict),
        supports_json_schema_output: false,
        openai: OpenAIProfile {
            thinking_field: Some("reasoning_content"),
            ..base.openai.clone()
        },
        ..base
    }
}

/// OpenRouter: `max_completion_tokens`, reasoning in `reasoning`, document URLs
/// passed through, and the prompt caching of the model family behind the route
/// (`anthropic/…` with TTLs, `google/…` without; OpenAI models cache on their own).
/// A mid-conversation system message only on `openai/…` routes other than `gpt-oss-…`
/// and on the Claude routes that honour one.
pub fn openrouter(model: &str) -> ModelProfile {
    let family = model.split('/').next().unwrap_or_default();
    let name = model
        .split_once('/')
        .map_or("", |(_, name)| name)
        .to_lowercase();
    let base = openai_compatible(model);
    let native = (family == "openai" && !name.starts_with("gpt-oss-"))
        || (family == "anthropic" && starts_with_any(&name, &ANTHROPIC_INLINE_SYSTEM_PREFIXES));
    ModelProfile {
        system_role: if native {
            SystemRole::Native
        } else {
            SystemRole::Tagged
        },
        supports_strict_tools: true,
        strict_schema_transform: (family == "openai").then_some(SchemaTransform::OpenAIStrict),
        openai: OpenAIProfile {
            max_tokens_field: "max_completion_tokens",
            thinking_field: Some("reasoning"),
            supports_document_urls: true,
            cache_control: match family {
                "anthropic" => CacheControlStyle::EphemeralWithTtl,
                "google" => CacheControlStyle::Ephemeral,
                _ => CacheControlStyle::None,
            },
            ..base.openai.clone()
        },
        ..base
    }
}

/// The Claude models that honour a `system` entry inside the Messages API's `messages`
/// (PydanticAI 2.68 `_INLINE_SYSTEM_PROMPT_MODEL_PREFIXES`).
pub const ANTHROPIC_INLINE_SYSTEM_PREFIXES: [&str; 4] = [
    "claude-fable-5",
    "claude-mythos-5",
    "claude-opus-4-8",
    "claude-opus-5",
];

/// The Claude models whose `<system>` blocks carry `verified` where they have no
/// mid-conversation system role (PydanticAI 2.68 `needs_sealed_system_blocks`).
const ANTHROPIC_SEALED_PREFIXES: [&str; 3] =
    ["claude-sonnet-4-6", "claude-sonnet-5-5", "claude-haiku-5-5"];

fn starts_with_any(name: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| name.starts_with(p))
}

/// Claude's mid-conversation voice off the Anthropic Messages API (Bedrock, gateways):
/// `<system>` blocks, sealed for the models that need it.
pub fn claude_tagged_system_role(model: &str) -> SystemRole {
    if starts_with_any(model, &ANTHROPIC_SEALED_PREFIXES) {
        SystemRole::Sealed
    } else {
        SystemRole::Tagged
    }
}

/// Anthropic's Claude models: strict tools, native JSON-schema output, prompt caching with
/// TTLs and document URLs (the last two for Claude behind Chat Completions endpoints;
/// the Messages API does its own). On the Messages API, a mid-conversation `system`
/// entry for the models that honour one ([`ANTHROPIC_INLINE_SYSTEM_PREFIXES`]); other
/// transports narrow it to [`claude_tagged_system_role`].
pub fn anthropic(model: &str) -> ModelProfile {
    ModelProfile {
        system_role: if starts_with_any(model, &ANTHROPIC_INLINE_SYSTEM_PREFIXES) {
            SystemRole::Native
        } else {
            claude_tagged_system_role(model)
        },
        supports_strict_tools: true,
        supports_json_schema_output: true,
        thinking: anthropic_thinking(model),
        openai: OpenAIProfile {
            cache_control: CacheControlStyle::EphemeralWithTtl,
            supports_document_urls: true,
            ..OpenAIProfile::default()
        },
        ..ModelProfile::default()
    }
}

/// Gemini models: native JSON-schema output, forced tool calls.
pub fn gemini(model: &str) -> ModelProfile {
    let name = model.rsplit('/').next().unwrap_or(model);
    ModelProfile {
        supports_json_schema_output: true,
        supports_json_object_output: true,
        thinking: if name.starts_with("gemini-2.5") {
            ThinkingStyle::GeminiBudget
        } else if name.starts_with("gemini-3") {
            ThinkingStyle::GeminiLevel
        } else {
            ThinkingStyle::Unsupported
        },
        ..ModelProfile::default()
    }
}

/// The Hugging Face router: `org/model[:backend]` ids (the `:backend` suffix picks the
/// inference provider and says nothing about the model), reasoning in `reasoning`, and
/// no strict tools (several backends reject the field). OpenAI's open models (`openai/…`)
/// take `reasoning_effort`.
pub fn huggingface(model: &str) -> ModelProfile {
    let id = model.split(':').next().unwrap_or(model);
    let base = reasoning_field(id);
    ModelProfile {
        supports_strict_tools: false,
        strict_schema_transform: None,
        thinking: match id.split_once('/') {
            Some(("openai", name)) => openai_thinking(name),
            _ => ThinkingStyle::Unsupported,
        },
        ..base
    }
}

/// Perplexity: OpenAI-compatible, but its streams repeat the whole text so far in every
/// chunk.
pub fn perplexity(model: &str) -> ModelProfile {
    let base = openai_compatible(model);
    ModelProfile {
        openai: OpenAIProfile {
            stream_cumulative_text: true,
            ..base.openai.clone()
        },
        ..base
    }
}

/// Endpoints that return reasoning in a `reasoning` field and take it back there
/// (Ollama, Cerebras, Groq's reasoning models read it; they get it back as tags).
pub fn reasoning_field(model: &str) -> ModelProfile {
    let base = openai_compatible(model);
    ModelProfile {
        openai: OpenAIProfile {
            thinking_field: Some("reasoning"),
            ..base.openai.clone()
        },
        ..base
    }
}

/// Ollama and Cerebras: `reasoning` as the thinking field, and no mid-conversation system
/// role (PydanticAI's profiles for these hosts do not build on OpenAI's, which is where
/// inline system prompts come from): later system prompts go as `<system>` user text.
pub fn reasoning_field_tagged(model: &str) -> ModelProfile {
    ModelProfile {
        system_role: SystemRole::Tagged,
        ..reasoning_field(model)
    }
}

/// Together, Fireworks and xAI: OpenAI-compatible bodies without a mid-conversation
/// system role, as PydanticAI's profiles for these hosts have it.
pub fn openai_compatible_tagged(model: &str) -> ModelProfile {
    ModelProfile {
        system_role: SystemRole::Tagged,
        ..openai_compatible(model)
    }
}

/// Mistral's models: native JSON-schema output and JSON mode (`response_format`);
/// later system prompts as `<system>` user text, as PydanticAI's Mistral profile has it.
pub fn mistral(model: &str) -> ModelProfile {
    ModelProfile {
        supports_json_schema_output: true,
        supports_json_object_output: true,
        // Magistral always reasons and takes no effort; the others take high or none
        thinking: if model.starts_with("magistral") {
            ThinkingStyle::Unsupported
        } else {
            ThinkingStyle::Effort { lowest: "none" }
        },
        ..ModelProfile::default()
    }
}

/// Cohere's Command models: JSON output with a schema (`response_format`), forced tool
/// calls (`tool_choice: REQUIRED`); later system prompts as `<system>` user text.
pub fn cohere(model: &str) -> ModelProfile {
    ModelProfile {
        supports_json_schema_output: true,
        supports_json_object_output: true,
        thinking: if model.contains("reasoning") {
            ThinkingStyle::Budget
        } else {
            ThinkingStyle::Unsupported
        },
        ..ModelProfile::default()
    }
}
