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

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::http::HttpRequest;
use crate::messages::{
    FinishReason, ModelMessage, ModelRequestPart, ModelResponse, ModelResponsePart, RetryRendering,
    TextPart, ToolCallArgs, ToolCallPart, UserContent, UserPrompt, frame_for_wire, system_tagged,
};
use crate::model::{Model, ModelProfile, ModelRequestParameters, ToolDefinition};
use crate::models::wire::{Base64, CallArgs, Fragment, Fragments, is_media, media_id, split_media};
use crate::output::OutputMode;
use crate::profiles::ThinkingStyle;
use crate::providers::{Credentials, Provider};
use crate::request::NativeTool;
use crate::settings::{ModelSettings, Thinking, ThinkingEffort, ToolChoice};
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
    pub fn new(model_name: impl Into<String>, provider: impl Into<Provider>) -> Self {
        let provider: Provider = provider.into();
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

    /// The Gemini API fetches only YouTube videos and its own uploaded files by URL:
    /// other web URLs are downloaded (under the provider's download policy) and sent as
    /// bytes. Vertex AI fetches web URLs itself.
    async fn inline_web_media<'a>(
        &self,
        messages: &'a [ModelMessage],
    ) -> Result<std::borrow::Cow<'a, [ModelMessage]>> {
        if self.provider.name() == "google-vertex" {
            return Ok(std::borrow::Cow::Borrowed(messages));
        }
        let fetches_itself = |url: &str| {
            [
                "youtube.com/",
                "youtu.be/",
                "generativelanguage.googleapis.com/",
            ]
            .iter()
            .any(|host| url.contains(host))
        };
        crate::models::wire::inline_media(
            messages,
            |item| match item {
                UserContent::ImageUrl(u)
                | UserContent::AudioUrl(u)
                | UserContent::VideoUrl(u)
                | UserContent::DocumentUrl(u) => {
                    crate::models::wire::is_web_url(&u.url) && !fetches_itself(&u.url)
                }
                _ => false,
            },
            self.provider.client().download_policy(),
        )
        .await
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

    /// The JSON body of a request, built as a `Value` (the reference the bytes of
    /// [`serialize_request_body`](Self::serialize_request_body) are tested against;
    /// bodies with an `extra_body` use it).
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn build_request_body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<Value> {
        let messages = &*frame_for_wire(messages, self.profile.system_role);
        crate::models::wire::body_value(
            self.generate_request(messages, settings, params, false)?,
            settings,
        )
    }

    /// The JSON body of a request as the bytes that are sent: written straight from the
    /// history and the cached function declarations, without the intermediate `Value`
    /// of [`build_request_body`](Self::build_request_body) (unless the settings carry
    /// an `extra_body` to merge in).
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn serialize_request_body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<Vec<u8>> {
        let messages = &*frame_for_wire(messages, self.profile.system_role);
        let body = self.wire_body(messages, settings, params)?;
        Ok(serde_json::to_vec(&body)?)
    }

    /// The body to send: a [`GenerateRequest`] written directly, or the `Value` with
    /// the settings' `extra_body` merged in.
    fn wire_body<'a>(
        &self,
        messages: &'a [ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<WireBody<'a>> {
        Ok(if settings.extra_body.is_some() {
            WireBody::Merged(self.build_request_body(messages, settings, params)?)
        } else {
            WireBody::Direct(self.generate_request(messages, settings, params, true)?)
        })
    }

    /// The body's fields; the conversation (`systemInstruction` and `contents`)
    /// borrowed from the history when `direct`, else built as JSON (the reference the
    /// direct form is tested against).
    fn generate_request<'a>(
        &self,
        messages: &'a [ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
        direct: bool,
    ) -> Result<GenerateRequest<'a>> {
        let conversation = if direct {
            let (system, contents) = self.wire_contents(messages);
            Conversation::Direct {
                system: (!system.is_empty()).then_some(WireContent {
                    role: "user",
                    parts: system,
                }),
                contents,
            }
        } else {
            let (system_parts, contents) = self.map_messages(messages);
            Conversation::Tree {
                system: (!system_parts.is_empty())
                    .then(|| json!({"role": "user", "parts": system_parts})),
                contents,
            }
        };
        let mut declarations =
            Vec::with_capacity(params.function_tools.len() + params.output_tools.len());
        for tool in params.all_tools() {
            declarations.push(self.fragments.tools.get(tool, function_declaration)?);
        }
        let tool_config = if declarations.is_empty() {
            None
        } else {
            function_calling_config(settings, params).map(|c| json!({"functionCallingConfig": c}))
        };
        let response_schema = match (params.output_mode, &params.output_object) {
            (OutputMode::Native, Some(obj)) => Some(
                self.fragments
                    .output_schemas
                    .get(obj, |o| crate::schema::gemini_schema(&o.json_schema))?,
            ),
            _ => None,
        };
        Ok(GenerateRequest {
            conversation,
            tool_config,
            declarations,
            native: params.native_tools.iter().map(native_tool).collect(),
            generation: generation_config(settings, params, &self.profile),
            response_schema,
        })
    }

    /// The system parts and the contents borrowed from the history: the direct form of
    /// [`map_messages`](Self::map_messages).
    fn wire_contents<'a>(
        &self,
        messages: &'a [ModelMessage],
    ) -> (Vec<WirePart<'a>>, Vec<WireContent<'a>>) {
        let mut system: Vec<WirePart<'a>> = Vec::new();
        let mut contents = Vec::with_capacity(messages.len());
        for message in messages {
            match message {
                ModelMessage::Request(r) => {
                    let (parts, after_parts) = self.wire_request_parts(r, &mut system);
                    if !parts.is_empty() {
                        contents.push(WireContent {
                            role: "user",
                            parts,
                        });
                    }
                    // files a tool returned, for models that take no media in function responses
                    if !after_parts.is_empty() {
                        contents.push(WireContent {
                            role: "user",
                            parts: after_parts,
                        });
                    }
                }
                ModelMessage::Response(r) => {
                    let parts = self.wire_model_parts(r);
                    if !parts.is_empty() {
                        contents.push(WireContent {
                            role: "model",
                            parts,
                        });
                    }
                }
            }
        }
        // the system prompts, then the instructions (PydanticAI 2.68)
        if let Some(ins) = messages
            .iter()
            .rev()
            .find_map(ModelMessage::as_request)
            .and_then(|r| r.instructions.as_deref())
        {
            system.push(WirePart::text(ins));
        }
        (system, contents)
    }

    /// The direct form of [`request_parts`](Self::request_parts).
    fn wire_request_parts<'a>(
        &self,
        r: &'a crate::messages::ModelRequest,
        system: &mut Vec<WirePart<'a>>,
    ) -> (Vec<WirePart<'a>>, Vec<WirePart<'a>>) {
        let mut parts = Vec::with_capacity(r.parts.len());
        let mut after_parts = Vec::new();
        for part in &r.parts {
            if let Some(rendering) = part.retry_rendering() {
                parts.push(match rendering {
                    RetryRendering::ToolError {
                        tool_name,
                        tool_call_id,
                        ..
                    } => WirePart::FunctionResponse {
                        id: tool_call_id,
                        name: tool_name,
                        response: FunctionResult::Error(rendering.error_text().unwrap_or_default()),
                        parts: Vec::new(),
                    },
                    RetryRendering::User(text) => WirePart::Text {
                        text: Cow::Owned(text),
                        thought: false,
                        signature: None,
                    },
                    // no mid-conversation system role: `<system>`-tagged user text
                    RetryRendering::System(text) => WirePart::Text {
                        text: Cow::Owned(system_tagged(&text)),
                        thought: false,
                        signature: None,
                    },
                });
                continue;
            }
            match part {
                ModelRequestPart::SystemPrompt(p) => system.push(WirePart::text(&p.content)),
                ModelRequestPart::UserPrompt(p) => wire_user_parts(&p.content, &mut parts),
                ModelRequestPart::ToolReturn(p) => {
                    parts.push(self.wire_function_response(p, &mut after_parts));
                }
                // retries and retry feedback are rendered above
                ModelRequestPart::RetryPrompt(_) | ModelRequestPart::RetryFeedback(_) => {}
                ModelRequestPart::Unknown(_) => {}
            }
        }
        (parts, after_parts)
    }

    /// The direct form of [`function_response`](Self::function_response): the result
    /// is borrowed unless the tool returned files.
    fn wire_function_response<'a>(
        &self,
        p: &'a crate::messages::ToolReturnPart,
        after_parts: &mut Vec<WirePart<'a>>,
    ) -> WirePart<'a> {
        let has_media = match &p.content {
            Value::Array(items) => items.iter().any(is_media),
            v => is_media(v),
        };
        let (values, media) = if has_media {
            split_media(&p.content)
        } else {
            (None, Vec::new())
        };
        if media.is_empty() {
            // no file: the values are the content itself
            let response = match &p.content {
                Value::Object(o) => FunctionResult::Object(o),
                v => FunctionResult::ReturnValue(v),
            };
            return WirePart::FunctionResponse {
                id: &p.tool_call_id,
                name: &p.tool_name,
                response,
                parts: Vec::new(),
            };
        }
        let mut inline = Vec::new();
        let mut files = Vec::new();
        for m in media {
            let id = media_id(&m);
            if self.function_response_parts() && takes_inline(&m) {
                inline.push(WirePart::Media(Box::new(m)));
            } else {
                files.push(format!("See file {id}."));
                after_parts.push(WirePart::Text {
                    text: Cow::Owned(format!("This is file {id}:")),
                    thought: false,
                    signature: None,
                });
                after_parts.push(WirePart::Media(Box::new(m)));
            }
        }
        WirePart::FunctionResponse {
            id: &p.tool_call_id,
            name: &p.tool_name,
            response: FunctionResult::WithFiles { values, files },
            parts: inline,
        }
    }

    /// The direct form of [`model_parts`](Self::model_parts).
    fn wire_model_parts<'a>(&self, response: &'a ModelResponse) -> Vec<WirePart<'a>> {
        let signature_of = |details: &'a Option<Map<String, Value>>, provider: Option<&str>| {
            details
                .as_ref()
                .and_then(|d| d.get(THOUGHT_SIGNATURE))
                .filter(|_| Self::is_google(provider))
                .map(Signature::Value)
        };
        let mut parts = Vec::with_capacity(response.parts.len());
        for part in &response.parts {
            parts.push(match part {
                ModelResponsePart::Text(t) => WirePart::Text {
                    text: Cow::Borrowed(&t.content),
                    thought: false,
                    signature: signature_of(&t.provider_details, t.provider_name.as_deref()),
                },
                ModelResponsePart::ToolCall(c) => WirePart::FunctionCall {
                    id: &c.tool_call_id,
                    name: &c.tool_name,
                    args: CallArgs::of(&c.args),
                    signature: signature_of(&c.provider_details, c.provider_name.as_deref()),
                },
                ModelResponsePart::Thinking(t) if Self::is_google(t.provider_name.as_deref()) => {
                    WirePart::Text {
                        text: Cow::Borrowed(&t.content),
                        thought: true,
                        signature: t.signature.as_deref().map(Signature::Str),
                    }
                }
                ModelResponsePart::Thinking(_) => continue,
                ModelResponsePart::Unknown(map) => {
                    match map.get("provider_details").and_then(|d| d.get(RAW_PART)) {
                        Some(raw)
                            if Self::is_google(
                                map.get("provider_name").and_then(Value::as_str),
                            ) =>
                        {
                            WirePart::Raw(raw)
                        }
                        _ => continue,
                    }
                }
            });
        }
        parts
    }

    /// The system parts (system prompts first, then the instructions) and the contents:
    /// one content per message, plus a user turn for files tools returned when the
    /// model takes none in function responses.
    fn map_messages(&self, messages: &[ModelMessage]) -> (Vec<Value>, Vec<Value>) {
        let mut system_parts: Vec<Value> = Vec::new();
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
        // the system prompts, then the instructions (PydanticAI 2.68)
        if let Some(ins) = messages
            .iter()
            .rev()
            .find_map(ModelMessage::as_request)
            .and_then(|r| r.instructions.as_deref())
        {
            system_parts.push(json!({"text": ins}));
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
            if let Some(rendering) = part.retry_rendering() {
                parts.push(match rendering {
                    RetryRendering::ToolError {
                        tool_name,
                        tool_call_id,
                        ..
                    } => json!({"functionResponse": {
                        "id": tool_call_id,
                        "name": tool_name,
                        "response": {"error": rendering.error_text()},
                    }}),
                    RetryRendering::User(text) => json!({"text": text}),
                    // no mid-conversation system role: `<system>`-tagged user text
                    RetryRendering::System(text) => json!({"text": system_tagged(&text)}),
                });
                continue;
            }
            match part {
                ModelRequestPart::SystemPrompt(p) => system_parts.push(json!({"text": p.content})),
                ModelRequestPart::UserPrompt(p) => user_parts(&p.content, &mut parts),
                ModelRequestPart::ToolReturn(p) => {
                    parts.push(self.function_response(p, &mut after_parts));
                }
                // retries and retry feedback are rendered above
                ModelRequestPart::RetryPrompt(_) | ModelRequestPart::RetryFeedback(_) => {}
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
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn parse_response(&self, body: &[u8]) -> Result<ModelResponse> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Error::unexpected_body(format!("invalid Gemini response: {e}"), body))?;
        if value.get("candidates").is_none()
            && value.get("usageMetadata").is_none()
            && value.get("promptFeedback").is_none()
        {
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

    fn finish(&self, response: ModelResponse) -> ModelResponse {
        crate::models::wire::served_response(
            response,
            self.provider.name(),
            self.provider.public_base_url(),
            &self.model_name,
        )
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
    profile: &ModelProfile,
) -> Map<String, Value> {
    let mut generation = Map::new();
    if let Some(config) = thinking_config(profile, settings) {
        generation.insert("thinkingConfig".into(), config);
    }
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

/// A server tool's entry in `tools`.
fn native_tool(tool: &NativeTool) -> Value {
    match tool {
        NativeTool::WebSearch { .. } => json!({"googleSearch": {}}),
        NativeTool::WebFetch { .. } => json!({"urlContext": {}}),
        _ => json!({"codeExecution": {}}),
    }
}

/// `thinkingConfig` for the unified thinking setting (PydanticAI's mapping): Gemini 2.5
/// takes a budget (0 turns it off), Gemini 3 a level (`Off` is its lowest). A
/// `generationConfig.thinkingConfig` in `extra_body` wins (it is merged over this).
fn thinking_config(profile: &ModelProfile, settings: &ModelSettings) -> Option<Value> {
    let thinking = settings.thinking?;
    match (profile.thinking, thinking) {
        (ThinkingStyle::GeminiBudget, Thinking::Off) => Some(json!({"thinkingBudget": 0})),
        (ThinkingStyle::GeminiLevel, Thinking::Off) => Some(json!({"thinkingLevel": "LOW"})),
        (ThinkingStyle::GeminiBudget | ThinkingStyle::GeminiLevel, Thinking::On) => {
            Some(json!({"includeThoughts": true}))
        }
        (ThinkingStyle::GeminiBudget, Thinking::Budget(n)) => {
            Some(json!({"includeThoughts": true, "thinkingBudget": n}))
        }
        (ThinkingStyle::GeminiBudget, t) => {
            let budget = match t.effort() {
                Some(ThinkingEffort::Minimal) => 128,
                Some(ThinkingEffort::Low) => 2048,
                Some(ThinkingEffort::Medium) => 8192,
                _ => 24576,
            };
            Some(json!({"includeThoughts": true, "thinkingBudget": budget}))
        }
        (ThinkingStyle::GeminiLevel, t) => {
            let level = match t.effort() {
                Some(ThinkingEffort::Minimal | ThinkingEffort::Low) => "LOW",
                Some(ThinkingEffort::Medium) => "MEDIUM",
                _ => "HIGH",
            };
            Some(json!({"includeThoughts": true, "thinkingLevel": level}))
        }
        _ => None,
    }
}

// ---- request body ----

/// A `generateContent` body, written field by field: the conversation borrowed from
/// the history (or built as JSON, see [`Conversation`]), the function declarations and
/// the response schema from the model's cached fragments.
struct GenerateRequest<'a> {
    conversation: Conversation<'a>,
    tool_config: Option<Value>,
    declarations: Vec<Fragment>,
    /// Server tools (`googleSearch`, `codeExecution`, `urlContext`), after the functions.
    native: Vec<Value>,
    generation: Map<String, Value>,
    response_schema: Option<Fragment>,
}

/// `systemInstruction` and `contents`.
enum Conversation<'a> {
    /// Borrowed from the history: the body that is sent.
    Direct {
        system: Option<WireContent<'a>>,
        contents: Vec<WireContent<'a>>,
    },
    /// Built as JSON: [`GeminiModel::build_request_body`].
    Tree {
        system: Option<Value>,
        contents: Vec<Value>,
    },
}

impl serde::Serialize for GenerateRequest<'_> {
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
        match &self.conversation {
            Conversation::Direct { system, contents } => {
                map.serialize_entry("contents", contents)?;
                if let Some(system) = system {
                    map.serialize_entry("systemInstruction", system)?;
                }
            }
            Conversation::Tree { system, contents } => {
                map.serialize_entry("contents", contents)?;
                if let Some(system) = system {
                    map.serialize_entry("systemInstruction", system)?;
                }
            }
        }
        if let Some(config) = &self.tool_config {
            map.serialize_entry("toolConfig", config)?;
        }
        match (self.declarations.is_empty(), self.native.is_empty()) {
            (true, true) => {}
            (false, true) => map.serialize_entry(
                "tools",
                &[Tools {
                    function_declarations: &self.declarations,
                }],
            )?,
            (functions_empty, _) => {
                let mut tools: Vec<Value> = Vec::new();
                if !functions_empty {
                    let functions = serde_json::to_value(Tools {
                        function_declarations: &self.declarations,
                    })
                    .map_err(serde::ser::Error::custom)?;
                    tools.push(functions);
                }
                tools.extend(self.native.iter().cloned());
                map.serialize_entry("tools", &tools)?;
            }
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
#[allow(clippy::large_enum_variant)] // lives on the stack while it is serialized
enum WireBody<'a> {
    Direct(GenerateRequest<'a>),
    Merged(Value),
}

/// A content (and `systemInstruction`), borrowed.
#[derive(serde::Serialize)]
struct WireContent<'a> {
    role: &'static str,
    parts: Vec<WirePart<'a>>,
}

/// A thought signature: kept in `provider_details` (any JSON) or on a thinking part.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Signature<'a> {
    Value(&'a Value),
    Str(&'a str),
}

/// A part borrowed from the history (texts made for the request and files a tool
/// returned own theirs).
enum WirePart<'a> {
    Text {
        text: Cow<'a, str>,
        thought: bool,
        signature: Option<Signature<'a>>,
    },
    InlineData {
        mime_type: &'a str,
        data: &'a [u8],
    },
    FileData {
        file_uri: &'a str,
        mime_type: Cow<'a, str>,
    },
    VideoMetadata(&'a Value),
    FunctionCall {
        id: &'a str,
        name: &'a str,
        args: CallArgs<'a>,
        signature: Option<Signature<'a>>,
    },
    FunctionResponse {
        id: &'a str,
        name: &'a str,
        response: FunctionResult<'a>,
        /// Files riding in the response (Gemini 3, Vertex AI).
        parts: Vec<WirePart<'a>>,
    },
    /// A raw Gemini part, sent unchanged.
    Raw(&'a Value),
    /// A file a tool returned (read from the tool's JSON result), written as the part
    /// of a user prompt's file.
    Media(Box<UserContent>),
}

impl<'a> WirePart<'a> {
    fn text(text: &'a str) -> Self {
        WirePart::Text {
            text: Cow::Borrowed(text),
            thought: false,
            signature: None,
        }
    }
}

/// The `videoMetadata` (fps, offsets) a file item carries in its `vendor_metadata`
/// (`video_metadata` or `videoMetadata`), for URLs and for bytes alike (a video URL the
/// Gemini API cannot fetch is downloaded and keeps its metadata).
fn video_metadata(item: &UserContent) -> Option<&Value> {
    let extra = match item {
        UserContent::ImageUrl(u)
        | UserContent::AudioUrl(u)
        | UserContent::VideoUrl(u)
        | UserContent::DocumentUrl(u) => &u.extra,
        UserContent::Binary(b) => &b.extra,
        _ => return None,
    };
    extra
        .get("vendor_metadata")
        .and_then(|v| v.get("video_metadata").or_else(|| v.get("videoMetadata")))
}

/// `functionResponse.response`.
enum FunctionResult<'a> {
    /// An object result is the response itself.
    Object(&'a Map<String, Value>),
    /// `{"return_value": …}`.
    ReturnValue(&'a Value),
    /// `{"error": …}`.
    Error(String),
    /// A result with files: the other values and the files' references.
    WithFiles {
        values: Option<Value>,
        files: Vec<String>,
    },
}

impl serde::Serialize for FunctionResult<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            FunctionResult::Object(o) => o.serialize(s),
            FunctionResult::ReturnValue(v) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("return_value", v)?;
                map.end()
            }
            FunctionResult::Error(e) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("error", e)?;
                map.end()
            }
            FunctionResult::WithFiles { values, files } => {
                let mut map = s.serialize_map(None)?;
                if let Some(v) = values {
                    map.serialize_entry("return_value", v)?;
                }
                if !files.is_empty() {
                    map.serialize_entry("files", files)?;
                }
                map.end()
            }
        }
    }
}

impl serde::Serialize for WirePart<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        /// `{"mimeType", "data"}` of `inlineData`.
        struct Inline<'b>(&'b str, &'b [u8]);
        impl serde::Serialize for Inline<'_> {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("mimeType", self.0)?;
                map.serialize_entry("data", &Base64(self.1))?;
                map.end()
            }
        }
        #[derive(serde::Serialize)]
        struct FileData<'b> {
            #[serde(rename = "fileUri")]
            file_uri: &'b str,
            #[serde(rename = "mimeType")]
            mime_type: &'b str,
        }
        #[derive(serde::Serialize)]
        struct Call<'b, 'a> {
            id: &'b str,
            name: &'b str,
            args: &'b CallArgs<'a>,
        }
        #[derive(serde::Serialize)]
        struct Response<'b, 'a> {
            id: &'b str,
            name: &'b str,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            parts: &'b [WirePart<'a>],
            response: &'b FunctionResult<'a>,
        }
        match self {
            WirePart::Raw(raw) => raw.serialize(s),
            WirePart::Media(item) => match file_part(item) {
                Some(part) => part.serialize(s),
                None => s.serialize_unit(),
            },
            WirePart::Text {
                text,
                thought,
                signature,
            } => {
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("text", text)?;
                if *thought {
                    map.serialize_entry("thought", &true)?;
                }
                if let Some(sig) = signature {
                    map.serialize_entry("thoughtSignature", sig)?;
                }
                map.end()
            }
            WirePart::InlineData { mime_type, data } => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("inlineData", &Inline(mime_type, data))?;
                map.end()
            }
            WirePart::FileData {
                file_uri,
                mime_type,
            } => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(
                    "fileData",
                    &FileData {
                        file_uri,
                        mime_type,
                    },
                )?;
                map.end()
            }
            WirePart::VideoMetadata(meta) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("videoMetadata", meta)?;
                map.end()
            }
            WirePart::FunctionCall {
                id,
                name,
                args,
                signature,
            } => {
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("functionCall", &Call { id, name, args })?;
                if let Some(sig) = signature {
                    map.serialize_entry("thoughtSignature", sig)?;
                }
                map.end()
            }
            WirePart::FunctionResponse {
                id,
                name,
                response,
                parts,
            } => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(
                    "functionResponse",
                    &Response {
                        id,
                        name,
                        parts,
                        response,
                    },
                )?;
                map.end()
            }
        }
    }
}

/// The part of a file in a user prompt (or returned by a tool), without its video
/// metadata: `None` for text, cache points and unknown items.
fn file_part(item: &UserContent) -> Option<WirePart<'_>> {
    Some(match item {
        UserContent::Binary(b) => WirePart::InlineData {
            mime_type: &b.media_type,
            data: &b.data,
        },
        UserContent::ImageUrl(u)
        | UserContent::AudioUrl(u)
        | UserContent::VideoUrl(u)
        | UserContent::DocumentUrl(u) => WirePart::FileData {
            file_uri: &u.url,
            mime_type: match u.media_type() {
                Some(mime) => Cow::Owned(mime),
                None => Cow::Borrowed(match item {
                    UserContent::ImageUrl(_) => "image/jpeg",
                    UserContent::AudioUrl(_) => "audio/mpeg",
                    UserContent::VideoUrl(_) => "video/mp4",
                    _ => "application/pdf",
                }),
            },
        },
        UserContent::UploadedFile(f) => WirePart::FileData {
            file_uri: &f.file_id,
            mime_type: Cow::Borrowed(
                f.media_type
                    .as_deref()
                    .unwrap_or("application/octet-stream"),
            ),
        },
        UserContent::Text(_) | UserContent::Unknown(_) | UserContent::CachePoint(_) => {
            return None;
        }
    })
}

/// The parts of a user prompt, borrowed: the direct form of `user_parts`.
fn wire_user_parts<'a>(prompt: &'a UserPrompt, parts: &mut Vec<WirePart<'a>>) {
    let items = match prompt {
        UserPrompt::Text(t) => {
            parts.push(WirePart::text(t));
            return;
        }
        UserPrompt::Parts(items) => items,
    };
    for item in items {
        match item {
            UserContent::Text(t) => parts.push(WirePart::text(t)),
            UserContent::Unknown(map) => {
                if let Some(raw) = map.get(RAW_PART) {
                    parts.push(WirePart::Raw(raw));
                }
            }
            UserContent::CachePoint(_) => {}
            item => {
                if let Some(part) = file_part(item) {
                    parts.push(part);
                }
                if let Some(meta) = video_metadata(item) {
                    parts.push(WirePart::VideoMetadata(meta));
                }
            }
        }
    }
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
                parts.push(json!({"inlineData": {"mimeType": b.media_type, "data": b.base64()}}));
                if let Some(meta) = video_metadata(item) {
                    parts.push(json!({"videoMetadata": meta}));
                }
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
                if let Some(meta) = video_metadata(item) {
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

/// The short identifier PydanticAI gives a file (the first six hex digits of the SHA-1 of
/// its bytes or URL), and the part that carries it.
fn media_part(item: &UserContent) -> (String, Value) {
    let mut parts = Vec::new();
    user_parts(&UserPrompt::Parts(vec![item.clone()]), &mut parts);
    (
        media_id(item),
        parts.into_iter().next().unwrap_or(Value::Null),
    )
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
        // a prompt the provider blocked (safety, Model Armor): no candidates, a reason
        if let Some(feedback) = value.get("promptFeedback")
            && let Some(reason) = feedback.get("blockReason").and_then(Value::as_str)
        {
            details.insert("block_reason".into(), json!(reason));
            if let Some(message) = feedback.get("blockReasonMessage") {
                details.insert("block_reason_message".into(), message.clone());
            }
            finish.get_or_insert(FinishReason::ContentFilter);
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
        input_tokens: n("promptTokenCount").saturating_add(n("toolUsePromptTokenCount")),
        output_tokens: n("candidatesTokenCount").saturating_add(n("thoughtsTokenCount")),
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
        let messages = &*self.inline_web_media(messages).await?;
        let messages = &*frame_for_wire(messages, self.profile.system_role);
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
        let messages = &*self.inline_web_media(messages).await?;
        let messages = &*frame_for_wire(messages, self.profile.system_role);
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
            yield ModelStreamEvent::Metadata(crate::models::wire::served_metadata(
                provider.name(),
                provider.public_base_url(),
            ));
        };
        Ok(Box::pin(stream))
    }

    async fn count_tokens(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<u64> {
        let messages = &*frame_for_wire(messages, self.profile.system_role);
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

    fn base_url(&self) -> Option<&str> {
        Some(self.provider.public_base_url())
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

    /// A history with every kind of part `generateContent` takes.
    fn rich_history() -> Vec<ModelMessage> {
        let png = "iVBORw0KGgo=";
        let pdf = "JVBERi0xLjQ=";
        let raw = json!({"executableCode": {"language": "PYTHON", "code": "print(1)"}});
        let history = json!([
            {"kind": "request", "instructions": "Be concise.", "parts": [
                {"part_kind": "system-prompt", "content": "You are a travel agent."},
                {"part_kind": "user-prompt", "content": [
                    "Plan a trip using this map.",
                    {"kind": "binary", "data": png, "media_type": "image/png"},
                    {"kind": "image-url", "url": "https://x.test/a.jpg"},
                    {"kind": "image-url", "url": "https://x.test/a"},
                    {"kind": "document-url", "url": "https://x.test/a"},
                    {"kind": "audio-url", "url": "https://x.test/a"},
                    {"kind": "video-url", "url": "https://x.test/a.webm", "vendor_metadata": {"video_metadata": {"start_offset": "1s"}}},
                    {"kind": "video-url", "url": "https://x.test/b", "vendor_metadata": {"videoMetadata": {"fps": 2}}},
                    {"kind": "uploaded-file", "file_id": "files/1"},
                    {"kind": "uploaded-file", "file_id": "files/2", "media_type": "text/csv"},
                    {"kind": "cache-point"},
                    {"kind": "something-new", "gemini_part": {"codeExecutionResult": {"outcome": "OUTCOME_OK"}}},
                    {"kind": "something-else"}
                ]}
            ]},
            {"kind": "response", "parts": [
                {"part_kind": "thinking", "content": "Let me think.", "signature": "sig-1", "provider_name": "google-gla"},
                {"part_kind": "thinking", "content": "unsigned", "provider_name": "google-vertex"},
                {"part_kind": "thinking", "content": "elsewhere", "signature": "x", "provider_name": "anthropic"},
                {"part_kind": "text", "content": "Checking.", "provider_name": "google-gla", "provider_details": {"thought_signature": "sig-2"}},
                {"part_kind": "text", "content": "", "provider_name": "openai", "provider_details": {"thought_signature": "not sent"}},
                {"part_kind": "tool-call", "tool_name": "get_weather", "args": "{\"city\": \"Rome\", \"days\": [1, 2.5]}", "tool_call_id": "c1", "provider_name": "google-gla", "provider_details": {"thought_signature": "sig-3"}},
                {"part_kind": "tool-call", "tool_name": "get_map", "args": {"zoom": 3}, "tool_call_id": "c2"},
                {"part_kind": "tool-call", "tool_name": "noop", "args": "", "tool_call_id": "c3"},
                {"part_kind": "tool-call", "tool_name": "broken", "args": "{oops", "tool_call_id": "c4"},
                {"part_kind": "provider-block", "provider_name": "google-gla", "provider_details": {"gemini_part": raw}},
                {"part_kind": "provider-block", "provider_name": "openai", "provider_details": {"gemini_part": raw}}
            ]},
            {"kind": "request", "parts": [
                {"part_kind": "tool-return", "tool_name": "get_weather", "content": {"temp": 21}, "tool_call_id": "c1"},
                {"part_kind": "tool-return", "tool_name": "get_map", "content": [
                    "the map:",
                    {"kind": "binary", "data": png, "media_type": "image/png"},
                    {"kind": "binary", "data": pdf, "media_type": "application/pdf", "identifier": "abc123"},
                    {"kind": "image-url", "url": "https://x.test/m.jpg"},
                    {"kind": "audio-url", "url": "https://x.test/m.mp3"},
                    {"kind": "uploaded-file", "file_id": "files/3", "media_type": "image/png"},
                    {"kind": "binary", "data": 5},
                    {"n": 1}
                ], "tool_call_id": "c2"},
                {"part_kind": "tool-return", "tool_name": "one_file", "content": {"kind": "document-url", "url": "https://x.test/d.pdf"}, "tool_call_id": "c5"},
                {"part_kind": "tool-return", "tool_name": "bad_file", "content": {"kind": "binary", "data": 5}, "tool_call_id": "c6"},
                {"part_kind": "tool-return", "tool_name": "only_files", "content": [{"kind": "video-url", "url": "https://x.test/v.mp4"}], "tool_call_id": "c7"},
                {"part_kind": "tool-return", "tool_name": "text", "content": "plain", "tool_call_id": "c8"},
                {"part_kind": "tool-return", "tool_name": "list", "content": [1, "two"], "tool_call_id": "c9"},
                {"part_kind": "tool-return", "tool_name": "null", "content": null, "tool_call_id": "c10"},
                {"part_kind": "tool-return", "tool_name": "noop", "content": "bad args", "tool_call_id": "c3", "outcome": "retried"},
                {"part_kind": "retry-prompt", "tool_name": "broken", "content": "fix the JSON", "tool_call_id": "c4"},
                {"part_kind": "retry-prompt", "content": [{"type": "missing", "loc": ["city"], "msg": "required"}], "tool_call_id": "x"},
                {"part_kind": "mystery", "whatever": 1},
                {"part_kind": "system-prompt", "content": "A later system prompt."}
            ]},
            {"kind": "response", "parts": [{"part_kind": "text", "content": "Done."}]},
            {"kind": "request", "instructions": "Latest instructions.", "parts": [
                {"part_kind": "user-prompt", "content": "plain text"}
            ]},
            {"kind": "response", "parts": [{"part_kind": "thinking", "content": "dropped", "provider_name": "openai"}]}
        ]);
        crate::messages::messages_from_json(&history.to_string()).unwrap()
    }

    /// The bytes sent are the `Value` body, for every kind of part, on models that take
    /// files in function responses and models that take them after.
    #[test]
    fn direct_bytes_are_the_value_body() {
        let history = rich_history();
        let params = ModelRequestParameters {
            function_tools: vec![ToolDefinition::new(
                "get_weather",
                json!({"type": "object"}),
            )],
            ..Default::default()
        };
        let single = [ModelMessage::Request(ModelRequest::user_prompt("hi"))];
        let settings = ModelSettings::new().temperature(0.5).max_tokens(100);
        let mut bodies = Vec::new();
        for name in ["gemini-2.5-flash", "gemini-3-pro-preview"] {
            let provider = crate::providers::google_gla::GoogleGlaProvider::builder()
                .api_key("k")
                .build()
                .unwrap();
            let m = GeminiModel::new(name, provider);
            for messages in [&history[..], &single[..], &history[..1]] {
                let bytes = m
                    .serialize_request_body(messages, &settings, &params)
                    .unwrap();
                let sent: Value = serde_json::from_slice(&bytes).unwrap();
                let expected = m.build_request_body(messages, &settings, &params).unwrap();
                assert_eq!(sent, expected);
            }
            bodies.push(m.build_request_body(&history, &settings, &params).unwrap());
        }
        // the rich history reaches every path
        let (older, newer) = (&bodies[0], &bodies[1]);
        let text = older.to_string();
        for needle in [
            "\"thoughtSignature\":\"sig-1\"",
            "\"thoughtSignature\":\"sig-2\"",
            "\"thoughtSignature\":\"sig-3\"",
            "\"thought\":true",
            "executableCode",
            "codeExecutionResult",
            "inlineData",
            "fileData",
            "videoMetadata",
            "start_offset",
            "See file abc123.",
            "This is file abc123:",
            "return_value",
            "\"error\":\"fix the JSON",
            "A later system prompt.",
            "Latest instructions.",
            "text/csv",
            "application/octet-stream",
        ] {
            assert!(text.contains(needle), "{needle} not in {text}");
        }
        assert!(!text.contains("not sent") && !text.contains("elsewhere"));
        let newer = newer.to_string();
        assert!(newer.contains("\"parts\":[{\"inlineData\""), "{newer}");
    }
}
