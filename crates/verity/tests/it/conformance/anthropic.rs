//! Anthropic Messages replay, direct and over Bedrock (InvokeModel and CountTokens
//! through the AWS SDK): the request is rebuilt from the recorded one, and the recorded
//! response (JSON or SSE) is read into the shared expected response.

use serde_json::{Map, Value, json};
use verity::messages::{
    BinaryContent, CachePoint, FileUrl, ModelMessage, ModelRequest, ModelRequestPart,
    ModelResponse, ModelResponsePart, SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs,
    ToolCallPart, ToolOutcome, ToolReturnPart, UploadedFile, UserContent, UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::anthropic::{AnthropicModel, RAW_BLOCK};
use verity::providers::anthropic::AnthropicProvider;
use verity::settings::ToolChoice;
use verity::{IntoModel, ModelRef, ModelSettings, OutputMode};

use super::{
    Call, Expected, ExpectedCall, ExpectedResponse, Mode, ModelFuture, Replay, Reversed, WireApi,
    compare_bodies, decode_base64, sse_events, strings, test_provider, truncate, ttl_of,
};
use crate::support::Received;

/// The Anthropic Messages wire API.
pub(crate) struct Anthropic;

/// An Anthropic body sent to Bedrock rather than to Anthropic.
fn over_bedrock(call: &Call<'_>) -> bool {
    call.uri().contains("bedrock-runtime")
}

/// The JSON body inside a Bedrock CountTokens request.
fn invoke_model_body(v: &Value) -> Result<Value, String> {
    let b64 = v
        .pointer("/input/invokeModel/body")
        .and_then(Value::as_str)
        .ok_or("no invokeModel body")?;
    serde_json::from_slice(&decode_base64(b64)?).map_err(|e| e.to_string())
}

impl WireApi for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn build_request(&self, call: &Call<'_>) -> Result<Replay, String> {
        let uri = call.uri();
        let (count_tokens, body) = if over_bedrock(call) {
            let count_tokens = uri.ends_with("/count-tokens");
            let body = if count_tokens {
                invoke_model_body(call.recorded())?
            } else {
                call.recorded().clone()
            };
            (count_tokens, body)
        } else if uri.contains("/v1/messages") {
            let body = Some(call.recorded())
                .filter(|b| b.is_object())
                .ok_or("no recorded request body")?;
            (uri.contains("/count_tokens"), body.clone())
        } else {
            return Err(format!("not a Messages API call: {}", truncate(uri, 120)));
        };
        let (mut model, stream, reversed) = reverse(&body)?;
        if over_bedrock(call) {
            model = uri
                .split("/model/")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .unwrap_or_default()
                .replace("%3A", ":");
        }
        let mode = match (count_tokens, stream && !over_bedrock(call)) {
            (true, _) => Mode::CountTokens,
            (false, true) => Mode::Stream,
            (false, false) => Mode::Request,
        };
        Ok(Replay::new(model, mode, reversed, Some(body)))
    }

    fn model<'a>(
        &'a self,
        call: &'a Call<'a>,
        replay: &'a Replay,
        url: &'a str,
    ) -> ModelFuture<'a> {
        Box::pin(async move {
            let root = url.trim_end_matches("/v1");
            if over_bedrock(call) {
                return on_bedrock(&replay.model, root).await;
            }
            let provider = test_provider(AnthropicProvider::builder().base_url(root))?;
            Ok(AnthropicModel::new(replay.model.clone(), provider).into_model())
        })
    }

    fn compare_request(
        &self,
        call: &Call<'_>,
        replay: &Replay,
        sent: &Received,
    ) -> Result<(), String> {
        let sent_body = if !over_bedrock(call) {
            if sent.header("x-api-key") != Some("test-key")
                || sent.header("anthropic-version").is_none()
            {
                return Err("key or version header missing".into());
            }
            sent.json()
        } else if replay.mode == Mode::CountTokens {
            invoke_model_body(&sent.json())?
        } else {
            sent.json()
        };
        let recorded = replay.recorded.as_ref().unwrap_or(&Value::Null);
        compare_bodies(&normalize(&sent_body), &normalize(recorded), "messages")
    }

    fn expected_response(&self, call: &Call<'_>, replay: &Replay) -> Result<Expected, String> {
        if let Some(error) = Expected::http_error(call.status()) {
            return Ok(error);
        }
        let response = call.response();
        Ok(match replay.mode {
            Mode::CountTokens => {
                let key = if over_bedrock(call) {
                    "inputTokens"
                } else {
                    "input_tokens"
                };
                Expected::Tokens(response.body[key].as_u64())
            }
            Mode::Stream => expected_from_sse(&String::from_utf8_lossy(&response.bytes())),
            Mode::Request => expected_from_message(&response.body),
        })
    }
}

#[cfg(feature = "bedrock")]
async fn on_bedrock(model_id: &str, endpoint: &str) -> Result<ModelRef, String> {
    let provider = super::bedrock_provider(endpoint).await?;
    AnthropicModel::on_bedrock(model_id, provider)
        .map(IntoModel::into_model)
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "bedrock"))]
async fn on_bedrock(_model_id: &str, _endpoint: &str) -> Result<ModelRef, String> {
    Err("an Anthropic body over Bedrock needs the `bedrock` feature".into())
}

/// The model, whether to stream, and the conversation.
fn reverse(body: &Value) -> Result<(String, bool, Reversed), String> {
    let model = body["model"]
        .as_str()
        .unwrap_or("claude-sonnet-4-5")
        .to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let mut settings = ModelSettings::default();
    let mut first: Vec<ModelRequestPart> = Vec::new();
    match body.get("system") {
        Some(Value::String(s)) => first.push(ModelRequestPart::SystemPrompt(
            SystemPromptPart::new(s.clone()),
        )),
        Some(Value::Array(blocks)) => {
            for b in blocks {
                first.push(ModelRequestPart::SystemPrompt(SystemPromptPart::new(
                    b["text"].as_str().unwrap_or_default(),
                )));
                if let Some(cc) = b.get("cache_control") {
                    settings.cache_instructions = Some(ttl_of(cc));
                }
            }
        }
        _ => {}
    }
    let mut messages: Vec<ModelMessage> = Vec::new();
    let mut pending = first;
    let mut tool_names = std::collections::HashMap::new();
    for m in body["messages"].as_array().ok_or("no messages")? {
        let blocks = match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(a) => a.clone(),
            _ => Vec::new(),
        };
        match m["role"].as_str().unwrap_or_default() {
            "assistant" => {
                if !pending.is_empty() {
                    messages.push(ModelMessage::Request(ModelRequest::new(std::mem::take(
                        &mut pending,
                    ))));
                }
                let mut parts = Vec::new();
                for b in blocks {
                    match b["type"].as_str().unwrap_or_default() {
                        "text" if b.get("cache_control").is_none() => {
                            parts.push(ModelResponsePart::Text(TextPart::new(
                                b["text"].as_str().unwrap_or_default(),
                            )))
                        }
                        "tool_use" => {
                            let id = b["id"].as_str().unwrap_or_default();
                            let name = b["name"].as_str().unwrap_or_default();
                            tool_names.insert(id.to_owned(), name.to_owned());
                            let args = ToolCallArgs::from(b["input"].clone());
                            parts.push(ModelResponsePart::ToolCall(ToolCallPart::new(
                                name, args, id,
                            )));
                        }
                        "thinking" => {
                            let mut p =
                                ThinkingPart::new(b["thinking"].as_str().unwrap_or_default());
                            p.signature = b["signature"].as_str().map(str::to_owned);
                            p.provider_name = Some("anthropic".into());
                            parts.push(ModelResponsePart::Thinking(p));
                        }
                        "redacted_thinking" => {
                            let mut p = ThinkingPart::new("");
                            p.provider_name = Some("anthropic".into());
                            p.provider_details = Some(Map::from_iter([(
                                "redacted_data".to_owned(),
                                b["data"].clone(),
                            )]));
                            parts.push(ModelResponsePart::Thinking(p));
                        }
                        _ => {
                            let mut map = Map::new();
                            map.insert("part_kind".into(), json!("provider-block"));
                            map.insert("provider_name".into(), json!("anthropic"));
                            map.insert("provider_details".into(), json!({ RAW_BLOCK: b }));
                            parts.push(ModelResponsePart::Unknown(map));
                        }
                    }
                }
                messages.push(ModelMessage::Response(ModelResponse::new(parts)));
            }
            "system" => {
                if !pending.is_empty() || messages.is_empty() {
                    messages.push(ModelMessage::Request(ModelRequest::new(std::mem::take(
                        &mut pending,
                    ))));
                }
                let mut part = SystemPromptPart::new(
                    blocks
                        .iter()
                        .filter_map(|b| b["text"].as_str())
                        .collect::<String>(),
                );
                part.extra.insert(RAW_BLOCK.into(), Value::Array(blocks));
                pending.push(ModelRequestPart::SystemPrompt(part));
            }
            _ => {
                if pending
                    .iter()
                    .any(|p| !matches!(p, ModelRequestPart::SystemPrompt(_)))
                {
                    messages.push(ModelMessage::Request(ModelRequest::new(std::mem::take(
                        &mut pending,
                    ))));
                }
                let mut items: Vec<UserContent> = Vec::new();
                for b in blocks {
                    let kind = b["type"].as_str().unwrap_or_default();
                    let item = match kind {
                        "text" => Some(UserContent::Text(
                            b["text"].as_str().unwrap_or_default().to_owned(),
                        )),
                        "image" | "document" => {
                            let src = &b["source"];
                            Some(match src["type"].as_str().unwrap_or_default() {
                                "base64" => {
                                    let data =
                                        decode_base64(src["data"].as_str().unwrap_or_default())?;
                                    UserContent::Binary(BinaryContent::new(
                                        data,
                                        src["media_type"].as_str().unwrap_or_default(),
                                    ))
                                }
                                "text" => UserContent::Binary(BinaryContent::new(
                                    src["data"].as_str().unwrap_or_default().as_bytes().to_vec(),
                                    "text/plain",
                                )),
                                "url" if kind == "image" => UserContent::ImageUrl(FileUrl::new(
                                    src["url"].as_str().unwrap_or_default(),
                                )),
                                "url" => UserContent::DocumentUrl(FileUrl::new(
                                    src["url"].as_str().unwrap_or_default(),
                                )),
                                "file" => UserContent::UploadedFile(UploadedFile {
                                    file_id: src["file_id"].as_str().unwrap_or_default().to_owned(),
                                    media_type: None,
                                    extra: Map::new(),
                                }),
                                other => return Err(format!("{kind} source `{other}` not mapped")),
                            })
                        }
                        "tool_result" => {
                            if !items.is_empty() {
                                pending.push(ModelRequestPart::UserPrompt(UserPromptPart::new(
                                    std::mem::take(&mut items),
                                )));
                            }
                            let id = b["tool_use_id"].as_str().unwrap_or_default().to_owned();
                            let name = tool_names.get(&id).cloned().unwrap_or_default();
                            let content = match &b["content"] {
                                Value::String(s) => s.clone(),
                                Value::Array(a) if a.iter().all(|c| c["type"] == "text") => {
                                    a.iter().filter_map(|c| c["text"].as_str()).collect()
                                }
                                Value::Array(a) => {
                                    let mut items = Vec::new();
                                    for c in a {
                                        let item = match c["type"].as_str().unwrap_or_default() {
                                            "text" => json!(c["text"]),
                                            "image" | "document"
                                                if c.pointer("/source/type")
                                                    == Some(&json!("base64")) =>
                                            {
                                                let data = decode_base64(
                                                    c.pointer("/source/data")
                                                        .and_then(Value::as_str)
                                                        .unwrap_or_default(),
                                                )?;
                                                let media = c
                                                    .pointer("/source/media_type")
                                                    .and_then(Value::as_str)
                                                    .unwrap_or_default();
                                                serde_json::to_value(UserContent::Binary(
                                                    BinaryContent::new(data, media),
                                                ))
                                                .map_err(|e| e.to_string())?
                                            }
                                            _ => json!({ RAW_BLOCK: c }),
                                        };
                                        items.push(item);
                                    }
                                    pending.push(ModelRequestPart::ToolReturn(
                                        ToolReturnPart::new(name, Value::Array(items), id),
                                    ));
                                    continue;
                                }
                                _ => String::new(),
                            };
                            if b["is_error"].as_bool() == Some(true) {
                                // an error result is sent as its text: a retried return
                                let mut part =
                                    ToolReturnPart::new(name, Value::String(content), id);
                                part.outcome = ToolOutcome::Retried;
                                pending.push(ModelRequestPart::ToolReturn(part));
                            } else {
                                pending.push(ModelRequestPart::ToolReturn(ToolReturnPart::new(
                                    name,
                                    Value::String(content),
                                    id,
                                )));
                            }
                            None
                        }
                        _ => Some(UserContent::Unknown(Map::from_iter([(
                            RAW_BLOCK.to_owned(),
                            b.clone(),
                        )]))),
                    };
                    if let Some(item) = item {
                        items.push(item);
                        if let Some(cc) = b.get("cache_control") {
                            items.push(UserContent::CachePoint(CachePoint {
                                ttl: cc["ttl"].as_str().map(str::to_owned),
                                extra: Map::new(),
                            }));
                        }
                    }
                }
                if !items.is_empty() {
                    pending.push(ModelRequestPart::UserPrompt(UserPromptPart::new(items)));
                }
            }
        }
    }
    if !pending.is_empty() {
        messages.push(ModelMessage::Request(ModelRequest::new(pending)));
    }

    let mut params = ModelRequestParameters {
        allow_text_output: true,
        ..Default::default()
    };
    let mut extra = Map::new();
    let tools = body["tools"].as_array().cloned().unwrap_or_default();
    let provider_tools = tools.iter().any(|t| t.get("input_schema").is_none());
    if provider_tools {
        extra.insert("tools".into(), Value::Array(tools));
        if let Some(tc) = body.get("tool_choice") {
            extra.insert("tool_choice".into(), tc.clone());
        }
    } else {
        for t in &tools {
            let mut extra_fields = Map::new();
            for (k, v) in t.as_object().unwrap() {
                match k.as_str() {
                    "name" | "description" | "input_schema" | "strict" => {}
                    "cache_control" => settings.cache_tool_definitions = Some(ttl_of(v)),
                    _ => {
                        extra_fields.insert(k.clone(), v.clone());
                    }
                }
            }
            let name = t["name"].as_str().unwrap_or_default().to_owned();
            let kind = if name.starts_with("final_result") {
                ToolKind::Output
            } else {
                ToolKind::Function
            };
            let mut def = ToolDefinition::new(name, t["input_schema"].clone())
                .with_kind(kind)
                .with_strict(t.get("strict").and_then(Value::as_bool));
            def.description = t
                .get("description")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .map(str::to_owned);
            def.extra_fields = extra_fields;
            match def.kind {
                ToolKind::Output => params.output_tools.push(def),
                _ => params.function_tools.push(def),
            }
        }
    }
    settings.tool_choice = match body.pointer("/tool_choice/type").and_then(Value::as_str) {
        Some("auto") => Some(ToolChoice::Auto),
        Some("any") => Some(ToolChoice::Required),
        Some("none") => Some(ToolChoice::None),
        Some("tool") => body
            .pointer("/tool_choice/name")
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Tools(vec![n.to_owned()])),
        _ => None,
    };
    if let Some(tc) = body.get("tool_choice").and_then(Value::as_object)
        && tc.len() > 2
    {
        extra.insert("tool_choice".into(), Value::Object(tc.clone()));
    }
    settings.max_tokens = body
        .get("max_tokens")
        .and_then(Value::as_u64)
        .map(|v| v as u32);
    settings.temperature = body.get("temperature").and_then(Value::as_f64);
    settings.top_p = body.get("top_p").and_then(Value::as_f64);
    settings.stop_sequences = strings(body.get("stop_sequences"));
    if let Some(oc) = body.get("output_config").and_then(Value::as_object) {
        let mut rest = oc.clone();
        if let Some(format) = rest.remove("format") {
            params.output_mode = OutputMode::Native;
            params.output_object = Some(OutputObjectDefinition {
                name: "output".into(),
                description: None,
                json_schema: format["schema"].clone(),
                strict: None,
            });
        }
        if !rest.is_empty() {
            extra.insert("output_config".into(), Value::Object(rest));
        }
    }
    const MODELLED: &[&str] = &[
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "max_tokens",
        "stream",
        "temperature",
        "top_p",
        "stop_sequences",
        "output_config",
    ];
    for (k, v) in body.as_object().unwrap() {
        if !MODELLED.contains(&k.as_str()) {
            extra.insert(k.clone(), v.clone());
        }
    }
    if !extra.is_empty() {
        settings.extra_body = Some(Value::Object(extra));
    }
    Ok((model, stream, (messages, settings, params)))
}

/// Equivalent forms: a system prompt as one text block or as a string; tool results
/// whose content is one text block or a string.
fn normalize(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(Value::Array(blocks)) = body.get("system")
        && blocks.len() == 1
        && blocks[0].get("cache_control").is_none()
        && let Some(text) = blocks[0]["text"].as_str()
    {
        body["system"] = json!(text);
    }
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        for m in messages {
            if let Some(s) = m["content"].as_str().map(str::to_owned) {
                m["content"] = json!([{"type": "text", "text": s}]);
            }
            for b in m["content"].as_array_mut().into_iter().flatten() {
                if b["type"] == "tool_result" {
                    if let Some(Value::Array(parts)) = b.get("content")
                        && parts.iter().all(|p| p["type"] == "text")
                    {
                        let text: String =
                            parts.iter().filter_map(|p| p["text"].as_str()).collect();
                        b["content"] = json!(text);
                    }
                    if let Some(o) = b.as_object_mut() {
                        o.entry("is_error").or_insert(json!(false));
                    }
                }
            }
        }
    }
    if let Some(t) = body.get("temperature").and_then(Value::as_f64) {
        body["temperature"] = json!(t);
    }
    if body.get("stream") == Some(&json!(false))
        && let Some(o) = body.as_object_mut()
    {
        o.remove("stream");
    }
    body
}

/// An expected response with what every Anthropic response reports, before it is read.
fn expected() -> ExpectedResponse {
    ExpectedResponse {
        signature: Some(String::new()),
        other_parts: Some(0),
        cache_write_tokens: Some(0),
        ..Default::default()
    }
}

/// The response, its input tokens counted as Verity counts them: cached ones included.
fn finished(mut e: ExpectedResponse) -> Expected {
    e.input_tokens += e.cache_read_tokens + e.cache_write_tokens.unwrap_or(0);
    Expected::Response(Box::new(e))
}

fn finish(reason: &str) -> String {
    match reason {
        "end_turn" | "stop_sequence" | "pause_turn" => "stop",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_call",
        "refusal" => "content_filter",
        other => other,
    }
    .to_owned()
}

fn usage_into(e: &mut ExpectedResponse, u: &Value) {
    let get = |k: &str| u.get(k).and_then(Value::as_u64);
    if let Some(w) = get("cache_creation_input_tokens") {
        e.cache_write_tokens = Some(w);
    }
    if let Some(r) = get("cache_read_input_tokens") {
        e.cache_read_tokens = r;
    }
    if let Some(i) = get("input_tokens") {
        e.input_tokens = i;
    }
    if let Some(o) = get("output_tokens") {
        e.output_tokens = o;
    }
}

fn block_into(e: &mut ExpectedResponse, b: &Value) {
    match b["type"].as_str().unwrap_or_default() {
        "text" => e.text.push_str(b["text"].as_str().unwrap_or_default()),
        "thinking" => {
            e.thinking
                .push_str(b["thinking"].as_str().unwrap_or_default());
            e.signature
                .get_or_insert_default()
                .push_str(b["signature"].as_str().unwrap_or_default());
        }
        "redacted_thinking" => {}
        "tool_use" => e.tool_calls.push(ExpectedCall::new(
            b["name"].as_str().unwrap_or_default(),
            &b["input"],
            b["id"].as_str(),
        )),
        _ => *e.other_parts.get_or_insert_default() += 1,
    }
}

fn expected_from_message(body: &Value) -> Expected {
    let Some(content) = body.get("content").and_then(Value::as_array) else {
        return Expected::Error;
    };
    let mut e = ExpectedResponse {
        id: body["id"].as_str().map(str::to_owned),
        ..expected()
    };
    for b in content {
        block_into(&mut e, b);
    }
    if let Some(u) = body.get("usage") {
        usage_into(&mut e, u);
    }
    e.finish_reason = body["stop_reason"].as_str().map(finish);
    finished(e)
}

fn expected_from_sse(text: &str) -> Expected {
    let mut e = expected();
    let mut blocks: std::collections::BTreeMap<u64, (Value, String)> = Default::default();
    for (event, data) in sse_events(text) {
        let Ok(d) = serde_json::from_str::<Value>(&data) else {
            continue;
        };
        let index = d["index"].as_u64().unwrap_or(0);
        match event.as_deref().unwrap_or_default() {
            "error" => return Expected::Error,
            "message_start" => {
                e.id = d
                    .pointer("/message/id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if let Some(u) = d.pointer("/message/usage") {
                    usage_into(&mut e, u);
                }
            }
            "content_block_start" => {
                blocks.insert(index, (d["content_block"].clone(), String::new()));
            }
            "content_block_delta" => {
                let delta = &d["delta"];
                let entry = blocks.entry(index).or_default();
                match delta["type"].as_str().unwrap_or_default() {
                    "input_json_delta" => entry
                        .1
                        .push_str(delta["partial_json"].as_str().unwrap_or_default()),
                    kind => {
                        // text_delta, thinking_delta, signature_delta: the field of
                        // the same name grows
                        let field = kind.strip_suffix("_delta").unwrap_or_default();
                        if ["text", "thinking", "signature"].contains(&field) {
                            let t = entry.0[field].as_str().unwrap_or_default().to_owned()
                                + delta[field].as_str().unwrap_or_default();
                            entry.0[field] = json!(t);
                        }
                    }
                }
            }
            "message_delta" => {
                if let Some(r) = d.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    e.finish_reason = Some(finish(r));
                }
                if let Some(u) = d.get("usage") {
                    usage_into(&mut e, u);
                }
            }
            _ => {}
        }
    }
    for (_, (mut block, json)) in blocks {
        if !json.is_empty() {
            block["input"] = serde_json::from_str(&json).unwrap_or(json!({}));
        }
        block_into(&mut e, &block);
    }
    finished(e)
}
