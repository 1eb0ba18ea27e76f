//! Message content in the JSON shapes of the GenAI conventions (`gen_ai.input.messages`,
//! `gen_ai.output.messages`, `gen_ai.system_instructions`, `gen_ai.tool.definitions`).
//! Built only when content capture is on and someone listens. Binary data is never
//! inlined: a blob keeps its media type and modality, not its bytes.

use serde_json::{Map, Value, json};

use crate::messages::{
    FileUrl, ModelMessage, ModelRequestPart, ModelResponse, ModelResponsePart, UserContent,
    UserPrompt,
};
use crate::request::ModelRequestParameters;

/// `[{"role": …, "parts": […]}, …]` for the messages sent.
pub(crate) fn input_messages(messages: &[ModelMessage]) -> String {
    let mut out: Vec<Value> = Vec::new();
    for message in messages {
        match message {
            ModelMessage::Request(request) => {
                let mut current: Option<(&str, Vec<Value>)> = None;
                for part in &request.parts {
                    let Some((role, value)) = request_part(part) else {
                        continue;
                    };
                    match &mut current {
                        Some((r, parts)) if *r == role => parts.extend(value),
                        _ => {
                            if let Some((r, parts)) = current.take() {
                                out.push(json!({"role": r, "parts": parts}));
                            }
                            current = Some((role, value));
                        }
                    }
                }
                if let Some((r, parts)) = current {
                    out.push(json!({"role": r, "parts": parts}));
                }
            }
            ModelMessage::Response(response) => out.push(response_message(response)),
        }
    }
    Value::Array(out).to_string()
}

/// `[{"role": "assistant", "parts": […], "finish_reason": …}]` for a response.
pub(crate) fn output_messages(response: &ModelResponse) -> String {
    Value::Array(vec![response_message(response)]).to_string()
}

/// `[{"type": "text", "content": …}]`.
pub(crate) fn system_instructions(text: &str) -> String {
    json!([{"type": "text", "content": text}]).to_string()
}

/// `[{"type": "function", "name": …, "description": …, "parameters": …}, …]`; `None`
/// without tools.
pub(crate) fn tool_definitions(params: &ModelRequestParameters) -> Option<String> {
    let defs: Vec<Value> = params
        .function_tools
        .iter()
        .chain(&params.output_tools)
        .map(|t| {
            let mut def = Map::new();
            def.insert("type".into(), "function".into());
            def.insert("name".into(), t.name.clone().into());
            if let Some(d) = &t.description {
                def.insert("description".into(), d.clone().into());
            }
            def.insert("parameters".into(), t.parameters_json_schema.clone());
            Value::Object(def)
        })
        .collect();
    (!defs.is_empty()).then(|| Value::Array(defs).to_string())
}

/// A JSON value with the bytes of any inline binary item (`{"kind": "binary", "data": …}`)
/// left out.
pub(crate) fn without_binary(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let binary = map.get("kind").and_then(Value::as_str) == Some("binary");
            Value::Object(
                map.iter()
                    .filter(|(k, _)| !(binary && k.as_str() == "data"))
                    .map(|(k, v)| (k.clone(), without_binary(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(without_binary).collect()),
        other => other.clone(),
    }
}

fn text(content: &str) -> Value {
    json!({"type": "text", "content": content})
}

/// The role a request part speaks in, and what it becomes.
fn request_part(part: &ModelRequestPart) -> Option<(&'static str, Vec<Value>)> {
    Some(match part {
        ModelRequestPart::SystemPrompt(p) => ("system", vec![text(&p.content)]),
        ModelRequestPart::UserPrompt(p) => ("user", user_prompt(&p.content)),
        ModelRequestPart::ToolReturn(p) => (
            "tool",
            vec![json!({
                "type": "tool_call_response",
                "id": p.tool_call_id,
                "name": p.tool_name,
                "result": without_binary(&p.content),
            })],
        ),
        ModelRequestPart::RetryPrompt(p) => match &p.tool_name {
            Some(name) => (
                "tool",
                vec![json!({
                    "type": "tool_call_response",
                    "id": p.tool_call_id,
                    "name": name,
                    "result": p.model_response_str(),
                })],
            ),
            None => ("user", vec![text(&p.model_response_str())]),
        },
        ModelRequestPart::RetryFeedback(p) => ("user", vec![text(&p.model_response_str())]),
        _ => return None,
    })
}

fn user_prompt(prompt: &UserPrompt) -> Vec<Value> {
    match prompt {
        UserPrompt::Text(t) => vec![text(t)],
        UserPrompt::Parts(items) => items.iter().filter_map(user_content).collect(),
    }
}

fn user_content(item: &UserContent) -> Option<Value> {
    Some(match item {
        UserContent::Text(t) => text(t),
        UserContent::ImageUrl(u) => uri(u, Some("image")),
        UserContent::AudioUrl(u) => uri(u, Some("audio")),
        UserContent::VideoUrl(u) => uri(u, Some("video")),
        UserContent::DocumentUrl(u) => uri(u, None),
        UserContent::Binary(b) => {
            let mut blob = Map::new();
            blob.insert("type".into(), "blob".into());
            if let Some(m) = modality(&b.media_type) {
                blob.insert("modality".into(), m.into());
            }
            blob.insert("mime_type".into(), b.media_type.clone().into());
            Value::Object(blob)
        }
        UserContent::UploadedFile(f) => {
            let mut file = Map::new();
            file.insert("type".into(), "file".into());
            file.insert("file_id".into(), f.file_id.clone().into());
            if let Some(m) = &f.media_type {
                file.insert("mime_type".into(), m.clone().into());
            }
            Value::Object(file)
        }
        _ => return None,
    })
}

fn uri(url: &FileUrl, modality: Option<&str>) -> Value {
    let mut part = Map::new();
    part.insert("type".into(), "uri".into());
    if let Some(m) = modality {
        part.insert("modality".into(), m.into());
    }
    if let Some(mime) = url.media_type() {
        part.insert("mime_type".into(), mime.into());
    }
    part.insert("uri".into(), url.url.clone().into());
    Value::Object(part)
}

fn modality(media_type: &str) -> Option<&'static str> {
    let kind = media_type.split('/').next().unwrap_or_default();
    match kind {
        "image" => Some("image"),
        "audio" => Some("audio"),
        "video" => Some("video"),
        _ => None,
    }
}

fn response_message(response: &ModelResponse) -> Value {
    let parts: Vec<Value> = response
        .parts
        .iter()
        .filter_map(|part| match part {
            ModelResponsePart::Text(t) => Some(text(&t.content)),
            ModelResponsePart::Thinking(t) => {
                Some(json!({"type": "reasoning", "content": t.content}))
            }
            ModelResponsePart::ToolCall(c) => Some(json!({
                "type": "tool_call",
                "id": c.tool_call_id,
                "name": c.tool_name,
                "arguments": c.args.to_value().map(|v| without_binary(&v))
                    .unwrap_or_else(|_| c.args.to_json_string().into()),
            })),
            _ => None,
        })
        .collect();
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    message.insert("parts".into(), Value::Array(parts));
    if let Some(reason) = &response.finish_reason {
        message.insert("finish_reason".into(), reason.as_str().into());
    }
    Value::Object(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{BinaryContent, ModelRequest, UserPromptPart};

    #[test]
    fn binary_is_never_inlined() {
        let prompt = UserPrompt::Parts(vec![
            UserContent::Text("look".into()),
            UserContent::Binary(BinaryContent::new(vec![1, 2, 3], "image/png")),
        ]);
        let messages = vec![ModelMessage::Request(ModelRequest::new(vec![
            ModelRequestPart::UserPrompt(UserPromptPart::new(prompt)),
        ]))];
        let json: Value = serde_json::from_str(&input_messages(&messages)).unwrap_or_default();
        assert_eq!(
            json,
            json!([{"role": "user", "parts": [
                {"type": "text", "content": "look"},
                {"type": "blob", "modality": "image", "mime_type": "image/png"},
            ]}])
        );
        let returned =
            json!({"files": [{"kind": "binary", "data": "AQID", "media_type": "image/png"}]});
        assert_eq!(
            without_binary(&returned),
            json!({"files": [{"kind": "binary", "media_type": "image/png"}]})
        );
    }
}
