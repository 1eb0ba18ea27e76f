//! The tool-call step: what the run does with a model response, as PydanticAI 2.x does.
//!
//! A response's tool calls are classified (output, function, unknown) and run in the
//! order the end strategy gives (`run_strategy`): output calls are validated and the first
//! valid one becomes the final result; function calls run concurrently in batches; unknown
//! names are answered with a retried return. A function tool's retry holds back a valid
//! output (except under `Early`). The returns are written in call order (output calls
//! first under `Early`). A response without tool calls is judged by its text.

use std::sync::Arc;

use futures::future::join_all;
use serde_json::Value;

use super::run::{AgentNode, AgentRun, Reply};
use super::{AgentConfig, EndStrategy, FinalResult};
use crate::error::{Error, Result};
use crate::messages::{
    ModelRequest, ModelRequestPart, RetryFeedbackPart, RetryInfo, ToolCallPart, ToolOutcome,
    ToolReturnPart,
};
use crate::run_stream::AgentEvent;
use crate::tools::{Rejection, RunContext, Tool, ToolCallError, ToolError};
use crate::toolsets::{ToolFuture, Toolset, ToolsetTool};
use crate::usage::SharedUsage;
use crate::validation::ValidationErrors;

/// The return of one call, once known: a part for the next request.
type Slot = Option<ModelRequestPart>;

/// What a tool call is, by its name.
enum CallKind<'a, D> {
    Output,
    Function(Callee<'a, D>),
    Unknown,
}

/// A function tool: one of the agent's own, or one a toolset offered at this step.
enum Callee<'a, D> {
    Own(&'a Tool<D>),
    Set(&'a (Arc<dyn Toolset<D>>, ToolsetTool)),
}

impl<D: Send + Sync + 'static> Callee<'_, D> {
    fn max_retries(&self) -> Option<u32> {
        match self {
            Callee::Own(t) => t.max_retries(),
            Callee::Set((_, t)) => t.max_retries,
        }
    }

    fn sequential(&self) -> bool {
        match self {
            Callee::Own(t) => t.is_sequential(),
            Callee::Set((_, t)) => t.sequential,
        }
    }

    fn call(&self, ctx: RunContext<D>, name: &str, args: Value) -> ToolFuture {
        match self {
            Callee::Own(t) => t.call(ctx, args),
            Callee::Set((set, _)) => set.call(ctx, name, args),
        }
    }
}

/// An output-tool call, validated (parsed and through the validators) but not yet
/// charged or written.
enum OutputCheck<O> {
    Valid(O),
    Rejected(Rejection),
}

/// The texts PydanticAI writes into the returns of output and skipped calls.
const FINAL_RESULT_PROCESSED: &str = "Final result processed.";
const RETRY_WINS: &str =
    "Output not used as the final result - addressing tool retries from this round first.";
const OUTPUT_SKIPPED: &str = "Output tool not used - a final result was already processed.";
const OUTPUT_NOT_FINAL: &str =
    "Output tool processed, but its value will not be the final result of the agent run.";
const OUTPUT_VALIDATION_FAILED: &str = "Output tool not used - output failed validation.";
const TOOL_SKIPPED: &str = "Tool not executed - a final result was already processed.";

/// One response's tool calls as they are handled: the return of each call, the final
/// result once one is found, and whether a function tool asked for a retry.
struct Step<O> {
    slots: Vec<Slot>,
    final_result: Option<FinalResult<O>>,
    winner: Option<usize>,
    function_retried: bool,
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> AgentRun<D, O> {
    /// Run the tool calls of a response, or else judge its text.
    pub(super) async fn handle_reply(&mut self, reply: Reply) -> Result<AgentNode<O>> {
        if reply.calls.is_empty() {
            return self.handle_text(reply.text).await;
        }
        let calls = reply.calls;
        let agent = self.agent.clone();
        let config = &agent.inner.config;
        let step_tools = Arc::clone(&self.step_tools);
        let kinds: Vec<CallKind<'_, D>> = calls
            .iter()
            .map(|c| {
                if config.output.is_output_tool(&c.tool_name) {
                    CallKind::Output
                } else if let Some(tool) = config.tools.iter().find(|t| t.name() == c.tool_name) {
                    CallKind::Function(Callee::Own(tool))
                } else {
                    match step_tools.iter().find(|(_, t)| t.name() == c.tool_name) {
                        Some(entry) => CallKind::Function(Callee::Set(entry)),
                        None => CallKind::Unknown,
                    }
                }
            })
            .collect();
        for (call, kind) in calls.iter().zip(&kinds) {
            if !matches!(kind, CallKind::Output) {
                self.emit(|| AgentEvent::FunctionToolCall(call.clone()));
            }
        }
        let mut step = Step {
            slots: (0..calls.len()).map(|_| None).collect(),
            final_result: None,
            winner: None,
            function_retried: false,
        };
        let strategy = config.common.end_strategy;
        let outcome = self
            .run_strategy(config, strategy, &calls, &kinds, &mut step)
            .await;
        // retry wins: a function tool's retry holds back a valid output (not under early,
        // and not in a streamed run, whose output was announced as final while it
        // streamed — as PydanticAI's run_stream commits it)
        if strategy != EndStrategy::Early
            && self.sink.is_none()
            && step.function_retried
            && step.final_result.is_some()
            && let Some(w) = step.winner
            && let Some(Some(ModelRequestPart::ToolReturn(ret))) = step.slots.get_mut(w)
        {
            ret.content = Value::String(RETRY_WINS.to_owned());
            step.final_result = None;
        }
        let parts = self.write_returns(strategy, &calls, &kinds, step.slots);
        if let Err(e) = outcome {
            // the history at the error holds the returns of the calls that were settled, in
            // a request marked interrupted (a later run answers the calls left open)
            let mut request = ModelRequest::new(parts);
            request.state = Some(crate::messages::MessageState::Interrupted);
            self.state.push_request(request);
            return Err(e);
        }
        match step.final_result {
            Some(result) => {
                if !parts.is_empty() {
                    self.state.push_request(ModelRequest::new(parts));
                }
                Ok(AgentNode::End(result))
            }
            None => Ok(AgentNode::ModelRequest(ModelRequest::new(parts))),
        }
    }

    /// The end strategy, as PydanticAI 2.x defines it:
    /// - `Early`: output calls first, in order, stopping at the first valid one; function
    ///   calls run only if no output was valid, and are otherwise not executed;
    /// - `Graceful`: calls in the order the model made them, function calls before an
    ///   output call running first; output calls after the first valid one are not used;
    /// - `Exhaustive`: every call runs; the first valid output by order wins.
    async fn run_strategy(
        &mut self,
        config: &AgentConfig<D, O>,
        strategy: EndStrategy,
        calls: &[ToolCallPart],
        kinds: &[CallKind<'_, D>],
        step: &mut Step<O>,
    ) -> Result<()> {
        let function_indices: Vec<usize> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| !matches!(k, CallKind::Output))
            .map(|(i, _)| i)
            .collect();
        let output_indices: Vec<usize> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| matches!(k, CallKind::Output))
            .map(|(i, _)| i)
            .collect();
        if !function_indices.is_empty() {
            let n = function_indices.len() as u64;
            self.check_limits(|l, u| l.check_before_tool_calls(u, n))?;
        }
        match strategy {
            EndStrategy::Early => {
                for &i in &output_indices {
                    self.run_output_call(config, calls, i, step).await?;
                }
                if step.final_result.is_some() {
                    for &i in &function_indices {
                        if let (Some(slot), Some(call)) = (step.slots.get_mut(i), calls.get(i)) {
                            *slot = Some(tool_return(call, TOOL_SKIPPED));
                        }
                    }
                    Ok(())
                } else {
                    self.run_function_calls(config, calls, kinds, &function_indices, step)
                        .await
                }
            }
            EndStrategy::Graceful => {
                let mut pending = Vec::new();
                for (i, kind) in kinds.iter().enumerate() {
                    if matches!(kind, CallKind::Output) {
                        let batch = std::mem::take(&mut pending);
                        self.run_function_calls(config, calls, kinds, &batch, step)
                            .await?;
                        self.run_output_call(config, calls, i, step).await?;
                    } else {
                        pending.push(i);
                    }
                }
                self.run_function_calls(config, calls, kinds, &pending, step)
                    .await
            }
            EndStrategy::Exhaustive => {
                self.run_function_calls(config, calls, kinds, &function_indices, step)
                    .await?;
                self.run_all_output_calls(config, calls, &output_indices, step)
                    .await
            }
        }
    }

    /// Validate an output call: parsed from its arguments, then through the validators.
    async fn check_output_call(
        &mut self,
        config: &AgentConfig<D, O>,
        call: &ToolCallPart,
    ) -> Result<OutputCheck<O>> {
        if let Some(function) = &config.output_function {
            let max = config.common.output_retries;
            // runs the function hands off to report their usage here
            let shared = SharedUsage::new(self.state.usage.clone(), self.limits.clone());
            let checked = match call.args.to_value() {
                Ok(args) => {
                    let ctx = self
                        .context()
                        .with_shared_usage(shared.clone())
                        .with_retries(self.state.tool_retries(&call.tool_name), max)
                        .with_tool_call(call.tool_name.clone(), call.tool_call_id.clone());
                    match function(ctx.clone(), args).await {
                        Ok(o) if config.output_validators.is_empty() => Ok(o),
                        Ok(o) => validate_output(config, o, ctx).await.map_err(Into::into),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(invalid_json(&call.args.to_json_string(), &e).into()),
            };
            self.state.usage += shared.take_added();
            return match checked {
                Ok(o) => Ok(OutputCheck::Valid(o)),
                Err(ToolCallError::Rejected(r)) => Ok(OutputCheck::Rejected(r)),
                Err(ToolCallError::Failed(source)) => Err(Error::ToolExecution {
                    tool_name: call.tool_name.clone(),
                    source,
                }),
            };
        }
        let parsed = match config
            .output
            .parse_valid_json_args(&call.tool_name, &call.args)
        {
            Some(output) => Ok(output),
            None => match call.args.to_value() {
                Ok(args) => config.output.parse_tool_args(&call.tool_name, &args),
                Err(e) => Err(invalid_json(&call.args.to_json_string(), &e)),
            },
        };
        let checked = match parsed {
            Ok(o) if config.output_validators.is_empty() => Ok(o),
            Ok(o) => {
                let max = config.common.output_retries;
                let ctx = self
                    .context()
                    .with_retries(self.state.tool_retries(&call.tool_name), max)
                    .with_tool_call(call.tool_name.clone(), call.tool_call_id.clone());
                validate_output(config, o, ctx).await.map_err(Into::into)
            }
            Err(e) => Err(ToolCallError::from(e)),
        };
        match checked {
            Ok(o) => Ok(OutputCheck::Valid(o)),
            Err(ToolCallError::Rejected(r)) => Ok(OutputCheck::Rejected(r)),
            Err(ToolCallError::Failed(source)) => Err(Error::ToolExecution {
                tool_name: call.tool_name.clone(),
                source,
            }),
        }
    }

    /// Charge a rejected output call to its own budget (the agent's output retries):
    /// its retried return, or the error that ends the run.
    fn charge_output_call(
        &mut self,
        config: &AgentConfig<D, O>,
        call: &ToolCallPart,
        rejection: Rejection,
    ) -> Result<ModelRequestPart> {
        let max = config.common.output_retries;
        let attempt = self
            .state
            .charge_tool_retry(&call.tool_name, max)
            .ok_or_else(|| Error::unexpected(format!("Exceeded maximum output retries ({max})")))?;
        self.state.output_retries_used += 1;
        Ok(retried_return(call, rejection, None, attempt, max))
    }

    /// One output call, in order: not used once a final result exists; otherwise the
    /// final result when valid, or a retried return.
    async fn run_output_call(
        &mut self,
        config: &AgentConfig<D, O>,
        calls: &[ToolCallPart],
        i: usize,
        step: &mut Step<O>,
    ) -> Result<()> {
        let Some(call) = calls.get(i) else {
            return Ok(());
        };
        let part = if step.final_result.is_some() {
            tool_return(call, OUTPUT_SKIPPED)
        } else {
            match self.check_output_call(config, call).await? {
                OutputCheck::Valid(output) => {
                    self.state.tool_succeeded(&call.tool_name);
                    step.final_result = Some(final_result(call, output));
                    step.winner = Some(i);
                    tool_return(call, FINAL_RESULT_PROCESSED)
                }
                OutputCheck::Rejected(r) => self.charge_output_call(config, call, r)?,
            }
        };
        if let Some(slot) = step.slots.get_mut(i) {
            *slot = Some(part);
        }
        Ok(())
    }

    /// Every output call (exhaustive): all are validated; the first valid one wins, other
    /// valid ones are processed but not final; a spent budget ends the run only when no
    /// output won.
    async fn run_all_output_calls(
        &mut self,
        config: &AgentConfig<D, O>,
        calls: &[ToolCallPart],
        indices: &[usize],
        step: &mut Step<O>,
    ) -> Result<()> {
        let mut checks = Vec::with_capacity(indices.len());
        for &i in indices {
            if let Some(call) = calls.get(i) {
                checks.push((i, call, self.check_output_call(config, call).await?));
            }
        }
        let mut spent = None;
        for (i, call, check) in checks {
            let part = match check {
                OutputCheck::Valid(output) => {
                    self.state.tool_succeeded(&call.tool_name);
                    if step.final_result.is_none() {
                        step.final_result = Some(final_result(call, output));
                        step.winner = Some(i);
                        tool_return(call, FINAL_RESULT_PROCESSED)
                    } else {
                        tool_return(call, OUTPUT_NOT_FINAL)
                    }
                }
                OutputCheck::Rejected(r) => match self.charge_output_call(config, call, r) {
                    Ok(part) => part,
                    Err(e) => {
                        spent.get_or_insert(e);
                        tool_return(call, OUTPUT_VALIDATION_FAILED)
                    }
                },
            };
            if let Some(slot) = step.slots.get_mut(i) {
                *slot = Some(part);
            }
        }
        match spent {
            Some(e) if step.final_result.is_none() => Err(e),
            _ => Ok(()),
        }
    }

    /// A batch of function calls: unknown names are answered (charged to a tool
    /// budget), known tools run concurrently; returns in call order. A retry past a
    /// tool's budget, or a tool's failure, ends the run (the first in call order).
    async fn run_function_calls(
        &mut self,
        config: &AgentConfig<D, O>,
        calls: &[ToolCallPart],
        kinds: &[CallKind<'_, D>],
        indices: &[usize],
        step: &mut Step<O>,
    ) -> Result<()> {
        if indices.is_empty() {
            return Ok(());
        }
        let mut planned = Vec::new();
        for &i in indices {
            let (Some(call), Some(kind)) = (calls.get(i), kinds.get(i)) else {
                continue;
            };
            match kind {
                CallKind::Function(tool) => planned.push((i, call, tool)),
                CallKind::Output => {}
                CallKind::Unknown => {
                    let max = config.common.tool_retries;
                    let attempt = self
                        .state
                        .charge_tool_retry(&call.tool_name, max)
                        .ok_or_else(|| tool_retries_exceeded(&call.tool_name, max))?;
                    let message = self.unknown_tool_message(config, &call.tool_name);
                    let part = retried_return(
                        call,
                        Rejection::Retry(message),
                        Some("unknown_tool"),
                        attempt,
                        max,
                    );
                    if let Some(slot) = step.slots.get_mut(i) {
                        *slot = Some(part);
                    }
                }
            }
        }
        if planned.is_empty() {
            return Ok(());
        }
        // runs the tools delegate to report their usage here
        let shared = SharedUsage::new(self.state.usage.clone(), self.limits.clone());
        let ctx = self.context().with_shared_usage(shared.clone());
        let max_retries =
            |tool: &Callee<'_, D>| tool.max_retries().unwrap_or(config.common.tool_retries);
        let futures = planned.iter().map(|&(_, call, tool)| {
            let tctx = ctx
                .clone()
                .with_retries(self.state.tool_retries(&call.tool_name), max_retries(tool))
                .with_tool_call(call.tool_name.clone(), call.tool_call_id.clone());
            let fut = call
                .args
                .to_value()
                .map(|args| tool.call(tctx, &call.tool_name, args));
            async move {
                match fut {
                    Ok(f) => f.await,
                    Err(e) => Err(invalid_json(&call.args.to_json_string(), &e).into()),
                }
            }
        });
        // a sequential tool never runs concurrently with others: the batch runs in order
        let results = if planned.iter().any(|(_, _, tool)| tool.sequential()) {
            let mut results = Vec::with_capacity(planned.len());
            for f in futures {
                results.push(f.await);
            }
            results
        } else {
            join_all(futures).await
        };
        self.state.usage += shared.take_added();
        let mut first_error = None;
        for ((i, call, tool), result) in planned.into_iter().zip(results) {
            let part = match result {
                Ok(value) => {
                    self.state.usage.tool_calls += 1;
                    self.state.tool_succeeded(&call.tool_name);
                    tool_return(call, value)
                }
                Err(ToolCallError::Failed(source)) => {
                    first_error.get_or_insert(Error::ToolExecution {
                        tool_name: call.tool_name.clone(),
                        source,
                    });
                    continue;
                }
                Err(ToolCallError::Rejected(rejection)) => {
                    let max = max_retries(tool);
                    match self.state.charge_tool_retry(&call.tool_name, max) {
                        Some(attempt) => {
                            step.function_retried = true;
                            retried_return(call, rejection, None, attempt, max)
                        }
                        None => {
                            first_error.get_or_insert(tool_retries_exceeded(&call.tool_name, max));
                            continue;
                        }
                    }
                }
            };
            if let Some(slot) = step.slots.get_mut(i) {
                *slot = Some(part);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// "Unknown tool name: 'x'. Available tools: 'a', 'b'", the names sorted.
    fn unknown_tool_message(&self, config: &AgentConfig<D, O>, name: &str) -> String {
        let mut names: Vec<String> = config.tools.iter().map(|t| t.name().to_owned()).collect();
        names.extend(self.step_tools.iter().map(|(_, t)| t.name().to_owned()));
        names.extend(self.offered().output_tools.iter().map(|t| t.name.clone()));
        names.sort();
        if names.is_empty() {
            format!("Unknown tool name: '{name}'. No tools available.")
        } else {
            let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
            format!(
                "Unknown tool name: '{name}'. Available tools: {}",
                quoted.join(", ")
            )
        }
    }

    /// The returns in the order PydanticAI writes them (output calls first under
    /// `Early`, call order otherwise). Streamed runs see each function call's return as
    /// an event.
    fn write_returns(
        &self,
        strategy: EndStrategy,
        calls: &[ToolCallPart],
        kinds: &[CallKind<'_, D>],
        slots: Vec<Slot>,
    ) -> Vec<ModelRequestPart> {
        let mut settled: Vec<(usize, ModelRequestPart)> = slots
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|p| (i, p)))
            .collect();
        if strategy == EndStrategy::Early {
            // stable: output calls first, each group in call order
            settled.sort_by_key(|(i, _)| !matches!(kinds.get(*i), Some(CallKind::Output)));
        }
        let mut parts = Vec::with_capacity(settled.len());
        for (i, part) in settled {
            if !matches!(kinds.get(i), Some(CallKind::Output)) && calls.get(i).is_some() {
                self.emit(|| AgentEvent::FunctionToolResult(part.clone()));
            }
            parts.push(part);
        }
        parts
    }

    /// A response without tool calls. Text is the output when the output takes text (or
    /// is structured and the text parses as it), after the validators; otherwise, or
    /// with no text at all, the model is asked again with retry feedback.
    async fn handle_text(&mut self, text: Option<String>) -> Result<AgentNode<O>> {
        let agent = self.agent.clone();
        let config = &agent.inner.config;
        let max = config.common.output_retries;
        let offered = self.offered();
        let text = text.filter(|t| !t.is_empty());
        let feedback = match text {
            Some(text) if offered.allow_text_output || !offered.output_tools.is_empty() => {
                let checked = match config.output.parse_text(&text) {
                    Ok(o) => {
                        let ctx = self
                            .context()
                            .with_retries(self.state.output_retries_used, max);
                        validate_output(config, o, ctx).await.map_err(Into::into)
                    }
                    Err(e) => Err(ToolCallError::from(e)),
                };
                match checked {
                    Ok(output) => {
                        self.emit(|| AgentEvent::FinalResult {
                            tool_name: None,
                            tool_call_id: None,
                        });
                        return Ok(AgentNode::End(FinalResult {
                            output,
                            tool_name: None,
                            tool_call_id: None,
                        }));
                    }
                    Err(ToolCallError::Failed(source)) => {
                        return Err(Error::ToolExecution {
                            tool_name: "output_validator".into(),
                            source,
                        });
                    }
                    Err(ToolCallError::Rejected(Rejection::Invalid(e))) => {
                        (e.to_value(), "validation_error")
                    }
                    Err(ToolCallError::Rejected(Rejection::Retry(m))) => {
                        (Value::String(m), "model_retry")
                    }
                }
            }
            _ => {
                let mut alternatives = Vec::new();
                if offered.allow_text_output {
                    alternatives.push("return text");
                }
                if !offered.output_tools.is_empty() {
                    alternatives.push("include your response in a tool call");
                } else if !offered.function_tools.is_empty() {
                    alternatives.push("call a tool");
                }
                let text = format!("Please {}.", alternatives.join(" or "));
                (Value::String(text), "no_output")
            }
        };
        let attempt = self.state.consume_output_retry(max)?;
        let (content, cause) = feedback;
        let part = RetryFeedbackPart::new(content, cause, attempt, max);
        Ok(AgentNode::ModelRequest(ModelRequest::new(vec![
            ModelRequestPart::RetryFeedback(part),
        ])))
    }
}

fn final_result<O>(call: &ToolCallPart, output: O) -> FinalResult<O> {
    FinalResult {
        output,
        tool_name: Some(call.tool_name.clone()),
        tool_call_id: Some(call.tool_call_id.clone()),
    }
}

fn tool_retries_exceeded(tool: &str, max: u32) -> Error {
    Error::unexpected(format!(
        "Tool '{tool}' exceeded max retries count of {max}. Consider raising the retry limit, or see the docs on tool retries: https://pydantic.dev/docs/ai/tools-toolsets/tools-advanced/#tool-retries"
    ))
}

/// Run the output validators in order; each may change the output or reject it.
async fn validate_output<D, O>(
    config: &AgentConfig<D, O>,
    mut output: O,
    ctx: RunContext<D>,
) -> Result<O, ToolError> {
    for v in &config.output_validators {
        output = v(ctx.clone(), output).await?;
    }
    Ok(output)
}

fn invalid_json(text: &str, e: &serde_json::Error) -> ValidationErrors {
    ValidationErrors::message(
        "json_invalid",
        format!("Invalid JSON: {e}"),
        Value::String(text.to_owned()),
    )
}

fn tool_return(call: &ToolCallPart, content: impl Into<Value>) -> ModelRequestPart {
    ModelRequestPart::ToolReturn(ToolReturnPart::new(
        call.tool_name.clone(),
        content,
        call.tool_call_id.clone(),
    ))
}

/// A tool return that sends a rejection back to the model (PydanticAI 2.x shape);
/// `cause` replaces the rejection's own (`unknown_tool`).
fn retried_return(
    call: &ToolCallPart,
    rejection: Rejection,
    cause: Option<&str>,
    attempt: u32,
    max_retries: u32,
) -> ModelRequestPart {
    let (content, own_cause) = match rejection {
        Rejection::Invalid(e) => (e.to_value(), "validation_error"),
        Rejection::Retry(m) => (Value::String(m), "model_retry"),
    };
    let cause = cause.unwrap_or(own_cause);
    let mut part = ToolReturnPart::new(call.tool_name.clone(), content, call.tool_call_id.clone());
    part.outcome = ToolOutcome::Retried;
    part.retry = Some(RetryInfo {
        cause: cause.to_owned(),
        attempt,
        max_retries,
        extra: Default::default(),
    });
    ModelRequestPart::ToolReturn(part)
}
