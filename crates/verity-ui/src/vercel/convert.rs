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

use super::chunks::UiChunk;
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
        .map(|(i, group)| UiMessage {
            id: format!("msg-{i}"),
            role: group.role,
            metadata: Some(if group.in_previous {
                json!({"verity": {IN_PREVIOUS: true}})
            } else {
                json!({"verity": {"messages": group.messages}})
            }),
            parts: parts_of(group.role, group.messages),
        })
        .collect()
}

/// The metadata flag of a user message whose request the message before it stores.
const IN_PREVIOUS: &str = "inPrevious";

/// UI messages as a history: each message's exact `verity.messages` when they still
/// produce the parts it shows, else the messages rebuilt from its parts.
pub fn load_messages(messages: &[UiMessage]) -> Result<Vec<ModelMessage>, UiError> {
    let mut out = Vec::new();
    // the last message loaded exactly, if the one before was
    let mut exact: Option<Vec<ModelMessage>> = None;
    for message in messages {
        // content a tool returned for the model, shown as a user message after the
        // assistant's: its request came with the message before, unless edited
        if in_previous(message)
            && let Some(request) = exact.as_ref().and_then(|m| m.last())
            && shows(message, UiRole::User, std::slice::from_ref(request))
        {
            exact = None;
            continue;
        }
        exact = stored(message);
        match &exact {
            Some(stored) => out.extend(stored.iter().cloned()),
            None => out.extend(rebuild(message)?),
        }
    }
    Ok(out)
}

fn in_previous(message: &UiMessage) -> bool {
    message
        .metadata
        .as_ref()
        .and_then(|m| m.get("verity")?.get(IN_PREVIOUS)?.as_bool())
        == Some(true)
}

/// The messages one UI message shows. A request that answers the calls of the
/// response before it and also carries a user prompt (content a tool returned for the
/// model) belongs to the assistant's turn, and its prompt shows as a user message after
/// it (`in_previous`: the assistant message stores the request), as PydanticAI dumps it.
struct Group<'a> {
    role: UiRole,
    messages: &'a [ModelMessage],
    in_previous: bool,
}

/// Which messages make up each UI message.
fn group(messages: &[ModelMessage]) -> Vec<Group<'_>> {
    let mut groups: Vec<(UiRole, usize, usize, bool)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let role = match message {
            ModelMessage::Response(_) => UiRole::Assistant,
            ModelMessage::Request(request) => request_role(request),
        };
        let after_assistant = matches!(groups.last(), Some((UiRole::Assistant, ..)));
        let answers = message.as_request().is_some_and(answers_calls);
        match groups.last_mut() {
            Some((_, _, end, _)) if after_assistant && role == UiRole::Assistant => *end = i + 1,
            Some((_, _, end, _)) if after_assistant && role == UiRole::User && answers => {
                *end = i + 1;
                groups.push((UiRole::User, i, i + 1, true));
            }
            _ => groups.push((role, i, i + 1, false)),
        }
    }
    groups
        .into_iter()
        .filter_map(|(role, start, end, in_previous)| {
            Some(Group {
                role,
                messages: messages.get(start..end)?,
                in_previous,
            })
        })
        .collect()
}

/// Whether a request answers calls (tool returns or retries).
fn answers_calls(request: &ModelRequest) -> bool {
    request.parts.iter().any(|p| {
        matches!(
            p,
            ModelRequestPart::ToolReturn(_) | ModelRequestPart::RetryPrompt(_)
        )
    })
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
                            let ret = returns.get(call.tool_call_id.as_str());
                            parts.push(tool_part(call, ret));
                            // the data the tool returned for the client, as the stream sent it
                            if let Some(ModelRequestPart::ToolReturn(t)) = ret {
                                parts.extend(
                                    UiChunk::from_tool_metadata(t.metadata.as_ref())
                                        .into_iter()
                                        .filter_map(data_part),
                                );
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    parts
}

/// A data-carrying chunk as the UI part the AI SDK makes of it.
fn data_part(chunk: UiChunk) -> Option<UiPart> {
    Some(match chunk {
        UiChunk::File { url, media_type } => UiPart::File {
            media_type,
            filename: None,
            url,
        },
        UiChunk::Data(data) => {
            let mut part = serde_json::Map::new();
            part.insert("type".into(), Value::String(data.kind));
            if let Some(id) = data.id {
                part.insert("id".into(), Value::String(id));
            }
            part.insert("data".into(), data.data);
            UiPart::Other(Value::Object(part))
        }
        source @ (UiChunk::SourceUrl { .. } | UiChunk::SourceDocument { .. }) => {
            UiPart::Other(serde_json::to_value(source).ok()?)
        }
        _ => return None,
    })
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
    // the user message a tool's content shows as is the next UI message's
    let groups: Vec<Group<'_>> = group(&messages)
        .into_iter()
        .filter(|g| !g.in_previous)
        .collect();
    let [group] = groups.as_slice() else {
        return None;
    };
    shows(message, group.role, group.messages).then_some(messages)
}

/// Whether a UI message shows what these messages make as a message of this role.
fn shows(message: &UiMessage, role: UiRole, messages: &[ModelMessage]) -> bool {
    let expected: Vec<Value> = parts_of(role, messages).iter().map(visible).collect();
    let shown: Vec<Value> = message.parts.iter().map(visible).collect();
    role == message.role && expected == shown
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
