//! The tool-call step: what the run does with a model response, as PydanticAI 2.x does.
//!
//! A response's tool calls are classified (output, function, unknown) and run in the
//! order the end strategy gives (`run_strategy`): output calls are validated and the first
//! valid one becomes the final result; function calls run concurrently in batches; unknown
//! names are answered with a retried return. A function tool's retry holds back a valid
//! output (except under `Early`). The returns are written in call order (output calls
//! first under `Early`). A response without tool calls is judged by its text.

use std::sync::Arc;

use std::collections::BTreeSet;

use futures::future::join_all;
use serde_json::Value;
use tracing::Instrument;

use super::run::{AgentNode, AgentRun, Reply};
use super::{AgentConfig, EndStrategy, FinalResult};
use crate::deferred::{
    DeferredAnswer, DeferredError, DeferredToolRequests, DeferredToolResults, ExternalResult,
    ToolApproval,
};
use crate::error::{Error, Result};
use crate::messages::{
    ModelMessage, ModelRequest, ModelRequestPart, RetryFeedbackPart, RetryInfo, ToolCallPart,
    ToolOutcome, ToolReturnPart, UserContent, UserPromptPart,
};
use crate::request::ToolKind;
use crate::run_stream::AgentEvent;
use crate::tools::{Deferral, DeferralKind, Rejection, RunContext, Tool, ToolCallError, ToolError};
use crate::toolsets::{ToolFuture, Toolset, ToolsetTool};
use crate::usage::SharedUsage;
use crate::validation::ValidationErrors;

/// The return of one call, once known: a part for the next request.
type Slot = Option<ModelRequestPart>;

/// What a tool call is, by its name.
enum CallKind<'a, D> {
    Output,
    Function(Callee<'a, D>),
    /// A tool whose calls wait for an approval or an external result: they are not run
    /// in the step; they end the run as deferred (or are skipped when a final result is
    /// found).
    Waiting(Callee<'a, D>, DeferralKind),
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

    /// Whether calls wait for an approval or an external result, by the tool's kind.
    fn waits_for(&self) -> Option<DeferralKind> {
        let kind = match self {
            Callee::Own(t) => t.definition().kind,
            Callee::Set((_, t)) => t.definition.kind,
        };
        match kind {
            ToolKind::External => Some(DeferralKind::External),
            ToolKind::Unapproved => Some(DeferralKind::Approval),
            _ => None,
        }
    }

    /// Check arguments before a call is deferred (the agent's own tools; a toolset's
    /// tools check theirs when they run).
    fn validate_args(&self, args: &Value) -> std::result::Result<(), Rejection> {
        match self {
            Callee::Own(t) => t.validate_args(args).map_err(Rejection::Invalid),
            Callee::Set(_) => Ok(()),
        }
    }
}

/// Whether a call's arguments pass the checks made before it runs, as
/// [`AgentEvent::FunctionToolCall`] reports them (PydanticAI's `args_valid`): `Some(false)`
/// for arguments that are not JSON or fail the tool's schema, and for an unknown tool;
/// `None` for a resumed call answered without running it (denied, or its result given).
fn args_valid<D: Send + Sync + 'static>(
    call: &ToolCallPart,
    kind: &CallKind<'_, D>,
    answers: Option<&DeferredToolResults>,
) -> Option<bool> {
    let answer = answers
        .and_then(|a| a.decisions.get(&call.tool_call_id))
        .map(|d| &d.answer);
    let args = match answer {
        None
        | Some(DeferredAnswer::Approval(ToolApproval::Approved {
            override_args: None,
        })) => call.args.to_value(),
        Some(DeferredAnswer::Approval(ToolApproval::Approved {
            override_args: Some(args),
        })) => Ok(args.clone()),
        Some(_) => return None,
    };
    let Ok(args) = args else {
        return Some(false);
    };
    Some(match kind {
        CallKind::Unknown => false,
        CallKind::Function(Callee::Own(tool)) | CallKind::Waiting(Callee::Own(tool), _) => {
            tool.check_args(&args).unwrap_or(true)
        }
        // a toolset checks its tools' arguments as it runs them
        _ => true,
    })
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
/// result once one is found, whether a function tool asked for a retry, and the calls
/// that wait (deferred by their tool when run, in call order).
struct Step<O> {
    slots: Vec<Slot>,
    final_result: Option<FinalResult<O>>,
    winner: Option<usize>,
    function_retried: bool,
    deferred: Vec<(usize, Deferral)>,
    /// Content the calls returned for the model besides their values ([`ToolReturn`]),
    /// sent as user messages after the returns, in call order.
    ///
    /// [`ToolReturn`]: crate::tools::ToolReturn
    user_content: Vec<(usize, Vec<UserContent>)>,
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> AgentRun<D, O> {
    /// Run the tool calls of a response, or else judge its text. `answers` are the
    /// decisions of a resumed run: then every call has one, and runs (or is settled) by it.
    pub(super) async fn handle_reply(
        &mut self,
        reply: Reply,
        answers: Option<&DeferredToolResults>,
    ) -> Result<AgentNode<O>> {
        if reply.calls.is_empty() {
            // nothing to act on because the content filter ended the response: not sent
            // back for another try (it would only repeat the refused request)
            if let Some(filtered) = reply.filtered
                && reply.text.as_deref().is_none_or(|t| t.trim().is_empty())
            {
                return Err(filtered);
            }
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
                    return CallKind::Output;
                }
                let callee = match config.tools.iter().find(|t| t.name() == c.tool_name) {
                    Some(tool) => Callee::Own(tool),
                    None => match step_tools.iter().find(|(_, t)| t.name() == c.tool_name) {
                        Some(entry) => Callee::Set(entry),
                        None => return CallKind::Unknown,
                    },
                };
                match callee.waits_for() {
                    // a resumed call runs by its decision
                    Some(kind) if answers.is_none() => CallKind::Waiting(callee, kind),
                    _ => CallKind::Function(callee),
                }
            })
            .collect();
        for (call, kind) in calls.iter().zip(&kinds) {
            if matches!(kind, CallKind::Function(_) | CallKind::Unknown) {
                self.emit(|| AgentEvent::FunctionToolCall {
                    part: call.clone(),
                    args_valid: args_valid(call, kind, answers),
                });
            }
        }
        let mut step = Step {
            slots: (0..calls.len()).map(|_| None).collect(),
            final_result: None,
            winner: None,
            function_retried: false,
            deferred: Vec::new(),
            user_content: Vec::new(),
        };
        let strategy = config.common.end_strategy;
        let mut outcome = self
            .run_strategy(config, strategy, &calls, &kinds, answers, &mut step)
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
        let mut waiting = Vec::new();
        let mut late = Vec::new();
        if outcome.is_ok() {
            outcome =
                self.collect_waiting(config, &calls, &kinds, &mut step, &mut waiting, &mut late);
        }
        let requests = match outcome {
            Ok(()) if step.final_result.is_none() => deferred_requests(&calls, &step, &waiting),
            _ => None,
        };
        let mut parts = self.write_returns(strategy, &calls, &kinds, step.slots);
        // the parts of waiting calls come after the step's (as PydanticAI appends them)
        for part in late {
            self.emit(|| AgentEvent::FunctionToolResult(part.clone()));
            parts.push(part);
        }
        // then what the calls returned for the model besides their values
        step.user_content.sort_by_key(|(i, _)| *i);
        for (_, content) in step.user_content {
            parts.push(ModelRequestPart::UserPrompt(UserPromptPart::new(content)));
        }
        let outcome = match (outcome, &requests) {
            (Ok(()), Some(_)) if config.deferred_output.is_none() => {
                Err(DeferredError::NotAllowed.into())
            }
            (outcome, _) => outcome,
        };
        if let Err(e) = outcome {
            // the history at the error holds the returns of the calls that were settled, in
            // a request marked interrupted (a later run answers the calls left open)
            let mut request = ModelRequest::new(parts);
            request.state = Some(crate::messages::MessageState::Interrupted);
            self.state.push_request(request);
            return Err(e);
        }
        let final_result = match (requests, config.deferred_output) {
            (Some(requests), Some(deferred)) => {
                self.emit(|| AgentEvent::DeferredToolRequests(requests.clone()));
                Some(FinalResult {
                    output: deferred(requests),
                    tool_name: None,
                    tool_call_id: None,
                })
            }
            _ => step.final_result,
        };
        match final_result {
            Some(result) => {
                if !parts.is_empty() {
                    self.state.push_request(ModelRequest::new(parts));
                }
                Ok(AgentNode::End(result))
            }
            None => Ok(AgentNode::ModelRequest(ModelRequest::new(parts))),
        }
    }

    /// Resume a run that stopped at deferred calls: the last response's calls that the
    /// history leaves open are answered by `results` and run (or settled) as a step of
    /// this run, and the returns go to the model with the run's prompt, if any. Checked
    /// first, failing closed (nothing runs): every open call needs a decision, every
    /// decision must be for an open call, made for its tool name and arguments.
    pub(super) async fn resume_deferred(
        &mut self,
        results: DeferredToolResults,
        prompt: Option<UserPromptPart>,
    ) -> Result<AgentNode<O>> {
        let calls = self.check_deferred_results(&results)?;
        if self.toolsets.is_empty() && self.agent.inner.config.prepare_tools.is_none() {
            // the agent's own tools are all there is
        } else {
            let ctx = self.context();
            let (_, _, step_tools) = self.step_parameters(&ctx).await?;
            self.step_tools = Arc::new(step_tools);
        }
        let node = if calls.is_empty() {
            AgentNode::ModelRequest(ModelRequest::new(Vec::new()))
        } else {
            let reply = Reply {
                calls,
                text: None,
                filtered: None,
            };
            self.handle_reply(reply, Some(&results)).await?
        };
        Ok(match (node, prompt) {
            (AgentNode::ModelRequest(mut request), Some(prompt)) => {
                request.parts.push(ModelRequestPart::UserPrompt(prompt));
                AgentNode::ModelRequest(request)
            }
            (node, _) => node,
        })
    }

    /// The open calls `results` answers, in call order, after the checks of
    /// [`resume_deferred`](Self::resume_deferred).
    fn check_deferred_results(&self, results: &DeferredToolResults) -> Result<Vec<ToolCallPart>> {
        let messages = &self.state.messages;
        if messages.is_empty() {
            return Err(DeferredError::NothingToResume("the message history is empty").into());
        }
        let Some(at) = messages
            .iter()
            .rposition(|m| matches!(m, ModelMessage::Response(_)))
        else {
            return Err(DeferredError::NothingToResume(
                "the message history does not contain a `ModelResponse`",
            )
            .into());
        };
        let Some(ModelMessage::Response(response)) = messages.get(at) else {
            return Err(DeferredError::NothingToResume("the message history is empty").into());
        };
        if response.tool_calls().next().is_none() {
            return Err(DeferredError::NothingToResume(
                "the message history does not contain any unprocessed tool calls",
            )
            .into());
        }
        // the calls the request after the response answers already
        let answered: BTreeSet<&str> = match messages.get(at + 1) {
            Some(ModelMessage::Request(r)) => r
                .parts
                .iter()
                .filter_map(|p| match p {
                    ModelRequestPart::ToolReturn(r) => Some(r.tool_call_id.as_str()),
                    ModelRequestPart::RetryPrompt(r) if r.tool_name.is_some() => {
                        Some(r.tool_call_id.as_str())
                    }
                    _ => None,
                })
                .collect(),
            _ => BTreeSet::new(),
        };
        if let Some(id) = results
            .decisions
            .keys()
            .find(|id| answered.contains(id.as_str()))
        {
            return Err(DeferredError::AlreadyAnswered(id.clone()).into());
        }
        let spec = &self.agent.inner.config.output;
        let open: Vec<&ToolCallPart> = response
            .tool_calls()
            .filter(|c| !spec.is_output_tool(&c.tool_name))
            .collect();
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<String> = open
            .iter()
            .filter(|c| !seen.insert(c.tool_call_id.as_str()))
            .map(|c| c.tool_call_id.clone())
            .collect();
        if !duplicates.is_empty() {
            return Err(DeferredError::DuplicateIds(duplicates.into_iter().collect()).into());
        }
        let expected: BTreeSet<&str> = open.iter().map(|c| c.tool_call_id.as_str()).collect();
        let got: BTreeSet<&str> = results
            .decisions
            .keys()
            .map(String::as_str)
            .chain(answered.iter().copied())
            .collect();
        let decided_open = results
            .decisions
            .keys()
            .all(|id| expected.contains(id.as_str()));
        if !expected.is_subset(&got) || !decided_open {
            return Err(DeferredError::Incomplete {
                expected: expected.iter().map(|s| (*s).to_owned()).collect(),
                got: got.iter().map(|s| (*s).to_owned()).collect(),
            }
            .into());
        }
        let mut to_run = Vec::new();
        for call in open {
            let Some(decision) = results.decisions.get(&call.tool_call_id) else {
                continue;
            };
            let args = call.args.to_value().unwrap_or(Value::Null);
            if decision.tool_name != call.tool_name || decision.args != args {
                return Err(DeferredError::CallChanged {
                    tool_call_id: call.tool_call_id.clone(),
                    decided: format!("{}({})", decision.tool_name, decision.args),
                    actual: format!("{}({args})", call.tool_name),
                }
                .into());
            }
            to_run.push(call.clone());
        }
        Ok(to_run)
    }

    /// The calls of tools whose calls wait: skipped when a final result was found;
    /// otherwise their arguments are checked (a rejection is sent back like a function
    /// tool's) and the valid ones collected in `waiting`. A call a function tool deferred
    /// while a final result was found is skipped too (so no call is left unanswered).
    /// Their returns go to `late`, in the order handled.
    fn collect_waiting(
        &mut self,
        config: &AgentConfig<D, O>,
        calls: &[ToolCallPart],
        kinds: &[CallKind<'_, D>],
        step: &mut Step<O>,
        waiting: &mut Vec<(usize, DeferralKind)>,
        late: &mut Vec<ModelRequestPart>,
    ) -> Result<()> {
        if step.final_result.is_some() {
            for i in std::mem::take(&mut step.deferred)
                .into_iter()
                .map(|(i, _)| i)
            {
                if let Some(call) = calls.get(i) {
                    late.push(tool_return(call, TOOL_SKIPPED));
                }
            }
        }
        // external ones first, then those needing approval (as PydanticAI collects them)
        for wanted in [DeferralKind::External, DeferralKind::Approval] {
            for (i, (call, kind)) in calls.iter().zip(kinds).enumerate() {
                let CallKind::Waiting(tool, kind) = kind else {
                    continue;
                };
                if *kind != wanted {
                    continue;
                }
                if step.final_result.is_some() {
                    // not checked: the call does not run
                    self.emit(|| AgentEvent::FunctionToolCall {
                        part: call.clone(),
                        args_valid: None,
                    });
                    late.push(tool_return(call, TOOL_SKIPPED));
                    continue;
                }
                let checked = match call.args.to_value() {
                    Ok(args) => tool.validate_args(&args),
                    Err(e) => Err(Rejection::Invalid(invalid_json(
                        &call.args.to_json_string(),
                        &e,
                    ))),
                };
                self.emit(|| AgentEvent::FunctionToolCall {
                    part: call.clone(),
                    args_valid: Some(checked.is_ok()),
                });
                match checked {
                    Ok(()) => waiting.push((i, *kind)),
                    Err(rejection) => {
                        let max = tool.max_retries().unwrap_or(config.common.tool_retries);
                        let attempt = self
                            .state
                            .charge_tool_retry(&call.tool_name, max)
                            .ok_or_else(|| tool_retries_exceeded(&call.tool_name, max))?;
                        late.push(retried_return(
                            call,
                            rejection,
                            None,
                            Some(attempt),
                            Some(max),
                        ));
                    }
                }
            }
        }
        Ok(())
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
        answers: Option<&DeferredToolResults>,
        step: &mut Step<O>,
    ) -> Result<()> {
        let function_indices: Vec<usize> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| matches!(k, CallKind::Function(_) | CallKind::Unknown))
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
                    self.run_function_calls(config, calls, kinds, answers, &function_indices, step)
                        .await
                }
            }
            EndStrategy::Graceful => {
                let mut pending = Vec::new();
                for (i, kind) in kinds.iter().enumerate() {
                    if matches!(kind, CallKind::Waiting(..)) {
                        continue;
                    }
                    if matches!(kind, CallKind::Output) {
                        let batch = std::mem::take(&mut pending);
                        self.run_function_calls(config, calls, kinds, answers, &batch, step)
                            .await?;
                        self.run_output_call(config, calls, i, step).await?;
                    } else {
                        pending.push(i);
                    }
                }
                self.run_function_calls(config, calls, kinds, answers, &pending, step)
                    .await
            }
            EndStrategy::Exhaustive => {
                self.run_function_calls(config, calls, kinds, answers, &function_indices, step)
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
            let shared = SharedUsage::within(
                self.state.usage.clone(),
                self.limits.clone(),
                self.parent_usage.clone(),
            );
            let checked = match call.args.to_value() {
                Ok(args) => {
                    let retries = self.state.tool_retries(&call.tool_name);
                    let ctx = self
                        .context()
                        .with_shared_usage(shared.clone())
                        .with_retries(retries, max)
                        .with_tool_call(call.tool_name.clone(), call.tool_call_id.clone());
                    // user code runs: an `execute_tool` span, as PydanticAI gives output
                    // functions (plain output parsing gets none)
                    let capture = self.capture_content;
                    let args_json = || call.args.to_json_string();
                    let span = crate::telemetry::tool_span(
                        &call.tool_name,
                        &call.tool_call_id,
                        retries,
                        capture.then_some(&args_json as &dyn Fn() -> String),
                    );
                    let outcome = function(ctx.clone(), args).instrument(span.clone()).await;
                    if let Err(error) = &outcome {
                        crate::telemetry::record_tool_error(&span, error);
                    }
                    match outcome {
                        Ok(o) if config.output_validators.is_empty() => Ok(o),
                        Ok(o) => validate_output(config, o, ctx).await.map_err(Into::into),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(invalid_json(&call.args.to_json_string(), &e).into()),
            };
            self.state.usage += shared.take_added();
            return output_check(call, checked);
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
        output_check(call, checked)
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
        Ok(retried_return(
            call,
            rejection,
            None,
            Some(attempt),
            Some(max),
        ))
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
    /// tool's budget, or a tool's failure, ends the run (the first in call order). A call
    /// its tool defers is noted in the step, without a return. In a resumed run each call
    /// runs or is settled by its decision.
    async fn run_function_calls(
        &mut self,
        config: &AgentConfig<D, O>,
        calls: &[ToolCallPart],
        kinds: &[CallKind<'_, D>],
        answers: Option<&DeferredToolResults>,
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
                CallKind::Function(tool) => {
                    let decision = answers.and_then(|a| a.decisions.get(&call.tool_call_id));
                    match decision.map(|d| &d.answer) {
                        Some(DeferredAnswer::Approval(ToolApproval::Denied { message })) => {
                            let part = settled_return(call, message.as_str(), ToolOutcome::Denied);
                            if let Some(slot) = step.slots.get_mut(i) {
                                *slot = Some(part);
                            }
                        }
                        Some(DeferredAnswer::External(ExternalResult::Failed(message))) => {
                            let part = settled_return(call, message.as_str(), ToolOutcome::Failed);
                            if let Some(slot) = step.slots.get_mut(i) {
                                *slot = Some(part);
                            }
                        }
                        Some(DeferredAnswer::External(ExternalResult::Return(value))) => {
                            planned.push((i, call, tool, Plan::Answered(Ok(value.clone()))));
                        }
                        Some(DeferredAnswer::External(ExternalResult::Retry(message))) => {
                            let rejection = Rejection::Retry(message.clone());
                            let answer = Err(ToolCallError::Rejected(rejection));
                            planned.push((i, call, tool, Plan::Answered(answer)));
                        }
                        Some(DeferredAnswer::Approval(ToolApproval::Approved {
                            override_args,
                        })) => {
                            let metadata = answers
                                .and_then(|a| a.metadata.get(&call.tool_call_id))
                                .cloned();
                            let plan = Plan::Run {
                                args: override_args.clone(),
                                approved: true,
                                metadata,
                            };
                            planned.push((i, call, tool, plan));
                        }
                        None => planned.push((i, call, tool, Plan::run())),
                    }
                }
                CallKind::Output | CallKind::Waiting(..) => {}
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
                        Some(attempt),
                        Some(max),
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
        let shared = SharedUsage::within(
            self.state.usage.clone(),
            self.limits.clone(),
            self.parent_usage.clone(),
        );
        let ctx = self.context().with_shared_usage(shared.clone());
        let max_retries =
            |tool: &Callee<'_, D>| tool.max_retries().unwrap_or(config.common.tool_retries);
        let (planned, plans): (Vec<_>, Vec<_>) = planned
            .into_iter()
            .map(|(i, call, tool, plan)| ((i, call, tool), plan))
            .unzip();
        // a result given from outside the run is not a call the run made
        let ran: Vec<bool> = plans
            .iter()
            .map(|p| matches!(p, Plan::Run { .. }))
            .collect();
        let capture = self.capture_content;
        // where each call keeps what it returns besides its value
        let mut return_slots = Vec::with_capacity(planned.len());
        let futures = planned.iter().zip(plans).map(|((_, call, tool), plan)| {
            let retry = self.state.tool_retries(&call.tool_name);
            let (tctx, return_slot) = ctx
                .clone()
                .with_retries(retry, max_retries(tool))
                .with_tool_call(call.tool_name.clone(), call.tool_call_id.clone())
                .with_return_slot();
            return_slots.push(return_slot);
            let fut = match plan {
                Plan::Run {
                    args,
                    approved,
                    metadata,
                } => {
                    let tctx = tctx.with_tool_call_approval(approved, metadata);
                    let args = match args {
                        Some(args) => Ok(args),
                        None => call.args.to_value(),
                    };
                    Ok(args.map(|args| tool.call(tctx, &call.tool_name, args)))
                }
                Plan::Answered(answer) => Err(answer),
            };
            let call = &**call;
            // a result given from outside the run is not a call the run makes
            let span = match &fut {
                Ok(_) => {
                    let args = || call.args.to_json_string();
                    crate::telemetry::tool_span(
                        &call.tool_name,
                        &call.tool_call_id,
                        retry,
                        capture.then_some(&args as &dyn Fn() -> String),
                    )
                }
                Err(_) => tracing::Span::none(),
            };
            let instrumented = span.clone();
            async move {
                let result = match fut {
                    Ok(Ok(f)) => f.await,
                    Ok(Err(e)) => Err(invalid_json(&call.args.to_json_string(), &e).into()),
                    Err(answer) => answer,
                };
                crate::telemetry::record_tool_outcome(&span, &result, capture);
                result
            }
            .instrument(instrumented)
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
        for ((((i, call, tool), ran), result), return_slot) in
            planned.into_iter().zip(ran).zip(results).zip(return_slots)
        {
            let part = match result {
                Ok(value) => {
                    if ran {
                        self.state.usage.tool_calls += 1;
                    }
                    self.state.tool_succeeded(&call.tool_name);
                    let extras = return_slot.lock().ok().and_then(|mut kept| kept.take());
                    let mut part = ToolReturnPart::new(
                        call.tool_name.clone(),
                        value,
                        call.tool_call_id.clone(),
                    );
                    if let Some(extras) = extras {
                        part.metadata = extras.metadata;
                        if !extras.content.is_empty() {
                            step.user_content.push((i, extras.content));
                        }
                    }
                    ModelRequestPart::ToolReturn(part)
                }
                Err(ToolCallError::Failed(source)) => {
                    first_error.get_or_insert(tool_failure(&call.tool_name, source));
                    continue;
                }
                Err(ToolCallError::Deferred(deferral)) => {
                    step.deferred.push((i, deferral));
                    continue;
                }
                // a retry given from outside the run is not charged to the tool's budget
                Err(ToolCallError::Rejected(rejection)) if !ran => {
                    retried_return(call, rejection, None, None, None)
                }
                Err(ToolCallError::Rejected(rejection)) => {
                    let max = max_retries(tool);
                    match self.state.charge_tool_retry(&call.tool_name, max) {
                        Some(attempt) => {
                            step.function_retried = true;
                            retried_return(call, rejection, None, Some(attempt), Some(max))
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
                    Err(ToolCallError::Deferred(_)) => {
                        return Err(Error::ToolExecution {
                            tool_name: "output_validator".into(),
                            source: CANNOT_DEFER.into(),
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

/// How a function call of the batch is handled.
enum Plan {
    /// Run the tool (with these arguments instead of the model's, when given).
    Run {
        args: Option<Value>,
        approved: bool,
        metadata: Option<Value>,
    },
    /// Answered from outside the run (a resumed external call).
    Answered(std::result::Result<Value, ToolCallError>),
}

impl Plan {
    fn run() -> Self {
        Plan::Run {
            args: None,
            approved: false,
            metadata: None,
        }
    }
}

const CANNOT_DEFER: &str = "an output function or validator cannot defer a call";

/// The outcome of an output call's check.
fn output_check<O>(
    call: &ToolCallPart,
    checked: std::result::Result<O, ToolCallError>,
) -> Result<OutputCheck<O>> {
    match checked {
        Ok(o) => Ok(OutputCheck::Valid(o)),
        Err(ToolCallError::Rejected(r)) => Ok(OutputCheck::Rejected(r)),
        Err(ToolCallError::Failed(source)) => Err(Error::ToolExecution {
            tool_name: call.tool_name.clone(),
            source,
        }),
        Err(ToolCallError::Deferred(_)) => Err(Error::ToolExecution {
            tool_name: call.tool_name.clone(),
            source: CANNOT_DEFER.into(),
        }),
    }
}

/// The requests a step ends with when calls wait and no final result was found: calls
/// the tools deferred when run (in call order), then the calls of waiting tools
/// (external first), each in its list.
fn deferred_requests<O>(
    calls: &[ToolCallPart],
    step: &Step<O>,
    waiting: &[(usize, DeferralKind)],
) -> Option<DeferredToolRequests> {
    if step.deferred.is_empty() && waiting.is_empty() {
        return None;
    }
    let mut requests = DeferredToolRequests::default();
    let mut add = |i: usize, kind: DeferralKind, metadata: Option<&Value>| {
        let Some(call) = calls.get(i) else { return };
        match kind {
            DeferralKind::Approval => requests.approvals.push(call.clone()),
            DeferralKind::External => requests.calls.push(call.clone()),
        }
        if let Some(m) = metadata {
            requests
                .metadata
                .insert(call.tool_call_id.clone(), m.clone());
        }
    };
    for (i, deferral) in &step.deferred {
        add(*i, deferral.kind, deferral.metadata.as_ref());
    }
    for (i, kind) in waiting {
        add(*i, *kind, None);
    }
    Some(requests)
}

/// The error a tool's failure ends the run with. A run the tool delegated to that
/// stopped at a usage limit (the limits it shares with this run) ends this run with the
/// same error, as PydanticAI lets it through.
fn tool_failure(tool_name: &str, source: Box<dyn std::error::Error + Send + Sync>) -> Error {
    match source.downcast::<Error>() {
        Ok(e) if matches!(*e, Error::UsageLimitExceeded(_)) => *e,
        Ok(e) => Error::ToolExecution {
            tool_name: tool_name.to_owned(),
            source: e,
        },
        Err(source) => Error::ToolExecution {
            tool_name: tool_name.to_owned(),
            source,
        },
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

/// A return the run did not get from running the tool (denied, failed outside the run).
fn settled_return(call: &ToolCallPart, content: &str, outcome: ToolOutcome) -> ModelRequestPart {
    let mut part = ToolReturnPart::new(call.tool_name.clone(), content, call.tool_call_id.clone());
    part.outcome = outcome;
    ModelRequestPart::ToolReturn(part)
}

/// A tool return that sends a rejection back to the model (PydanticAI 2.x shape);
/// `cause` replaces the rejection's own (`unknown_tool`).
fn retried_return(
    call: &ToolCallPart,
    rejection: Rejection,
    cause: Option<&str>,
    attempt: Option<u32>,
    max_retries: Option<u32>,
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
