//! One profile function per model family.

use super::{CacheControlStyle, ModelProfile, OpenAIProfile, SchemaTransform};

/// Any OpenAI-compatible endpoint: JSON-schema output, forced tool choice, system role.
pub fn openai_compatible(_model: &str) -> ModelProfile {
    ModelProfile {
        supports_json_schema_output: true,
        supports_json_object_output: true,
        ..ModelProfile::default()
    }
}

/// OpenAI's own models: strict tools (with OpenAI's strict schema rewrite) and
/// `max_completion_tokens`.
pub fn openai(model: &str) -> ModelProfile {
    let base = openai_compatible(model);
    ModelProfile {
        supports_strict_tools: true,
        strict_schema_transform: Some(SchemaTransform::OpenAIStrict),
        openai: OpenAIProfile {
            max_tokens_field: "max_completion_tokens",
            ..base.openai.clone()
        },
        ..base
    }
}

/// DeepSeek: reasoning comes as `reasoning_content` and goes back the same way.
pub fn deepseek(model: &str) -> ModelProfile {
    let base = openai_compatible(model);
    ModelProfile {
        supports_strict_tools: true,
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
pub fn openrouter(model: &str) -> ModelProfile {
    let family = model.split('/').next().unwrap_or_default();
    let base = openai_compatible(model);
    ModelProfile {
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

/// Anthropic's Claude models: strict tools, native JSON-schema output, prompt caching with
/// TTLs and document URLs (the last two for Claude behind Chat Completions endpoints;
/// the Messages API does its own).
pub fn anthropic(_model: &str) -> ModelProfile {
    ModelProfile {
        supports_strict_tools: true,
        supports_json_schema_output: true,
        openai: OpenAIProfile {
            cache_control: CacheControlStyle::EphemeralWithTtl,
            supports_document_urls: true,
            ..OpenAIProfile::default()
        },
        ..ModelProfile::default()
    }
}

/// Gemini models: native JSON-schema output, forced tool calls.
pub fn gemini(_model: &str) -> ModelProfile {
    ModelProfile {
        supports_json_schema_output: true,
        supports_json_object_output: true,
        ..ModelProfile::default()
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
