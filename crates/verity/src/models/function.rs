//! [`FunctionModel`]: a closure plays the model. For tests that script a conversation.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{BoxStream, Stream, StreamExt};

use crate::error::Result;
use crate::messages::{ModelMessage, ModelResponse, prepare_for_model};
use crate::model::{Model, ModelProfile, ModelRequestParameters, ToolDefinition};
use crate::models::test::estimate_usage;
use crate::output::OutputMode;
use crate::settings::ModelSettings;
use crate::stream::{
    ModelStreamEvent, PartsManager, ResponseAccumulator, ResponseMetadata, ResponseStream,
};
use crate::usage::RequestUsage;

/// What the agent tells a [`FunctionModel`] about the request.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    /// The function tools offered.
    pub function_tools: Vec<ToolDefinition>,
    /// The output tools offered.
    pub output_tools: Vec<ToolDefinition>,
    /// Whether text is an acceptable final answer.
    pub allow_text_output: bool,
    /// The output mode.
    pub output_mode: OutputMode,
    /// The merged settings of the request.
    pub model_settings: ModelSettings,
    /// The instructions of the last request.
    pub instructions: Option<String>,
}

impl AgentInfo {
    fn new(
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Self {
        let instructions = messages
            .iter()
            .rev()
            .find_map(|m| m.as_request())
            .and_then(|r| r.instructions.clone());
        AgentInfo {
            function_tools: params.function_tools.clone(),
            output_tools: params.output_tools.clone(),
            allow_text_output: params.allow_text_output,
            output_mode: params.output_mode,
            model_settings: settings.clone(),
            instructions,
        }
    }
}

/// A piece of a streamed [`FunctionModel`] response.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamChunk {
    /// Text to append.
    Text(String),
    /// Thinking to append.
    Thinking(String),
    /// Pieces of tool calls, keyed by `index`: the first piece of an index starts a
    /// call, later ones append to its name and arguments.
    ToolCalls(Vec<DeltaToolCall>),
}

/// A piece of a streamed tool call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeltaToolCall {
    /// Which call this continues.
    pub index: usize,
    /// Text of the name.
    pub name: Option<String>,
    /// JSON text of the arguments.
    pub json_args: Option<String>,
    /// The call id.
    pub tool_call_id: Option<String>,
}

type SyncFn = dyn Fn(&[ModelMessage], &AgentInfo) -> ModelResponse + Send + Sync;
type AsyncFn =
    dyn Fn(Vec<ModelMessage>, AgentInfo) -> BoxFuture<'static, Result<ModelResponse>> + Send + Sync;
type StreamFn =
    dyn Fn(Vec<ModelMessage>, AgentInfo) -> BoxStream<'static, Result<StreamChunk>> + Send + Sync;

#[derive(Clone)]
enum Behaviour {
    Sync(Arc<SyncFn>),
    Async(Arc<AsyncFn>),
    Stream(Arc<StreamFn>),
}

/// A model played by a closure: it gets the messages (as PydanticAI's `FunctionModel`
/// is shown them: retry feedback as the user or system prompt it renders to, consecutive
/// requests merged; see [`prepare_for_model`]) and an [`AgentInfo`] and returns
/// the response. Usage is estimated when the closure sets none.
///
/// ```
/// use verity::prelude::*;
///
/// let model = FunctionModel::new(|messages, _info| {
///     ModelResponse::text(format!("{} messages so far", messages.len()))
/// });
/// let agent = Agent::builder(model).build();
/// assert_eq!(agent.run("hi").blocking().unwrap().output, "1 messages so far");
/// ```
#[derive(Clone)]
pub struct FunctionModel {
    behaviour: Behaviour,
    model_name: String,
    profile: ModelProfile,
}

impl std::fmt::Debug for FunctionModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionModel")
            .field("model_name", &self.model_name)
            .finish_non_exhaustive()
    }
}

impl FunctionModel {
    fn with(behaviour: Behaviour) -> Self {
        FunctionModel {
            behaviour,
            model_name: "function".to_owned(),
            profile: ModelProfile {
                supports_json_schema_output: true,
                supports_json_object_output: true,
                ..ModelProfile::default()
            },
        }
    }

    /// A model played by a synchronous closure.
    pub fn new(
        f: impl Fn(&[ModelMessage], &AgentInfo) -> ModelResponse + Send + Sync + 'static,
    ) -> Self {
        Self::with(Behaviour::Sync(Arc::new(f)))
    }

    /// A model played by an async closure, which may fail.
    pub fn new_async<F, Fut>(f: F) -> Self
    where
        F: Fn(Vec<ModelMessage>, AgentInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ModelResponse>> + Send + 'static,
    {
        Self::with(Behaviour::Async(Arc::new(move |m, i| Box::pin(f(m, i)))))
    }

    /// A model that streams: the closure returns a stream of [`StreamChunk`]s.
    pub fn new_stream<F, S>(f: F) -> Self
    where
        F: Fn(Vec<ModelMessage>, AgentInfo) -> S + Send + Sync + 'static,
        S: Stream<Item = Result<StreamChunk>> + Send + 'static,
    {
        Self::with(Behaviour::Stream(Arc::new(move |m, i| f(m, i).boxed())))
    }

    /// Name the model (`function:<name>:` in responses).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.model_name = name.into();
        self
    }

    /// Replace the profile.
    pub fn with_profile(mut self, profile: ModelProfile) -> Self {
        self.profile = profile;
        self
    }

    fn response_model_name(&self) -> String {
        format!("function:{}:", self.model_name)
    }

    fn stream_events(
        &self,
        f: &Arc<StreamFn>,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> ResponseStream {
        let chunks = f(
            messages.to_vec(),
            AgentInfo::new(messages, settings, params),
        );
        let model_name = self.response_model_name();
        // usage as PydanticAI's streamed function model counts it: 50 tokens of input,
        // and the words of each streamed piece as output
        let state = (
            chunks,
            PartsManager::new(),
            ResponseAccumulator::new(),
            0u64,
            false,
        );
        let events = futures::stream::unfold(
            state,
            move |(mut chunks, mut pm, mut acc, mut output, done)| {
                let model_name = model_name.clone();
                async move {
                    if done {
                        return None;
                    }
                    let mut out: Vec<Result<ModelStreamEvent>> = Vec::new();
                    match chunks.next().await {
                        Some(Ok(chunk)) => {
                            output += streamed_tokens(&chunk);
                            let events: Vec<ModelStreamEvent> = match chunk {
                                StreamChunk::Text(t) => {
                                    pm.text_delta(None, &t).into_iter().collect()
                                }
                                StreamChunk::Thinking(t) => pm
                                    .thinking_delta(None, Some(&t), None)
                                    .into_iter()
                                    .collect(),
                                StreamChunk::ToolCalls(calls) => calls
                                    .iter()
                                    .filter_map(|c| {
                                        pm.tool_call_delta(
                                            Some(&c.index.to_string()),
                                            c.name.as_deref(),
                                            c.json_args.as_deref(),
                                            c.tool_call_id.as_deref(),
                                        )
                                    })
                                    .collect(),
                            };
                            for e in events {
                                if let Err(err) = acc.apply(e.clone()) {
                                    out.push(Err(err));
                                    return Some((
                                        futures::stream::iter(out),
                                        (chunks, pm, acc, output, true),
                                    ));
                                }
                                out.push(Ok(e));
                            }
                            Some((futures::stream::iter(out), (chunks, pm, acc, output, false)))
                        }
                        Some(Err(e)) => {
                            out.push(Err(e));
                            Some((futures::stream::iter(out), (chunks, pm, acc, output, true)))
                        }
                        None => {
                            let usage = RequestUsage {
                                input_tokens: 50,
                                output_tokens: output,
                                ..Default::default()
                            };
                            out.push(Ok(ModelStreamEvent::Usage(usage)));
                            out.push(Ok(ModelStreamEvent::Metadata(ResponseMetadata {
                                model_name: Some(model_name),
                                ..Default::default()
                            })));
                            Some((futures::stream::iter(out), (chunks, pm, acc, output, true)))
                        }
                    }
                }
            },
        );
        Box::pin(events.flatten())
    }
}

impl Model for FunctionModel {
    async fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ModelResponse> {
        // the closure sees the messages as PydanticAI's FunctionModel does
        let prepared = prepare_for_model(messages);
        let messages = &*prepared;
        let mut response = match &self.behaviour {
            Behaviour::Sync(f) => f(messages, &AgentInfo::new(messages, settings, params)),
            Behaviour::Async(f) => {
                f(
                    messages.to_vec(),
                    AgentInfo::new(messages, settings, params),
                )
                .await?
            }
            Behaviour::Stream(f) => {
                let mut events = self.stream_events(f, messages, settings, params);
                let mut acc = ResponseAccumulator::new();
                while let Some(event) = events.next().await {
                    acc.apply(event?)?;
                }
                acc.finish()
            }
        };
        if response.usage == Default::default() {
            response.usage = estimate_usage(messages, &response);
        }
        if response.model_name.is_none() {
            response.model_name = Some(self.response_model_name());
        }
        Ok(response)
    }

    async fn request_stream(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ResponseStream> {
        match &self.behaviour {
            Behaviour::Stream(f) => {
                Ok(self.stream_events(f, &prepare_for_model(messages), settings, params))
            }
            _ => {
                let response = self.request(messages, settings, params).await?;
                Ok(crate::stream::stream_from_response(response))
            }
        }
    }

    fn model_name(&self) -> &str {
        &self.model_name
    }

    fn system(&self) -> &str {
        "function"
    }

    fn profile(&self) -> &ModelProfile {
        &self.profile
    }
}

/// The output tokens PydanticAI's streamed function model counts for one piece: the
/// words of its text, thinking or tool-call arguments.
fn streamed_tokens(chunk: &StreamChunk) -> u64 {
    match chunk {
        StreamChunk::Text(t) | StreamChunk::Thinking(t) => crate::models::test::word_count(t),
        StreamChunk::ToolCalls(calls) => calls
            .iter()
            .filter_map(|c| c.json_args.as_deref())
            .map(crate::models::test::word_count)
            .sum(),
    }
}
