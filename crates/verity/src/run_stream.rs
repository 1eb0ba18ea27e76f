//! Streamed runs: text, partial output and run events as they arrive.

use std::pin::Pin;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::agent::{Agent, AgentNode, AgentRun, RunResult};
use crate::error::{Error, Result};
use crate::messages::{
    ModelMessage, ModelRequestPart, ModelResponse, ModelResponsePart, ToolCallPart,
};
use crate::stream::{ModelStreamEvent, PartDelta, ResponseAccumulator};
use crate::usage::RunUsage;

/// Something that happened during a streamed run.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// A part of the model's response started.
    PartStart {
        /// The part's index in its response.
        index: usize,
        /// The part as it starts.
        part: ModelResponsePart,
    },
    /// More of a part arrived.
    PartDelta {
        /// The part's index in its response.
        index: usize,
        /// The change.
        delta: PartDelta,
    },
    /// An output-tool call started: the candidate final result is streaming. (It may
    /// still fail validation, in which case the model is asked again.)
    FinalResult {
        /// The output tool, if the output comes through one.
        tool_name: Option<String>,
        /// The call's id.
        tool_call_id: Option<String>,
    },
    /// A model response is complete.
    ModelResponse(ModelResponse),
    /// A function tool is about to run.
    FunctionToolCall(ToolCallPart),
    /// A function tool's return (or its retry prompt).
    FunctionToolResult(ModelRequestPart),
}

enum RunItem<O> {
    Event(AgentEvent),
    End(RunResult<O>),
}

type ItemStream<O> = Pin<Box<dyn Stream<Item = Result<RunItem<O>>> + Send>>;

/// A run in progress whose events arrive as a stream.
///
/// Consume it with one of [`stream_text`](Self::stream_text),
/// [`stream_text_deltas`](Self::stream_text_deltas), [`stream_output`](Self::stream_output)
/// or [`stream_events`](Self::stream_events), or [`finish`](Self::finish) it. Once the
/// stream has ended, [`result`](Self::result) holds the output, usage and messages, the
/// same as a non-streamed run of the same responses returns. Tool calls in a streamed
/// response are run and the run streams on; text that came before a tool call is not
/// the final answer. Dropping the run cancels the model request in flight.
///
/// ```
/// use verity::prelude::*;
/// use verity::models::function::StreamChunk;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let model = FunctionModel::new_stream(|_, _| {
///     futures::stream::iter(["The answer ", "is 42."].map(|t| Ok(StreamChunk::Text(t.into()))))
/// });
/// let agent = Agent::builder(model).build();
/// let mut run = agent.run_stream("What is the answer?");
/// let mut text = run.stream_text_deltas();
/// while let Some(delta) = text.next().await {
///     print!("{}", delta.unwrap());
/// }
/// drop(text);
/// assert_eq!(run.output(), Some(&"The answer is 42.".to_string()));
/// # });
/// ```
pub struct StreamedRun<D, O> {
    agent: Agent<D, O>,
    items: ItemStream<O>,
    current: ResponseAccumulator,
    result: Option<RunResult<O>>,
    done: bool,
}

impl<D, O> std::fmt::Debug for StreamedRun<D, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedRun")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> StreamedRun<D, O> {
    pub(crate) fn start(agent: Agent<D, O>, run: AgentRun<D, O>) -> Self {
        let items = Box::pin(drive(agent.clone(), run));
        StreamedRun {
            agent,
            items,
            current: ResponseAccumulator::new(),
            result: None,
            done: false,
        }
    }

    /// The next event, or `None` once the run is over (its result is then in
    /// [`result`](Self::result)). An error ends the stream.
    pub async fn next_event(&mut self) -> Option<Result<AgentEvent>> {
        if self.done {
            return None;
        }
        match self.items.next().await {
            Some(Ok(RunItem::Event(event))) => {
                if let AgentEvent::PartStart { index: 0, .. } = &event {
                    self.current = ResponseAccumulator::new();
                }
                match &event {
                    AgentEvent::PartStart { index, part } => {
                        let _ = self.current.apply(ModelStreamEvent::PartStart {
                            index: *index,
                            part: part.clone(),
                        });
                    }
                    AgentEvent::PartDelta { index, delta } => {
                        let _ = self.current.apply(ModelStreamEvent::PartDelta {
                            index: *index,
                            delta: delta.clone(),
                        });
                    }
                    _ => {}
                }
                Some(Ok(event))
            }
            Some(Ok(RunItem::End(result))) => {
                self.result = Some(result);
                self.done = true;
                None
            }
            Some(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            None => {
                self.done = true;
                None
            }
        }
    }

    /// Every event of the run.
    pub fn stream_events(&mut self) -> BoxStream<'_, Result<AgentEvent>> {
        futures::stream::unfold(self, |run| async move {
            run.next_event().await.map(|e| (e, run))
        })
        .boxed()
    }

    /// Text as it arrives, delta by delta, across every response of the run (text
    /// before a tool call included).
    pub fn stream_text_deltas(&mut self) -> BoxStream<'_, Result<String>> {
        self.stream_events()
            .filter_map(|e| async move {
                match e {
                    Ok(AgentEvent::PartStart {
                        part: ModelResponsePart::Text(t),
                        ..
                    }) => Some(Ok(t.content)),
                    Ok(AgentEvent::PartDelta {
                        delta: PartDelta::Text { content_delta },
                        ..
                    }) => Some(Ok(content_delta)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }
            })
            .boxed()
    }

    /// The text of the response being streamed, accumulated: each item is the whole
    /// text so far. A response that calls tools is followed by the next response's text,
    /// starting again; the last item is the final response's text.
    pub fn stream_text(&mut self) -> BoxStream<'_, Result<String>> {
        futures::stream::unfold(self, |run| async move {
            loop {
                match run.next_event().await? {
                    Ok(AgentEvent::PartStart {
                        part: ModelResponsePart::Text(_),
                        ..
                    })
                    | Ok(AgentEvent::PartDelta {
                        delta: PartDelta::Text { .. },
                        ..
                    }) => {
                        let text = run.current.response().text_content().unwrap_or_default();
                        return Some((Ok(text), run));
                    }
                    Ok(_) => continue,
                    Err(e) => return Some((Err(e), run)),
                }
            }
        })
        .boxed()
    }

    /// The output as it arrives, partially validated: each item is a value of the
    /// output type built from the JSON received so far (fields not yet complete are
    /// absent, so each item is valid for the fields it has). A new item is yielded
    /// only when the JSON changed. The last item is the run's final, validated output.
    pub fn stream_output(&mut self) -> BoxStream<'_, Result<O>>
    where
        O: Clone,
    {
        let state = (self, None::<Value>, false);
        futures::stream::unfold(state, |(run, mut last, finished)| async move {
            if finished {
                return None;
            }
            loop {
                match run.next_event().await {
                    None => {
                        let output = run.result.as_ref().map(|r| r.output.clone())?;
                        return Some((Ok(output), (run, last, true)));
                    }
                    Some(Err(e)) => return Some((Err(e), (run, last, true))),
                    Some(Ok(AgentEvent::PartStart { .. } | AgentEvent::PartDelta { .. })) => {
                        if let Some((value, output)) = run.partial_output()
                            && last.as_ref() != Some(&value)
                        {
                            last = Some(value);
                            return Some((Ok(output), (run, last, false)));
                        }
                    }
                    Some(Ok(_)) => {}
                }
            }
        })
        .boxed()
    }

    fn partial_output(&self) -> Option<(Value, O)> {
        let spec = self.agent.output_spec();
        let response = self.current.response();
        let output_call = response
            .tool_calls()
            .find(|c| spec.is_output_tool(&c.tool_name));
        match output_call {
            Some(call) => {
                spec.parse_partial_tool_args(&call.tool_name, &call.args.to_json_string())
            }
            None if response.tool_calls().next().is_none() => {
                spec.parse_partial_text(&response.text_content()?)
            }
            None => None,
        }
    }

    /// Drain the stream and return the run's result.
    pub async fn finish(mut self) -> Result<RunResult<O>> {
        while let Some(event) = self.next_event().await {
            event?;
        }
        self.result
            .ok_or_else(|| Error::unexpected("the streamed run ended without a result"))
    }

    /// The run's result, once the stream has ended.
    pub fn result(&self) -> Option<&RunResult<O>> {
        self.result.as_ref()
    }

    /// The final output, once the stream has ended.
    pub fn output(&self) -> Option<&O> {
        self.result.as_ref().map(|r| &r.output)
    }

    /// Usage of the run, once the stream has ended.
    pub fn usage(&self) -> Option<&RunUsage> {
        self.result.as_ref().map(RunResult::usage)
    }

    /// All messages of the run, once the stream has ended.
    pub fn all_messages(&self) -> Option<&[ModelMessage]> {
        self.result.as_ref().map(RunResult::all_messages)
    }
}

/// The run's steps, streamed: the same node handlers as a non-streamed run, with the
/// model request streamed.
fn drive<D: Send + Sync + 'static, O: Send + Sync + 'static>(
    agent: Agent<D, O>,
    mut run: AgentRun<D, O>,
) -> impl Stream<Item = Result<RunItem<O>>> + Send {
    async_stream::try_stream! {
        let mut node = AgentNode::UserPrompt;
        let final_result = loop {
            node = match node {
                AgentNode::UserPrompt => run.next(AgentNode::UserPrompt).await?,
                AgentNode::ModelRequest(request) => {
                    let params = run.prepare_request(request).await?;
                    let model = std::sync::Arc::clone(&run.model);
                    let mut events = model
                        .request_stream_boxed(run.messages(), &run.settings, &params)
                        .await?;
                    let mut acc = ResponseAccumulator::new();
                    let mut announced = false;
                    while let Some(event) = events.next().await {
                        let event = event?;
                        acc.apply(event.clone())?;
                        match event {
                            ModelStreamEvent::PartStart { index, part } => {
                                let final_call = match &part {
                                    ModelResponsePart::ToolCall(c)
                                        if agent.output_spec().is_output_tool(&c.tool_name) =>
                                    {
                                        Some((c.tool_name.clone(), c.tool_call_id.clone()))
                                    }
                                    _ => None,
                                };
                                yield RunItem::Event(AgentEvent::PartStart { index, part });
                                if let Some((name, id)) = final_call
                                    && !announced
                                {
                                    announced = true;
                                    yield RunItem::Event(AgentEvent::FinalResult {
                                        tool_name: Some(name),
                                        tool_call_id: Some(id),
                                    });
                                }
                            }
                            ModelStreamEvent::PartDelta { index, delta } => {
                                yield RunItem::Event(AgentEvent::PartDelta { index, delta });
                            }
                            ModelStreamEvent::Usage(_) | ModelStreamEvent::Metadata(_) => {}
                        }
                    }
                    drop(events);
                    let response = acc.finish();
                    yield RunItem::Event(AgentEvent::ModelResponse(response.clone()));
                    run.finish_request(response)?
                }
                AgentNode::CallTools(response) => {
                    let function_calls: Vec<ToolCallPart> = response
                        .tool_calls()
                        .filter(|c| !agent.output_spec().is_output_tool(&c.tool_name))
                        .cloned()
                        .collect();
                    for call in &function_calls {
                        yield RunItem::Event(AgentEvent::FunctionToolCall(call.clone()));
                    }
                    let messages_before = run.messages().len();
                    let next = run.call_tools(response).await?;
                    let parts: Vec<ModelRequestPart> = match &next {
                        AgentNode::ModelRequest(r) => r.parts.clone(),
                        _ => run
                            .messages()
                            .get(messages_before..)
                            .unwrap_or_default()
                            .iter()
                            .filter_map(ModelMessage::as_request)
                            .flat_map(|r| r.parts.clone())
                            .collect(),
                    };
                    for part in parts {
                        let answers_function_call = match &part {
                            ModelRequestPart::ToolReturn(t) => {
                                function_calls.iter().any(|c| c.tool_call_id == t.tool_call_id)
                            }
                            ModelRequestPart::RetryPrompt(r) => r.tool_name.is_some(),
                            _ => false,
                        };
                        if answers_function_call {
                            yield RunItem::Event(AgentEvent::FunctionToolResult(part));
                        }
                    }
                    if let AgentNode::End(result) = &next
                        && result.tool_name.is_none()
                    {
                        yield RunItem::Event(AgentEvent::FinalResult { tool_name: None, tool_call_id: None });
                    }
                    next
                }
                AgentNode::End(result) => break result,
            };
        };
        yield RunItem::End(run.into_result(final_result.output));
    }
}
