//! History processors: functions that shape the messages a model request sends (keep the
//! last turns, drop thinking, …), and the repair that keeps whatever they return valid
//! for a provider.
//!
//! Processors run before every model request on a copy of the run's history (the new
//! request included); the run keeps its whole history, so `all_messages()` and
//! `new_messages()` are unchanged by them. What they return is then repaired
//! ([`repair`]): a cut that separates a tool call from its return never reaches a
//! provider.
//!
//! ```
//! use verity::prelude::*;
//! use verity::history;
//!
//! let agent = Agent::builder(TestModel::new())
//!     .history_processor(history::keep_last_messages(10))
//!     .history_processor(history::drop_thinking())
//!     .build();
//! # let _ = agent;
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::messages::{
    ModelMessage, ModelRequest, ModelRequestPart, ModelResponsePart, ToolOutcome, ToolReturnPart,
};
use crate::tools::RunContext;

/// A history processor: the run context and the messages about to be sent, in; the
/// messages to send, out.
pub type HistoryProcessor<D> = Arc<
    dyn Fn(RunContext<D>, Vec<ModelMessage>) -> BoxFuture<'static, Vec<ModelMessage>> + Send + Sync,
>;

/// What PydanticAI writes as the return of a call that was never answered.
pub(crate) const INTERRUPTED_TOOL_RETURN: &str =
    "The tool call was interrupted before a result was produced.";

/// Keep only the last `n` messages (at least the request about to be sent).
pub fn keep_last_messages<D: Send + Sync + 'static>(n: usize) -> HistoryProcessor<D> {
    let n = n.max(1);
    Arc::new(move |_ctx, mut messages: Vec<ModelMessage>| {
        let cut = messages.len().saturating_sub(n);
        messages.drain(..cut);
        Box::pin(async move { messages })
    })
}

/// Keep only the last `n` turns: from the `n`-th last request that holds a user prompt
/// on (a turn is a user prompt and everything that answers it).
pub fn keep_last_turns<D: Send + Sync + 'static>(n: usize) -> HistoryProcessor<D> {
    let n = n.max(1);
    Arc::new(move |_ctx, mut messages: Vec<ModelMessage>| {
        let starts: Vec<usize> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.as_request().is_some_and(|r| {
                    r.parts
                        .iter()
                        .any(|p| matches!(p, ModelRequestPart::UserPrompt(_)))
                })
            })
            .map(|(i, _)| i)
            .collect();
        if let Some(&cut) = starts.len().checked_sub(n).and_then(|i| starts.get(i)) {
            messages.drain(..cut);
        }
        Box::pin(async move { messages })
    })
}

/// Replace all but the last `keep_last` messages with a summary that `model` writes of
/// them (one extra request when the history is longer than that). If the model fails,
/// the messages are sent as they are.
pub fn summarize_older<D: Send + Sync + 'static>(
    model: impl crate::model::IntoModel,
    keep_last: usize,
) -> HistoryProcessor<D> {
    let model = model.into_model();
    Arc::new(move |_ctx, mut messages: Vec<ModelMessage>| {
        let model = Arc::clone(&model);
        Box::pin(async move {
            let cut = messages.len().saturating_sub(keep_last.max(1));
            if cut < 2 {
                return messages;
            }
            let mut older: Vec<ModelMessage> = messages.drain(..cut).collect();
            older.push(ModelMessage::Request(ModelRequest::user_prompt(
                SUMMARY_PROMPT,
            )));
            let answer = model
                .request_boxed(
                    &older,
                    &crate::settings::ModelSettings::default(),
                    &crate::request::ModelRequestParameters::default(),
                )
                .await;
            match answer.ok().and_then(|r| r.text_content()) {
                Some(summary) => {
                    let text = format!("Summary of the conversation so far: {summary}");
                    messages.insert(0, ModelMessage::Request(ModelRequest::user_prompt(text)));
                    messages
                }
                None => {
                    tracing::warn!("the summarizing model gave no summary; history sent whole");
                    older.pop();
                    older.extend(messages);
                    older
                }
            }
        })
    })
}

/// What the summarizing model is asked.
const SUMMARY_PROMPT: &str = "Summarize the conversation above in a few sentences for the \
assistant who continues it: keep the facts, decisions and open questions it will need.";

/// Leave thinking out of the responses sent back.
pub fn drop_thinking<D: Send + Sync + 'static>() -> HistoryProcessor<D> {
    Arc::new(|_ctx, mut messages: Vec<ModelMessage>| {
        for message in &mut messages {
            if let ModelMessage::Response(r) = message {
                r.parts
                    .retain(|p| !matches!(p, ModelResponsePart::Thinking(_)));
            }
        }
        Box::pin(async move { messages })
    })
}

/// Make a history valid for any provider, as PydanticAI's repair does: responses before
/// the first request are dropped, tool returns whose call is not in the history are
/// dropped, calls left without a return get a synthesized one (outcome `interrupted`),
/// empty requests are dropped and consecutive messages of one kind are merged.
pub fn repair(messages: Vec<ModelMessage>) -> Vec<ModelMessage> {
    // dropping a leading response can orphan the returns after it: repeat until stable
    let mut messages = repair_once(messages);
    loop {
        let len = messages.len();
        messages = repair_once(messages);
        if messages.len() == len {
            return messages;
        }
    }
}

fn repair_once(messages: Vec<ModelMessage>) -> Vec<ModelMessage> {
    let start = messages
        .iter()
        .position(|m| matches!(m, ModelMessage::Request(_)))
        .unwrap_or(messages.len());
    let mut messages: Vec<ModelMessage> = messages.into_iter().skip(start).collect();

    // orphan returns: answers to calls the history does not hold (before them)
    let mut called: HashSet<String> = HashSet::new();
    for message in &mut messages {
        match message {
            ModelMessage::Response(r) => {
                called.extend(r.tool_calls().map(|c| c.tool_call_id.clone()));
            }
            ModelMessage::Request(r) => r.parts.retain(|p| match answered_call(p) {
                Some(id) => called.contains(id),
                None => true,
            }),
        }
    }

    // dangling calls: answered in the request that follows, or synthesized there
    let mut out: Vec<ModelMessage> = Vec::with_capacity(messages.len());
    let mut open: Vec<ToolReturnPart> = Vec::new();
    for message in messages {
        match message {
            ModelMessage::Response(r) => {
                if !open.is_empty() {
                    let parts = std::mem::take(&mut open)
                        .into_iter()
                        .map(ModelRequestPart::ToolReturn)
                        .collect();
                    out.push(ModelMessage::Request(ModelRequest::new(parts)));
                }
                open = r.tool_calls().map(synthesized_return).collect();
                out.push(ModelMessage::Response(r));
            }
            ModelMessage::Request(mut r) => {
                if !open.is_empty() {
                    let answered: HashSet<&str> =
                        r.parts.iter().filter_map(answered_call).collect();
                    let missing: Vec<ModelRequestPart> = std::mem::take(&mut open)
                        .into_iter()
                        .filter(|p| !answered.contains(p.tool_call_id.as_str()))
                        .map(ModelRequestPart::ToolReturn)
                        .collect();
                    let at = r
                        .parts
                        .iter()
                        .rposition(|p| answered_call(p).is_some())
                        .map_or(0, |i| i + 1);
                    let tail = r.parts.split_off(at.min(r.parts.len()));
                    r.parts.extend(missing);
                    r.parts.extend(tail);
                }
                out.push(ModelMessage::Request(r));
            }
        }
    }

    // no empty requests, and one message per turn
    let mut merged: Vec<ModelMessage> = Vec::with_capacity(out.len());
    for message in out {
        match (merged.last_mut(), message) {
            (_, ModelMessage::Request(r)) if r.parts.is_empty() && r.instructions.is_none() => {}
            // a history starts with a request (one emptied above may have led it)
            (None, ModelMessage::Response(_)) => {}
            (Some(ModelMessage::Request(prev)), ModelMessage::Request(r)) => {
                prev.parts.extend(r.parts);
                if r.instructions.is_some() {
                    prev.instructions = r.instructions;
                }
            }
            (Some(ModelMessage::Response(prev)), ModelMessage::Response(r)) => {
                prev.parts.extend(r.parts);
            }
            (_, message) => merged.push(message),
        }
    }
    merged
}

/// The call a request part answers, if it answers one.
fn answered_call(part: &ModelRequestPart) -> Option<&str> {
    match part {
        ModelRequestPart::ToolReturn(r) => Some(&r.tool_call_id),
        ModelRequestPart::RetryPrompt(r) if r.tool_name.is_some() => Some(&r.tool_call_id),
        _ => None,
    }
}

/// The return PydanticAI synthesizes for a call that was never answered.
pub(crate) fn synthesized_return(call: &crate::messages::ToolCallPart) -> ToolReturnPart {
    let mut part = ToolReturnPart::new(
        call.tool_name.clone(),
        INTERRUPTED_TOOL_RETURN,
        call.tool_call_id.clone(),
    );
    part.outcome = ToolOutcome::Other("interrupted".into());
    part.metadata = Some(serde_json::json!({"pydantic_ai_synthesized_tool_return": true}));
    part
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unreachable
)]
mod tests {
    use super::*;
    use crate::messages::{ModelResponse, UserPromptPart};
    use serde_json::json;

    fn user(text: &str) -> ModelMessage {
        ModelMessage::Request(ModelRequest::new(vec![ModelRequestPart::UserPrompt(
            UserPromptPart::new(text),
        )]))
    }

    #[test]
    fn a_cut_inside_a_tool_exchange_is_repaired() {
        let call = ModelMessage::Response(ModelResponse::tool_call("get_weather", json!({})));
        let ModelMessage::Response(r) = &call else {
            unreachable!()
        };
        let id = r.tool_calls().next().unwrap().tool_call_id.clone();
        let ret = ModelMessage::Request(ModelRequest::new(vec![ModelRequestPart::ToolReturn(
            ToolReturnPart::new("get_weather", "sunny", id.clone()),
        )]));
        // cut after the call: its return is synthesized in the next request
        let repaired = repair(vec![user("hi"), call.clone(), user("and now?")]);
        assert_eq!(repaired.len(), 3);
        let ModelMessage::Request(last) = &repaired[2] else {
            panic!()
        };
        let ModelRequestPart::ToolReturn(t) = &last.parts[0] else {
            panic!("{last:?}")
        };
        assert_eq!(t.tool_call_id, id);
        assert_eq!(t.content, json!(INTERRUPTED_TOOL_RETURN));
        // cut before the call: the response is dropped, the return is an orphan
        let repaired = repair(vec![call, ret, user("and now?")]);
        assert_eq!(repaired.len(), 1, "{repaired:?}");
        let ModelMessage::Request(only) = &repaired[0] else {
            panic!()
        };
        assert_eq!(only.parts.len(), 1);
        assert!(matches!(only.parts[0], ModelRequestPart::UserPrompt(_)));
    }
}
