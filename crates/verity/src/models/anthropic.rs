//! Anthropic Messages (`POST /v1/messages`).
//!
//! ```no_run
//! use verity::prelude::*;
//! use verity::models::anthropic::AnthropicModel;
//! use verity::providers::anthropic::AnthropicProvider;
//!
//! # async fn demo() -> verity::Result<()> {
//! let model = AnthropicModel::new("claude-sonnet-4-5", AnthropicProvider::from_env()?);
//! let agent = Agent::builder(model).build();
//! println!("{}", agent.run("Hello!").await?.output);
//! # Ok(()) }
//! ```
//!
//! Thinking, server tools and other request fields go in [`ModelSettings::extra_body`]
//! in the API's own shape (`{"thinking": {"type": "enabled", "budget_tokens": 1024}}`).
//! Prompt caching: [`ModelSettings::cache_instructions`],
//! [`ModelSettings::cache_tool_definitions`] and [`CachePoint`](crate::messages::CachePoint)
//! items in prompts. Response blocks Verity does not model (server tool calls and
//! results, compaction, …) are kept as parts carrying the raw block, and sent back
//! unchanged to Anthropic.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize as _, Serialize as _};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::http::HttpRequest;
use crate::messages::{
    BinaryContent, FinishReason, ModelMessage, ModelRequestPart, ModelResponse, ModelResponsePart,
    RetryRendering, ThinkingPart, ToolCallArgs, ToolCallPart, UserContent, UserPrompt,
    frame_for_wire,
};
use crate::model::{
    Model, ModelProfile, ModelRequestParameters, OutputObjectDefinition, ToolDefinition,
};
use crate::models::wire::{Base64, CallArgs, Fragment, Fragments, WireTool};
use crate::output::OutputMode;
use crate::profiles::ThinkingStyle;
use crate::providers::Provider;
use crate::providers::transport::Transport;
use crate::request::NativeTool;
use crate::settings::{CacheTtl, ModelSettings, Thinking, ThinkingEffort, ToolChoice};
use crate::stream::{
    ModelStreamEvent, PartsManager, ResponseAccumulator, ResponseMetadata, ResponseStream,
};
use crate::usage::RequestUsage;

/// The key under which a raw Anthropic block is kept in a part.
pub const RAW_BLOCK: &str = "anthropic_block";

/// `max_tokens` when the settings give none (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A Claude model on Anthropic's Messages API (or a server speaking it), or behind
/// another [`Transport`] with the same body (AWS Bedrock's InvokeModel: see
/// `AnthropicModel::on_bedrock`, feature `bedrock`).
#[derive(Debug, Clone)]
pub struct AnthropicModel {
    model_name: String,
    transport: Transport,
    profile: ModelProfile,
    settings: Option<ModelSettings>,
    /// Tool definitions and output schemas as this model sends them.
    fragments: Arc<Fragments>,
}

impl AnthropicModel {
    /// `model_name` on `provider`.
    pub fn new(model_name: impl Into<String>, provider: impl Into<Provider>) -> Self {
        let provider: Provider = provider.into();
        Self::with_transport(model_name, Transport::Http(provider))
    }

    /// `model_name` behind `transport`; an HTTP provider gives the profile, other
    /// transports get Claude's.
    pub fn with_transport(model_name: impl Into<String>, transport: Transport) -> Self {
        let model_name = model_name.into();
        let profile = match &transport {
            Transport::Http(provider) => provider.model_profile(&model_name),
            Transport::Invoke(_) => {
                // only the Messages API itself serves a mid-conversation `system` entry
                let base = model_name
                    .rsplit("anthropic.")
                    .next()
                    .unwrap_or(&model_name);
                let mut profile = crate::profiles::anthropic(&model_name);
                profile.system_role = crate::profiles::claude_tagged_system_role(base);
                profile
            }
        };
        AnthropicModel {
            model_name,
            transport,
            profile,
            settings: None,
            fragments: Arc::default(),
        }
    }

    /// The history as PydanticAI 2.68 prepares it for this model ([`frame_for_wire`]);
    /// with a mid-conversation system role, a request's system messages go in a `system`
    /// entry after its user turn, so they move behind the request's other parts.
    fn framed<'m>(&self, messages: &'m [ModelMessage]) -> std::borrow::Cow<'m, [ModelMessage]> {
        let framed = join_standing_prompts(frame_for_wire(messages, self.profile.system_role));
        if !self.profile.system_role.is_native() {
            return framed;
        }
        let is_system = |p: &ModelRequestPart| matches!(p, ModelRequestPart::SystemPrompt(_));
        let standing = |i: usize, r: &crate::messages::ModelRequest| {
            if i == 0 {
                r.parts.iter().take_while(|p| is_system(p)).count()
            } else {
                0
            }
        };
        let misplaced = |i: usize, r: &crate::messages::ModelRequest| {
            r.parts
                .iter()
                .skip(standing(i, r))
                .skip_while(|p| !is_system(p))
                .any(|p| !is_system(p))
        };
        let needs_move = framed
            .iter()
            .enumerate()
            .any(|(i, m)| m.as_request().is_some_and(|r| misplaced(i, r)));
        if !needs_move {
            return framed;
        }
        let mut out = framed.into_owned();
        for (i, message) in out.iter_mut().enumerate() {
            if let ModelMessage::Request(r) = message {
                let start = standing(i, r);
                let rest = r.parts.split_off(start);
                let (system, other): (Vec<_>, Vec<_>) =
                    rest.into_iter().partition(|p| is_system(p));
                r.parts.extend(other);
                r.parts.extend(system);
            }
        }
        std::borrow::Cow::Owned(out)
    }

    /// Settings applied under the agent's and the run's.
    pub fn with_settings(mut self, settings: ModelSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// The media of `messages` as the Messages API takes it: audio and video are an
    /// error (the API takes neither; nothing is silently dropped), and text documents at
    /// web URLs — which the API does not fetch, only PDFs — are downloaded (under the
    /// provider's download policy) and sent as text.
    async fn prepare_media<'a>(
        &self,
        messages: &'a [ModelMessage],
    ) -> Result<Cow<'a, [ModelMessage]>> {
        for message in messages {
            let Some(request) = message.as_request() else {
                continue;
            };
            for part in &request.parts {
                let ModelRequestPart::UserPrompt(prompt) = part else {
                    continue;
                };
                let UserPrompt::Parts(items) = &prompt.content else {
                    continue;
                };
                for item in items {
                    let what = match item {
                        UserContent::AudioUrl(u) | UserContent::VideoUrl(u) => Some(u.url.clone()),
                        UserContent::Binary(b)
                            if b.media_type.starts_with("audio/")
                                || b.media_type.starts_with("video/") =>
                        {
                            Some(format!("{} bytes of {}", b.data.len(), b.media_type))
                        }
                        _ => None,
                    };
                    if let Some(what) = what {
                        return Err(Error::User(format!(
                            "Anthropic's Messages API takes no audio or video: {what}"
                        )));
                    }
                }
            }
        }
        let policy = match &self.transport {
            Transport::Http(provider) => provider.client().download_policy().clone(),
            _ => crate::http::download::DownloadPolicy::default(),
        };
        crate::models::wire::inline_media(
            messages,
            |item| {
                matches!(item, UserContent::DocumentUrl(u)
                    if crate::models::wire::is_web_url(&u.url)
                        && u.media_type().is_some_and(|m| m.starts_with("text/")))
            },
            &policy,
        )
        .await
    }

    fn cache_control(ttl: Option<CacheTtl>) -> Value {
        json!({"type": "ephemeral", "ttl": ttl.unwrap_or_default().as_str()})
    }

    /// The JSON body of a request, built as a `Value` (the reference the bytes of
    /// [`serialize_request_body`](Self::serialize_request_body) are tested against;
    /// bodies with an `extra_body`, token counts and other transports use it).
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn build_request_body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
        stream: bool,
    ) -> Result<Value> {
        let messages = &*self.framed(messages);
        crate::models::wire::body_value(
            self.messages_request(messages, settings, params, stream, false)?,
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
        stream: bool,
    ) -> Result<Vec<u8>> {
        let messages = &*self.framed(messages);
        let body = self.wire_body(messages, settings, params, stream)?;
        Ok(serde_json::to_vec(&body)?)
    }

    /// The body to send: a [`MessagesRequest`] written directly, or the `Value` with the
    /// settings' `extra_body` merged in.
    fn wire_body<'a>(
        &'a self,
        messages: &'a [ModelMessage],
        settings: &'a ModelSettings,
        params: &ModelRequestParameters,
        stream: bool,
    ) -> Result<WireBody<'a>> {
        Ok(if settings.extra_body.is_some() {
            WireBody::Merged(self.build_request_body(messages, settings, params, stream)?)
        } else {
            WireBody::Direct(self.messages_request(messages, settings, params, stream, true)?)
        })
    }

    /// The body's fields; the conversation (`system` and `messages`) borrowed from the
    /// history when `direct`, else built as JSON (the reference the direct form is
    /// tested against).
    fn messages_request<'a>(
        &'a self,
        messages: &'a [ModelMessage],
        settings: &'a ModelSettings,
        params: &ModelRequestParameters,
        stream: bool,
        direct: bool,
    ) -> Result<MessagesRequest<'a>> {
        let conversation = if direct {
            let (system, turns) = self.wire_turns(messages);
            Conversation::Direct {
                system: wire_system(system, settings),
                turns,
            }
        } else {
            let (system, turns) = self.map_messages(messages);
            Conversation::Tree {
                system: system_field(system, settings),
                turns: turns
                    .into_iter()
                    .map(|(role, content)| json!({"role": role, "content": content}))
                    .collect(),
            }
        };
        let tools = self.map_tools(params, settings)?;
        let (thinking, effort) = thinking_fields(&self.profile, settings);
        let extended = thinking_type(settings, thinking.as_ref()) == Some("enabled");
        let tool_choice = match tools.is_empty() {
            true => None,
            false => Some(tool_choice(settings, params, extended)?),
        };
        let output_config = match (params.output_mode, &params.output_object) {
            (OutputMode::Native, Some(obj)) => {
                Some(self.fragments.output_schemas.get(obj, output_config)?)
            }
            _ => None,
        };
        let budget = thinking
            .as_ref()
            .and_then(|t| t.get("budget_tokens"))
            .and_then(Value::as_u64)
            .map(|b| u32::try_from(b).unwrap_or(u32::MAX));
        let max_tokens = match (settings.max_tokens, budget) {
            (Some(max), Some(budget)) if max <= budget => {
                return Err(Error::User(format!(
                    "max_tokens ({max}) must be greater than the thinking budget ({budget})"
                )));
            }
            (Some(max), _) => max,
            // the answer gets the default on top of the thinking
            (None, Some(budget)) => budget.saturating_add(DEFAULT_MAX_TOKENS),
            (None, None) => DEFAULT_MAX_TOKENS,
        };
        Ok(MessagesRequest {
            model: &self.model_name,
            max_tokens,
            conversation,
            tools,
            tool_choice,
            thinking,
            effort,
            output_config,
            stream,
            temperature: settings.temperature,
            top_p: settings.top_p,
            stop_sequences: settings.stop_sequences.as_deref(),
        })
    }

    /// The system texts (the first request's system prompts, then the instructions) and
    /// the turns, borrowed from the history: the direct form of
    /// [`map_messages`](Self::map_messages).
    fn wire_turns<'a>(&self, messages: &'a [ModelMessage]) -> (Vec<&'a str>, Vec<Turn<'a>>) {
        let mut system: Vec<&'a str> = Vec::new();
        let mut turns = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter().enumerate() {
            match message {
                ModelMessage::Request(r) => {
                    let blocks = wire_request_blocks(r, i == 0, &mut system, &mut turns);
                    push_wire_turn(&mut turns, "user", blocks);
                }
                ModelMessage::Response(r) => {
                    let blocks = self.wire_response_blocks(r);
                    push_wire_turn(&mut turns, "assistant", blocks);
                }
            }
        }
        // the system prompt, then the instructions (PydanticAI 2.68)
        if let Some(ins) = messages
            .iter()
            .rev()
            .find_map(ModelMessage::as_request)
            .and_then(|r| r.instructions.as_deref())
        {
            system.push(ins);
        }
        (system, turns)
    }

    /// The blocks of an assistant turn, borrowed: the direct form of
    /// [`response_blocks`](Self::response_blocks).
    fn wire_response_blocks<'a>(&self, r: &'a ModelResponse) -> Vec<WireBlock<'a>> {
        let provider = self.transport.name();
        let mut blocks = Vec::with_capacity(r.parts.len());
        for part in &r.parts {
            let block = match part {
                ModelResponsePart::Text(t) if !t.content.is_empty() => {
                    Block::Text(Cow::Borrowed(&t.content))
                }
                ModelResponsePart::Text(_) => continue,
                ModelResponsePart::ToolCall(c) => Block::ToolUse {
                    id: &c.tool_call_id,
                    name: &c.tool_name,
                    input: CallArgs::of(&c.args),
                },
                ModelResponsePart::Thinking(t) if t.provider_name.as_deref() == Some(provider) => {
                    match t
                        .provider_details
                        .as_ref()
                        .and_then(|d| d.get("redacted_data"))
                    {
                        Some(data) => Block::RedactedThinking(data),
                        None => Block::Thinking {
                            thinking: &t.content,
                            signature: t.signature.as_deref().unwrap_or_default(),
                        },
                    }
                }
                // thinking from other providers cannot be verified here: left out
                ModelResponsePart::Thinking(_) => continue,
                ModelResponsePart::Unknown(map) => {
                    let same = map.get("provider_name").and_then(Value::as_str) == Some(provider);
                    match (
                        same,
                        map.get("provider_details").and_then(|d| d.get(RAW_BLOCK)),
                    ) {
                        (true, Some(raw)) => Block::Raw(raw),
                        _ => continue,
                    }
                }
            };
            blocks.push(WireBlock::new(block));
        }
        blocks
    }

    /// The system blocks (the first request's system prompts, then the instructions) and
    /// the turns: each message is its own turn.
    fn map_messages(&self, messages: &[ModelMessage]) -> (Vec<Value>, Vec<(String, Vec<Value>)>) {
        let mut system: Vec<Value> = Vec::new();
        let mut turns: Vec<(String, Vec<Value>)> = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            match message {
                ModelMessage::Request(r) => {
                    let blocks = request_blocks(r, i == 0, &mut system, &mut turns);
                    push_turn(&mut turns, "user", blocks);
                }
                ModelMessage::Response(r) => {
                    let blocks = self.response_blocks(r);
                    push_turn(&mut turns, "assistant", blocks);
                }
            }
        }
        // the system prompt, then the instructions (PydanticAI 2.68)
        if let Some(ins) = messages
            .iter()
            .rev()
            .find_map(ModelMessage::as_request)
            .and_then(|r| r.instructions.as_deref())
        {
            system.push(json!({"type": "text", "text": ins}));
        }
        (system, turns)
    }

    /// The blocks of an assistant turn: thinking and raw blocks go back to the provider
    /// they came from only.
    fn response_blocks(&self, r: &ModelResponse) -> Vec<Value> {
        let provider = self.transport.name();
        let mut blocks = Vec::new();
        for part in &r.parts {
            match part {
                ModelResponsePart::Text(t) if !t.content.is_empty() => {
                    blocks.push(json!({"type": "text", "text": t.content}));
                }
                ModelResponsePart::Text(_) => {}
                ModelResponsePart::ToolCall(c) => {
                    let input = c.args.to_value().unwrap_or_else(|_| json!({}));
                    blocks.push(json!({"type": "tool_use", "id": c.tool_call_id, "name": c.tool_name, "input": input}));
                }
                ModelResponsePart::Thinking(t) if t.provider_name.as_deref() == Some(provider) => {
                    match t
                        .provider_details
                        .as_ref()
                        .and_then(|d| d.get("redacted_data"))
                    {
                        Some(data) => {
                            blocks.push(json!({"type": "redacted_thinking", "data": data}))
                        }
                        None => blocks.push(json!({
                            "type": "thinking",
                            "thinking": t.content,
                            "signature": t.signature.clone().unwrap_or_default(),
                        })),
                    }
                }
                // thinking from other providers cannot be verified here: left out
                ModelResponsePart::Thinking(_) => {}
                ModelResponsePart::Unknown(map) => {
                    let same = map.get("provider_name").and_then(Value::as_str) == Some(provider);
                    if let (true, Some(raw)) = (
                        same,
                        map.get("provider_details").and_then(|d| d.get(RAW_BLOCK)),
                    ) {
                        blocks.push(raw.clone());
                    }
                }
            }
        }
        blocks
    }

    /// The tool definitions from the model's cache, the last one built with the
    /// tools' cache point when there is one.
    fn map_tools(
        &self,
        params: &ModelRequestParameters,
        settings: &ModelSettings,
    ) -> Result<Vec<WireTool>> {
        let mut tools = Vec::with_capacity(params.function_tools.len() + params.output_tools.len());
        for tool in params.all_tools() {
            tools.push(WireTool::Cached(
                self.fragments
                    .tools
                    .get(tool, |t| self.tool_definition(t))?,
            ));
        }
        if let (Some(ttl), Some(last)) =
            (settings.cache_tool_definitions, params.all_tools().last())
        {
            let mut tool = self.tool_definition(last);
            if let Value::Object(map) = &mut tool {
                map.insert("cache_control".into(), Self::cache_control(Some(ttl)));
            }
            if let Some(slot) = tools.last_mut() {
                *slot = WireTool::Built(tool);
            }
        }
        tools.extend(
            params
                .native_tools
                .iter()
                .map(|t| WireTool::Built(native_tool(t))),
        );
        Ok(tools)
    }

    /// One tool's wire definition.
    fn tool_definition(&self, t: &ToolDefinition) -> Value {
        let mut tool = Map::new();
        tool.insert("name".into(), json!(t.name));
        tool.insert(
            "description".into(),
            json!(t.description.clone().unwrap_or_default()),
        );
        tool.insert("input_schema".into(), t.parameters_json_schema.clone());
        if t.strict == Some(true) && self.profile.supports_strict_tools {
            tool.insert("strict".into(), json!(true));
        }
        for (k, v) in &t.extra_fields {
            tool.insert(k.clone(), v.clone());
        }
        Value::Object(tool)
    }

    /// The HTTP request of `body`, authorized.
    async fn http_request(
        &self,
        provider: &Provider,
        body: &impl serde::Serialize,
        settings: &ModelSettings,
    ) -> Result<HttpRequest> {
        let mut request =
            provider.json_request("/v1/messages", &self.model_name, body, settings)?;
        provider.authorize(&mut request, &self.model_name).await?;
        Ok(request)
    }

    /// Parse a non-streamed response body.
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn parse_response(&self, body: &[u8]) -> Result<ModelResponse> {
        let message: Value = serde_json::from_slice(body)
            .map_err(|e| Error::unexpected_body(format!("invalid Anthropic message: {e}"), body))?;
        let Some(content) = message.get("content").and_then(Value::as_array) else {
            return Err(Error::unexpected_body(
                "invalid Anthropic message: no `content`",
                body,
            ));
        };
        let mut state = BlockProcessor::new(self.transport.name());
        let mut acc = ResponseAccumulator::new();
        for e in state.message_start(&message) {
            acc.apply(e)?;
        }
        for (index, block) in content.iter().enumerate() {
            for e in state.block_start(index, block) {
                acc.apply(e)?;
            }
            for e in state.block_stop(index) {
                acc.apply(e)?;
            }
        }
        for e in state.message_delta(&message) {
            acc.apply(e)?;
        }
        Ok(self.finish(acc.finish()))
    }

    fn finish(&self, response: ModelResponse) -> ModelResponse {
        crate::models::wire::served_response(
            response,
            self.transport.name(),
            self.transport.public_base_url(),
            &self.model_name,
        )
    }
}

/// Each message is its own turn (the API accepts consecutive turns of one role).
fn push_turn(turns: &mut Vec<(String, Vec<Value>)>, role: &str, blocks: Vec<Value>) {
    if !blocks.is_empty() {
        turns.push((role.to_owned(), blocks));
    }
}

/// Whether an uploaded file is an image (by its media type, else its name).
fn is_image_file(f: &crate::messages::UploadedFile) -> bool {
    f.media_type
        .as_deref()
        .map(str::to_owned)
        .or_else(|| crate::messages::guess_media_type(&f.file_id).map(str::to_owned))
        .is_some_and(|m| m.starts_with("image/"))
}

fn binary_block(b: &BinaryContent) -> Value {
    if b.media_type.starts_with("image/") {
        return json!({"type": "image", "source": {"type": "base64", "media_type": b.media_type, "data": b.base64()}});
    }
    if b.media_type.starts_with("text/") {
        return json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": String::from_utf8_lossy(&b.data)}});
    }
    json!({"type": "document", "source": {"type": "base64", "media_type": b.media_type, "data": b.base64()}})
}

/// The content of a tool result: its text, or blocks when the tool returned media
/// (`{"kind": "binary", …}` items as PydanticAI writes them) or raw Anthropic blocks.
fn tool_result_content(content: &Value, text: &str) -> Value {
    let is_block = |v: &Value| v.get("kind").is_some() || v.get(RAW_BLOCK).is_some();
    let Value::Array(items) = content else {
        return json!(text);
    };
    if !items.iter().any(is_block) {
        return json!(text);
    }
    let mut blocks = Vec::new();
    for item in items {
        if let Some(raw) = item.get(RAW_BLOCK) {
            blocks.push(raw.clone());
            continue;
        }
        match serde_json::from_value::<UserContent>(item.clone()) {
            Ok(UserContent::Text(t)) => blocks.push(json!({"type": "text", "text": t})),
            Ok(
                media @ (UserContent::Binary(_)
                | UserContent::ImageUrl(_)
                | UserContent::DocumentUrl(_)
                | UserContent::UploadedFile(_)),
            ) => {
                user_blocks(&UserPrompt::Parts(vec![media]), &mut blocks);
            }
            _ => blocks.push(json!({"type": "text", "text": item.to_string()})),
        }
    }
    Value::Array(blocks)
}

fn user_blocks(prompt: &UserPrompt, blocks: &mut Vec<Value>) {
    let items = match prompt {
        UserPrompt::Text(t) => {
            blocks.push(json!({"type": "text", "text": t}));
            return;
        }
        UserPrompt::Parts(items) => items,
    };
    for item in items {
        match item {
            UserContent::Text(t) => blocks.push(json!({"type": "text", "text": t})),
            UserContent::ImageUrl(u) => {
                blocks.push(json!({"type": "image", "source": {"type": "url", "url": u.url}}))
            }
            UserContent::DocumentUrl(u) => {
                blocks.push(json!({"type": "document", "source": {"type": "url", "url": u.url}}))
            }
            UserContent::Binary(b) => blocks.push(binary_block(b)),
            // an uploaded image is an image block, anything else a document
            UserContent::UploadedFile(f) if is_image_file(f) => blocks
                .push(json!({"type": "image", "source": {"type": "file", "file_id": f.file_id}})),
            UserContent::UploadedFile(f) => blocks.push(
                json!({"type": "document", "source": {"type": "file", "file_id": f.file_id}}),
            ),
            UserContent::CachePoint(point) => {
                if let Some(Value::Object(last)) = blocks.last_mut() {
                    let ttl = point.ttl.as_deref().and_then(CacheTtl::parse);
                    last.insert("cache_control".into(), AnthropicModel::cache_control(ttl));
                }
            }
            UserContent::Unknown(map) => {
                if let Some(raw) = map.get(RAW_BLOCK) {
                    blocks.push(raw.clone());
                }
            }
            // audio and video are not taken by the Messages API
            UserContent::AudioUrl(_) | UserContent::VideoUrl(_) => {}
        }
    }
}

/// Turns content blocks (whole, or streamed as start/delta/stop) into stream events:
/// the one processing path of this wire API.
struct BlockProcessor {
    provider: String,
    parts: PartsManager,
    /// Blocks Verity keeps raw, with the JSON of their input as it streams.
    raw: HashMap<usize, (Value, String)>,
    usage: RequestUsage,
}

impl BlockProcessor {
    fn new(provider: &str) -> Self {
        BlockProcessor {
            provider: provider.to_owned(),
            parts: PartsManager::new(),
            raw: HashMap::new(),
            usage: RequestUsage::default(),
        }
    }

    fn message_start(&mut self, message: &Value) -> Vec<ModelStreamEvent> {
        let mut events = vec![ModelStreamEvent::Metadata(ResponseMetadata {
            model_name: message
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_owned),
            provider_response_id: message.get("id").and_then(Value::as_str).map(str::to_owned),
            ..Default::default()
        })];
        if let Some(u) = message.get("usage") {
            self.merge_usage(u);
            events.push(ModelStreamEvent::Usage(self.usage.clone()));
        }
        events
    }

    fn message_delta(&mut self, delta: &Value) -> Vec<ModelStreamEvent> {
        let mut events = Vec::new();
        let stop = delta
            .get("stop_reason")
            .or_else(|| delta.pointer("/delta/stop_reason"))
            .and_then(Value::as_str);
        if let Some(reason) = stop {
            let mut details = Map::new();
            details.insert("finish_reason".into(), json!(reason));
            events.push(ModelStreamEvent::Metadata(ResponseMetadata {
                finish_reason: Some(map_stop_reason(reason)),
                provider_details: Some(details),
                ..Default::default()
            }));
        }
        if let Some(u) = delta.get("usage") {
            self.merge_usage(u);
            events.push(ModelStreamEvent::Usage(self.usage.clone()));
        }
        events
    }

    fn merge_usage(&mut self, u: &Value) {
        let get = |k: &str| u.get(k).and_then(Value::as_u64);
        let (input, write, read) = (
            get("input_tokens"),
            get("cache_creation_input_tokens"),
            get("cache_read_input_tokens"),
        );
        if input.is_some() || write.is_some() || read.is_some() {
            let write = write.unwrap_or(self.usage.cache_write_tokens);
            let read = read.unwrap_or(self.usage.cache_read_tokens);
            let base = input.unwrap_or(
                self.usage.input_tokens
                    - self.usage.cache_write_tokens
                    - self.usage.cache_read_tokens,
            );
            self.usage.cache_write_tokens = write;
            self.usage.cache_read_tokens = read;
            self.usage.input_tokens = base + write + read;
        }
        if let Some(out) = get("output_tokens") {
            self.usage.output_tokens = out;
        }
    }

    fn block_start(&mut self, index: usize, block: &Value) -> Vec<ModelStreamEvent> {
        let vendor = index.to_string();
        let kind = block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut events = Vec::new();
        match kind {
            "text" => events.extend(
                self.parts
                    .text_delta(Some(&vendor), block["text"].as_str().unwrap_or_default()),
            ),
            "tool_use" => {
                let name = block["name"].as_str().unwrap_or_default();
                let id = block["id"].as_str().unwrap_or_default();
                let input = block
                    .get("input")
                    .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()));
                let part = ToolCallPart::new(
                    name,
                    match input {
                        Some(Value::Object(o)) => ToolCallArgs::Object(o.clone()),
                        _ => ToolCallArgs::Json(String::new()),
                    },
                    id,
                );
                events.push(
                    self.parts
                        .whole_part(Some(&vendor), ModelResponsePart::ToolCall(part)),
                );
            }
            "thinking" => {
                let mut part = ThinkingPart::new(block["thinking"].as_str().unwrap_or_default());
                part.signature = block["signature"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                part.provider_name = Some(self.provider.clone());
                events.push(
                    self.parts
                        .whole_part(Some(&vendor), ModelResponsePart::Thinking(part)),
                );
            }
            "redacted_thinking" => {
                let mut part = ThinkingPart::new("");
                part.id = Some("redacted_thinking".into());
                part.provider_name = Some(self.provider.clone());
                part.provider_details = Some(Map::from_iter([(
                    "redacted_data".to_owned(),
                    block["data"].clone(),
                )]));
                events.push(
                    self.parts
                        .whole_part(Some(&vendor), ModelResponsePart::Thinking(part)),
                );
            }
            _ => {
                self.raw.insert(index, (block.clone(), String::new()));
            }
        }
        events
    }

    fn block_delta(&mut self, index: usize, delta: &Value) -> Vec<ModelStreamEvent> {
        let vendor = index.to_string();
        let text = |k: &str| delta.get(k).and_then(Value::as_str);
        match delta
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "text_delta" => self
                .parts
                .text_delta(Some(&vendor), text("text").unwrap_or_default())
                .into_iter()
                .collect(),
            "input_json_delta" => {
                let json = text("partial_json").unwrap_or_default();
                if let Some((_, partial)) = self.raw.get_mut(&index) {
                    partial.push_str(json);
                    return Vec::new();
                }
                self.parts
                    .tool_call_delta(Some(&vendor), None, Some(json), None)
                    .into_iter()
                    .collect()
            }
            "thinking_delta" => self
                .parts
                .thinking_delta(Some(&vendor), text("thinking"), None)
                .into_iter()
                .collect(),
            "signature_delta" => self
                .parts
                .thinking_delta(Some(&vendor), None, text("signature"))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    fn block_stop(&mut self, index: usize) -> Vec<ModelStreamEvent> {
        let Some((mut block, partial)) = self.raw.remove(&index) else {
            return Vec::new();
        };
        if !partial.is_empty()
            && let (Ok(input), Value::Object(map)) =
                (serde_json::from_str::<Value>(&partial), &mut block)
        {
            map.insert("input".into(), input);
        }
        let kind = block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut part = Map::new();
        let part_kind = if kind.ends_with("_tool_use") || kind == "server_tool_use" {
            "builtin-tool-call"
        } else if kind.ends_with("_tool_result") {
            "builtin-tool-return"
        } else {
            "provider-block"
        };
        part.insert("part_kind".into(), json!(part_kind));
        if let Some(name) = block.get("name") {
            part.insert("tool_name".into(), name.clone());
        }
        if let Some(id) = block.get("id").or_else(|| block.get("tool_use_id")) {
            part.insert("tool_call_id".into(), id.clone());
        }
        part.insert("provider_name".into(), json!(self.provider));
        part.insert("provider_details".into(), json!({ RAW_BLOCK: block }));
        vec![
            self.parts
                .whole_part(Some(&index.to_string()), ModelResponsePart::Unknown(part)),
        ]
    }
}

fn map_stop_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" | "pause_turn" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCall,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

fn stream_error(model_name: &str, data: &str) -> Error {
    let value: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    let status = match value.pointer("/error/type").and_then(Value::as_str) {
        Some("invalid_request_error") => Some(400),
        Some("authentication_error") => Some(401),
        Some("permission_error") => Some(403),
        Some("not_found_error") => Some(404),
        Some("rate_limit_error") => Some(429),
        Some("api_error") => Some(500),
        Some("overloaded_error") => Some(529),
        _ => None,
    };
    match status {
        Some(status) => Error::ModelHttp {
            status,
            model_name: model_name.to_owned(),
            body: data.to_owned(),
            retry_after: None,
        },
        None => Error::ModelApi {
            model_name: model_name.to_owned(),
            message: format!("error in event stream: {data}"),
        },
    }
}

/// The blocks of a user turn; system prompts go to `system` (first request) or become
/// `system` turns of their own in place (later ones, or raw ones).
fn request_blocks(
    r: &crate::messages::ModelRequest,
    first: bool,
    system: &mut Vec<Value>,
    turns: &mut Vec<(String, Vec<Value>)>,
) -> Vec<Value> {
    let mut blocks = Vec::new();
    for part in &r.parts {
        if let Some(rendering) = part.retry_rendering() {
            match rendering {
                RetryRendering::ToolError { tool_call_id, .. } => blocks.push(json!({
                    "type": "tool_result",
                    "tool_use_id": tool_call_id,
                    "content": rendering.error_text().unwrap_or_default(),
                    "is_error": true,
                })),
                RetryRendering::User(text) => blocks.push(json!({"type": "text", "text": text})),
                RetryRendering::System(text) => {
                    // a mid-conversation system message, like a later system prompt
                    if !blocks.is_empty() {
                        push_turn(turns, "user", std::mem::take(&mut blocks));
                    }
                    turns.push(("system".into(), vec![json!({"type": "text", "text": text})]));
                }
            }
            continue;
        }
        match part {
            ModelRequestPart::SystemPrompt(p) => {
                let raw = p.extra.get(RAW_BLOCK).and_then(Value::as_array).cloned();
                if first && raw.is_none() {
                    system.push(json!({"type": "text", "text": p.content}));
                } else {
                    // a system prompt later in the conversation stays in place
                    if !blocks.is_empty() {
                        push_turn(turns, "user", std::mem::take(&mut blocks));
                    }
                    let content =
                        raw.unwrap_or_else(|| vec![json!({"type": "text", "text": p.content})]);
                    turns.push(("system".into(), content));
                }
            }
            ModelRequestPart::UserPrompt(p) => user_blocks(&p.content, &mut blocks),
            ModelRequestPart::ToolReturn(p) => {
                let content = tool_result_content(&p.content, &p.model_response_str());
                blocks.push(json!({
                    "type": "tool_result",
                    "tool_use_id": p.tool_call_id,
                    "content": content,
                    "is_error": false,
                }));
            }
            // retries and retry feedback are rendered above
            ModelRequestPart::RetryPrompt(_) | ModelRequestPart::RetryFeedback(_) => {}
            ModelRequestPart::Unknown(_) => {}
        }
    }
    blocks
}

/// `system`: a plain string, or blocks when there are several or the last is cached.
fn system_field(mut system: Vec<Value>, settings: &ModelSettings) -> Option<Value> {
    if let Some(ttl) = settings.cache_instructions
        && let Some(Value::Object(last)) = system.last_mut()
    {
        last.insert(
            "cache_control".into(),
            AnthropicModel::cache_control(Some(ttl)),
        );
    }
    match system.as_slice() {
        [] => None,
        [only] if only.get("cache_control").is_none() => only.get("text").cloned(),
        _ => Some(Value::Array(system)),
    }
}

/// `tool_choice` from the settings, or `any` when only an output tool may end the run.
/// Extended thinking (`type: enabled`) rejects a forced tool choice: the run's own
/// forcing becomes `auto` (a text answer is sent back for another try), and a forcing
/// choice in the settings is an error, as in PydanticAI.
fn tool_choice(
    settings: &ModelSettings,
    params: &ModelRequestParameters,
    extended_thinking: bool,
) -> Result<Value> {
    let forced = |choice: Value| {
        if extended_thinking {
            Err(Error::User(
                "Extended thinking doesn't support forcing tool use. Disable thinking or use `tool_choice='auto'`."
                    .into(),
            ))
        } else {
            Ok(choice)
        }
    };
    match &settings.tool_choice {
        Some(ToolChoice::Auto) => Ok(json!({"type": "auto"})),
        Some(ToolChoice::Required) => forced(json!({"type": "any"})),
        Some(ToolChoice::None) => Ok(json!({"type": "none"})),
        Some(ToolChoice::Tools(names)) if names.len() == 1 => {
            forced(json!({"type": "tool", "name": names.first().cloned().unwrap_or_default()}))
        }
        _ if !params.allow_text_output && !params.output_tools.is_empty() && !extended_thinking => {
            Ok(json!({"type": "any"}))
        }
        _ => Ok(json!({"type": "auto"})),
    }
}

/// The `thinking` field and the adaptive effort the unified setting asks for (see
/// [`Thinking`]), unless the settings' `extra_body` carries Anthropic's own `thinking`.
fn thinking_fields(
    profile: &ModelProfile,
    settings: &ModelSettings,
) -> (Option<Value>, Option<&'static str>) {
    let own = settings
        .extra_body
        .as_ref()
        .is_some_and(|b| b.get("thinking").is_some());
    let (Some(thinking), false) = (settings.thinking, own) else {
        return (None, None);
    };
    match (profile.thinking, thinking) {
        (ThinkingStyle::Budget | ThinkingStyle::Adaptive, Thinking::Off) => {
            (Some(json!({"type": "disabled"})), None)
        }
        (ThinkingStyle::Adaptive, t) => (
            Some(json!({"type": "adaptive"})),
            t.effort().map(anthropic_effort),
        ),
        (ThinkingStyle::Budget, t) => (
            t.budget(10_000)
                .map(|b| json!({"type": "enabled", "budget_tokens": b})),
            None,
        ),
        _ => (None, None),
    }
}

/// A server tool's definition.
fn native_tool(tool: &NativeTool) -> Value {
    let limits = |mut t: Map<String, Value>, max_uses: &Option<u32>, domains: &[String]| {
        if let Some(n) = max_uses {
            t.insert("max_uses".into(), json!(n));
        }
        if !domains.is_empty() {
            t.insert("allowed_domains".into(), json!(domains));
        }
        Value::Object(t)
    };
    let base = |kind: &str, name: &str| {
        let mut t = Map::new();
        t.insert("type".into(), json!(kind));
        t.insert("name".into(), json!(name));
        t
    };
    match tool {
        NativeTool::WebSearch {
            max_uses,
            allowed_domains,
        } => limits(
            base("web_search_20250305", "web_search"),
            max_uses,
            allowed_domains,
        ),
        NativeTool::WebFetch {
            max_uses,
            allowed_domains,
        } => limits(
            base("web_fetch_20250910", "web_fetch"),
            max_uses,
            allowed_domains,
        ),
        _ => Value::Object(base("code_execution_20260120", "code_execution")),
    }
}

/// The effort levels Anthropic takes in `output_config.effort`.
fn anthropic_effort(effort: ThinkingEffort) -> &'static str {
    match effort {
        ThinkingEffort::Minimal | ThinkingEffort::Low => "low",
        ThinkingEffort::Medium => "medium",
        ThinkingEffort::High => "high",
        ThinkingEffort::XHigh => "xhigh",
        _ => "max",
    }
}

/// The thinking type a request asks for: Anthropic's own field in `extra_body`, or the
/// one the unified setting made.
fn thinking_type<'a>(settings: &'a ModelSettings, made: Option<&'a Value>) -> Option<&'a str> {
    settings
        .extra_body
        .as_ref()
        .and_then(|b| b.get("thinking"))
        .or(made)
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
}

/// Native output: `output_config.format` with the schema.
fn output_config(obj: &OutputObjectDefinition) -> Value {
    json!({"format": {"type": "json_schema", "schema": obj.json_schema}})
}

// ---- request body ----

/// A Messages request body, written field by field: the conversation borrowed from the
/// history (or built as JSON, see [`Conversation`]), the tool definitions and the
/// output schema from the model's cached fragments.
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    conversation: Conversation<'a>,
    tools: Vec<WireTool>,
    tool_choice: Option<Value>,
    /// `thinking`, from the unified setting.
    thinking: Option<Value>,
    /// `output_config.effort` (adaptive thinking), from the unified setting.
    effort: Option<&'static str>,
    output_config: Option<Fragment>,
    stream: bool,
    temperature: Option<f64>,
    top_p: Option<f64>,
    stop_sequences: Option<&'a [String]>,
}

/// `system` and `messages`.
enum Conversation<'a> {
    /// Borrowed from the history: the body that is sent.
    Direct {
        system: Option<WireSystem<'a>>,
        turns: Vec<Turn<'a>>,
    },
    /// Built as JSON: [`AnthropicModel::build_request_body`].
    Tree {
        system: Option<Value>,
        turns: Vec<Value>,
    },
}

impl serde::Serialize for MessagesRequest<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("model", self.model)?;
        map.serialize_entry("max_tokens", &self.max_tokens)?;
        match &self.conversation {
            Conversation::Direct { system, turns } => {
                map.serialize_entry("messages", turns)?;
                if let Some(system) = system {
                    map.serialize_entry("system", system)?;
                }
            }
            Conversation::Tree { system, turns } => {
                map.serialize_entry("messages", turns)?;
                if let Some(system) = system {
                    map.serialize_entry("system", system)?;
                }
            }
        }
        if !self.tools.is_empty() {
            map.serialize_entry("tools", &self.tools)?;
        }
        if let Some(choice) = &self.tool_choice {
            map.serialize_entry("tool_choice", choice)?;
        }
        if let Some(thinking) = &self.thinking {
            map.serialize_entry("thinking", thinking)?;
        }
        match (&self.output_config, self.effort) {
            (Some(config), None) => map.serialize_entry("output_config", config)?,
            (None, Some(effort)) => {
                map.serialize_entry("output_config", &json!({"effort": effort}))?
            }
            (Some(config), Some(effort)) => {
                let mut merged: Value =
                    serde_json::from_str(config.get()).map_err(serde::ser::Error::custom)?;
                if let Some(m) = merged.as_object_mut() {
                    m.insert("effort".into(), json!(effort));
                }
                map.serialize_entry("output_config", &merged)?;
            }
            (None, None) => {}
        }
        map.serialize_entry("stream", &self.stream)?;
        if let Some(t) = self.temperature {
            map.serialize_entry("temperature", &t)?;
        }
        if let Some(t) = self.top_p {
            map.serialize_entry("top_p", &t)?;
        }
        if let Some(stop) = self.stop_sequences {
            map.serialize_entry("stop_sequences", stop)?;
        }
        map.end()
    }
}

/// A request body as sent.
#[derive(serde::Serialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // lives on the stack while it is serialized
enum WireBody<'a> {
    Direct(MessagesRequest<'a>),
    Merged(Value),
}

/// `system`, borrowed: a plain string, or text blocks when there are several or the
/// last is cached.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum WireSystem<'a> {
    Text(&'a str),
    Blocks(Vec<WireBlock<'a>>),
}

/// A turn, borrowed.
#[derive(serde::Serialize)]
struct Turn<'a> {
    role: &'static str,
    content: Vec<WireBlock<'a>>,
}

/// `{"type": "ephemeral", "ttl": …}`.
#[derive(Debug, Clone, Copy)]
struct CacheControl(CacheTtl);

impl serde::Serialize for CacheControl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("type", "ephemeral")?;
        map.serialize_entry("ttl", self.0.as_str())?;
        map.end()
    }
}

/// A content block and the cache breakpoint a [`CachePoint`](crate::messages::CachePoint)
/// after it puts on it.
struct WireBlock<'a> {
    block: Block<'a>,
    cache_control: Option<CacheControl>,
}

impl<'a> WireBlock<'a> {
    fn new(block: Block<'a>) -> Self {
        WireBlock {
            block,
            cache_control: None,
        }
    }
}

/// A content block borrowed from the history (tool results and the texts made from
/// them own theirs).
enum Block<'a> {
    Text(Cow<'a, str>),
    Image(Source<'a>),
    Document(Source<'a>),
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: CallArgs<'a>,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: ResultContent<'a>,
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking(&'a Value),
    /// A raw Anthropic block, sent unchanged.
    Raw(&'a Value),
    /// A file a tool returned (read from the tool's JSON result), written as the
    /// block of a user prompt's file.
    Media(Box<UserContent>),
}

impl Block<'_> {
    /// Whether a cache point after the block marks it (every block but a raw one that
    /// is not an object).
    fn takes_cache_point(&self) -> bool {
        !matches!(self, Block::Raw(raw) if !raw.is_object())
    }
}

/// The `source` of an image or document.
enum Source<'a> {
    Base64 { media_type: &'a str, data: &'a [u8] },
    Text(Cow<'a, str>),
    Url(&'a str),
    File(&'a str),
}

impl serde::Serialize for Source<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        match self {
            Source::Base64 { media_type, data } => {
                map.serialize_entry("type", "base64")?;
                map.serialize_entry("media_type", media_type)?;
                map.serialize_entry("data", &Base64(data))?;
            }
            Source::Text(text) => {
                map.serialize_entry("type", "text")?;
                map.serialize_entry("media_type", "text/plain")?;
                map.serialize_entry("data", text)?;
            }
            Source::Url(url) => {
                map.serialize_entry("type", "url")?;
                map.serialize_entry("url", url)?;
            }
            Source::File(file_id) => {
                map.serialize_entry("type", "file")?;
                map.serialize_entry("file_id", file_id)?;
            }
        }
        map.end()
    }
}

/// The `content` of a tool result.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum ResultContent<'a> {
    Text(String),
    Blocks(Vec<Block<'a>>),
}

impl serde::Serialize for Block<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        write_block(self, None, s)
    }
}

impl serde::Serialize for WireBlock<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        write_block(&self.block, self.cache_control, s)
    }
}

/// One block as the `Value` builder writes it, with `cache_control` when given.
fn write_block<S: serde::Serializer>(
    block: &Block<'_>,
    cache_control: Option<CacheControl>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = match block {
        Block::Raw(raw) => match (raw, cache_control) {
            (Value::Object(fields), Some(_)) => {
                let mut map = s.serialize_map(None)?;
                for (key, value) in fields.iter().filter(|(k, _)| *k != "cache_control") {
                    map.serialize_entry(key, value)?;
                }
                map
            }
            _ => return raw.serialize(s),
        },
        Block::Media(item) => {
            return match media_block(item) {
                Some(block) => write_block(&block, cache_control, s),
                None => s.serialize_unit(),
            };
        }
        Block::Text(text) => {
            let mut map = s.serialize_map(None)?;
            map.serialize_entry("type", "text")?;
            map.serialize_entry("text", text)?;
            map
        }
        Block::Image(source) => {
            let mut map = s.serialize_map(None)?;
            map.serialize_entry("type", "image")?;
            map.serialize_entry("source", source)?;
            map
        }
        Block::Document(source) => {
            let mut map = s.serialize_map(None)?;
            map.serialize_entry("type", "document")?;
            map.serialize_entry("source", source)?;
            map
        }
        Block::ToolUse { id, name, input } => {
            let mut map = s.serialize_map(None)?;
            map.serialize_entry("type", "tool_use")?;
            map.serialize_entry("id", id)?;
            map.serialize_entry("name", name)?;
            map.serialize_entry("input", input)?;
            map
        }
        Block::ToolResult {
            tool_use_id,
            content,
            is_error,
        } => {
            let mut map = s.serialize_map(None)?;
            map.serialize_entry("type", "tool_result")?;
            map.serialize_entry("tool_use_id", tool_use_id)?;
            map.serialize_entry("content", content)?;
            map.serialize_entry("is_error", is_error)?;
            map
        }
        Block::Thinking {
            thinking,
            signature,
        } => {
            let mut map = s.serialize_map(None)?;
            map.serialize_entry("type", "thinking")?;
            map.serialize_entry("thinking", thinking)?;
            map.serialize_entry("signature", signature)?;
            map
        }
        Block::RedactedThinking(data) => {
            let mut map = s.serialize_map(None)?;
            map.serialize_entry("type", "redacted_thinking")?;
            map.serialize_entry("data", data)?;
            map
        }
    };
    if let Some(cache_control) = cache_control {
        map.serialize_entry("cache_control", &cache_control)?;
    }
    map.end()
}

/// The block of a file in a user prompt (or returned by a tool): `None` for content
/// the Messages API does not take (audio, video) and for cache points.
fn media_block(item: &UserContent) -> Option<Block<'_>> {
    Some(match item {
        UserContent::Text(t) => Block::Text(Cow::Borrowed(t)),
        UserContent::ImageUrl(u) => Block::Image(Source::Url(&u.url)),
        UserContent::DocumentUrl(u) => Block::Document(Source::Url(&u.url)),
        UserContent::Binary(b) => wire_binary_block(b),
        UserContent::UploadedFile(f) if is_image_file(f) => Block::Image(Source::File(&f.file_id)),
        UserContent::UploadedFile(f) => Block::Document(Source::File(&f.file_id)),
        UserContent::Unknown(map) => Block::Raw(map.get(RAW_BLOCK)?),
        // audio and video are not taken by the Messages API
        UserContent::AudioUrl(_) | UserContent::VideoUrl(_) | UserContent::CachePoint(_) => {
            return None;
        }
    })
}

/// The direct form of `binary_block`.
fn wire_binary_block(b: &BinaryContent) -> Block<'_> {
    if b.media_type.starts_with("image/") {
        return Block::Image(Source::Base64 {
            media_type: &b.media_type,
            data: &b.data,
        });
    }
    if b.media_type.starts_with("text/") {
        return Block::Document(Source::Text(String::from_utf8_lossy(&b.data)));
    }
    Block::Document(Source::Base64 {
        media_type: &b.media_type,
        data: &b.data,
    })
}

/// The blocks of a user prompt, borrowed: the direct form of `user_blocks`.
fn wire_user_blocks<'a>(prompt: &'a UserPrompt, blocks: &mut Vec<WireBlock<'a>>) {
    let items = match prompt {
        UserPrompt::Text(t) => {
            blocks.push(WireBlock::new(Block::Text(Cow::Borrowed(t))));
            return;
        }
        UserPrompt::Parts(items) => items,
    };
    for item in items {
        match item {
            UserContent::CachePoint(point) => {
                if let Some(last) = blocks.last_mut()
                    && last.block.takes_cache_point()
                {
                    let ttl = point.ttl.as_deref().and_then(CacheTtl::parse);
                    last.cache_control = Some(CacheControl(ttl.unwrap_or_default()));
                }
            }
            item => {
                if let Some(block) = media_block(item) {
                    blocks.push(WireBlock::new(block));
                }
            }
        }
    }
}

/// The content of a tool result, borrowed where it can be: the direct form of
/// `tool_result_content`.
fn wire_tool_result_content<'a>(content: &'a Value, text: String) -> ResultContent<'a> {
    let is_block = |v: &Value| v.get("kind").is_some() || v.get(RAW_BLOCK).is_some();
    let Value::Array(items) = content else {
        return ResultContent::Text(text);
    };
    if !items.iter().any(is_block) {
        return ResultContent::Text(text);
    }
    let mut blocks = Vec::with_capacity(items.len());
    for item in items {
        if let Some(raw) = item.get(RAW_BLOCK) {
            blocks.push(Block::Raw(raw));
            continue;
        }
        match UserContent::deserialize(item) {
            Ok(UserContent::Text(t)) => blocks.push(Block::Text(Cow::Owned(t))),
            Ok(
                media @ (UserContent::Binary(_)
                | UserContent::ImageUrl(_)
                | UserContent::DocumentUrl(_)
                | UserContent::UploadedFile(_)),
            ) => blocks.push(Block::Media(Box::new(media))),
            _ => blocks.push(Block::Text(Cow::Owned(item.to_string()))),
        }
    }
    ResultContent::Blocks(blocks)
}

/// The blocks of a user turn, borrowed: the direct form of `request_blocks`.
fn wire_request_blocks<'a>(
    r: &'a crate::messages::ModelRequest,
    first: bool,
    system: &mut Vec<&'a str>,
    turns: &mut Vec<Turn<'a>>,
) -> Vec<WireBlock<'a>> {
    let mut blocks = Vec::new();
    for part in &r.parts {
        if let Some(rendering) = part.retry_rendering() {
            match rendering {
                RetryRendering::ToolError { tool_call_id, .. } => {
                    let text = rendering.error_text().unwrap_or_default();
                    blocks.push(WireBlock::new(Block::ToolResult {
                        tool_use_id: tool_call_id,
                        content: ResultContent::Text(text),
                        is_error: true,
                    }));
                }
                RetryRendering::User(text) => {
                    blocks.push(WireBlock::new(Block::Text(Cow::Owned(text))));
                }
                RetryRendering::System(text) => {
                    // a mid-conversation system message, like a later system prompt
                    if !blocks.is_empty() {
                        push_wire_turn(turns, "user", std::mem::take(&mut blocks));
                    }
                    turns.push(Turn {
                        role: "system",
                        content: vec![WireBlock::new(Block::Text(Cow::Owned(text)))],
                    });
                }
            }
            continue;
        }
        match part {
            ModelRequestPart::SystemPrompt(p) => {
                let raw = p.extra.get(RAW_BLOCK).and_then(Value::as_array);
                if first && raw.is_none() {
                    system.push(&p.content);
                } else {
                    // a system prompt later in the conversation stays in place
                    if !blocks.is_empty() {
                        push_wire_turn(turns, "user", std::mem::take(&mut blocks));
                    }
                    let content = match raw {
                        Some(raw) => raw.iter().map(|b| WireBlock::new(Block::Raw(b))).collect(),
                        None => vec![WireBlock::new(Block::Text(Cow::Borrowed(&p.content)))],
                    };
                    turns.push(Turn {
                        role: "system",
                        content,
                    });
                }
            }
            ModelRequestPart::UserPrompt(p) => wire_user_blocks(&p.content, &mut blocks),
            ModelRequestPart::ToolReturn(p) => {
                blocks.push(WireBlock::new(Block::ToolResult {
                    tool_use_id: &p.tool_call_id,
                    content: wire_tool_result_content(&p.content, p.model_response_str()),
                    is_error: false,
                }));
            }
            // retries and retry feedback are rendered above
            ModelRequestPart::RetryPrompt(_) | ModelRequestPart::RetryFeedback(_) => {}
            ModelRequestPart::Unknown(_) => {}
        }
    }
    blocks
}

/// Each message is its own turn: the direct form of `push_turn`.
fn push_wire_turn<'a>(turns: &mut Vec<Turn<'a>>, role: &'static str, blocks: Vec<WireBlock<'a>>) {
    if !blocks.is_empty() {
        turns.push(Turn {
            role,
            content: blocks,
        });
    }
}

/// `system`, borrowed: the direct form of `system_field`.
/// The standing system prompts joined with blank lines into one, as PydanticAI 2.68
/// sends them in one `system` block (ahead of the instructions' blocks); raw blocks kept.
fn join_standing_prompts(messages: Cow<'_, [ModelMessage]>) -> Cow<'_, [ModelMessage]> {
    let Some(ModelMessage::Request(first)) = messages.first() else {
        return messages;
    };
    let standing: Vec<&crate::messages::SystemPromptPart> = first
        .parts
        .iter()
        .map_while(|p| match p {
            ModelRequestPart::SystemPrompt(s) => Some(s),
            _ => None,
        })
        .collect();
    if standing.len() < 2 || standing.iter().any(|p| p.extra.contains_key(RAW_BLOCK)) {
        return messages;
    }
    let count = standing.len();
    let joined = standing
        .iter()
        .map(|p| p.content.as_str())
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut messages = messages.into_owned();
    if let Some(ModelMessage::Request(first)) = messages.first_mut() {
        let mut part = crate::messages::SystemPromptPart::new(joined);
        part.timestamp = None;
        first
            .parts
            .splice(0..count, [ModelRequestPart::SystemPrompt(part)]);
    }
    Cow::Owned(messages)
}

fn wire_system<'a>(system: Vec<&'a str>, settings: &ModelSettings) -> Option<WireSystem<'a>> {
    match (system.as_slice(), settings.cache_instructions) {
        ([], _) => None,
        ([only], None) => Some(WireSystem::Text(only)),
        (_, ttl) => {
            let last = system.len().saturating_sub(1);
            Some(WireSystem::Blocks(
                system
                    .into_iter()
                    .enumerate()
                    .map(|(i, text)| WireBlock {
                        block: Block::Text(Cow::Borrowed(text)),
                        cache_control: ttl.filter(|_| i == last).map(CacheControl),
                    })
                    .collect(),
            ))
        }
    }
}

impl Model for AnthropicModel {
    async fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ModelResponse> {
        let messages = &*self.prepare_media(messages).await?;
        let bytes = match &self.transport {
            Transport::Http(provider) => {
                let messages = &*self.framed(messages);
                let body = self.wire_body(messages, settings, params, false)?;
                let request = self.http_request(provider, &body, settings).await?;
                let client = provider.client();
                client.post_for_body(&request, &self.model_name).await?
            }
            Transport::Invoke(transport) => {
                let body = self.build_request_body(messages, settings, params, false)?;
                transport.invoke(&self.model_name, body).await?
            }
        };
        self.parse_response(&bytes)
    }

    async fn request_stream(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ResponseStream> {
        let Transport::Http(provider) = &self.transport else {
            // other transports answer whole; the response is replayed as events
            let response = Model::request(self, messages, settings, params).await?;
            return Ok(crate::stream::stream_from_response(response));
        };
        let messages = &*self.prepare_media(messages).await?;
        let messages = &*self.framed(messages);
        let body = self.wire_body(messages, settings, params, true)?;
        let request = self.http_request(provider, &body, settings).await?;
        let client = provider.client();
        let events = client
            .post_for_events(&request, &self.model_name, settings.stream_idle_timeout)
            .await?;
        let model_name = self.model_name.clone();
        let provider = provider.clone();
        let stream = async_stream::try_stream! {
            let mut state = BlockProcessor::new(provider.name());
            let mut stopped = false;
            futures::pin_mut!(events);
            while let Some(event) = events.next().await {
                let event = event?;
                if event.data.trim().is_empty() {
                    continue;
                }
                let data: Value = serde_json::from_str(&event.data).map_err(|e| Error::unexpected_body(format!("invalid Anthropic stream event: {e}"), event.data.as_bytes()))?;
                let kind = event.event.clone().or_else(|| data.get("type").and_then(Value::as_str).map(str::to_owned)).unwrap_or_default();
                let index = data.get("index").and_then(Value::as_u64).and_then(|i| usize::try_from(i).ok()).unwrap_or(0);
                let out = match kind.as_str() {
                    "message_start" => state.message_start(data.get("message").unwrap_or(&Value::Null)),
                    "content_block_start" => state.block_start(index, data.get("content_block").unwrap_or(&Value::Null)),
                    "content_block_delta" => state.block_delta(index, data.get("delta").unwrap_or(&Value::Null)),
                    "content_block_stop" => state.block_stop(index),
                    "message_delta" => state.message_delta(&data),
                    "message_stop" => {
                        stopped = true;
                        Vec::new()
                    }
                    "error" => Err(stream_error(&model_name, &event.data))?,
                    _ => Vec::new(),
                };
                for e in out {
                    yield e;
                }
                if stopped {
                    break;
                }
            }
            if !stopped {
                Err(Error::ModelApi {
                    model_name: model_name.clone(),
                    message: "the event stream ended before `message_stop`".into(),
                })?;
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
        let mut body = self.build_request_body(messages, settings, params, false)?;
        let provider = match &self.transport {
            Transport::Http(provider) => provider,
            Transport::Invoke(transport) => {
                return transport.count_tokens(&self.model_name, body).await;
            }
        };
        if let Value::Object(map) = &mut body {
            for key in [
                "max_tokens",
                "stream",
                "temperature",
                "top_p",
                "stop_sequences",
            ] {
                map.remove(key);
            }
        }
        let mut request = self.http_request(provider, &body, settings).await?;
        request.url = provider.url("/v1/messages/count_tokens", &self.model_name);
        let client = provider.client();
        let bytes = client.post_for_body(&request, &self.model_name).await?;
        crate::models::wire::token_count(&bytes, "count_tokens", "input_tokens")
    }

    fn model_name(&self) -> &str {
        &self.model_name
    }

    fn system(&self) -> &str {
        self.transport.name()
    }

    fn base_url(&self) -> Option<&str> {
        Some(self.transport.public_base_url())
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
    use crate::settings::CacheTtl;

    /// The body written from cached fragments is the `Value` body, and a changed
    /// definition or cache point is sent as it is now, never as it was cached.
    #[test]
    fn cached_tool_definitions_follow_changes() {
        let provider = crate::providers::anthropic::AnthropicProvider::builder()
            .api_key("k")
            .build()
            .unwrap();
        let m = AnthropicModel::new("claude", provider);
        let messages = [ModelMessage::Request(ModelRequest::user_prompt("hi"))];
        let mut settings = ModelSettings::default();
        let mut params = ModelRequestParameters {
            function_tools: vec![ToolDefinition::new("t", json!({"type": "object"}))],
            output_mode: OutputMode::Native,
            output_object: Some(OutputObjectDefinition {
                name: "o".into(),
                description: None,
                json_schema: json!({"type": "object"}),
                strict: None,
            }),
            ..Default::default()
        };
        let sent = |m: &AnthropicModel, s: &ModelSettings, p: &ModelRequestParameters| {
            let direct =
                serde_json::to_value(m.wire_body(&messages, s, p, false).unwrap()).unwrap();
            assert_eq!(
                direct,
                m.build_request_body(&messages, s, p, false).unwrap()
            );
            direct
        };
        let first = sent(&m, &settings, &params);
        assert_eq!(first["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(first["output_config"]["format"]["schema"]["type"], "object");
        params.function_tools[0].parameters_json_schema =
            json!({"type": "object", "properties": {}});
        assert_eq!(
            sent(&m, &settings, &params)["tools"][0]["input_schema"]["properties"],
            json!({})
        );
        settings.cache_tool_definitions = Some(CacheTtl::OneHour);
        assert_eq!(
            sent(&m, &settings, &params)["tools"][0]["cache_control"]["ttl"],
            "1h"
        );
        settings.cache_tool_definitions = None;
        assert!(
            sent(&m, &settings, &params)["tools"][0]
                .get("cache_control")
                .is_none()
        );
    }

    /// A history with every kind of part the Messages API takes.
    fn rich_history() -> Vec<ModelMessage> {
        let png = "iVBORw0KGgo=";
        let pdf = "JVBERi0xLjQ=";
        let text = "aGVsbG8g/3dvcmxk"; // not UTF-8: sent lossily
        let raw = json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [{"type": "web_search_result", "url": "https://x.test"}]});
        let history = json!([
            {"kind": "request", "instructions": "Be concise.", "parts": [
                {"part_kind": "system-prompt", "content": "You are a travel agent."},
                {"part_kind": "system-prompt", "content": "Second system prompt."},
                {"part_kind": "system-prompt", "content": "raw", "anthropic_block": [{"type": "text", "text": "raw system"}]},
                {"part_kind": "user-prompt", "content": [
                    "Plan a trip using this map.",
                    {"kind": "binary", "data": png, "media_type": "image/png"},
                    {"kind": "cache-point", "ttl": "1h"},
                    {"kind": "binary", "data": pdf, "media_type": "application/pdf"},
                    {"kind": "binary", "data": text, "media_type": "text/markdown"},
                    {"kind": "image-url", "url": "https://x.test/a.jpg"},
                    {"kind": "document-url", "url": "https://x.test/a.pdf"},
                    {"kind": "audio-url", "url": "https://x.test/a.mp3"},
                    {"kind": "video-url", "url": "https://x.test/a.mp4"},
                    {"kind": "uploaded-file", "file_id": "file_1"},
                    {"kind": "cache-point"},
                    {"kind": "something-new", "anthropic_block": {"type": "search_result", "source": "s", "cache_control": {"type": "ephemeral"}}},
                    {"kind": "cache-point", "ttl": "5m"},
                    {"kind": "something-else"},
                    {"kind": "raw-string", "anthropic_block": "just a string"},
                    {"kind": "cache-point", "ttl": "1h"}
                ]}
            ]},
            {"kind": "response", "parts": [
                {"part_kind": "thinking", "content": "Let me think.", "signature": "sig-1", "provider_name": "anthropic"},
                {"part_kind": "thinking", "content": "unsigned", "provider_name": "anthropic"},
                {"part_kind": "thinking", "content": "", "provider_name": "anthropic", "provider_details": {"redacted_data": "opaque"}},
                {"part_kind": "thinking", "content": "elsewhere", "signature": "x", "provider_name": "openai"},
                {"part_kind": "text", "content": "Checking."},
                {"part_kind": "text", "content": ""},
                {"part_kind": "tool-call", "tool_name": "get_weather", "args": "{\"city\": \"Rome\", \"days\": [1, 2.5]}", "tool_call_id": "toolu_1"},
                {"part_kind": "tool-call", "tool_name": "get_map", "args": {"zoom": 3}, "tool_call_id": "toolu_2"},
                {"part_kind": "tool-call", "tool_name": "noop", "args": "", "tool_call_id": "toolu_3"},
                {"part_kind": "tool-call", "tool_name": "broken", "args": "{oops", "tool_call_id": "toolu_4"},
                {"part_kind": "builtin-tool-return", "provider_name": "anthropic", "provider_details": {"anthropic_block": raw}},
                {"part_kind": "provider-block", "provider_name": "openai", "provider_details": {"anthropic_block": raw}}
            ]},
            {"kind": "request", "parts": [
                {"part_kind": "tool-return", "tool_name": "get_weather", "content": {"temp": 21}, "tool_call_id": "toolu_1"},
                {"part_kind": "tool-return", "tool_name": "get_map", "content": [
                    "the map:",
                    {"kind": "binary", "data": png, "media_type": "image/png"},
                    {"kind": "image-url", "url": "https://x.test/m.jpg"},
                    {"kind": "document-url", "url": "https://x.test/m.pdf"},
                    {"kind": "uploaded-file", "file_id": "file_2"},
                    {"kind": "binary", "data": pdf, "media_type": "application/pdf"},
                    {"kind": "audio-url", "url": "https://x.test/m.mp3"},
                    {"anthropic_block": {"type": "text", "text": "raw in result"}},
                    {"n": 1}
                ], "tool_call_id": "toolu_2"},
                {"part_kind": "cache-point-less", "whatever": 1},
                {"part_kind": "tool-return", "tool_name": "noop", "content": "bad args", "tool_call_id": "toolu_3", "outcome": "retried"},
                {"part_kind": "retry-prompt", "tool_name": "broken", "content": "fix the JSON", "tool_call_id": "toolu_4"},
                {"part_kind": "retry-prompt", "content": [{"type": "missing", "loc": ["city"], "msg": "required"}], "tool_call_id": "x"},
                {"part_kind": "user-prompt", "content": [
                    "and now?",
                    {"kind": "cache-point"}
                ]},
                {"part_kind": "system-prompt", "content": "A later system prompt."},
                {"part_kind": "user-prompt", "content": [{"kind": "cache-point"}, "after it"]}
            ]},
            {"kind": "response", "parts": [{"part_kind": "text", "content": "Done."}]},
            {"kind": "request", "instructions": "Latest instructions.", "parts": [
                {"part_kind": "user-prompt", "content": "plain text"}
            ]}
        ]);
        crate::messages::messages_from_json(&history.to_string()).unwrap()
    }

    /// The bytes sent are the `Value` body, for every kind of part and the settings
    /// that change `system` and cache points.
    #[test]
    fn direct_bytes_are_the_value_body() {
        let provider = crate::providers::anthropic::AnthropicProvider::builder()
            .api_key("k")
            .build()
            .unwrap();
        let m = AnthropicModel::new("claude", provider);
        let history = rich_history();
        let params = ModelRequestParameters {
            function_tools: vec![ToolDefinition::new(
                "get_weather",
                json!({"type": "object"}),
            )],
            ..Default::default()
        };
        let single = [ModelMessage::Request(ModelRequest::user_prompt("hi"))];
        let mut with_system = ModelRequest::user_prompt("hi");
        with_system.instructions = Some("only instructions".into());
        let with_system = [ModelMessage::Request(with_system)];
        let plain = ModelSettings::default();
        let cached = ModelSettings::new()
            .cache_instructions(CacheTtl::OneHour)
            .temperature(0.5)
            .top_p(0.9)
            .max_tokens(100)
            .stop_sequences(["END"]);
        for messages in [&history[..], &single[..], &with_system[..], &history[..1]] {
            for settings in [&plain, &cached] {
                for stream in [false, true] {
                    let bytes = m
                        .serialize_request_body(messages, settings, &params, stream)
                        .unwrap();
                    let sent: Value = serde_json::from_slice(&bytes).unwrap();
                    let expected = m
                        .build_request_body(messages, settings, &params, stream)
                        .unwrap();
                    assert_eq!(sent, expected);
                }
            }
        }
        // the rich history reaches every path
        let body = m
            .build_request_body(&history, &cached, &params, false)
            .unwrap();
        let text = body.to_string();
        for needle in [
            "redacted_thinking",
            "\"signature\":\"sig-1\"",
            "web_search_tool_result",
            "raw system",
            "raw in result",
            "\"type\":\"file\"",
            "\"type\":\"url\"",
            "\"type\":\"base64\"",
            "text/plain",
            "\"ttl\":\"1h\"",
            "just a string",
            "A later system prompt.",
            "\"is_error\":true",
            "Latest instructions.",
        ] {
            assert!(text.contains(needle), "{needle} not in {text}");
        }
        assert!(body["system"].is_array());
        assert!(!text.contains("elsewhere"));
    }
}
