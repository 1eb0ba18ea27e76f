//! Anthropic Messages replay: the request is rebuilt from the recorded one, sent to the
//! local server, and the recorded response (JSON or SSE) is checked.

use base64::Engine as _;
use futures::StreamExt;
use serde_json::{Map, Value, json};
use verity::messages::{
    BinaryContent, CachePoint, FileUrl, ModelMessage, ModelRequest, ModelRequestPart,
    ModelResponse, ModelResponsePart, RetryPromptPart, SystemPromptPart, TextPart, ThinkingPart,
    ToolCallArgs, ToolCallPart, ToolReturnPart, UploadedFile, UserContent, UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::anthropic::{AnthropicModel, RAW_BLOCK};
use verity::providers::anthropic::AnthropicProvider;
use verity::settings::{CacheTtl, ToolChoice};
use verity::stream::ResponseAccumulator;
use verity::{Error, Model, ModelSettings, OutputMode};

use super::{Interaction, body_bytes, same, same_tool_calls, truncate};
use crate::support::{Canned, MockServer};

const RETRY_SUFFIX: &str = "\n\nFix the errors and try again.";

pub async fn check(interaction: &Interaction) -> Result<(), String> {
    let uri = interaction.request.uri.clone().unwrap_or_default();
    if uri.contains("bedrock-runtime") {
        return check_bedrock(interaction, &uri).await;
    }
    if !uri.contains("/v1/messages") {
        return Err(format!("not a Messages API call: {}", truncate(&uri, 120)));
    }
    let count_tokens = uri.contains("/count_tokens");
    let recorded = interaction
        .request
        .body
        .as_object()
        .map(|_| interaction.request.body.clone());
    let body = recorded.clone().ok_or("no recorded request body")?;
    let (model_name, stream, messages, settings, params) = reverse(&body)?;
    let status = interaction.response.status.unwrap_or(200);
    let content_type = interaction
        .response
        .headers
        .get("content-type")
        .cloned()
        .unwrap_or_else(|| "application/json".into());
    let server = MockServer::start(vec![Canned::new(
        status,
        &content_type,
        body_bytes(&interaction.response),
    )])
    .await;
    let provider = AnthropicProvider::builder()
        .base_url(server.url().trim_end_matches("/v1"))
        .api_key("test-key")
        .max_retries(0)
        .build()
        .map_err(|e| e.to_string())?;
    let model = AnthropicModel::new(model_name, provider);
    if count_tokens {
        let counted = model.count_tokens(&messages, &settings, &params).await;
        let sent = server.received();
        let sent = sent.first().ok_or("Verity sent no request")?;
        compare(&normalize(&sent.json()), &normalize(&body))?;
        return match (status, counted) {
            (200, Ok(n)) if Some(n) == interaction.response.body["input_tokens"].as_u64() => Ok(()),
            (s, Err(Error::ModelHttp { status, .. })) if s == status => Ok(()),
            (_, other) => Err(format!("count_tokens gave {other:?}")),
        };
    }
    let result = if stream {
        match model.request_stream(&messages, &settings, &params).await {
            Ok(mut events) => {
                let mut acc = ResponseAccumulator::new();
                let mut err = None;
                while let Some(e) = events.next().await {
                    if let Err(e) = e.and_then(|e| acc.apply(e)) {
                        err = Some(e);
                        break;
                    }
                }
                err.map_or_else(|| Ok(acc.finish()), Err)
            }
            Err(e) => Err(e),
        }
    } else {
        model.request(&messages, &settings, &params).await
    };
    let sent = server.received();
    let sent = sent.first().ok_or("Verity sent no request")?;
    if sent.header("x-api-key") != Some("test-key") || sent.header("anthropic-version").is_none() {
        return Err("key or version header missing".into());
    }
    compare(&normalize(&sent.json()), &normalize(&body))?;

    if status >= 400 {
        return match result {
            Err(Error::ModelHttp { status: s, .. }) if s == status => Ok(()),
            other => Err(format!("expected HTTP {status}, got {other:?}")),
        };
    }
    let expected = if stream {
        expected_from_sse(&String::from_utf8_lossy(&body_bytes(&interaction.response)))
    } else {
        expected_from_message(&interaction.response.body)
    };
    match (expected, result) {
        (Expected::Error, Err(_)) => Ok(()),
        (Expected::Response(e), Ok(r)) => compare_response(&e, &r),
        (e, r) => Err(format!("expected {e:?}, got {r:?}")),
    }
}

type Reversed = (
    String,
    bool,
    Vec<ModelMessage>,
    ModelSettings,
    ModelRequestParameters,
);

fn ttl_of(cc: &Value) -> CacheTtl {
    cc["ttl"]
        .as_str()
        .and_then(CacheTtl::parse)
        .unwrap_or_default()
}

fn reverse(body: &Value) -> Result<Reversed, String> {
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
                            let args = match &b["input"] {
                                Value::Object(o) => ToolCallArgs::Object(o.clone()),
                                other => ToolCallArgs::Json(other.to_string()),
                            };
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
                                    let data = base64::engine::general_purpose::STANDARD
                                        .decode(src["data"].as_str().unwrap_or_default())
                                        .map_err(|e| e.to_string())?;
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
                                                let data =
                                                    base64::engine::general_purpose::STANDARD
                                                        .decode(
                                                            c.pointer("/source/data")
                                                                .and_then(Value::as_str)
                                                                .unwrap_or_default(),
                                                        )
                                                        .map_err(|e| e.to_string())?;
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
                                let text = content
                                    .strip_suffix(RETRY_SUFFIX)
                                    .unwrap_or(&content)
                                    .to_owned();
                                pending.push(ModelRequestPart::RetryPrompt(RetryPromptPart::new(
                                    Value::String(text),
                                    Some(name),
                                    id,
                                )));
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
                ToolKind::Function => params.function_tools.push(def),
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
    settings.stop_sequences = body
        .get("stop_sequences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        });
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
    Ok((model, stream, messages, settings, params))
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

fn compare(sent: &Value, recorded: &Value) -> Result<(), String> {
    super::compare_bodies(sent, recorded, "messages")
}

#[derive(Debug, Default)]
struct ExpectedResponse {
    text: String,
    thinking: String,
    signature: String,
    tool_calls: Vec<(String, Value, String)>,
    other_blocks: usize,
    input_tokens: u64,
    output_tokens: u64,
    cache_read: u64,
    cache_write: u64,
    finish: Option<String>,
    id: Option<String>,
}

#[derive(Debug)]
enum Expected {
    Response(Box<ExpectedResponse>),
    Error,
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
        e.cache_write = w;
    }
    if let Some(r) = get("cache_read_input_tokens") {
        e.cache_read = r;
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
                .push_str(b["signature"].as_str().unwrap_or_default());
        }
        "redacted_thinking" => {}
        "tool_use" => e.tool_calls.push((
            b["name"].as_str().unwrap_or_default().into(),
            b["input"].clone(),
            b["id"].as_str().unwrap_or_default().into(),
        )),
        _ => e.other_blocks += 1,
    }
}

fn expected_from_message(body: &Value) -> Expected {
    let Some(content) = body.get("content").and_then(Value::as_array) else {
        return Expected::Error;
    };
    let mut e = ExpectedResponse {
        id: body["id"].as_str().map(str::to_owned),
        ..Default::default()
    };
    for b in content {
        block_into(&mut e, b);
    }
    if let Some(u) = body.get("usage") {
        usage_into(&mut e, u);
    }
    e.finish = body["stop_reason"].as_str().map(finish);
    Expected::Response(Box::new(e))
}

fn expected_from_sse(text: &str) -> Expected {
    let mut e = ExpectedResponse::default();
    let mut blocks: std::collections::BTreeMap<u64, (Value, String)> = Default::default();
    for chunk in text.replace("\r\n", "\n").split("\n\n") {
        let mut event = String::new();
        let mut data = String::new();
        for line in chunk.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        let Ok(d) = serde_json::from_str::<Value>(&data) else {
            continue;
        };
        let index = d["index"].as_u64().unwrap_or(0);
        match event.as_str() {
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
                    "text_delta" => {
                        let t = entry.0["text"].as_str().unwrap_or_default().to_owned()
                            + delta["text"].as_str().unwrap_or_default();
                        entry.0["text"] = json!(t);
                    }
                    "thinking_delta" => {
                        let t = entry.0["thinking"].as_str().unwrap_or_default().to_owned()
                            + delta["thinking"].as_str().unwrap_or_default();
                        entry.0["thinking"] = json!(t);
                    }
                    "signature_delta" => {
                        let t = entry.0["signature"].as_str().unwrap_or_default().to_owned()
                            + delta["signature"].as_str().unwrap_or_default();
                        entry.0["signature"] = json!(t);
                    }
                    "input_json_delta" => entry
                        .1
                        .push_str(delta["partial_json"].as_str().unwrap_or_default()),
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = d.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    e.finish = Some(finish(r));
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
    Expected::Response(Box::new(e))
}

fn compare_response(e: &ExpectedResponse, r: &ModelResponse) -> Result<(), String> {
    let (mut text, mut thinking, mut signature, mut calls, mut other) =
        (String::new(), String::new(), String::new(), Vec::new(), 0);
    for p in &r.parts {
        match p {
            ModelResponsePart::Text(t) => text.push_str(&t.content),
            ModelResponsePart::Thinking(t) => {
                thinking.push_str(&t.content);
                signature.push_str(t.signature.as_deref().unwrap_or_default());
            }
            ModelResponsePart::ToolCall(c) => calls.push(c),
            ModelResponsePart::Unknown(_) => other += 1,
        }
    }
    same("text", &text, &e.text)?;
    same("thinking", &thinking, &e.thinking)?;
    same("signature", &signature, &e.signature)?;
    same("other blocks", &other, &e.other_blocks)?;
    same_tool_calls(
        &calls,
        e.tool_calls
            .iter()
            .map(|(name, args, id)| (name, args, Some(id))),
    )?;
    let u = &r.usage;
    let input = e.input_tokens + e.cache_read + e.cache_write;
    same("input tokens", &u.input_tokens, &input)?;
    same("output tokens", &u.output_tokens, &e.output_tokens)?;
    same("cache read", &u.cache_read_tokens, &e.cache_read)?;
    same("cache write", &u.cache_write_tokens, &e.cache_write)?;
    let fr = r.finish_reason.as_ref().map(|f| f.as_str().to_owned());
    same("finish reason", &fr, &e.finish)?;
    same("response id", &r.provider_response_id, &e.id)?;
    Ok(())
}

/// Anthropic bodies over Bedrock's InvokeModel and CountTokens, through the AWS SDK.
#[cfg(feature = "bedrock")]
async fn check_bedrock(interaction: &Interaction, uri: &str) -> Result<(), String> {
    use verity::providers::bedrock::BedrockProvider;
    let count_tokens = uri.ends_with("/count-tokens");
    let model_id = uri
        .split("/model/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_default()
        .replace("%3A", ":");
    let decode = |v: &Value| -> Result<Value, String> {
        let b64 = v
            .pointer("/input/invokeModel/body")
            .and_then(Value::as_str)
            .ok_or("no invokeModel body")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    };
    let body = if count_tokens {
        decode(&interaction.request.body)?
    } else {
        interaction.request.body.clone()
    };
    let (_, _, messages, settings, params) = reverse(&body)?;
    let status = interaction.response.status.unwrap_or(200);
    let server = MockServer::start(vec![Canned::new(
        status,
        "application/json",
        body_bytes(&interaction.response),
    )])
    .await;
    let provider = BedrockProvider::builder()
        .region("us-east-1")
        .credentials("AKIDEXAMPLE", "test-secret", None)
        .endpoint_url(server.url().trim_end_matches("/v1"))
        .max_attempts(1)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let model = AnthropicModel::on_bedrock(model_id, provider).map_err(|e| e.to_string())?;
    if count_tokens {
        let counted = model.count_tokens(&messages, &settings, &params).await;
        let sent = server.received();
        let sent = decode(&sent.first().ok_or("Verity sent no request")?.json())?;
        compare(&normalize(&sent), &normalize(&body))?;
        return match (status, counted) {
            (200, Ok(n)) if Some(n) == interaction.response.body["inputTokens"].as_u64() => Ok(()),
            (s, Err(Error::ModelHttp { status, .. })) if s == status => Ok(()),
            (_, other) => Err(format!("count_tokens gave {other:?}")),
        };
    }
    let result = model.request(&messages, &settings, &params).await;
    let sent = server.received();
    compare(
        &normalize(&sent.first().ok_or("Verity sent no request")?.json()),
        &normalize(&body),
    )?;
    match (expected_from_message(&interaction.response.body), result) {
        (Expected::Response(e), Ok(r)) => compare_response(&e, &r),
        (e, r) => Err(format!("expected {e:?}, got {r:?}")),
    }
}

#[cfg(not(feature = "bedrock"))]
async fn check_bedrock(_interaction: &Interaction, _uri: &str) -> Result<(), String> {
    Err("an Anthropic body over Bedrock needs the `bedrock` feature".into())
}
