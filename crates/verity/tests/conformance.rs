//! Conformance: replay the recorded provider traffic in `shared/conformance/cassettes`.
//!
//! For every model call of a wire API Verity implements, a local server answers with
//! the recorded response; Verity sends a request built from the recorded one (messages,
//! tools, output mode, settings); the test checks the request Verity sent against the
//! recorded request, and what Verity parsed (text, tool calls and arguments, thinking,
//! usage, finish reason, ids) against the recorded response, read here independently.
//!
//! Run: `cargo test --workspace --all-features --test conformance -- --nocapture`.
//! The corpus is found through `VERITY_CONFORMANCE_DIR` (default: the `shared` folder
//! beside the clone).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

#[path = "conformance/anthropic.rs"]
mod anthropic;
#[cfg(feature = "bedrock")]
#[path = "conformance/bedrock.rs"]
mod bedrock;
#[path = "conformance/gemini.rs"]
mod gemini;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use futures::StreamExt;
use serde_json::{Map, Value, json};
use support::{Canned, MockServer};
use verity::messages::{
    BinaryContent, CachePoint, FileUrl, ModelMessage, ModelRequest, ModelRequestPart,
    ModelResponse, ModelResponsePart, SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs,
    ToolCallPart, ToolReturnPart, UploadedFile, UserContent, UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::infer::provider_by_name;
use verity::models::openai::OpenAIChatModel;
use verity::providers::{ProviderBuilder, openai_compatible::OpenAICompatibleProvider};
use verity::settings::CacheTtl;
use verity::stream::ResponseAccumulator;
use verity::{Error, Model, ModelSettings, OutputMode};

#[derive(serde::Deserialize)]
struct Cassette {
    provider: String,
    interactions: Vec<Interaction>,
}

#[derive(serde::Deserialize)]
pub(crate) struct Interaction {
    wire_api: Option<String>,
    model_call: bool,
    pub(crate) request: Exchange,
    pub(crate) response: Exchange,
}

#[derive(serde::Deserialize)]
pub(crate) struct Exchange {
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    headers: BTreeMap<String, String>,
    body: Value,
    #[serde(default)]
    body_encoding: Option<String>,
}

fn body_bytes(e: &Exchange) -> Vec<u8> {
    match (&e.body, e.body_encoding.as_deref()) {
        (Value::String(s), Some("base64")) => {
            base64::engine::general_purpose::STANDARD.decode(s).unwrap()
        }
        (Value::String(s), _) => s.clone().into_bytes(),
        (Value::Null, _) => Vec::new(),
        (v, _) => serde_json::to_vec(v).unwrap(),
    }
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("VERITY_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/cassettes")
        })
}

/// The wire APIs Verity implements.
const IMPLEMENTED: &[&str] = &[
    "anthropic",
    "gemini",
    "openai-chat",
    "groq",
    #[cfg(feature = "bedrock")]
    "bedrock-converse",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let dir = corpus_dir();
    if !dir.is_dir() {
        eprintln!(
            "\n**************************************************************\n\
             *** CONFORMANCE SKIPPED: no corpus at {}\n\
             *** (set VERITY_CONFORMANCE_DIR to the cassettes folder)\n\
             **************************************************************\n",
            dir.display()
        );
        return;
    }
    let filter = std::env::var("VERITY_CONFORMANCE_FILTER").ok();
    let mut wire_apis: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    wire_apis.sort();
    let mut total_failed = 0;
    for folder in wire_apis {
        let wire_api = folder.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        if !IMPLEMENTED.contains(&wire_api.as_str()) {
            println!(
                "conformance {wire_api}: not implemented ({} files)",
                files.len()
            );
            continue;
        }
        let (mut passed, mut failed) = (0, 0);
        let mut reasons = Vec::new();
        for file in &files {
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            if filter.as_deref().is_some_and(|f| !name.contains(f)) {
                continue;
            }
            match check_file(file, &wire_api).await {
                Ok(()) => passed += 1,
                Err(reason) => {
                    failed += 1;
                    reasons.push(format!("  FAIL {name}: {reason}"));
                }
            }
        }
        println!("conformance {wire_api}: {passed} passed, {failed} failed");
        for r in reasons {
            println!("{r}");
        }
        total_failed += failed;
    }
    assert_eq!(
        total_failed, 0,
        "conformance cassettes failed (see the lines above)"
    );
}

async fn check_file(path: &Path, wire_api: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let cassette: Cassette =
        serde_json::from_str(&text).map_err(|e| format!("unreadable cassette: {e}"))?;
    let calls: Vec<&Interaction> = cassette
        .interactions
        .iter()
        .filter(|i| {
            let counts_tokens = i.request.uri.as_deref().is_some_and(|u| {
                u.ends_with("/count-tokens")
                    || u.contains("/count_tokens")
                    || u.contains(":countTokens")
            });
            (i.model_call || counts_tokens) && i.wire_api.as_deref() == Some(wire_api)
        })
        .collect();
    if calls.is_empty() {
        return Err("no model call of this wire API to replay".into());
    }
    for (n, interaction) in calls.iter().enumerate() {
        let checked = match wire_api {
            "anthropic" => anthropic::check(interaction).await,
            "gemini" => gemini::check(interaction, &cassette.provider).await,
            #[cfg(feature = "bedrock")]
            "bedrock-converse" => bedrock::check(interaction).await,
            _ => check_interaction(&cassette.provider, interaction).await,
        };
        checked.map_err(|e| format!("call {}: {e}", n + 1))?;
    }
    Ok(())
}

fn provider_builder(name: &str) -> ProviderBuilder {
    match name {
        "gateway"
        | "custom-openai-compatible"
        | "bedrock-mantle"
        | "google-gla"
        | "heroku"
        | "snowflake"
        | "crusoe"
        | "zai" => OpenAICompatibleProvider::builder().name(name),
        other => provider_by_name(other)
            .unwrap_or_else(|| OpenAICompatibleProvider::builder().name(other)),
    }
}

async fn check_interaction(provider_name: &str, interaction: &Interaction) -> Result<(), String> {
    let recorded = &interaction.request.body;
    let request = match recorded {
        Value::Object(_) => RecordedRequest::from_body(recorded, provider_name)?,
        _ => RecordedRequest::default_request(),
    };
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
    let provider = provider_builder(provider_name)
        .base_url(server.url())
        .api_key("test-key")
        .max_retries(0)
        .build()
        .map_err(|e| e.to_string())?;
    let model = OpenAIChatModel::new(request.model.clone(), provider);
    let result = if request.stream {
        match model
            .request_stream(&request.messages, &request.settings, &request.params)
            .await
        {
            Ok(mut events) => {
                let mut acc = ResponseAccumulator::new();
                let mut err = None;
                while let Some(e) = events.next().await {
                    match e {
                        Ok(e) => {
                            if let Err(e) = acc.apply(e) {
                                err = Some(e);
                                break;
                            }
                        }
                        Err(e) => {
                            err = Some(e);
                            break;
                        }
                    }
                }
                match err {
                    Some(e) => Err(e),
                    None => Ok(acc.finish()),
                }
            }
            Err(e) => Err(e),
        }
    } else {
        model
            .request(&request.messages, &request.settings, &request.params)
            .await
    };

    // the request Verity sent
    let sent = server.received();
    let sent = sent.first().ok_or("Verity sent no request")?;
    if !sent.path.ends_with("/chat/completions") {
        return Err(format!("sent to {}", sent.path));
    }
    if sent.header("authorization") != Some("Bearer test-key") {
        return Err("no bearer key sent".into());
    }
    if recorded.is_object() {
        compare_requests(
            &normalize_request(&sent.json()),
            &normalize_request(recorded),
        )?;
    }

    // what Verity parsed
    let expected = expected_outcome(status, &interaction.response, request.stream);
    match (expected, result) {
        (
            Expected::HttpError { status, message },
            Err(Error::ModelHttp {
                status: s, body, ..
            }),
        ) => {
            if s != status {
                return Err(format!("expected HTTP {status}, got {s}"));
            }
            if let Some(m) = message
                && !body.contains(&m)
            {
                return Err(format!("error body does not carry `{m}`"));
            }
            Ok(())
        }
        (Expected::StreamError, Err(Error::ModelHttp { .. } | Error::ModelApi { .. })) => Ok(()),
        (Expected::Invalid, Err(Error::UnexpectedModelBehavior { .. })) => Ok(()),
        (Expected::Response(exp), Ok(actual)) => compare_response(&exp, &actual),
        (exp, Ok(r)) => Err(format!("expected {exp:?}, got a response {:?}", r.parts)),
        (exp, Err(e)) => Err(format!("expected {exp:?}, got error {e}")),
    }
}

// ---------------------------------------------------------------------------------
// building Verity's request from the recorded one

struct RecordedRequest {
    model: String,
    stream: bool,
    messages: Vec<ModelMessage>,
    settings: ModelSettings,
    params: ModelRequestParameters,
}

/// Request keys Verity's request builder produces itself; everything else recorded is
/// passed through `extra_body`, as a user would.
const MODELLED_KEYS: &[&str] = &[
    "model",
    "messages",
    "tools",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "stop",
    "parallel_tool_calls",
    "response_format",
    "tool_choice",
];

impl RecordedRequest {
    fn default_request() -> Self {
        RecordedRequest {
            model: "gpt-4o".into(),
            stream: false,
            messages: vec![ModelMessage::Request(ModelRequest::user_prompt("Hello"))],
            settings: ModelSettings::default(),
            params: ModelRequestParameters {
                allow_text_output: true,
                ..Default::default()
            },
        }
    }

    fn from_body(body: &Value, provider: &str) -> Result<Self, String> {
        let model = body["model"].as_str().unwrap_or("gpt-4o").to_owned();
        let stream = body["stream"].as_bool().unwrap_or(false);
        let raw_messages = body["messages"].as_array().ok_or("no messages")?;
        let messages = reverse_messages(raw_messages, provider)?;
        let mut settings = ModelSettings::default();
        if let Some(cc) = raw_messages
            .first()
            .and_then(|m| m["content"].get(0))
            .and_then(|p| p.get("cache_control"))
        {
            settings.cache_instructions = Some(ttl_of(cc));
        }
        settings.max_tokens = body
            .get("max_completion_tokens")
            .or_else(|| body.get("max_tokens"))
            .and_then(Value::as_u64)
            .map(|v| v as u32);
        settings.temperature = body.get("temperature").and_then(Value::as_f64);
        settings.top_p = body.get("top_p").and_then(Value::as_f64);
        settings.seed = body.get("seed").and_then(Value::as_i64);
        settings.presence_penalty = body.get("presence_penalty").and_then(Value::as_f64);
        settings.frequency_penalty = body.get("frequency_penalty").and_then(Value::as_f64);
        settings.parallel_tool_calls = body.get("parallel_tool_calls").and_then(Value::as_bool);
        settings.stop_sequences = match body.get("stop") {
            Some(Value::String(s)) => Some(vec![s.clone()]),
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        };
        let mut extra = Map::new();
        for (k, v) in body.as_object().unwrap() {
            if !MODELLED_KEYS.contains(&k.as_str()) {
                extra.insert(k.clone(), v.clone());
            }
        }

        let mut params = ModelRequestParameters {
            allow_text_output: true,
            ..Default::default()
        };
        let tools = body
            .get("tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if tools.iter().any(|t| t.get("function").is_none()) {
            // built-in tools of a provider: passed through as the user would
            extra.insert("tools".into(), Value::Array(tools.clone()));
        } else {
            for t in &tools {
                let f = &t["function"];
                let mut extra_fields = Map::new();
                for (k, v) in t.as_object().unwrap() {
                    match k.as_str() {
                        "type" | "function" => {}
                        "cache_control" => settings.cache_tool_definitions = Some(ttl_of(v)),
                        _ => {
                            extra_fields.insert(k.clone(), v.clone());
                        }
                    }
                }
                let mut def = ToolDefinition::new(
                    f["name"].as_str().unwrap_or_default(),
                    f.get("parameters").cloned().unwrap_or(json!({})),
                )
                .with_strict(f.get("strict").and_then(Value::as_bool))
                .with_kind(ToolKind::Function);
                def.description = f
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                def.extra_fields = extra_fields;
                if def.name.starts_with("final_result") {
                    params.output_tools.push(def.with_kind(ToolKind::Output));
                } else {
                    params.function_tools.push(def);
                }
            }
        }
        match body.get("tool_choice") {
            Some(Value::String(c)) if c == "required" && !params.output_tools.is_empty() => {
                params.allow_text_output = false;
            }
            Some(Value::String(c)) if c == "auto" => {}
            Some(other) => {
                extra.insert("tool_choice".into(), other.clone());
            }
            None => {}
        }
        match body.get("response_format") {
            Some(rf) if rf["type"] == "json_schema" => {
                let js = &rf["json_schema"];
                params.output_mode = OutputMode::Native;
                params.output_object = Some(OutputObjectDefinition {
                    name: js["name"].as_str().unwrap_or("result").to_owned(),
                    description: js
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    json_schema: js["schema"].clone(),
                    strict: js.get("strict").and_then(Value::as_bool),
                });
            }
            Some(rf) if rf["type"] == "json_object" => params.output_mode = OutputMode::Prompted,
            Some(other) => {
                extra.insert("response_format".into(), other.clone());
            }
            None => {}
        }
        if !extra.is_empty() {
            settings.extra_body = Some(Value::Object(extra));
        }
        Ok(RecordedRequest {
            model,
            stream,
            messages,
            settings,
            params,
        })
    }
}

fn ttl_of(cache_control: &Value) -> CacheTtl {
    cache_control["ttl"]
        .as_str()
        .and_then(CacheTtl::parse)
        .unwrap_or_default()
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n\n"),
        _ => String::new(),
    }
}

fn decode_data_uri(uri: &str) -> Option<(String, Vec<u8>)> {
    let rest = uri.strip_prefix("data:")?;
    let (media, data) = rest.split_once(";base64,")?;
    Some((
        media.to_owned(),
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()?,
    ))
}

fn reverse_messages(raw: &[Value], provider: &str) -> Result<Vec<ModelMessage>, String> {
    let mut out: Vec<ModelMessage> = Vec::new();
    let mut pending: Vec<ModelRequestPart> = Vec::new();
    let mut tool_names: HashMap<String, String> = HashMap::new();
    for m in raw {
        let role = m["role"].as_str().unwrap_or_default();
        match role {
            "system" | "developer" => {
                pending.push(ModelRequestPart::SystemPrompt(SystemPromptPart::new(
                    text_of(&m["content"]),
                )));
            }
            "user" => {
                let content = match &m["content"] {
                    Value::String(s) => verity::UserPrompt::Text(s.clone()),
                    Value::Array(items) => {
                        let mut parts = Vec::new();
                        for item in items {
                            parts.push(match item["type"].as_str().unwrap_or_default() {
                                "text" => UserContent::Text(
                                    item["text"].as_str().unwrap_or_default().to_owned(),
                                ),
                                "image_url" => {
                                    let url = item["image_url"]["url"].as_str().unwrap_or_default();
                                    let detail = item["image_url"]
                                        .get("detail")
                                        .map(|d| json!({"detail": d}));
                                    match decode_data_uri(url) {
                                        Some((media, data)) => {
                                            let mut b = BinaryContent::new(data, media);
                                            if let Some(d) = detail {
                                                b.extra.insert("vendor_metadata".into(), d);
                                            }
                                            UserContent::Binary(b)
                                        }
                                        None => {
                                            let mut f = FileUrl::new(url);
                                            if let Some(d) = detail {
                                                f.extra.insert("vendor_metadata".into(), d);
                                            }
                                            UserContent::ImageUrl(f)
                                        }
                                    }
                                }
                                "input_audio" => {
                                    let a = &item["input_audio"];
                                    let data = base64::engine::general_purpose::STANDARD
                                        .decode(a["data"].as_str().unwrap_or_default())
                                        .map_err(|e| e.to_string())?;
                                    let format = a["format"].as_str().unwrap_or("mp3");
                                    let media = if format == "mp3" {
                                        "audio/mpeg".to_owned()
                                    } else {
                                        format!("audio/{format}")
                                    };
                                    UserContent::Binary(BinaryContent::new(data, media))
                                }
                                "file" => {
                                    let f = &item["file"];
                                    if let Some(id) = f.get("file_id").and_then(Value::as_str) {
                                        UserContent::UploadedFile(UploadedFile {
                                            file_id: id.to_owned(),
                                            media_type: None,
                                            extra: Map::new(),
                                        })
                                    } else {
                                        let file_data = f["file_data"].as_str().unwrap_or_default();
                                        let filename = f["filename"].as_str().unwrap_or_default();
                                        match decode_data_uri(file_data) {
                                            Some((media, data)) => {
                                                let mut b = BinaryContent::new(data, media);
                                                if !filename.starts_with("filename.") {
                                                    b.filename = Some(filename.to_owned());
                                                }
                                                UserContent::Binary(b)
                                            }
                                            None if file_data.starts_with("http") => {
                                                UserContent::DocumentUrl(FileUrl::new(file_data))
                                            }
                                            None => return Err("file part without data".into()),
                                        }
                                    }
                                }
                                "video_url" => UserContent::VideoUrl(FileUrl::new(
                                    item["video_url"]["url"].as_str().unwrap_or_default(),
                                )),
                                other => {
                                    return Err(format!("user content part `{other}` not mapped"));
                                }
                            });
                            if let Some(cc) = item.get("cache_control") {
                                parts.push(UserContent::CachePoint(CachePoint {
                                    ttl: cc["ttl"].as_str().map(str::to_owned),
                                    extra: Map::new(),
                                }));
                            }
                        }
                        verity::UserPrompt::Parts(parts)
                    }
                    other => return Err(format!("user content {other} not mapped")),
                };
                pending.push(ModelRequestPart::UserPrompt(UserPromptPart::new(content)));
            }
            "tool" => {
                let id = m["tool_call_id"].as_str().unwrap_or_default().to_owned();
                let name = tool_names.get(&id).cloned().unwrap_or_default();
                pending.push(ModelRequestPart::ToolReturn(ToolReturnPart::new(
                    name,
                    Value::String(text_of(&m["content"])),
                    id,
                )));
            }
            "assistant" => {
                if !pending.is_empty() {
                    out.push(ModelMessage::Request(ModelRequest::new(std::mem::take(
                        &mut pending,
                    ))));
                }
                let mut parts = Vec::new();
                for field in ["reasoning_content", "reasoning"] {
                    if let Some(t) = m.get(field).and_then(Value::as_str) {
                        let mut p = ThinkingPart::new(t);
                        p.id = Some(field.to_owned());
                        p.provider_name = Some(provider.to_owned());
                        parts.push(ModelResponsePart::Thinking(p));
                    }
                }
                let content = text_of(&m["content"]);
                let (thinking, text) = split_think_tags(&content);
                if let Some(t) = thinking {
                    let mut p = ThinkingPart::new(t);
                    p.provider_name = Some(provider.to_owned());
                    parts.push(ModelResponsePart::Thinking(p));
                }
                if !text.is_empty() {
                    parts.push(ModelResponsePart::Text(TextPart::new(text)));
                }
                for call in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let id = call["id"].as_str().unwrap_or_default().to_owned();
                    let name = call["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    tool_names.insert(id.clone(), name.clone());
                    let args = match &call["function"]["arguments"] {
                        Value::String(s) => ToolCallArgs::Json(s.clone()),
                        Value::Object(o) => ToolCallArgs::Object(o.clone()),
                        _ => ToolCallArgs::default(),
                    };
                    let mut part = ToolCallPart::new(name, args, id);
                    if let Some(extra) = call.get("extra_content") {
                        part.provider_details = Some(Map::from_iter([(
                            "extra_content".to_owned(),
                            extra.clone(),
                        )]));
                    }
                    parts.push(ModelResponsePart::ToolCall(part));
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

/// `(thinking inside <think> tags, the rest)` of a text.
fn split_think_tags(content: &str) -> (Option<String>, String) {
    let mut thinking = String::new();
    let mut text = String::new();
    let mut rest = content;
    while let Some(start) = rest.find("<think>") {
        text.push_str(&rest[..start]);
        let after = &rest[start + "<think>".len()..];
        match after.find("</think>") {
            Some(end) => {
                thinking.push_str(&after[..end]);
                rest = &after[end + "</think>".len()..];
            }
            None => {
                thinking.push_str(after);
                rest = "";
            }
        }
    }
    text.push_str(rest);
    ((!thinking.is_empty()).then_some(thinking), text)
}

// ---------------------------------------------------------------------------------
// comparing requests

/// A request body in a form where legitimate differences vanish: null fields, text
/// given as a list of text parts, whitespace inside thinking tags, `stream_options`.
fn normalize_request(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("stream_options");
        if map
            .get("tools")
            .is_some_and(|t| t.as_array().is_some_and(Vec::is_empty))
        {
            map.remove("tools");
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
        if let Some(Value::String(s)) = map.get("stop").cloned() {
            map.insert("stop".into(), json!([s]));
        }
        if let Some(Value::Array(messages)) = map.get_mut("messages") {
            for m in messages.iter_mut() {
                if let Some(obj) = m.as_object_mut() {
                    obj.retain(|_, v| !v.is_null());
                    if let Some(Value::Array(parts)) = obj.get_mut("content") {
                        for p in parts.iter_mut() {
                            if let Some(p) = p.as_object_mut() {
                                p.retain(|_, v| !v.is_null());
                            }
                        }
                    }
                    let role = obj
                        .get("role")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    if role == "developer" {
                        obj.insert("role".into(), json!("system"));
                    }
                    if let Some(content) = obj.get("content").cloned() {
                        let all_text = content
                            .as_array()
                            .is_some_and(|a| a.iter().all(|p| p["type"] == "text"));
                        if role != "user" && all_text || role == "tool" {
                            obj.insert("content".into(), json!(text_of(&content)));
                        }
                    }
                    if role == "assistant" {
                        for field in ["reasoning_content", "reasoning"] {
                            if obj.get(field).is_some_and(|v| v.as_str() == Some("")) {
                                obj.remove(field);
                            }
                        }
                        if let Some(Value::String(c)) = obj.get("content")
                            && c.contains("<think>")
                        {
                            let squeezed: String =
                                c.chars().filter(|ch| !ch.is_whitespace()).collect();
                            obj.insert("content".into(), json!(squeezed));
                        }
                        if let Some(Value::Array(calls)) = obj.get_mut("tool_calls") {
                            for c in calls.iter_mut() {
                                if let Some(args) = c["function"]["arguments"].as_str()
                                    && let Ok(v) = serde_json::from_str::<Value>(args)
                                {
                                    c["function"]["arguments"] = v;
                                }
                                if let Some(o) = c.as_object_mut() {
                                    o.remove("index");
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    body
}

fn compare_requests(sent: &Value, recorded: &Value) -> Result<(), String> {
    compare_bodies(sent, recorded, "messages")
}

/// Compare two request bodies key by key; for `list_key` (the conversation), name the
/// first entry that differs.
pub(crate) fn compare_bodies(sent: &Value, recorded: &Value, list_key: &str) -> Result<(), String> {
    let (Some(s), Some(r)) = (sent.as_object(), recorded.as_object()) else {
        return Err("request body is not an object".into());
    };
    for key in s.keys().chain(r.keys()) {
        if s.get(key) == r.get(key) {
            continue;
        }
        if key == list_key
            && let (Some(a), Some(b)) = (s[key].as_array(), r[key].as_array())
        {
            if a.len() != b.len() {
                return Err(format!(
                    "request has {} {list_key}, recorded {}",
                    a.len(),
                    b.len()
                ));
            }
            if let Some((i, (x, y))) = a.iter().zip(b).enumerate().find(|(_, (x, y))| x != y) {
                return Err(format!(
                    "request {list_key} {i} differs:\n      sent     {}\n      recorded {}",
                    truncate(&x.to_string(), 400),
                    truncate(&y.to_string(), 400)
                ));
            }
        }
        let show = |v: Option<&Value>| {
            v.map(|v| truncate(&v.to_string(), 300))
                .unwrap_or_else(|| "(absent)".into())
        };
        return Err(format!(
            "request `{key}` differs:\n      sent     {}\n      recorded {}",
            show(s.get(key)),
            show(r.get(key))
        ));
    }
    Ok(())
}

/// `Ok` when `ok`, otherwise what was parsed against what was recorded.
/// `parsed` must equal `recorded`; the error shows both.
pub(crate) fn same<T: PartialEq + std::fmt::Debug + ?Sized>(
    what: &str,
    parsed: &T,
    recorded: &T,
) -> Result<(), String> {
    expect_same(
        what,
        parsed == recorded,
        format!("{parsed:?}"),
        format!("{recorded:?}"),
    )
}

/// The parsed tool calls must match the recorded (name, arguments, id) triples; a
/// recorded id of `None` accepts any id.
pub(crate) fn same_tool_calls<'a>(
    calls: &[&verity::messages::ToolCallPart],
    recorded: impl ExactSizeIterator<Item = (&'a String, &'a Value, Option<&'a String>)>,
) -> Result<(), String> {
    same("tool calls", &calls.len(), &recorded.len())?;
    for (c, (name, args, id)) in calls.iter().zip(recorded) {
        same("tool name", &c.tool_name, name)?;
        let parsed = c.args.to_value().unwrap_or(Value::Null);
        expect_same(
            "tool args",
            &parsed == args,
            parsed.to_string(),
            args.to_string(),
        )?;
        if let Some(id) = id {
            same("tool id", &c.tool_call_id, id)?;
        }
    }
    Ok(())
}

fn expect_same(what: &str, ok: bool, parsed: String, recorded: String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what}: parsed {}, recorded {}",
            truncate(&parsed, 200),
            truncate(&recorded, 200)
        ))
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_owned();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

// ---------------------------------------------------------------------------------
// what the recorded response says, read independently of Verity

#[derive(Debug, Default, PartialEq)]
struct ExpectedResponse {
    text: String,
    thinking: String,
    tool_calls: Vec<(String, String, Option<String>)>,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    reasoning_tokens: u64,
    finish_reason: Option<String>,
    id: Option<String>,
    model: Option<String>,
}

#[derive(Debug)]
enum Expected {
    Response(Box<ExpectedResponse>),
    HttpError {
        status: u16,
        message: Option<String>,
    },
    StreamError,
    Invalid,
}

fn expected_outcome(status: u16, response: &Exchange, stream: bool) -> Expected {
    if status >= 400 {
        let message = match &response.body {
            Value::Object(_) => response
                .body
                .pointer("/error/message")
                .or_else(|| response.body.get("message"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        };
        return Expected::HttpError { status, message };
    }
    let is_sse = response
        .headers
        .get("content-type")
        .is_some_and(|c| c.contains("event-stream"));
    if stream && is_sse {
        let text = String::from_utf8(body_bytes(response)).unwrap_or_default();
        return expected_from_sse(&text);
    }
    match &response.body {
        Value::Object(body) if body.get("choices").is_some() => {
            Expected::Response(Box::new(expected_from_completion(&response.body)))
        }
        _ => Expected::Invalid,
    }
}

/// PydanticAI's finish reasons for the OpenAI ones.
fn finish(reason: &str) -> Option<String> {
    Some(match reason {
        "" => return None,
        "stop" => "stop".into(),
        "length" => "length".into(),
        "tool_calls" | "function_call" => "tool_call".into(),
        "content_filter" => "content_filter".into(),
        other => other.into(),
    })
}

fn usage_into(e: &mut ExpectedResponse, u: &Value) {
    e.input_tokens = u["prompt_tokens"].as_u64().unwrap_or(0);
    e.output_tokens = u["completion_tokens"].as_u64().unwrap_or(0);
    e.cache_read_tokens = u
        .pointer("/prompt_tokens_details/cached_tokens")
        .or_else(|| u.get("cached_tokens"))
        .or_else(|| u.get("prompt_cache_hit_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    e.reasoning_tokens = u
        .pointer("/completion_tokens_details/reasoning_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
}

fn expected_from_completion(body: &Value) -> ExpectedResponse {
    let mut e = ExpectedResponse {
        id: body["id"].as_str().map(str::to_owned),
        model: body["model"].as_str().map(str::to_owned),
        ..Default::default()
    };
    if let Some(u) = body.get("usage").filter(|u| !u.is_null()) {
        usage_into(&mut e, u);
    }
    let Some(choice) = body["choices"].get(0) else {
        return e;
    };
    e.finish_reason = choice["finish_reason"].as_str().and_then(finish);
    let m = &choice["message"];
    let mut thinking = String::new();
    for field in ["reasoning_content", "reasoning"] {
        thinking.push_str(m[field].as_str().unwrap_or_default());
    }
    let (tags, text) = split_think_tags(&text_of(&m["content"]));
    thinking.push_str(&tags.unwrap_or_default());
    e.thinking = thinking;
    e.text = text;
    if e.text.is_empty() {
        e.text = m["refusal"].as_str().unwrap_or_default().to_owned();
    }
    for call in m["tool_calls"].as_array().into_iter().flatten() {
        let args = match &call["function"]["arguments"] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        e.tool_calls.push((
            call["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            args,
            call["id"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        ));
    }
    e
}

fn expected_from_sse(text: &str) -> Expected {
    let mut e = ExpectedResponse::default();
    let mut calls: BTreeMap<u64, (String, String, Option<String>)> = BTreeMap::new();
    let mut content = String::new();
    let mut thinking = String::new();
    let normalized = text.replace("\r\n", "\n");
    for block in normalized.split("\n\n") {
        let mut event = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if data.is_empty() || data == "[DONE]" {
            continue;
        }
        if event.as_deref() == Some("error") {
            return Expected::StreamError;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&data) else {
            return Expected::Invalid;
        };
        if chunk.get("error").is_some_and(|v| !v.is_null()) {
            return Expected::StreamError;
        }
        if e.id.is_none() {
            e.id = chunk["id"].as_str().map(str::to_owned);
        }
        if e.model.is_none() {
            e.model = chunk["model"].as_str().map(str::to_owned);
        }
        if let Some(u) = chunk
            .get("usage")
            .filter(|u| !u.is_null())
            .or_else(|| chunk.pointer("/x_groq/usage"))
        {
            usage_into(&mut e, u);
        }
        let Some(choice) = chunk["choices"].get(0) else {
            continue;
        };
        if let Some(r) = choice["finish_reason"].as_str().and_then(finish) {
            e.finish_reason = Some(r);
        }
        let d = &choice["delta"];
        for field in ["reasoning_content", "reasoning"] {
            thinking.push_str(d[field].as_str().unwrap_or_default());
        }
        content.push_str(&text_of(&d["content"]));
        for (pos, call) in d["tool_calls"].as_array().into_iter().flatten().enumerate() {
            let index = call["index"].as_u64().unwrap_or(pos as u64);
            let entry = calls.entry(index).or_default();
            entry
                .0
                .push_str(call["function"]["name"].as_str().unwrap_or_default());
            match &call["function"]["arguments"] {
                Value::String(s) => entry.1.push_str(s),
                Value::Null => {}
                other => entry.1.push_str(&other.to_string()),
            }
            if entry.2.is_none() {
                entry.2 = call["id"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
            }
        }
    }
    let (tags, text) = split_think_tags(&content);
    thinking.push_str(&tags.unwrap_or_default());
    e.text = text;
    e.thinking = thinking;
    e.tool_calls = calls.into_values().collect();
    Expected::Response(Box::new(e))
}

fn compare_response(exp: &ExpectedResponse, actual: &ModelResponse) -> Result<(), String> {
    let mut text = String::new();
    let mut thinking = String::new();
    let mut calls = Vec::new();
    for p in &actual.parts {
        match p {
            ModelResponsePart::Text(t) => text.push_str(&t.content),
            ModelResponsePart::Thinking(t) => thinking.push_str(&t.content),
            ModelResponsePart::ToolCall(c) => calls.push(c),
            ModelResponsePart::Unknown(_) => {}
        }
    }
    same("text", &text, &exp.text)?;
    same("thinking", &thinking, &exp.thinking)?;
    same("tool call count", &calls.len(), &exp.tool_calls.len())?;
    for (c, (name, args, id)) in calls.iter().zip(&exp.tool_calls) {
        same("tool name", &c.tool_name, name)?;
        let parsed_args = c.args.to_json_string();
        let same_args = match (
            serde_json::from_str::<Value>(&parsed_args),
            serde_json::from_str::<Value>(args),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => parsed_args == *args || (args.is_empty() && parsed_args == "{}"),
        };
        expect_same("tool arguments", same_args, parsed_args, args.clone())?;
        if let Some(id) = id {
            same("tool call id", &c.tool_call_id, id)?;
        } else {
            expect_same(
                "generated tool call id",
                !c.tool_call_id.is_empty(),
                c.tool_call_id.clone(),
                "(none)".into(),
            )?;
        }
    }
    let u = &actual.usage;
    same("input tokens", &u.input_tokens, &exp.input_tokens)?;
    same("output tokens", &u.output_tokens, &exp.output_tokens)?;
    same(
        "cache read tokens",
        &u.cache_read_tokens,
        &exp.cache_read_tokens,
    )?;
    let reasoning = u.details.get("reasoning_tokens").copied().unwrap_or(0);
    same("reasoning tokens", &reasoning, &exp.reasoning_tokens)?;
    let fr = actual.finish_reason.as_ref().map(|f| f.as_str().to_owned());
    same("finish reason", &fr, &exp.finish_reason)?;
    same("response id", &actual.provider_response_id, &exp.id)?;
    if exp.model.is_some() {
        same("model name", &actual.model_name, &exp.model)?;
    }
    Ok(())
}
