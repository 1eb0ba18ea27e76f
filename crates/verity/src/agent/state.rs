//! The state of a run, apart from the agent's configuration: what a run has done so far.

use std::collections::BTreeMap;
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
    /// Retries used so far per tool name.
    pub tool_retries_used: BTreeMap<String, u32>,
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

    /// Count an output retry against `max`; past it the run fails.
    pub(crate) fn bump_output_retries(&mut self, max: u32) -> Result<u32> {
        self.output_retries_used += 1;
        if self.output_retries_used > max {
            return Err(Error::unexpected(format!(
                "Exceeded maximum retries ({max}) for output validation"
            )));
        }
        Ok(self.output_retries_used)
    }

    /// Retries used so far by `tool`.
    pub(crate) fn tool_retries(&self, tool: &str) -> u32 {
        self.tool_retries_used.get(tool).copied().unwrap_or(0)
    }

    /// Count a retry of `tool`; returns the attempt number.
    pub(crate) fn bump_tool_retries(&mut self, tool: &str) -> u32 {
        let used = self.tool_retries_used.entry(tool.to_owned()).or_insert(0);
        *used += 1;
        *used
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::messages::{ModelRequestPart, UserPromptPart};

    #[test]
    fn state_round_trips_through_json() {
        let mut state = RunState::new(Vec::new());
        state.push_request(ModelRequest::new(vec![ModelRequestPart::UserPrompt(
            UserPromptPart::new("hi"),
        )]));
        state.bump_tool_retries("get_weather");
        state.run_step = 1;
        let json = serde_json::to_string(&state).unwrap();
        let back: RunState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.tool_retries("get_weather"), 1);
    }
}
