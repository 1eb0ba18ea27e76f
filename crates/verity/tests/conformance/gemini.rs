//! Gemini replay (Gemini API and Vertex AI): the request is rebuilt from the recorded
//! one, sent to the local server, and the recorded response (JSON or SSE) is checked.

use base64::Engine as _;
use futures::StreamExt;
use serde_json::{Map, Value, json};
use verity::messages::{
    BinaryContent, FileUrl, ModelMessage, ModelRequest, ModelRequestPart, ModelResponse,
    ModelResponsePart, RetryPromptPart, SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs,
    ToolCallPart, ToolReturnPart, UserContent, UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::gemini::{GeminiModel, RAW_PART, THOUGHT_SIGNATURE};
use verity::providers::ProviderBuilder;
use verity::providers::google_gla::GoogleGlaProvider;
use verity::providers::google_vertex::GoogleVertexProvider;
use verity::stream::ResponseAccumulator;
use verity::{Error, Model, ModelSettings, OutputMode};

use super::{Interaction, body_bytes, same, same_tool_calls, truncate};
use crate::support::{Canned, MockServer};

const RETRY_SUFFIX: &str = "\n\nFix the errors and try again.";

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

pub async fn check(interaction: &Interaction, provider_name: &str) -> Result<(), String> {
    let uri = interaction.request.uri.clone().unwrap_or_default();
    let method = uri
        .split('?')
        .next()
        .unwrap_or_default()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let model_name = uri
        .split("/models/")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap_or("gemini-2.5-flash")
        .to_owned();
    let vertex = uri.contains("aiplatform");
    let provider_name = if vertex {
        "google-vertex"
    } else if provider_name == "gateway" {
        "google-gla"
    } else {
        provider_name
    };
    let body = camel(&interaction.request.body);
    if !body.is_object() {
        return Err("no recorded request body".into());
    }
    let (messages, settings, params) = reverse(&body, provider_name)?;
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
    let root = server.url().trim_end_matches("/v1").to_owned();
    let builder: ProviderBuilder = if vertex {
        GoogleVertexProvider::builder("project", "us-central1").base_url(format!(
            "{root}/v1beta1/projects/p/locations/l/publishers/google"
        ))
    } else {
        GoogleGlaProvider::builder().base_url(format!("{root}/v1beta"))
    };
    let provider = builder
        .api_key("test-key")
        .max_retries(0)
        .build()
        .map_err(|e| e.to_string())?;
    let model = GeminiModel::new(model_name.clone(), provider);
    let sent_check = |server: &MockServer| -> Result<(), String> {
        let sent = server.received();
        let sent = sent.first().ok_or("Verity sent no request")?;
        if !sent
            .path
            .contains(&format!("/models/{model_name}:{method}"))
        {
            return Err(format!("sent to {}", sent.path));
        }
        let auth_ok = if vertex {
            sent.header("authorization") == Some("Bearer test-key")
        } else {
            sent.header("x-goog-api-key") == Some("test-key")
        };
        if !auth_ok {
            return Err("credentials not sent the provider's way".into());
        }
        compare(&normalize(&sent.json()), &normalize(&body))
    };
    if method == "countTokens" {
        let counted = model.count_tokens(&messages, &settings, &params).await;
        sent_check(&server)?;
        return match (status, counted) {
            (200, Ok(n)) if Some(n) == interaction.response.body["totalTokens"].as_u64() => Ok(()),
            (s, Err(Error::ModelHttp { status, .. })) if s == status => Ok(()),
            (_, other) => Err(format!("count_tokens gave {other:?}")),
        };
    }
    let stream = method == "streamGenerateContent";
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
    sent_check(&server)?;
    if status >= 400 {
        return match result {
            Err(Error::ModelHttp { status: s, .. }) if s == status => Ok(()),
            other => Err(format!("expected HTTP {status}, got {other:?}")),
        };
    }
    let expected = if stream {
        let text =
            String::from_utf8_lossy(&body_bytes(&interaction.response)).replace("\r\n", "\n");
        let chunks: Vec<Value> = text
            .split("\n\n")
            .filter_map(|c| {
                c.lines()
                    .find_map(|l| l.strip_prefix("data:"))
                    .and_then(|d| serde_json::from_str(d.trim()).ok())
            })
            .collect();
        expected_from(&chunks)
    } else {
        expected_from(std::slice::from_ref(&interaction.response.body))
    };
    compare_response(
        &expected,
        &result.map_err(|e| format!("expected a response, got {e}"))?,
    )
}

type Reversed = (Vec<ModelMessage>, ModelSettings, ModelRequestParameters);

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
                    let args = match &call["args"] {
                        Value::Object(o) => ToolCallArgs::Object(o.clone()),
                        _ => ToolCallArgs::Object(Map::new()),
                    };
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
                let data = base64::engine::general_purpose::STANDARD
                    .decode(d["data"].as_str().unwrap_or_default())
                    .or_else(|_| {
                        base64::engine::general_purpose::URL_SAFE
                            .decode(d["data"].as_str().unwrap_or_default())
                    })
                    .map_err(|e| e.to_string())?;
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
                    let text = err.strip_suffix(RETRY_SUFFIX).unwrap_or(err).to_owned();
                    request_parts.push(ModelRequestPart::RetryPrompt(RetryPromptPart::new(
                        Value::String(text),
                        Some(name),
                        id,
                    )));
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
                    let to_media = |mp: &Value,
                                    identifier: Option<&str>|
                     -> Result<Value, String> {
                        let item = if let Some(d) = mp.get("inlineData") {
                            let raw = d["data"].as_str().unwrap_or_default();
                            let data = base64::engine::general_purpose::STANDARD
                                .decode(raw)
                                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(raw))
                                .map_err(|e| e.to_string())?;
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
            "stopSequences" => {
                settings.stop_sequences = v.as_array().map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
            }
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

fn compare(sent: &Value, recorded: &Value) -> Result<(), String> {
    super::compare_bodies(sent, recorded, "contents")
}

#[derive(Debug, Default)]
struct ExpectedResponse {
    text: String,
    thinking: String,
    calls: Vec<(String, Value, Option<String>)>,
    other: usize,
    input_tokens: u64,
    output_tokens: u64,
    cache_read: u64,
    finish: Option<String>,
    id: Option<String>,
}

fn expected_from(chunks: &[Value]) -> ExpectedResponse {
    let mut e = ExpectedResponse::default();
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
                    e.calls.push((
                        call["name"].as_str().unwrap_or_default().into(),
                        call.get("args").cloned().unwrap_or(json!({})),
                        call["id"].as_str().map(str::to_owned),
                    ));
                } else if p.as_object().is_some_and(|o| !o.is_empty()) {
                    e.other += 1;
                }
            }
            if let Some(r) = c["finishReason"].as_str() {
                e.finish = Some(
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
            e.cache_read = n("cachedContentTokenCount");
        }
    }
    e
}

fn compare_response(e: &ExpectedResponse, r: &ModelResponse) -> Result<(), String> {
    let (mut text, mut thinking, mut calls, mut other) =
        (String::new(), String::new(), Vec::new(), 0);
    for p in &r.parts {
        match p {
            ModelResponsePart::Text(t) => text.push_str(&t.content),
            ModelResponsePart::Thinking(t) => thinking.push_str(&t.content),
            ModelResponsePart::ToolCall(c) => calls.push(c),
            ModelResponsePart::Unknown(_) => other += 1,
        }
    }
    same("text", &text, &e.text)?;
    same("thinking", &thinking, &e.thinking)?;
    same("other parts", &other, &e.other)?;
    same_tool_calls(
        &calls,
        e.calls
            .iter()
            .map(|(name, args, id)| (name, args, id.as_ref())),
    )?;
    let u = &r.usage;
    same("input tokens", &u.input_tokens, &e.input_tokens)?;
    same("output tokens", &u.output_tokens, &e.output_tokens)?;
    same("cache read", &u.cache_read_tokens, &e.cache_read)?;
    let fr = r.finish_reason.as_ref().map(|f| f.as_str().to_owned());
    same("finish reason", &fr, &e.finish)?;
    same("response id", &r.provider_response_id, &e.id)?;
    Ok(())
}
