//! Model settings, merged model < agent < run.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// Settings for a model request. Every field is optional; a provider ignores what it
/// cannot take.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ModelSettings {
    /// Most tokens to generate.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Timeout of the whole request.
    pub timeout: Option<Duration>,
    /// Longest wait for the next chunk of a streamed response (replaces the provider's).
    pub stream_idle_timeout: Option<Duration>,
    /// Whether the model may call several tools in one response.
    pub parallel_tool_calls: Option<bool>,
    /// Seed for sampling.
    pub seed: Option<i64>,
    /// Presence penalty.
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    pub frequency_penalty: Option<f64>,
    /// Sequences that stop generation.
    pub stop_sequences: Option<Vec<String>>,
    /// Extra HTTP headers sent with the request.
    pub extra_headers: BTreeMap<String, String>,
    /// JSON merged into the request body (objects merge key by key).
    pub extra_body: Option<Value>,
    /// Ask providers with prompt caching (Anthropic, and Anthropic or Gemini models
    /// through OpenRouter) to cache the instructions.
    pub cache_instructions: Option<CacheTtl>,
    /// Ask providers with prompt caching to cache the tool definitions.
    pub cache_tool_definitions: Option<CacheTtl>,
    /// Which tools the model may or must call (default: the run decides).
    pub tool_choice: Option<ToolChoice>,
    /// Whether and how much the model thinks before answering, mapped onto each wire
    /// API's own field (PydanticAI's unified `thinking`); a provider-specific field in
    /// [`extra_body`](Self::extra_body) wins over it. Unset: the model's default.
    pub thinking: Option<Thinking>,
}

/// How much a model thinks (reasons) before answering: one setting for every wire API.
///
/// | wire API | `On` | `Effort(e)` | `Budget(n)` | `Off` |
/// |---|---|---|---|---|
/// | Anthropic | `thinking.budget_tokens` 10000 (adaptive on models that have it) | a budget per effort (1024 … 32768), or `output_config.effort` when adaptive | `budget_tokens: n` | `type: disabled` |
/// | OpenAI Chat (reasoning models) | `reasoning_effort: medium` | `reasoning_effort` | the effort nearest `n` | the lowest effort |
/// | Gemini | `includeThoughts` | `thinkingBudget` per effort (2.5) or `thinkingLevel` (3+) | `thinkingBudget: n` | budget 0 (2.5) or the lowest level |
/// | Bedrock (Claude) | `thinking` in `additionalModelRequestFields`, as Anthropic | as Anthropic | as Anthropic | nothing sent |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Thinking {
    /// No thinking (or as little as the model allows, when it cannot turn it off).
    Off,
    /// Thinking at the provider's default effort.
    On,
    /// Thinking at this effort (levels a provider lacks map to the nearest one).
    Effort(ThinkingEffort),
    /// Thinking with this many tokens (providers that take an effort get the nearest).
    Budget(u32),
}

/// Effort levels of [`Thinking::Effort`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ThinkingEffort {
    /// As little as still counts as thinking.
    Minimal,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Higher than high, where a model offers it.
    XHigh,
    /// The most a model offers.
    Max,
}

impl ThinkingEffort {
    /// The name providers use (`minimal`, `low`, `medium`, `high`, `xhigh`, `max`).
    pub fn as_str(self) -> &'static str {
        match self {
            ThinkingEffort::Minimal => "minimal",
            ThinkingEffort::Low => "low",
            ThinkingEffort::Medium => "medium",
            ThinkingEffort::High => "high",
            ThinkingEffort::XHigh => "xhigh",
            ThinkingEffort::Max => "max",
        }
    }

    /// The effort whose usual token budget is nearest `budget`.
    pub fn for_budget(budget: u32) -> Self {
        match budget {
            0..=1024 => ThinkingEffort::Minimal,
            1025..=4096 => ThinkingEffort::Low,
            4097..=12288 => ThinkingEffort::Medium,
            12289..=24576 => ThinkingEffort::High,
            _ => ThinkingEffort::XHigh,
        }
    }
}

impl Thinking {
    /// The effort asked for, for providers that take efforts: `None` for `Off`, and for
    /// `On` (the provider's default).
    pub fn effort(self) -> Option<ThinkingEffort> {
        match self {
            Thinking::Effort(e) => Some(e),
            Thinking::Budget(n) => Some(ThinkingEffort::for_budget(n)),
            Thinking::Off | Thinking::On => None,
        }
    }

    /// A token budget for providers that take budgets (Anthropic, Gemini 2.5; PydanticAI's
    /// budgets per effort): `None` for `Off`; `default_on` for `On`.
    pub fn budget(self, default_on: u32) -> Option<u32> {
        match self {
            Thinking::Off => None,
            Thinking::On => Some(default_on),
            Thinking::Budget(n) => Some(n),
            Thinking::Effort(e) => Some(match e {
                ThinkingEffort::Minimal => 1024,
                ThinkingEffort::Low => 2048,
                ThinkingEffort::Medium => 10000,
                ThinkingEffort::High => 16384,
                ThinkingEffort::XHigh | ThinkingEffort::Max => 32768,
            }),
        }
    }
}

/// Which tools the model may or must call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// The model must call a tool.
    Required,
    /// The model must not call tools.
    None,
    /// The model must call one of these tools.
    Tools(Vec<String>),
}

/// How long a prompt-cache entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheTtl {
    /// Five minutes (the default).
    #[default]
    FiveMinutes,
    /// One hour.
    OneHour,
}

impl CacheTtl {
    /// The wire form: `5m` or `1h`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheTtl::FiveMinutes => "5m",
            CacheTtl::OneHour => "1h",
        }
    }

    /// Parse `5m` / `1h`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "5m" => Some(CacheTtl::FiveMinutes),
            "1h" => Some(CacheTtl::OneHour),
            _ => None,
        }
    }
}

impl ModelSettings {
    /// Empty settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `max_tokens`.
    pub fn max_tokens(mut self, v: u32) -> Self {
        self.max_tokens = Some(v);
        self
    }
    /// Set `temperature`.
    pub fn temperature(mut self, v: f64) -> Self {
        self.temperature = Some(v);
        self
    }
    /// Set `top_p`.
    pub fn top_p(mut self, v: f64) -> Self {
        self.top_p = Some(v);
        self
    }
    /// Set `timeout`.
    pub fn timeout(mut self, v: Duration) -> Self {
        self.timeout = Some(v);
        self
    }
    /// Set `stream_idle_timeout`.
    pub fn stream_idle_timeout(mut self, v: Duration) -> Self {
        self.stream_idle_timeout = Some(v);
        self
    }
    /// Set `parallel_tool_calls`.
    pub fn parallel_tool_calls(mut self, v: bool) -> Self {
        self.parallel_tool_calls = Some(v);
        self
    }
    /// Set `seed`.
    pub fn seed(mut self, v: i64) -> Self {
        self.seed = Some(v);
        self
    }
    /// Set `presence_penalty`.
    pub fn presence_penalty(mut self, v: f64) -> Self {
        self.presence_penalty = Some(v);
        self
    }
    /// Set `frequency_penalty`.
    pub fn frequency_penalty(mut self, v: f64) -> Self {
        self.frequency_penalty = Some(v);
        self
    }
    /// Set `stop_sequences`.
    pub fn stop_sequences<S: Into<String>>(mut self, v: impl IntoIterator<Item = S>) -> Self {
        self.stop_sequences = Some(v.into_iter().map(Into::into).collect());
        self
    }
    /// Add an extra header.
    pub fn extra_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_headers.insert(name.into(), value.into());
        self
    }
    /// Set the extra body.
    pub fn extra_body(mut self, v: Value) -> Self {
        self.extra_body = Some(v);
        self
    }
    /// Ask providers with prompt caching to cache the instructions.
    pub fn cache_instructions(mut self, ttl: CacheTtl) -> Self {
        self.cache_instructions = Some(ttl);
        self
    }

    /// Ask providers with prompt caching to cache the tool definitions.
    pub fn cache_tool_definitions(mut self, ttl: CacheTtl) -> Self {
        self.cache_tool_definitions = Some(ttl);
        self
    }

    /// Which tools the model may or must call.
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Whether and how much the model thinks (see [`Thinking`]).
    pub fn thinking(mut self, thinking: Thinking) -> Self {
        self.thinking = Some(thinking);
        self
    }

    /// These settings with `other`'s set fields laid over them: `other` wins field by
    /// field, headers and extra-body objects merge key by key.
    pub fn merge(&self, other: &ModelSettings) -> ModelSettings {
        let mut extra_headers = self.extra_headers.clone();
        extra_headers.extend(other.extra_headers.clone());
        let extra_body = match (&self.extra_body, &other.extra_body) {
            (Some(a), Some(b)) => Some(merge_json(a.clone(), b)),
            (a, b) => b.clone().or_else(|| a.clone()),
        };
        ModelSettings {
            max_tokens: other.max_tokens.or(self.max_tokens),
            temperature: other.temperature.or(self.temperature),
            top_p: other.top_p.or(self.top_p),
            timeout: other.timeout.or(self.timeout),
            stream_idle_timeout: other.stream_idle_timeout.or(self.stream_idle_timeout),
            parallel_tool_calls: other.parallel_tool_calls.or(self.parallel_tool_calls),
            seed: other.seed.or(self.seed),
            presence_penalty: other.presence_penalty.or(self.presence_penalty),
            frequency_penalty: other.frequency_penalty.or(self.frequency_penalty),
            stop_sequences: other
                .stop_sequences
                .clone()
                .or_else(|| self.stop_sequences.clone()),
            extra_headers,
            extra_body,
            cache_instructions: other.cache_instructions.or(self.cache_instructions),
            cache_tool_definitions: other.cache_tool_definitions.or(self.cache_tool_definitions),
            tool_choice: other
                .tool_choice
                .clone()
                .or_else(|| self.tool_choice.clone()),
            thinking: other.thinking.or(self.thinking),
        }
    }
}

/// Merge `over` into `base`: objects key by key (recursively), anything else replaced.
pub fn merge_json(base: Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, v) in b {
                let merged = match a.remove(k) {
                    Some(old) => merge_json(old, v),
                    None => v.clone(),
                };
                a.insert(k.clone(), merged);
            }
            Value::Object(a)
        }
        (_, over) => over.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_settings_win_field_by_field() {
        let model = ModelSettings::new()
            .temperature(0.1)
            .max_tokens(10)
            .extra_header("a", "1")
            .extra_body(json!({"x": {"y": 1, "z": 2}}));
        let agent = ModelSettings::new().temperature(0.5).extra_header("b", "2");
        let run = ModelSettings::new()
            .seed(7)
            .extra_body(json!({"x": {"z": 3}}));
        let m = model.merge(&agent).merge(&run);
        assert_eq!(m.temperature, Some(0.5));
        assert_eq!(m.max_tokens, Some(10));
        assert_eq!(m.seed, Some(7));
        assert_eq!(m.extra_headers.len(), 2);
        assert_eq!(m.extra_body, Some(json!({"x": {"y": 1, "z": 3}})));
    }
}
