//! The part of a model response that is open while the response streams, shared by the
//! Vercel and AG-UI encoders: which text, reasoning or tool-call segment a part or a
//! delta opens or continues, and when one ends. Each encoder writes the [`Segment`]s in
//! its own protocol.

use serde_json::Value;
use verity::messages::{ModelResponsePart, ToolCallArgs};
use verity::stream::PartDelta;

/// What happens to the UI's segments, in no protocol's terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    TextStart { id: String },
    TextDelta { id: String, delta: String },
    TextEnd { id: String },
    ReasoningStart { id: String },
    ReasoningDelta { id: String, delta: String },
    ReasoningEnd { id: String },
    ToolStart { call_id: String, name: String },
    ToolArgs { call_id: String, delta: String },
    ToolEnd { call_id: String },
}

#[derive(Debug)]
enum Open {
    Text { index: usize, id: String },
    Reasoning { index: usize, id: String },
    Tool { index: usize, call_id: String },
    Other { index: usize },
}

impl Open {
    fn index(&self) -> usize {
        match self {
            Open::Text { index, .. }
            | Open::Reasoning { index, .. }
            | Open::Tool { index, .. }
            | Open::Other { index } => *index,
        }
    }
}

/// The open part of the response being written.
#[derive(Debug, Default)]
pub(crate) struct OpenPart {
    open: Option<Open>,
}

impl OpenPart {
    /// Part `index` starts: the open part ends, unless both are text (consecutive text
    /// parts continue one UI text segment), and the new one opens with what it already
    /// holds. New segment ids come from `ids`.
    pub(crate) fn start(
        &mut self,
        index: usize,
        part: &ModelResponsePart,
        ids: &mut dyn FnMut() -> String,
        out: &mut Vec<Segment>,
    ) {
        match part {
            ModelResponsePart::Text(text) => {
                let id = match self.open.take() {
                    Some(Open::Text { id, .. }) => id,
                    other => {
                        self.open = other;
                        self.close(out);
                        let id = ids();
                        out.push(Segment::TextStart { id: id.clone() });
                        id
                    }
                };
                if !text.content.is_empty() {
                    out.push(Segment::TextDelta {
                        id: id.clone(),
                        delta: text.content.clone(),
                    });
                }
                self.open = Some(Open::Text { index, id });
            }
            ModelResponsePart::Thinking(thinking) => {
                self.close(out);
                let id = ids();
                out.push(Segment::ReasoningStart { id: id.clone() });
                if !thinking.content.is_empty() {
                    out.push(Segment::ReasoningDelta {
                        id: id.clone(),
                        delta: thinking.content.clone(),
                    });
                }
                self.open = Some(Open::Reasoning { index, id });
            }
            ModelResponsePart::ToolCall(call) => {
                self.close(out);
                out.push(Segment::ToolStart {
                    call_id: call.tool_call_id.clone(),
                    name: call.tool_name.clone(),
                });
                // the arguments as the model sent them (empty: none yet)
                let args = match &call.args {
                    ToolCallArgs::Json(s) => s.clone(),
                    ToolCallArgs::Object(map) => Value::Object(map.clone()).to_string(),
                };
                if !args.is_empty() {
                    out.push(Segment::ToolArgs {
                        call_id: call.tool_call_id.clone(),
                        delta: args,
                    });
                }
                self.open = Some(Open::Tool {
                    index,
                    call_id: call.tool_call_id.clone(),
                });
            }
            _ => {
                self.close(out);
                self.open = Some(Open::Other { index });
            }
        }
    }

    /// A delta of part `index`: more of the open segment (a delta of another part, or
    /// an empty one, adds nothing).
    pub(crate) fn delta(&mut self, index: usize, delta: &PartDelta, out: &mut Vec<Segment>) {
        let Some(open) = self.open.as_ref().filter(|o| o.index() == index) else {
            return;
        };
        match (open, delta) {
            (Open::Text { id, .. }, PartDelta::Text { content_delta })
                if !content_delta.is_empty() =>
            {
                out.push(Segment::TextDelta {
                    id: id.clone(),
                    delta: content_delta.clone(),
                });
            }
            (
                Open::Reasoning { id, .. },
                PartDelta::Thinking {
                    content_delta: Some(delta),
                    ..
                },
            ) if !delta.is_empty() => {
                out.push(Segment::ReasoningDelta {
                    id: id.clone(),
                    delta: delta.clone(),
                });
            }
            (
                Open::Tool { call_id, .. },
                PartDelta::ToolCall {
                    args_delta: Some(args),
                    ..
                },
            ) => {
                out.push(Segment::ToolArgs {
                    call_id: call_id.clone(),
                    delta: args.clone(),
                });
            }
            _ => {}
        }
    }

    /// The open segment ends.
    pub(crate) fn close(&mut self, out: &mut Vec<Segment>) {
        match self.open.take() {
            Some(Open::Text { id, .. }) => out.push(Segment::TextEnd { id }),
            Some(Open::Reasoning { id, .. }) => out.push(Segment::ReasoningEnd { id }),
            Some(Open::Tool { call_id, .. }) => out.push(Segment::ToolEnd { call_id }),
            Some(Open::Other { .. }) | None => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use verity::messages::{TextPart, ThinkingPart, ToolCallPart};

    #[test]
    fn consecutive_text_continues_and_other_parts_close_what_is_open() {
        let mut n = 0;
        let mut ids = || {
            n += 1;
            format!("id{n}")
        };
        let mut open = OpenPart::default();
        let mut out = Vec::new();
        open.start(
            0,
            &ModelResponsePart::Text(TextPart::new("Hel")),
            &mut ids,
            &mut out,
        );
        open.start(
            1,
            &ModelResponsePart::Text(TextPart::new("lo")),
            &mut ids,
            &mut out,
        );
        // a delta for a part that is not open adds nothing
        open.delta(
            0,
            &PartDelta::Text {
                content_delta: "x".into(),
            },
            &mut out,
        );
        let thinking = ModelResponsePart::Thinking(ThinkingPart::new("hmm"));
        open.start(2, &thinking, &mut ids, &mut out);
        let call = ToolCallPart::new("f", serde_json::json!({"a": 1}).into(), "c1");
        open.start(3, &ModelResponsePart::ToolCall(call), &mut ids, &mut out);
        open.close(&mut out);
        let text = |id: &str, delta: &str| Segment::TextDelta {
            id: id.into(),
            delta: delta.into(),
        };
        assert_eq!(
            out,
            [
                Segment::TextStart { id: "id1".into() },
                text("id1", "Hel"),
                text("id1", "lo"),
                Segment::TextEnd { id: "id1".into() },
                Segment::ReasoningStart { id: "id2".into() },
                Segment::ReasoningDelta {
                    id: "id2".into(),
                    delta: "hmm".into()
                },
                Segment::ReasoningEnd { id: "id2".into() },
                Segment::ToolStart {
                    call_id: "c1".into(),
                    name: "f".into()
                },
                Segment::ToolArgs {
                    call_id: "c1".into(),
                    delta: r#"{"a":1}"#.into()
                },
                Segment::ToolEnd {
                    call_id: "c1".into()
                },
            ]
        );
    }
}
