//! Sampling: a server asks the client's model for a message (`sampling/createMessage`).

use base64::Engine as _;
use serde_json::{Value, json};
use verity::messages::{
    ModelMessage, ModelRequestPart, ModelResponse, ModelResponsePart, TextPart, ToolCallPart,
    UserContent, UserPrompt,
};
use verity::model::ModelRequestParameters;
use verity::{ModelRef, ModelSettings};

/// Answer a sampling request (the protocol's JSON) with a Verity model: the result's
/// JSON (`role`, `content`, `model`, `stopReason`).
pub(crate) async fn sample(model: &ModelRef, params: &Value) -> verity::Result<Value> {
    let (messages, settings) = crate::client::sampling_messages(params);
    let request_params = ModelRequestParameters {
        allow_text_output: true,
        ..ModelRequestParameters::default()
    };
    let response = model
        .request_boxed(&messages, &settings, &request_params)
        .await?;
    Ok(json!({
        "role": "assistant",
        "content": {"type": "text", "text": response.text_content().unwrap_or_default()},
        "model": model.model_name(),
        "stopReason": "endTurn",
    }))
}

/// The MCP client's model, asked through sampling (`sampling/createMessage`): what an
/// agent served by [`McpToolServer::sampling_agent`](crate::McpToolServer::sampling_agent)
/// runs on when the calling client offers sampling. Like PydanticAI's
/// `MCPSamplingModel`: the history goes as sampling messages (tool calls and their results
/// as `tool_use`/`tool_result` blocks), instructions and system prompts as the one system
/// prompt; no tool definitions are sent and nothing is streamed.
pub(crate) struct ClientSamplingModel {
    peer: rmcp::Peer<rmcp::RoleServer>,
    default_max_tokens: u32,
    profile: verity::ModelProfile,
}

/// `max_tokens` is required by sampling; PydanticAI's default when the settings have none.
pub(crate) const DEFAULT_SAMPLING_MAX_TOKENS: u32 = 16_384;

impl ClientSamplingModel {
    pub(crate) fn new(peer: rmcp::Peer<rmcp::RoleServer>) -> Self {
        // no tool definitions go through sampling, so a structured output is asked for
        // in the instructions (prompted mode) unless the agent chose a mode
        let mut profile = verity::ModelProfile::default();
        profile.default_structured_output_mode = verity::OutputMode::Prompted;
        ClientSamplingModel {
            peer,
            default_max_tokens: DEFAULT_SAMPLING_MAX_TOKENS,
            profile,
        }
    }
}

/// Whether the client declared the sampling capability.
pub(crate) fn client_offers_sampling(peer: &rmcp::Peer<rmcp::RoleServer>) -> bool {
    peer.peer_info()
        .is_some_and(|info| info.capabilities.sampling.is_some())
}

/// The request's JSON (`sampling/createMessage` params) for this history.
pub(crate) fn sampling_request(
    messages: &[ModelMessage],
    settings: &ModelSettings,
    default_max_tokens: u32,
) -> Value {
    let mut system = String::new();
    let mut out: Vec<Value> = Vec::new();
    for message in messages {
        match message {
            ModelMessage::Request(request) => {
                if let Some(instructions) = &request.instructions {
                    system.push_str(instructions);
                }
                let mut tool_results = Vec::new();
                let mut user = Vec::new();
                for part in &request.parts {
                    match part {
                        ModelRequestPart::SystemPrompt(p) => system.push_str(&p.content),
                        ModelRequestPart::UserPrompt(p) => user.extend(user_blocks(&p.content)),
                        ModelRequestPart::ToolReturn(p) => tool_results.push(json!({
                            "type": "tool_result",
                            "toolUseId": p.tool_call_id,
                            "content": [{"type": "text", "text": p.model_response_str()}],
                            "isError": p.is_error(),
                        })),
                        ModelRequestPart::RetryPrompt(p) => user.push(json!({
                            "type": "text", "text": p.model_response_str(),
                        })),
                        ModelRequestPart::RetryFeedback(p) => user.push(json!({
                            "type": "text", "text": p.model_response_str(),
                        })),
                        _ => {}
                    }
                }
                // all of a turn's results in one message, before the user's content
                if !tool_results.is_empty() {
                    out.push(json!({"role": "user", "content": tool_results}));
                }
                for block in user {
                    out.push(json!({"role": "user", "content": block}));
                }
            }
            ModelMessage::Response(response) => {
                let blocks: Vec<Value> = response
                    .parts
                    .iter()
                    .filter_map(|part| match part {
                        ModelResponsePart::Text(t) => {
                            Some(json!({"type": "text", "text": t.content}))
                        }
                        ModelResponsePart::ToolCall(c) => Some(json!({
                            "type": "tool_use",
                            "id": c.tool_call_id,
                            "name": c.tool_name,
                            "input": c.args.to_value().unwrap_or_else(|_| json!({})),
                        })),
                        _ => None,
                    })
                    .collect();
                let content = match <[Value; 1]>::try_from(blocks) {
                    Ok([one]) => one,
                    Err(many) if many.is_empty() => continue,
                    Err(many) => Value::Array(many),
                };
                out.push(json!({"role": "assistant", "content": content}));
            }
        }
    }
    let mut params = serde_json::Map::new();
    params.insert("messages".into(), Value::Array(out));
    params.insert(
        "maxTokens".into(),
        json!(settings.max_tokens.unwrap_or(default_max_tokens)),
    );
    params.insert("systemPrompt".into(), Value::String(system));
    if let Some(t) = settings.temperature {
        params.insert("temperature".into(), json!(t));
    }
    if let Some(stop) = &settings.stop_sequences {
        params.insert("stopSequences".into(), json!(stop));
    }
    Value::Object(params)
}

fn user_blocks(prompt: &UserPrompt) -> Vec<Value> {
    match prompt {
        UserPrompt::Text(text) => vec![json!({"type": "text", "text": text})],
        UserPrompt::Parts(parts) => parts
            .iter()
            .filter_map(|part| match part {
                UserContent::Text(text) => Some(json!({"type": "text", "text": text})),
                UserContent::Binary(b) if b.media_type.starts_with("image/") => Some(json!({
                    "type": "image",
                    "data": base64::engine::general_purpose::STANDARD.encode(&b.data),
                    "mimeType": b.media_type,
                })),
                UserContent::Binary(b) if b.media_type.starts_with("audio/") => Some(json!({
                    "type": "audio",
                    "data": base64::engine::general_purpose::STANDARD.encode(&b.data),
                    "mimeType": b.media_type,
                })),
                _ => None,
            })
            .collect(),
    }
}

/// The client's answer (`CreateMessageResult` JSON) as a model response.
pub(crate) fn sampling_response(result: &Value) -> verity::Result<ModelResponse> {
    if result.get("role").and_then(Value::as_str) != Some("assistant") {
        return Err(verity::Error::unexpected(format!(
            "MCP sampling answered with role {}, expected \"assistant\"",
            result.get("role").unwrap_or(&Value::Null)
        )));
    }
    let blocks: Vec<Value> = match result.get("content") {
        Some(Value::Array(items)) => items.clone(),
        Some(item) => vec![item.clone()],
        None => Vec::new(),
    };
    let mut parts = Vec::new();
    for block in &blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => parts.push(ModelResponsePart::Text(TextPart::new(
                block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ))),
            Some("tool_use") => parts.push(ModelResponsePart::ToolCall(ToolCallPart::new(
                block
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                block
                    .get("input")
                    .cloned()
                    .unwrap_or_else(|| json!({}))
                    .into(),
                block.get("id").and_then(Value::as_str).unwrap_or_default(),
            ))),
            other => {
                return Err(verity::Error::unexpected(format!(
                    "MCP sampling answered with content of type {other:?}, expected text or tool_use"
                )));
            }
        }
    }
    let mut response = ModelResponse::new(parts);
    response.model_name = result
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_owned);
    response.finish_reason = match result.get("stopReason").and_then(Value::as_str) {
        Some("maxTokens") => Some(verity::messages::FinishReason::Length),
        Some("toolUse") => Some(verity::messages::FinishReason::ToolCall),
        Some(_) => Some(verity::messages::FinishReason::Stop),
        None => None,
    };
    Ok(response)
}

impl verity::Model for ClientSamplingModel {
    #[allow(deprecated)] // sampling is deprecated by the 2026 revision, used by 2025 clients
    async fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        _params: &ModelRequestParameters,
    ) -> verity::Result<ModelResponse> {
        let params = sampling_request(messages, settings, self.default_max_tokens);
        let params: rmcp::model::CreateMessageRequestParams = serde_json::from_value(params)
            .map_err(|e| verity::Error::User(format!("cannot build a sampling request: {e}")))?;
        let result = self
            .peer
            .create_message(params)
            .await
            .map_err(|e| verity::Error::unexpected(format!("MCP sampling failed: {e}")))?;
        let result = serde_json::to_value(&result)
            .map_err(|e| verity::Error::unexpected(format!("MCP sampling result: {e}")))?;
        sampling_response(&result)
    }

    fn model_name(&self) -> &str {
        "mcp-sampling"
    }

    fn profile(&self) -> &verity::ModelProfile {
        &self.profile
    }

    fn system(&self) -> &str {
        "MCP"
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::unreachable,
    deprecated
)]
mod tests {
    use super::*;
    use verity::messages::{ModelRequest, ToolReturnPart};

    #[test]
    fn a_history_with_tool_calls_becomes_sampling_messages() {
        let mut first = ModelRequest::user_prompt("weather in Oslo?");
        first.instructions = Some("Be brief.".into());
        let call = ModelResponse::tool_call("weather", json!({"city": "Oslo"}));
        let call_id = match &call.parts[0] {
            ModelResponsePart::ToolCall(c) => c.tool_call_id.clone(),
            _ => unreachable!(),
        };
        let returned = ModelRequest::new(vec![ModelRequestPart::ToolReturn(ToolReturnPart::new(
            "weather",
            json!("sunny"),
            call_id.clone(),
        ))]);
        let history = [
            ModelMessage::Request(first),
            ModelMessage::Response(call),
            ModelMessage::Request(returned),
        ];
        let mut settings = ModelSettings::default();
        settings.temperature = Some(0.5);
        let params = sampling_request(&history, &settings, 100);
        assert_eq!(params["systemPrompt"], "Be brief.");
        assert_eq!(params["maxTokens"], 100);
        assert_eq!(params["temperature"], 0.5);
        let messages = params["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(
            messages[0],
            json!({"role": "user", "content": {"type": "text", "text": "weather in Oslo?"}})
        );
        assert_eq!(
            messages[1],
            json!({"role": "assistant", "content": {
                "type": "tool_use", "id": call_id, "name": "weather", "input": {"city": "Oslo"}
            }})
        );
        assert_eq!(messages[2]["content"][0]["type"], "tool_result");
        assert_eq!(messages[2]["content"][0]["toolUseId"], call_id);
        assert_eq!(messages[2]["content"][0]["isError"], false);
        // rmcp accepts what is built
        serde_json::from_value::<rmcp::model::CreateMessageRequestParams>(params).unwrap();
    }

    #[test]
    fn a_sampling_result_becomes_a_response_and_odd_ones_are_errors() {
        let response = sampling_response(&json!({
            "role": "assistant", "model": "m1", "stopReason": "maxTokens",
            "content": {"type": "text", "text": "hi"}
        }))
        .unwrap();
        assert_eq!(response.text_content().as_deref(), Some("hi"));
        assert_eq!(response.model_name.as_deref(), Some("m1"));
        assert_eq!(
            response.finish_reason,
            Some(verity::messages::FinishReason::Length)
        );
        let calls = sampling_response(&json!({
            "role": "assistant", "model": "m1",
            "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}}]
        }))
        .unwrap();
        assert!(matches!(&calls.parts[0], ModelResponsePart::ToolCall(c) if c.tool_name == "f"));
        assert!(sampling_response(&json!({"role": "user", "content": []})).is_err());
        assert!(
            sampling_response(&json!({"role": "assistant", "content": {"type": "image"}})).is_err()
        );
    }
}
