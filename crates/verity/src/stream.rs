//! Streamed model responses: the events every provider emits, the helper providers use
//! to turn vendor deltas into them, and the accumulator that rebuilds the response.

use std::collections::HashMap;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures::Stream;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::messages::{
    FinishReason, ModelResponse, ModelResponsePart, TextPart, ThinkingPart, ToolCallArgs,
    ToolCallPart,
};
use crate::usage::RequestUsage;

/// A change to a part that has already started.
#[derive(Debug, Clone, PartialEq)]
pub enum PartDelta {
    /// More text.
    Text {
        /// Text to append.
        content_delta: String,
    },
    /// More thinking.
    Thinking {
        /// Text to append.
        content_delta: Option<String>,
        /// Signature text to append.
        signature_delta: Option<String>,
    },
    /// More of a tool call.
    ToolCall {
        /// Text to append to the name.
        tool_name_delta: Option<String>,
        /// JSON text to append to the arguments.
        args_delta: Option<String>,
        /// The call id, when it arrives late.
        tool_call_id: Option<String>,
    },
}

/// Response-level facts that arrive during a stream; set fields replace earlier ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseMetadata {
    /// The model that answered.
    pub model_name: Option<String>,
    /// Who served it.
    pub provider_name: Option<String>,
    /// The base URL.
    pub provider_url: Option<String>,
    /// The provider's response id.
    pub provider_response_id: Option<String>,
    /// Why the model stopped.
    pub finish_reason: Option<FinishReason>,
    /// Provider-specific data, merged key by key.
    pub provider_details: Option<Map<String, Value>>,
    /// When the response was created.
    pub timestamp: Option<DateTime<Utc>>,
}

/// One event of a streamed response.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ModelStreamEvent {
    /// A new part at `index` (indexes count up from 0 in order of appearance).
    PartStart {
        /// The part's index in the response.
        index: usize,
        /// The part as it starts.
        part: ModelResponsePart,
    },
    /// More of the part at `index`.
    PartDelta {
        /// The part's index.
        index: usize,
        /// The change.
        delta: PartDelta,
    },
    /// The usage of the response so far (replaces earlier usage events).
    Usage(RequestUsage),
    /// Response-level facts.
    Metadata(ResponseMetadata),
}

/// The stream a [`Model`](crate::Model) returns for a streamed request.
pub type ResponseStream = Pin<Box<dyn Stream<Item = Result<ModelStreamEvent>> + Send>>;

/// The events of a complete response, for models that cannot stream.
pub fn stream_from_response(response: ModelResponse) -> ResponseStream {
    let mut events: Vec<Result<ModelStreamEvent>> = Vec::with_capacity(response.parts.len() + 2);
    let ModelResponse {
        parts,
        usage,
        model_name,
        timestamp,
        provider_name,
        provider_url,
        provider_details,
        provider_response_id,
        finish_reason,
        ..
    } = response;
    for (index, part) in parts.into_iter().enumerate() {
        events.push(Ok(ModelStreamEvent::PartStart { index, part }));
    }
    events.push(Ok(ModelStreamEvent::Usage(usage)));
    events.push(Ok(ModelStreamEvent::Metadata(ResponseMetadata {
        model_name,
        provider_name,
        provider_url,
        provider_response_id,
        finish_reason,
        provider_details,
        timestamp,
    })));
    Box::pin(futures::stream::iter(events))
}

/// Rebuilds a [`ModelResponse`] from stream events.
#[derive(Debug, Clone, Default)]
pub struct ResponseAccumulator {
    response: ModelResponse,
}

impl ResponseAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one event. An event for a part that does not exist, or a delta of the wrong
    /// kind, is an [`Error::UnexpectedModelBehavior`].
    pub fn apply(&mut self, event: ModelStreamEvent) -> Result<()> {
        match event {
            ModelStreamEvent::PartStart { index, part } => {
                if index < self.response.parts.len() {
                    if let Some(slot) = self.response.parts.get_mut(index) {
                        *slot = part;
                    }
                } else if index == self.response.parts.len() {
                    self.response.parts.push(part);
                } else {
                    return Err(Error::unexpected(format!(
                        "stream started part {index} before part {}",
                        self.response.parts.len()
                    )));
                }
            }
            ModelStreamEvent::PartDelta { index, delta } => {
                let part = self.response.parts.get_mut(index).ok_or_else(|| {
                    Error::unexpected(format!("stream delta for missing part {index}"))
                })?;
                apply_delta(part, delta)?;
            }
            ModelStreamEvent::Usage(usage) => self.response.usage = usage,
            ModelStreamEvent::Metadata(meta) => {
                let r = &mut self.response;
                if meta.model_name.is_some() {
                    r.model_name = meta.model_name;
                }
                if meta.provider_name.is_some() {
                    r.provider_name = meta.provider_name;
                }
                if meta.provider_url.is_some() {
                    r.provider_url = meta.provider_url;
                }
                if meta.provider_response_id.is_some() {
                    r.provider_response_id = meta.provider_response_id;
                }
                if meta.finish_reason.is_some() {
                    r.finish_reason = meta.finish_reason;
                }
                if meta.timestamp.is_some() {
                    r.timestamp = meta.timestamp;
                }
                if let Some(details) = meta.provider_details {
                    match &mut r.provider_details {
                        Some(existing) => existing.extend(details),
                        None => r.provider_details = Some(details),
                    }
                }
            }
        }
        Ok(())
    }

    /// The response as it stands.
    pub fn response(&self) -> &ModelResponse {
        &self.response
    }

    /// The finished response.
    pub fn finish(self) -> ModelResponse {
        self.response
    }
}

fn apply_delta(part: &mut ModelResponsePart, delta: PartDelta) -> Result<()> {
    match (part, delta) {
        (ModelResponsePart::Text(t), PartDelta::Text { content_delta }) => {
            t.content.push_str(&content_delta);
        }
        (
            ModelResponsePart::Thinking(t),
            PartDelta::Thinking {
                content_delta,
                signature_delta,
            },
        ) => {
            if let Some(c) = content_delta {
                t.content.push_str(&c);
            }
            if let Some(s) = signature_delta {
                t.signature.get_or_insert_with(String::new).push_str(&s);
            }
        }
        (
            ModelResponsePart::ToolCall(c),
            PartDelta::ToolCall {
                tool_name_delta,
                args_delta,
                tool_call_id,
            },
        ) => {
            if let Some(n) = tool_name_delta {
                c.tool_name.push_str(&n);
            }
            if let Some(a) = args_delta {
                match &mut c.args {
                    ToolCallArgs::Json(s) => s.push_str(&a),
                    ToolCallArgs::Object(m) if m.is_empty() => c.args = ToolCallArgs::Json(a),
                    ToolCallArgs::Object(_) => {
                        return Err(Error::unexpected(
                            "stream appended text to tool-call arguments that were an object",
                        ));
                    }
                }
            }
            if let Some(id) = tool_call_id {
                c.tool_call_id = id;
            }
        }
        (part, delta) => {
            return Err(Error::unexpected(format!(
                "stream delta {delta:?} does not fit part {part:?}"
            )));
        }
    }
    Ok(())
}

/// Turns a provider's deltas, keyed by the provider's own part ids (an index, a block
/// number, or nothing), into [`ModelStreamEvent`]s with Verity's part indexes.
#[derive(Debug, Default)]
pub struct PartsManager {
    by_vendor_id: HashMap<String, usize>,
    kinds: Vec<PartKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartKind {
    Text,
    Thinking,
    ToolCall,
    Other,
}

impl PartsManager {
    /// A manager with no parts yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn existing(&self, vendor_id: Option<&str>, kind: PartKind) -> Option<usize> {
        match vendor_id {
            Some(id) => self
                .by_vendor_id
                .get(id)
                .copied()
                .filter(|&i| self.kinds.get(i) == Some(&kind)),
            None => {
                let last = self.kinds.len().checked_sub(1)?;
                (self.kinds.get(last) == Some(&kind)).then_some(last)
            }
        }
    }

    fn start(&mut self, vendor_id: Option<&str>, kind: PartKind) -> usize {
        let index = self.kinds.len();
        self.kinds.push(kind);
        if let Some(id) = vendor_id {
            self.by_vendor_id.insert(id.to_owned(), index);
        }
        index
    }

    /// Text arrived. Empty deltas make no event.
    pub fn text_delta(&mut self, vendor_id: Option<&str>, delta: &str) -> Option<ModelStreamEvent> {
        if delta.is_empty() {
            return None;
        }
        Some(match self.existing(vendor_id, PartKind::Text) {
            Some(index) => ModelStreamEvent::PartDelta {
                index,
                delta: PartDelta::Text {
                    content_delta: delta.to_owned(),
                },
            },
            None => ModelStreamEvent::PartStart {
                index: self.start(vendor_id, PartKind::Text),
                part: ModelResponsePart::Text(TextPart::new(delta)),
            },
        })
    }

    /// Thinking arrived (text and/or signature).
    pub fn thinking_delta(
        &mut self,
        vendor_id: Option<&str>,
        content: Option<&str>,
        signature: Option<&str>,
    ) -> Option<ModelStreamEvent> {
        let content = content.filter(|c| !c.is_empty());
        let signature = signature.filter(|s| !s.is_empty());
        if content.is_none() && signature.is_none() {
            return None;
        }
        Some(match self.existing(vendor_id, PartKind::Thinking) {
            Some(index) => ModelStreamEvent::PartDelta {
                index,
                delta: PartDelta::Thinking {
                    content_delta: content.map(str::to_owned),
                    signature_delta: signature.map(str::to_owned),
                },
            },
            None => {
                let mut part = ThinkingPart::new(content.unwrap_or_default());
                part.signature = signature.map(str::to_owned);
                ModelStreamEvent::PartStart {
                    index: self.start(vendor_id, PartKind::Thinking),
                    part: ModelResponsePart::Thinking(part),
                }
            }
        })
    }

    /// Part of a tool call arrived. A new vendor id starts a new call.
    pub fn tool_call_delta(
        &mut self,
        vendor_id: Option<&str>,
        tool_name: Option<&str>,
        args: Option<&str>,
        tool_call_id: Option<&str>,
    ) -> Option<ModelStreamEvent> {
        let existing = match vendor_id {
            Some(_) => self.existing(vendor_id, PartKind::ToolCall),
            // without an id, a delta naming a tool starts a new call
            None if tool_name.is_some_and(|n| !n.is_empty()) => None,
            None => self.existing(None, PartKind::ToolCall),
        };
        match existing {
            Some(index) => {
                let tool_name_delta = tool_name.filter(|n| !n.is_empty()).map(str::to_owned);
                let args_delta = args.filter(|a| !a.is_empty()).map(str::to_owned);
                let tool_call_id = tool_call_id.filter(|i| !i.is_empty()).map(str::to_owned);
                if tool_name_delta.is_none() && args_delta.is_none() && tool_call_id.is_none() {
                    return None;
                }
                Some(ModelStreamEvent::PartDelta {
                    index,
                    delta: PartDelta::ToolCall {
                        tool_name_delta,
                        args_delta,
                        tool_call_id,
                    },
                })
            }
            None => {
                let part = ToolCallPart::new(
                    tool_name.unwrap_or_default(),
                    ToolCallArgs::Json(args.unwrap_or_default().to_owned()),
                    tool_call_id.unwrap_or_default(),
                );
                Some(ModelStreamEvent::PartStart {
                    index: self.start(vendor_id, PartKind::ToolCall),
                    part: ModelResponsePart::ToolCall(part),
                })
            }
        }
    }

    /// A whole part arrived at once.
    pub fn whole_part(
        &mut self,
        vendor_id: Option<&str>,
        part: ModelResponsePart,
    ) -> ModelStreamEvent {
        let kind = match &part {
            ModelResponsePart::Text(_) => PartKind::Text,
            ModelResponsePart::Thinking(_) => PartKind::Thinking,
            ModelResponsePart::ToolCall(_) => PartKind::ToolCall,
            ModelResponsePart::Unknown(_) => PartKind::Other,
        };
        ModelStreamEvent::PartStart {
            index: self.start(vendor_id, kind),
            part,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_split_across_deltas_and_indexes_reassemble() {
        let mut pm = PartsManager::new();
        let mut acc = ResponseAccumulator::new();
        let events = [
            pm.text_delta(None, "Let me check. "),
            pm.tool_call_delta(Some("0"), Some("get_"), Some("{\"ci"), Some("call_a")),
            pm.tool_call_delta(Some("1"), Some("lookup"), Some("{\"id\":"), Some("call_b")),
            pm.tool_call_delta(Some("0"), Some("weather"), Some("ty\":\"Paris\"}"), None),
            pm.tool_call_delta(Some("1"), None, Some("3}"), None),
            pm.tool_call_delta(Some("1"), None, Some(""), None),
        ];
        for e in events.into_iter().flatten() {
            acc.apply(e).unwrap();
        }
        let r = acc.finish();
        let calls: Vec<_> = r.tool_calls().collect();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].tool_name, "get_weather");
        assert_eq!(calls[0].args.to_json_string(), "{\"city\":\"Paris\"}");
        assert_eq!(calls[1].tool_call_id, "call_b");
        assert_eq!(calls[1].args.to_json_string(), "{\"id\":3}");
        assert_eq!(r.text_content().unwrap(), "Let me check. ");
    }

    #[test]
    fn mismatched_delta_is_an_error_not_a_panic() {
        let mut acc = ResponseAccumulator::new();
        assert!(
            acc.apply(ModelStreamEvent::PartDelta {
                index: 3,
                delta: PartDelta::Text {
                    content_delta: "x".into()
                }
            })
            .is_err()
        );
        acc.apply(ModelStreamEvent::PartStart {
            index: 0,
            part: ModelResponsePart::Text(TextPart::new("a")),
        })
        .unwrap();
        assert!(
            acc.apply(ModelStreamEvent::PartDelta {
                index: 0,
                delta: PartDelta::ToolCall {
                    tool_name_delta: None,
                    args_delta: Some("{".into()),
                    tool_call_id: None
                }
            })
            .is_err()
        );
    }
}
