//! Facts about model families that change how requests are built: output modes,
//! tool-choice and strict-schema support, thinking tags, and (in [`OpenAIProfile`]) the
//! facts only Chat Completions bodies use. One function per family
//! ([`openai`], [`deepseek`], [`anthropic`], [`gemini`], …) gives a model's profile
//! from its name; providers pick the function.
//!
//! A leaf module: it imports nothing from the models, the providers or the agent.

mod families;
mod openai_chat;

pub use families::{
    ANTHROPIC_INLINE_SYSTEM_PREFIXES, anthropic, anthropic_thinking, claude_tagged_system_role,
    deepseek, gemini, huggingface, openai, openai_compatible, openai_compatible_tagged, openrouter,
    perplexity, reasoning_field, reasoning_field_tagged,
};
pub use families::{cohere, mistral};
pub use openai_chat::{CacheControlStyle, OpenAIProfile};

pub use crate::schema::{SchemaTransform, gemini_inline_refs, gemini_schema, openai_strict_schema};

use crate::request::OutputMode;

/// Facts about a model family that change how requests are built.
///
/// Wire APIs read the general facts here; facts only one wire API uses live in its
/// group ([`ModelProfile::openai`]), as PydanticAI's `OpenAIModelProfile` extends
/// `ModelProfile`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ModelProfile {
    /// Whether the model can be given a JSON schema for its output (native mode).
    pub supports_json_schema_output: bool,
    /// Whether the model has a plain JSON mode.
    pub supports_json_object_output: bool,
    /// The output mode used when the agent does not choose one.
    pub default_structured_output_mode: OutputMode,
    /// The instructions of prompted output mode; `{schema}` is replaced by the schema.
    pub prompted_output_template: String,
    /// Opening and closing tags of thinking embedded in text (split out of responses,
    /// and used to send thinking back in text).
    pub thinking_tags: (String, String),
    /// Whether tool definitions may ask for strict schema adherence.
    pub supports_strict_tools: bool,
    /// Whether the model can be forced to call a tool (`tool_choice: "required"`).
    pub supports_tool_choice_required: bool,
    /// Rewrites a tool or output schema for strict mode, when strict is asked for.
    pub strict_schema_transform: Option<SchemaTransform>,
    /// How the application speaks mid-conversation (later system prompts, the agent
    /// loop's `no_output` feedback, the framing announcement): PydanticAI 2.x's
    /// `supports_inline_system_prompts` and `needs_sealed_system_blocks`.
    pub system_role: SystemRole,
    /// How the model takes [`ModelSettings::thinking`](crate::settings::ModelSettings::thinking).
    pub thinking: ThinkingStyle,
    /// Facts of OpenAI Chat Completions bodies.
    pub openai: OpenAIProfile,
}

/// How a model takes the unified thinking setting: profile data, read by each wire API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ThinkingStyle {
    /// The model has no thinking setting: the unified one is not sent.
    #[default]
    Unsupported,
    /// A token budget (`thinking.budget_tokens`: Anthropic's extended thinking).
    Budget,
    /// Anthropic's adaptive thinking (`type: adaptive`, effort in `output_config`).
    Adaptive,
    /// A reasoning effort (`reasoning_effort`: OpenAI reasoning models); `lowest` is
    /// what `Off` sends on a model that cannot stop reasoning.
    Effort {
        /// The lowest effort the model takes.
        lowest: &'static str,
    },
    /// Gemini 2.5: `thinkingConfig.thinkingBudget`.
    GeminiBudget,
    /// Gemini 3+: `thinkingConfig.thinkingLevel`.
    GeminiLevel,
}

/// Whether a model has a system role mid-conversation, and how the application's voice
/// reads where it has none (PydanticAI 2.x `supports_inline_system_prompts`,
/// `needs_sealed_system_blocks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SystemRole {
    /// A system message can go anywhere in the conversation.
    Native,
    /// Only the standing system prompt has the system role; later system messages are
    /// `<system>…</system>` text in user turns.
    #[default]
    Tagged,
    /// As [`Tagged`](Self::Tagged), with `<system verified>…</system>` blocks (Claude
    /// Sonnet 4.6, Sonnet 5.5, Haiku 5.5).
    Sealed,
}

impl SystemRole {
    /// Whether system messages can go anywhere in the conversation.
    pub fn is_native(self) -> bool {
        self == SystemRole::Native
    }
}

impl Default for ModelProfile {
    fn default() -> Self {
        ModelProfile {
            supports_json_schema_output: false,
            supports_json_object_output: false,
            default_structured_output_mode: OutputMode::Tool,
            prompted_output_template: DEFAULT_PROMPTED_OUTPUT_TEMPLATE.to_owned(),
            thinking_tags: ("<think>".to_owned(), "</think>".to_owned()),
            supports_strict_tools: false,
            supports_tool_choice_required: true,
            strict_schema_transform: None,
            system_role: SystemRole::Tagged,
            thinking: ThinkingStyle::Unsupported,
            openai: OpenAIProfile::default(),
        }
    }
}

/// The default instructions of prompted output mode.
pub const DEFAULT_PROMPTED_OUTPUT_TEMPLATE: &str = "Always respond with a JSON object that's compatible with this schema:\n\n{schema}\n\nDon't include any text or Markdown fencing before or after.\n";

/// The profile of a model that says nothing about itself.
pub fn default_profile() -> &'static ModelProfile {
    &DEFAULT_PROFILE
}

static DEFAULT_PROFILE: std::sync::LazyLock<ModelProfile> =
    std::sync::LazyLock::new(ModelProfile::default);
