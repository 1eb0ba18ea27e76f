//! The chunks of the AI SDK's UI message stream protocol (SSE `data:` lines).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One chunk of the UI message stream, written as one SSE `data:` line of JSON.
///
/// The variants and field names are the AI SDK's (`ai` v5/v6 `UIMessageChunk`); fields
/// that are `None` are not written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[allow(missing_docs)] // the fields are the protocol's, named as it names them
pub enum UiChunk {
    /// The assistant message starts.
    #[serde(rename_all = "camelCase")]
    Start {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_metadata: Option<Value>,
    },
    /// A step (one model request and the tool calls it made) starts.
    StartStep,
    /// The step ends.
    FinishStep,
    /// A text part starts.
    #[serde(rename_all = "camelCase")]
    TextStart {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_metadata: Option<Value>,
    },
    /// More text of a text part.
    #[serde(rename_all = "camelCase")]
    TextDelta {
        id: String,
        delta: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_metadata: Option<Value>,
    },
    /// The text part ends.
    #[serde(rename_all = "camelCase")]
    TextEnd {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_metadata: Option<Value>,
    },
    /// A reasoning part starts.
    #[serde(rename_all = "camelCase")]
    ReasoningStart {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_metadata: Option<Value>,
    },
    /// More text of a reasoning part.
    #[serde(rename_all = "camelCase")]
    ReasoningDelta {
        id: String,
        delta: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_metadata: Option<Value>,
    },
    /// The reasoning part ends.
    #[serde(rename_all = "camelCase")]
    ReasoningEnd {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_metadata: Option<Value>,
    },
    /// A tool call's input starts streaming.
    #[serde(rename_all = "camelCase")]
    ToolInputStart {
        tool_call_id: String,
        tool_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_executed: Option<bool>,
    },
    /// More of a tool call's input (JSON text).
    #[serde(rename_all = "camelCase")]
    ToolInputDelta {
        tool_call_id: String,
        input_text_delta: String,
    },
    /// A tool call's input is complete.
    #[serde(rename_all = "camelCase")]
    ToolInputAvailable {
        tool_call_id: String,
        tool_name: String,
        input: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_executed: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_metadata: Option<Value>,
    },
    /// A tool call's input was invalid (AI SDK v6).
    #[serde(rename_all = "camelCase")]
    ToolInputError {
        tool_call_id: String,
        tool_name: String,
        input: Value,
        error_text: String,
    },
    /// A tool call's output.
    #[serde(rename_all = "camelCase")]
    ToolOutputAvailable {
        tool_call_id: String,
        output: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_executed: Option<bool>,
    },
    /// A tool call failed.
    #[serde(rename_all = "camelCase")]
    ToolOutputError {
        tool_call_id: String,
        error_text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_executed: Option<bool>,
    },
    /// A tool call waits for the user's approval (AI SDK v6).
    #[serde(rename_all = "camelCase")]
    ToolApprovalRequest {
        approval_id: String,
        tool_call_id: String,
    },
    /// A tool call was denied (AI SDK v6).
    #[serde(rename_all = "camelCase")]
    ToolOutputDenied { tool_call_id: String },
    /// An error ended the run.
    #[serde(rename_all = "camelCase")]
    Error { error_text: String },
    /// Metadata for the assistant message, merged into `message.metadata`.
    #[serde(rename_all = "camelCase")]
    MessageMetadata { message_metadata: Value },
    /// The assistant message is complete.
    #[serde(rename_all = "camelCase")]
    Finish {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        finish_reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_metadata: Option<Value>,
    },
    /// The run was aborted.
    Abort {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A source the answer draws on, by URL.
    #[serde(rename_all = "camelCase")]
    SourceUrl {
        source_id: String,
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_metadata: Option<Value>,
    },
    /// A source the answer draws on, a document.
    #[serde(rename_all = "camelCase")]
    SourceDocument {
        source_id: String,
        media_type: String,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_metadata: Option<Value>,
    },
    /// A file (a URL, or a `data:` URL).
    #[serde(rename_all = "camelCase")]
    File { url: String, media_type: String },
    /// Application data, its type `data-` and a name of the application's (the AI SDK's
    /// custom data parts).
    #[serde(untagged)]
    Data(DataChunk),
}

/// A `data-*` chunk: application data the client shows or keeps (the AI SDK's
/// `DataUIPart`); with an `id`, a later chunk of the same type and id replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataChunk {
    /// `data-` and the data's name.
    #[serde(rename = "type")]
    pub kind: String,
    /// Identifies the data, for a later chunk to replace it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The data.
    pub data: Value,
    /// Sent to the client but not kept in the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transient: Option<bool>,
}

impl UiChunk {
    /// The chunks a tool return's metadata holds for the client, as PydanticAI takes
    /// them from a `ToolReturn`'s metadata: one chunk or an array of them, of the kinds
    /// that carry data (`data-*`, `source-url`, `source-document`, `file`); anything
    /// else is left out.
    pub fn from_tool_metadata(metadata: Option<&Value>) -> Vec<UiChunk> {
        let mut chunks = crate::metadata_items::<UiChunk>(metadata);
        chunks.retain(UiChunk::carries_data);
        chunks
    }

    /// Whether this is a chunk of data for the client rather than of the protocol.
    fn carries_data(&self) -> bool {
        match self {
            UiChunk::Data(data) => data.kind.starts_with("data-"),
            UiChunk::SourceUrl { .. } | UiChunk::SourceDocument { .. } | UiChunk::File { .. } => {
                true
            }
            _ => false,
        }
    }
}

/// A chunk as a tool's return metadata (see [`UiChunk::from_tool_metadata`]).
impl From<UiChunk> for Value {
    fn from(chunk: UiChunk) -> Value {
        serde_json::to_value(chunk).unwrap_or(Value::Null)
    }
}

impl UiChunk {
    /// The chunk as one SSE event: `data: {json}\n\n`.
    pub fn to_sse(&self) -> String {
        // a chunk holds only strings, numbers and JSON values: serializing cannot fail
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        format!("data: {json}\n\n")
    }
}

/// The SSE event that ends a UI message stream.
pub const DONE: &str = "data: [DONE]\n\n";
