//! [`AgentRun`]: a run's steps (user prompt, model request, tool calls) and the one loop
//! over them that awaited, streamed and blocking runs share.

use std::sync::Arc;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use tracing::Instrument;

use super::capture::MessageCapture;
use super::state::RunState;
use super::{Agent, FinalResult, RunResult, Text};
use crate::deferred::DeferredToolResults;
use crate::error::Result;
use crate::messages::{
    ModelMessage, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart,
    SystemPromptPart, ToolCallPart, UserPrompt, UserPromptPart,
};
use crate::model::ModelRef;
use crate::request::ModelRequestParameters;
use crate::run_stream::AgentEvent;
use crate::settings::ModelSettings;
use crate::stream::{ModelStreamEvent, ResponseAccumulator};
use crate::tools::{RunContext, Tool};
use crate::toolsets::{Toolset, ToolsetTool, check_conflicts};

/// The tools the toolsets offer at a step, each with the toolset that calls it.
pub(super) type StepTools<D> = Arc<Vec<(Arc<dyn Toolset<D>>, ToolsetTool)>>;
use crate::usage::{RunUsage, SharedUsage, UsageLimits};

/// Where a streamed run's steps send their events.
pub(crate) type EventSink = UnboundedSender<AgentEvent>;

/// A step of a run, as [`AgentRun::next`] hands them out.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // nodes are moved once per step
pub enum AgentNode<O> {
    /// The start: the user prompt (and system prompts) are turned into a request.
    UserPrompt,
    /// A request about to be sent to the model; it may be changed before it is.
    ModelRequest(ModelRequest),
    /// A model response whose tool calls and output are about to be handled.
    CallTools(ModelResponse),
    /// The run is over.
    End(FinalResult<O>),
}

/// A run in progress: step through it with [`next`](Self::next). Made by
/// [`RunRequest::iter`](super::RunRequest::iter).
///
/// ```
/// # use verity::prelude::*;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let agent = Agent::builder(TestModel::new()).build();
/// let mut run = agent.run("hello").iter();
/// let mut node = AgentNode::UserPrompt;
/// let output = loop {
///     node = run.next(node).await.unwrap();
///     if let AgentNode::End(result) = node { break result.output; }
/// };
/// assert_eq!(output, "success (no tool calls)");
/// # });
/// ```
pub struct AgentRun<D, O> {
    pub(super) agent: Agent<D, O>,
    deps: Arc<D>,
    prompt: Option<UserPrompt>,
    model: ModelRef,
    settings: ModelSettings,
    pub(super) limits: UsageLimits,
    pub(super) state: RunState,
    model_name: Arc<str>,
    /// What the last request offered the model (tools, output mode).
    pub(super) params: Option<Arc<ModelRequestParameters>>,
    /// Set for streamed runs: the steps send their events here.
    pub(super) sink: Option<EventSink>,
    /// Where the messages go when the run ends, if anywhere.
    pub(super) capture: Option<MessageCapture>,
    /// The run this one runs as part of (agent delegation): its limits apply too, and
    /// what this run uses is added to it at the end.
    pub(super) parent_usage: Option<SharedUsage>,
    /// The usage this run started from (the parent's, when delegated).
    pub(super) start_usage: RunUsage,
    /// The agent's toolsets, then the run's.
    pub(super) toolsets: Vec<Arc<dyn Toolset<D>>>,
    /// What the toolsets offered at the current step (empty without toolsets).
    pub(super) step_tools: StepTools<D>,
    /// Answers to the deferred calls the history ends with, used at the start.
    pub(super) deferred_results: Option<DeferredToolResults>,
    /// Whether telemetry spans carry message content.
    pub(super) capture_content: bool,
    /// The `invoke_agent` span of a run stepped through with [`next`](Self::next).
    iter_span: Option<tracing::Span>,
}

/// What a response asks of the run: its tool calls, or (when it has none) its text.
pub(super) struct Reply {
    pub(super) calls: Vec<ToolCallPart>,
    pub(super) text: Option<String>,
    /// Set when the provider's content filter ended the response: the error a response
    /// with nothing to act on ends the run with.
    pub(super) filtered: Option<crate::Error>,
}

impl Reply {
    /// Copied from a response that goes on into the history.
    fn of(response: &ModelResponse) -> Self {
        let calls: Vec<ToolCallPart> = response.tool_calls().cloned().collect();
        let text = calls.is_empty().then(|| response.text_content()).flatten();
        Reply {
            calls,
            text,
            filtered: content_filter_error(response),
        }
    }

    /// Taken from a response that is not needed afterwards.
    fn from_response(response: ModelResponse) -> Self {
        let filtered = content_filter_error(&response);
        let text = response
            .tool_calls()
            .next()
            .is_none()
            .then(|| response.text_content())
            .flatten();
        let calls = response
            .parts
            .into_iter()
            .filter_map(|p| match p {
                ModelResponsePart::ToolCall(c) => Some(c),
                _ => None,
            })
            .collect();
        Reply {
            calls,
            text,
            filtered,
        }
    }
}

/// The error of a response the content filter ended (PydanticAI's `ContentFilterError`
/// message: the provider's finish or block reason, and a refusal text).
fn content_filter_error(response: &ModelResponse) -> Option<crate::Error> {
    if response.finish_reason != Some(crate::messages::FinishReason::ContentFilter) {
        return None;
    }
    let details = response.provider_details.as_ref();
    let detail = |key: &str| details.and_then(|d| d.get(key)).and_then(|v| v.as_str());
    let mut reasons = Vec::new();
    if let Some(reason) = detail("finish_reason") {
        reasons.push(format!("Finish reason: '{reason}'"));
    } else if let Some(reason) = detail("block_reason") {
        reasons.push(format!("Block reason: '{reason}'"));
    }
    if let Some(refusal) = detail("refusal") {
        reasons.push(format!("Refusal: '{refusal}'"));
    }
    let mut message = "Content filter triggered.".to_owned();
    if !reasons.is_empty() {
        message.push(' ');
        message.push_str(&reasons.join(". "));
    }
    Some(crate::Error::ContentFilter {
        message,
        body: serde_json::to_string(&[response]).ok(),
    })
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> AgentRun<D, O> {
    /// A run of `agent` with these options, not started.
    pub(super) fn new(
        agent: Agent<D, O>,
        prompt: Option<UserPrompt>,
        deps: D,
        state: RunState,
        model: Option<ModelRef>,
        settings: Option<ModelSettings>,
        limits: Option<UsageLimits>,
    ) -> Self {
        let common = &agent.inner.config.common;
        let model = model.unwrap_or_else(|| Arc::clone(&common.model));
        let mut merged = model
            .settings()
            .cloned()
            .unwrap_or_default()
            .merge(&common.settings);
        if let Some(run_settings) = &settings {
            merged = merged.merge(run_settings);
        }
        let limits = limits.unwrap_or_else(|| common.usage_limits.clone());
        let model_name: Arc<str> = Arc::from(model.model_name());
        let agent_toolsets = agent.inner.config.toolsets.clone();
        let capture_content = common
            .capture_content
            .unwrap_or_else(crate::telemetry::capture_content_from_env);
        AgentRun {
            agent,
            deps: Arc::new(deps),
            prompt,
            model,
            settings: merged,
            limits,
            state,
            model_name,
            params: None,
            sink: None,
            capture: None,
            parent_usage: None,
            start_usage: RunUsage::default(),
            toolsets: agent_toolsets,
            step_tools: Arc::new(Vec::new()),
            deferred_results: None,
            capture_content,
            iter_span: None,
        }
    }

    /// Make this a streamed run whose steps send their events to `sink`.
    pub(crate) fn set_sink(&mut self, sink: EventSink) {
        self.sink = Some(sink);
    }

    /// The agent running.
    pub(crate) fn agent(&self) -> &Agent<D, O> {
        &self.agent
    }

    /// Usage so far.
    pub fn usage(&self) -> &RunUsage {
        &self.state.usage
    }

    /// The conversation so far.
    pub fn messages(&self) -> &[ModelMessage] {
        &self.state.messages
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.state.run_id
    }

    /// What the run has done so far (serializable).
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// Finish the run with an output, as an awaited run does.
    pub fn into_result(self, output: O) -> RunResult<O> {
        RunResult {
            output,
            messages: Arc::unwrap_or_clone(self.state.messages),
            new_message_index: self.state.new_message_index,
            usage: self.state.usage,
            run_id: self.state.run_id,
        }
    }

    /// Handle one node and return the next. Calling it again after
    /// [`AgentNode::End`] returns the same end.
    pub async fn next(&mut self, node: AgentNode<O>) -> Result<AgentNode<O>> {
        if matches!(node, AgentNode::End(_)) {
            return Ok(node);
        }
        // the steps of a run stepped through run inside one `invoke_agent` span, opened at
        // the first step and ended with the run (at its end or its error)
        let span = match &self.iter_span {
            Some(span) => span.clone(),
            None => {
                let span = crate::telemetry::run_span(
                    self.agent.name(),
                    &*self.model,
                    &self.state.messages,
                );
                self.iter_span = Some(span.clone());
                span
            }
        };
        let outcome = self.step(node).instrument(span.clone()).await;
        match &outcome {
            Ok(AgentNode::End(_)) | Err(_) => {
                crate::telemetry::record_run_end(&span, &self.state.usage, outcome.as_ref().err());
                self.iter_span = None;
            }
            Ok(_) => {}
        }
        outcome
    }

    /// One step of [`next`](Self::next).
    async fn step(&mut self, node: AgentNode<O>) -> Result<AgentNode<O>> {
        match node {
            AgentNode::UserPrompt => self.user_prompt().await,
            AgentNode::ModelRequest(request) => {
                let response = self.request_model(request).await?;
                let mut node = response.clone();
                node.run_id = Some(self.state.run_id.to_string());
                self.record_response(response)?;
                Ok(AgentNode::CallTools(node))
            }
            AgentNode::CallTools(response) => {
                self.handle_reply(Reply::from_response(response), None)
                    .await
            }
            AgentNode::End(r) => Ok(AgentNode::End(r)),
        }
    }

    /// The loop of every run: step from the start to the end. The same steps as
    /// [`next`](Self::next), except that a response goes into the history without being
    /// copied for a `CallTools` node nobody looks at. A streamed run (one with an event
    /// sink) streams its model requests and sends events from the steps.
    pub(crate) async fn run_to_end(mut self) -> Result<RunResult<O>> {
        let span =
            crate::telemetry::run_span(self.agent.name(), &*self.model, &self.state.messages);
        let outcome = self.drive().instrument(span.clone()).await;
        crate::telemetry::record_run_end(&span, &self.state.usage, outcome.as_ref().err());
        if let Some(capture) = &self.capture {
            capture.record(&self.state.messages);
        }
        if let Some(parent) = &self.parent_usage {
            parent.add(&self.state.usage.since(&self.start_usage));
        }
        outcome.map(|output| self.into_result(output))
    }

    /// The loop of [`run_to_end`](Self::run_to_end), up to the output.
    async fn drive(&mut self) -> Result<O> {
        let mut node = AgentNode::UserPrompt;
        loop {
            node = match node {
                AgentNode::UserPrompt => self.user_prompt().await?,
                AgentNode::ModelRequest(request) => {
                    let response = self.request_model(request).await?;
                    let reply = Reply::of(&response);
                    self.record_response(response)?;
                    self.handle_reply(reply, None).await?
                }
                AgentNode::CallTools(response) => {
                    self.handle_reply(Reply::from_response(response), None)
                        .await?
                }
                AgentNode::End(result) => return Ok(result.output),
            };
        }
    }

    /// Check the run's limits, and the parent run's when this one is delegated.
    pub(super) fn check_limits(
        &self,
        check: impl Fn(&UsageLimits, &RunUsage) -> Result<()>,
    ) -> Result<()> {
        check(&self.limits, &self.state.usage)?;
        match &self.parent_usage {
            Some(parent) => parent.check(&check, &self.state.usage),
            None => Ok(()),
        }
    }

    /// Send an event to the stream, if this run is streamed.
    pub(super) fn emit(&self, event: impl FnOnce() -> AgentEvent) {
        if let Some(sink) = &self.sink {
            // a closed sink means the consumer is gone; the run is dropped with it
            let _ = sink.unbounded_send(event());
        }
    }

    pub(super) fn context(&self) -> RunContext<D> {
        RunContext::for_run(
            Arc::clone(&self.deps),
            self.state.usage.clone(),
            Arc::clone(&self.state.messages),
            Arc::clone(&self.model_name),
            Arc::clone(&self.state.run_id),
            self.state.run_step,
        )
    }

    async fn user_prompt(&mut self) -> Result<AgentNode<O>> {
        if let Some(results) = self.deferred_results.take() {
            let prompt = self.prompt.take().map(UserPromptPart::new);
            return Box::pin(self.resume_deferred(results, prompt)).await;
        }
        if ends_interrupted(&self.state.messages) {
            repair_interrupted_tail(Arc::make_mut(&mut self.state.messages).as_mut_slice());
        }
        if let Some(ModelMessage::Response(last)) = self.state.messages.last()
            && last.tool_calls().next().is_some()
        {
            // a provider would reject the calls left without returns
            return Err(crate::Error::User(
                "Cannot provide a new user prompt when the message history contains unprocessed \
                 tool calls. Add their tool returns to the history first."
                    .into(),
            ));
        }
        let mut parts = Vec::new();
        let system_prompts = &self.agent.inner.config.system_prompts;
        if self.state.messages.is_empty() {
            let ctx = self.context();
            for (name, sp) in system_prompts {
                let mut part = SystemPromptPart::new(sp.render(&ctx).await);
                part.dynamic_ref = name.clone();
                parts.push(ModelRequestPart::SystemPrompt(part));
            }
        } else if system_prompts.iter().any(|(name, _)| name.is_some()) {
            self.reevaluate_dynamic_system_prompts().await;
        }
        if let Some(prompt) = self.prompt.take() {
            parts.push(ModelRequestPart::UserPrompt(UserPromptPart::new(prompt)));
        }
        Ok(AgentNode::ModelRequest(ModelRequest::new(parts)))
    }

    /// Give the dynamic system prompts of a continued history fresh text.
    async fn reevaluate_dynamic_system_prompts(&mut self) {
        let agent = self.agent.clone();
        let ctx = self.context();
        let mut fresh = Vec::new();
        for (name, sp) in &agent.inner.config.system_prompts {
            if let Some(name) = name {
                fresh.push((name.as_str(), sp.render(&ctx).await));
            }
        }
        drop(ctx);
        let messages = Arc::make_mut(&mut self.state.messages);
        for message in messages.iter_mut() {
            let ModelMessage::Request(request) = message else {
                continue;
            };
            for part in &mut request.parts {
                if let ModelRequestPart::SystemPrompt(sp) = part
                    && let Some(name) = &sp.dynamic_ref
                    && let Some((_, text)) = fresh.iter().find(|(n, _)| n == name)
                {
                    sp.content = text.clone();
                }
            }
        }
    }

    /// Render instructions, prepare tools, append the request to the history and check
    /// the request limit. Returns the request parameters.
    async fn prepare_request(
        &mut self,
        mut request: ModelRequest,
    ) -> Result<Arc<ModelRequestParameters>> {
        if let Some(name) = &self.agent.inner.duplicate_tool {
            return Err(crate::Error::User(format!(
                "the agent has two tools named '{name}': rename one"
            )));
        }
        self.state.run_step += 1;
        self.state.carry_tool_retries();
        let agent = self.agent.clone();
        let config = &agent.inner.config;
        let per_step_tools = !self.toolsets.is_empty() || config.prepare_tools.is_some();
        let dynamic = !config
            .instructions
            .iter()
            .all(|i| matches!(i, Text::Static(_)))
            || config.tools.iter().any(Tool::has_prepare)
            || per_step_tools;
        let ctx = dynamic.then(|| self.context());
        let (params, output_instructions) = match &ctx {
            Some(ctx) if per_step_tools => {
                let (params, instructions, step_tools) = self.step_parameters(ctx).await?;
                self.step_tools = Arc::new(step_tools);
                (params, instructions)
            }
            _ => self.parameters(ctx.as_ref()),
        };
        let mut instructions = Vec::new();
        for ins in &config.instructions {
            let text = match (ins, &ctx) {
                (Text::Static(s), _) => s.clone(),
                (Text::Dynamic(_), Some(ctx)) => ins.render(ctx).await,
                (Text::Dynamic(_), None) => String::new(),
            };
            if !text.trim().is_empty() {
                instructions.push(text);
            }
        }
        if let Some(extra) = output_instructions {
            instructions.push(extra);
        }
        request.instructions = (!instructions.is_empty()).then(|| instructions.join("\n\n"));
        drop(ctx);
        self.state.push_request(request);
        self.params = Some(Arc::clone(&params));
        // checked with the request in the history, as PydanticAI does: the returns it
        // carries stay in the history of the failed run
        self.check_limits(|l, u| l.check_before_request(u))?;
        Ok(params)
    }

    /// The tool definitions and output settings of a request, with the instructions the
    /// output mode adds. Without `prepare` hooks they are the same for every request of a
    /// model, so they are built once per agent and model and shared.
    fn parameters(
        &self,
        ctx: Option<&RunContext<D>>,
    ) -> (Arc<ModelRequestParameters>, Option<String>) {
        let inner = &self.agent.inner;
        let config = &inner.config;
        let profile = self.model.profile();
        let build = |ctx: Option<&RunContext<D>>| {
            let output = config.output.resolve(profile);
            let function_tools = config
                .tools
                .iter()
                .filter_map(|t| match ctx {
                    Some(ctx) => t.prepared_definition(ctx),
                    None => Some(t.definition().clone()),
                })
                .collect();
            let (mut params, instructions) = output.into_parameters(function_tools);
            params.native_tools.clone_from(&config.native_tools);
            (Arc::new(params), instructions)
        };
        if config.tools.iter().any(Tool::has_prepare) {
            return build(ctx);
        }
        let mut cache = inner
            .params_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((cached_profile, params, instructions)) = cache.as_ref()
            && cached_profile == profile
        {
            return (Arc::clone(params), instructions.clone());
        }
        let (params, instructions) = build(None);
        *cache = Some((profile.clone(), Arc::clone(&params), instructions.clone()));
        (params, instructions)
    }

    /// The request parameters of a step of a run with toolsets or a `prepare_tools` hook:
    /// the agent's tools (each `prepare` hook applied), then every toolset's, checked
    /// for name conflicts (among them and with the output tools), then through
    /// `prepare_tools`. Returns the toolsets' tools that are offered, for dispatch.
    #[allow(clippy::type_complexity)]
    pub(super) async fn step_parameters(
        &self,
        ctx: &RunContext<D>,
    ) -> Result<(
        Arc<ModelRequestParameters>,
        Option<String>,
        Vec<(Arc<dyn Toolset<D>>, ToolsetTool)>,
    )> {
        let config = &self.agent.inner.config;
        let output = config.output.resolve(self.model.profile());
        let own: Vec<ToolsetTool> = config
            .tools
            .iter()
            .filter_map(|t| {
                t.prepared_definition(ctx).map(|definition| ToolsetTool {
                    definition,
                    max_retries: t.max_retries(),
                    sequential: t.is_sequential(),
                })
            })
            .collect();
        let mut groups = Vec::with_capacity(self.toolsets.len());
        for toolset in &self.toolsets {
            groups.push((Arc::clone(toolset), toolset.tools(ctx).await?));
        }
        let output_tools: Vec<ToolsetTool> = output
            .output_tools
            .iter()
            .cloned()
            .map(ToolsetTool::new)
            .collect();
        check_conflicts(
            std::iter::once(("the output tools".to_owned(), output_tools.as_slice()))
                .chain(std::iter::once((
                    "the agent's tools".to_owned(),
                    own.as_slice(),
                )))
                .chain(
                    groups
                        .iter()
                        .map(|(t, tools)| (t.label(), tools.as_slice())),
                ),
        )?;
        let mut function_tools: Vec<_> = own
            .into_iter()
            .chain(groups.iter().flat_map(|(_, tools)| tools.iter().cloned()))
            .map(|t| t.definition)
            .collect();
        if let Some(prepare) = &config.prepare_tools {
            function_tools = prepare(ctx.clone(), function_tools).await;
        }
        let step_tools = groups
            .into_iter()
            .flat_map(|(toolset, tools)| {
                tools
                    .into_iter()
                    .map(move |tool| (Arc::clone(&toolset), tool))
            })
            .filter(|(_, tool)| function_tools.iter().any(|d| d.name == tool.name()))
            .collect();
        let (mut params, instructions) = output.into_parameters(function_tools);
        params.native_tools.clone_from(&config.native_tools);
        Ok((Arc::new(params), instructions, step_tools))
    }

    /// What the model is offered: the last request's parameters, or (before any
    /// request) the ones the agent's output would resolve to.
    pub(super) fn offered(&self) -> Arc<ModelRequestParameters> {
        match &self.params {
            Some(p) => Arc::clone(p),
            None => self.parameters(None).0,
        }
    }

    /// Send a request (prepared as [`prepare_request`](Self::prepare_request) does) and
    /// return the model's response: streamed when the run is, whole otherwise.
    async fn request_model(&mut self, request: ModelRequest) -> Result<ModelResponse> {
        let params = self.prepare_request(request).await?;
        let processed = if self.agent.inner.config.history_processors.is_empty() {
            None
        } else {
            Some(Box::pin(self.processed_history()).await)
        };
        let messages: &[ModelMessage] = processed.as_deref().unwrap_or(&self.state.messages);
        let span = crate::telemetry::chat_span(&*self.model, &self.settings, &params);
        if self.capture_content {
            crate::telemetry::record_chat_input(&span, messages, &params);
        }
        let response = if self.sink.is_some() {
            // boxed: awaited runs do not carry the streamed request's state
            Box::pin(self.request_streamed(&params, messages, &span))
                .instrument(span.clone())
                .await
        } else {
            self.model
                .request_boxed(messages, &self.settings, &params)
                .instrument(span.clone())
                .await
        };
        crate::telemetry::record_chat_outcome(&span, response.as_ref(), self.capture_content);
        response
    }

    /// The history the agent's processors make of the run's, repaired for a provider.
    async fn processed_history(&self) -> Vec<ModelMessage> {
        let ctx = self.context();
        let mut messages = self.state.messages.to_vec();
        for processor in &self.agent.inner.config.history_processors {
            messages = processor(ctx.clone(), messages).await;
        }
        crate::history::repair(messages)
    }

    /// Stream a request, sending part events (and a `FinalResult` event when an output
    /// tool call starts) as they arrive, and return the whole response.
    async fn request_streamed(
        &self,
        params: &ModelRequestParameters,
        messages: &[ModelMessage],
        span: &tracing::Span,
    ) -> Result<ModelResponse> {
        let issued = (!span.is_disabled()).then(std::time::Instant::now);
        let mut events = self
            .model
            .request_stream_boxed(messages, &self.settings, params)
            .await?;
        let spec = &self.agent.inner.config.output;
        let mut acc = ResponseAccumulator::new();
        let mut announced = false;
        let mut first = true;
        while let Some(event) = events.next().await {
            if first {
                first = false;
                if let Some(issued) = issued {
                    crate::telemetry::record_first_chunk(span, issued.elapsed());
                }
            }
            match event? {
                ModelStreamEvent::PartStart { index, part } => {
                    let final_call = match &part {
                        ModelResponsePart::ToolCall(c)
                            if !announced && spec.is_output_tool(&c.tool_name) =>
                        {
                            Some((c.tool_name.clone(), c.tool_call_id.clone()))
                        }
                        _ => None,
                    };
                    acc.apply(ModelStreamEvent::PartStart {
                        index,
                        part: part.clone(),
                    })?;
                    self.emit(|| AgentEvent::PartStart { index, part });
                    if let Some((name, id)) = final_call {
                        announced = true;
                        self.emit(|| AgentEvent::FinalResult {
                            tool_name: Some(name),
                            tool_call_id: Some(id),
                        });
                    }
                }
                ModelStreamEvent::PartDelta { index, delta } => {
                    acc.apply(ModelStreamEvent::PartDelta {
                        index,
                        delta: delta.clone(),
                    })?;
                    self.emit(|| AgentEvent::PartDelta { index, delta });
                }
                other => acc.apply(other)?,
            }
        }
        drop(events);
        let response = acc.finish();
        self.emit(|| AgentEvent::ModelResponse(response.clone()));
        Ok(response)
    }

    /// Record a response: usage, history, token limits.
    fn record_response(&mut self, response: ModelResponse) -> Result<()> {
        self.state.push_response(response);
        self.check_limits(UsageLimits::check_tokens)
    }
}

/// Whether the history ends with a request a failed run left interrupted.
fn ends_interrupted(messages: &[ModelMessage]) -> bool {
    matches!(messages.last(), Some(ModelMessage::Request(r))
        if r.state == Some(crate::messages::MessageState::Interrupted))
}

/// A history whose last request was interrupted (a run failed while its tools ran)
/// leaves tool calls that will never be answered; providers reject such a history. As
/// PydanticAI does, each open call gets a synthesized return (outcome `interrupted`,
/// marked in its metadata), placed after the request's own tool results.
fn repair_interrupted_tail(messages: &mut [ModelMessage]) {
    let Some((ModelMessage::Request(last), earlier)) = messages.split_last_mut() else {
        return;
    };
    let Some(response) = earlier.iter().rev().find_map(ModelMessage::as_response) else {
        return;
    };
    let answered = |id: &str| {
        last.parts.iter().any(|p| match p {
            ModelRequestPart::ToolReturn(r) => r.tool_call_id == id,
            ModelRequestPart::RetryPrompt(r) => r.tool_name.is_some() && r.tool_call_id == id,
            _ => false,
        })
    };
    let synthesized: Vec<ModelRequestPart> = response
        .tool_calls()
        .filter(|c| !answered(&c.tool_call_id))
        .map(|c| {
            let mut part = crate::history::synthesized_return(c);
            part.timestamp = response.timestamp;
            ModelRequestPart::ToolReturn(part)
        })
        .collect();
    if synthesized.is_empty() {
        return;
    }
    let insert_at = last
        .parts
        .iter()
        .rposition(|p| {
            matches!(p, ModelRequestPart::ToolReturn(_))
                || matches!(p, ModelRequestPart::RetryPrompt(r) if r.tool_name.is_some())
        })
        .map_or(0, |i| i + 1);
    let tail = last.parts.split_off(insert_at.min(last.parts.len()));
    last.parts.extend(synthesized);
    last.parts.extend(tail);
}
