//! Verity message history ↔ AI SDK UI messages.
//!
//! [`dump_messages`] groups the history into UI messages: a request with a user prompt
//! becomes a `user` message (a request of system prompts alone a `system` message);
//! responses and the requests of tool returns that follow them become one `assistant`
//! message, each response a step (`step-start`, then its reasoning, text and tool
//! parts; a tool part shows its call's return). Each UI message also carries the exact
//! messages it was made from, under `metadata.verity.messages`.
//!
//! [`load_messages`] reverses it: a UI message whose `verity.messages` still produce the
//! parts it shows gives back those messages exactly — so `load(dump(history)) ==
//! history` for every history. A message without them (a new message from the UI), or
//! one edited in the UI, is rebuilt from its parts.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use verity::messages::{
    BinaryContent, FileUrl, ModelMessage, ModelRequest, ModelRequestPart, ModelResponse,
    ModelResponsePart, SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs, ToolCallPart,
    ToolOutcome, ToolReturnPart, UserContent, UserPrompt, UserPromptPart,
};

use super::encoder::{args_value, error_text};
use super::types::{ToolState, ToolUiPart, UiMessage, UiPart, UiRole};
use crate::UiError;

/// The text a denied call's return holds when the user gave no reason.
pub const DENIED_TEXT: &str = "The tool call was denied.";

/// The history as UI messages (ids `msg-0`, `msg-1`, … in order).
pub fn dump_messages(messages: &[ModelMessage]) -> Vec<UiMessage> {
    group(messages)
        .into_iter()
        .enumerate()
        .map(|(i, (role, group))| UiMessage {
            id: format!("msg-{i}"),
            role,
            metadata: Some(json!({"verity": {"messages": group}})),
            parts: parts_of(role, group),
        })
        .collect()
}

/// UI messages as a history: each message's exact `verity.messages` when they still
/// produce the parts it shows, else the messages rebuilt from its parts.
pub fn load_messages(messages: &[UiMessage]) -> Result<Vec<ModelMessage>, UiError> {
    let mut out = Vec::new();
    for message in messages {
        match stored(message) {
            Some(stored) => out.extend(stored),
            None => out.extend(rebuild(message)?),
        }
    }
    Ok(out)
}

/// Which messages make up each UI message.
fn group(messages: &[ModelMessage]) -> Vec<(UiRole, &[ModelMessage])> {
    let mut groups: Vec<(UiRole, usize, usize)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let role = match message {
            ModelMessage::Response(_) => UiRole::Assistant,
            ModelMessage::Request(request) => request_role(request),
        };
        let continues =
            matches!(groups.last(), Some((UiRole::Assistant, _, _))) && role == UiRole::Assistant;
        match groups.last_mut() {
            Some((_, _, end)) if continues => *end = i + 1,
            _ => groups.push((role, i, i + 1)),
        }
    }
    groups
        .into_iter()
        .filter_map(|(role, start, end)| Some((role, messages.get(start..end)?)))
        .collect()
}

/// A request with a user prompt is the user's; one of system prompts alone is a system
/// message; one of tool returns and retries belongs to the assistant's turn.
fn request_role(request: &ModelRequest) -> UiRole {
    let has = |f: fn(&ModelRequestPart) -> bool| request.parts.iter().any(f);
    if has(|p| matches!(p, ModelRequestPart::UserPrompt(_))) {
        UiRole::User
    } else if !request.parts.is_empty()
        && request
            .parts
            .iter()
            .all(|p| matches!(p, ModelRequestPart::SystemPrompt(_)))
    {
        UiRole::System
    } else if has(|p| matches!(p, ModelRequestPart::SystemPrompt(_))) {
        UiRole::User
    } else {
        UiRole::Assistant
    }
}

fn parts_of(role: UiRole, messages: &[ModelMessage]) -> Vec<UiPart> {
    let mut parts = Vec::new();
    match role {
        UiRole::System => {
            for part in messages
                .iter()
                .filter_map(ModelMessage::as_request)
                .flat_map(|r| &r.parts)
            {
                if let ModelRequestPart::SystemPrompt(p) = part {
                    parts.push(text_part(p.content.clone()));
                }
            }
        }
        UiRole::User => {
            for part in messages
                .iter()
                .filter_map(ModelMessage::as_request)
                .flat_map(|r| &r.parts)
            {
                if let ModelRequestPart::UserPrompt(p) = part {
                    user_parts(&p.content, &mut parts);
                }
            }
        }
        UiRole::Assistant => {
            let returns: HashMap<&str, &ModelRequestPart> = messages
                .iter()
                .filter_map(ModelMessage::as_request)
                .flat_map(|r| &r.parts)
                .filter_map(|p| match p {
                    ModelRequestPart::ToolReturn(t) => Some((t.tool_call_id.as_str(), p)),
                    ModelRequestPart::RetryPrompt(r) => Some((r.tool_call_id.as_str(), p)),
                    _ => None,
                })
                .collect();
            for response in messages.iter().filter_map(ModelMessage::as_response) {
                parts.push(UiPart::StepStart);
                for part in &response.parts {
                    match part {
                        ModelResponsePart::Text(t) => parts.push(text_part(t.content.clone())),
                        ModelResponsePart::Thinking(t) => parts.push(UiPart::Reasoning {
                            text: t.content.clone(),
                            state: Some("done".into()),
                            provider_metadata: None,
                        }),
                        ModelResponsePart::ToolCall(call) => {
                            parts.push(tool_part(call, returns.get(call.tool_call_id.as_str())))
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    parts
}

fn text_part(text: String) -> UiPart {
    UiPart::Text {
        text,
        state: Some("done".into()),
        provider_metadata: None,
    }
}

fn user_parts(prompt: &UserPrompt, parts: &mut Vec<UiPart>) {
    match prompt {
        UserPrompt::Text(text) => parts.push(text_part(text.clone())),
        UserPrompt::Parts(contents) => {
            for content in contents {
                match content {
                    UserContent::Text(text) => parts.push(text_part(text.clone())),
                    UserContent::ImageUrl(f)
                    | UserContent::AudioUrl(f)
                    | UserContent::VideoUrl(f)
                    | UserContent::DocumentUrl(f) => parts.push(UiPart::File {
                        media_type: f
                            .media_type()
                            .unwrap_or_else(|| "application/octet-stream".into()),
                        filename: None,
                        url: f.url.clone(),
                    }),
                    UserContent::Binary(b) => parts.push(UiPart::File {
                        media_type: b.media_type.clone(),
                        filename: b.filename.clone(),
                        url: b.data_uri(),
                    }),
                    _ => {}
                }
            }
        }
    }
}

fn tool_part(call: &ToolCallPart, ret: Option<&&ModelRequestPart>) -> UiPart {
    let mut part = ToolUiPart {
        tool_name: call.tool_name.clone(),
        dynamic: false,
        tool_call_id: call.tool_call_id.clone(),
        state: ToolState::InputAvailable,
        input: Some(args_value(call)),
        output: None,
        error_text: None,
        provider_executed: None,
        approval: None,
        call_provider_metadata: None,
    };
    match ret {
        Some(ModelRequestPart::ToolReturn(t)) if t.outcome == ToolOutcome::Denied => {
            part.state = ToolState::OutputDenied;
            part.approval = Some(super::types::ToolApprovalUi {
                id: call.tool_call_id.clone(),
                approved: Some(false),
                reason: Some(error_text(t)),
            });
        }
        Some(ModelRequestPart::ToolReturn(t)) if t.is_error() => {
            part.state = ToolState::OutputError;
            part.error_text = Some(error_text(t));
        }
        Some(ModelRequestPart::ToolReturn(t)) => {
            part.state = ToolState::OutputAvailable;
            part.output = Some(t.content.clone());
        }
        Some(ModelRequestPart::RetryPrompt(r)) => {
            part.state = ToolState::OutputError;
            part.error_text = Some(r.model_response_str());
        }
        _ => {}
    }
    UiPart::Tool(part)
}

/// What of a part the UI shows and may change: the part without its `state` (for text
/// and reasoning, which the UI sets as they stream) and provider metadata.
fn visible(part: &UiPart) -> Value {
    let mut value = part.to_json();
    if let Value::Object(map) = &mut value {
        map.remove("providerMetadata");
        map.remove("callProviderMetadata");
        if matches!(part, UiPart::Text { .. } | UiPart::Reasoning { .. }) {
            map.remove("state");
        }
    }
    value
}

/// The exact messages a UI message carries, if they still produce what it shows.
fn stored(message: &UiMessage) -> Option<Vec<ModelMessage>> {
    let stored = message.metadata.as_ref()?.get("verity")?.get("messages")?;
    let messages: Vec<ModelMessage> = serde_json::from_value(stored.clone()).ok()?;
    let groups = group(&messages);
    let [(role, group)] = groups.as_slice() else {
        return None;
    };
    let expected: Vec<Value> = parts_of(*role, group).iter().map(visible).collect();
    let shown: Vec<Value> = message.parts.iter().map(visible).collect();
    (*role == message.role && expected == shown).then_some(messages)
}

/// Messages rebuilt from what a UI message shows.
fn rebuild(message: &UiMessage) -> Result<Vec<ModelMessage>, UiError> {
    Ok(match message.role {
        UiRole::System => {
            let parts: Vec<ModelRequestPart> = message
                .parts
                .iter()
                .filter_map(|p| match p {
                    UiPart::Text { text, .. } => Some(ModelRequestPart::SystemPrompt(
                        SystemPromptPart::new(text.clone()),
                    )),
                    _ => None,
                })
                .collect();
            vec![ModelMessage::Request(ModelRequest::new(parts))]
        }
        UiRole::User => {
            let prompt = user_prompt(&message.parts)?;
            vec![ModelMessage::Request(ModelRequest::new(vec![
                ModelRequestPart::UserPrompt(UserPromptPart::new(prompt)),
            ]))]
        }
        UiRole::Assistant => rebuild_assistant(&message.parts),
    })
}

/// A user message's parts as one prompt: text alone as text, else a list of contents.
pub(crate) fn user_prompt(parts: &[UiPart]) -> Result<UserPrompt, UiError> {
    let mut contents = Vec::new();
    for part in parts {
        match part {
            UiPart::Text { text, .. } => contents.push(UserContent::Text(text.clone())),
            UiPart::File {
                media_type,
                filename,
                url,
            } => contents.push(file_content(media_type, filename.as_deref(), url)?),
            _ => {}
        }
    }
    Ok(match contents.as_slice() {
        [UserContent::Text(text)] => UserPrompt::Text(text.clone()),
        _ => UserPrompt::Parts(contents),
    })
}

fn file_content(
    media_type: &str,
    filename: Option<&str>,
    url: &str,
) -> Result<UserContent, UiError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (_, data) = rest
            .split_once(";base64,")
            .ok_or_else(|| UiError::BadRequest("a file part's data URL must be base64".into()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| UiError::BadRequest(format!("a file part's data URL: {e}")))?;
        let mut binary = BinaryContent::new(bytes, media_type);
        if let Some(name) = filename {
            binary = binary.with_filename(name);
        }
        return Ok(UserContent::Binary(binary));
    }
    let mut file = FileUrl::new(url);
    file.media_type = Some(media_type.to_owned());
    Ok(match media_type.split('/').next() {
        Some("image") => UserContent::ImageUrl(file),
        Some("audio") => UserContent::AudioUrl(file),
        Some("video") => UserContent::VideoUrl(file),
        _ => UserContent::DocumentUrl(file),
    })
}

fn rebuild_assistant(parts: &[UiPart]) -> Vec<ModelMessage> {
    let mut out = Vec::new();
    let mut response: Vec<ModelResponsePart> = Vec::new();
    let mut returns: Vec<ModelRequestPart> = Vec::new();
    let flush = |out: &mut Vec<ModelMessage>,
                 response: &mut Vec<ModelResponsePart>,
                 returns: &mut Vec<ModelRequestPart>| {
        if !response.is_empty() {
            out.push(ModelMessage::Response(ModelResponse::new(std::mem::take(
                response,
            ))));
        }
        if !returns.is_empty() {
            out.push(ModelMessage::Request(ModelRequest::new(std::mem::take(
                returns,
            ))));
        }
    };
    for part in parts {
        match part {
            UiPart::StepStart => flush(&mut out, &mut response, &mut returns),
            UiPart::Text { text, .. } => {
                if !returns.is_empty() {
                    flush(&mut out, &mut response, &mut returns);
                }
                response.push(ModelResponsePart::Text(TextPart::new(text.clone())));
            }
            UiPart::Reasoning { text, .. } => {
                if !returns.is_empty() {
                    flush(&mut out, &mut response, &mut returns);
                }
                response.push(ModelResponsePart::Thinking(ThinkingPart::new(text.clone())));
            }
            UiPart::Tool(tool) => {
                let args = match &tool.input {
                    Some(Value::Object(map)) => ToolCallArgs::Object(map.clone()),
                    Some(Value::Null) | None => ToolCallArgs::Object(Map::new()),
                    Some(other) => ToolCallArgs::Json(other.to_string()),
                };
                response.push(ModelResponsePart::ToolCall(ToolCallPart::new(
                    tool.tool_name.clone(),
                    args,
                    tool.tool_call_id.clone(),
                )));
                let ret = |content: Value, outcome: ToolOutcome| {
                    let mut ret = ToolReturnPart::new(
                        tool.tool_name.clone(),
                        content,
                        tool.tool_call_id.clone(),
                    );
                    ret.outcome = outcome;
                    ModelRequestPart::ToolReturn(ret)
                };
                match tool.state {
                    ToolState::OutputAvailable => returns.push(ret(
                        tool.output.clone().unwrap_or(Value::Null),
                        ToolOutcome::Success,
                    )),
                    ToolState::OutputError => returns.push(ret(
                        Value::String(tool.error_text.clone().unwrap_or_default()),
                        ToolOutcome::Failed,
                    )),
                    ToolState::OutputDenied => returns.push(ret(
                        Value::String(
                            tool.approval
                                .as_ref()
                                .and_then(|a| a.reason.clone())
                                .unwrap_or_else(|| DENIED_TEXT.to_owned()),
                        ),
                        ToolOutcome::Denied,
                    )),
                    _ => {}
                }
            }
            UiPart::File { .. } | UiPart::Other(_) => {}
        }
    }
    flush(&mut out, &mut response, &mut returns);
    out
}
