//! Verity's own types for what MCP servers return: tools, tool results, resources and
//! prompts. They are read from the protocol's JSON (camelCase keys) leniently: fields
//! Verity does not model are kept in `extra`, and content of an unknown type is kept
//! whole ([`McpContent::Other`]), so a newer server never makes a result unreadable.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use verity::messages::{BinaryContent, UserContent};

/// A tool an MCP server offers (`tools/list`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct McpTool {
    /// The tool's name on the server.
    pub name: String,
    /// A display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON schema of the arguments.
    #[serde(default = "empty_object_schema")]
    pub input_schema: Value,
    /// JSON schema of the structured result, when the tool declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Hints (`readOnlyHint`, `destructiveHint`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
    /// The tool's `_meta`.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// Fields Verity does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

impl McpTool {
    /// Whether the tool is meant for the model: MCP Apps' `_meta.ui.visibility` may
    /// list only `"app"`; a tool without that list is visible to both.
    pub fn visible_to_model(&self) -> bool {
        match self
            .meta
            .as_ref()
            .and_then(|m| m.get("ui"))
            .and_then(|ui| ui.get("visibility"))
            .and_then(Value::as_array)
        {
            Some(audiences) => audiences.iter().any(|a| a.as_str() == Some("model")),
            None => true,
        }
    }
}

/// One content block of a tool result or a prompt message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum McpContent {
    /// Text.
    Text(String),
    /// An image (bytes decoded from base64).
    Image {
        /// The bytes.
        data: Vec<u8>,
        /// Their media type.
        mime_type: String,
    },
    /// Audio (bytes decoded from base64).
    Audio {
        /// The bytes.
        data: Vec<u8>,
        /// Their media type.
        mime_type: String,
    },
    /// A resource embedded in the result.
    Resource(ResourceContents),
    /// A link to a resource the client may read ([`McpServer::read_resource`](crate::McpServer::read_resource)).
    ResourceLink(Resource),
    /// A block of a type Verity does not know, kept whole.
    Other(Value),
}

impl McpContent {
    /// Read a content block from the protocol's JSON. Never fails: a block that does
    /// not read as its declared type (bad base64, missing fields) is kept as
    /// [`McpContent::Other`].
    pub fn from_wire(block: &Value) -> Self {
        let other = || McpContent::Other(block.clone());
        let str_field = |k: &str| block.get(k).and_then(Value::as_str);
        match str_field("type") {
            Some("text") => match str_field("text") {
                Some(t) => McpContent::Text(t.to_owned()),
                None => other(),
            },
            Some(kind @ ("image" | "audio")) => {
                match (
                    str_field("data").and_then(decode_base64),
                    str_field("mimeType"),
                ) {
                    (Some(data), Some(mime)) => {
                        let mime_type = mime.to_owned();
                        if kind == "image" {
                            McpContent::Image { data, mime_type }
                        } else {
                            McpContent::Audio { data, mime_type }
                        }
                    }
                    _ => other(),
                }
            }
            Some("resource") => match block.get("resource").and_then(ResourceContents::from_wire) {
                Some(r) => McpContent::Resource(r),
                None => other(),
            },
            Some("resource_link") => match serde_json::from_value::<Resource>(block.clone()) {
                Ok(r) => McpContent::ResourceLink(r),
                Err(_) => other(),
            },
            _ => other(),
        }
    }

    /// The block as a value for the model, as PydanticAI maps it: text that is a JSON
    /// object or array is parsed, other text stays a string; images and audio become
    /// Verity binary content (`{"kind": "binary", …}`, which the wire APIs send as
    /// files); an embedded text resource is its text and a blob is binary content; a
    /// resource link is its URI.
    pub fn to_model_value(&self) -> Value {
        match self {
            McpContent::Text(text) => text_value(text),
            McpContent::Image { data, mime_type } | McpContent::Audio { data, mime_type } => {
                binary_value(data, mime_type)
            }
            McpContent::Resource(ResourceContents::Text { text, .. }) => {
                Value::String(text.clone())
            }
            McpContent::Resource(ResourceContents::Blob {
                data, mime_type, ..
            }) => binary_value(
                data,
                mime_type.as_deref().unwrap_or("application/octet-stream"),
            ),
            McpContent::ResourceLink(r) => Value::String(r.uri.clone()),
            McpContent::Other(v) => v.clone(),
        }
    }

    /// The block as user content (for a prompt): text, or binary content; `None` for a
    /// resource link or an unknown block.
    pub fn to_user_content(&self) -> Option<UserContent> {
        match self {
            McpContent::Text(t) => Some(UserContent::Text(t.clone())),
            McpContent::Image { data, mime_type } | McpContent::Audio { data, mime_type } => Some(
                UserContent::Binary(BinaryContent::new(data.clone(), mime_type.clone())),
            ),
            McpContent::Resource(ResourceContents::Text { text, .. }) => {
                Some(UserContent::Text(text.clone()))
            }
            McpContent::Resource(ResourceContents::Blob {
                data, mime_type, ..
            }) => Some(UserContent::Binary(BinaryContent::new(
                data.clone(),
                mime_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
            ))),
            McpContent::ResourceLink(_) | McpContent::Other(_) => None,
        }
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let engine = base64::engine::general_purpose::STANDARD;
    engine.decode(s.trim()).ok()
}

fn text_value(text: &str) -> Value {
    if text.starts_with(['[', '{'])
        && let Ok(v) = serde_json::from_str::<Value>(text)
    {
        return v;
    }
    Value::String(text.to_owned())
}

fn binary_value(data: &[u8], mime_type: &str) -> Value {
    serde_json::to_value(UserContent::Binary(BinaryContent::new(
        data.to_vec(),
        mime_type,
    )))
    .unwrap_or(Value::Null)
}

/// The result of a tool call (`tools/call`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct McpToolResult {
    /// The content blocks.
    pub content: Vec<McpContent>,
    /// The structured result, when the server sent one.
    pub structured_content: Option<Value>,
    /// Whether the tool reports an error.
    pub is_error: bool,
    /// The result's `_meta`.
    pub meta: Option<Value>,
}

impl McpToolResult {
    /// Read a result from the protocol's JSON.
    pub fn from_wire(result: &Value) -> Self {
        McpToolResult {
            content: result
                .get("content")
                .and_then(Value::as_array)
                .map(|blocks| blocks.iter().map(McpContent::from_wire).collect())
                .unwrap_or_default(),
            structured_content: result.get("structuredContent").cloned(),
            is_error: result
                .get("isError")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            meta: result.get("_meta").cloned(),
        }
    }

    /// The value the model is given, as PydanticAI maps it: the structured content
    /// when there is some and every content block is text (the text then only repeats
    /// it) or `prefer_structured` is set, unwrapping a lone `result` key (the wrapper
    /// SDKs put around non-object results); otherwise the content blocks
    /// ([`McpContent::to_model_value`]), one value for one block, a list for several.
    pub fn to_model_value(&self, prefer_structured: bool) -> Value {
        if let Some(structured) = &self.structured_content
            && (prefer_structured
                || self
                    .content
                    .iter()
                    .all(|c| matches!(c, McpContent::Text(_))))
        {
            if let Value::Object(map) = structured
                && map.len() == 1
                && let Some(inner) = map.get("result")
            {
                return inner.clone();
            }
            return structured.clone();
        }
        let mut values: Vec<Value> = self
            .content
            .iter()
            .map(McpContent::to_model_value)
            .collect();
        if values.len() == 1 {
            values.pop().unwrap_or(Value::Null)
        } else {
            Value::Array(values)
        }
    }

    /// The message of an error result, as PydanticAI renders it for the retry prompt:
    /// the mapped result as text (strings as they are, other values as JSON), or
    /// `Tool 'name' returned an error` when the result is empty.
    pub fn error_message(&self, tool: &str) -> String {
        let fallback = || format!("Tool '{tool}' returned an error");
        if self.structured_content.is_none() && self.content.is_empty() {
            return fallback();
        }
        let text = match self.to_model_value(true) {
            Value::String(s) => s,
            other => other.to_string(),
        };
        if text.is_empty() { fallback() } else { text }
    }
}

/// A resource a server offers (`resources/list`), or one a tool result links to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Resource {
    /// Its URI.
    pub uri: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// A display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Its size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Fields Verity does not model (`annotations`, `_meta`, `icons`, `type`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A template of resource URIs (`resources/templates/list`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResourceTemplate {
    /// The URI template (RFC 6570).
    pub uri_template: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// A display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The media type of what it gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Fields Verity does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The contents of a resource (`resources/read`, or embedded in a result).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResourceContents {
    /// Text.
    Text {
        /// The resource's URI.
        uri: String,
        /// Its media type.
        mime_type: Option<String>,
        /// The text.
        text: String,
    },
    /// Bytes (decoded from base64).
    Blob {
        /// The resource's URI.
        uri: String,
        /// Its media type.
        mime_type: Option<String>,
        /// The bytes.
        data: Vec<u8>,
    },
}

impl ResourceContents {
    /// Read resource contents from the protocol's JSON (`None` when they have neither
    /// text nor valid base64 `blob`).
    pub fn from_wire(v: &Value) -> Option<Self> {
        let uri = v
            .get("uri")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mime_type = v.get("mimeType").and_then(Value::as_str).map(str::to_owned);
        if let Some(text) = v.get("text").and_then(Value::as_str) {
            return Some(ResourceContents::Text {
                uri,
                mime_type,
                text: text.to_owned(),
            });
        }
        let data = v
            .get("blob")
            .and_then(Value::as_str)
            .and_then(decode_base64)?;
        Some(ResourceContents::Blob {
            uri,
            mime_type,
            data,
        })
    }

    /// The resource's URI.
    pub fn uri(&self) -> &str {
        match self {
            ResourceContents::Text { uri, .. } | ResourceContents::Blob { uri, .. } => uri,
        }
    }

    /// The text, for a text resource.
    pub fn text(&self) -> Option<&str> {
        match self {
            ResourceContents::Text { text, .. } => Some(text),
            ResourceContents::Blob { .. } => None,
        }
    }
}

/// A prompt template a server offers (`prompts/list`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Prompt {
    /// Its name.
    pub name: String,
    /// A display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub arguments: Vec<PromptArgument>,
    /// Fields Verity does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An argument of a prompt template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PromptArgument {
    /// Its name.
    pub name: String,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it must be given.
    #[serde(default)]
    pub required: bool,
}

/// One message of a prompt (`prompts/get`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PromptMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// The content.
    pub content: McpContent,
}

/// A prompt filled in by the server (`prompts/get`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PromptResult {
    /// What the prompt is.
    pub description: Option<String>,
    /// Its messages.
    pub messages: Vec<PromptMessage>,
}

impl PromptResult {
    /// Read a prompt result from the protocol's JSON.
    pub fn from_wire(v: &Value) -> Self {
        PromptResult {
            description: v
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            messages: v
                .get("messages")
                .and_then(Value::as_array)
                .map(|ms| {
                    ms.iter()
                        .map(|m| PromptMessage {
                            role: m
                                .get("role")
                                .and_then(Value::as_str)
                                .unwrap_or("user")
                                .to_owned(),
                            content: m
                                .get("content")
                                .map(McpContent::from_wire)
                                .unwrap_or(McpContent::Other(Value::Null)),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// What a server said about itself when the connection was made.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The server's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its display title.
    pub title: Option<String>,
    /// The protocol version agreed on.
    pub protocol_version: String,
    /// Instructions for using the server, meant for the model.
    pub instructions: Option<String>,
    /// The server's capabilities, as sent.
    pub capabilities: Value,
}

impl ServerInfo {
    /// Read the `initialize` result from the protocol's JSON.
    pub fn from_wire(v: &Value) -> Self {
        let info = v.get("serverInfo");
        let s = |o: Option<&Value>, k: &str| {
            o.and_then(|o| o.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        ServerInfo {
            name: s(info, "name").unwrap_or_default(),
            version: s(info, "version").unwrap_or_default(),
            title: s(info, "title"),
            protocol_version: s(Some(v), "protocolVersion").unwrap_or_default(),
            instructions: s(Some(v), "instructions"),
            capabilities: v.get("capabilities").cloned().unwrap_or(Value::Null),
        }
    }
}
