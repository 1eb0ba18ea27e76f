//! OpenAI Responses replay (`POST …/responses` and `…/responses/input_tokens`): the
//! request is rebuilt from the recorded one, and the recorded response (JSON or typed
//! SSE events) is read into the shared expected response.
//!
//! Replayed: every model call and token count of the folder. Not replayed, as side
//! traffic of the runs that recorded them (they are no requests `Model` makes): the
//! `/responses/compact` calls, the `GET /responses/{id}` polls of background mode, and
//! the other APIs' calls of the mixed-provider files (Anthropic, Gemini, files and
//! vector stores).

use serde_json::{Map, Value, json};
use verity::messages::{
    BinaryContent, CachePoint, FileUrl, ModelMessage, ModelRequest, ModelRequestPart,
    ModelResponse, ModelResponsePart, SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs,
    ToolCallPart, ToolReturnPart, UploadedFile, UserContent, UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::infer::provider_by_name;
use verity::models::openai_responses::{OpenAIResponsesModel, PreviousResponseId, RAW_ITEM};
use verity::providers::{ProviderBuilder, openai_compatible::OpenAICompatibleProvider};
use verity::settings::ToolChoice;
use verity::{IntoModel, ModelSettings, OutputMode};

use super::{
    Call, Expected, ExpectedCall, ExpectedResponse, Interaction, Mode, ModelFuture, Replay,
    WireApi, compare_bodies, decode_base64, sse_events, test_provider,
};
use crate::support::Received;

/// The OpenAI Responses wire API.
pub(crate) struct OpenAIResponses;

impl WireApi for OpenAIResponses {
    fn name(&self) -> &'static str {
        "openai-responses"
    }

    fn matches(&self, interaction: &Interaction) -> bool {
        let uri = interaction.request.uri();
        interaction.wire_api.as_deref() == Some(self.name())
            && (interaction.model_call || uri.contains("/responses/input_tokens"))
    }

    fn build_request(&self, call: &Call<'_>) -> Result<Replay, String> {
        let recorded = call.recorded();
        if !recorded.is_object() {
            return Err("no recorded request body".into());
        }
        let count = call.uri().contains("/responses/input_tokens");
        reverse(recorded, call.provider, count)
    }

    fn model<'a>(
        &'a self,
        call: &'a Call<'a>,
        replay: &'a Replay,
        url: &'a str,
    ) -> ModelFuture<'a> {
        Box::pin(async move {
            let provider = test_provider(provider_builder(call.provider).base_url(url))?;
            let mut model = OpenAIResponsesModel::new(replay.model.clone(), provider);
            if let Some(id) = replay
                .recorded
                .as_ref()
                .and_then(|r| r.get("previous_response_id"))
                .and_then(Value::as_str)
            {
                model = model.with_previous_response_id(PreviousResponseId::Id(id.to_owned()));
            }
            Ok(model.into_model())
        })
    }

    fn compare_request(
        &self,
        _call: &Call<'_>,
        replay: &Replay,
        sent: &Received,
    ) -> Result<(), String> {
        let endpoint = match replay.mode {
            Mode::CountTokens => "/responses/input_tokens",
            _ => "/responses",
        };
        if !sent.path.ends_with(endpoint) {
            return Err(format!("sent to {}", sent.path));
        }
        if sent.header("authorization") != Some("Bearer test-key")
            && sent.header("api-key") != Some("test-key")
        {
            return Err("no key sent".into());
        }
        match &replay.recorded {
            Some(recorded) => compare_bodies(
                &normalize_request(&sent.json()),
                &normalize_request(recorded),
                "input",
            ),
            None => Ok(()),
        }
    }

    fn expected_response(&self, call: &Call<'_>, replay: &Replay) -> Result<Expected, String> {
        let response = call.response();
        let status = call.status();
        if status >= 400 {
            let body = match &response.body {
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                other => other.clone(),
            };
            let message = body
                .pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned);
            return Ok(Expected::HttpError { status, message });
        }
        if replay.mode == Mode::CountTokens {
            return Ok(Expected::Tokens(response.body["input_tokens"].as_u64()));
        }
        if response.content_type().contains("event-stream") {
            let text = String::from_utf8(response.bytes()).unwrap_or_default();
            return Ok(expected_from_sse(&text));
        }
        Ok(expected_from_response(&response.body))
    }
}

fn provider_builder(name: &str) -> ProviderBuilder {
    match name {
        "openai" | "azure" | "deepseek" | "openrouter" => {
            provider_by_name(name).unwrap_or_else(|| OpenAICompatibleProvider::builder().build_as())
        }
        other => OpenAICompatibleProvider::builder().name(other).build_as(),
    }
}

// ---------------------------------------------------------------------------------
// building Verity's request from the recorded one

/// Request keys Verity's request builder produces itself; everything else recorded is
/// passed through `extra_body`, as a user would.
const MODELLED_KEYS: &[&str] = &[
    "model",
    "instructions",
    "input",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "stream",
    "include",
    "max_output_tokens",
    "temperature",
    "top_p",
    "previous_response_id",
];

/// Whether Verity asks this model for its encrypted reasoning by itself.
fn includes_reasoning_by_default(model: &str) -> bool {
    let provider = OpenAICompatibleProvider::builder()
        .base_url("http://localhost:1/v1")
        .build()
        .unwrap();
    OpenAIResponsesModel::new(model, provider).is_reasoning_model()
}

fn reverse(body: &Value, provider: &str, count: bool) -> Result<Replay, String> {
    let model = body["model"].as_str().unwrap_or("gpt-4o").to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let mut messages = reverse_input(&body["input"], provider)?;
    if let Some(instructions) = body.get("instructions").and_then(Value::as_str) {
        match messages.iter_mut().rev().find_map(|m| match m {
            ModelMessage::Request(r) => Some(r),
            _ => None,
        }) {
            Some(r) => r.instructions = Some(instructions.to_owned()),
            None => {
                let mut r = ModelRequest::new(Vec::new());
                r.instructions = Some(instructions.to_owned());
                messages.push(ModelMessage::Request(r));
            }
        }
    }
    let mut settings = ModelSettings::default();
    let mut extra = Map::new();
    for (k, v) in body.as_object().unwrap() {
        if !MODELLED_KEYS.contains(&k.as_str()) {
            extra.insert(k.clone(), v.clone());
        }
    }
    // the recorded `include` where it is not what Verity asks for by itself
    let default_include = includes_reasoning_by_default(&model) && !count;
    let include = body.get("include").filter(|v| !v.is_null());
    let wanted = default_include.then(|| json!(["reasoning.encrypted_content"]));
    if include != wanted.as_ref() {
        extra.insert("include".into(), include.cloned().unwrap_or(Value::Null));
    }
    settings.max_tokens = body
        .get("max_output_tokens")
        .and_then(Value::as_u64)
        .map(|v| v as u32);
    settings.temperature = body.get("temperature").and_then(Value::as_f64);
    settings.top_p = body.get("top_p").and_then(Value::as_f64);

    let mut params = ModelRequestParameters {
        allow_text_output: true,
        ..Default::default()
    };
    let tools = body
        .get("tools")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let builtin = tools.iter().any(|t| t["type"] != "function");
    if builtin {
        // built-in tools of the provider: passed through as the user would
        extra.insert("tools".into(), Value::Array(tools.clone()));
        for key in ["tool_choice", "parallel_tool_calls"] {
            if let Some(v) = body.get(key) {
                extra.insert(key.into(), v.clone());
            }
        }
    } else {
        for t in &tools {
            let mut extra_fields = Map::new();
            for (k, v) in t.as_object().unwrap() {
                if !["type", "name", "description", "parameters", "strict"].contains(&k.as_str()) {
                    extra_fields.insert(k.clone(), v.clone());
                }
            }
            let name = t["name"].as_str().unwrap_or_default();
            let kind = if name.starts_with("final_result") {
                ToolKind::Output
            } else {
                ToolKind::Function
            };
            let mut def = ToolDefinition::new(name, t["parameters"].clone())
                .with_strict(t.get("strict").and_then(Value::as_bool))
                .with_kind(kind);
            def.description = t
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned);
            def.extra_fields = extra_fields;
            match kind {
                ToolKind::Output => params.output_tools.push(def),
                _ => params.function_tools.push(def),
            }
        }
        match body.get("tool_choice") {
            None | Some(Value::Null) => {}
            Some(c) if tools.is_empty() => {
                extra.insert("tool_choice".into(), c.clone());
            }
            Some(c) if c == "auto" => {}
            Some(c) if c == "required" && !params.output_tools.is_empty() => {
                params.allow_text_output = false;
            }
            Some(c) if c == "required" => settings.tool_choice = Some(ToolChoice::Required),
            Some(c) if c == "none" => settings.tool_choice = Some(ToolChoice::None),
            Some(c) if c["type"] == "function" => {
                let name = c["name"].as_str().unwrap_or_default().to_owned();
                settings.tool_choice = Some(ToolChoice::Tools(vec![name]));
            }
            Some(c) if c["type"] == "allowed_tools" && c["mode"] == "required" => {
                let names = c["tools"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["name"].as_str().map(str::to_owned))
                    .collect();
                settings.tool_choice = Some(ToolChoice::Tools(names));
            }
            Some(other) => {
                extra.insert("tool_choice".into(), other.clone());
            }
        }
        match body.get("parallel_tool_calls") {
            Some(Value::Bool(b)) if !tools.is_empty() => settings.parallel_tool_calls = Some(*b),
            Some(v) if !v.is_null() => {
                extra.insert("parallel_tool_calls".into(), v.clone());
            }
            _ => {}
        }
    }
    if let Some(text) = body.get("text").and_then(Value::as_object) {
        let mut rest = text.clone();
        match rest.get("format") {
            Some(f) if f["type"] == "json_schema" => {
                params.output_mode = OutputMode::Native;
                params.output_object = Some(OutputObjectDefinition {
                    name: f["name"].as_str().unwrap_or("final_result").to_owned(),
                    description: f
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    json_schema: f["schema"].clone(),
                    strict: f.get("strict").and_then(Value::as_bool),
                });
                rest.remove("format");
            }
            Some(f) if f["type"] == "json_object" => {
                params.output_mode = OutputMode::Prompted;
                rest.remove("format");
            }
            _ => {}
        }
        if !rest.is_empty() {
            extra.insert("text".into(), Value::Object(rest));
        }
    }
    if !extra.is_empty() {
        settings.extra_body = Some(Value::Object(extra));
    }
    let mode = match (count, stream) {
        (true, _) => Mode::CountTokens,
        (false, true) => Mode::Stream,
        (false, false) => Mode::Request,
    };
    Ok(Replay::new(
        model,
        mode,
        (messages, settings, params),
        Some(body.clone()),
    ))
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn decode_data_uri(uri: &str) -> Option<(String, Vec<u8>)> {
    let rest = uri.strip_prefix("data:")?;
    let (media, data) = rest.split_once(";base64,")?;
    Some((media.to_owned(), decode_base64(data).ok()?))
}

fn with_detail(extra: &mut Map<String, Value>, item: &Value) {
    if let Some(d) = item.get("detail").filter(|d| *d != "auto") {
        extra.insert("vendor_metadata".into(), json!({"detail": d}));
    }
}

/// An input content item as Verity's user content.
fn user_content(item: &Value) -> Result<Option<UserContent>, String> {
    Ok(Some(match item["type"].as_str().unwrap_or_default() {
        "input_text" => UserContent::Text(item["text"].as_str().unwrap_or_default().to_owned()),
        "input_image" => {
            if let Some(id) = item.get("file_id").and_then(Value::as_str) {
                let mut f = UploadedFile {
                    file_id: id.to_owned(),
                    media_type: Some("image/png".into()),
                    extra: Map::new(),
                };
                with_detail(&mut f.extra, item);
                return Ok(Some(UserContent::UploadedFile(f)));
            }
            let url = item["image_url"].as_str().unwrap_or_default();
            match decode_data_uri(url) {
                Some((media, data)) => {
                    let mut b = BinaryContent::new(data, media);
                    with_detail(&mut b.extra, item);
                    UserContent::Binary(b)
                }
                None => {
                    let mut f = FileUrl::new(url);
                    with_detail(&mut f.extra, item);
                    UserContent::ImageUrl(f)
                }
            }
        }
        "input_file" => {
            if let Some(id) = item.get("file_id").and_then(Value::as_str) {
                UserContent::UploadedFile(UploadedFile {
                    file_id: id.to_owned(),
                    media_type: None,
                    extra: Map::new(),
                })
            } else if let Some(url) = item.get("file_url").and_then(Value::as_str) {
                UserContent::DocumentUrl(FileUrl::new(url))
            } else {
                let data = item["file_data"].as_str().unwrap_or_default();
                let filename = item["filename"].as_str().unwrap_or_default();
                let (media, bytes) = decode_data_uri(data).ok_or("input_file without data")?;
                let mut b = BinaryContent::new(bytes, media);
                if !filename.starts_with("filename.") {
                    b.filename = Some(filename.to_owned());
                }
                UserContent::Binary(b)
            }
        }
        other => return Err(format!("input content `{other}` not mapped")),
    }))
}

/// Thinking sent back as `<think>` text: the text inside the tags.
fn think_text(text: &str) -> Option<&str> {
    text.strip_prefix("<think>\n")?.strip_suffix("\n</think>")
}

/// The history of a recorded `input`.
fn reverse_input(input: &Value, provider: &str) -> Result<Vec<ModelMessage>, String> {
    let items = match input {
        Value::String(s) => vec![json!({"role": "user", "content": s})],
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    };
    let mut out: Vec<ModelMessage> = Vec::new();
    let mut request: Vec<ModelRequestPart> = Vec::new();
    let mut response: Vec<ModelResponsePart> = Vec::new();
    let mut names = std::collections::HashMap::new();
    let flush_response = |out: &mut Vec<ModelMessage>, parts: &mut Vec<ModelResponsePart>| {
        if !parts.is_empty() {
            let mut r = ModelResponse::new(std::mem::take(parts));
            r.provider_name = Some(provider.to_owned());
            out.push(ModelMessage::Response(r));
        }
    };
    let flush_request = |out: &mut Vec<ModelMessage>, parts: &mut Vec<ModelRequestPart>| {
        if !parts.is_empty() {
            out.push(ModelMessage::Request(ModelRequest::new(std::mem::take(
                parts,
            ))));
        }
    };
    for item in &items {
        let kind = item["type"].as_str();
        let role = item["role"].as_str();
        let is_request = matches!(role, Some("user" | "system" | "developer"))
            && matches!(kind, None | Some("message"))
            || kind == Some("function_call_output");
        if is_request {
            flush_response(&mut out, &mut response);
        } else {
            flush_request(&mut out, &mut request);
        }
        match (kind, role) {
            (None | Some("message"), Some("system" | "developer")) => request.push(
                ModelRequestPart::SystemPrompt(SystemPromptPart::new(text_of(&item["content"]))),
            ),
            (None | Some("message"), Some("user")) => {
                let content = match &item["content"] {
                    Value::String(s) => verity::UserPrompt::Text(s.clone()),
                    Value::Array(parts) => {
                        let mut items = Vec::new();
                        for p in parts {
                            items.extend(user_content(p)?);
                            if p.get("prompt_cache_breakpoint").is_some() {
                                items.push(UserContent::CachePoint(CachePoint {
                                    ttl: None,
                                    extra: Map::new(),
                                }));
                            }
                        }
                        verity::UserPrompt::Parts(items)
                    }
                    other => return Err(format!("user content {other} not mapped")),
                };
                request.push(ModelRequestPart::UserPrompt(UserPromptPart::new(content)));
            }
            (Some("function_call_output"), _) => {
                let id = item["call_id"].as_str().unwrap_or_default().to_owned();
                let name = names.get(&id).cloned().unwrap_or_default();
                let content = match &item["output"] {
                    Value::Array(parts) => {
                        let mut items = Vec::new();
                        for p in parts {
                            if let Some(c) = user_content(p)? {
                                items.push(serde_json::to_value(c).map_err(|e| e.to_string())?);
                            }
                        }
                        Value::Array(items)
                    }
                    other => Value::String(text_of(other)),
                };
                request.push(ModelRequestPart::ToolReturn(ToolReturnPart::new(
                    name, content, id,
                )));
            }
            (None, Some("assistant")) => {
                let text = text_of(&item["content"]);
                match think_text(&text) {
                    Some(thinking) => {
                        response.push(ModelResponsePart::Thinking(ThinkingPart::new(thinking)))
                    }
                    None => {
                        let mut p = TextPart::new(text);
                        if let Some(phase) = item.get("phase") {
                            p.provider_name = Some(provider.to_owned());
                            p.provider_details =
                                Some(Map::from_iter([("phase".to_owned(), phase.clone())]));
                        }
                        response.push(ModelResponsePart::Text(p));
                    }
                }
            }
            (Some("message"), Some("assistant")) => {
                for c in item["content"].as_array().into_iter().flatten() {
                    let mut p = TextPart::new(c["text"].as_str().unwrap_or_default());
                    p.id = item["id"].as_str().map(str::to_owned);
                    p.provider_name = Some(provider.to_owned());
                    if let Some(phase) = item.get("phase") {
                        p.provider_details =
                            Some(Map::from_iter([("phase".to_owned(), phase.clone())]));
                    }
                    response.push(ModelResponsePart::Text(p));
                }
            }
            (Some("function_call"), _) => {
                let call_id = item["call_id"].as_str().unwrap_or_default();
                let name = item["name"].as_str().unwrap_or_default();
                names.insert(call_id.to_owned(), name.to_owned());
                let mut p =
                    ToolCallPart::new(name, ToolCallArgs::from(item["arguments"].clone()), call_id);
                p.id = item["id"].as_str().map(str::to_owned);
                p.provider_name = Some(provider.to_owned());
                if let Some(ns) = item.get("namespace") {
                    p.provider_details =
                        Some(Map::from_iter([("namespace".to_owned(), ns.clone())]));
                }
                response.push(ModelResponsePart::ToolCall(p));
            }
            (Some("reasoning"), _) => {
                let signature = item["encrypted_content"].as_str();
                let raw: Vec<Value> = item["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| c["text"].clone())
                    .collect();
                let mut summaries: Vec<&str> = item["summary"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| s["text"].as_str().unwrap_or_default())
                    .collect();
                if summaries.is_empty() {
                    summaries.push("");
                }
                for (n, s) in summaries.into_iter().enumerate() {
                    let mut p = ThinkingPart::new(s);
                    p.id = item["id"].as_str().map(str::to_owned);
                    p.provider_name = Some(provider.to_owned());
                    if n == 0 {
                        p.signature = signature.map(str::to_owned);
                        if !raw.is_empty() {
                            p.provider_details = Some(Map::from_iter([(
                                "raw_content".to_owned(),
                                Value::Array(raw.clone()),
                            )]));
                        }
                    }
                    response.push(ModelResponsePart::Thinking(p));
                }
            }
            _ => {
                // items Verity keeps whole: built-in tool calls and results, tool-search
                // items, compaction, announcements of further tools
                let mut map = Map::new();
                map.insert("part_kind".into(), json!("provider-block"));
                map.insert("provider_name".into(), json!(provider));
                map.insert("provider_details".into(), json!({ RAW_ITEM: item }));
                response.push(ModelResponsePart::Unknown(map));
            }
        }
    }
    flush_response(&mut out, &mut response);
    flush_request(&mut out, &mut request);
    Ok(out)
}

// ---------------------------------------------------------------------------------
// comparing requests

/// The order of a schema's `required` names means nothing, and the recorder sorted the
/// properties they were listed by.
fn sort_required(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::Array(names) if k == "required" => {
                        names.sort_by_key(|n| n.as_str().unwrap_or_default().to_owned());
                    }
                    other => sort_required(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_required),
        _ => {}
    }
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for v in map.values_mut() {
                drop_nulls(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// A request body in a form where legitimate differences vanish: null fields, a
/// missing `stream: false`, arguments as JSON text, number forms.
fn normalize_request(body: &Value) -> Value {
    let mut body = body.clone();
    drop_nulls(&mut body);
    if let Some(text) = body.get("input").and_then(Value::as_str) {
        body["input"] = json!([{"role": "user", "content": text}]);
    }
    for key in ["tools", "text"] {
        if let Some(v) = body.get_mut(key) {
            sort_required(v);
        }
    }
    if let Some(map) = body.as_object_mut() {
        map.entry("stream").or_insert(json!(false));
        if map.get("stream") == Some(&json!(false)) {
            map.remove("stream");
        }
        for key in ["temperature", "top_p"] {
            if let Some(v) = map.get(key).and_then(Value::as_f64) {
                map.insert(key.into(), json!(v));
            }
        }
        if let Some(Value::Array(items)) = map.get_mut("input") {
            for item in items {
                if item["role"] == "developer" {
                    item["role"] = json!("system");
                }
                if let Some(args) = item.get("arguments").and_then(Value::as_str)
                    && let Ok(v) = serde_json::from_str::<Value>(args)
                {
                    item["arguments"] = v;
                }
            }
        }
    }
    body
}

// ---------------------------------------------------------------------------------
// what the recorded response says, read independently of Verity

/// PydanticAI's finish reason for a response status or incomplete reason.
fn finish(reason: &str) -> Option<String> {
    Some(
        match reason {
            "completed" => "stop",
            "max_output_tokens" => "length",
            "content_filter" => "content_filter",
            "failed" | "cancelled" => "error",
            "queued" | "in_progress" | "incomplete" => return None,
            other => other,
        }
        .to_owned(),
    )
}

fn items_into(e: &mut ExpectedResponse, items: &[Value]) {
    let mut refusal = false;
    for item in items {
        match item["type"].as_str().unwrap_or_default() {
            "message" => {
                for c in item["content"].as_array().into_iter().flatten() {
                    match c["type"].as_str() {
                        Some("output_text") => e.text.push_str(c["text"].as_str().unwrap_or("")),
                        Some("refusal") => {
                            refusal = true;
                            e.text.push_str(c["refusal"].as_str().unwrap_or(""));
                        }
                        _ => {}
                    }
                }
            }
            "reasoning" => {
                for s in item["summary"].as_array().into_iter().flatten() {
                    e.thinking.push_str(s["text"].as_str().unwrap_or_default());
                }
                if let Some(sig) = item["encrypted_content"].as_str() {
                    e.signature.get_or_insert_default().push_str(sig);
                }
            }
            "function_call" => e.tool_calls.push(ExpectedCall::new(
                item["name"].as_str().unwrap_or_default(),
                &item["arguments"],
                item["call_id"].as_str(),
            )),
            _ => *e.other_parts.get_or_insert_default() += 1,
        }
    }
    if refusal {
        e.finish_reason = Some("content_filter".into());
    }
}

fn response_into(e: &mut ExpectedResponse, r: &Value) {
    e.id = r["id"].as_str().map(str::to_owned);
    e.model = r["model"].as_str().map(str::to_owned);
    if let Some(u) = r.get("usage").filter(|u| u.is_object()) {
        e.input_tokens = u["input_tokens"].as_u64().unwrap_or(0);
        e.output_tokens = u["output_tokens"].as_u64().unwrap_or(0);
        e.cache_read_tokens = u
            .pointer("/input_tokens_details/cached_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        e.reasoning_tokens = Some(
            u.pointer("/output_tokens_details/reasoning_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        );
    }
    let reason = r
        .pointer("/incomplete_details/reason")
        .and_then(Value::as_str)
        .or_else(|| r["status"].as_str());
    if e.finish_reason.is_none() {
        e.finish_reason = reason.and_then(finish);
    }
}

fn expected() -> ExpectedResponse {
    ExpectedResponse {
        signature: Some(String::new()),
        other_parts: Some(0),
        ..Default::default()
    }
}

fn expected_from_response(body: &Value) -> Expected {
    if body.get("error").is_some_and(|e| !e.is_null()) {
        return Expected::Error;
    }
    let Some(output) = body.get("output").and_then(Value::as_array) else {
        return Expected::Invalid;
    };
    let mut e = expected();
    items_into(&mut e, output);
    response_into(&mut e, body);
    Expected::Response(Box::new(e))
}

fn expected_from_sse(text: &str) -> Expected {
    let mut items: Vec<Value> = Vec::new();
    let mut done_ids = std::collections::HashSet::new();
    let mut last: Option<Value> = None;
    for (_, data) in sse_events(text) {
        let Ok(event) = serde_json::from_str::<Value>(&data) else {
            continue;
        };
        match event["type"].as_str().unwrap_or_default() {
            "error" | "response.failed" => return Expected::StreamError,
            "response.output_item.done" => {
                if let Some(id) = event["item"]["id"].as_str() {
                    done_ids.insert(id.to_owned());
                }
                items.push(event["item"].clone());
            }
            "response.completed" | "response.incomplete" => last = Some(event["response"].clone()),
            _ => {}
        }
    }
    let Some(r) = last else {
        return Expected::Error;
    };
    for item in r["output"].as_array().into_iter().flatten() {
        if !item["id"].as_str().is_some_and(|id| done_ids.contains(id)) {
            items.push(item.clone());
        }
    }
    let mut e = expected();
    items_into(&mut e, &items);
    response_into(&mut e, &r);
    Expected::Response(Box::new(e))
}
