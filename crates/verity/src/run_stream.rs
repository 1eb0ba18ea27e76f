//! Streamed runs: text, partial output and run events as they arrive.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::channel::mpsc::UnboundedReceiver;
use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::agent::{Agent, AgentRun, RunResult};
use crate::error::{Error, Result};
use crate::messages::{
    ModelMessage, ModelRequestPart, ModelResponse, ModelResponsePart, ToolCallPart,
};
use crate::stream::{ModelStreamEvent, PartDelta, ResponseAccumulator};
use crate::usage::RunUsage;

/// Something that happened during a streamed run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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
    /// A function tool is about to run (PydanticAI's `FunctionToolCallEvent`).
    FunctionToolCall {
        /// The call.
        part: ToolCallPart,
        /// Whether its arguments passed the checks made before it runs (a tool's schema;
        /// a toolset checks its tools' arguments as it runs them): `Some(false)` means
        /// the call does not run and its result is a retry prompt (or, with no retries
        /// left, the run fails). `None` when the call is not run here at all: a final
        /// result was already found, or a resumed run answers it without running it (a
        /// denial, a result given).
        args_valid: Option<bool>,
    },
    /// A function tool's return (or its retry prompt).
    FunctionToolResult(ModelRequestPart),
    /// The run stops at these deferred calls (see [`crate::deferred`]); its output holds
    /// them too.
    DeferredToolRequests(crate::deferred::DeferredToolRequests),
}

type RunFuture<O> = futures::future::BoxFuture<'static, Result<RunResult<O>>>;

/// A run in progress whose events arrive as a stream.
///
/// Made by [`RunRequest::stream`](crate::agent::RunRequest::stream). Consume it with one
/// of [`stream_text`](Self::stream_text), [`stream_text_deltas`](Self::stream_text_deltas),
/// [`stream_output`](Self::stream_output) or [`stream_events`](Self::stream_events), or
/// [`finish`](Self::finish) it. Once the stream has ended, [`result`](Self::result)
/// holds the output, usage and messages, the same as a non-streamed run of the same
/// responses returns. Tool calls in a streamed response are run and the run streams
/// on; text that came before a tool call is not the final answer. Dropping the run
/// cancels the model request in flight.
///
/// The run's steps are the same as an awaited run's (one loop); they send their events
/// to this stream as they happen.
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
/// let mut run = agent.run("What is the answer?").stream();
/// let mut text = run.stream_text_deltas();
/// while let Some(delta) = text.next().await {
///     print!("{}", delta.unwrap());
/// }
/// assert_eq!(run.output(), Some(&"The answer is 42.".to_string()));
/// # });
/// ```
pub struct StreamedRun<D, O> {
    agent: Agent<D, O>,
    /// The run's loop; `None` once it has ended.
    run: Option<RunFuture<O>>,
    events: UnboundedReceiver<AgentEvent>,
    /// The run's error, held back until the events sent before it are read.
    error: Option<Error>,
    /// The response being streamed, kept only while a view that needs it is read.
    current: Option<ResponseAccumulator>,
    result: Option<RunResult<O>>,
    /// The last partial output yielded by `stream_output`, and whether it has ended.
    last_output: Option<Value>,
    output_done: bool,
}

impl<D, O> std::fmt::Debug for StreamedRun<D, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedRun")
            .field("done", &self.run.is_none())
            .finish_non_exhaustive()
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> StreamedRun<D, O> {
    pub(crate) fn start(mut run: AgentRun<D, O>) -> Self {
        let (sink, events) = futures::channel::mpsc::unbounded();
        run.set_sink(sink);
        StreamedRun {
            agent: run.agent().clone(),
            run: Some(Box::pin(run.run_to_end())),
            events,
            error: None,
            current: None,
            result: None,
            last_output: None,
            output_done: false,
        }
    }

    /// Poll for the next event: events already sent come first; otherwise the run
    /// makes progress until it sends one or ends.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<AgentEvent>>> {
        loop {
            if let Poll::Ready(Some(event)) = self.events.poll_next_unpin(cx) {
                self.track(&event);
                return Poll::Ready(Some(Ok(event)));
            }
            let Some(run) = self.run.as_mut() else {
                return Poll::Ready(self.error.take().map(Err));
            };
            match run.as_mut().poll(cx) {
                Poll::Ready(outcome) => {
                    self.run = None;
                    match outcome {
                        Ok(result) => self.result = Some(result),
                        Err(e) => self.error = Some(e),
                    }
                }
                Poll::Pending => {
                    if let Poll::Ready(Some(event)) = self.events.poll_next_unpin(cx) {
                        self.track(&event);
                        return Poll::Ready(Some(Ok(event)));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Keep the response being streamed up to date, when a view needs it.
    fn track(&mut self, event: &AgentEvent) {
        let Some(current) = self.current.as_mut() else {
            return;
        };
        let applied = match event {
            AgentEvent::PartStart { index, part } => current.apply(ModelStreamEvent::PartStart {
                index: *index,
                part: part.clone(),
            }),
            AgentEvent::PartDelta { index, delta } => current.apply(ModelStreamEvent::PartDelta {
                index: *index,
                delta: delta.clone(),
            }),
            AgentEvent::ModelResponse(_) => {
                *current = ResponseAccumulator::new();
                Ok(())
            }
            _ => Ok(()),
        };
        // the run's own accumulator reports a bad event as the run's error
        let _ = applied;
    }

    /// The next event, or `None` once the run is over (its result is then in
    /// [`result`](Self::result)). An error ends the stream.
    pub async fn next_event(&mut self) -> Option<Result<AgentEvent>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Every event of the run.
    pub fn stream_events(&mut self) -> Events<'_, D, O> {
        Events { run: self }
    }

    /// Text as it arrives, delta by delta, across every response of the run (text
    /// before a tool call included).
    pub fn stream_text_deltas(&mut self) -> TextDeltas<'_, D, O> {
        TextDeltas { run: self }
    }

    /// The text of the response being streamed, accumulated: each item is the whole
    /// text so far. A response that calls tools is followed by the next response's text,
    /// starting again; the last item is the final response's text.
    pub fn stream_text(&mut self) -> Texts<'_, D, O> {
        self.current.get_or_insert_with(ResponseAccumulator::new);
        Texts { run: self }
    }

    /// The output as it arrives, partially validated: each item is a value of the
    /// output type built from the JSON received so far (fields not yet complete are
    /// absent, so each item is valid for the fields it has). A new item is yielded
    /// only when the JSON changed. The last item is the run's final, validated output.
    pub fn stream_output(&mut self) -> Outputs<'_, D, O>
    where
        O: Clone,
    {
        self.current.get_or_insert_with(ResponseAccumulator::new);
        Outputs { run: self }
    }

    fn partial_output(&self) -> Option<(Value, O)> {
        let spec = self.agent.output_spec();
        let response = self.current.as_ref()?.response();
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

    fn current_text(&self) -> String {
        self.current
            .as_ref()
            .and_then(|c| c.response().text_content())
            .unwrap_or_default()
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

/// Every event of a streamed run ([`StreamedRun::stream_events`]). It borrows the run
/// only while it is used: the run's result can be read right after the loop.
#[derive(Debug)]
pub struct Events<'a, D, O> {
    run: &'a mut StreamedRun<D, O>,
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> Events<'_, D, O> {
    /// The next item, or `None` at the end (no trait import needed).
    pub async fn next(&mut self) -> Option<Result<AgentEvent>> {
        StreamExt::next(self).await
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> Stream for Events<'_, D, O> {
    type Item = Result<AgentEvent>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.run.poll_event(cx)
    }
}

/// Text deltas of a streamed run ([`StreamedRun::stream_text_deltas`]).
#[derive(Debug)]
pub struct TextDeltas<'a, D, O> {
    run: &'a mut StreamedRun<D, O>,
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> TextDeltas<'_, D, O> {
    /// The next item, or `None` at the end (no trait import needed).
    pub async fn next(&mut self) -> Option<Result<String>> {
        StreamExt::next(self).await
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> Stream for TextDeltas<'_, D, O> {
    type Item = Result<String>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match ready!(self.run.poll_event(cx)) {
                Some(Ok(AgentEvent::PartStart {
                    part: ModelResponsePart::Text(t),
                    ..
                })) => Poll::Ready(Some(Ok(t.content))),
                Some(Ok(AgentEvent::PartDelta {
                    delta: PartDelta::Text { content_delta },
                    ..
                })) => Poll::Ready(Some(Ok(content_delta))),
                Some(Ok(_)) => continue,
                Some(Err(e)) => Poll::Ready(Some(Err(e))),
                None => Poll::Ready(None),
            };
        }
    }
}

/// Accumulated text of a streamed run ([`StreamedRun::stream_text`]).
#[derive(Debug)]
pub struct Texts<'a, D, O> {
    run: &'a mut StreamedRun<D, O>,
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> Texts<'_, D, O> {
    /// The next item, or `None` at the end (no trait import needed).
    pub async fn next(&mut self) -> Option<Result<String>> {
        StreamExt::next(self).await
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> Stream for Texts<'_, D, O> {
    type Item = Result<String>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match ready!(self.run.poll_event(cx)) {
                Some(Ok(
                    AgentEvent::PartStart {
                        part: ModelResponsePart::Text(_),
                        ..
                    }
                    | AgentEvent::PartDelta {
                        delta: PartDelta::Text { .. },
                        ..
                    },
                )) => Poll::Ready(Some(Ok(self.run.current_text()))),
                Some(Ok(_)) => continue,
                Some(Err(e)) => Poll::Ready(Some(Err(e))),
                None => Poll::Ready(None),
            };
        }
    }
}

/// Partial outputs of a streamed run ([`StreamedRun::stream_output`]).
#[derive(Debug)]
pub struct Outputs<'a, D, O> {
    run: &'a mut StreamedRun<D, O>,
}

impl<D: Send + Sync + 'static, O: Clone + Send + Sync + 'static> Outputs<'_, D, O> {
    /// The next item, or `None` at the end (no trait import needed).
    pub async fn next(&mut self) -> Option<Result<O>> {
        StreamExt::next(self).await
    }
}

impl<D: Send + Sync + 'static, O: Clone + Send + Sync + 'static> Stream for Outputs<'_, D, O> {
    type Item = Result<O>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let run = &mut *self.run;
        if run.output_done {
            return Poll::Ready(None);
        }
        loop {
            match ready!(run.poll_event(cx)) {
                None => {
                    run.output_done = true;
                    return Poll::Ready(run.result.as_ref().map(|r| Ok(r.output.clone())));
                }
                Some(Err(e)) => {
                    run.output_done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Some(Ok(AgentEvent::PartStart { .. } | AgentEvent::PartDelta { .. })) => {
                    if let Some((value, output)) = run.partial_output()
                        && run.last_output.as_ref() != Some(&value)
                    {
                        run.last_output = Some(value);
                        return Poll::Ready(Some(Ok(output)));
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }
}
