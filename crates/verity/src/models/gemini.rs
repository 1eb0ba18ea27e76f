//! Google Gemini: `generateContent` and `streamGenerateContent?alt=sse`, on the Gemini
//! API (`google-gla`) and Vertex AI (`google-vertex`).
//!
//! ```no_run
//! use verity::prelude::*;
//! use verity::models::gemini::GeminiModel;
//! use verity::providers::google_gla::GoogleGlaProvider;
//!
//! # async fn demo() -> verity::Result<()> {
//! let model = GeminiModel::new("gemini-2.5-flash", GoogleGlaProvider::from_env()?);
//! let agent = Agent::builder(model).build();
//! println!("{}", agent.run("Hello!").await?.output);
//! # Ok(()) }
//! ```
//!
//! Gemini-specific request fields (`safetySettings`, `toolConfig`, `cachedContent`,
//! `labels`, `generationConfig.thinkingConfig`, built-in tools) go in
//! [`ModelSettings::extra_body`] in the API's shape. Thought signatures are kept on the
//! parts they came with and sent back to Google; parts Verity does not model
//! (executable code, code execution results, server tool calls) are kept raw.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::http::HttpRequest;
use crate::messages::{
    FinishReason, ModelMessage, ModelRequestPart, ModelResponse, ModelResponsePart, TextPart,
    ToolCallArgs, ToolCallPart, ToolOutcome, UserContent, UserPrompt,
};
use crate::model::{Model, ModelProfile, ModelRequestParameters, ToolDefinition};
use crate::models::wire::{Fragment, Fragments};
use crate::output::OutputMode;
use crate::providers::{Credentials, Provider};
use crate::settings::{ModelSettings, ToolChoice, merge_json};
use crate::stream::{
    ModelStreamEvent, PartsManager, ResponseAccumulator, ResponseMetadata, ResponseStream,
};
use crate::usage::RequestUsage;

/// The key under which a raw Gemini part is kept.
pub const RAW_PART: &str = "gemini_part";
/// The key under which a part's thought signature is kept in `provider_details`.
pub const THOUGHT_SIGNATURE: &str = "thought_signature";

/// A Gemini model on the Gemini API or Vertex AI.
#[derive(Clone)]
pub struct GeminiModel {
    model_name: String,
    provider: Provider,
    profile: ModelProfile,
    settings: Option<ModelSettings>,
    /// Function declarations and response schemas as this model sends them.
    fragments: Arc<Fragments>,
}

impl std::fmt::Debug for GeminiModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiModel")
            .field("model_name", &self.model_name)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl GeminiModel {
    /// `model_name` on `provider`.
    pub fn new(model_name: impl Into<String>, provider: Provider) -> Self {
        let model_name = model_name.into();
        let profile = provider.model_profile(&model_name);
        GeminiModel {
            model_name,
            provider,
            profile,
            settings: None,
            fragments: Arc::default(),
        }
    }

    /// Authenticate each request with a fresh header value from `credentials` (Google
    /// OAuth tokens for Vertex AI: see `providers::google_vertex`, feature `vertex`).
    pub fn with_credentials(mut self, credentials: Arc<dyn Credentials>) -> Self {
        self.provider = self.provider.with_credentials(credentials);
        self
    }

    /// Add the provider's per-request credentials, when it has some.
    async fn authorize(&self, request: &mut HttpRequest) -> Result<()> {
        self.provider.authorize(request, &self.model_name).await
    }

    /// Settings applied under the agent's and the run's.
    pub fn with_settings(mut self, settings: ModelSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Whether function responses carry media themselves (Gemini 3, Vertex AI); older
    /// models get them in a user turn after the response.
    fn function_response_parts(&self) -> bool {
        self.model_name.starts_with("gemini-3") || self.provider.name() == "google-vertex"
    }

    fn is_google(name: Option<&str>) -> bool {
        name.is_some_and(|n| n.starts_with("google"))
    }

    /// The JSON body of a request.
    pub fn build_request_body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<Value> {
        let body = serde_json::to_value(self.generate_request(messages, settings, params)?)?;
        Ok(match &settings.extra_body {
            Some(extra) => merge_json(body, extra),
            None => body,
        })
    }

    /// The JSON body of a request as the bytes that are sent: written straight from the
    /// history and the cached function declarations, without the intermediate `Value`
    /// of [`build_request_body`](Self::build_request_body) (unless the settings carry
    /// an `extra_body` to merge in).
    pub fn serialize_request_body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<Vec<u8>> {
        let body = self.wire_body(messages, settings, params)?;
        Ok(serde_json::to_vec(&body)?)
    }

    /// The body to send: a [`GenerateRequest`] written directly, or the `Value` with
    /// the settings' `extra_body` merged in.
    fn wire_body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<WireBody> {
        Ok(if settings.extra_body.is_some() {
            WireBody::Merged(self.build_request_body(messages, settings, params)?)
        } else {
            WireBody::Direct(self.generate_request(messages, settings, params)?)
        })
    }

    fn generate_request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<GenerateRequest> {
        let (system_parts, contents) = self.map_messages(messages);
        let mut fields = Map::new();
        fields.insert("contents".into(), Value::Array(contents));
        if !system_parts.is_empty() {
            fields.insert(
                "systemInstruction".into(),
                json!({"role": "user", "parts": system_parts}),
            );
        }
        let mut declarations =
            Vec::with_capacity(params.function_tools.len() + params.output_tools.len());
        for tool in params.all_tools() {
            declarations.push(self.fragments.tools.get(tool, function_declaration)?);
        }
        if !declarations.is_empty()
            && let Some(c) = function_calling_config(settings, params)
        {
            fields.insert("toolConfig".into(), json!({"functionCallingConfig": c}));
        }
        let response_schema = match (params.output_mode, &params.output_object) {
            (OutputMode::Native, Some(obj)) => Some(
                self.fragments
                    .output_schemas
                    .get(obj, |o| crate::schema::gemini_schema(&o.json_schema))?,
            ),
            _ => None,
        };
        Ok(GenerateRequest {
            fields,
            declarations,
            generation: generation_config(settings, params),
            response_schema,
        })
    }

    /// The system parts (instructions first, then system prompts) and the contents:
    /// one content per message, plus a user turn for files tools returned when the
    /// model takes none in function responses.
    fn map_messages(&self, messages: &[ModelMessage]) -> (Vec<Value>, Vec<Value>) {
        let mut system_parts: Vec<Value> = Vec::new();
        if let Some(ins) = messages
            .iter()
            .rev()
            .find_map(ModelMessage::as_request)
            .and_then(|r| r.instructions.as_deref())
        {
            system_parts.push(json!({"text": ins}));
        }
        let mut contents: Vec<Value> = Vec::new();
        for message in messages {
            match message {
                ModelMessage::Request(r) => {
                    let (parts, after_parts) = self.request_parts(r, &mut system_parts);
                    if !parts.is_empty() {
                        contents.push(json!({"role": "user", "parts": parts}));
                    }
                    // files a tool returned, for models that take no media in function responses
                    if !after_parts.is_empty() {
                        contents.push(json!({"role": "user", "parts": after_parts}));
                    }
                }
                ModelMessage::Response(r) => {
                    let parts = self.model_parts(r);
                    if !parts.is_empty() {
                        contents.push(json!({"role": "model", "parts": parts}));
                    }
                }
            }
        }
        (system_parts, contents)
    }

    /// The parts of a request's user content, and the parts to send after it.
    fn request_parts(
        &self,
        r: &crate::messages::ModelRequest,
        system_parts: &mut Vec<Value>,
    ) -> (Vec<Value>, Vec<Value>) {
        let mut parts = Vec::new();
        let mut after_parts = Vec::new();
        for part in &r.parts {
            match part {
                ModelRequestPart::SystemPrompt(p) => system_parts.push(json!({"text": p.content})),
                ModelRequestPart::UserPrompt(p) => user_parts(&p.content, &mut parts),
                ModelRequestPart::ToolReturn(p) if p.outcome == ToolOutcome::Retried => {
                    let response = json!({"error": p.model_response_str()});
                    parts.push(json!({"functionResponse": {"id": p.tool_call_id, "name": p.tool_name, "response": response}}));
                }
                ModelRequestPart::ToolReturn(p) => {
                    parts.push(self.function_response(p, &mut after_parts));
                }
                ModelRequestPart::RetryPrompt(p) => match &p.tool_name {
                    Some(name) => parts.push(json!({"functionResponse": {
                        "id": p.tool_call_id, "name": name, "response": {"error": p.model_response_str()}
                    }})),
                    None => parts.push(json!({"text": p.model_response_str()})),
                },
                ModelRequestPart::Unknown(_) => {}
            }
        }
        (parts, after_parts)
    }

    /// A tool's result: an object is the response itself, anything else is wrapped;
    /// media ride in the response's parts or follow in `after_parts`.
    fn function_response(
        &self,
        p: &crate::messages::ToolReturnPart,
        after_parts: &mut Vec<Value>,
    ) -> Value {
        let (values, media) = split_media(&p.content);
        let mut response = Map::new();
        match values {
            Some(Value::Object(o)) if media.is_empty() => response = o,
            Some(v) => {
                response.insert("return_value".into(), v);
            }
            None => {}
        }
        let mut call = Map::new();
        call.insert("id".into(), json!(p.tool_call_id));
        call.insert("name".into(), json!(p.tool_name));
        let mut inline = Vec::new();
        let mut files = Vec::new();
        for m in &media {
            let (id, part) = media_part(m);
            if self.function_response_parts() && takes_inline(m) {
                inline.push(part);
            } else {
                files.push(json!(format!("See file {id}.")));
                after_parts.push(json!({"text": format!("This is file {id}:")}));
                after_parts.push(part);
            }
        }
        if !inline.is_empty() {
            call.insert("parts".into(), Value::Array(inline));
        }
        if !files.is_empty() {
            response.insert("files".into(), Value::Array(files));
        }
        call.insert("response".into(), Value::Object(response));
        json!({"functionResponse": call})
    }

    fn model_parts(&self, response: &ModelResponse) -> Vec<Value> {
        let mut parts = Vec::new();
        let signature_of = |details: &Option<Map<String, Value>>| {
            details
                .as_ref()
                .and_then(|d| d.get(THOUGHT_SIGNATURE))
                .cloned()
        };
        let signed = |mut p: Map<String, Value>, sig: Option<Value>| {
            if let Some(sig) = sig {
                p.insert("thoughtSignature".into(), sig);
            }
            Value::Object(p)
        };
        for part in &response.parts {
            match part {
                ModelResponsePart::Text(t) => {
                    let sig = signature_of(&t.provider_details)
                        .filter(|_| Self::is_google(t.provider_name.as_deref()));
                    parts.push(signed(
                        Map::from_iter([("text".to_owned(), json!(t.content))]),
                        sig,
                    ));
                }
                ModelResponsePart::ToolCall(c) => {
                    let args = c.args.to_value().unwrap_or_else(|_| json!({}));
                    let call = json!({"id": c.tool_call_id, "name": c.tool_name, "args": args});
                    let sig = signature_of(&c.provider_details)
                        .filter(|_| Self::is_google(c.provider_name.as_deref()));
                    parts.push(signed(
                        Map::from_iter([("functionCall".to_owned(), call)]),
                        sig,
                    ));
                }
                ModelResponsePart::Thinking(t) if Self::is_google(t.provider_name.as_deref()) => {
                    let p = Map::from_iter([
                        ("text".to_owned(), json!(t.content)),
                        ("thought".to_owned(), json!(true)),
                    ]);
                    parts.push(signed(p, t.signature.clone().map(Value::String)));
                }
                ModelResponsePart::Thinking(_) => {}
                ModelResponsePart::Unknown(map) => {
                    if Self::is_google(map.get("provider_name").and_then(Value::as_str))
                        && let Some(raw) = map.get("provider_details").and_then(|d| d.get(RAW_PART))
                    {
                        parts.push(raw.clone());
                    }
                }
            }
        }
        parts
    }

    fn http_request(
        &self,
        body: &impl serde::Serialize,
        settings: &ModelSettings,
        method: &str,
    ) -> Result<HttpRequest> {
        let path = format!("/models/{}:{method}", self.model_name);
        self.provider
            .json_request(&path, &self.model_name, body, settings)
    }

    /// Parse a non-streamed response body.
    pub fn parse_response(&self, body: &[u8]) -> Result<ModelResponse> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Error::unexpected_body(format!("invalid Gemini response: {e}"), body))?;
        if value.get("candidates").is_none() && value.get("usageMetadata").is_none() {
            return Err(Error::unexpected_body(
                "invalid Gemini response: no `candidates`",
                body,
            ));
        }
        let mut state = ChunkProcessor::new(self.provider.name());
        let mut acc = ResponseAccumulator::new();
        for e in state.chunk(&value) {
            acc.apply(e)?;
        }
        Ok(self.finish(acc.finish()))
    }

    fn finish(&self, mut response: ModelResponse) -> ModelResponse {
        response.provider_name = Some(self.provider.name().to_owned());
        response.provider_url = Some(self.provider.public_base_url().to_owned());
        if response.model_name.is_none() {
            response.model_name = Some(self.model_name.clone());
        }
        response
    }
}

/// A tool's `functionDeclarations` entry.
fn function_declaration(t: &ToolDefinition) -> Value {
    let mut d = Map::new();
    d.insert("name".into(), json!(t.name));
    d.insert(
        "description".into(),
        json!(t.description.clone().unwrap_or_default()),
    );
    d.insert(
        "parametersJsonSchema".into(),
        crate::schema::gemini_schema(&t.parameters_json_schema),
    );
    for (k, v) in &t.extra_fields {
        d.insert(k.clone(), v.clone());
    }
    Value::Object(d)
}

/// `toolConfig.functionCallingConfig` from the settings, or `ANY` of every tool when
/// only an output tool may end the run.
fn function_calling_config(
    settings: &ModelSettings,
    params: &ModelRequestParameters,
) -> Option<Value> {
    match &settings.tool_choice {
        Some(ToolChoice::Auto) => Some(json!({"mode": "AUTO"})),
        Some(ToolChoice::None) => Some(json!({"mode": "NONE"})),
        Some(ToolChoice::Required) => Some(json!({"mode": "ANY"})),
        Some(ToolChoice::Tools(allowed)) => {
            Some(json!({"mode": "ANY", "allowedFunctionNames": allowed}))
        }
        None if !params.allow_text_output && !params.output_tools.is_empty() => {
            let names: Vec<&str> = params.all_tools().map(|t| t.name.as_str()).collect();
            Some(json!({"mode": "ANY", "allowedFunctionNames": names}))
        }
        None => None,
    }
}

/// `generationConfig`: sampling settings, and the output schema in native mode.
fn generation_config(
    settings: &ModelSettings,
    params: &ModelRequestParameters,
) -> Map<String, Value> {
    let mut generation = Map::new();
    if let Some(v) = settings.max_tokens {
        generation.insert("maxOutputTokens".into(), json!(v));
    }
    for (key, value) in [
        ("temperature", settings.temperature),
        ("topP", settings.top_p),
        ("presencePenalty", settings.presence_penalty),
        ("frequencyPenalty", settings.frequency_penalty),
    ] {
        if let Some(v) = value {
            generation.insert(key.into(), json!(v));
        }
    }
    if let Some(seed) = settings.seed {
        generation.insert("seed".into(), json!(seed));
    }
    if let Some(stop) = &settings.stop_sequences {
        generation.insert("stopSequences".into(), json!(stop));
    }
    match (params.output_mode, &params.output_object) {
        // the schema itself (`responseJsonSchema`) is written from the model's cache
        (OutputMode::Native, Some(_)) | (OutputMode::Prompted, _) => {
            generation.insert("responseMimeType".into(), json!("application/json"));
        }
        _ => {}
    }
    generation
}

/// A `generateContent` body: the top-level fields as JSON, the function declarations
/// and the response schema written from the model's cached fragments.
struct GenerateRequest {
    fields: Map<String, Value>,
    declarations: Vec<Fragment>,
    generation: Map<String, Value>,
    response_schema: Option<Fragment>,
}

impl serde::Serialize for GenerateRequest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        #[derive(serde::Serialize)]
        struct Tools<'a> {
            #[serde(rename = "functionDeclarations")]
            function_declarations: &'a [Fragment],
        }
        struct Generation<'a>(&'a Map<String, Value>, Option<&'a Fragment>);
        impl serde::Serialize for Generation<'_> {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(None)?;
                for (key, value) in self.0 {
                    map.serialize_entry(key, value)?;
                }
                if let Some(schema) = self.1 {
                    map.serialize_entry("responseJsonSchema", schema)?;
                }
                map.end()
            }
        }
        let mut map = s.serialize_map(None)?;
        for (key, value) in &self.fields {
            map.serialize_entry(key, value)?;
        }
        if !self.declarations.is_empty() {
            map.serialize_entry(
                "tools",
                &[Tools {
                    function_declarations: &self.declarations,
                }],
            )?;
        }
        map.serialize_entry(
            "generationConfig",
            &Generation(&self.generation, self.response_schema.as_ref()),
        )?;
        map.end()
    }
}

/// A request body as sent.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum WireBody {
    Direct(GenerateRequest),
    Merged(Value),
}

fn user_parts(prompt: &UserPrompt, parts: &mut Vec<Value>) {
    let items = match prompt {
        UserPrompt::Text(t) => {
            parts.push(json!({"text": t}));
            return;
        }
        UserPrompt::Parts(items) => items,
    };
    for item in items {
        match item {
            UserContent::Text(t) => parts.push(json!({"text": t})),
            UserContent::Binary(b) => {
                parts.push(json!({"inlineData": {"mimeType": b.media_type, "data": b.base64()}}))
            }
            UserContent::ImageUrl(u)
            | UserContent::AudioUrl(u)
            | UserContent::VideoUrl(u)
            | UserContent::DocumentUrl(u) => {
                let mime = u.media_type().unwrap_or_else(|| match item {
                    UserContent::ImageUrl(_) => "image/jpeg".into(),
                    UserContent::AudioUrl(_) => "audio/mpeg".into(),
                    UserContent::VideoUrl(_) => "video/mp4".into(),
                    _ => "application/pdf".into(),
                });
                parts.push(json!({"fileData": {"fileUri": u.url, "mimeType": mime}}));
                if let Some(meta) = u
                    .extra
                    .get("vendor_metadata")
                    .and_then(|v| v.get("video_metadata").or_else(|| v.get("videoMetadata")))
                {
                    parts.push(json!({"videoMetadata": meta}));
                }
            }
            UserContent::UploadedFile(f) => {
                let mime = f
                    .media_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into());
                parts.push(json!({"fileData": {"fileUri": f.file_id, "mimeType": mime}}));
            }
            UserContent::Unknown(map) => {
                if let Some(raw) = map.get(RAW_PART) {
                    parts.push(raw.clone());
                }
            }
            UserContent::CachePoint(_) => {}
        }
    }
}

/// Whether a file can ride inside a function response (images and PDFs can; audio and
/// video go in a user turn after it).
fn takes_inline(item: &UserContent) -> bool {
    let mime = match item {
        UserContent::Binary(b) => Some(b.media_type.clone()),
        UserContent::ImageUrl(u) | UserContent::DocumentUrl(u) => u.media_type(),
        UserContent::UploadedFile(f) => f.media_type.clone(),
        _ => None,
    };
    mime.is_some_and(|m| m.starts_with("image/") || m == "application/pdf")
}

fn is_media(v: &Value) -> bool {
    matches!(
        v.get("kind").and_then(Value::as_str),
        Some("binary" | "image-url" | "audio-url" | "video-url" | "document-url" | "uploaded-file")
    )
}

/// A tool's return split into the values (`None` when there are only media) and the
/// media items (`{"kind": "binary", …}` and the like).
fn split_media(content: &Value) -> (Option<Value>, Vec<UserContent>) {
    let items: Vec<&Value> = match content {
        Value::Array(items) if items.iter().any(is_media) => items.iter().collect(),
        v if is_media(v) => vec![v],
        other => return (Some(other.clone()), Vec::new()),
    };
    let mut values = Vec::new();
    let mut media = Vec::new();
    for item in items {
        match is_media(item)
            .then(|| serde_json::from_value::<UserContent>(item.clone()).ok())
            .flatten()
        {
            Some(m) => media.push(m),
            None => values.push(item.clone()),
        }
    }
    let values = match values.len() {
        0 => None,
        _ if !content.is_array() => values.pop(),
        _ => Some(Value::Array(values)),
    };
    (values, media)
}

/// The short identifier PydanticAI gives a file (the first six hex digits of the SHA-1 of
/// its bytes or URL), and the part that carries it.
fn media_part(item: &UserContent) -> (String, Value) {
    let hash = |bytes: &[u8]| {
        sha1_smol::Sha1::from(bytes)
            .digest()
            .to_string()
            .chars()
            .take(6)
            .collect::<String>()
    };
    let mut parts = Vec::new();
    user_parts(&UserPrompt::Parts(vec![item.clone()]), &mut parts);
    let id = match item {
        UserContent::Binary(b) => b
            .extra
            .get("identifier")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| hash(&b.data)),
        UserContent::ImageUrl(u)
        | UserContent::AudioUrl(u)
        | UserContent::VideoUrl(u)
        | UserContent::DocumentUrl(u) => u
            .extra
            .get("identifier")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| hash(u.url.as_bytes())),
        UserContent::UploadedFile(f) => hash(f.file_id.as_bytes()),
        _ => String::new(),
    };
    (id, parts.into_iter().next().unwrap_or(Value::Null))
}

/// Turns response chunks (a whole response is one chunk) into stream events.
struct ChunkProcessor {
    provider: String,
    parts: PartsManager,
    raw_count: usize,
    call_count: usize,
    seen_id: bool,
}

impl ChunkProcessor {
    fn new(provider: &str) -> Self {
        ChunkProcessor {
            provider: provider.to_owned(),
            parts: PartsManager::new(),
            raw_count: 0,
            call_count: 0,
            seen_id: false,
        }
    }

    fn chunk(&mut self, value: &Value) -> Vec<ModelStreamEvent> {
        let mut events = Vec::new();
        let first = !self.seen_id;
        self.seen_id = true;
        let mut details = Map::new();
        let candidate = value.get("candidates").and_then(|c| c.get(0));
        let mut finish = None;
        if let Some(c) = candidate {
            for key in [
                "safetyRatings",
                "groundingMetadata",
                "citationMetadata",
                "urlContextMetadata",
                "logprobsResult",
                "avgLogprobs",
            ] {
                if let Some(v) = c.get(key) {
                    details.insert(key.into(), v.clone());
                }
            }
            if let Some(reason) = c.get("finishReason").and_then(Value::as_str) {
                details.insert("finish_reason".into(), json!(reason));
                finish = Some(map_finish_reason(reason));
            }
            for part in c
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.part(part, &mut events);
            }
        }
        if let Some(u) = value.get("usageMetadata") {
            events.push(ModelStreamEvent::Usage(map_usage(u)));
        }
        let timestamp = value
            .get("createTime")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        events.push(ModelStreamEvent::Metadata(ResponseMetadata {
            model_name: value
                .get("modelVersion")
                .and_then(Value::as_str)
                .filter(|_| first)
                .map(str::to_owned),
            provider_response_id: value
                .get("responseId")
                .and_then(Value::as_str)
                .filter(|_| first)
                .map(str::to_owned),
            finish_reason: finish,
            provider_details: (!details.is_empty()).then_some(details),
            timestamp,
            ..Default::default()
        }));
        events
    }

    fn part(&mut self, part: &Value, events: &mut Vec<ModelStreamEvent>) {
        let signature = part
            .get("thoughtSignature")
            .or_else(|| part.get("thought_signature"))
            .cloned();
        if let Some(text) = part.get("text").and_then(Value::as_str) {
            if part.get("thought").and_then(Value::as_bool) == Some(true) {
                let mut e = self.parts.thinking_delta(
                    Some("thought"),
                    Some(text),
                    signature.as_ref().and_then(Value::as_str),
                );
                if e.is_none() && signature.is_some() {
                    e = self.parts.thinking_delta(
                        Some("thought"),
                        None,
                        signature.as_ref().and_then(Value::as_str),
                    );
                }
                if let Some(ModelStreamEvent::PartStart {
                    part: ModelResponsePart::Thinking(t),
                    ..
                }) = &mut e
                {
                    t.provider_name = Some(self.provider.clone());
                }
                events.extend(e);
                return;
            }
            match signature {
                // a signed text part starts a part of its own: its signature must go back with it
                Some(sig) => {
                    let mut t = TextPart::new(text);
                    t.provider_name = Some(self.provider.clone());
                    t.provider_details =
                        Some(Map::from_iter([(THOUGHT_SIGNATURE.to_owned(), sig)]));
                    events.push(
                        self.parts
                            .whole_part(Some("text"), ModelResponsePart::Text(t)),
                    );
                }
                None => events.extend(self.parts.text_delta(Some("text"), text)),
            }
            return;
        }
        if let Some(call) = part
            .get("functionCall")
            .or_else(|| part.get("function_call"))
        {
            let args = match call.get("args") {
                Some(Value::Object(o)) => ToolCallArgs::Object(o.clone()),
                _ => ToolCallArgs::Object(Map::new()),
            };
            let mut c = ToolCallPart::new(
                call.get("name").and_then(Value::as_str).unwrap_or_default(),
                args,
                call.get("id").and_then(Value::as_str).unwrap_or_default(),
            );
            c.provider_name = Some(self.provider.clone());
            if let Some(sig) = signature {
                c.provider_details = Some(Map::from_iter([(THOUGHT_SIGNATURE.to_owned(), sig)]));
            }
            self.call_count += 1;
            let vendor = format!("call_{}", self.call_count);
            events.push(
                self.parts
                    .whole_part(Some(&vendor), ModelResponsePart::ToolCall(c)),
            );
            return;
        }
        if part.get("inlineData").is_some() || part.as_object().is_some_and(|o| !o.is_empty()) {
            let kind = if part.get("toolCall").is_some() || part.get("executableCode").is_some() {
                "builtin-tool-call"
            } else if part.get("toolResponse").is_some()
                || part.get("codeExecutionResult").is_some()
            {
                "builtin-tool-return"
            } else {
                "provider-block"
            };
            let mut map = Map::new();
            map.insert("part_kind".into(), json!(kind));
            map.insert("provider_name".into(), json!(self.provider));
            map.insert("provider_details".into(), json!({ RAW_PART: part }));
            self.raw_count += 1;
            let vendor = format!("raw_{}", self.raw_count);
            events.push(
                self.parts
                    .whole_part(Some(&vendor), ModelResponsePart::Unknown(map)),
            );
        }
    }
}

fn map_finish_reason(reason: &str) -> FinishReason {
    match reason {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" => FinishReason::Error,
        other => FinishReason::Other(other.to_owned()),
    }
}

fn map_usage(u: &Value) -> RequestUsage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut usage = RequestUsage {
        input_tokens: n("promptTokenCount") + n("toolUsePromptTokenCount"),
        output_tokens: n("candidatesTokenCount") + n("thoughtsTokenCount"),
        cache_read_tokens: n("cachedContentTokenCount"),
        ..Default::default()
    };
    for (key, name) in [
        ("thoughtsTokenCount", "thoughts_tokens"),
        ("toolUsePromptTokenCount", "tool_use_prompt_tokens"),
    ] {
        if n(key) > 0 {
            usage.details.insert(name.into(), n(key));
        }
    }
    usage
}

impl Model for GeminiModel {
    async fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ModelResponse> {
        let body = self.wire_body(messages, settings, params)?;
        let mut request = self.http_request(&body, settings, "generateContent")?;
        self.authorize(&mut request).await?;
        let client = self.provider.client();
        let bytes = client.post_for_body(&request, &self.model_name).await?;
        self.parse_response(&bytes)
    }

    async fn request_stream(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ResponseStream> {
        let body = self.wire_body(messages, settings, params)?;
        let mut request = self.http_request(&body, settings, "streamGenerateContent")?;
        request.url.push_str(if request.url.contains('?') {
            "&alt=sse"
        } else {
            "?alt=sse"
        });
        self.authorize(&mut request).await?;
        let client = self.provider.client();
        let events = client
            .post_for_events(&request, &self.model_name, settings.stream_idle_timeout)
            .await?;
        let model_name = self.model_name.clone();
        let provider = self.provider.clone();
        let stream = async_stream::try_stream! {
            let mut state = ChunkProcessor::new(provider.name());
            let mut finished = false;
            futures::pin_mut!(events);
            while let Some(event) = events.next().await {
                let event = event?;
                if event.data.trim().is_empty() {
                    continue;
                }
                let chunk: Value = serde_json::from_str(&event.data).map_err(|e| Error::unexpected_body(format!("invalid Gemini stream chunk: {e}"), event.data.as_bytes()))?;
                if let Some(err) = chunk.get("error") {
                    let status = err.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).unwrap_or(500);
                    Err(Error::ModelHttp { status, model_name: model_name.clone(), body: event.data.clone(), retry_after: None })?;
                }
                if chunk.pointer("/candidates/0/finishReason").is_some() {
                    finished = true;
                }
                for e in state.chunk(&chunk) {
                    yield e;
                }
            }
            if !finished {
                Err(Error::ModelApi { model_name: model_name.clone(), message: "the event stream ended before a finish reason".into() })?;
            }
            yield ModelStreamEvent::Metadata(ResponseMetadata {
                provider_name: Some(provider.name().to_owned()),
                provider_url: Some(provider.public_base_url().to_owned()),
                ..Default::default()
            });
        };
        Ok(Box::pin(stream))
    }

    async fn count_tokens(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<u64> {
        let body = self.wire_body(messages, settings, params)?;
        let mut request = self.http_request(&body, settings, "countTokens")?;
        self.authorize(&mut request).await?;
        let client = self.provider.client();
        let bytes = client.post_for_body(&request, &self.model_name).await?;
        crate::models::wire::token_count(&bytes, "countTokens", "totalTokens")
    }

    fn model_name(&self) -> &str {
        &self.model_name
    }

    fn system(&self) -> &str {
        self.provider.name()
    }

    fn profile(&self) -> &ModelProfile {
        &self.profile
    }

    fn settings(&self) -> Option<&ModelSettings> {
        self.settings.as_ref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::messages::ModelRequest;
    use crate::model::OutputObjectDefinition;

    /// The body written from cached fragments is the `Value` body, and a changed
    /// definition is sent as it is now, never as it was cached.
    #[test]
    fn cached_declarations_follow_changes() {
        let provider = crate::providers::google_gla::GoogleGlaProvider::builder()
            .api_key("k")
            .build()
            .unwrap();
        let m = GeminiModel::new("gemini-2.5-flash", provider);
        let messages = [ModelMessage::Request(ModelRequest::user_prompt("hi"))];
        let settings = ModelSettings::default();
        let mut params = ModelRequestParameters {
            function_tools: vec![ToolDefinition::new(
                "t",
                json!({"$schema": "x", "type": "object"}),
            )],
            output_mode: OutputMode::Native,
            output_object: Some(OutputObjectDefinition {
                name: "o".into(),
                description: None,
                json_schema: json!({"$id": "y", "type": "object"}),
                strict: None,
            }),
            ..Default::default()
        };
        let sent = |p: &ModelRequestParameters| {
            let direct =
                serde_json::to_value(m.wire_body(&messages, &settings, p).unwrap()).unwrap();
            assert_eq!(
                direct,
                m.build_request_body(&messages, &settings, p).unwrap()
            );
            direct
        };
        let first = sent(&params);
        let declaration = &first["tools"][0]["functionDeclarations"][0];
        assert_eq!(
            declaration["parametersJsonSchema"],
            json!({"type": "object"})
        );
        assert_eq!(
            first["generationConfig"]["responseJsonSchema"],
            json!({"type": "object"})
        );
        assert_eq!(
            first["generationConfig"]["responseMimeType"],
            "application/json"
        );
        params.function_tools[0].name = "u".into();
        assert_eq!(
            sent(&params)["tools"][0]["functionDeclarations"][0]["name"],
            "u"
        );
    }
}
