//! Token usage and the limits a run enforces.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::messages::Extra;

/// Token usage of one model response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestUsage {
    /// Input (prompt) tokens, including cached ones.
    #[serde(default)]
    pub input_tokens: u64,
    /// Input tokens written to the provider's prompt cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Input tokens read from the provider's prompt cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Output (completion) tokens, including reasoning tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Audio input tokens.
    #[serde(default)]
    pub input_audio_tokens: u64,
    /// Audio input tokens read from cache.
    #[serde(default)]
    pub cache_audio_read_tokens: u64,
    /// Audio output tokens.
    #[serde(default)]
    pub output_audio_tokens: u64,
    /// Provider-specific counts (`reasoning_tokens`, …).
    #[serde(default)]
    pub details: BTreeMap<String, u64>,
    /// Fields not modelled by Verity.
    #[serde(flatten)]
    pub extra: Extra,
}

impl RequestUsage {
    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// Usage accumulated over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunUsage {
    /// Requests made to the model.
    pub requests: u64,
    /// Successful function-tool calls.
    pub tool_calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Tokens written to prompt caches.
    pub cache_write_tokens: u64,
    /// Tokens read from prompt caches.
    pub cache_read_tokens: u64,
    /// Audio input tokens.
    pub input_audio_tokens: u64,
    /// Audio input tokens read from cache.
    pub cache_audio_read_tokens: u64,
    /// Audio output tokens.
    pub output_audio_tokens: u64,
    /// Provider-specific counts, summed.
    pub details: BTreeMap<String, u64>,
}

impl RunUsage {
    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// What was used since `start` (a snapshot of this usage taken earlier), field by
    /// field.
    pub fn since(&self, start: &RunUsage) -> RunUsage {
        let mut details = BTreeMap::new();
        for (k, v) in &self.details {
            let before = start.details.get(k).copied().unwrap_or(0);
            if *v > before {
                details.insert(k.clone(), v - before);
            }
        }
        RunUsage {
            requests: self.requests.saturating_sub(start.requests),
            tool_calls: self.tool_calls.saturating_sub(start.tool_calls),
            input_tokens: self.input_tokens.saturating_sub(start.input_tokens),
            output_tokens: self.output_tokens.saturating_sub(start.output_tokens),
            cache_write_tokens: self
                .cache_write_tokens
                .saturating_sub(start.cache_write_tokens),
            cache_read_tokens: self
                .cache_read_tokens
                .saturating_sub(start.cache_read_tokens),
            input_audio_tokens: self
                .input_audio_tokens
                .saturating_sub(start.input_audio_tokens),
            cache_audio_read_tokens: self
                .cache_audio_read_tokens
                .saturating_sub(start.cache_audio_read_tokens),
            output_audio_tokens: self
                .output_audio_tokens
                .saturating_sub(start.output_audio_tokens),
            details,
        }
    }

    /// Add one response's usage (the request itself is counted separately).
    pub fn add_response(&mut self, u: &RequestUsage) {
        self.input_tokens = self.input_tokens.saturating_add(u.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(u.output_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(u.cache_write_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(u.cache_read_tokens);
        self.input_audio_tokens = self.input_audio_tokens.saturating_add(u.input_audio_tokens);
        self.cache_audio_read_tokens = self
            .cache_audio_read_tokens
            .saturating_add(u.cache_audio_read_tokens);
        self.output_audio_tokens = self
            .output_audio_tokens
            .saturating_add(u.output_audio_tokens);
        for (k, v) in &u.details {
            let n = self.details.entry(k.clone()).or_default();
            *n = n.saturating_add(*v);
        }
    }
}

impl std::ops::AddAssign<&RunUsage> for RunUsage {
    fn add_assign(&mut self, other: &RunUsage) {
        self.requests = self.requests.saturating_add(other.requests);
        self.tool_calls = self.tool_calls.saturating_add(other.tool_calls);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(other.cache_write_tokens);
        self.cache_read_tokens = self
            .cache_read_tokens
            .saturating_add(other.cache_read_tokens);
        self.input_audio_tokens = self
            .input_audio_tokens
            .saturating_add(other.input_audio_tokens);
        self.cache_audio_read_tokens = self
            .cache_audio_read_tokens
            .saturating_add(other.cache_audio_read_tokens);
        self.output_audio_tokens = self
            .output_audio_tokens
            .saturating_add(other.output_audio_tokens);
        for (k, v) in &other.details {
            let n = self.details.entry(k.clone()).or_default();
            *n = n.saturating_add(*v);
        }
    }
}

impl std::ops::AddAssign for RunUsage {
    fn add_assign(&mut self, other: RunUsage) {
        *self += &other;
    }
}

impl std::ops::Add for RunUsage {
    type Output = RunUsage;
    fn add(mut self, other: RunUsage) -> RunUsage {
        self += &other;
        self
    }
}

/// A run's usage and limits as the runs it delegates to see them (PydanticAI's
/// `usage=ctx.usage`): a child run given it with
/// [`RunRequest::usage`](crate::agent::RunRequest::usage) counts from the parent's usage,
/// stops at the parent's limits as well as its own, and adds what it used to the parent's
/// usage when it ends. Get one from a tool's [`RunContext::shared_usage`](crate::RunContext::shared_usage).
#[derive(Debug, Clone)]
pub struct SharedUsage {
    inner: std::sync::Arc<UsageLink>,
}

#[derive(Debug)]
struct UsageLink {
    base: RunUsage,
    limits: UsageLimits,
    added: std::sync::Mutex<RunUsage>,
    /// The usage of the run this one is part of: its limits apply too.
    enclosing: Option<SharedUsage>,
}

impl SharedUsage {
    /// Usage `base` under `limits`, with nothing added yet.
    pub fn new(base: RunUsage, limits: UsageLimits) -> Self {
        Self::within(base, limits, None)
    }

    /// [`new`](Self::new) for a run that is itself part of `enclosing`: runs given this
    /// one stop at the limits of every run they are part of, however deep.
    pub(crate) fn within(
        base: RunUsage,
        limits: UsageLimits,
        enclosing: Option<SharedUsage>,
    ) -> Self {
        SharedUsage {
            inner: std::sync::Arc::new(UsageLink {
                base,
                limits,
                added: std::sync::Mutex::new(RunUsage::default()),
                enclosing,
            }),
        }
    }

    /// Check `usage` against these limits and those of every enclosing run.
    pub(crate) fn check(
        &self,
        check: &dyn Fn(&UsageLimits, &RunUsage) -> Result<()>,
        usage: &RunUsage,
    ) -> Result<()> {
        check(&self.inner.limits, usage)?;
        match &self.inner.enclosing {
            Some(enclosing) => enclosing.check(check, usage),
            None => Ok(()),
        }
    }

    fn added(&self) -> std::sync::MutexGuard<'_, RunUsage> {
        self.inner
            .added
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The usage now: the base and what delegated runs added.
    pub fn current(&self) -> RunUsage {
        self.inner.base.clone() + self.added().clone()
    }

    /// The limits the delegated runs also stop at.
    pub fn limits(&self) -> &UsageLimits {
        &self.inner.limits
    }

    /// Add what a delegated run used.
    pub(crate) fn add(&self, used: &RunUsage) {
        *self.added() += used;
    }

    /// What delegated runs added, taken out.
    pub(crate) fn take_added(&self) -> RunUsage {
        std::mem::take(&mut *self.added())
    }
}

/// Limits on a run's usage. Exceeding one ends the run with
/// [`Error::UsageLimitExceeded`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageLimits {
    /// Most requests to the model (default 50).
    pub request_limit: Option<u64>,
    /// Most successful function-tool calls.
    pub tool_calls_limit: Option<u64>,
    /// Most input tokens.
    pub input_tokens_limit: Option<u64>,
    /// Most output tokens.
    pub output_tokens_limit: Option<u64>,
    /// Most input plus output tokens.
    pub total_tokens_limit: Option<u64>,
}

impl Default for UsageLimits {
    fn default() -> Self {
        UsageLimits {
            request_limit: Some(50),
            tool_calls_limit: None,
            input_tokens_limit: None,
            output_tokens_limit: None,
            total_tokens_limit: None,
        }
    }
}

impl UsageLimits {
    /// No limits at all, not even on requests.
    pub fn unlimited() -> Self {
        UsageLimits {
            request_limit: None,
            ..Default::default()
        }
    }

    /// Error if one more request would pass the request limit (PydanticAI's wording).
    pub fn check_before_request(&self, usage: &RunUsage) -> Result<()> {
        if let Some(limit) = self.request_limit
            && usage.requests + 1 > limit
        {
            return Err(limit_exceeded(format!(
                "The next request would exceed the request_limit of {limit}"
            )));
        }
        Ok(())
    }

    /// Error if running `new_calls` more tool calls would pass the tool-call limit.
    pub fn check_before_tool_calls(&self, usage: &RunUsage, new_calls: u64) -> Result<()> {
        if let Some(limit) = self.tool_calls_limit
            && usage.tool_calls + new_calls > limit
        {
            return Err(limit_exceeded(format!(
                "The next tool call(s) would exceed the tool_calls_limit of {limit} (tool_calls={})",
                usage.tool_calls + new_calls
            )));
        }
        Ok(())
    }

    /// Error if the token counts have passed a token limit.
    pub fn check_tokens(&self, usage: &RunUsage) -> Result<()> {
        let checks = [
            ("input_tokens", usage.input_tokens, self.input_tokens_limit),
            (
                "output_tokens",
                usage.output_tokens,
                self.output_tokens_limit,
            ),
            (
                "total_tokens",
                usage.total_tokens(),
                self.total_tokens_limit,
            ),
        ];
        for (name, value, limit) in checks {
            if let Some(limit) = limit
                && value > limit
            {
                return Err(limit_exceeded(format!(
                    "Exceeded the {name}_limit of {limit} ({name}={value})"
                )));
            }
        }
        Ok(())
    }
}

/// PydanticAI's usage-limit message: what was exceeded, then where to read on.
fn limit_exceeded(message: String) -> Error {
    Error::UsageLimitExceeded(format!(
        "{message}. Consider raising the limit, or see the docs on usage limits for budget-aware patterns: https://pydantic.dev/docs/ai/core-concepts/agent/#usage-limits"
    ))
}

#[cfg(test)]
mod overflow_tests {
    use super::*;

    #[test]
    fn counts_from_a_provider_saturate_instead_of_overflowing() {
        let huge = RequestUsage {
            input_tokens: u64::MAX,
            output_tokens: u64::MAX,
            details: [("reasoning_tokens".to_owned(), u64::MAX)].into(),
            ..Default::default()
        };
        assert_eq!(huge.total_tokens(), u64::MAX);
        let mut run = RunUsage::default();
        run.add_response(&huge);
        run.add_response(&huge);
        assert_eq!(run.input_tokens, u64::MAX);
        assert_eq!(run.details.get("reasoning_tokens"), Some(&u64::MAX));
        let copy = run.clone();
        run += &copy;
        assert_eq!(run.output_tokens, u64::MAX);
        assert_eq!(run.total_tokens(), u64::MAX);
    }
}
