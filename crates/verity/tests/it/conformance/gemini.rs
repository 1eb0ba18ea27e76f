//! Gemini replay (Gemini API and Vertex AI): the request is rebuilt from the recorded
//! one, and the recorded response (JSON or SSE) is read into the shared expected
//! response.

use serde_json::{Map, Value, json};
use verity::messages::{
    BinaryContent, FileUrl, ModelMessage, ModelRequest, ModelRequestPart, ModelResponse,
    ModelResponsePart, SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs, ToolCallPart,
    ToolOutcome, ToolReturnPart, UserContent, UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::gemini::{GeminiModel, RAW_PART, THOUGHT_SIGNATURE};
use verity::providers::ProviderBuilder;
use verity::providers::google_gla::GoogleGlaProvider;
use verity::providers::google_vertex::GoogleVertexProvider;
use verity::{IntoModel, ModelSettings, OutputMode};

use super::{
    Call, Expected, ExpectedCall, ExpectedResponse, Mode, ModelFuture, Replay, Reversed, WireApi,
    compare_bodies, decode_base64, sse_events, strings, test_provider, truncate,
};
use crate::support::Received;

/// The Gemini wire API (`generateContent` and its kin), on the Gemini API or Vertex AI.
pub(crate) struct Gemini;

/// The method called: `generateContent`, `streamGenerateContent` or `countTokens`.
fn method<'a>(call: &'a Call<'_>) -> &'a str {
    call.uri()
        .split('?')
        .next()
        .unwrap_or_default()
        .rsplit(':')
        .next()
        .unwrap_or_default()
}

fn on_vertex(call: &Call<'_>) -> bool {
    call.uri().contains("aiplatform")
}

impl WireApi for Gemini {
    fn name(&self) -> &'static str {
        "gemini"
    }

    fn build_request(&self, call: &Call<'_>) -> Result<Replay, String> {
        let model = call
            .uri()
            .split("/models/")
            .nth(1)
            .and_then(|r| r.split(':').next())
            .unwrap_or("gemini-2.5-flash")
            .to_owned();
        let provider = if on_vertex(call) {
            "google-vertex"
        } else if call.provider == "gateway" {
            "google-gla"
        } else {
            call.provider
        };
        let body = camel(call.recorded());
        if !body.is_object() {
            return Err("no recorded request body".into());
        }
        let mode = match method(call) {
            "countTokens" => Mode::CountTokens,
            "streamGenerateContent" => Mode::Stream,
            _ => Mode::Request,
        };
        Ok(Replay::new(
            model,
            mode,
            reverse(&body, provider)?,
            Some(body),
        ))
    }

    fn model<'a>(
        &'a self,
        call: &'a Call<'a>,
        replay: &'a Replay,
        url: &'a str,
    ) -> ModelFuture<'a> {
        Box::pin(async move {
            let root = url.trim_end_matches("/v1");
            let builder: ProviderBuilder = if on_vertex(call) {
                GoogleVertexProvider::builder("project", "us-central1")
                    .base_url(format!(
                        "{root}/v1beta1/projects/p/locations/l/publishers/google"
                    ))
                    .build_as()
            } else {
                GoogleGlaProvider::builder()
                    .base_url(format!("{root}/v1beta"))
                    .build_as()
            };
            let provider = test_provider(builder)?;
            Ok(GeminiModel::new(replay.model.clone(), provider).into_model())
        })
    }

    fn compare_request(
        &self,
        call: &Call<'_>,
        replay: &Replay,
        sent: &Received,
    ) -> Result<(), String> {
        if !sent
            .path
            .contains(&format!("/models/{}:{}", replay.model, method(call)))
        {
            return Err(format!("sent to {}", sent.path));
        }
        let auth_ok = if on_vertex(call) {
            sent.header("authorization") == Some("Bearer test-key")
        } else {
            sent.header("x-goog-api-key") == Some("test-key")
        };
        if !auth_ok {
            return Err("credentials not sent the provider's way".into());
        }
        let recorded = replay.recorded.as_ref().unwrap_or(&Value::Null);
        compare_bodies(&normalize(&sent.json()), &normalize(recorded), "contents")
    }

    fn expected_response(&self, call: &Call<'_>, replay: &Replay) -> Result<Expected, String> {
        if let Some(error) = Expected::http_error(call.status()) {
            return Ok(error);
        }
        let response = call.response();
        let chunks: Vec<Value> = match replay.mode {
            Mode::CountTokens => {
                return Ok(Expected::Tokens(response.body["totalTokens"].as_u64()));
            }
            Mode::Stream => sse_events(&String::from_utf8_lossy(&response.bytes()))
                .into_iter()
                .filter_map(|(_, data)| serde_json::from_str(data.trim()).ok())
                .collect(),
            Mode::Request => vec![response.body.clone()],
        };
        Ok(Expected::Response(Box::new(expected_from(&chunks))))
    }
}

/// Proto-JSON field names in snake_case mean the same as in camelCase.
const SNAKE: &[(&str, &str)] = &[
    ("function_call", "functionCall"),
    ("function_response", "functionResponse"),
    ("thought_signature", "thoughtSignature"),
    ("inline_data", "inlineData"),
    ("file_data", "fileData"),
    ("mime_type", "mimeType"),
    ("file_uri", "fileUri"),
    ("video_metadata", "videoMetadata"),
    ("start_offset", "startOffset"),
    ("end_offset", "endOffset"),
    ("parameters_json_schema", "parametersJsonSchema"),
    ("response_json_schema", "responseJsonSchema"),
    ("response_mime_type", "responseMimeType"),
    ("response_schema", "responseSchema"),
    ("response_modalities", "responseModalities"),
    ("thinking_config", "thinkingConfig"),
    ("include_thoughts", "includeThoughts"),
    ("thinking_budget", "thinkingBudget"),
    ("thinking_level", "thinkingLevel"),
    ("max_output_tokens", "maxOutputTokens"),
    ("top_p", "topP"),
    ("stop_sequences", "stopSequences"),
    ("executable_code", "executableCode"),
    ("code_execution_result", "codeExecutionResult"),
    ("tool_call", "toolCall"),
    ("tool_response", "toolResponse"),
    ("function_declarations", "functionDeclarations"),
    ("system_instruction", "systemInstruction"),
    ("generation_config", "generationConfig"),
    ("tool_config", "toolConfig"),
    ("function_calling_config", "functionCallingConfig"),
    ("allowed_function_names", "allowedFunctionNames"),
];

/// Keys whose values are user data (arguments, results, schemas): not renamed inside.
const OPAQUE: &[&str] = &[
    "args",
    "response",
    "parametersJsonSchema",
    "parameters",
    "responseJsonSchema",
    "responseSchema",
    "text",
    "data",
];

fn camel(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, val)| {
                    let key = SNAKE
                        .iter()
                        .find(|(s, _)| s == k)
                        .map_or(k.as_str(), |(_, c)| c)
                        .to_owned();
                    let val = if OPAQUE.contains(&key.as_str()) {
                        val.clone()
                    } else {
                        camel(val)
                    };
                    (key, val)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(camel).collect()),
        other => other.clone(),
    }
}

fn media(mime: &str, url: &str) -> UserContent {
    let mut f = FileUrl::new(url);
    f.media_type = Some(mime.to_owned());
    match mime.split('/').next().unwrap_or_default() {
        "image" => UserContent::ImageUrl(f),
        "audio" => UserContent::AudioUrl(f),
        "video" => UserContent::VideoUrl(f),
        _ => UserContent::DocumentUrl(f),
    }
}

fn reverse(body: &Value, provider: &str) -> Result<Reversed, String> {
    let mut settings = ModelSettings::default();
    let mut first: Vec<ModelRequestPart> = Vec::new();
    for p in body
        .pointer("/systemInstruction/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        first.push(ModelRequestPart::SystemPrompt(SystemPromptPart::new(
            p["text"].as_str().unwrap_or_default(),
        )));
    }
    let mut messages: Vec<ModelMessage> = Vec::new();
    let mut pending_first = Some(first);
    let all_contents = body["contents"].as_array().ok_or("no contents")?;
    let mut skip = std::collections::HashSet::new();
    for (ci, content) in all_contents.iter().enumerate() {
        if skip.contains(&ci) {
            continue;
        }
        let parts = content["parts"].as_array().cloned().unwrap_or_default();
        if content["role"] == "model" {
            if let Some(first) = pending_first.take()
                && !first.is_empty()
            {
                messages.push(ModelMessage::Request(ModelRequest::new(first)));
            }
            let mut out = Vec::new();
            for p in parts {
                let sig = p.get("thoughtSignature").cloned();
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    if p["thought"] == true {
                        let mut th = ThinkingPart::new(t);
                        th.signature = sig.and_then(|s| s.as_str().map(str::to_owned));
                        th.provider_name = Some(provider.into());
                        out.push(ModelResponsePart::Thinking(th));
                    } else {
                        let mut tp = TextPart::new(t);
                        if let Some(sig) = sig {
                            tp.provider_name = Some(provider.into());
                            tp.provider_details =
                                Some(Map::from_iter([(THOUGHT_SIGNATURE.to_owned(), sig)]));
                        }
                        out.push(ModelResponsePart::Text(tp));
                    }
                } else if let Some(call) = p.get("functionCall") {
                    let args = ToolCallArgs::from(call["args"].clone());
                    let mut c = ToolCallPart::new(
                        call["name"].as_str().unwrap_or_default(),
                        args,
                        call["id"].as_str().unwrap_or_default(),
                    );
                    c.provider_name = Some(provider.into());
                    if let Some(sig) = sig {
                        c.provider_details =
                            Some(Map::from_iter([(THOUGHT_SIGNATURE.to_owned(), sig)]));
                    }
                    out.push(ModelResponsePart::ToolCall(c));
                } else {
                    let mut map = Map::new();
                    map.insert("part_kind".into(), json!("provider-block"));
                    map.insert("provider_name".into(), json!(provider));
                    map.insert("provider_details".into(), json!({ RAW_PART: p }));
                    out.push(ModelResponsePart::Unknown(map));
                }
            }
            messages.push(ModelMessage::Response(ModelResponse::new(out)));
            continue;
        }
        let mut request_parts = pending_first.take().unwrap_or_default();
        let mut items: Vec<UserContent> = Vec::new();
        for p in parts {
            if let Some(t) = p.get("text").and_then(Value::as_str) {
                items.push(UserContent::Text(t.to_owned()));
            } else if let Some(d) = p.get("inlineData") {
                let data = decode_base64(d["data"].as_str().unwrap_or_default())?;
                items.push(UserContent::Binary(BinaryContent::new(
                    data,
                    d["mimeType"].as_str().unwrap_or_default(),
                )));
            } else if let Some(f) = p.get("fileData") {
                items.push(media(
                    f["mimeType"].as_str().unwrap_or_default(),
                    f["fileUri"].as_str().unwrap_or_default(),
                ));
            } else if let Some(meta) = p.get("videoMetadata") {
                if let Some(UserContent::VideoUrl(f)) = items.last_mut() {
                    f.extra
                        .insert("vendor_metadata".into(), json!({"video_metadata": meta}));
                } else {
                    items.push(UserContent::Unknown(Map::from_iter([(
                        RAW_PART.to_owned(),
                        p.clone(),
                    )])));
                }
            } else if let Some(r) = p.get("functionResponse") {
                if !items.is_empty() {
                    request_parts.push(ModelRequestPart::UserPrompt(UserPromptPart::new(
                        std::mem::take(&mut items),
                    )));
                }
                let id = r["id"].as_str().unwrap_or_default().to_owned();
                let name = r["name"].as_str().unwrap_or_default().to_owned();
                if let Some(err) = r.pointer("/response/error").and_then(Value::as_str) {
                    // an error result is sent as its text: a retried return
                    let mut part = ToolReturnPart::new(name, Value::String(err.to_owned()), id);
                    part.outcome = ToolOutcome::Retried;
                    request_parts.push(ModelRequestPart::ToolReturn(part));
                } else {
                    let response_obj = r
                        .get("response")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    let value = match response_obj.get("return_value") {
                        Some(v) => Some(v.clone()),
                        None if !response_obj.is_empty() && !response_obj.contains_key("files") => {
                            Some(Value::Object(response_obj.clone()))
                        }
                        None => None,
                    };
                    let mut media_items: Vec<Value> = Vec::new();
                    let to_media =
                        |mp: &Value, identifier: Option<&str>| -> Result<Value, String> {
                            let item = if let Some(d) = mp.get("inlineData") {
                                let data = decode_base64(d["data"].as_str().unwrap_or_default())?;
                                let mut b = BinaryContent::new(
                                    data,
                                    d["mimeType"].as_str().unwrap_or_default(),
                                );
                                if let Some(id) = identifier {
                                    b.extra.insert("identifier".into(), json!(id));
                                }
                                UserContent::Binary(b)
                            } else if let Some(f) = mp.get("fileData") {
                                let mut m = media(
                                    f["mimeType"].as_str().unwrap_or_default(),
                                    f["fileUri"].as_str().unwrap_or_default(),
                                );
                                if let (
                                    Some(id),
                                    UserContent::ImageUrl(u)
                                    | UserContent::AudioUrl(u)
                                    | UserContent::VideoUrl(u)
                                    | UserContent::DocumentUrl(u),
                                ) = (identifier, &mut m)
                                {
                                    u.extra.insert("identifier".into(), json!(id));
                                }
                                m
                            } else {
                                return Err(format!(
                                    "function response part not mapped: {}",
                                    truncate(&mp.to_string(), 80)
                                ));
                            };
                            serde_json::to_value(item).map_err(|e| e.to_string())
                        };
                    for mp in r
                        .get("parts")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        media_items.push(to_media(mp, None)?);
                    }
                    if let Some(files) = r.pointer("/response/files").and_then(Value::as_array) {
                        // the files follow in a user turn: "This is file <id>:" then the file
                        let ids: Vec<String> = files
                            .iter()
                            .filter_map(|f| f.as_str())
                            .map(|f| {
                                f.trim_start_matches("See file ")
                                    .trim_end_matches('.')
                                    .to_owned()
                            })
                            .collect();
                        for (cj, later) in all_contents.iter().enumerate().skip(ci + 1) {
                            let lp = later["parts"].as_array().cloned().unwrap_or_default();
                            let mut found = false;
                            for w in lp.windows(2) {
                                if let Some(t) = w[0]["text"].as_str()
                                    && let Some(id) =
                                        ids.iter().find(|id| t == format!("This is file {id}:"))
                                {
                                    media_items.push(to_media(&w[1], Some(id))?);
                                    found = true;
                                }
                            }
                            if found {
                                skip.insert(cj);
                                break;
                            }
                        }
                    }
                    let content = if media_items.is_empty() {
                        value.unwrap_or(Value::Null)
                    } else {
                        let mut items = match value {
                            Some(Value::Array(a)) => a,
                            Some(v) => vec![v],
                            None => Vec::new(),
                        };
                        items.extend(media_items);
                        Value::Array(items)
                    };
                    request_parts.push(ModelRequestPart::ToolReturn(ToolReturnPart::new(
                        name, content, id,
                    )));
                }
            } else {
                items.push(UserContent::Unknown(Map::from_iter([(
                    RAW_PART.to_owned(),
                    p.clone(),
                )])));
            }
        }
        if !items.is_empty() {
            request_parts.push(ModelRequestPart::UserPrompt(UserPromptPart::new(items)));
        }
        messages.push(ModelMessage::Request(ModelRequest::new(request_parts)));
    }

    let mut params = ModelRequestParameters {
        allow_text_output: true,
        ..Default::default()
    };
    let mut extra = Map::new();
    let tools = body["tools"].as_array().cloned().unwrap_or_default();
    if tools
        .iter()
        .any(|t| t.get("functionDeclarations").is_none())
    {
        extra.insert("tools".into(), Value::Array(tools));
    } else {
        for t in &tools {
            for d in t["functionDeclarations"].as_array().into_iter().flatten() {
                let mut extra_fields = Map::new();
                for (k, v) in d.as_object().unwrap() {
                    if !["name", "description", "parametersJsonSchema", "parameters"]
                        .contains(&k.as_str())
                    {
                        extra_fields.insert(k.clone(), v.clone());
                    }
                }
                let mut def = ToolDefinition::new(
                    d["name"].as_str().unwrap_or_default(),
                    d.get("parametersJsonSchema")
                        .or_else(|| d.get("parameters"))
                        .cloned()
                        .unwrap_or(json!({})),
                )
                .with_kind(ToolKind::Function);
                def.description = d
                    .get("description")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                def.extra_fields = extra_fields;
                params.function_tools.push(def);
            }
        }
    }
    let gc = body
        .get("generationConfig")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut rest = Map::new();
    for (k, v) in gc {
        match k.as_str() {
            "maxOutputTokens" => settings.max_tokens = v.as_u64().map(|n| n as u32),
            "temperature" => settings.temperature = v.as_f64(),
            "topP" => settings.top_p = v.as_f64(),
            "seed" => settings.seed = v.as_i64(),
            "stopSequences" => settings.stop_sequences = strings(Some(&v)),
            "responseJsonSchema" | "responseSchema" => {
                params.output_mode = OutputMode::Native;
                params.output_object = Some(OutputObjectDefinition {
                    name: "output".into(),
                    description: None,
                    json_schema: v.clone(),
                    strict: None,
                });
            }
            "responseMimeType" if v == "application/json" => {
                if params.output_mode != OutputMode::Native {
                    params.output_mode = OutputMode::Prompted;
                }
            }
            _ => {
                rest.insert(k, v);
            }
        }
    }
    if !rest.is_empty() {
        extra.insert("generationConfig".into(), Value::Object(rest));
    }
    for (k, v) in body.as_object().unwrap() {
        if !["contents", "systemInstruction", "tools", "generationConfig"].contains(&k.as_str()) {
            extra.insert(k.clone(), v.clone());
        }
    }
    if !extra.is_empty() {
        settings.extra_body = Some(Value::Object(extra));
    }
    Ok((messages, settings, params))
}

/// Equivalent forms: snake/camel names, `parameters` or `parametersJsonSchema`,
/// `responseSchema` or `responseJsonSchema`, an empty generation config.
fn normalize(body: &Value) -> Value {
    let mut body = camel(body);
    // Google takes base64 in either alphabet
    fn std_base64(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(d)) =
                    m.get_mut("inlineData").and_then(|i| i.get_mut("data"))
                {
                    *d = d.replace('-', "+").replace('_', "/");
                }
                m.values_mut().for_each(std_base64);
            }
            Value::Array(a) => a.iter_mut().for_each(std_base64),
            _ => {}
        }
    }
    std_base64(&mut body);
    for t in body
        .get_mut("tools")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for d in t
            .get_mut("functionDeclarations")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(o) = d.as_object_mut() {
                if let Some(p) = o.remove("parameters") {
                    o.insert("parametersJsonSchema".into(), p);
                }
                o.entry("description").or_insert(json!(""));
            }
        }
    }
    if let Some(gc) = body
        .get_mut("generationConfig")
        .and_then(Value::as_object_mut)
        && let Some(s) = gc.remove("responseSchema")
    {
        gc.insert("responseJsonSchema".into(), s);
    }
    if body
        .get("generationConfig")
        .is_some_and(|g| g.as_object().is_some_and(Map::is_empty))
        && let Some(o) = body.as_object_mut()
    {
        o.remove("generationConfig");
    }
    body
}

fn expected_from(chunks: &[Value]) -> ExpectedResponse {
    let mut e = ExpectedResponse {
        other_parts: Some(0),
        ..Default::default()
    };
    for (i, chunk) in chunks.iter().enumerate() {
        if i == 0 {
            e.id = chunk["responseId"].as_str().map(str::to_owned);
        }
        if let Some(c) = chunk.pointer("/candidates/0") {
            for p in c
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    if p["thought"] == true {
                        e.thinking.push_str(t)
                    } else {
                        e.text.push_str(t)
                    }
                } else if let Some(call) = p.get("functionCall") {
                    e.tool_calls.push(ExpectedCall::new(
                        call["name"].as_str().unwrap_or_default(),
                        call.get("args").unwrap_or(&json!({})),
                        call["id"].as_str(),
                    ));
                } else if p.as_object().is_some_and(|o| !o.is_empty()) {
                    *e.other_parts.get_or_insert_default() += 1;
                }
            }
            if let Some(r) = c["finishReason"].as_str() {
                e.finish_reason = Some(
                    match r {
                        "STOP" => "stop",
                        "MAX_TOKENS" => "length",
                        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII"
                        | "IMAGE_SAFETY" => "content_filter",
                        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" => "error",
                        other => other,
                    }
                    .to_owned(),
                );
            }
        }
        if let Some(u) = chunk.get("usageMetadata") {
            let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
            e.input_tokens = n("promptTokenCount") + n("toolUsePromptTokenCount");
            e.output_tokens = n("candidatesTokenCount") + n("thoughtsTokenCount");
            e.cache_read_tokens = n("cachedContentTokenCount");
        }
    }
    e
}
