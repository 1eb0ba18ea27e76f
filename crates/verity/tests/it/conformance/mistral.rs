//! Mistral chat completions replay: the request is rebuilt from the recorded one (files
//! a tool returned are put back into its result from the user turn that carries them),
//! and the recorded completion is read into the shared expected response.

use serde_json::{Map, Value, json};
use verity::messages::{
    BinaryContent, FileUrl, ModelMessage, ModelRequest, ModelRequestPart, ModelResponse,
    ModelResponsePart, SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs, ToolCallPart,
    ToolReturnPart, UserContent, UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::mistral::MistralModel;
use verity::providers::mistral::MistralProvider;
use verity::settings::ToolChoice;
use verity::{IntoModel, ModelSettings, OutputMode};

use super::{
    Call, Expected, ExpectedCall, ExpectedResponse, Mode, ModelFuture, Replay, WireApi,
    compare_bodies, decode_base64, test_provider,
};
use crate::support::Received;

/// Mistral's chat completions.
pub(crate) struct Mistral;

impl WireApi for Mistral {
    fn name(&self) -> &'static str {
        "mistral"
    }

    fn build_request(&self, call: &Call<'_>) -> Result<Replay, String> {
        let body = call.recorded();
        if body["stream"] == true {
            return Err("a streamed Mistral recording: not read by this driver yet".into());
        }
        let model = body["model"].as_str().ok_or("no model")?.to_owned();
        let reversed = reverse(body)?;
        Ok(Replay::new(
            model,
            Mode::Request,
            reversed,
            Some(body.clone()),
        ))
    }

    fn model<'a>(
        &'a self,
        _call: &'a Call<'a>,
        replay: &'a Replay,
        url: &'a str,
    ) -> ModelFuture<'a> {
        Box::pin(async move {
            let provider = test_provider(MistralProvider::builder().base_url(url))?;
            Ok(MistralModel::new(replay.model.clone(), provider).into_model())
        })
    }

    fn compare_request(
        &self,
        _call: &Call<'_>,
        replay: &Replay,
        sent: &Received,
    ) -> Result<(), String> {
        if sent.path != "/v1/chat/completions" {
            return Err(format!("sent to {}", sent.path));
        }
        if sent.header("authorization") != Some("Bearer test-key") {
            return Err("no bearer key sent".into());
        }
        let recorded = replay.recorded.as_ref().ok_or("no recorded body")?;
        compare_bodies(&normalize(&sent.json()), &normalize(recorded), "messages")
    }

    fn expected_response(&self, call: &Call<'_>, _replay: &Replay) -> Result<Expected, String> {
        let response = call.response();
        let status = call.status();
        if status >= 400 {
            let message = response
                .body
                .get("message")
                .or_else(|| response.body.pointer("/error/message"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            return Ok(Expected::HttpError { status, message });
        }
        let body = &response.body;
        let Some(choice) = body["choices"].get(0) else {
            return Ok(Expected::Invalid);
        };
        let mut e = ExpectedResponse {
            id: body["id"].as_str().map(str::to_owned),
            model: body["model"].as_str().map(str::to_owned),
            finish_reason: choice["finish_reason"].as_str().map(|r| {
                match r {
                    "stop" => "stop",
                    "length" | "model_length" => "length",
                    "tool_calls" => "tool_call",
                    "error" => "error",
                    other => other,
                }
                .to_owned()
            }),
            ..Default::default()
        };
        let u = &body["usage"];
        e.input_tokens = u["prompt_tokens"].as_u64().unwrap_or(0);
        e.output_tokens = u["completion_tokens"].as_u64().unwrap_or(0);
        e.cache_read_tokens = u
            .pointer("/prompt_tokens_details/cached_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let m = &choice["message"];
        match &m["content"] {
            Value::String(s) => e.text = s.clone(),
            Value::Array(chunks) => {
                for c in chunks {
                    match c["type"].as_str() {
                        Some("text") => e.text.push_str(c["text"].as_str().unwrap_or_default()),
                        Some("thinking") => {
                            for t in c["thinking"].as_array().into_iter().flatten() {
                                e.thinking.push_str(t["text"].as_str().unwrap_or_default());
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        for call in m["tool_calls"].as_array().into_iter().flatten() {
            e.tool_calls.push(ExpectedCall::new(
                call["function"]["name"].as_str().unwrap_or_default(),
                &call["function"]["arguments"],
                call["id"].as_str(),
            ));
        }
        Ok(Expected::Response(Box::new(e)))
    }
}

// ---------------------------------------------------------------------------------
// building Verity's request from the recorded one

/// Request keys Verity writes itself; the rest goes through `extra_body`, as a user
/// would pass it (`prompt_cache_key`, `reasoning_effort`, …). `n` is the SDK's default.
const MODELLED_KEYS: &[&str] = &[
    "model",
    "messages",
    "tools",
    "tool_choice",
    "stream",
    "n",
    "max_tokens",
    "temperature",
    "top_p",
    "random_seed",
    "presence_penalty",
    "frequency_penalty",
    "stop",
    "parallel_tool_calls",
    "response_format",
];

fn reverse(
    body: &Value,
) -> Result<(Vec<ModelMessage>, ModelSettings, ModelRequestParameters), String> {
    let (mut settings, mut params) = Replay::start();
    let messages = reverse_messages(body["messages"].as_array().ok_or("no messages")?)?;
    settings.max_tokens = body["max_tokens"].as_u64().map(|v| v as u32);
    settings.temperature = body["temperature"].as_f64();
    // PydanticAI sends `top_p: 1` when none is set; Verity sends none
    settings.top_p = body["top_p"].as_f64().filter(|p| *p != 1.0);
    settings.seed = body["random_seed"].as_i64();
    settings.presence_penalty = body["presence_penalty"].as_f64();
    settings.frequency_penalty = body["frequency_penalty"].as_f64();
    settings.parallel_tool_calls = body["parallel_tool_calls"].as_bool();
    settings.stop_sequences = match &body["stop"] {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    };
    let mut extra = Map::new();
    for (k, v) in body.as_object().into_iter().flatten() {
        if !MODELLED_KEYS.contains(&k.as_str()) && !v.is_null() {
            extra.insert(k.clone(), v.clone());
        }
    }
    for t in body["tools"].as_array().into_iter().flatten() {
        let f = &t["function"];
        let mut def = ToolDefinition::new(
            f["name"].as_str().unwrap_or_default(),
            f.get("parameters").cloned().unwrap_or(json!({})),
        );
        def.description = f["description"]
            .as_str()
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        if def.name.starts_with("final_result") {
            params.output_tools.push(def.with_kind(ToolKind::Output));
        } else {
            params
                .function_tools
                .push(def.with_kind(ToolKind::Function));
        }
    }
    match &body["tool_choice"] {
        Value::String(c) if c == "any" && !params.output_tools.is_empty() => {
            params.allow_text_output = false;
        }
        Value::String(c) if c == "any" => settings.tool_choice = Some(ToolChoice::Required),
        Value::String(c) if c == "none" => settings.tool_choice = Some(ToolChoice::None),
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            settings.tool_choice = Some(ToolChoice::Tools(vec![name.to_owned()]));
        }
        _ => {}
    }
    match body["response_format"]["type"].as_str() {
        Some("json_schema") => {
            let js = &body["response_format"]["json_schema"];
            params.output_mode = OutputMode::Native;
            params.output_object = Some(OutputObjectDefinition {
                name: js["name"].as_str().unwrap_or("result").to_owned(),
                description: js["description"].as_str().map(str::to_owned),
                json_schema: js["schema"].clone(),
                strict: js["strict"].as_bool(),
            });
        }
        Some("json_object") => params.output_mode = OutputMode::Prompted,
        _ => {}
    }
    if !extra.is_empty() {
        settings.extra_body = Some(Value::Object(extra));
    }
    Ok((messages, settings, params))
}

/// A data URI's media type and bytes.
fn data_uri(uri: &str) -> Option<(String, Vec<u8>)> {
    let (media, data) = uri.strip_prefix("data:")?.split_once(";base64,")?;
    Some((media.to_owned(), decode_base64(data).ok()?))
}

/// A file chunk (`image_url`, `document_url`, an inlined text file) as user content,
/// carrying the identifier PydanticAI named it by, where known.
fn file_item(chunk: &Value, identifier: Option<&str>) -> Result<UserContent, String> {
    let with_id = |mut item: UserContent| {
        if let Some(id) = identifier {
            match &mut item {
                UserContent::Binary(b) => {
                    b.extra.insert("identifier".into(), json!(id));
                }
                UserContent::ImageUrl(u) | UserContent::DocumentUrl(u) => {
                    u.extra.insert("identifier".into(), json!(id));
                }
                _ => {}
            }
        }
        item
    };
    let url = match chunk["type"].as_str() {
        Some("image_url") => chunk["image_url"]["url"].as_str(),
        Some("document_url") => chunk["document_url"].as_str(),
        Some("text") => {
            let text = chunk["text"].as_str().unwrap_or_default();
            return Ok(match inlined_file(text) {
                Some((id, media, data)) => {
                    let mut b = BinaryContent::new(data.into_bytes(), media);
                    b.extra.insert("identifier".into(), json!(id));
                    UserContent::Binary(b)
                }
                None => UserContent::Text(text.to_owned()),
            });
        }
        other => return Err(format!("user chunk {other:?} not mapped")),
    }
    .unwrap_or_default();
    let detail = chunk["image_url"].get("detail").cloned();
    let item = match (data_uri(url), chunk["type"] == "image_url") {
        (Some((media, data)), _) => {
            let mut b = BinaryContent::new(data, media);
            if let Some(d) = detail {
                b.extra
                    .insert("vendor_metadata".into(), json!({"detail": d}));
            }
            UserContent::Binary(b)
        }
        (None, true) => {
            let mut f = FileUrl::new(url);
            if let Some(d) = detail {
                f.extra
                    .insert("vendor_metadata".into(), json!({"detail": d}));
            }
            UserContent::ImageUrl(f)
        }
        (None, false) => UserContent::DocumentUrl(FileUrl::new(url)),
    };
    Ok(with_id(item))
}

/// `(id, media type, text)` of a text file inlined between `BEGIN FILE` and `END FILE`.
fn inlined_file(text: &str) -> Option<(String, String, String)> {
    let rest = text.strip_prefix("-----BEGIN FILE id=\"")?;
    let (id, rest) = rest.split_once("\" type=\"")?;
    let (media, rest) = rest.split_once("\"-----\n")?;
    let end = format!("\n-----END FILE id=\"{id}\"-----");
    let data = rest.strip_suffix(&end)?;
    Some((id.to_owned(), media.to_owned(), data.to_owned()))
}

fn is_ok_turn(m: &Value) -> bool {
    m["role"] == "assistant"
        && m["content"] == json!([{"type": "text", "text": "OK"}])
        && m.get("tool_calls")
            .is_none_or(|c| c.as_array().is_some_and(Vec::is_empty))
}

fn reverse_messages(raw: &[Value]) -> Result<Vec<ModelMessage>, String> {
    let mut out: Vec<ModelMessage> = Vec::new();
    let mut pending: Vec<ModelRequestPart> = Vec::new();
    let mut names: std::collections::HashMap<String, String> = Default::default();
    let mut consumed = std::collections::HashSet::new();
    for (i, m) in raw.iter().enumerate() {
        if consumed.contains(&i) {
            continue;
        }
        match m["role"].as_str().unwrap_or_default() {
            "system" => pending.push(ModelRequestPart::SystemPrompt(SystemPromptPart::new(
                m["content"].as_str().unwrap_or_default(),
            ))),
            "user" => {
                let content = match &m["content"] {
                    Value::String(s) => verity::UserPrompt::Text(s.clone()),
                    Value::Array(chunks) => verity::UserPrompt::Parts(
                        chunks
                            .iter()
                            .map(|c| file_item(c, None))
                            .collect::<Result<_, _>>()?,
                    ),
                    other => return Err(format!("user content {other} not mapped")),
                };
                pending.push(ModelRequestPart::UserPrompt(UserPromptPart::new(content)));
            }
            "tool" => {
                let id = m["tool_call_id"].as_str().unwrap_or_default().to_owned();
                let text = m["content"].as_str().unwrap_or_default();
                let lines: Vec<&str> = text.split('\n').collect();
                let refers = lines.iter().any(|l| l.starts_with("See file "));
                let content = if refers {
                    // the files follow in a user turn after the synthetic `OK`
                    let mut files: Vec<(String, Value)> = Vec::new();
                    if let (Some(ok), Some(user)) = (raw.get(i + 1), raw.get(i + 2))
                        && is_ok_turn(ok)
                        && user["role"] == "user"
                    {
                        let chunks = user["content"].as_array().cloned().unwrap_or_default();
                        for w in chunks.windows(2) {
                            if let Some(fid) = w[0]["text"]
                                .as_str()
                                .and_then(|t| t.strip_prefix("This is file "))
                                .and_then(|t| t.strip_suffix(':'))
                            {
                                let item = file_item(&w[1], Some(fid))?;
                                files.push((fid.to_owned(), serde_json::to_value(item).unwrap()));
                            }
                        }
                        consumed.insert(i + 1);
                        consumed.insert(i + 2);
                    }
                    let mut items = Vec::new();
                    for line in &lines {
                        let fid = line
                            .strip_prefix("See file ")
                            .map(|f| f.trim_end_matches('.'));
                        match fid.and_then(|f| files.iter().find(|(id, _)| id == f)) {
                            Some((_, item)) => items.push(item.clone()),
                            None => items.push(
                                serde_json::from_str::<Value>(line)
                                    .ok()
                                    .filter(Value::is_object)
                                    .unwrap_or_else(|| json!(line)),
                            ),
                        }
                    }
                    if items.len() == 1 {
                        items.pop().unwrap()
                    } else {
                        Value::Array(items)
                    }
                } else {
                    json!(text)
                };
                let name = names.get(&id).cloned().unwrap_or_default();
                pending.push(ModelRequestPart::ToolReturn(ToolReturnPart::new(
                    name, content, id,
                )));
            }
            "assistant" => {
                let synthetic = is_ok_turn(m)
                    && i > 0
                    && raw[i - 1]["role"] == "tool"
                    && raw.get(i + 1).is_some_and(|n| n["role"] == "user");
                if synthetic {
                    continue;
                }
                if !pending.is_empty() {
                    out.push(ModelMessage::Request(ModelRequest::new(std::mem::take(
                        &mut pending,
                    ))));
                }
                let mut parts = Vec::new();
                match &m["content"] {
                    Value::String(s) if !s.is_empty() => {
                        parts.push(ModelResponsePart::Text(TextPart::new(s.clone())));
                    }
                    Value::Array(chunks) => {
                        for c in chunks {
                            match c["type"].as_str() {
                                Some("text") => parts.push(ModelResponsePart::Text(TextPart::new(
                                    c["text"].as_str().unwrap_or_default(),
                                ))),
                                Some("thinking") => {
                                    for t in c["thinking"].as_array().into_iter().flatten() {
                                        parts.push(ModelResponsePart::Thinking(ThinkingPart::new(
                                            t["text"].as_str().unwrap_or_default(),
                                        )));
                                    }
                                }
                                other => {
                                    return Err(format!("assistant chunk {other:?} not mapped"));
                                }
                            }
                        }
                    }
                    _ => {}
                }
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    let id = call["id"].as_str().unwrap_or_default().to_owned();
                    let name = call["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    names.insert(id.clone(), name.clone());
                    let args = ToolCallArgs::from(call["function"]["arguments"].clone());
                    parts.push(ModelResponsePart::ToolCall(ToolCallPart::new(
                        name, args, id,
                    )));
                }
                out.push(ModelMessage::Response(ModelResponse::new(parts)));
            }
            other => return Err(format!("role `{other}` not mapped")),
        }
    }
    if !pending.is_empty() {
        out.push(ModelMessage::Request(ModelRequest::new(pending)));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------
// comparing requests

/// A body where what the Mistral SDK adds on its own vanishes: `null` fields, `n: 1`,
/// `top_p: 1` (PydanticAI's default), `prefix: false` on assistant turns, the `index`
/// of history tool calls, empty `tool_calls`, a tool definition's implied
/// `type: "function"`; arguments compare as JSON, and `See file <id>` references end
/// with a full stop (older PydanticAI versions wrote none).
fn normalize(body: &Value) -> Value {
    let mut body = body.clone();
    let Some(map) = body.as_object_mut() else {
        return body;
    };
    map.retain(|_, v| !v.is_null());
    if map.get("n") == Some(&json!(1)) {
        map.remove("n");
    }
    if map.get("top_p").and_then(Value::as_f64) == Some(1.0) {
        map.remove("top_p");
    }
    for key in [
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
    ] {
        if let Some(v) = map.get(key).and_then(Value::as_f64) {
            map.insert(key.into(), json!(v));
        }
    }
    if let Some(Value::Array(tools)) = map.get_mut("tools") {
        for t in tools.iter_mut() {
            if let Some(t) = t.as_object_mut() {
                t.entry("type").or_insert(json!("function"));
            }
        }
    }
    if let Some(Value::Array(messages)) = map.get_mut("messages") {
        for m in messages.iter_mut() {
            let Some(m) = m.as_object_mut() else { continue };
            m.retain(|_, v| !v.is_null());
            if m.get("prefix") == Some(&json!(false)) {
                m.remove("prefix");
            }
            if m.get("tool_calls")
                .is_some_and(|c| c.as_array().is_some_and(Vec::is_empty))
            {
                m.remove("tool_calls");
            }
            if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
                for c in calls.iter_mut() {
                    if let Some(args) = c["function"]["arguments"].as_str()
                        && let Ok(v) = serde_json::from_str::<Value>(args)
                    {
                        c["function"]["arguments"] = v;
                    }
                    if let Some(c) = c.as_object_mut() {
                        c.remove("index");
                    }
                }
            }
            if m.get("role") == Some(&json!("tool"))
                && let Some(Value::String(text)) = m.get("content")
            {
                let fixed: Vec<String> = text
                    .split('\n')
                    .map(|l| {
                        if l.starts_with("See file ") && !l.ends_with('.') {
                            format!("{l}.")
                        } else {
                            l.to_owned()
                        }
                    })
                    .collect();
                m.insert("content".into(), json!(fixed.join("\n")));
            }
        }
    }
    body
}
