//! Cohere v2 chat (`POST /v2/chat` on `api.cohere.com`), whole and streamed.
//!
//! Messages are `system`, `user`, `assistant` (content as `thinking` and `text` items,
//! tool calls) and `tool` turns; tools are OpenAI-shaped function definitions;
//! `tool_choice` is `REQUIRED` or `NONE` (or absent: the model decides), and a subset of
//! tools is chosen by sending only those. Cohere's chat takes text only. Responses carry
//! content items, tool calls, a `tool_plan` and citations (kept in `provider_details`),
//! and usage with both `billed_units` and `tokens`. Streams are typed events
//! (`message-start`, `content-start`/`-delta`, `tool-plan-delta`, `tool-call-start`/
//! `-delta`, `citation-start`, `message-end`), processed by the same code as whole
//! responses, so both give the same parts.
//!
//! ```no_run
//! use verity::prelude::*;
//! use verity::models::cohere::CohereModel;
//! use verity::providers::cohere::CohereProvider;
//!
//! # async fn demo() -> verity::Result<()> {
//! // CO_API_KEY (or COHERE_API_KEY) from the environment
//! let model = CohereModel::new("command-r7b-12-2024", CohereProvider::from_env()?);
//! let agent = Agent::builder(model).build();
//! println!("{}", agent.run("Hello!").await?.output);
//! # Ok(()) }
//! ```

use futures::StreamExt;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::messages::{
    FinishReason, ModelMessage, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart,
    RetryRendering, UserContent, UserPrompt, frame_for_wire, generate_tool_call_id, system_tagged,
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

/// The endpoint, under the provider's base URL (`https://api.cohere.com`).
const CHAT_PATH: &str = "/v2/chat";

/// A model spoken to through Cohere's v2 chat.
///
/// ```no_run
/// use verity::prelude::*;
/// use verity::models::cohere::CohereModel;
///
/// # async fn demo() -> verity::Result<()> {
/// // the key from CO_API_KEY or COHERE_API_KEY; `infer_model("cohere:command-r7b-12-2024")`
/// // is the same
/// let model = CohereModel::from_env("command-r7b-12-2024")?;
/// let agent = Agent::builder(model).build();
/// let mut run = agent.run("Tell me a short story.").stream();
/// let result = run.finish().await?;
/// println!("{}", result.output);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CohereModel {
    model_name: String,
    provider: Provider,
    profile: ModelProfile,
    settings: Option<ModelSettings>,
}

impl CohereModel {
    /// `model_name` on `provider` (its profile comes from the provider).
    pub fn new(model_name: impl Into<String>, provider: impl Into<Provider>) -> Self {
        let provider: Provider = provider.into();
        let model_name = model_name.into();
        let profile = provider.model_profile(&model_name);
        CohereModel {
            model_name,
            provider,
            profile,
            settings: None,
        }
    }

    /// `model_name` on Cohere, with the key (`CO_API_KEY` or `COHERE_API_KEY`) from the
    /// environment.
    pub fn from_env(model_name: impl Into<String>) -> Result<Self> {
        Ok(Self::new(
            model_name,
            crate::providers::cohere::CohereProvider::from_env()?,
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

    /// The JSON body of a (non-streamed) request.
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn build_request_body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<Value> {
        let framed = frame_for_wire(messages, self.profile.system_role);
        self.body(&framed, settings, params, false)
    }

    fn body(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
        stream: bool,
    ) -> Result<Value> {
        if !params.native_tools.is_empty() {
            return Err(crate::request::NativeTool::unsupported(
                &self.model_name,
                &params.native_tools,
            ));
        }
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model_name));
        body.insert(
            "messages".into(),
            Value::Array(self.map_messages(messages)?),
        );
        let (tools, tool_choice) = tools_and_choice(settings, params);
        if !tools.is_empty() {
            body.insert(
                "tools".into(),
                Value::Array(tools.into_iter().map(map_tool).collect()),
            );
        }
        if let Some(choice) = tool_choice {
            body.insert("tool_choice".into(), json!(choice));
        }
        match (params.output_mode, &params.output_object) {
            (OutputMode::Native, Some(obj)) => {
                body.insert(
                    "response_format".into(),
                    json!({"type": "json_object", "json_schema": obj.json_schema}),
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
        if let Some(stop) = &settings.stop_sequences {
            body.insert("stop_sequences".into(), json!(stop));
        }
        for (key, value) in [
            ("temperature", settings.temperature),
            ("p", settings.top_p),
            ("presence_penalty", settings.presence_penalty),
            ("frequency_penalty", settings.frequency_penalty),
        ] {
            if let Some(v) = value {
                body.insert(key.into(), json!(v));
            }
        }
        if let Some(seed) = settings.seed {
            body.insert("seed".into(), json!(seed));
        }
        if let Some(thinking) = thinking_field(&self.profile, settings) {
            body.insert("thinking".into(), thinking);
        }
        wire::body_value(Value::Object(body), settings)
    }

    fn map_messages(&self, messages: &[ModelMessage]) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(messages.len() + 1);
        for message in messages {
            match message {
                ModelMessage::Request(request) => self.map_request(request, &mut out)?,
                ModelMessage::Response(response) => out.extend(map_response(response)),
            }
        }
        let instructions = messages
            .iter()
            .rev()
            .find_map(ModelMessage::as_request)
            .and_then(|r| r.instructions.as_deref());
        if let Some(ins) = instructions {
            let at = out
                .iter()
                .position(|m| m.get("role").and_then(Value::as_str) != Some("system"))
                .unwrap_or(out.len());
            out.insert(at, json!({"role": "system", "content": ins}));
        }
        Ok(out)
    }

    fn map_request(&self, request: &ModelRequest, out: &mut Vec<Value>) -> Result<()> {
        for part in &request.parts {
            if let Some(rendering) = part.retry_rendering() {
                out.push(match rendering {
                    RetryRendering::ToolError { tool_call_id, .. } => json!({
                        "role": "tool",
                        "tool_call_id": tool_call_id,
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
                                match item {
                                    UserContent::Text(t) => {
                                        chunks.push(json!({"type": "text", "text": t}));
                                    }
                                    UserContent::CachePoint(_) | UserContent::Unknown(_) => {}
                                    _ => {
                                        return Err(Error::User(
                                            "Cohere's chat takes text only, no files".into(),
                                        ));
                                    }
                                }
                            }
                            Value::Array(chunks)
                        }
                    };
                    out.push(json!({"role": "user", "content": content}));
                }
                ModelRequestPart::ToolReturn(p) => {
                    if !wire::split_media(&p.content).1.is_empty() {
                        return Err(Error::User(
                            "Cohere's chat takes no files in tool results".into(),
                        ));
                    }
                    out.push(json!({
                        "role": "tool",
                        "tool_call_id": p.tool_call_id,
                        "content": p.model_response_str(),
                    }));
                }
                // retries and retry feedback are rendered above
                ModelRequestPart::RetryPrompt(_)
                | ModelRequestPart::RetryFeedback(_)
                | ModelRequestPart::Unknown(_) => {}
            }
        }
        Ok(())
    }

    /// Parse a non-streamed response body.
    #[doc(hidden)] // for snapshots, benchmarks and fuzzing; not part of the API
    pub fn parse_response(&self, body: &[u8]) -> Result<ModelResponse> {
        let response: Value = serde_json::from_slice(body)
            .map_err(|e| Error::unexpected_body(format!("invalid Cohere response: {e}"), body))?;
        if !response.get("message").is_some_and(Value::is_object) {
            return Err(Error::unexpected_body(
                "invalid Cohere response: no `message`",
                body,
            ));
        }
        let mut state = EventProcessor::default();
        let mut acc = ResponseAccumulator::new();
        for e in state.whole(&response).into_iter().chain(state.flush()) {
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
    ) -> Result<crate::http::HttpRequest> {
        let framed = frame_for_wire(messages, self.profile.system_role);
        let body = self.body(&framed, settings, params, stream)?;
        let mut request =
            self.provider
                .json_request(CHAT_PATH, &self.model_name, &body, settings)?;
        self.provider
            .authorize(&mut request, &self.model_name)
            .await?;
        Ok(request)
    }
}

impl Model for CohereModel {
    async fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ModelResponse> {
        let request = self.send(messages, settings, params, false).await?;
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
        let request = self.send(messages, settings, params, true).await?;
        let events = self
            .provider
            .client()
            .post_for_events(&request, &self.model_name, settings.stream_idle_timeout)
            .await?;
        let this = self.clone();
        let stream = async_stream::try_stream! {
            let mut state = EventProcessor::default();
            futures::pin_mut!(events);
            while let Some(event) = events.next().await {
                let event = event?;
                let data = event.data.trim();
                if data == "[DONE]" {
                    break;
                }
                if data.is_empty() {
                    continue;
                }
                let value: Value = serde_json::from_str(data).map_err(|e| {
                    Error::unexpected_body(format!("invalid Cohere stream event: {e}"), data.as_bytes())
                })?;
                let kind = value
                    .get("type")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| event.event.clone())
                    .unwrap_or_default();
                if kind == "error"
                    || value.pointer("/delta/error").is_some_and(|e| !e.is_null())
                {
                    Err(wire::stream_error(&this.model_name, data))?;
                }
                for e in state.event(&kind, &value) {
                    yield e;
                }
            }
            if !state.ended {
                Err(Error::ModelApi {
                    model_name: this.model_name.clone(),
                    message: "the event stream ended before `message-end`".into(),
                })?;
            }
            for e in state.flush() {
                yield e;
            }
            yield ModelStreamEvent::Metadata(ResponseMetadata {
                model_name: Some(this.model_name.clone()),
                ..crate::models::wire::served_metadata(
                    this.provider.name(),
                    this.provider.public_base_url(),
                )
            });
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

/// `thinking` for the unified setting, on reasoning models: enabled with a token budget
/// per effort (512 … 31000), or disabled.
fn thinking_field(profile: &ModelProfile, settings: &ModelSettings) -> Option<Value> {
    use crate::settings::{Thinking, ThinkingEffort};
    if profile.thinking != crate::profiles::ThinkingStyle::Budget {
        return None;
    }
    Some(match settings.thinking? {
        Thinking::Off => json!({"type": "disabled"}),
        Thinking::On => json!({"type": "enabled"}),
        Thinking::Budget(n) => json!({"type": "enabled", "token_budget": n}),
        t => {
            let budget = match t.effort() {
                Some(ThinkingEffort::Minimal) => 512,
                Some(ThinkingEffort::Low) => 2048,
                Some(ThinkingEffort::Medium) | None => 8192,
                Some(ThinkingEffort::High) => 16384,
                Some(_) => 31000,
            };
            json!({"type": "enabled", "token_budget": budget})
        }
    })
}

/// The tools to send and `tool_choice`: `REQUIRED` where a tool must be called, `NONE`
/// (tools still sent) where none may be; a chosen subset is sent alone.
fn tools_and_choice<'a>(
    settings: &ModelSettings,
    params: &'a ModelRequestParameters,
) -> (Vec<&'a ToolDefinition>, Option<&'static str>) {
    let all: Vec<&ToolDefinition> = params.all_tools().collect();
    let output_only = !params.allow_text_output && !params.output_tools.is_empty();
    let (tools, choice) = match &settings.tool_choice {
        Some(ToolChoice::None) if output_only => {
            (params.output_tools.iter().collect(), Some("REQUIRED"))
        }
        Some(ToolChoice::None) => (all, Some("NONE")),
        Some(ToolChoice::Required) => (all, Some("REQUIRED")),
        Some(ToolChoice::Tools(names)) => (
            params
                .function_tools
                .iter()
                .filter(|t| names.contains(&t.name))
                .chain(params.output_tools.iter())
                .collect(),
            Some("REQUIRED"),
        ),
        _ if output_only => (all, Some("REQUIRED")),
        _ => (all, None),
    };
    let choice = choice.filter(|_| !tools.is_empty());
    (tools, choice)
}

fn map_tool(tool: &ToolDefinition) -> Value {
    let mut function = Map::new();
    function.insert("name".into(), json!(tool.name));
    if let Some(d) = &tool.description {
        function.insert("description".into(), json!(d));
    }
    function.insert("parameters".into(), tool.parameters_json_schema.clone());
    json!({"type": "function", "function": function})
}

/// An assistant turn: thinking and text (each joined by blank lines) as content items,
/// then the tool calls; `None` for a response with nothing to send.
fn map_response(response: &ModelResponse) -> Option<Value> {
    let mut texts = Vec::new();
    let mut thinking = Vec::new();
    let mut calls = Vec::new();
    for part in &response.parts {
        match part {
            ModelResponsePart::Text(t) => texts.push(t.content.as_str()),
            ModelResponsePart::Thinking(t) => thinking.push(t.content.as_str()),
            ModelResponsePart::ToolCall(c) => calls.push(json!({
                "id": c.tool_call_id,
                "type": "function",
                "function": {"name": c.tool_name, "arguments": c.args.to_json_string()},
            })),
            ModelResponsePart::Unknown(_) => {}
        }
    }
    if texts.is_empty() && thinking.is_empty() && calls.is_empty() {
        return None;
    }
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    let mut content = Vec::new();
    if !thinking.is_empty() {
        content.push(json!({"type": "thinking", "thinking": thinking.join("\n\n")}));
    }
    if !texts.is_empty() {
        content.push(json!({"type": "text", "text": texts.join("\n\n")}));
    }
    if !content.is_empty() {
        message.insert("content".into(), Value::Array(content));
    }
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    Some(Value::Object(message))
}

// ---- responses ----

/// Turns a whole response, or the events of a stream, into stream events: a whole
/// response is read as the events that would have streamed it.
#[derive(Default)]
struct EventProcessor {
    parts: PartsManager,
    details: Map<String, Value>,
    tool_plan: String,
    citations: Vec<Value>,
    ended: bool,
}

impl EventProcessor {
    fn whole(&mut self, response: &Value) -> Vec<ModelStreamEvent> {
        let mut events = Vec::new();
        let message = response.get("message");
        for (index, item) in message
            .and_then(|m| m.get("content"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.content(index, item, &mut events);
        }
        for (index, call) in message
            .and_then(|m| m.get("tool_calls"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.tool_call_start(index, call, &mut events);
        }
        if let Some(plan) = message
            .and_then(|m| m.get("tool_plan"))
            .and_then(Value::as_str)
        {
            self.tool_plan.push_str(plan);
        }
        if let Some(citations) = message
            .and_then(|m| m.get("citations"))
            .and_then(Value::as_array)
        {
            self.citations.extend(citations.iter().cloned());
        }
        events.extend(self.end(response));
        events.push(ModelStreamEvent::Metadata(ResponseMetadata {
            provider_response_id: response
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ..Default::default()
        }));
        events
    }

    /// One stream event, by its `type`.
    fn event(&mut self, kind: &str, value: &Value) -> Vec<ModelStreamEvent> {
        let mut events = Vec::new();
        let index = value
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(0);
        let message = value.pointer("/delta/message");
        match kind {
            "message-start" => {
                if let Some(id) = value
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|i| !i.is_empty())
                {
                    events.push(ModelStreamEvent::Metadata(ResponseMetadata {
                        provider_response_id: Some(id.to_owned()),
                        ..Default::default()
                    }));
                }
            }
            "content-start" | "content-delta" => {
                if let Some(content) = message.and_then(|m| m.get("content")) {
                    self.content(index, content, &mut events);
                }
            }
            "tool-plan-delta" => {
                if let Some(plan) = message
                    .and_then(|m| m.get("tool_plan"))
                    .and_then(Value::as_str)
                {
                    self.tool_plan.push_str(plan);
                }
            }
            "tool-call-start" => {
                if let Some(call) = message.and_then(|m| m.get("tool_calls")) {
                    self.tool_call_start(index, call, &mut events);
                }
            }
            "tool-call-delta" => {
                let args = message
                    .and_then(|m| m.pointer("/tool_calls/function/arguments"))
                    .and_then(Value::as_str);
                let vendor = format!("tool_{index}");
                events.extend(self.parts.tool_call_delta(Some(&vendor), None, args, None));
            }
            "citation-start" => {
                if let Some(citations) = message.and_then(|m| m.get("citations")) {
                    match citations {
                        Value::Array(items) => self.citations.extend(items.iter().cloned()),
                        other => self.citations.push(other.clone()),
                    }
                }
            }
            "message-end" => {
                if let Some(delta) = value.get("delta") {
                    events.extend(self.end(delta));
                }
            }
            // content-end, tool-call-end, citation-end, debug, and kinds added later
            _ => {}
        }
        events
    }

    /// A content item (or the start or delta of one): text or thinking.
    fn content(&mut self, index: usize, item: &Value, events: &mut Vec<ModelStreamEvent>) {
        if let Some(thinking) = item.get("thinking").and_then(Value::as_str) {
            let vendor = format!("thinking_{index}");
            events.extend(
                self.parts
                    .thinking_delta(Some(&vendor), Some(thinking), None),
            );
        } else if let Some(text) = item.get("text").and_then(Value::as_str) {
            let vendor = format!("text_{index}");
            events.extend(self.parts.text_delta(Some(&vendor), text));
        }
    }

    fn tool_call_start(&mut self, index: usize, call: &Value, events: &mut Vec<ModelStreamEvent>) {
        let function = call.get("function");
        let Some(name) = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            return;
        };
        let args = function.and_then(|f| f.get("arguments")).map(|a| match a {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|i| !i.is_empty())
            .map_or_else(generate_tool_call_id, str::to_owned);
        let vendor = format!("tool_{index}");
        events.extend(self.parts.tool_call_delta(
            Some(&vendor),
            Some(name),
            args.as_deref(),
            Some(&id),
        ));
    }

    /// The end of a message: finish reason and usage (top level of a whole response,
    /// or the `delta` of `message-end`).
    fn end(&mut self, holder: &Value) -> Vec<ModelStreamEvent> {
        self.ended = true;
        let mut events = Vec::new();
        if let Some(usage) = holder.get("usage").filter(|u| u.is_object()) {
            events.push(ModelStreamEvent::Usage(map_usage(usage)));
        }
        let reason = holder.get("finish_reason").and_then(Value::as_str);
        if let Some(reason) = reason {
            self.details.insert("finish_reason".into(), json!(reason));
        }
        events.push(ModelStreamEvent::Metadata(ResponseMetadata {
            finish_reason: reason.map(map_finish_reason),
            ..Default::default()
        }));
        events
    }

    fn flush(&mut self) -> Vec<ModelStreamEvent> {
        if !self.tool_plan.is_empty() {
            self.details.insert(
                "tool_plan".into(),
                json!(std::mem::take(&mut self.tool_plan)),
            );
        }
        if !self.citations.is_empty() {
            self.details.insert(
                "citations".into(),
                Value::Array(std::mem::take(&mut self.citations)),
            );
        }
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
        "COMPLETE" | "STOP_SEQUENCE" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "TOOL_CALL" => FinishReason::ToolCall,
        "ERROR" => FinishReason::Error,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Usage as PydanticAI reads Cohere's: input and output from `tokens`, cache reads from
/// `cached_tokens`; the billed units (non-zero) as details.
fn map_usage(u: &Value) -> RequestUsage {
    let mut usage = RequestUsage::default();
    for key in [
        "input_tokens",
        "output_tokens",
        "search_units",
        "classifications",
    ] {
        if let Some(n) =
            wire::count(u.get("billed_units").and_then(|b| b.get(key))).filter(|n| *n > 0)
        {
            usage.details.insert(key.to_owned(), n);
        }
    }
    let tokens = u.get("tokens");
    usage.input_tokens = wire::count(tokens.and_then(|t| t.get("input_tokens"))).unwrap_or(0);
    usage.output_tokens = wire::count(tokens.and_then(|t| t.get("output_tokens"))).unwrap_or(0);
    usage.cache_read_tokens = wire::count(u.get("cached_tokens")).unwrap_or(0);
    usage
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn usage_reads_tokens_and_billed_units() {
        let u = map_usage(&json!({
            "billed_units": {"input_tokens": 41, "output_tokens": 25.0, "search_units": 0},
            "tokens": {"input_tokens": 1441.0, "output_tokens": 54},
            "cached_tokens": 144
        }));
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cache_read_tokens),
            (1441, 54, 144)
        );
        assert_eq!(u.details.get("input_tokens"), Some(&41));
        assert_eq!(u.details.get("output_tokens"), Some(&25));
        assert!(!u.details.contains_key("search_units"));
    }
}
