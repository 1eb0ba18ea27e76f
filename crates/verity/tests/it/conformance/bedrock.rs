//! Bedrock Converse replay: the request is rebuilt from the recorded Converse JSON and
//! sent through the AWS SDK (static test credentials, endpoint override); the recorded
//! response (JSON, or the binary AWS event stream) is read into the shared expected
//! response.

use serde_json::{Map, Value, json};
use verity::messages::{
    BinaryContent, CachePoint, FileUrl, ModelMessage, ModelRequest, ModelRequestPart,
    ModelResponse, ModelResponsePart, SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs,
    ToolCallPart, ToolOutcome, ToolReturnPart, UserContent, UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::bedrock::BedrockConverseModel;
use verity::settings::{CacheTtl, ToolChoice};
use verity::{IntoModel, ModelSettings, OutputMode};

use super::{
    Call, Expected, ExpectedCall, ExpectedResponse, Mode, ModelFuture, Replay, Reversed, WireApi,
    bedrock_provider, compare_bodies, decode_base64, strings, truncate,
};
use crate::support::Received;

/// The Bedrock Converse wire API (Converse, ConverseStream, CountTokens).
pub(crate) struct BedrockConverse;

impl WireApi for BedrockConverse {
    fn name(&self) -> &'static str {
        "bedrock-converse"
    }

    fn build_request(&self, call: &Call<'_>) -> Result<Replay, String> {
        let uri = call.uri();
        let mode = if uri.ends_with("/converse-stream") {
            Mode::Stream
        } else if uri.ends_with("/count-tokens") {
            Mode::CountTokens
        } else {
            Mode::Request
        };
        let model = uri
            .split("/model/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .map(|m| m.replace("%3A", ":").replace("%2F", "/"))
            .unwrap_or_else(|| "anthropic.claude-3-5-sonnet-20240620-v1:0".into());
        let recorded = match call.recorded() {
            body @ Value::Object(_) if mode == Mode::CountTokens => {
                body.pointer("/input/converse").cloned()
            }
            body @ Value::Object(_) => Some(body.clone()),
            _ => None,
        };
        let reversed = match &recorded {
            Some(body) => reverse(body)?,
            None => {
                let (settings, params) = Replay::start();
                let question = ModelRequest::user_prompt("What is the capital of France?");
                (vec![ModelMessage::Request(question)], settings, params)
            }
        };
        Ok(Replay::new(model, mode, reversed, recorded))
    }

    fn model<'a>(
        &'a self,
        _call: &'a Call<'a>,
        replay: &'a Replay,
        url: &'a str,
    ) -> ModelFuture<'a> {
        Box::pin(async move {
            let provider = bedrock_provider(url.trim_end_matches("/v1")).await?;
            Ok(BedrockConverseModel::with_provider(replay.model.as_str(), provider).into_model())
        })
    }

    fn compare_request(
        &self,
        _call: &Call<'_>,
        replay: &Replay,
        sent: &Received,
    ) -> Result<(), String> {
        let expected_path = match replay.mode {
            Mode::Stream => "/converse-stream",
            Mode::CountTokens => "/count-tokens",
            Mode::Request => "/converse",
        };
        if !sent.path.ends_with(expected_path) {
            return Err(format!("sent to {}", sent.path));
        }
        if !sent
            .header("authorization")
            .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256"))
        {
            return Err("the request was not SigV4-signed".into());
        }
        let Some(recorded) = &replay.recorded else {
            return Ok(());
        };
        let sent_body = match replay.mode {
            Mode::CountTokens => sent
                .json()
                .pointer("/input/converse")
                .cloned()
                .unwrap_or(Value::Null),
            _ => sent.json(),
        };
        compare_bodies(&normalize(&sent_body), &normalize(recorded), "messages")
    }

    fn expected_response(&self, call: &Call<'_>, replay: &Replay) -> Result<Expected, String> {
        let response = call.response();
        let status = call.status();
        if status >= 400 {
            let message = match replay.mode {
                Mode::CountTokens => None,
                _ => response.body.get("message").and_then(Value::as_str),
            };
            return Ok(Expected::HttpError {
                status,
                message: message.map(str::to_owned),
            });
        }
        match replay.mode {
            Mode::CountTokens => Ok(Expected::Tokens(response.body["inputTokens"].as_u64())),
            Mode::Stream => expected_from_eventstream(&response.bytes()),
            Mode::Request => Ok(expected_from_json(&response.body)),
        }
    }
}

fn media_type(kind: &str, format: &str) -> String {
    match (kind, format) {
        (_, f) if f.contains('/') => f.to_owned(),
        ("image", "jpg") => "image/jpeg".into(),
        ("image", f) => format!("image/{f}"),
        ("video", "mkv") => "video/x-matroska".into(),
        ("video", "mov") => "video/quicktime".into(),
        ("video", f) => format!("video/{f}"),
        (_, "pdf") => "application/pdf".into(),
        (_, "txt") => "text/plain".into(),
        (_, "md") => "text/markdown".into(),
        (_, "csv") => "text/csv".into(),
        (_, "html") => "text/html".into(),
        (_, "doc") => "application/msword".into(),
        (_, "docx") => {
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document".into()
        }
        (_, "xls") => "application/vnd.ms-excel".into(),
        (_, "xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".into(),
        (_, f) => format!("application/{f}"),
    }
}

fn media_item(kind: &str, block: &Value) -> Result<UserContent, String> {
    let format = block["format"].as_str().unwrap_or_default();
    let mt = media_type(kind, format);
    let source = &block["source"];
    if let Some(bytes) = source.get("bytes").and_then(Value::as_str) {
        let data = decode_base64(bytes)?;
        return Ok(UserContent::Binary(BinaryContent::new(data, mt)));
    }
    if let Some(uri) = source.pointer("/s3Location/uri").and_then(Value::as_str) {
        let mut url = FileUrl::new(uri);
        url.media_type = Some(mt);
        if let Some(owner) = source.pointer("/s3Location/bucketOwner") {
            url.extra.insert("bucket_owner".into(), owner.clone());
        }
        return Ok(match kind {
            "image" => UserContent::ImageUrl(url),
            "video" => UserContent::VideoUrl(url),
            _ => UserContent::DocumentUrl(url),
        });
    }
    Err(format!("{kind} source not mapped: {source}"))
}

fn reverse(body: &Value) -> Result<Reversed, String> {
    let mut settings = ModelSettings::default();
    let mut messages = Vec::new();
    let mut system_parts = Vec::new();
    for s in body["system"].as_array().into_iter().flatten() {
        if let Some(t) = s.get("text").and_then(Value::as_str) {
            system_parts.push(ModelRequestPart::SystemPrompt(SystemPromptPart::new(t)));
        } else if s.get("cachePoint").is_some() {
            settings.cache_instructions = Some(CacheTtl::FiveMinutes);
        }
    }
    let mut first_request = true;
    let mut tool_names = std::collections::HashMap::new();
    for m in body["messages"].as_array().ok_or("no messages")? {
        let blocks = m["content"].as_array().cloned().unwrap_or_default();
        if m["role"] == "assistant" {
            let mut parts = Vec::new();
            for b in &blocks {
                if let Some(t) = b.get("text").and_then(Value::as_str) {
                    parts.push(ModelResponsePart::Text(TextPart::new(t)));
                } else if let Some(t) = b.get("toolUse") {
                    let id = t["toolUseId"].as_str().unwrap_or_default();
                    let name = t["name"].as_str().unwrap_or_default();
                    tool_names.insert(id.to_owned(), name.to_owned());
                    let args = ToolCallArgs::from(t["input"].clone());
                    parts.push(ModelResponsePart::ToolCall(ToolCallPart::new(
                        name, args, id,
                    )));
                } else if let Some(r) = b.get("reasoningContent") {
                    let mut p = ThinkingPart::new(
                        r.pointer("/reasoningText/text")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                    );
                    p.signature = r
                        .pointer("/reasoningText/signature")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    p.provider_name = Some("bedrock".into());
                    if let Some(red) = r.get("redactedContent") {
                        p.provider_details = Some(Map::from_iter([(
                            "redacted_content".to_owned(),
                            red.clone(),
                        )]));
                    }
                    parts.push(ModelResponsePart::Thinking(p));
                } else {
                    return Err(format!(
                        "assistant block not mapped: {}",
                        truncate(&b.to_string(), 80)
                    ));
                }
            }
            messages.push(ModelMessage::Response(ModelResponse::new(parts)));
            continue;
        }
        let mut parts = Vec::new();
        if first_request {
            parts.append(&mut system_parts);
            first_request = false;
        }
        let mut user_items: Vec<UserContent> = Vec::new();
        let flush = |items: &mut Vec<UserContent>, parts: &mut Vec<ModelRequestPart>| {
            if !items.is_empty() {
                parts.push(ModelRequestPart::UserPrompt(UserPromptPart::new(
                    std::mem::take(items),
                )));
            }
        };
        for b in &blocks {
            if let Some(t) = b.get("text").and_then(Value::as_str) {
                user_items.push(UserContent::Text(t.to_owned()));
            } else if b.get("cachePoint").is_some() {
                user_items.push(UserContent::CachePoint(CachePoint::default()));
            } else if let Some(kind) = ["image", "document", "video"]
                .into_iter()
                .find(|k| b.get(*k).is_some())
            {
                user_items.push(media_item(kind, &b[kind])?);
            } else if let Some(r) = b.get("toolResult") {
                flush(&mut user_items, &mut parts);
                let id = r["toolUseId"].as_str().unwrap_or_default();
                let mut items = Vec::new();
                for c in r["content"].as_array().into_iter().flatten() {
                    if let Some(t) = c.get("text").and_then(Value::as_str) {
                        items.push(Value::String(t.to_owned()));
                    } else if let Some(kind) = ["image", "document", "video"]
                        .into_iter()
                        .find(|k| c.get(*k).is_some())
                    {
                        items.push(
                            serde_json::to_value(media_item(kind, &c[kind])?)
                                .map_err(|e| e.to_string())?,
                        );
                    } else if let Some(j) = c.get("json") {
                        items.push(Value::String(j.to_string()));
                    }
                }
                let content = match items.len() {
                    1 if items[0].is_string() => items.remove(0),
                    _ => Value::Array(items),
                };
                let mut part = ToolReturnPart::new(
                    tool_names.get(id).cloned().unwrap_or_default(),
                    content,
                    id,
                );
                if r["status"] == "error" {
                    // an error result is sent as its text: a retried return
                    part.outcome = ToolOutcome::Retried;
                    part.content = Value::String(
                        r.pointer("/content/0/text")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                parts.push(ModelRequestPart::ToolReturn(part));
            } else {
                return Err(format!(
                    "user block not mapped: {}",
                    truncate(&b.to_string(), 80)
                ));
            }
        }
        flush(&mut user_items, &mut parts);
        messages.push(ModelMessage::Request(ModelRequest::new(parts)));
    }
    if !system_parts.is_empty() {
        messages.insert(0, ModelMessage::Request(ModelRequest::new(system_parts)));
    }

    let mut params = ModelRequestParameters {
        allow_text_output: true,
        ..Default::default()
    };
    if let Some(tc) = body.get("toolConfig") {
        for t in tc["tools"].as_array().into_iter().flatten() {
            if t.get("cachePoint").is_some() {
                settings.cache_tool_definitions = Some(CacheTtl::FiveMinutes);
                continue;
            }
            if let Some(system_tool) = t.get("systemTool") {
                params.function_tools.push(
                    ToolDefinition::new(
                        system_tool["name"].as_str().unwrap_or_default(),
                        Value::Null,
                    )
                    .with_extra_field("systemTool", system_tool.clone()),
                );
                continue;
            }
            let spec = &t["toolSpec"];
            let mut def = ToolDefinition::new(
                spec["name"].as_str().unwrap_or_default(),
                spec.pointer("/inputSchema/json")
                    .cloned()
                    .unwrap_or(json!({})),
            )
            .with_strict(spec.get("strict").and_then(Value::as_bool))
            .with_kind(ToolKind::Function);
            def.description = spec
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned);
            params.function_tools.push(def);
        }
        settings.tool_choice = match tc.get("toolChoice") {
            Some(c) if c.get("auto").is_some() => Some(ToolChoice::Auto),
            Some(c) if c.get("any").is_some() => Some(ToolChoice::Required),
            Some(c) => c
                .pointer("/tool/name")
                .and_then(Value::as_str)
                .map(|n| ToolChoice::Tools(vec![n.to_owned()])),
            None => None,
        };
    }
    let ic = &body["inferenceConfig"];
    settings.max_tokens = ic
        .get("maxTokens")
        .and_then(Value::as_u64)
        .map(|v| v as u32);
    settings.temperature = ic.get("temperature").and_then(Value::as_f64);
    settings.top_p = ic.get("topP").and_then(Value::as_f64);
    settings.stop_sequences = strings(ic.get("stopSequences"));
    if let Some(js) = body.pointer("/outputConfig/textFormat/structure/jsonSchema") {
        params.output_mode = OutputMode::Native;
        let schema = js["schema"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(json!({}));
        params.output_object = Some(OutputObjectDefinition {
            name: js["name"].as_str().unwrap_or_default().to_owned(),
            description: js
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            json_schema: schema,
            strict: None,
        });
    }
    let mut extra = Map::new();
    for key in [
        "additionalModelRequestFields",
        "performanceConfig",
        "serviceTier",
        "guardrailConfig",
        "requestMetadata",
    ] {
        if let Some(v) = body.get(key) {
            extra.insert(key.into(), v.clone());
        }
    }
    if !extra.is_empty() {
        settings.extra_body = Some(Value::Object(extra));
    }
    Ok((messages, settings, params))
}

/// Differences that carry no meaning: a schema sent as JSON text, a missing tool-result
/// status, float precision.
fn normalize(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(s) = body.pointer_mut("/outputConfig/textFormat/structure/jsonSchema/schema")
        && let Some(parsed) = s
            .as_str()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
    {
        *s = parsed;
    }
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        for m in messages {
            for b in m["content"].as_array_mut().into_iter().flatten() {
                if let Some(r) = b.get_mut("toolResult").and_then(Value::as_object_mut) {
                    r.entry("status").or_insert(json!("success"));
                }
            }
        }
    }
    if body
        .get("inferenceConfig")
        .is_some_and(|ic| ic.as_object().is_some_and(Map::is_empty))
        && let Some(map) = body.as_object_mut()
    {
        map.remove("inferenceConfig");
    }
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        for m in messages {
            for b in m["content"].as_array_mut().into_iter().flatten() {
                if let Some(f) = b.pointer_mut("/video/format")
                    && let Some(short) = f
                        .as_str()
                        .and_then(|v| v.strip_prefix("video/"))
                        .map(str::to_owned)
                {
                    *f = json!(short);
                }
            }
        }
    }
    if let Some(ic) = body
        .get_mut("inferenceConfig")
        .and_then(Value::as_object_mut)
    {
        for key in ["temperature", "topP"] {
            if let Some(v) = ic.get(key).and_then(Value::as_f64) {
                ic.insert(key.into(), json!((v as f32).to_string()));
            }
        }
    }
    body
}

/// An expected response with what every Converse response reports, before it is read;
/// Converse has no response id.
fn expected() -> ExpectedResponse {
    ExpectedResponse {
        signature: Some(String::new()),
        cache_write_tokens: Some(0),
        no_id: true,
        ..Default::default()
    }
}

fn finish(reason: &str) -> Option<String> {
    Some(
        match reason {
            "end_turn" | "stop_sequence" => "stop",
            "tool_use" => "tool_call",
            "max_tokens" | "model_context_window_exceeded" => "length",
            "content_filtered" | "guardrail_intervened" => "content_filter",
            other => other,
        }
        .to_owned(),
    )
}

fn usage_into(e: &mut ExpectedResponse, u: &Value) {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    e.cache_read_tokens = n("cacheReadInputTokens");
    let cache_write = n("cacheWriteInputTokens");
    e.cache_write_tokens = Some(cache_write);
    e.input_tokens = n("inputTokens") + e.cache_read_tokens + cache_write;
    e.output_tokens = n("outputTokens");
}

fn expected_from_json(body: &Value) -> Expected {
    let mut e = expected();
    for b in body
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = b.get("text").and_then(Value::as_str) {
            e.text.push_str(t);
        } else if let Some(t) = b.get("toolUse") {
            e.tool_calls.push(ExpectedCall::new(
                t["name"].as_str().unwrap_or_default(),
                &t["input"],
                t["toolUseId"].as_str(),
            ));
        } else if let Some(r) = b.get("reasoningContent") {
            e.thinking.push_str(
                r.pointer("/reasoningText/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            );
            e.signature.get_or_insert_default().push_str(
                r.pointer("/reasoningText/signature")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            );
        }
    }
    if let Some(u) = body.get("usage") {
        usage_into(&mut e, u);
    }
    e.finish_reason = body["stopReason"].as_str().and_then(finish);
    Expected::Response(Box::new(e))
}

/// Read AWS event-stream frames: prelude (total length, headers length, CRC), headers,
/// payload, CRC. Checksums are the SDK's business; here only the structure is read.
fn frames(bytes: &[u8]) -> Result<Vec<(String, String, Value)>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    let be32 = |b: &[u8], at: usize| -> Result<usize, String> {
        b.get(at..at + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
            .ok_or_else(|| "short frame".to_owned())
    };
    while pos < bytes.len() {
        let total = be32(bytes, pos)?;
        let headers_len = be32(bytes, pos + 4)?;
        let frame = bytes.get(pos..pos + total).ok_or("truncated frame")?;
        let mut headers = std::collections::HashMap::new();
        let mut h = 12;
        while h < 12 + headers_len {
            let name_len = frame[h] as usize;
            let name = String::from_utf8_lossy(&frame[h + 1..h + 1 + name_len]).into_owned();
            h += 1 + name_len;
            let kind = frame[h];
            h += 1;
            if kind != 7 {
                return Err(format!("header type {kind} not read"));
            }
            let len = u16::from_be_bytes([frame[h], frame[h + 1]]) as usize;
            let value = String::from_utf8_lossy(&frame[h + 2..h + 2 + len]).into_owned();
            h += 2 + len;
            headers.insert(name, value);
        }
        let payload = &frame[12 + headers_len..total - 4];
        let value: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        out.push((
            headers.get(":message-type").cloned().unwrap_or_default(),
            headers
                .get(":event-type")
                .or_else(|| headers.get(":exception-type"))
                .cloned()
                .unwrap_or_default(),
            value,
        ));
        pos += total;
    }
    Ok(out)
}

fn expected_from_eventstream(bytes: &[u8]) -> Result<Expected, String> {
    let mut e = expected();
    let mut tools: std::collections::BTreeMap<u64, (String, String, String)> = Default::default();
    for (message_type, event, payload) in frames(bytes)? {
        if message_type != "event" {
            return Ok(Expected::Error);
        }
        let index = payload["contentBlockIndex"].as_u64().unwrap_or(0);
        match event.as_str() {
            "contentBlockStart" => {
                if let Some(t) = payload.pointer("/start/toolUse") {
                    tools.insert(
                        index,
                        (
                            t["name"].as_str().unwrap_or_default().into(),
                            String::new(),
                            t["toolUseId"].as_str().unwrap_or_default().into(),
                        ),
                    );
                }
            }
            "contentBlockDelta" => {
                let d = &payload["delta"];
                if let Some(t) = d.get("text").and_then(Value::as_str) {
                    e.text.push_str(t);
                } else if let Some(i) = d.pointer("/toolUse/input").and_then(Value::as_str) {
                    tools.entry(index).or_default().1.push_str(i);
                } else if let Some(r) = d.get("reasoningContent") {
                    e.thinking
                        .push_str(r.get("text").and_then(Value::as_str).unwrap_or_default());
                    e.signature.get_or_insert_default().push_str(
                        r.get("signature")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                    );
                }
            }
            "messageStop" => e.finish_reason = payload["stopReason"].as_str().and_then(finish),
            "metadata" => {
                if let Some(u) = payload.get("usage") {
                    usage_into(&mut e, u);
                }
            }
            _ => {}
        }
    }
    e.tool_calls = tools
        .into_values()
        .map(|(n, args, id)| {
            let args = serde_json::from_str(&args).unwrap_or(json!({}));
            ExpectedCall::new(&n, &args, Some(&id))
        })
        .collect();
    Ok(Expected::Response(Box::new(e)))
}
