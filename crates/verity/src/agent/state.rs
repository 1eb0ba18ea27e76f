//! The state of a run, apart from the agent's configuration: what a run has done so far.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::messages::{ModelMessage, ModelRequest, ModelResponse};
use crate::usage::RunUsage;

/// Everything a run has done so far: its messages, usage, retry counts, step and id.
///
/// It holds no part of the agent (no model, tools or deps), so it can be serialized
/// (with serde), stored and inspected; the messages are in PydanticAI's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunState {
    /// The conversation so far, history included. Shared with the run contexts
    /// handed out; copied only when one is still held while the history grows.
    pub messages: Arc<Vec<ModelMessage>>,
    /// Where this run's own messages start in `messages`.
    pub new_message_index: usize,
    /// Usage so far.
    pub usage: RunUsage,
    /// Output retries used so far.
    pub output_retries_used: u32,
    /// Retries used so far per tool name (function, output or unknown), as of the last
    /// step: a tool that succeeds in a step starts again from zero at the next one.
    pub tool_retries_used: BTreeMap<String, u32>,
    /// Tools that asked for a retry in the current step (counted once per step).
    #[serde(default)]
    pub step_failed_tools: BTreeSet<String>,
    /// Tools that succeeded in the current step.
    #[serde(default)]
    pub step_succeeded_tools: BTreeSet<String>,
    /// How many model requests the run has made.
    pub run_step: u64,
    /// The run's id.
    pub run_id: Arc<str>,
}

impl RunState {
    /// The state of a run that continues `history`.
    pub fn new(history: Vec<ModelMessage>) -> Self {
        RunState {
            new_message_index: history.len(),
            messages: Arc::new(history),
            usage: RunUsage::default(),
            output_retries_used: 0,
            tool_retries_used: BTreeMap::new(),
            step_failed_tools: BTreeSet::new(),
            step_succeeded_tools: BTreeSet::new(),
            run_step: 0,
            run_id: Arc::from(
                &*crate::messages::uuid_v7()
                    .hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            ),
        }
    }

    /// Append a request, stamped with the run's id.
    pub(crate) fn push_request(&mut self, mut request: ModelRequest) {
        request.run_id = Some(self.run_id.to_string());
        Arc::make_mut(&mut self.messages).push(ModelMessage::Request(request));
    }

    /// Append a response, stamped with the run's id, and count its usage.
    pub(crate) fn push_response(&mut self, mut response: ModelResponse) {
        self.usage.requests += 1;
        self.usage.add_response(&response.usage);
        response.run_id = Some(self.run_id.to_string());
        Arc::make_mut(&mut self.messages).push(ModelMessage::Response(response));
    }

    /// Count an output retry of a response without a usable output (text, or nothing)
    /// against `max`; past it the run fails. Returns the attempt.
    pub(crate) fn consume_output_retry(&mut self, max: u32) -> Result<u32> {
        self.output_retries_used += 1;
        if self.output_retries_used > max {
            return Err(Error::unexpected(format!(
                "Exceeded maximum output retries ({max})"
            )));
        }
        Ok(self.output_retries_used)
    }

    /// Retries used so far by `tool`, as of the last step.
    pub(crate) fn tool_retries(&self, tool: &str) -> u32 {
        self.tool_retries_used.get(tool).copied().unwrap_or(0)
    }

    /// Charge a retry of `tool` against `max`: the attempt it makes, or `None` when the
    /// budget is spent. Several failures of one tool in one step count once.
    pub(crate) fn charge_tool_retry(&mut self, tool: &str, max: u32) -> Option<u32> {
        let used = self.tool_retries(tool);
        if used >= max {
            return None;
        }
        self.step_failed_tools.insert(tool.to_owned());
        Some(used + 1)
    }

    /// Record that `tool` succeeded in this step.
    pub(crate) fn tool_succeeded(&mut self, tool: &str) {
        // only a count carried from an earlier step has anything to reset
        if self.tool_retries_used.contains_key(tool) && !self.step_succeeded_tools.contains(tool) {
            self.step_succeeded_tools.insert(tool.to_owned());
        }
    }

    /// Start a new step: tools that succeeded start again from zero, tools that failed
    /// have used one more retry.
    pub(crate) fn carry_tool_retries(&mut self) {
        if self.step_failed_tools.is_empty() && self.step_succeeded_tools.is_empty() {
            return;
        }
        let succeeded = std::mem::take(&mut self.step_succeeded_tools);
        self.tool_retries_used
            .retain(|name, _| !succeeded.contains(name));
        for name in std::mem::take(&mut self.step_failed_tools) {
            *self.tool_retries_used.entry(name).or_insert(0) += 1;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::messages::{ModelRequestPart, UserPromptPart};

    #[test]
    fn tool_retries_reset_after_a_success_and_count_once_per_step() {
        let mut state = RunState::new(Vec::new());
        assert_eq!(state.charge_tool_retry("flaky", 1), Some(1));
        assert_eq!(state.charge_tool_retry("flaky", 1), Some(1));
        state.carry_tool_retries();
        assert_eq!(state.tool_retries("flaky"), 1);
        assert_eq!(state.charge_tool_retry("flaky", 1), None);
        state.tool_succeeded("flaky");
        state.carry_tool_retries();
        assert_eq!(state.tool_retries("flaky"), 0);
        assert_eq!(state.charge_tool_retry("flaky", 1), Some(1));
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut state = RunState::new(Vec::new());
        state.push_request(ModelRequest::new(vec![ModelRequestPart::UserPrompt(
            UserPromptPart::new("hi"),
        )]));
        assert_eq!(state.charge_tool_retry("get_weather", 1), Some(1));
        state.carry_tool_retries();
        state.run_step = 1;
        let json = serde_json::to_string(&state).unwrap();
        let back: RunState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.tool_retries("get_weather"), 1);
    }
}
