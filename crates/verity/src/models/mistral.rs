//! Mistral chat completions (`POST /v1/chat/completions` on `api.mistral.ai`).
//!
//! The body is close to OpenAI's Chat Completions, with Mistral's own rules: tool-call
//! ids are exactly nine ASCII letters and digits (ids from other providers are mapped
//! to such ids on the wire, the history keeps its own), assistant content is a list of
//! chunks (`text`, and `thinking` for Magistral's reasoning), `tool_choice` is `auto`,
//! `any`, `none` or a named function, the seed is `random_seed`, and a `user` message
//! may not follow a `tool` message directly (an assistant `OK` goes between, as
//! PydanticAI sends it). Tool results are text: files a tool returns are named in the
//! result (`See file <id>.`) and follow in a user message; text documents are inlined.
//!
//! ```no_run
//! use verity::prelude::*;
//! use verity::models::mistral::MistralModel;
//! use verity::providers::mistral::MistralProvider;
//!
//! # async fn demo() -> verity::Result<()> {
//! // MISTRAL_API_KEY from the environment
//! let model = MistralModel::new("mistral-large-latest", MistralProvider::from_env()?);
//! let agent = Agent::builder(model).build();
//! println!("{}", agent.run("Hello!").await?.output);
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet};

use chrono::{TimeZone, Utc};
use futures::StreamExt;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::messages::{
    BinaryContent, FileUrl, FinishReason, ModelMessage, ModelRequest, ModelRequestPart,
    ModelResponse, ModelResponsePart, RetryRendering, UserContent, UserPrompt, frame_for_wire,
    generate_tool_call_id, system_tagged,
};
use crate::model::{Model, ModelProfile, ModelRequestParameters, ToolDefinition};
use crate::models::wire;
use crate::output::OutputMode;
use crate::providers::Provider;
use crate::settings::{ModelSettings, ToolChoice};
use crate::stream::{
    ModelStreamEvent, PartsManager, ResponseAccumulator, ResponseMetadata, ResponseStream,
};
use crate::usage::RequestUsage;

/// The endpoint, under the provider's base URL (`https://api.mistral.ai/v1`).
const CHAT_PATH: &str = "/chat/completions";

/// The length of a Mistral tool-call id.
pub const TOOL_CALL_ID_LENGTH: usize = 9;

/// A model spoken to through Mistral's chat completions.
///
/// ```no_run
/// use verity::prelude::*;
/// use verity::models::mistral::MistralModel;
///
/// # async fn demo() -> verity::Result<()> {
/// // the key from MISTRAL_API_KEY; `infer_model("mistral:mistral-small-latest")` is the same
/// let model = MistralModel::from_env("mistral-small-latest")?
///     .with_settings(ModelSettings::new().temperature(0.2));
/// let agent = Agent::builder(model).instructions("Answer in one sentence.").build();
/// println!("{}", agent.run("Why is the sky blue?").await?.output);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MistralModel {
    model_name: String,
    provider: Provider,
    profile: ModelProfile,
    settings: Option<ModelSettings>,
}

impl MistralModel {
    /// `model_name` on `provider` (its profile comes from the provider).
    pub fn new(model_name: impl Into<String>, provider: impl Into<Provider>) -> Self {
        let provider: Provider = provider.into();
        let model_name = model_name.into();
        let profile = provider.model_profile(&model_name);
        MistralModel {
            model_name,
            provider,
            profile,
            settings: None,
        }
    }

    /// `model_name` on Mistral, with the key (`MISTRAL_API_KEY`) from the environment.
    pub fn from_env(model_name: impl Into<String>) -> Result<Self> {
        Ok(Self::new(
            model_name,
            crate::providers::mistral::MistralProvider::from_env()?,
        ))
    }

    /// Settings applied under the agent's and the run's.
    pub fn with_settings(mut self, settings: ModelSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Replace the profile.
    pub fn with_profile(mut self, profile: ModelProfile) -> Self {
        self.profile = profile;
        self
    }

    /// The provider.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The JSON body of a (non-streamed) request, with nothing downloaded: URLs that
    /// must be sent inline (text documents, `force_download`) are an error here.
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn build_request_body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<Value> {
        let framed = frame_for_wire(messages, self.profile.system_role);
        Ok(self
            .body(&framed, settings, params, &HashMap::new(), false)?
            .0)
    }

    /// The body, and the tool-call ids it maps.
    fn body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
        downloads: &HashMap<String, BinaryContent>,
        stream: bool,
    ) -> Result<(Value, ToolCallIds)> {
        if !params.native_tools.is_empty() {
            return Err(crate::request::NativeTool::unsupported(
                &self.model_name,
                &params.native_tools,
            ));
        }
        let mut ids = ToolCallIds::default();
        let wire_messages = self.map_messages(messages, downloads, &mut ids)?;
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model_name));
        body.insert("messages".into(), Value::Array(wire_messages));
        let (tools, tool_choice) = tools_and_choice(settings, params);
        if !tools.is_empty() {
            body.insert(
                "tools".into(),
                Value::Array(tools.into_iter().map(map_tool).collect()),
            );
            body.insert("tool_choice".into(), tool_choice);
            if let Some(parallel) = settings.parallel_tool_calls {
                body.insert("parallel_tool_calls".into(), json!(parallel));
            }
        }
        match (params.output_mode, &params.output_object) {
            (OutputMode::Native, Some(obj)) => {
                let mut js = Map::new();
                js.insert("name".into(), json!(obj.name));
                js.insert("schema".into(), obj.json_schema.clone());
                if let Some(d) = &obj.description {
                    js.insert("description".into(), json!(d));
                }
                if let Some(strict) = obj.strict {
                    js.insert("strict".into(), json!(strict));
                }
                body.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": js}),
                );
            }
            (OutputMode::Prompted, _) if self.profile.supports_json_object_output => {
                body.insert("response_format".into(), json!({"type": "json_object"}));
            }
            _ => {}
        }
        body.insert("stream".into(), json!(stream));
        if let Some(max) = settings.max_tokens {
            body.insert("max_tokens".into(), json!(max));
        }
        for (key, value) in [
            ("temperature", settings.temperature),
            ("top_p", settings.top_p),
            ("presence_penalty", settings.presence_penalty),
            ("frequency_penalty", settings.frequency_penalty),
        ] {
            if let Some(v) = value {
                body.insert(key.into(), json!(v));
            }
        }
        if let Some(seed) = settings.seed {
            body.insert("random_seed".into(), json!(seed));
        }
        // the unified thinking setting: Mistral takes `high` or `none`
        if let (crate::profiles::ThinkingStyle::Effort { lowest }, Some(thinking)) =
            (self.profile.thinking, settings.thinking)
        {
            let effort = match thinking {
                crate::settings::Thinking::Off => lowest,
                _ => "high",
            };
            body.insert("reasoning_effort".into(), json!(effort));
        }
        if let Some(stop) = &settings.stop_sequences {
            body.insert("stop".into(), json!(stop));
        }
        Ok((wire::body_value(Value::Object(body), settings)?, ids))
    }

    fn map_messages(
        &self,
        messages: &[ModelMessage],
        downloads: &HashMap<String, BinaryContent>,
        ids: &mut ToolCallIds,
    ) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(messages.len() + 1);
        for message in messages {
            match message {
                ModelMessage::Request(request) => {
                    self.map_request(request, downloads, ids, &mut out)?;
                }
                ModelMessage::Response(response) => {
                    out.extend(map_response(response, ids));
                }
            }
        }
        let instructions = messages
            .iter()
            .rev()
            .find_map(ModelMessage::as_request)
            .and_then(|r| r.instructions.as_deref());
        if let Some(ins) = instructions {
            // after the system prompts the conversation opens with
            let at = out
                .iter()
                .position(|m| m.get("role").and_then(Value::as_str) != Some("system"))
                .unwrap_or(out.len());
            out.insert(at, json!({"role": "system", "content": ins}));
        }
        // Mistral refuses a user message right after a tool message
        let mut separated = Vec::with_capacity(out.len());
        let mut previous_tool = false;
        for m in out {
            let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
            if previous_tool && role == "user" {
                separated.push(
                    json!({"role": "assistant", "content": [{"type": "text", "text": "OK"}]}),
                );
            }
            previous_tool = role == "tool";
            separated.push(m);
        }
        Ok(separated)
    }

    fn map_request(
        &self,
        request: &ModelRequest,
        downloads: &HashMap<String, BinaryContent>,
        ids: &mut ToolCallIds,
        out: &mut Vec<Value>,
    ) -> Result<()> {
        let mut files: Vec<Value> = Vec::new();
        for part in &request.parts {
            if let Some(rendering) = part.retry_rendering() {
                out.push(match rendering {
                    RetryRendering::ToolError { tool_call_id, .. } => json!({
                        "role": "tool",
                        "tool_call_id": ids.fit(tool_call_id),
                        "content": rendering.wrapped_error().unwrap_or_default(),
                    }),
                    RetryRendering::User(text) => json!({"role": "user", "content": text}),
                    RetryRendering::System(text) if self.profile.system_role.is_native() => {
                        json!({"role": "system", "content": text})
                    }
                    RetryRendering::System(text) => {
                        json!({"role": "user", "content": system_tagged(&text)})
                    }
                });
                continue;
            }
            match part {
                ModelRequestPart::SystemPrompt(p) => {
                    out.push(json!({"role": "system", "content": p.content}));
                }
                ModelRequestPart::UserPrompt(p) => {
                    let content = match &p.content {
                        UserPrompt::Text(t) => json!(t),
                        UserPrompt::Parts(items) => {
                            let mut chunks = Vec::with_capacity(items.len());
                            for item in items {
                                chunks.extend(self.map_item(item, downloads)?);
                            }
                            Value::Array(chunks)
                        }
                    };
                    out.push(json!({"role": "user", "content": content}));
                }
                ModelRequestPart::ToolReturn(p) => {
                    let (text, returned) = wire::text_and_files(p);
                    out.push(json!({
                        "role": "tool",
                        "tool_call_id": ids.fit(&p.tool_call_id),
                        "content": text,
                    }));
                    for (id, item) in returned {
                        files.push(json!({"type": "text", "text": format!("This is file {id}:")}));
                        files.extend(self.map_item(&item, downloads)?);
                    }
                }
                // retries and retry feedback are rendered above
                ModelRequestPart::RetryPrompt(_)
                | ModelRequestPart::RetryFeedback(_)
                | ModelRequestPart::Unknown(_) => {}
            }
        }
        if !files.is_empty() {
            out.push(json!({"role": "user", "content": files}));
        }
        Ok(())
    }

    /// A user content item as a content chunk (`None` for items that send nothing).
    fn map_item(
        &self,
        item: &UserContent,
        downloads: &HashMap<String, BinaryContent>,
    ) -> Result<Option<Value>> {
        let downloaded = |url: &FileUrl| {
            downloads.get(&url.url).ok_or_else(|| {
                Error::User(format!("{} was not downloaded before the request", url.url))
            })
        };
        Ok(Some(match item {
            UserContent::Text(t) => json!({"type": "text", "text": t}),
            UserContent::ImageUrl(u) => {
                let url = if force_download(u) {
                    downloaded(u)?.data_uri()
                } else {
                    u.url.clone()
                };
                image_chunk(url, &u.extra)
            }
            UserContent::Binary(b) if wire::is_text_like(&b.media_type) => {
                text_file_chunk(&String::from_utf8_lossy(&b.data), &b.media_type, item)
            }
            UserContent::Binary(b) if b.media_type.starts_with("image/") => {
                image_chunk(b.data_uri(), &b.extra)
            }
            UserContent::Binary(b) if b.media_type == "application/pdf" => {
                json!({"type": "document_url", "document_url": b.data_uri()})
            }
            UserContent::Binary(b) => {
                return Err(Error::User(format!(
                    "Mistral takes text, image and PDF files in prompts, not `{}`",
                    b.media_type
                )));
            }
            UserContent::DocumentUrl(u) => match u.media_type() {
                Some(media) if wire::is_text_like(&media) => {
                    let file = downloaded(u)?;
                    text_file_chunk(&String::from_utf8_lossy(&file.data), &media, item)
                }
                _ if force_download(u) => {
                    json!({"type": "document_url", "document_url": downloaded(u)?.data_uri()})
                }
                _ => json!({"type": "document_url", "document_url": u.url}),
            },
            UserContent::AudioUrl(_) | UserContent::VideoUrl(_) | UserContent::UploadedFile(_) => {
                return Err(Error::User(
                    "Mistral chat completions take no audio, video or uploaded files".into(),
                ));
            }
            UserContent::CachePoint(_) | UserContent::Unknown(_) => return Ok(None),
        }))
    }

    /// The URLs of `messages` that are sent inline: text documents, and images and
    /// documents marked `force_download`, each once.
    fn media_to_download(&self, messages: &[ModelMessage]) -> Vec<FileUrl> {
        let mut out: Vec<FileUrl> = Vec::new();
        let mut consider = |item: &UserContent| {
            let url = match item {
                UserContent::ImageUrl(u) if force_download(u) => u,
                UserContent::DocumentUrl(u)
                    if force_download(u)
                        || u.media_type().is_some_and(|m| wire::is_text_like(&m)) =>
                {
                    u
                }
                _ => return,
            };
            if !out.iter().any(|seen| seen.url == url.url) {
                out.push(url.clone());
            }
        };
        for request in messages.iter().filter_map(ModelMessage::as_request) {
            for part in &request.parts {
                match part {
                    ModelRequestPart::UserPrompt(p) => {
                        if let UserPrompt::Parts(items) = &p.content {
                            items.iter().for_each(&mut consider);
                        }
                    }
                    ModelRequestPart::ToolReturn(p) => {
                        wire::split_media(&p.content)
                            .1
                            .iter()
                            .for_each(&mut consider);
                    }
                    _ => {}
                }
            }
        }
        out
    }

    /// Download what is sent inline; boxed and only started when there is something
    /// to fetch.
    async fn download_media(
        &self,
        messages: &[ModelMessage],
    ) -> Result<HashMap<String, BinaryContent>> {
        let wanted = self.media_to_download(messages);
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        let policy = self.provider.client().download_policy();
        let files: Vec<(&FileUrl, bool)> = wanted.iter().map(|f| (f, false)).collect();
        Box::pin(crate::models::wire::download_files(files, policy)).await
    }

    /// Parse a non-streamed response body.
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn parse_response(&self, body: &[u8]) -> Result<ModelResponse> {
        self.parse_with(body, &ToolCallIds::default())
    }

    fn parse_with(&self, body: &[u8], ids: &ToolCallIds) -> Result<ModelResponse> {
        let completion: Value = serde_json::from_slice(body).map_err(|e| {
            Error::unexpected_body(format!("invalid Mistral completion: {e}"), body)
        })?;
        if !completion.get("choices").is_some_and(Value::is_array) {
            return Err(Error::unexpected_body(
                "invalid Mistral completion: no `choices`",
                body,
            ));
        }
        let mut state = ChunkProcessor::new(ids, true);
        let mut acc = ResponseAccumulator::new();
        for e in state.chunk(&completion).into_iter().chain(state.flush()) {
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

    async fn send(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
        stream: bool,
    ) -> Result<(crate::http::HttpRequest, ToolCallIds)> {
        let framed = frame_for_wire(messages, self.profile.system_role);
        let downloads = self.download_media(&framed).await?;
        let (body, ids) = self.body(&framed, settings, params, &downloads, stream)?;
        let mut request =
            self.provider
                .json_request(CHAT_PATH, &self.model_name, &body, settings)?;
        self.provider
            .authorize(&mut request, &self.model_name)
            .await?;
        Ok((request, ids))
    }
}

impl Model for MistralModel {
    async fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ModelResponse> {
        let (request, ids) = self.send(messages, settings, params, false).await?;
        let bytes = self
            .provider
            .client()
            .post_for_body(&request, &self.model_name)
            .await?;
        self.parse_with(&bytes, &ids)
    }

    async fn request_stream(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ResponseStream> {
        let (request, ids) = self.send(messages, settings, params, true).await?;
        let events = self
            .provider
            .client()
            .post_for_events(&request, &self.model_name, settings.stream_idle_timeout)
            .await?;
        let this = self.clone();
        let stream = async_stream::try_stream! {
            let mut state = ChunkProcessor::new(&ids, false);
            let mut done = false;
            futures::pin_mut!(events);
            while let Some(event) = events.next().await {
                let event = event?;
                let data = event.data.trim();
                if data == "[DONE]" {
                    done = true;
                    break;
                }
                if data.is_empty() {
                    continue;
                }
                let chunk: Value = serde_json::from_str(data).map_err(|e| {
                    Error::unexpected_body(format!("invalid Mistral chunk: {e}"), data.as_bytes())
                })?;
                if event.event.as_deref() == Some("error")
                    || chunk.get("object").and_then(Value::as_str) == Some("error")
                    || chunk.get("error").is_some_and(|e| !e.is_null())
                {
                    Err(wire::stream_error(&this.model_name, data))?;
                }
                for e in state.chunk(&chunk) {
                    yield e;
                }
            }
            if !done && !state.saw_finish_reason {
                Err(crate::models::wire::incomplete_stream(&this.model_name))?;
            }
            for e in state.flush() {
                yield e;
            }
            yield ModelStreamEvent::Metadata(crate::models::wire::served_metadata(
                this.provider.name(),
                this.provider.public_base_url(),
            ));
        };
        Ok(Box::pin(stream))
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

// ---- request pieces ----

fn force_download(url: &FileUrl) -> bool {
    match url.extra.get("force_download") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(_)) => true,
        _ => false,
    }
}

fn image_chunk(url: String, extra: &Map<String, Value>) -> Value {
    let mut image = Map::new();
    image.insert("url".into(), json!(url));
    if let Some(detail) = extra.get("vendor_metadata").and_then(|v| v.get("detail")) {
        image.insert("detail".into(), detail.clone());
    }
    json!({"type": "image_url", "image_url": image})
}

fn text_file_chunk(text: &str, media_type: &str, item: &UserContent) -> Value {
    let id = wire::media_id(item);
    json!({"type": "text", "text": wire::inlined_text_file(text, media_type, &id)})
}

/// The tools to send and `tool_choice`: Mistral's `any` where a tool must be called, a
/// named function for one forced tool; no tools at all for `none` (Mistral answers
/// garbled text when offered tools it may not call).
fn tools_and_choice<'a>(
    settings: &ModelSettings,
    params: &'a ModelRequestParameters,
) -> (Vec<&'a ToolDefinition>, Value) {
    let all: Vec<&ToolDefinition> = params.all_tools().collect();
    let output_only = !params.allow_text_output && !params.output_tools.is_empty();
    match &settings.tool_choice {
        Some(ToolChoice::None) if output_only => {
            (params.output_tools.iter().collect(), json!("any"))
        }
        Some(ToolChoice::None) => (Vec::new(), Value::Null),
        Some(ToolChoice::Required) => (all, json!("any")),
        Some(ToolChoice::Tools(names)) if names.len() == 1 && !output_only => {
            let name = names.first().cloned().unwrap_or_default();
            (all, json!({"type": "function", "function": {"name": name}}))
        }
        Some(ToolChoice::Tools(names)) => {
            let kept = params
                .function_tools
                .iter()
                .filter(|t| names.contains(&t.name))
                .chain(params.output_tools.iter())
                .collect();
            (kept, json!("any"))
        }
        _ if output_only => (all, json!("any")),
        _ => (all, json!("auto")),
    }
}

fn map_tool(tool: &ToolDefinition) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description.as_deref().unwrap_or_default(),
            "parameters": tool.parameters_json_schema,
        },
    })
}

/// An assistant message: thinking as a `thinking` chunk first, then the text chunks,
/// then the tool calls (ids fitted); `None` for a response with nothing to send.
fn map_response(response: &ModelResponse, ids: &mut ToolCallIds) -> Option<Value> {
    let mut content = Vec::new();
    let mut thinking = Vec::new();
    let mut calls = Vec::new();
    for part in &response.parts {
        match part {
            ModelResponsePart::Text(t) => content.push(json!({"type": "text", "text": t.content})),
            ModelResponsePart::Thinking(t) => {
                thinking.push(json!({"type": "text", "text": t.content}));
            }
            ModelResponsePart::ToolCall(c) => calls.push(json!({
                "id": ids.fit(&c.tool_call_id),
                "type": "function",
                "function": {"name": c.tool_name, "arguments": c.args.to_json_string()},
            })),
            ModelResponsePart::Unknown(_) => {}
        }
    }
    if !thinking.is_empty() {
        content.insert(0, json!({"type": "thinking", "thinking": thinking}));
    }
    if content.is_empty() && calls.is_empty() {
        return None;
    }
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    message.insert("content".into(), Value::Array(content));
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    Some(Value::Object(message))
}

/// Tool-call ids as Mistral takes them: an id of exactly nine ASCII letters and digits
/// is kept, any other becomes the low nine base-62 digits of its SHA-256 (PydanticAI's
/// `_fit_tool_call_ids`), rehashed with a counter while the result is taken, in history
/// order, so the same history always gives the same ids and a call and its result keep
/// pairing up. The history itself is never changed: ids from another provider go back
/// to it as they were.
#[derive(Debug, Default, Clone)]
struct ToolCallIds {
    to_wire: HashMap<String, String>,
    taken: HashSet<String>,
}

impl ToolCallIds {
    fn fit(&mut self, id: &str) -> String {
        if let Some(wire) = self.to_wire.get(id) {
            return wire.clone();
        }
        let mut wire = if fits(id) {
            id.to_owned()
        } else {
            hashed_id(id)
        };
        let mut attempt = 0u64;
        while self.taken.contains(&wire) {
            attempt += 1;
            wire = hashed_id(&format!("{id}#{attempt}"));
        }
        self.taken.insert(wire.clone());
        self.to_wire.insert(id.to_owned(), wire.clone());
        wire
    }

    /// The ids that were replaced on the wire, keyed by their replacement.
    fn replaced(&self) -> HashMap<String, String> {
        self.to_wire
            .iter()
            .filter(|(original, wire)| original != wire)
            .map(|(original, wire)| (wire.clone(), original.clone()))
            .collect()
    }
}

/// Whether `id` is a Mistral tool-call id as it is.
fn fits(id: &str) -> bool {
    id.len() == TOOL_CALL_ID_LENGTH && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The low nine base-62 digits (`0-9A-Za-z`, least significant first) of the SHA-256 of
/// `id`, read as a big-endian number.
fn hashed_id(id: &str) -> String {
    use sha2::Digest as _;
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut number: Vec<u8> = sha2::Sha256::digest(id.as_bytes()).to_vec();
    let mut out = String::with_capacity(TOOL_CALL_ID_LENGTH);
    for _ in 0..TOOL_CALL_ID_LENGTH {
        // long division of the number by 62, in place
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = u8::try_from(value / 62).unwrap_or(0);
            remainder = value % 62;
        }
        let digit = usize::try_from(remainder).unwrap_or(0);
        out.push(char::from(ALPHABET.get(digit).copied().unwrap_or(b'0')));
    }
    out
}

/// The tool-call id Mistral is sent for `id`, taken alone (without the other ids of a
/// history it could collide with): `id` itself when it is nine ASCII letters and
/// digits, else its hash.
pub fn fitted_tool_call_id(id: &str) -> String {
    ToolCallIds::default().fit(id)
}

// ---- responses ----

/// Turns a completion or a stream chunk into stream events: the one processing path for
/// whole and streamed responses.
struct ChunkProcessor {
    parts: PartsManager,
    /// Replacement ids of this request, mapped back to the history's ids.
    back: HashMap<String, String>,
    /// A whole response: tool calls are told apart by position, not `index`.
    whole: bool,
    started_calls: HashSet<String>,
    seen_metadata: bool,
    saw_finish_reason: bool,
    details: Map<String, Value>,
}

impl ChunkProcessor {
    fn new(ids: &ToolCallIds, whole: bool) -> Self {
        ChunkProcessor {
            parts: PartsManager::new(),
            back: ids.replaced(),
            whole,
            started_calls: HashSet::new(),
            seen_metadata: false,
            saw_finish_reason: false,
            details: Map::new(),
        }
    }

    fn chunk(&mut self, chunk: &Value) -> Vec<ModelStreamEvent> {
        let mut events = Vec::new();
        let first = !self.seen_metadata;
        self.seen_metadata = true;
        let text = |k: &str| {
            chunk
                .get(k)
                .and_then(Value::as_str)
                .filter(|_| first)
                .map(str::to_owned)
        };
        let mut meta = ResponseMetadata {
            model_name: text("model"),
            provider_response_id: text("id"),
            timestamp: chunk
                .get("created")
                .and_then(Value::as_i64)
                .and_then(|s| Utc.timestamp_opt(s, 0).single()),
            ..Default::default()
        };
        if let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        {
            if let Some(reason) = choice
                .get("finish_reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                self.saw_finish_reason = true;
                meta.finish_reason = Some(map_finish_reason(reason));
                self.details.insert("finish_reason".into(), json!(reason));
            }
            if let Some(delta) = choice.get("message").or_else(|| choice.get("delta")) {
                self.delta(delta, &mut events);
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            events.push(ModelStreamEvent::Usage(map_usage(usage)));
        }
        events.push(ModelStreamEvent::Metadata(meta));
        events
    }

    fn delta(&mut self, delta: &Value, events: &mut Vec<ModelStreamEvent>) {
        match delta.get("content") {
            Some(Value::String(s)) => events.extend(self.parts.text_delta(Some("content"), s)),
            Some(Value::Array(chunks)) => {
                for c in chunks {
                    match c.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            let t = c.get("text").and_then(Value::as_str).unwrap_or_default();
                            events.extend(self.parts.text_delta(Some("content"), t));
                        }
                        Some("thinking") => {
                            for thought in c
                                .get("thinking")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                            {
                                let t = thought.get("text").and_then(Value::as_str);
                                events.extend(self.parts.thinking_delta(Some("thinking"), t, None));
                            }
                        }
                        // references, images and other chunks are not parts
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        for (position, call) in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let index = if self.whole {
                position
            } else {
                call.get("index")
                    .and_then(Value::as_u64)
                    .and_then(|i| usize::try_from(i).ok())
                    .unwrap_or(position)
            };
            let vendor = format!("tool_call_{index}");
            let function = call.get("function");
            let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
            let args = function.and_then(|f| f.get("arguments")).map(|a| match a {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|i| !i.is_empty() && *i != "null")
                .map(|i| self.back.get(i).cloned().unwrap_or_else(|| i.to_owned()));
            let first = self.started_calls.insert(vendor.clone());
            let id = match id {
                Some(id) => Some(id),
                None if first => Some(generate_tool_call_id()),
                None => None,
            };
            let id = if first { id } else { None };
            events.extend(self.parts.tool_call_delta(
                Some(&vendor),
                name.filter(|n| !n.is_empty()),
                args.as_deref(),
                id.as_deref(),
            ));
        }
    }

    fn flush(&mut self) -> Vec<ModelStreamEvent> {
        if self.details.is_empty() {
            return Vec::new();
        }
        vec![ModelStreamEvent::Metadata(ResponseMetadata {
            provider_details: Some(std::mem::take(&mut self.details)),
            ..Default::default()
        })]
    }
}

fn map_finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" | "model_length" => FinishReason::Length,
        "tool_calls" => FinishReason::ToolCall,
        "error" => FinishReason::Error,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Usage as PydanticAI reads Mistral's: prompt and completion tokens, cache reads from
/// `prompt_tokens_details.cached_tokens`; the other top-level counts (such as
/// `num_cached_tokens`) and reasoning tokens as details.
fn map_usage(u: &Value) -> RequestUsage {
    let mut usage = RequestUsage {
        input_tokens: wire::count(u.get("prompt_tokens")).unwrap_or(0),
        output_tokens: wire::count(u.get("completion_tokens")).unwrap_or(0),
        cache_read_tokens: wire::count(u.pointer("/prompt_tokens_details/cached_tokens"))
            .unwrap_or(0),
        ..Default::default()
    };
    for (k, v) in u.as_object().into_iter().flatten() {
        if matches!(
            k.as_str(),
            "prompt_tokens" | "completion_tokens" | "total_tokens"
        ) {
            continue;
        }
        if let Some(n) = v.as_u64() {
            usage.details.insert(k.clone(), n);
        }
    }
    if let Some(n) = wire::count(u.pointer("/completion_tokens_details/reasoning_tokens")) {
        usage.details.insert("reasoning_tokens".into(), n);
    }
    usage
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::messages::{ToolCallArgs, ToolCallPart, ToolReturnPart};

    #[test]
    fn ids_are_hashed_as_pydantic_ai_hashes_them() {
        // values computed with PydanticAI 2.68's `_hashed_tool_call_id(id, 9)`
        assert_eq!(hashed_id("call_abc123XYZ"), "HJwutgbM4");
        assert_eq!(hashed_id("toolu_01A09q90qw90lq917835lq9"), "l4LUGq9qS");
        assert_eq!(hashed_id(""), "5IxLHpeEW");
        assert_eq!(hashed_id("abc"), "vab5RpW6i");
        assert_eq!(fitted_tool_call_id("KikbB849t"), "KikbB849t");
        assert_eq!(fitted_tool_call_id("call_abc123XYZ"), "HJwutgbM4");
    }

    #[test]
    fn a_taken_replacement_is_rehashed() {
        let mut ids = ToolCallIds::default();
        // a native id that equals the hash of a foreign one comes first
        assert_eq!(ids.fit("HJwutgbM4"), "HJwutgbM4");
        let other = ids.fit("call_abc123XYZ");
        assert_ne!(other, "HJwutgbM4");
        assert!(fits(&other));
        assert_eq!(ids.fit("call_abc123XYZ"), other);
        assert_eq!(ids.replaced().get(&other).unwrap(), "call_abc123XYZ");
    }

    #[test]
    fn foreign_ids_map_on_the_wire_and_back() {
        let provider = crate::providers::mistral::MistralProvider::builder()
            .api_key("k")
            .build()
            .unwrap();
        let m = MistralModel::new("mistral-small-latest", provider);
        let call = ToolCallPart::new("f", ToolCallArgs::Json("{}".into()), "call_abc123XYZ");
        let history = vec![
            ModelMessage::Request(ModelRequest::user_prompt("hi")),
            ModelMessage::Response(ModelResponse::new(vec![ModelResponsePart::ToolCall(call)])),
            ModelMessage::Request(ModelRequest::new(vec![ModelRequestPart::ToolReturn(
                ToolReturnPart::new("f", json!("ok"), "call_abc123XYZ"),
            )])),
        ];
        let (body, ids) = m
            .body(
                &history,
                &ModelSettings::default(),
                &ModelRequestParameters::default(),
                &HashMap::new(),
                false,
            )
            .unwrap();
        assert_eq!(body["messages"][1]["tool_calls"][0]["id"], "HJwutgbM4");
        assert_eq!(body["messages"][2]["tool_call_id"], "HJwutgbM4");
        // a response naming a replacement id gets the history's id back
        let response = br#"{"id":"r","model":"m","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"","tool_calls":[{"id":"HJwutgbM4","function":{"name":"f","arguments":"{}"}},{"id":"Abcdefgh1","function":{"name":"f","arguments":{"a":1}}}]}}]}"#;
        let parsed = m.parse_with(response, &ids).unwrap();
        let calls: Vec<_> = parsed.tool_calls().collect();
        assert_eq!(calls[0].tool_call_id, "call_abc123XYZ");
        assert_eq!(calls[1].tool_call_id, "Abcdefgh1");
        assert_eq!(calls[1].args.to_json_string(), r#"{"a":1}"#);
    }
}
