//! OpenAI Responses (`POST /responses`), the newer OpenAI wire API: `instructions` and a
//! list of typed `input` items instead of chat messages, reasoning items that carry
//! encrypted reasoning between turns, typed server-sent events, and built-in tools.
//! `openai:` model strings speak it (`openai-chat:` speaks Chat Completions).
//!
//! ```no_run
//! use verity::prelude::*;
//! use verity::models::openai_responses::{OpenAIResponsesModel, PreviousResponseId};
//! use verity::providers::openai::OpenAIProvider;
//!
//! # async fn demo() -> verity::Result<()> {
//! let model = OpenAIResponsesModel::new("gpt-5-mini", OpenAIProvider::from_env()?)
//!     // send only what OpenAI has not stored yet, continuing from the last response
//!     .with_previous_response_id(PreviousResponseId::Auto);
//! let agent = Agent::builder(model).build();
//! println!("{}", agent.run("Hello!").await?.output);
//! # Ok(()) }
//! ```
//!
//! Settings: `max_tokens` is `max_output_tokens`; `temperature`, `top_p`,
//! `parallel_tool_calls` and `tool_choice` are sent as they are; the API has no `seed`,
//! penalties or stop sequences, so those settings are not sent. Anything else the API
//! takes (`reasoning`, `store`, `truncation`, `service_tier`, …) goes through
//! `ModelSettings::extra_body`, under the API's own names.
//!
//! What is sent back on a later turn depends on who produced it. Reasoning items (their
//! summaries, encrypted content and item ids), output item ids and built-in tool items go
//! back only to the provider that produced them (the part's `provider_name`, and for ids
//! the same base URL): a history that went through Chat Completions, another provider, or
//! a [`FallbackModel`](crate::models::fallback::FallbackModel) that switched providers
//! never sends a foreign reasoning id. Such thinking is sent as `<think>` text of an
//! assistant message instead, as PydanticAI does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use futures::StreamExt;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::messages::{
    BinaryContent, FileUrl, FinishReason, ModelMessage, ModelRequestPart, ModelResponse,
    ModelResponsePart, RetryRendering, ThinkingPart, ToolCallPart, UserContent, UserPrompt,
    frame_for_wire,
};
use crate::model::{
    Model, ModelProfile, ModelRequestParameters, OutputObjectDefinition, ToolDefinition,
};
use crate::models::wire::Fragments;
use crate::output::OutputMode;
use crate::providers::Provider;
use crate::settings::{ModelSettings, ToolChoice};
use crate::stream::{
    ModelStreamEvent, PartsManager, ResponseAccumulator, ResponseMetadata, ResponseStream,
};
use crate::usage::RequestUsage;

/// The endpoint, under the provider's base URL.
const RESPONSES_PATH: &str = "/responses";
/// The token-counting endpoint.
const INPUT_TOKENS_PATH: &str = "/responses/input_tokens";

/// The key of `provider_details` under which an output item Verity does not model (a
/// built-in tool call, an MCP listing, a compaction item, …) is kept whole, to be sent
/// back unchanged to the provider that produced it.
pub const RAW_ITEM: &str = "openai_item";

/// The ids PydanticAI's and Verity's Chat Completions give thinking parts: the field
/// the reasoning came in. They are no Responses item ids.
const CHAT_THINKING_IDS: &[&str] = &["content", "reasoning", "reasoning_content", "think_tags"];

/// Request keys the token-counting endpoint takes.
const COUNT_TOKENS_KEYS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "text",
    "reasoning",
    "parallel_tool_calls",
    "previous_response_id",
    "conversation",
    "truncation",
];

/// Where a request continues from on the server (`previous_response_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreviousResponseId {
    /// Continue from the newest response of this provider in the history and send only
    /// the messages after it; send the whole history when there is none.
    Auto,
    /// Continue from this stored response when the history holds no response of this
    /// provider to continue from (then as [`Auto`](Self::Auto)); the whole history is sent.
    Id(String),
}

/// A model spoken to through the OpenAI Responses API.
#[derive(Debug, Clone)]
pub struct OpenAIResponsesModel {
    model_name: String,
    provider: Provider,
    profile: ModelProfile,
    settings: Option<ModelSettings>,
    previous_response_id: Option<PreviousResponseId>,
    /// Tool definitions and output schemas as this model's profile sends them.
    fragments: Arc<Fragments>,
}

impl OpenAIResponsesModel {
    /// `model_name` on `provider` (its profile comes from the provider).
    pub fn new(model_name: impl Into<String>, provider: impl Into<Provider>) -> Self {
        let provider: Provider = provider.into();
        let model_name = model_name.into();
        let profile = provider.model_profile(&model_name);
        OpenAIResponsesModel {
            model_name,
            provider,
            profile,
            settings: None,
            previous_response_id: None,
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

    /// Continue from responses stored on the server (`previous_response_id`) instead of
    /// sending the whole history each time.
    pub fn with_previous_response_id(mut self, previous: PreviousResponseId) -> Self {
        self.previous_response_id = Some(previous);
        self
    }

    /// The provider.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Whether this model reasons and so is asked for its encrypted reasoning
    /// (`include: ["reasoning.encrypted_content"]`) and sent back the ids of its output
    /// items: OpenAI's o-series and GPT-5 (and later) models, also behind a vendor
    /// prefix (`openai/gpt-5`, `openai.gpt-5`), other than the `-chat` variants.
    pub fn is_reasoning_model(&self) -> bool {
        is_reasoning_model(&self.model_name)
    }

    /// Whether this model takes explicit prompt-cache breakpoints on input content
    /// (GPT-5.6 and later): a [`CachePoint`](crate::messages::CachePoint) marks the
    /// content before it.
    fn takes_cache_breakpoints(&self) -> bool {
        let name = bare_model_name(&self.model_name);
        ["gpt-5.6", "gpt-6"].iter().any(|p| name.starts_with(p))
    }

    /// The JSON body of a request. `downloads` holds the bytes of URLs marked
    /// `force_download`.
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn build_request_body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
        downloads: &HashMap<String, BinaryContent>,
        stream: bool,
    ) -> Result<Value> {
        let framed = frame_for_wire(messages, self.profile.system_role);
        let body = self.request_body(&framed, settings, params, downloads, stream)?;
        Ok(match &settings.extra_body {
            Some(extra) => crate::settings::merge_json(body, extra),
            None => body,
        })
    }

    fn request_body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
        downloads: &HashMap<String, BinaryContent>,
        stream: bool,
    ) -> Result<Value> {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model_name));
        let instructions = messages
            .iter()
            .rev()
            .find_map(ModelMessage::as_request)
            .and_then(|r| r.instructions.as_deref());
        if let Some(instructions) = instructions {
            body.insert("instructions".into(), json!(instructions));
        }
        let (previous, messages) = self.continuation(messages);
        body.insert(
            "input".into(),
            Value::Array(self.map_messages(messages, downloads)?),
        );
        if let Some(id) = previous {
            body.insert("previous_response_id".into(), json!(id));
        }
        let mut tools = Vec::with_capacity(params.function_tools.len() + params.output_tools.len());
        for tool in params.all_tools() {
            let fragment = self.fragments.tools.get(tool, |t| self.map_tool(t))?;
            tools.push(serde_json::to_value(fragment)?);
        }
        for native in &params.native_tools {
            tools.push(self.native_tool(native)?);
        }
        if !tools.is_empty() {
            let tool_choice = match &settings.tool_choice {
                Some(choice) => map_tool_choice(choice),
                None => {
                    let required = !params.allow_text_output
                        && !params.output_tools.is_empty()
                        && self.profile.supports_tool_choice_required;
                    json!(if required { "required" } else { "auto" })
                }
            };
            body.insert("tools".into(), Value::Array(tools));
            body.insert("tool_choice".into(), tool_choice);
            if let Some(parallel) = settings.parallel_tool_calls {
                body.insert("parallel_tool_calls".into(), json!(parallel));
            }
        }
        match (params.output_mode, &params.output_object) {
            (OutputMode::Native, Some(obj)) => {
                let format = self
                    .fragments
                    .output_schemas
                    .get(obj, |o| self.map_output_schema(o))?;
                body.insert(
                    "text".into(),
                    json!({"format": serde_json::to_value(format)?}),
                );
            }
            (OutputMode::Prompted, _) if self.profile.supports_json_object_output => {
                body.insert("text".into(), json!({"format": {"type": "json_object"}}));
            }
            _ => {}
        }
        body.insert("stream".into(), json!(stream));
        if self.is_reasoning_model() {
            body.insert("include".into(), json!(["reasoning.encrypted_content"]));
        }
        if let Some(effort) = self.reasoning_effort(settings) {
            body.insert("reasoning".into(), json!({"effort": effort}));
        }
        if let Some(max) = settings.max_tokens {
            body.insert("max_output_tokens".into(), json!(max));
        }
        if let Some(t) = settings.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(p) = settings.top_p {
            body.insert("top_p".into(), json!(p));
        }
        Ok(Value::Object(body))
    }

    /// A built-in tool's definition: `web_search` (with its domain filter) and
    /// `code_interpreter`; the Responses API has no web fetch.
    fn native_tool(&self, tool: &crate::request::NativeTool) -> Result<Value> {
        use crate::request::NativeTool;
        match tool {
            NativeTool::WebSearch {
                allowed_domains, ..
            } => Ok(if allowed_domains.is_empty() {
                json!({"type": "web_search"})
            } else {
                json!({"type": "web_search", "filters": {"allowed_domains": allowed_domains}})
            }),
            NativeTool::CodeExecution => {
                Ok(json!({"type": "code_interpreter", "container": {"type": "auto"}}))
            }
            other => Err(NativeTool::unsupported(
                &self.model_name,
                std::slice::from_ref(other),
            )),
        }
    }

    /// `reasoning.effort` for the unified thinking setting, on reasoning models (see
    /// [`Thinking`](crate::settings::Thinking)): `On` is `medium`, `Off` the lowest.
    fn reasoning_effort(&self, settings: &ModelSettings) -> Option<&'static str> {
        use crate::settings::{Thinking, ThinkingEffort};
        if !self.is_reasoning_model() {
            return None;
        }
        let lowest = match self.profile.thinking {
            crate::profiles::ThinkingStyle::Effort { lowest } => lowest,
            _ => "low",
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

    /// The `previous_response_id` to send and the messages still to send.
    fn continuation<'a>(
        &self,
        messages: &'a [ModelMessage],
    ) -> (Option<String>, &'a [ModelMessage]) {
        let Some(setting) = &self.previous_response_id else {
            return (None, messages);
        };
        let newest = messages.iter().enumerate().rev().find_map(|(i, m)| {
            let r = m.as_response()?;
            let id = r.provider_response_id.as_deref()?;
            self.holds_state_of(r).then_some((i, id))
        });
        if let Some((i, id)) = newest
            && let Some(rest) = messages.get(i + 1..)
            && !rest.is_empty()
        {
            return (Some(id.to_owned()), rest);
        }
        match setting {
            PreviousResponseId::Id(id) => (Some(id.clone()), messages),
            PreviousResponseId::Auto => (None, messages),
        }
    }

    /// Whether the server behind this model holds what `response` created (stored
    /// responses, item ids): the same provider, at the same base URL when it is known.
    fn holds_state_of(&self, response: &ModelResponse) -> bool {
        response.provider_name.as_deref() == Some(self.provider.name())
            && response
                .provider_url
                .as_deref()
                .is_none_or(|url| url == self.provider.public_base_url())
    }

    /// Whether a part with `part_provider` in `response` came from this provider.
    fn produced_here(&self, part_provider: Option<&str>, response: &ModelResponse) -> bool {
        let name = self.provider.name();
        match part_provider {
            Some(p) => p == name,
            None => response.provider_name.as_deref() == Some(name),
        }
    }

    /// The text-format object of a native-output request.
    fn map_output_schema(&self, obj: &OutputObjectDefinition) -> Value {
        let schema = match self.profile.strict_schema_transform {
            Some(transform) if obj.strict == Some(true) => transform.apply(&obj.json_schema),
            _ => obj.json_schema.clone(),
        };
        let mut format = Map::new();
        format.insert("type".into(), json!("json_schema"));
        format.insert("name".into(), json!(obj.name));
        format.insert("schema".into(), schema);
        if let Some(d) = &obj.description {
            format.insert("description".into(), json!(d));
        }
        if let Some(strict) = obj.strict {
            format.insert("strict".into(), json!(strict));
        }
        Value::Object(format)
    }

    /// A function tool. `strict` is always written: the Responses API takes a missing
    /// one as `true`.
    fn map_tool(&self, tool: &ToolDefinition) -> Value {
        let strict = tool.strict == Some(true) && self.profile.supports_strict_tools;
        let parameters = match self.profile.strict_schema_transform {
            Some(transform) if strict => transform.apply(&tool.parameters_json_schema),
            _ => tool.parameters_json_schema.clone(),
        };
        let mut wire = Map::new();
        wire.insert("type".into(), json!("function"));
        wire.insert("name".into(), json!(tool.name));
        wire.insert("description".into(), json!(tool.description));
        wire.insert("parameters".into(), parameters);
        wire.insert("strict".into(), json!(strict));
        for (k, v) in &tool.extra_fields {
            wire.insert(k.clone(), v.clone());
        }
        Value::Object(wire)
    }

    fn map_messages(
        &self,
        messages: &[ModelMessage],
        downloads: &HashMap<String, BinaryContent>,
    ) -> Result<Vec<Value>> {
        let role = self.profile.openai.system_prompt_role;
        let mut out = Vec::with_capacity(messages.len());
        for message in messages {
            match message {
                ModelMessage::Request(request) => {
                    for part in &request.parts {
                        if let Some(rendering) = part.retry_rendering() {
                            out.push(match rendering {
                                RetryRendering::ToolError { tool_call_id, .. } => json!({
                                    "type": "function_call_output",
                                    "call_id": call_id_of(tool_call_id),
                                    "output": rendering.wrapped_error().unwrap_or_default(),
                                }),
                                RetryRendering::System(text) => {
                                    json!({"role": role, "content": text})
                                }
                                RetryRendering::User(text) => {
                                    json!({"role": "user", "content": text})
                                }
                            });
                            continue;
                        }
                        match part {
                            ModelRequestPart::SystemPrompt(p) => {
                                out.push(json!({"role": role, "content": p.content}));
                            }
                            ModelRequestPart::UserPrompt(p) => {
                                let content = match &p.content {
                                    UserPrompt::Text(t) => json!(t),
                                    UserPrompt::Parts(items) => {
                                        Value::Array(self.map_user(items, downloads)?)
                                    }
                                };
                                out.push(json!({"role": "user", "content": content}));
                            }
                            ModelRequestPart::ToolReturn(p) => out.push(json!({
                                "type": "function_call_output",
                                "call_id": call_id_of(&p.tool_call_id),
                                "output": self.tool_output(&p.content, downloads)
                                    .unwrap_or_else(|| json!(p.model_response_str())),
                            })),
                            // retries are rendered above; unknown parts are not sent
                            _ => {}
                        }
                    }
                }
                ModelMessage::Response(response) => self.map_response(response, &mut out),
            }
        }
        Ok(out)
    }

    /// The items of an earlier response.
    fn map_response(&self, response: &ModelResponse, out: &mut Vec<Value>) {
        let same_server = self.holds_state_of(response) || response.provider_name.is_none();
        let send_ids = same_server && self.is_reasoning_model();
        // the message or reasoning item being filled, by item id
        let mut open: Option<(usize, String)> = None;
        for part in &response.parts {
            match part {
                ModelResponsePart::Text(t) => {
                    let here = self.produced_here(t.provider_name.as_deref(), response);
                    let phase = t
                        .provider_details
                        .as_ref()
                        .and_then(|d| d.get("phase"))
                        .filter(|_| here);
                    match t.id.as_deref().filter(|_| send_ids && here) {
                        Some(id) => {
                            let content = json!({"type": "output_text", "text": t.content, "annotations": []});
                            if let Some(item) = open_item(out, &open, id, "message") {
                                push_to(item, "content", content);
                            } else {
                                let mut item = json!({
                                    "type": "message",
                                    "role": "assistant",
                                    "id": id,
                                    "status": "completed",
                                    "content": [content],
                                });
                                if let (Some(phase), Value::Object(m)) = (phase, &mut item) {
                                    m.insert("phase".into(), phase.clone());
                                }
                                open = Some((out.len(), id.to_owned()));
                                out.push(item);
                            }
                        }
                        None => {
                            let mut item = json!({"role": "assistant", "content": t.content});
                            if let (Some(phase), Value::Object(m)) = (phase, &mut item) {
                                m.insert("phase".into(), phase.clone());
                            }
                            out.push(item);
                            open = None;
                        }
                    }
                }
                ModelResponsePart::ToolCall(c) => {
                    out.push(self.map_call(c, response, send_ids));
                    open = None;
                }
                ModelResponsePart::Thinking(t) => {
                    let here = self.produced_here(t.provider_name.as_deref(), response);
                    let raw = t
                        .provider_details
                        .as_ref()
                        .and_then(|d| d.get("raw_content"))
                        .and_then(Value::as_array)
                        .filter(|_| here);
                    // encrypted reasoning is checked by its key, not looked up: it goes
                    // back to a reasoning model of this provider at any endpoint
                    let signature = t.signature.as_deref().filter(|_| self.is_reasoning_model());
                    if let Some(id) = t.id.as_deref().filter(|_| here)
                        && let Some(item) = open_item(out, &open, id, "reasoning")
                    {
                        if !t.content.is_empty() {
                            push_to(item, "summary", summary(&t.content));
                        }
                        continue;
                    }
                    let native_id =
                        t.id.as_deref()
                            .filter(|id| !CHAT_THINKING_IDS.contains(id))
                            .filter(|_| here && (send_ids || raw.is_some() || signature.is_some()));
                    match native_id {
                        Some(id) => {
                            if t.content.is_empty() && raw.is_none() && signature.is_none() {
                                continue;
                            }
                            let mut item = Map::new();
                            item.insert("type".into(), json!("reasoning"));
                            item.insert("id".into(), json!(id));
                            let summaries: Vec<Value> = if t.content.is_empty() {
                                Vec::new()
                            } else {
                                vec![summary(&t.content)]
                            };
                            item.insert("summary".into(), Value::Array(summaries));
                            item.insert("encrypted_content".into(), json!(signature));
                            if let Some(raw) = raw {
                                let content: Vec<Value> = raw
                                    .iter()
                                    .filter_map(Value::as_str)
                                    .map(|text| json!({"type": "reasoning_text", "text": text}))
                                    .collect();
                                item.insert("content".into(), Value::Array(content));
                            }
                            open = Some((out.len(), id.to_owned()));
                            out.push(Value::Object(item));
                        }
                        None => {
                            // reasoning that cannot go back as an item: as thinking text
                            if !t.content.is_empty() {
                                let (start, end) = &self.profile.thinking_tags;
                                out.push(json!({
                                    "role": "assistant",
                                    "content": format!("{start}\n{}\n{end}", t.content),
                                }));
                            }
                            open = None;
                        }
                    }
                }
                ModelResponsePart::Unknown(map) => {
                    let here = self
                        .produced_here(map.get("provider_name").and_then(Value::as_str), response);
                    let raw = map.get("provider_details").and_then(|d| d.get(RAW_ITEM));
                    if let (true, true, Some(raw)) = (here, same_server, raw) {
                        out.push(replayed_item(raw));
                    }
                    open = None;
                }
            }
        }
    }

    fn map_call(&self, c: &ToolCallPart, response: &ModelResponse, send_ids: bool) -> Value {
        let here = self.produced_here(c.provider_name.as_deref(), response);
        let (call_id, combined_item_id) = match c.tool_call_id.split_once('|') {
            Some((call, item)) => (call, Some(item)),
            None => (c.tool_call_id.as_str(), None),
        };
        let mut item = Map::new();
        item.insert("type".into(), json!("function_call"));
        item.insert("name".into(), json!(c.tool_name));
        item.insert("arguments".into(), json!(c.args.to_json_string()));
        item.insert("call_id".into(), json!(call_id));
        if let Some(id) = combined_item_id
            .or(c.id.as_deref())
            .filter(|_| send_ids && here)
        {
            item.insert("id".into(), json!(id));
        }
        if let Some(ns) = c
            .provider_details
            .as_ref()
            .and_then(|d| d.get("namespace"))
            .filter(|_| here)
        {
            item.insert("namespace".into(), ns.clone());
        }
        Value::Object(item)
    }

    fn map_user(
        &self,
        items: &[UserContent],
        downloads: &HashMap<String, BinaryContent>,
    ) -> Result<Vec<Value>> {
        let mut parts = Vec::with_capacity(items.len());
        for item in items {
            match item {
                UserContent::Text(t) => parts.push(json!({"type": "input_text", "text": t})),
                UserContent::CachePoint(_) if self.takes_cache_breakpoints() => {
                    if parts.is_empty() {
                        parts.push(json!({"type": "input_text", "text": ""}));
                    }
                    if let Some(Value::Object(last)) = parts.last_mut() {
                        last.insert(
                            "prompt_cache_breakpoint".into(),
                            json!({"mode": "explicit"}),
                        );
                    }
                }
                UserContent::CachePoint(_) | UserContent::Unknown(_) => {}
                media => parts.push(map_media(media, downloads)?),
            }
        }
        Ok(parts)
    }

    /// A tool result holding files (`{"kind": …}` items as PydanticAI writes them), as
    /// a list of input items; `None` for any other result, which goes as text.
    fn tool_output(
        &self,
        content: &Value,
        downloads: &HashMap<String, BinaryContent>,
    ) -> Option<Value> {
        let Value::Array(items) = content else {
            return None;
        };
        if !items.iter().any(|v| v.get("kind").is_some()) {
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let mapped = match serde_json::from_value::<UserContent>(item.clone()) {
                Ok(UserContent::Text(t)) => json!({"type": "input_text", "text": t}),
                Ok(
                    media @ (UserContent::Binary(_)
                    | UserContent::ImageUrl(_)
                    | UserContent::DocumentUrl(_)
                    | UserContent::AudioUrl(_)
                    | UserContent::UploadedFile(_)),
                ) => map_media(&media, downloads).ok()?,
                _ => json!({"type": "input_text", "text": item.to_string()}),
            };
            out.push(mapped);
        }
        Some(Value::Array(out))
    }

    /// The URLs of `messages` marked `force_download`, each once.
    fn media_to_download<'a>(&self, messages: &'a [ModelMessage]) -> Vec<&'a FileUrl> {
        let mut out: Vec<&FileUrl> = Vec::new();
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
                    if let UserContent::ImageUrl(f)
                    | UserContent::AudioUrl(f)
                    | UserContent::DocumentUrl(f) = item
                        && forced(f)
                        && !out.iter().any(|seen| seen.url == f.url)
                    {
                        out.push(f);
                    }
                }
            }
        }
        out
    }

    /// Download the URLs marked `force_download`; boxed, and only started when there
    /// is something to fetch.
    async fn download_media(
        &self,
        messages: &[ModelMessage],
    ) -> Result<HashMap<String, BinaryContent>> {
        let wanted = self.media_to_download(messages);
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        let policy = self.provider.client().download_policy();
        let files: Vec<(&FileUrl, bool)> = wanted.into_iter().map(|f| (f, false)).collect();
        Box::pin(crate::models::wire::download_files(files, policy)).await
    }

    /// Parse a non-streamed response body.
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn parse_response(&self, body: &[u8]) -> Result<ModelResponse> {
        let response: Value = serde_json::from_slice(body)
            .map_err(|e| Error::unexpected_body(format!("invalid response: {e}"), body))?;
        if let Some(error) = response.get("error").filter(|e| !e.is_null()) {
            return Err(Error::ModelApi {
                model_name: self.model_name.clone(),
                message: format!("response failed: {error}"),
            });
        }
        let Some(output) = response.get("output").and_then(Value::as_array) else {
            return Err(Error::unexpected_body(
                "invalid response: no `output`",
                body,
            ));
        };
        let mut state = EventProcessor::new(self.provider.name());
        let mut events = Vec::new();
        for (index, item) in output.iter().enumerate() {
            events.extend(state.item_added(index, item));
            events.extend(state.item_done(index, item));
        }
        events.extend(state.finished(&response));
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

    async fn send(
        &self,
        path: &str,
        body: &Value,
        settings: &ModelSettings,
    ) -> Result<crate::http::HttpRequest> {
        let mut request = self
            .provider
            .json_request(path, &self.model_name, body, settings)?;
        self.provider
            .authorize(&mut request, &self.model_name)
            .await?;
        Ok(request)
    }
}

/// Whether a model name is one of OpenAI's reasoning models.
fn is_reasoning_model(model_name: &str) -> bool {
    let name = bare_model_name(model_name);
    let reasoning = ["o1", "o3", "o4", "gpt-5", "gpt-6", "codex"]
        .iter()
        .any(|p| name.starts_with(p));
    reasoning && !name.contains("-chat")
}

/// A model name without a router's or cloud's vendor prefix (`openai/…`, `openai.…`).
fn bare_model_name(model_name: &str) -> &str {
    let name = model_name.rsplit('/').next().unwrap_or(model_name);
    name.strip_prefix("openai.").unwrap_or(name)
}

/// The call id of a tool call id that PydanticAI 1.x combined with the item id
/// (`call_…|fc_…`).
fn call_id_of(tool_call_id: &str) -> &str {
    tool_call_id
        .split_once('|')
        .map_or(tool_call_id, |(call, _)| call)
}

fn summary(text: &str) -> Value {
    json!({"type": "summary_text", "text": text})
}

/// The item at `open` when it is the `kind` item with id `id`.
fn open_item<'a>(
    out: &'a mut [Value],
    open: &Option<(usize, String)>,
    id: &str,
    kind: &str,
) -> Option<&'a mut Value> {
    let (index, open_id) = open.as_ref()?;
    let item = out.get_mut(*index)?;
    (open_id == id && item.get("type").and_then(Value::as_str) == Some(kind)).then_some(item)
}

fn push_to(item: &mut Value, key: &str, value: Value) {
    if let Some(Value::Array(list)) = item.get_mut(key) {
        list.push(value);
    }
}

/// An output item sent back as input: unchanged, except a generated image, which the
/// server finds by its id.
fn replayed_item(raw: &Value) -> Value {
    if raw.get("type").and_then(Value::as_str) == Some("image_generation_call")
        && let Some(id) = raw.get("id")
    {
        return json!({"type": "image_generation_call", "id": id});
    }
    raw.clone()
}

fn map_tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Required => json!("required"),
        ToolChoice::None => json!("none"),
        ToolChoice::Tools(names) => match names.as_slice() {
            [one] => json!({"type": "function", "name": one}),
            many => json!({
                "type": "allowed_tools",
                "mode": "required",
                "tools": many.iter().map(|n| json!({"type": "function", "name": n})).collect::<Vec<_>>(),
            }),
        },
    }
}

fn forced(f: &FileUrl) -> bool {
    f.extra
        .get("force_download")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn detail(extra: &Map<String, Value>) -> Value {
    extra
        .get("vendor_metadata")
        .and_then(|v| v.get("detail"))
        .cloned()
        .unwrap_or_else(|| json!("auto"))
}

/// An image, file or uploaded file as an input content item.
fn map_media(item: &UserContent, downloads: &HashMap<String, BinaryContent>) -> Result<Value> {
    let downloaded = |f: &FileUrl| -> Result<&BinaryContent> {
        downloads
            .get(&f.url)
            .ok_or_else(|| Error::User(format!("{} was not downloaded before the request", f.url)))
    };
    Ok(match item {
        UserContent::ImageUrl(f) => {
            let url = if forced(f) {
                downloaded(f)?.data_uri()
            } else {
                f.url.clone()
            };
            json!({"type": "input_image", "image_url": url, "detail": detail(&f.extra)})
        }
        UserContent::DocumentUrl(f) | UserContent::AudioUrl(f) if forced(f) => {
            let bin = downloaded(f)?;
            let ext = crate::messages::extension_for(&bin.media_type);
            json!({"type": "input_file", "file_data": bin.data_uri(), "filename": format!("filename.{ext}")})
        }
        UserContent::DocumentUrl(f) | UserContent::AudioUrl(f) => {
            json!({"type": "input_file", "file_url": f.url})
        }
        UserContent::Binary(b) if b.media_type.starts_with("image/") => {
            json!({"type": "input_image", "image_url": b.data_uri(), "detail": detail(&b.extra)})
        }
        UserContent::Binary(b) => {
            let filename = b.filename.clone().unwrap_or_else(|| {
                format!("filename.{}", crate::messages::extension_for(&b.media_type))
            });
            json!({"type": "input_file", "file_data": b.data_uri(), "filename": filename})
        }
        UserContent::UploadedFile(f) => {
            if f.media_type
                .as_deref()
                .is_some_and(|m| m.starts_with("image/"))
            {
                json!({"type": "input_image", "file_id": f.file_id, "detail": detail(&f.extra)})
            } else {
                json!({"type": "input_file", "file_id": f.file_id})
            }
        }
        UserContent::VideoUrl(_) => {
            return Err(Error::User(
                "OpenAI Responses does not take video URLs".into(),
            ));
        }
        UserContent::Text(t) => json!({"type": "input_text", "text": t}),
        UserContent::CachePoint(_) | UserContent::Unknown(_) => {
            json!({"type": "input_text", "text": ""})
        }
    })
}

impl Model for OpenAIResponsesModel {
    async fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ModelResponse> {
        let downloads = self.download_media(messages).await?;
        let body = self.build_request_body(messages, settings, params, &downloads, false)?;
        let request = self.send(RESPONSES_PATH, &body, settings).await?;
        let bytes = self
            .provider
            .client()
            .post_for_body(&request, &self.model_name)
            .await?;
        self.parse_response(&bytes)
    }

    async fn request_stream(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ResponseStream> {
        let downloads = self.download_media(messages).await?;
        let body = self.build_request_body(messages, settings, params, &downloads, true)?;
        let request = self.send(RESPONSES_PATH, &body, settings).await?;
        let events = self
            .provider
            .client()
            .post_for_events(&request, &self.model_name, settings.stream_idle_timeout)
            .await?;
        let model_name = self.model_name.clone();
        let this = self.clone();
        let stream = async_stream::try_stream! {
            let mut state = EventProcessor::new(this.provider.name());
            futures::pin_mut!(events);
            while let Some(event) = events.next().await {
                let event = event?;
                let data = event.data.trim();
                if data.is_empty() || data == "[DONE]" {
                    continue;
                }
                let value: Value = serde_json::from_str(data).map_err(|e| {
                    Error::unexpected_body(format!("invalid Responses event: {e}"), data.as_bytes())
                })?;
                for e in state.event(&model_name, &value)? {
                    yield e;
                }
                if state.terminal {
                    break;
                }
            }
            if !state.terminal {
                Err(crate::models::wire::incomplete_stream(&model_name))?;
            }
            yield ModelStreamEvent::Metadata(crate::models::wire::served_metadata(
                this.provider.name(),
                this.provider.public_base_url(),
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
        let downloads = self.download_media(messages).await?;
        let mut body = self.build_request_body(messages, settings, params, &downloads, false)?;
        if let Value::Object(map) = &mut body {
            map.retain(|k, _| COUNT_TOKENS_KEYS.contains(&k.as_str()));
        }
        let request = self.send(INPUT_TOKENS_PATH, &body, settings).await?;
        let bytes = self
            .provider
            .client()
            .post_for_body(&request, &self.model_name)
            .await?;
        crate::models::wire::token_count(&bytes, "responses/input_tokens", "input_tokens")
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

// ---- responses ----

/// Turns output items and stream events into stream events: the one processing path of
/// this wire API. A whole response is handled as each item added and done, then the
/// response completed, so both paths give the same parts.
struct EventProcessor {
    provider: String,
    parts: PartsManager,
    /// Part indexes by vendor key.
    started: HashMap<String, usize>,
    /// Thinking text streamed so far, by vendor key.
    thinking: HashMap<String, String>,
    /// Tool-call arguments received so far, by item key.
    call_args: HashMap<String, String>,
    /// Items handled whole.
    done: HashSet<String>,
    /// A message item's `phase`, by item key.
    phases: HashMap<String, Value>,
    refusal: bool,
    terminal: bool,
}

/// The key of an item: its id, or its place in the output.
fn item_key(id: Option<&Value>, output_index: Option<&Value>) -> String {
    match (
        id.and_then(Value::as_str),
        output_index.and_then(Value::as_u64),
    ) {
        (Some(id), _) if !id.is_empty() => id.to_owned(),
        (_, Some(i)) => format!("#{i}"),
        _ => "#".to_owned(),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl EventProcessor {
    fn new(provider: &str) -> Self {
        EventProcessor {
            provider: provider.to_owned(),
            parts: PartsManager::new(),
            started: HashMap::new(),
            thinking: HashMap::new(),
            call_args: HashMap::new(),
            done: HashSet::new(),
            phases: HashMap::new(),
            refusal: false,
            terminal: false,
        }
    }

    /// Record the index of a part that `event` starts under `key`.
    fn note(&mut self, key: &str, event: Option<ModelStreamEvent>) -> Option<ModelStreamEvent> {
        if let Some(ModelStreamEvent::PartStart { index, .. }) = &event {
            self.started.insert(key.to_owned(), *index);
        }
        event
    }

    /// One event of a stream.
    fn event(&mut self, model_name: &str, e: &Value) -> Result<Vec<ModelStreamEvent>> {
        let kind = str_of(e, "type").unwrap_or_default();
        let key = || item_key(e.get("item_id"), e.get("output_index"));
        let mut events = Vec::new();
        match kind {
            "response.created" | "response.in_progress" | "response.queued" => {
                if let Some(r) = e.get("response") {
                    events.push(ModelStreamEvent::Metadata(response_metadata(r)));
                }
            }
            "response.completed" | "response.incomplete" => {
                if let Some(r) = e.get("response") {
                    if let Some(output) = r.get("output").and_then(Value::as_array) {
                        // items the stream did not finish (MCP listings can arrive this way)
                        for (index, item) in output.iter().enumerate() {
                            let k = item_key(item.get("id"), Some(&json!(index)));
                            if !self.done.contains(&k) {
                                events.extend(self.item_added(index, item));
                                events.extend(self.item_done(index, item));
                            }
                        }
                    }
                    events.extend(self.finished(r));
                }
                self.terminal = true;
            }
            "response.failed" => {
                let error = e.pointer("/response/error").filter(|v| !v.is_null());
                return Err(Error::ModelApi {
                    model_name: model_name.to_owned(),
                    message: match error {
                        Some(error) => format!("response failed: {error}"),
                        None => format!("response failed: {e}"),
                    },
                });
            }
            "error" => {
                return Err(Error::ModelApi {
                    model_name: model_name.to_owned(),
                    message: format!("error in event stream: {e}"),
                });
            }
            "response.output_item.added" => {
                if let Some(item) = e.get("item") {
                    let index = e.get("output_index").and_then(Value::as_u64).unwrap_or(0);
                    events.extend(self.item_added(usize::try_from(index).unwrap_or(0), item));
                }
            }
            "response.output_item.done" => {
                if let Some(item) = e.get("item") {
                    let index = e.get("output_index").and_then(Value::as_u64).unwrap_or(0);
                    events.extend(self.item_done(usize::try_from(index).unwrap_or(0), item));
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                let item = key();
                let content = e.get("content_index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(delta) = str_of(e, "delta") {
                    if kind == "response.refusal.delta" {
                        self.refusal = true;
                    }
                    events.extend(self.text(&item, content, delta));
                }
            }
            "response.function_call_arguments.delta" => {
                let item = key();
                let vendor = format!("{item}:call");
                if let (Some(delta), true) =
                    (str_of(e, "delta"), self.started.contains_key(&vendor))
                {
                    self.call_args.entry(item).or_default().push_str(delta);
                    events.extend(self.parts.tool_call_delta(
                        Some(&vendor),
                        None,
                        Some(delta),
                        None,
                    ));
                }
            }
            "response.reasoning_summary_text.delta" => {
                let item = key();
                let n = e.get("summary_index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(delta) = str_of(e, "delta") {
                    events.extend(self.thinking(&item, n, delta));
                }
            }
            // raw reasoning text, code deltas, tool progress: taken whole when the item
            // is done
            _ => {}
        }
        Ok(events)
    }

    fn text(&mut self, item: &str, content: u64, delta: &str) -> Option<ModelStreamEvent> {
        let vendor = format!("{item}:text:{content}");
        let mut event = self.parts.text_delta(Some(&vendor), delta);
        if let Some(ModelStreamEvent::PartStart {
            part: ModelResponsePart::Text(t),
            ..
        }) = &mut event
        {
            t.id = Some(item.to_owned());
            t.provider_name = Some(self.provider.clone());
            if let Some(phase) = self.phases.get(item) {
                t.provider_details = Some(Map::from_iter([("phase".to_owned(), phase.clone())]));
            }
        }
        self.note(&vendor, event)
    }

    fn thinking(&mut self, item: &str, n: u64, delta: &str) -> Option<ModelStreamEvent> {
        let vendor = format!("{item}:summary:{n}");
        self.thinking
            .entry(vendor.clone())
            .or_default()
            .push_str(delta);
        let mut event = self.parts.thinking_delta(Some(&vendor), Some(delta), None);
        if let Some(ModelStreamEvent::PartStart {
            part: ModelResponsePart::Thinking(t),
            ..
        }) = &mut event
        {
            t.id = Some(item.to_owned());
            t.provider_name = Some(self.provider.clone());
        }
        self.note(&vendor, event)
    }

    /// An output item starts: tool calls start their part, messages note their phase.
    fn item_added(&mut self, index: usize, item: &Value) -> Vec<ModelStreamEvent> {
        let key = item_key(item.get("id"), Some(&json!(index)));
        match str_of(item, "type").unwrap_or_default() {
            "function_call" => {
                let vendor = format!("{key}:call");
                if self.started.contains_key(&vendor) {
                    return Vec::new();
                }
                let args = str_of(item, "arguments").unwrap_or_default();
                self.call_args.insert(key.clone(), args.to_owned());
                let mut event = self.parts.tool_call_delta(
                    Some(&vendor),
                    Some(str_of(item, "name").unwrap_or_default()),
                    Some(args),
                    str_of(item, "call_id"),
                );
                if let Some(ModelStreamEvent::PartStart {
                    part: ModelResponsePart::ToolCall(c),
                    ..
                }) = &mut event
                {
                    c.id = str_of(item, "id").map(str::to_owned);
                    c.provider_name = Some(self.provider.clone());
                    if let Some(ns) = item.get("namespace").filter(|v| !v.is_null()) {
                        c.provider_details =
                            Some(Map::from_iter([("namespace".to_owned(), ns.clone())]));
                    }
                }
                self.note(&vendor, event).into_iter().collect()
            }
            "message" => {
                if let Some(phase) = item.get("phase").filter(|v| !v.is_null()) {
                    self.phases.insert(key, phase.clone());
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// An output item is complete: whatever its deltas did not give is added.
    fn item_done(&mut self, index: usize, item: &Value) -> Vec<ModelStreamEvent> {
        let key = item_key(item.get("id"), Some(&json!(index)));
        if !self.done.insert(key.clone()) {
            return Vec::new();
        }
        let mut events = Vec::new();
        match str_of(item, "type").unwrap_or_default() {
            "message" => {
                for (n, content) in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let n = n as u64;
                    if self.started.contains_key(&format!("{key}:text:{n}")) {
                        continue;
                    }
                    let text = match str_of(content, "type") {
                        Some("output_text") => str_of(content, "text"),
                        Some("refusal") => {
                            self.refusal = true;
                            str_of(content, "refusal")
                        }
                        _ => None,
                    };
                    if let Some(text) = text {
                        events.extend(self.text(&key, n, text));
                    }
                }
            }
            "function_call" => {
                let vendor = format!("{key}:call");
                if !self.started.contains_key(&vendor) {
                    events.extend(self.item_added(index, item));
                }
                let done = str_of(item, "arguments").unwrap_or_default();
                let streamed = self.call_args.get(&key).cloned().unwrap_or_default();
                if done != streamed
                    && let Some(rest) = done.strip_prefix(streamed.as_str())
                {
                    self.call_args.insert(key.clone(), done.to_owned());
                    events.extend(self.parts.tool_call_delta(
                        Some(&vendor),
                        None,
                        Some(rest),
                        None,
                    ));
                }
            }
            "reasoning" => events.extend(self.reasoning_done(&key, item)),
            kind => {
                let mut part = Map::new();
                let part_kind = if kind.ends_with("_call") {
                    "builtin-tool-call"
                } else {
                    "provider-block"
                };
                part.insert("part_kind".into(), json!(part_kind));
                part.insert("tool_name".into(), json!(kind));
                if let Some(id) = item.get("id") {
                    part.insert("tool_call_id".into(), id.clone());
                }
                part.insert("provider_name".into(), json!(self.provider));
                part.insert("provider_details".into(), json!({ RAW_ITEM: item }));
                let vendor = format!("{key}:item");
                let event = self
                    .parts
                    .whole_part(Some(&vendor), ModelResponsePart::Unknown(part));
                events.extend(self.note(&vendor, Some(event)));
            }
        }
        events
    }

    /// A reasoning item is complete: its summaries (one thinking part each, the first
    /// with the encrypted content and any raw reasoning text).
    fn reasoning_done(&mut self, key: &str, item: &Value) -> Vec<ModelStreamEvent> {
        let signature = str_of(item, "encrypted_content").filter(|s| !s.is_empty());
        let raw: Vec<Value> = item
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("text").cloned())
            .collect();
        let details = (!raw.is_empty())
            .then(|| Map::from_iter([("raw_content".to_owned(), Value::Array(raw))]));
        let mut summaries: Vec<&str> = item
            .get("summary")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|s| str_of(s, "text").unwrap_or_default())
            .collect();
        if summaries.is_empty() {
            if signature.is_none() && details.is_none() {
                return Vec::new();
            }
            summaries.push("");
        }
        let mut events = Vec::new();
        for (n, text) in summaries.into_iter().enumerate() {
            let vendor = format!("{key}:summary:{n}");
            let first = n == 0;
            let mut part = ThinkingPart::new(text);
            part.id = Some(key.to_owned());
            part.provider_name = Some(self.provider.clone());
            if first {
                part.signature = signature.map(str::to_owned);
                part.provider_details = details.clone();
            }
            match self.started.get(&vendor).copied() {
                None => {
                    let event = self
                        .parts
                        .whole_part(Some(&vendor), ModelResponsePart::Thinking(part));
                    events.extend(self.note(&vendor, Some(event)));
                }
                Some(index) if first && (signature.is_some() || details.is_some()) => {
                    // the streamed part, completed
                    part.content = self.thinking.get(&vendor).cloned().unwrap_or_default();
                    events.push(ModelStreamEvent::PartStart {
                        index,
                        part: ModelResponsePart::Thinking(part),
                    });
                }
                Some(_) => {}
            }
        }
        events
    }

    /// The response is complete: its id, model, usage and finish reason.
    fn finished(&mut self, r: &Value) -> Vec<ModelStreamEvent> {
        let mut events = Vec::new();
        if let Some(u) = r.get("usage").filter(|u| u.is_object()) {
            events.push(ModelStreamEvent::Usage(map_usage(u)));
        }
        let mut meta = response_metadata(r);
        let mut details = Map::new();
        let raw_reason = r
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str)
            .or_else(|| str_of(r, "status"));
        if let Some(reason) = raw_reason {
            details.insert("finish_reason".into(), json!(reason));
            meta.finish_reason = map_finish_reason(reason);
        }
        if self.refusal {
            meta.finish_reason = Some(FinishReason::ContentFilter);
            details.insert("refusal".into(), json!(true));
        }
        for key in ["service_tier", "moderation"] {
            if let Some(v) = r.get(key).filter(|v| !v.is_null()) {
                details.insert(key.into(), v.clone());
            }
        }
        if let Some(id) = r
            .get("conversation")
            .and_then(|c| c.get("id").or(Some(c)))
            .and_then(Value::as_str)
        {
            details.insert("conversation_id".into(), json!(id));
        }
        if r.get("background").and_then(Value::as_bool) == Some(true) {
            details.insert("background".into(), json!(true));
        }
        if !details.is_empty() {
            meta.provider_details = Some(details);
        }
        events.push(ModelStreamEvent::Metadata(meta));
        events
    }
}

/// The id, model and creation time of a response object.
fn response_metadata(r: &Value) -> ResponseMetadata {
    ResponseMetadata {
        model_name: str_of(r, "model").map(str::to_owned),
        provider_response_id: str_of(r, "id").map(str::to_owned),
        timestamp: r
            .get("created_at")
            .and_then(Value::as_i64)
            .and_then(|s| Utc.timestamp_opt(s, 0).single()),
        ..Default::default()
    }
}

/// PydanticAI's finish reason for a response's status or incomplete reason; `None`
/// while the response is pending.
fn map_finish_reason(reason: &str) -> Option<FinishReason> {
    Some(match reason {
        "completed" => FinishReason::Stop,
        "max_output_tokens" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        "failed" | "cancelled" => FinishReason::Error,
        "queued" | "in_progress" | "incomplete" => return None,
        other => FinishReason::Other(other.to_owned()),
    })
}

fn map_usage(u: &Value) -> RequestUsage {
    let int = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let input = u.get("input_tokens_details");
    let output = u.get("output_tokens_details");
    let mut usage = RequestUsage {
        input_tokens: int(u.get("input_tokens")),
        output_tokens: int(u.get("output_tokens")),
        cache_read_tokens: int(input.and_then(|d| d.get("cached_tokens"))),
        cache_write_tokens: int(input.and_then(|d| d.get("cache_write_tokens"))),
        ..Default::default()
    };
    let top = u.as_object().into_iter().flatten();
    let nested = [input, output]
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flatten();
    for (k, v) in top.chain(nested) {
        let skip = matches!(
            k.as_str(),
            "input_tokens"
                | "output_tokens"
                | "total_tokens"
                | "cached_tokens"
                | "cache_write_tokens"
        );
        if let (false, Some(n)) = (skip, v.as_u64())
            && n > 0
        {
            usage.details.insert(k.clone(), n);
        }
    }
    usage
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_models_are_told_apart_by_name() {
        for name in [
            "gpt-5",
            "gpt-5-mini",
            "o3-mini",
            "o4-mini",
            "openai/gpt-5.6-sol",
            "openai.gpt-5.5",
        ] {
            assert!(is_reasoning_model(name), "{name}");
        }
        for name in [
            "gpt-4o",
            "gpt-4.1-mini",
            "gpt-5-chat-latest",
            "deepseek-v4-flash",
        ] {
            assert!(!is_reasoning_model(name), "{name}");
        }
    }

    #[test]
    fn usage_counts_cached_and_reasoning_tokens() {
        let u = map_usage(&json!({
            "input_tokens": 100, "output_tokens": 20, "total_tokens": 120,
            "input_tokens_details": {"cached_tokens": 64},
            "output_tokens_details": {"reasoning_tokens": 12}
        }));
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cache_read_tokens),
            (100, 20, 64)
        );
        assert_eq!(u.details.get("reasoning_tokens"), Some(&12));
        assert!(!u.details.contains_key("total_tokens"));
    }

    #[test]
    fn finish_reasons_come_from_the_status_or_the_incomplete_reason() {
        assert_eq!(map_finish_reason("completed"), Some(FinishReason::Stop));
        assert_eq!(
            map_finish_reason("max_output_tokens"),
            Some(FinishReason::Length)
        );
        assert_eq!(
            map_finish_reason("content_filter"),
            Some(FinishReason::ContentFilter)
        );
        assert_eq!(map_finish_reason("failed"), Some(FinishReason::Error));
        assert_eq!(map_finish_reason("in_progress"), None);
        assert_eq!(
            map_finish_reason("max_messages"),
            Some(FinishReason::Other("max_messages".into()))
        );
    }
}
