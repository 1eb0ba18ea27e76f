//! The AI SDK's UI messages (`UIMessage`) and the body `useChat` posts.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Who a UI message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UiRole {
    /// System instructions.
    System,
    /// The user.
    User,
    /// The agent.
    Assistant,
}

/// A message as the AI SDK's UI holds it (`UIMessage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UiMessage {
    /// The message's id.
    pub id: String,
    /// Who it is from.
    pub role: UiRole,
    /// Metadata for the application (`message.metadata`); Verity keeps the exact messages
    /// a UI message was made from under `verity.messages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// What it shows, in order.
    #[serde(default)]
    pub parts: Vec<UiPart>,
}

/// Where a tool part is in its life (`state` of a `tool-{name}` part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolState {
    /// The input is streaming.
    InputStreaming,
    /// The input is complete.
    InputAvailable,
    /// The call waits for the user's approval (AI SDK v6).
    ApprovalRequested,
    /// The user approved or denied the call (AI SDK v6).
    ApprovalResponded,
    /// The tool returned.
    OutputAvailable,
    /// The tool failed.
    OutputError,
    /// The call was denied (AI SDK v6).
    OutputDenied,
}

/// The user's answer to an approval request (AI SDK v6 `approval`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolApprovalUi {
    /// The approval request's id.
    pub id: String,
    /// Whether the call may run (absent while the request waits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<bool>,
    /// Why, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A tool call shown in a UI message: a `tool-{name}` part, or a `dynamic-tool` part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUiPart {
    /// The tool's name (in the part's type, `tool-{name}`, unless dynamic).
    #[serde(skip)]
    pub tool_name: String,
    /// Whether this is a `dynamic-tool` part (its name in `toolName`).
    #[serde(skip)]
    pub dynamic: bool,
    /// The call's id.
    pub tool_call_id: String,
    /// Where the call is.
    pub state: ToolState,
    /// The arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// What the tool returned (state `output-available`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why it failed (state `output-error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_text: Option<String>,
    /// Whether the provider ran the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_executed: Option<bool>,
    /// The approval request and its answer (AI SDK v6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ToolApprovalUi>,
    /// Provider metadata of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_provider_metadata: Option<Value>,
}

/// One part of a UI message.
///
/// Kinds Verity does not model (`source-url`, `source-document`, `data-*`, …) are kept
/// as [`UiPart::Other`], so a message written back is the message read.
#[derive(Debug, Clone, PartialEq)]
pub enum UiPart {
    /// Text.
    Text {
        /// The text.
        text: String,
        /// `streaming` or `done`, when given.
        state: Option<String>,
        /// Provider metadata.
        provider_metadata: Option<Value>,
    },
    /// Reasoning (thinking).
    Reasoning {
        /// The reasoning text.
        text: String,
        /// `streaming` or `done`, when given.
        state: Option<String>,
        /// Provider metadata.
        provider_metadata: Option<Value>,
    },
    /// A tool call and, when it returned, its output.
    Tool(ToolUiPart),
    /// A file (a URL, or a `data:` URL).
    File {
        /// Its IANA media type.
        media_type: String,
        /// Its file name, when given.
        filename: Option<String>,
        /// Where it is.
        url: String,
    },
    /// The start of a step (a model request).
    StepStart,
    /// Any other part, as it is.
    Other(Value),
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), value);
    }
}

impl UiPart {
    /// The part as the JSON the AI SDK uses.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        match self {
            UiPart::Text {
                text,
                state,
                provider_metadata,
            }
            | UiPart::Reasoning {
                text,
                state,
                provider_metadata,
            } => {
                let kind = if matches!(self, UiPart::Text { .. }) {
                    "text"
                } else {
                    "reasoning"
                };
                map.insert("type".into(), kind.into());
                map.insert("text".into(), text.clone().into());
                put(&mut map, "state", state.clone().map(Value::String));
                put(&mut map, "providerMetadata", provider_metadata.clone());
            }
            UiPart::Tool(tool) => {
                if let Ok(Value::Object(fields)) = serde_json::to_value(tool) {
                    if tool.dynamic {
                        map.insert("type".into(), "dynamic-tool".into());
                        map.insert("toolName".into(), tool.tool_name.clone().into());
                    } else {
                        map.insert("type".into(), format!("tool-{}", tool.tool_name).into());
                    }
                    map.extend(fields);
                }
            }
            UiPart::File {
                media_type,
                filename,
                url,
            } => {
                map.insert("type".into(), "file".into());
                map.insert("mediaType".into(), media_type.clone().into());
                put(&mut map, "filename", filename.clone().map(Value::String));
                map.insert("url".into(), url.clone().into());
            }
            UiPart::StepStart => {
                map.insert("type".into(), "step-start".into());
            }
            UiPart::Other(value) => return value.clone(),
        }
        Value::Object(map)
    }

    /// A part from the JSON the AI SDK uses.
    pub fn from_json(value: Value) -> Result<Self, serde_json::Error> {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| serde_json::Error::custom("a UI message part needs a string `type`"))?
            .to_owned();
        let str_field = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(match kind.as_str() {
            "text" | "reasoning" => {
                let text = str_field("text")
                    .ok_or_else(|| serde_json::Error::custom("a text part needs `text`"))?;
                let state = str_field("state");
                let provider_metadata = value.get("providerMetadata").cloned();
                if kind == "text" {
                    UiPart::Text {
                        text,
                        state,
                        provider_metadata,
                    }
                } else {
                    UiPart::Reasoning {
                        text,
                        state,
                        provider_metadata,
                    }
                }
            }
            "file" => UiPart::File {
                media_type: str_field("mediaType")
                    .ok_or_else(|| serde_json::Error::custom("a file part needs `mediaType`"))?,
                filename: str_field("filename"),
                url: str_field("url")
                    .ok_or_else(|| serde_json::Error::custom("a file part needs `url`"))?,
            },
            "step-start" => UiPart::StepStart,
            "dynamic-tool" => {
                let tool_name = str_field("toolName").ok_or_else(|| {
                    serde_json::Error::custom("a dynamic-tool part needs `toolName`")
                })?;
                let mut tool: ToolUiPart = serde_json::from_value(value)?;
                tool.tool_name = tool_name;
                tool.dynamic = true;
                UiPart::Tool(tool)
            }
            other => match other.strip_prefix("tool-") {
                Some(name) => {
                    let name = name.to_owned();
                    let mut tool: ToolUiPart = serde_json::from_value(value)?;
                    tool.tool_name = name;
                    UiPart::Tool(tool)
                }
                None => UiPart::Other(value),
            },
        })
    }
}

impl Serialize for UiPart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for UiPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        UiPart::from_json(Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// The body the AI SDK's `useChat` posts (`DefaultChatTransport`): the chat's id, its
/// messages (the new user message last) and what triggered the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatRequest {
    /// The chat's id.
    #[serde(default)]
    pub id: String,
    /// The conversation so far.
    pub messages: Vec<UiMessage>,
    /// `submit-message` or `regenerate-message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The message to regenerate, for `regenerate-message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Any other fields the client sent (`body` of `sendMessage`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
