//! OpenAI Chat Completions (`POST /chat/completions`), the wire API of OpenAI and of
//! every OpenAI-compatible server (Ollama, DeepSeek, OpenRouter, vLLM, llama.cpp, Groq…).
//!
//! ```no_run
//! use verity::prelude::*;
//! use verity::models::openai::OpenAIChatModel;
//! use verity::providers::openai::OpenAIProvider;
//!
//! # async fn demo() -> verity::Result<()> {
//! let provider = OpenAIProvider::builder().base_url("http://localhost:11434/v1").build()?;
//! let agent = Agent::builder(OpenAIChatModel::new("llama3.2", provider)).build();
//! println!("{}", agent.run("Hello!").await?.output);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::messages::{
    BinaryContent, FileUrl, FinishReason, ModelMessage, ModelRequestPart, ModelResponse,
    ModelResponsePart, RetryRendering, UserContent, UserPrompt, frame_for_wire,
};
use crate::model::{
    CacheControlStyle, Model, ModelProfile, ModelRequestParameters, OutputObjectDefinition,
    ToolDefinition,
};
use crate::models::wire::{Fragment, Fragments, TagSplitter, WireTool, lenient_struct};
use crate::output::OutputMode;
use crate::profiles::ThinkingStyle;
use crate::providers::Provider;
use crate::settings::{CacheTtl, ModelSettings, Thinking, ThinkingEffort, ToolChoice};
use crate::stream::{
    ModelStreamEvent, PartsManager, ResponseAccumulator, ResponseMetadata, ResponseStream,
};
use crate::usage::RequestUsage;

/// The endpoint, under the provider's base URL.
const CHAT_PATH: &str = "/chat/completions";

/// A model spoken to through OpenAI Chat Completions.
#[derive(Debug, Clone)]
pub struct OpenAIChatModel {
    model_name: String,
    provider: Provider,
    profile: ModelProfile,
    settings: Option<ModelSettings>,
    /// Tool definitions and output schemas as this model's profile sends them.
    fragments: Arc<Fragments>,
}

impl OpenAIChatModel {
    /// `model_name` on `provider` (its profile comes from the provider).
    pub fn new(model_name: impl Into<String>, provider: impl Into<Provider>) -> Self {
        let provider: Provider = provider.into();
        let model_name = model_name.into();
        let profile = provider.model_profile(&model_name);
        OpenAIChatModel {
            model_name,
            provider,
            profile,
            settings: None,
            fragments: Arc::default(),
        }
    }

    /// `model_name` on OpenAI, with the key and base URL from the environment.
    pub fn from_env(model_name: impl Into<String>) -> Result<Self> {
        Ok(Self::new(
            model_name,
            crate::providers::openai::OpenAIProvider::from_env()?,
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
        self.fragments = Arc::default();
        self
    }

    /// The provider.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The JSON body of a request. `downloads` holds the bytes of audio and document
    /// URLs, which Chat Completions only takes inline.
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn build_request_body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
        downloads: &HashMap<String, BinaryContent>,
        stream: bool,
    ) -> Result<Value> {
        let messages = &*frame_for_wire(messages, self.profile.system_role);
        crate::models::wire::body_value(
            self.chat_request(messages, settings, params, downloads, stream)?,
            settings,
        )
    }

    /// The JSON body of a request as the bytes that are sent: written straight from the
    /// history and the cached tool definitions, without the intermediate `Value` of
    /// [`build_request_body`](Self::build_request_body) (unless the settings carry an
    /// `extra_body` to merge in).
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn serialize_request_body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
        downloads: &HashMap<String, BinaryContent>,
        stream: bool,
    ) -> Result<Vec<u8>> {
        let messages = &*frame_for_wire(messages, self.profile.system_role);
        let body = self.wire_body(messages, settings, params, downloads, stream)?;
        Ok(serde_json::to_vec(&body)?)
    }

    /// The body to send: a [`ChatRequest`] written directly, or the `Value` with the
    /// settings' `extra_body` merged in.
    fn wire_body<'a>(
        &'a self,
        messages: &'a [ModelMessage],
        settings: &'a ModelSettings,
        params: &ModelRequestParameters,
        downloads: &HashMap<String, BinaryContent>,
        stream: bool,
    ) -> Result<WireBody<'a>> {
        Ok(if settings.extra_body.is_some() {
            WireBody::Merged(
                self.build_request_body(messages, settings, params, downloads, stream)?,
            )
        } else {
            WireBody::Direct(self.chat_request(messages, settings, params, downloads, stream)?)
        })
    }

    fn chat_request<'a>(
        &'a self,
        messages: &'a [ModelMessage],
        settings: &'a ModelSettings,
        params: &ModelRequestParameters,
        downloads: &HashMap<String, BinaryContent>,
        stream: bool,
    ) -> Result<ChatRequest<'a>> {
        if !params.native_tools.is_empty() {
            return Err(crate::request::NativeTool::unsupported(
                &self.model_name,
                &params.native_tools,
            ));
        }
        let mut wire_messages = self.map_messages(messages, downloads, settings)?;
        self.limit_cache_points(&mut wire_messages, settings);
        let mut tools = Vec::with_capacity(params.function_tools.len() + params.output_tools.len());
        for tool in params.all_tools() {
            tools.push(WireTool::Cached(
                self.fragments.tools.get(tool, |t| self.map_tool(t))?,
            ));
        }
        if let (Some(ttl), Some(last)) =
            (settings.cache_tool_definitions, params.all_tools().last())
            && self.profile.openai.cache_control == CacheControlStyle::EphemeralWithTtl
        {
            let mut tool = self.map_tool(last);
            if let Value::Object(map) = &mut tool {
                map.insert("cache_control".into(), self.cache_control(Some(ttl)));
            }
            if let Some(slot) = tools.last_mut() {
                *slot = WireTool::Built(tool);
            }
        }
        let tool_choice = match tools.is_empty() {
            true => None,
            false => Some(self.tool_choice(settings, params)),
        };
        let response_format = match (params.output_mode, &params.output_object) {
            (OutputMode::Native, Some(obj)) => Some(ResponseFormat::JsonSchema(
                self.fragments
                    .output_schemas
                    .get(obj, |o| self.map_output_schema(o))?,
            )),
            (OutputMode::Prompted, _) if self.profile.supports_json_object_output => {
                Some(ResponseFormat::JsonObject)
            }
            _ => None,
        };
        Ok(ChatRequest {
            model: &self.model_name,
            messages: wire_messages,
            parallel_tool_calls: settings.parallel_tool_calls.filter(|_| !tools.is_empty()),
            tools,
            tool_choice,
            response_format,
            stream,
            include_usage: stream && self.profile.openai.supports_stream_usage,
            max_tokens: settings
                .max_tokens
                .map(|v| (self.profile.openai.max_tokens_field, v)),
            sampling: [
                ("temperature", settings.temperature),
                ("top_p", settings.top_p),
                ("presence_penalty", settings.presence_penalty),
                ("frequency_penalty", settings.frequency_penalty),
            ],
            seed: settings.seed,
            stop: settings.stop_sequences.as_deref(),
            reasoning_effort: reasoning_effort(&self.profile, settings),
        })
    }

    /// `tool_choice`: the settings' choice, else `required` when only an output tool may
    /// end the run (and the model can be forced), else `auto`. One named tool is a
    /// `function` choice; several are `allowed_tools` (required).
    fn tool_choice(
        &self,
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> ToolChoiceField {
        let function = |name: &str| json!({"type": "function", "function": {"name": name}});
        match &settings.tool_choice {
            Some(ToolChoice::Auto) => ToolChoiceField::Keyword("auto"),
            Some(ToolChoice::None) => ToolChoiceField::Keyword("none"),
            Some(ToolChoice::Required) => ToolChoiceField::Keyword("required"),
            Some(ToolChoice::Tools(names)) => match names.as_slice() {
                [one] => ToolChoiceField::Value(function(one)),
                names => ToolChoiceField::Value(json!({
                    "type": "allowed_tools",
                    "allowed_tools": {
                        "mode": "required",
                        "tools": names.iter().map(|n| function(n)).collect::<Vec<_>>(),
                    }
                })),
            },
            None if !params.allow_text_output
                && !params.output_tools.is_empty()
                && self.profile.supports_tool_choice_required =>
            {
                ToolChoiceField::Keyword("required")
            }
            None => ToolChoiceField::Keyword("auto"),
        }
    }

    /// The `response_format` of a native-output request.
    fn map_output_schema(&self, obj: &OutputObjectDefinition) -> Value {
        let schema = match self.profile.strict_schema_transform {
            Some(transform) if obj.strict == Some(true) => transform.apply(&obj.json_schema),
            _ => obj.json_schema.clone(),
        };
        let mut js = Map::new();
        js.insert("name".into(), json!(obj.name));
        js.insert("schema".into(), schema);
        if let Some(d) = &obj.description {
            js.insert("description".into(), json!(d));
        }
        if let Some(strict) = obj.strict {
            js.insert("strict".into(), json!(strict));
        }
        json!({"type": "json_schema", "json_schema": js})
    }

    fn map_tool(&self, tool: &ToolDefinition) -> Value {
        let strict = tool.strict == Some(true) && self.profile.supports_strict_tools;
        let mut function = Map::new();
        function.insert("name".into(), json!(tool.name));
        if let Some(d) = &tool.description {
            function.insert("description".into(), json!(d));
        }
        let parameters = match self.profile.strict_schema_transform {
            Some(transform) if strict => transform.apply(&tool.parameters_json_schema),
            _ => tool.parameters_json_schema.clone(),
        };
        function.insert("parameters".into(), parameters);
        if strict {
            function.insert("strict".into(), json!(true));
        }
        let mut wire = Map::new();
        wire.insert("type".into(), json!("function"));
        wire.insert("function".into(), Value::Object(function));
        for (k, v) in &tool.extra_fields {
            wire.insert(k.clone(), v.clone());
        }
        Value::Object(wire)
    }

    /// The `cache_control` object of this model's caching style.
    fn cache_control(&self, ttl: Option<CacheTtl>) -> Value {
        match self.profile.openai.cache_control {
            CacheControlStyle::EphemeralWithTtl => {
                json!({"type": "ephemeral", "ttl": ttl.unwrap_or_default().as_str()})
            }
            _ => json!({"type": "ephemeral"}),
        }
    }

    /// Keep at most `max_cache_points` breakpoints: the instructions' and tools' first,
    /// then the newest in the messages.
    fn limit_cache_points(&self, messages: &mut [WireMessage<'_>], settings: &ModelSettings) {
        if self.profile.openai.cache_control == CacheControlStyle::None {
            return;
        }
        let fixed = usize::from(settings.cache_tool_definitions.is_some())
            + usize::from(settings.cache_instructions.is_some());
        let budget = self.profile.openai.max_cache_points.saturating_sub(fixed);
        let mut markers: Vec<(usize, usize)> = Vec::new();
        for (mi, m) in messages.iter().enumerate() {
            let WireMessage::Value(m) = m else { continue };
            if m.get("role") == Some(&json!("user"))
                && let Some(Value::Array(parts)) = m.get("content")
            {
                for (pi, p) in parts.iter().enumerate() {
                    if p.get("cache_control").is_some() {
                        markers.push((mi, pi));
                    }
                }
            }
        }
        let excess = markers.len().saturating_sub(budget);
        for (mi, pi) in markers.into_iter().take(excess) {
            if let Some(Value::Object(part)) = messages
                .get_mut(mi)
                .and_then(|m| match m {
                    WireMessage::Value(v) => v.get_mut("content"),
                    _ => None,
                })
                .and_then(|c| c.get_mut(pi))
            {
                part.remove("cache_control");
            }
        }
    }

    fn map_messages<'a>(
        &self,
        messages: &'a [ModelMessage],
        downloads: &HashMap<String, BinaryContent>,
        settings: &ModelSettings,
    ) -> Result<Vec<WireMessage<'a>>> {
        let role = self.profile.openai.system_prompt_role;
        let mut out = Vec::with_capacity(messages.len() + 1);
        let instructions = messages
            .iter()
            .rev()
            .find_map(ModelMessage::as_request)
            .and_then(|r| r.instructions.as_deref());
        if let Some(ins) = instructions {
            out.push(WireMessage::Text { role, content: ins });
        }
        for message in messages {
            match message {
                ModelMessage::Request(request) => {
                    for part in &request.parts {
                        if let Some(rendering) = part.retry_rendering() {
                            out.push(retry_message(rendering, role));
                            continue;
                        }
                        match part {
                            ModelRequestPart::SystemPrompt(p) => out.push(WireMessage::Text {
                                role,
                                content: &p.content,
                            }),
                            ModelRequestPart::UserPrompt(p) => match &p.content {
                                UserPrompt::Text(t) => out.push(WireMessage::Text {
                                    role: "user",
                                    content: t,
                                }),
                                prompt => out.push(WireMessage::Value(json!({
                                    "role": "user",
                                    "content": self.map_user(prompt, downloads)?,
                                }))),
                            },
                            ModelRequestPart::ToolReturn(p) => out.push(WireMessage::Tool {
                                role: "tool",
                                tool_call_id: &p.tool_call_id,
                                content: p.model_response_str(),
                            }),
                            // retries and retry feedback are rendered above
                            ModelRequestPart::RetryPrompt(_)
                            | ModelRequestPart::RetryFeedback(_) => {}
                            ModelRequestPart::Unknown(_) => {}
                        }
                    }
                }
                ModelMessage::Response(response) => {
                    out.push(WireMessage::Value(self.map_assistant(response)));
                }
            }
        }
        if let Some(ttl) = settings.cache_instructions
            && self.profile.openai.cache_control != CacheControlStyle::None
            && let Some(first) = out.first_mut()
            && let WireMessage::Text { role: r, content } = first
            && *r == role
        {
            *first = WireMessage::Value(json!({
                "role": role,
                "content": [{"type": "text", "text": content, "cache_control": self.cache_control(Some(ttl))}],
            }));
        }
        Ok(out)
    }

    fn map_assistant(&self, response: &ModelResponse) -> Value {
        let mut texts: Vec<String> = Vec::new();
        let mut tool_calls = Vec::new();
        let mut field_thinking: Option<String> = None;
        // the provider's own reasoning details (signatures) go back as they came
        let reasoning_details = response
            .provider_details
            .as_ref()
            .and_then(|d| d.get(REASONING_DETAILS))
            .filter(|_| {
                self.profile.openai.thinking_field.is_some()
                    && response.provider_name.as_deref() == Some(self.provider.name())
            });
        let (start, end) = &self.profile.thinking_tags;
        for part in &response.parts {
            match part {
                ModelResponsePart::Text(t) => texts.push(t.content.clone()),
                ModelResponsePart::ToolCall(c) => {
                    let mut call = json!({
                        "id": c.tool_call_id,
                        "type": "function",
                        "function": {"name": c.tool_name, "arguments": c.args.to_json_string()},
                    });
                    if let (Some(extra), Value::Object(map)) = (
                        c.provider_details
                            .as_ref()
                            .and_then(|d| d.get("extra_content")),
                        &mut call,
                    ) {
                        map.insert("extra_content".into(), extra.clone());
                    }
                    tool_calls.push(call);
                }
                ModelResponsePart::Thinking(t) => {
                    let same_provider = t.provider_name.as_deref() == Some(self.provider.name());
                    match (t.id.as_deref(), self.profile.openai.thinking_field) {
                        (Some(id), Some(field)) if same_provider && id == field => {
                            field_thinking
                                .get_or_insert_with(String::new)
                                .push_str(&t.content);
                        }
                        _ if !t.content.is_empty()
                            && (same_provider || t.provider_name.is_none()) =>
                        {
                            texts.push(format!("{start}\n{}\n{end}", t.content));
                        }
                        // thinking from another provider is not sent: it cannot take it
                        _ => {}
                    }
                }
                ModelResponsePart::Unknown(_) => {}
            }
        }
        let mut msg = Map::new();
        msg.insert("role".into(), json!("assistant"));
        msg.insert(
            "content".into(),
            if texts.is_empty() {
                Value::Null
            } else {
                json!(texts.join("\n\n"))
            },
        );
        if let (Some(thinking), Some(field)) = (field_thinking, self.profile.openai.thinking_field)
            && !thinking.is_empty()
        {
            msg.insert(field.into(), json!(thinking));
        }
        if let Some(details) = reasoning_details {
            msg.insert(REASONING_DETAILS.into(), details.clone());
        }
        if !tool_calls.is_empty() {
            msg.insert("tool_calls".into(), Value::Array(tool_calls));
        }
        Value::Object(msg)
    }

    fn map_user(
        &self,
        prompt: &UserPrompt,
        downloads: &HashMap<String, BinaryContent>,
    ) -> Result<Value> {
        let items = match prompt {
            UserPrompt::Text(t) => return Ok(json!(t)),
            UserPrompt::Parts(items) => items,
        };
        let mut parts: Vec<Value> = Vec::with_capacity(items.len());
        for item in items {
            parts.push(match item {
                UserContent::Text(t) => json!({"type": "text", "text": t}),
                UserContent::ImageUrl(u) => {
                    let mut image = json!({"url": u.url});
                    add_detail(&mut image, &u.extra);
                    json!({"type": "image_url", "image_url": image})
                }
                UserContent::VideoUrl(u) => json!({"type": "video_url", "video_url": {"url": u.url}}),
                UserContent::DocumentUrl(u) if self.sends_document_url(u) => {
                    let media = u.media_type().unwrap_or_else(|| "application/pdf".into());
                    let ext = crate::messages::extension_for(&media);
                    json!({"type": "file", "file": {"file_data": u.url, "filename": format!("filename.{ext}")}})
                }
                UserContent::AudioUrl(u) | UserContent::DocumentUrl(u) => {
                    let bin = downloads.get(&u.url).ok_or_else(|| {
                        Error::User(format!("{} was not downloaded before the request", u.url))
                    })?;
                    binary_part(bin, matches!(item, UserContent::AudioUrl(_)))
                }
                UserContent::Binary(b) => binary_part(b, b.media_type.starts_with("audio/")),
                UserContent::UploadedFile(f) => json!({"type": "file", "file": {"file_id": f.file_id}}),
                UserContent::CachePoint(point) => {
                    if self.profile.openai.cache_control != CacheControlStyle::None
                        && let Some(Value::Object(last)) = parts.last_mut()
                    {
                        let ttl = point.ttl.as_deref().and_then(CacheTtl::parse);
                        last.insert("cache_control".into(), self.cache_control(ttl));
                    }
                    continue;
                }
                UserContent::Unknown(_) => continue,
            });
        }
        Ok(Value::Array(parts))
    }

    fn sends_document_url(&self, url: &crate::messages::FileUrl) -> bool {
        let forced = url
            .extra
            .get("force_download")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.profile.openai.supports_document_urls && !forced
    }

    /// The audio and document URLs of `messages` that must be sent inline, each once,
    /// with whether it is a document.
    fn media_to_download<'a>(&self, messages: &'a [ModelMessage]) -> Vec<(&'a FileUrl, bool)> {
        let mut out: Vec<(&FileUrl, bool)> = Vec::new();
        for m in messages {
            let Some(r) = m.as_request() else { continue };
            for p in &r.parts {
                let ModelRequestPart::UserPrompt(u) = p else {
                    continue;
                };
                let UserPrompt::Parts(items) = &u.content else {
                    continue;
                };
                for item in items {
                    let (UserContent::AudioUrl(f) | UserContent::DocumentUrl(f)) = item else {
                        continue;
                    };
                    let is_document = matches!(item, UserContent::DocumentUrl(_));
                    if out.iter().any(|(seen, _)| seen.url == f.url)
                        || (is_document && self.sends_document_url(f))
                    {
                        continue;
                    }
                    out.push((f, is_document));
                }
            }
        }
        out
    }

    /// Download the media that Chat Completions only takes inline. The download is
    /// boxed and only started when there is something to fetch, so the request future of
    /// the common case does not carry its state.
    async fn download_media(
        &self,
        messages: &[ModelMessage],
    ) -> Result<HashMap<String, BinaryContent>> {
        let wanted = self.media_to_download(messages);
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        let policy = self.provider.client().download_policy();
        Box::pin(crate::models::wire::download_files(wanted, policy)).await
    }

    /// Parse a non-streamed response body.
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn parse_response(&self, body: &[u8]) -> Result<ModelResponse> {
        let completion: Completion = serde_json::from_slice(body)
            .map_err(|e| Error::unexpected_body(format!("invalid chat completion: {e}"), body))?;
        let mut state = ChunkProcessor::new(self.provider.name(), &self.profile);
        let events = state.completion(completion, body)?;
        let mut acc = ResponseAccumulator::new();
        for e in events {
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

fn add_detail(image: &mut Value, extra: &Map<String, Value>) {
    if let (Some(detail), Value::Object(m)) = (
        extra.get("vendor_metadata").and_then(|v| v.get("detail")),
        image,
    ) {
        m.insert("detail".into(), detail.clone());
    }
}

fn binary_part(bin: &BinaryContent, audio: bool) -> Value {
    if bin.media_type.starts_with("image/") {
        let mut image = json!({"url": bin.data_uri()});
        add_detail(&mut image, &bin.extra);
        return json!({"type": "image_url", "image_url": image});
    }
    if audio {
        let format = match bin.media_type.as_str() {
            "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
            other => other
                .strip_prefix("audio/")
                .map_or("mp3", |f| if f == "mpeg" { "mp3" } else { f }),
        };
        return json!({"type": "input_audio", "input_audio": {"data": bin.base64(), "format": format}});
    }
    let filename = bin.filename.clone().unwrap_or_else(|| {
        format!(
            "filename.{}",
            crate::messages::extension_for(&bin.media_type)
        )
    });
    json!({"type": "file", "file": {"file_data": bin.data_uri(), "filename": filename}})
}

impl Model for OpenAIChatModel {
    async fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ModelResponse> {
        let framed = frame_for_wire(messages, self.profile.system_role);
        let messages = &*framed;
        let downloads = self.download_media(messages).await?;
        let body = self.wire_body(messages, settings, params, &downloads, false)?;
        let mut request =
            self.provider
                .json_request(CHAT_PATH, &self.model_name, &body, settings)?;
        self.provider
            .authorize(&mut request, &self.model_name)
            .await?;
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
        let framed = frame_for_wire(messages, self.profile.system_role);
        let messages = &*framed;
        let downloads = self.download_media(messages).await?;
        let body = self.wire_body(messages, settings, params, &downloads, true)?;
        let mut request =
            self.provider
                .json_request(CHAT_PATH, &self.model_name, &body, settings)?;
        self.provider
            .authorize(&mut request, &self.model_name)
            .await?;
        let client = self.provider.client();
        let events = client
            .post_for_events(&request, &self.model_name, settings.stream_idle_timeout)
            .await?;
        let model_name = self.model_name.clone();
        let this = self.clone();
        let stream = async_stream::try_stream! {
            let mut state = ChunkProcessor::new(this.provider.name(), &this.profile);
            let mut finished = false;
            futures::pin_mut!(events);
            while let Some(event) = events.next().await {
                let event = event?;
                if event.data.trim() == "[DONE]" {
                    finished = true;
                    break;
                }
                if event.data.trim().is_empty() {
                    continue;
                }
                if event.event.as_deref() == Some("error") {
                    Err(crate::models::wire::stream_error(&model_name, &event.data))?;
                }
                let chunk: Completion = serde_json::from_str(&event.data).map_err(|e| Error::unexpected_body(format!("invalid chat completion chunk: {e}"), event.data.as_bytes()))?;
                if chunk.error.is_some() {
                    Err(crate::models::wire::stream_error(&model_name, &event.data))?;
                }
                for e in state.chunk(chunk)? {
                    yield e;
                }
            }
            if !finished && !state.saw_finish_reason {
                Err(crate::models::wire::incomplete_stream(&model_name))?;
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

// ---- request body ----

/// A Chat Completions request body, written field by field: no JSON tree is built for
/// the top level, and tool definitions and schemas are written from cached fragments.
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    tools: Vec<WireTool>,
    tool_choice: Option<ToolChoiceField>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<ResponseFormat>,
    stream: bool,
    include_usage: bool,
    max_tokens: Option<(&'static str, u32)>,
    sampling: [(&'static str, Option<f64>); 4],
    seed: Option<i64>,
    stop: Option<&'a [String]>,
    reasoning_effort: Option<&'static str>,
}

/// A `tool_choice` value: a keyword, or a choice of tools.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum ToolChoiceField {
    Keyword(&'static str),
    Value(Value),
}

/// `reasoning_effort` for the unified thinking setting, on models that take one (see
/// [`Thinking`]): `On` is `medium`, `Off` the model's lowest effort.
fn reasoning_effort(profile: &ModelProfile, settings: &ModelSettings) -> Option<&'static str> {
    let ThinkingStyle::Effort { lowest } = profile.thinking else {
        return None;
    };
    Some(match settings.thinking? {
        Thinking::Off => lowest,
        Thinking::On => "medium",
        t => match t.effort() {
            Some(ThinkingEffort::Minimal) => lowest,
            Some(ThinkingEffort::Low) => "low",
            Some(ThinkingEffort::Medium) | None => "medium",
            Some(_) => "high",
        },
    })
}

impl serde::Serialize for ChatRequest<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("model", self.model)?;
        map.serialize_entry("messages", &self.messages)?;
        if !self.tools.is_empty() {
            map.serialize_entry("tools", &self.tools)?;
        }
        if let Some(choice) = &self.tool_choice {
            map.serialize_entry("tool_choice", choice)?;
        }
        if let Some(parallel) = self.parallel_tool_calls {
            map.serialize_entry("parallel_tool_calls", &parallel)?;
        }
        match &self.response_format {
            Some(ResponseFormat::JsonSchema(format)) => {
                map.serialize_entry("response_format", format)?;
            }
            Some(ResponseFormat::JsonObject) => {
                map.serialize_entry(
                    "response_format",
                    &JsonObjectFormat {
                        kind: "json_object",
                    },
                )?;
            }
            None => {}
        }
        map.serialize_entry("stream", &self.stream)?;
        if self.include_usage {
            map.serialize_entry(
                "stream_options",
                &StreamOptions {
                    include_usage: true,
                },
            )?;
        }
        if let Some((field, value)) = self.max_tokens {
            map.serialize_entry(field, &value)?;
        }
        for (key, value) in &self.sampling {
            if let Some(v) = value {
                map.serialize_entry(key, v)?;
            }
        }
        if let Some(seed) = self.seed {
            map.serialize_entry("seed", &seed)?;
        }
        if let Some(stop) = self.stop {
            map.serialize_entry("stop", stop)?;
        }
        if let Some(effort) = self.reasoning_effort {
            map.serialize_entry("reasoning_effort", effort)?;
        }
        map.end()
    }
}

/// A request body as sent.
#[derive(serde::Serialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // lives on the stack while it is serialized
enum WireBody<'a> {
    Direct(ChatRequest<'a>),
    Merged(Value),
}

/// A message of the request: the common shapes borrowed from the history, the rest
/// (multimodal user content, assistant turns, cache breakpoints) built as JSON.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum WireMessage<'a> {
    Text {
        role: &'a str,
        content: &'a str,
    },
    OwnedText {
        role: &'a str,
        content: String,
    },
    Tool {
        role: &'a str,
        tool_call_id: &'a str,
        content: String,
    },
    Value(Value),
}

enum ResponseFormat {
    JsonSchema(Fragment),
    JsonObject,
}

#[derive(serde::Serialize)]
struct JsonObjectFormat {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(serde::Serialize)]
struct StreamOptions {
    include_usage: bool,
}

// ---- wire types (lenient: every field optional, unknown fields kept) ----

lenient_struct!(Completion {
    id: String,
    model: String,
    created: Value,
    choices: Vec<Choice>,
    usage: WireUsage,
    error: Value,
} ignore ["object"]);

lenient_struct!(WireUsage {
    prompt_tokens: Value,
    completion_tokens: Value,
    prompt_tokens_details: Value,
    completion_tokens_details: Value,
    cached_tokens: Value,
    prompt_cache_hit_tokens: Value,
} ignore ["total_tokens"]);

lenient_struct!(Choice {
    index: Value,
    message: Delta,
    delta: Delta,
    finish_reason: String,
} ignore []);

lenient_struct!(Delta {
    content: Value,
    refusal: String,
    reasoning_content: String,
    reasoning: String,
    reasoning_details: Vec<Value>,
    tool_calls: Vec<ToolCallDelta>,
} ignore ["role"]);

lenient_struct!(ToolCallDelta {
    index: usize,
    id: String,
    function: FunctionDelta,
} ignore ["type"]);

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
}

/// Turns completions and chunks into stream events: the one processing path of this
/// wire API, used for streamed and non-streamed responses alike.
struct ChunkProcessor {
    provider: String,
    parts: PartsManager,
    tags: TagSplitter,
    /// Indexes of the tool calls whose id is settled (sent, or generated at their start).
    tool_ids: Vec<usize>,
    saw_finish_reason: bool,
    seen_metadata: bool,
    details: Map<String, Value>,
    /// Set for endpoints whose streamed `content` is the whole text so far, not a delta
    /// (Perplexity): what was already received, to take the new part from.
    cumulative: Option<String>,
    /// OpenRouter's `reasoning_details` (text, summaries, encrypted reasoning with
    /// signatures), merged across chunks by index and type.
    reasoning_details: Vec<Value>,
}

impl ChunkProcessor {
    fn new(provider: &str, profile: &ModelProfile) -> Self {
        let (start, end) = &profile.thinking_tags;
        ChunkProcessor {
            provider: provider.to_owned(),
            parts: PartsManager::new(),
            tags: TagSplitter::new(start.as_str(), end.as_str()),
            tool_ids: Vec::new(),
            saw_finish_reason: false,
            seen_metadata: false,
            details: Map::new(),
            cumulative: profile.openai.stream_cumulative_text.then(String::new),
            reasoning_details: Vec::new(),
        }
    }

    /// A whole (non-streamed) completion.
    fn completion(&mut self, completion: Completion, raw: &[u8]) -> Result<Vec<ModelStreamEvent>> {
        if completion.choices.is_none() {
            return Err(Error::unexpected_body(
                "invalid chat completion: no `choices`",
                raw,
            ));
        }
        let mut events = self.chunk(completion)?;
        events.extend(self.flush());
        Ok(events)
    }

    fn chunk(&mut self, chunk: Completion) -> Result<Vec<ModelStreamEvent>> {
        let mut events = Vec::new();
        let first = !self.seen_metadata;
        self.seen_metadata = true;
        let mut meta = ResponseMetadata {
            model_name: chunk.model.filter(|_| first),
            provider_response_id: chunk.id.filter(|_| first),
            timestamp: chunk
                .created
                .as_ref()
                .and_then(Value::as_i64)
                .and_then(|s| Utc.timestamp_opt(s, 0).single()),
            ..Default::default()
        };
        for (k, v) in chunk.extra {
            if !v.is_null() {
                self.details.insert(k, v);
            }
        }
        let usage = chunk.usage.or_else(|| {
            self.details
                .get("x_groq")
                .and_then(|x| x.get("usage"))
                .and_then(|u| WireUsage::deserialize(u).ok())
        });
        // the first choice only: with `n` > 1 the other choices' deltas arrive in
        // chunks of their own, and must not be mixed into this response
        if let Some(choice) = chunk
            .choices
            .into_iter()
            .flatten()
            .find(|c| c.index.as_ref().and_then(Value::as_u64).unwrap_or(0) == 0)
        {
            if let Some(reason) = choice.finish_reason.as_deref().filter(|r| !r.is_empty()) {
                self.saw_finish_reason = true;
                meta.finish_reason = Some(map_finish_reason(reason));
                self.details.insert("finish_reason".into(), json!(reason));
            }
            for (k, v) in choice.extra {
                if !v.is_null() {
                    self.details.insert(k, v);
                }
            }
            if let Some(delta) = choice.message.or(choice.delta) {
                self.delta(delta, &mut events);
            }
        }
        if let Some(u) = usage {
            events.push(ModelStreamEvent::Usage(map_usage(&u)));
        }
        events.push(ModelStreamEvent::Metadata(meta));
        Ok(events)
    }

    fn delta(&mut self, delta: Delta, events: &mut Vec<ModelStreamEvent>) {
        for item in delta.reasoning_details.iter().flatten() {
            merge_reasoning_detail(&mut self.reasoning_details, item);
        }
        for (field, text) in [
            ("reasoning_content", &delta.reasoning_content),
            ("reasoning", &delta.reasoning),
        ] {
            if let Some(text) = text.as_deref().filter(|t| !t.is_empty()) {
                let mut event = self.parts.thinking_delta(Some(field), Some(text), None);
                if let Some(ModelStreamEvent::PartStart {
                    part: ModelResponsePart::Thinking(t),
                    ..
                }) = &mut event
                {
                    t.id = Some(field.to_owned());
                    t.provider_name = Some(self.provider.clone());
                }
                events.extend(event);
            }
        }
        let content = match &delta.content {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(|i| i.get("text").and_then(Value::as_str))
                    .collect::<String>(),
            ),
            _ => None,
        };
        // cumulative streams: only what is new since the last chunk
        let content = match (content, &mut self.cumulative) {
            (Some(text), Some(seen)) => {
                let new = match text.strip_prefix(seen.as_str()) {
                    Some(rest) => rest.to_owned(),
                    // not a continuation: taken as it is
                    None => text.clone(),
                };
                *seen = text;
                Some(new)
            }
            (content, _) => content,
        };
        if let Some(content) = content {
            for (thinking, piece) in self.tags.feed(&content) {
                self.content_piece(thinking, &piece, events);
            }
        }
        if let Some(refusal) = delta.refusal.as_deref().filter(|r| !r.is_empty()) {
            self.details.insert("refusal".into(), json!(true));
            events.extend(self.parts.text_delta(Some("content"), refusal));
        }
        for (position, call) in delta.tool_calls.into_iter().flatten().enumerate() {
            let index = call.index.unwrap_or(position);
            let vendor = format!("tool_call_{index}");
            let (name, args) = match call.function {
                Some(f) => (
                    f.name,
                    f.arguments.map(|a| match a {
                        Value::String(s) => s,
                        other => other.to_string(),
                    }),
                ),
                None => (None, None),
            };
            let id = call.id.filter(|i| !i.is_empty());
            let known = self.tool_ids.contains(&index);
            if id.is_some() && !known {
                self.tool_ids.push(index);
            }
            let mut event = self.parts.tool_call_delta(
                Some(&vendor),
                name.as_deref(),
                args.as_deref(),
                if known { None } else { id.as_deref() },
            );
            if !known
                && let Some(ModelStreamEvent::PartStart {
                    part: ModelResponsePart::ToolCall(c),
                    ..
                }) = &mut event
            {
                let extra: Map<String, Value> = call
                    .extra
                    .into_iter()
                    .filter(|(k, v)| k != "type" && !v.is_null())
                    .collect();
                if !extra.is_empty() {
                    c.provider_details = Some(extra);
                }
                if id.is_none() {
                    self.tool_ids.push(index);
                }
            }
            events.extend(event);
        }
        for (k, v) in delta.extra {
            if !v.is_null() {
                self.details.insert(k, v);
            }
        }
    }

    fn content_piece(&mut self, thinking: bool, piece: &str, events: &mut Vec<ModelStreamEvent>) {
        if thinking {
            let mut event = self
                .parts
                .thinking_delta(Some("think_tags"), Some(piece), None);
            if let Some(ModelStreamEvent::PartStart {
                part: ModelResponsePart::Thinking(t),
                ..
            }) = &mut event
            {
                t.provider_name = Some(self.provider.clone());
            }
            events.extend(event);
        } else {
            events.extend(self.parts.text_delta(Some("content"), piece));
        }
    }

    fn flush(&mut self) -> Vec<ModelStreamEvent> {
        let mut events = Vec::new();
        if let Some((thinking, piece)) = self.tags.finish() {
            self.content_piece(thinking, &piece, &mut events);
        }
        if !self.reasoning_details.is_empty() {
            let details = std::mem::take(&mut self.reasoning_details);
            // the signature goes on the thinking part (made when the reasoning came
            // encrypted only); the details themselves stay with the response
            if let Some(signature) = reasoning_signature(&details) {
                let mut event =
                    self.parts
                        .thinking_delta(Some("reasoning"), None, Some(&signature));
                if let Some(ModelStreamEvent::PartStart {
                    part: ModelResponsePart::Thinking(t),
                    ..
                }) = &mut event
                {
                    t.id = Some("reasoning".to_owned());
                    t.provider_name = Some(self.provider.clone());
                }
                events.extend(event);
            }
            self.details
                .insert(REASONING_DETAILS.into(), Value::Array(details));
        }
        if !self.details.is_empty() {
            events.push(ModelStreamEvent::Metadata(ResponseMetadata {
                provider_details: Some(std::mem::take(&mut self.details)),
                ..Default::default()
            }));
        }
        events
    }
}

/// The response detail (and thinking-part detail) holding OpenRouter's reasoning details.
const REASONING_DETAILS: &str = "reasoning_details";

/// Add a streamed piece of a reasoning detail to the ones so far: the piece with the
/// same index and type gets its text, summary and data appended; a new one is added.
fn merge_reasoning_detail(details: &mut Vec<Value>, piece: &Value) {
    let key = |v: &Value| (v.get("index").cloned(), v.get("type").cloned());
    match details.iter_mut().find(|d| key(d) == key(piece)) {
        Some(Value::Object(existing)) => {
            if let Some(piece) = piece.as_object() {
                for (k, v) in piece {
                    match (existing.get_mut(k), v) {
                        (Some(Value::String(old)), Value::String(new))
                            if matches!(k.as_str(), "text" | "summary" | "data" | "signature") =>
                        {
                            old.push_str(new);
                        }
                        (None, v) => {
                            existing.insert(k.clone(), v.clone());
                        }
                        _ => {}
                    }
                }
            }
        }
        _ => details.push(piece.clone()),
    }
}

/// The signature OpenRouter's reasoning details carry: a detail's own, or the data of
/// encrypted reasoning.
fn reasoning_signature(details: &[Value]) -> Option<String> {
    details.iter().find_map(|i| {
        i.get("signature")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                (i.get("type").and_then(Value::as_str) == Some("reasoning.encrypted"))
                    .then(|| i.get("data").and_then(Value::as_str))
                    .flatten()
            })
            .map(str::to_owned)
    })
}

fn map_finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" | "end_turn" | "eos" => FinishReason::Stop,
        "length" | "max_tokens" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCall,
        "content_filter" => FinishReason::ContentFilter,
        "error" => FinishReason::Error,
        other => FinishReason::Other(other.to_owned()),
    }
}

fn map_usage(u: &WireUsage) -> RequestUsage {
    let int = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let mut usage = RequestUsage {
        input_tokens: int(u.prompt_tokens.as_ref()),
        output_tokens: int(u.completion_tokens.as_ref()),
        ..Default::default()
    };
    let prompt = u.prompt_tokens_details.as_ref();
    let completion = u.completion_tokens_details.as_ref();
    usage.cache_read_tokens = prompt
        .and_then(|p| p.get("cached_tokens"))
        .or(u.cached_tokens.as_ref())
        .or(u.prompt_cache_hit_tokens.as_ref())
        .and_then(Value::as_u64)
        .unwrap_or(0);
    usage.input_audio_tokens = int(prompt.and_then(|p| p.get("audio_tokens")));
    usage.output_audio_tokens = int(completion.and_then(|c| c.get("audio_tokens")));
    let top_level = u
        .prompt_cache_hit_tokens
        .as_ref()
        .map(|v| ("prompt_cache_hit_tokens", v))
        .into_iter()
        .chain(u.extra.iter().map(|(k, v)| (k.as_str(), v)));
    let nested = [prompt, completion]
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v)));
    for (k, v) in top_level.chain(nested) {
        let skip = matches!(
            k,
            "prompt_tokens"
                | "completion_tokens"
                | "total_tokens"
                | "audio_tokens"
                | "cached_tokens"
        );
        if let (false, Some(n)) = (skip, v.as_u64())
            && n > 0
        {
            usage.details.insert(k.to_owned(), n);
        }
    }
    usage
}

/// A retry as Chat Completions carries it: an errored tool result as a `tool` message
/// holding `{"error":…}`, feedback as a `user` message, the agent loop's fixed
/// `no_output` text as a message in the profile's system role.
fn retry_message<'a>(rendering: RetryRendering<'a>, system_role: &'static str) -> WireMessage<'a> {
    match rendering {
        RetryRendering::ToolError { tool_call_id, .. } => WireMessage::Tool {
            role: "tool",
            tool_call_id,
            content: rendering.wrapped_error().unwrap_or_default(),
        },
        RetryRendering::System(text) => WireMessage::OwnedText {
            role: system_role,
            content: text,
        },
        RetryRendering::User(text) => WireMessage::OwnedText {
            role: "user",
            content: text,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_and_details_from_every_place_providers_put_them() {
        let usage = |json: &str| {
            let c: Completion = serde_json::from_str(json).unwrap();
            let mut p = ChunkProcessor::new("openai", &ModelProfile::default());
            p.chunk(c).unwrap().into_iter().find_map(|e| match e {
                ModelStreamEvent::Usage(u) => Some(u),
                _ => None,
            })
        };
        let u = usage(
            r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,
            "prompt_tokens_details":{"cached_tokens":4,"audio_tokens":2},
            "completion_tokens_details":{"reasoning_tokens":3,"audio_tokens":1},"queue_time":0,"extra_n":7}}"#,
        )
        .unwrap();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cache_read_tokens),
            (10, 5, 4)
        );
        assert_eq!((u.input_audio_tokens, u.output_audio_tokens), (2, 1));
        let keys: Vec<&str> = u.details.keys().map(String::as_str).collect();
        assert_eq!(keys, ["extra_n", "reasoning_tokens"]);
        // DeepSeek's field, and Groq's usage under x_groq
        let u = usage(r#"{"choices":[],"usage":{"prompt_tokens":9,"prompt_cache_hit_tokens":6}}"#)
            .unwrap();
        assert_eq!(u.cache_read_tokens, 6);
        assert_eq!(u.details.get("prompt_cache_hit_tokens"), Some(&6));
        let u = usage(r#"{"choices":[],"usage":null,"x_groq":{"usage":{"prompt_tokens":8,"completion_tokens":2}}}"#)
            .unwrap();
        assert_eq!((u.input_tokens, u.output_tokens), (8, 2));
        assert!(usage(r#"{"choices":[]}"#).is_none());
    }

    #[test]
    fn thinking_is_split_at_the_profiles_tags() {
        let provider = crate::providers::openai_compatible::OpenAICompatibleProvider::builder()
            .base_url("http://localhost:1/v1")
            .build()
            .unwrap();
        let profile = ModelProfile {
            thinking_tags: ("<reasoning>".into(), "</reasoning>".into()),
            ..ModelProfile::default()
        };
        let m = OpenAIChatModel::new("m", provider).with_profile(profile);
        let body = br#"{"choices":[{"message":{"content":"<reasoning>hmm <think>x</think></reasoning>The answer"},"finish_reason":"stop"}]}"#;
        let response = m.parse_response(body).unwrap();
        let ModelResponsePart::Thinking(thinking) = &response.parts[0] else {
            panic!("{:?}", response.parts)
        };
        assert_eq!(thinking.content, "hmm <think>x</think>");
        let ModelResponsePart::Text(text) = &response.parts[1] else {
            panic!("{:?}", response.parts)
        };
        assert_eq!(text.content, "The answer");
    }
}
