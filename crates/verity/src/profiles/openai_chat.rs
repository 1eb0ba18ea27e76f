//! The facts only OpenAI Chat Completions bodies use.

/// Facts of OpenAI Chat Completions bodies (`ModelProfile::openai`); other wire APIs
/// ignore them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OpenAIProfile {
    /// The role system prompts are sent with (`system`, or `developer` for some models).
    pub system_prompt_role: &'static str,
    /// The request field that limits output tokens.
    pub max_tokens_field: &'static str,
    /// Where thinking from this provider is sent back on the next turn (a field of the
    /// assistant message such as `reasoning_content`); `None` sends it back inside
    /// thinking tags in the text.
    pub thinking_field: Option<&'static str>,
    /// Whether streamed responses can report usage (`stream_options.include_usage`).
    pub supports_stream_usage: bool,
    /// How prompt-cache breakpoints are written, if the model takes them.
    pub cache_control: CacheControlStyle,
    /// The most cache breakpoints one request may carry (older ones are dropped).
    pub max_cache_points: usize,
    /// Whether document URLs are sent as URLs (otherwise they are downloaded and inlined).
    pub supports_document_urls: bool,
    /// Whether streamed `content` is the whole text so far instead of a delta
    /// (Perplexity): the new text is what follows the previous chunk's.
    pub stream_cumulative_text: bool,
}

impl Default for OpenAIProfile {
    fn default() -> Self {
        OpenAIProfile {
            system_prompt_role: "system",
            max_tokens_field: "max_tokens",
            thinking_field: None,
            supports_stream_usage: true,
            cache_control: CacheControlStyle::None,
            max_cache_points: 4,
            supports_document_urls: false,
            stream_cumulative_text: false,
        }
    }
}

/// How a model takes prompt-cache breakpoints in Chat Completions bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheControlStyle {
    /// It does not: cache points are left out.
    #[default]
    None,
    /// `cache_control: {"type": "ephemeral", "ttl": …}` (Anthropic models).
    EphemeralWithTtl,
    /// `cache_control: {"type": "ephemeral"}` (Gemini models through OpenRouter).
    Ephemeral,
}
