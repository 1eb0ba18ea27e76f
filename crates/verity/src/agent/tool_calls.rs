//! The tool-call step: what the run does with a model response.
//!
//! A response with tool calls goes through four steps: output calls are validated
//! (the first valid one is the final result), function calls are planned (run, skipped,
//! or answered as unknown), the planned calls are executed concurrently, and the returns
//! are written in call order. A response without tool calls is judged by its text.

use futures::future::join_all;
use serde_json::Value;

use super::run::{AgentNode, AgentRun, Reply};
use super::{AgentConfig, EndStrategy, FinalResult};
use crate::error::{Error, Result};
use crate::messages::{
    ModelRequest, ModelRequestPart, RetryInfo, RetryPromptPart, ToolCallPart, ToolOutcome,
    ToolReturnPart,
};
use crate::run_stream::AgentEvent;
use crate::tools::{Rejection, RunContext, Tool, ToolCallError, ToolError};
use crate::validation::ValidationErrors;

/// The return of one call, once known: a part for the next request, or the error
/// that ends the run.
type Slot = Option<Result<ModelRequestPart>>;

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> AgentRun<D, O> {
    /// Run the tool calls of a response, or else judge its text.
    pub(super) async fn handle_reply(&mut self, reply: Reply) -> Result<AgentNode<O>> {
        if reply.calls.is_empty() {
            return self.handle_text(reply.text).await;
        }
        let calls = reply.calls;
        let agent = self.agent.clone();
        let config = &agent.inner.config;
        for call in calls
            .iter()
            .filter(|c| !config.output.is_output_tool(&c.tool_name))
        {
            self.emit(|| AgentEvent::FunctionToolCall(call.clone()));
        }
        let mut slots: Vec<Slot> = (0..calls.len()).map(|_| None).collect();
        let final_result = self.output_calls(config, &calls, &mut slots).await?;
        let planned =
            self.plan_function_calls(config, &calls, final_result.is_some(), &mut slots)?;
        self.execute(config, planned, &mut slots).await?;
        let parts = self.write_returns(config, &calls, slots)?;
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

    /// Step 1: output-tool calls, in order; the first valid one (after the output
    /// validators) is the final result, later ones are not used, invalid ones are sent
    /// back for another try.
    async fn output_calls(
        &mut self,
        config: &AgentConfig<D, O>,
        calls: &[ToolCallPart],
        slots: &mut [Slot],
    ) -> Result<Option<FinalResult<O>>> {
        let mut final_result: Option<FinalResult<O>> = None;
        for (call, slot) in calls.iter().zip(slots.iter_mut()) {
            if !config.output.is_output_tool(&call.tool_name) {
                continue;
            }
            if final_result.is_some() {
                *slot = Some(Ok(tool_return(
                    call,
                    "Output tool not used - a final result was already processed.",
                )));
                continue;
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
                    let ctx = self
                        .context()
                        .with_retries(self.state.output_retries_used, config.common.output_retries)
                        .with_tool_call(call.tool_name.clone(), call.tool_call_id.clone());
                    validate_output(config, o, ctx).await.map_err(Into::into)
                }
                Err(e) => Err(ToolCallError::from(e)),
            };
            let part = match checked {
                Ok(output) => {
                    final_result = Some(FinalResult {
                        output,
                        tool_name: Some(call.tool_name.clone()),
                        tool_call_id: Some(call.tool_call_id.clone()),
                    });
                    tool_return(call, "Final result processed.")
                }
                Err(ToolCallError::Failed(source)) => {
                    return Err(Error::ToolExecution {
                        tool_name: call.tool_name.clone(),
                        source,
                    });
                }
                Err(ToolCallError::Rejected(rejection)) => {
                    let max = config.common.output_retries;
                    let attempt = self.state.bump_output_retries(max)?;
                    retried_return(call, rejection, attempt, max)
                }
            };
            *slot = Some(Ok(part));
        }
        Ok(final_result)
    }

    /// Step 2: decide what happens to each function-tool call. Known tools run, unless
    /// a final result ends the run early; unknown names are sent back (counted as an
    /// output retry). Returns the calls to run with their tools.
    fn plan_function_calls<'c>(
        &mut self,
        config: &'c AgentConfig<D, O>,
        calls: &'c [ToolCallPart],
        has_final_result: bool,
        slots: &mut [Slot],
    ) -> Result<Vec<(usize, &'c ToolCallPart, &'c Tool<D>)>> {
        let skip_known = has_final_result && config.common.end_strategy == EndStrategy::Early;
        let mut planned = Vec::new();
        for (i, (call, slot)) in calls.iter().zip(slots.iter_mut()).enumerate() {
            if config.output.is_output_tool(&call.tool_name) {
                continue;
            }
            let tool = config.tools.iter().find(|t| t.name() == call.tool_name);
            match tool {
                Some(tool) if !skip_known => planned.push((i, call, tool)),
                _ if has_final_result => {
                    *slot = Some(Ok(tool_return(
                        call,
                        "Tool not executed - a final result was already processed.",
                    )));
                }
                _ => {
                    self.state
                        .bump_output_retries(config.common.output_retries)?;
                    let part = RetryPromptPart::new(
                        self.unknown_tool_message(config, &call.tool_name),
                        Some(call.tool_name.clone()),
                        call.tool_call_id.clone(),
                    );
                    *slot = Some(Ok(ModelRequestPart::RetryPrompt(part)));
                }
            }
        }
        Ok(planned)
    }

    fn unknown_tool_message(&self, config: &AgentConfig<D, O>, name: &str) -> String {
        let mut names: Vec<String> = config
            .tools
            .iter()
            .map(|t| format!("'{}'", t.name()))
            .collect();
        names.extend(
            self.offered()
                .output_tools
                .iter()
                .map(|t| format!("'{}'", t.name)),
        );
        if names.is_empty() {
            format!("Unknown tool name: '{name}'. No tools available.")
        } else {
            format!(
                "Unknown tool name: '{name}'. Available tools: {}",
                names.join(", ")
            )
        }
    }

    /// Step 3: run the planned calls concurrently and fill in their slots. A tool that
    /// asks for a retry past its budget, or fails, ends the run (in call order).
    async fn execute(
        &mut self,
        config: &AgentConfig<D, O>,
        planned: Vec<(usize, &ToolCallPart, &Tool<D>)>,
        slots: &mut [Slot],
    ) -> Result<()> {
        if planned.is_empty() {
            return Ok(());
        }
        self.limits
            .check_before_tool_calls(&self.state.usage, planned.len() as u64)?;
        let ctx = self.context();
        let max_retries = |tool: &Tool<D>| tool.max_retries().unwrap_or(config.common.tool_retries);
        let futures = planned.iter().map(|&(_, call, tool)| {
            let tctx = ctx
                .clone()
                .with_retries(self.state.tool_retries(&call.tool_name), max_retries(tool))
                .with_tool_call(call.tool_name.clone(), call.tool_call_id.clone());
            let fut = call.args.to_value().map(|args| tool.call(tctx, args));
            async move {
                match fut {
                    Ok(f) => f.await,
                    Err(e) => Err(invalid_json(&call.args.to_json_string(), &e).into()),
                }
            }
        });
        let results = join_all(futures).await;
        for ((i, call, tool), result) in planned.into_iter().zip(results) {
            let outcome = match result {
                Ok(value) => {
                    self.state.usage.tool_calls += 1;
                    Ok(tool_return(call, value))
                }
                Err(ToolCallError::Failed(source)) => Err(Error::ToolExecution {
                    tool_name: call.tool_name.clone(),
                    source,
                }),
                Err(ToolCallError::Rejected(rejection)) => {
                    let max = max_retries(tool);
                    let attempt = self.state.bump_tool_retries(&call.tool_name);
                    if attempt > max {
                        Err(Error::unexpected(format!(
                            "Tool '{}' exceeded max retries count of {max}",
                            call.tool_name
                        )))
                    } else {
                        Ok(retried_return(call, rejection, attempt, max))
                    }
                }
            };
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(outcome);
            }
        }
        Ok(())
    }

    /// Step 4: the returns in call order; the first error ends the run. Streamed runs
    /// see each function call's return as an event.
    fn write_returns(
        &self,
        config: &AgentConfig<D, O>,
        calls: &[ToolCallPart],
        slots: Vec<Slot>,
    ) -> Result<Vec<ModelRequestPart>> {
        let mut parts = Vec::with_capacity(slots.len());
        for (call, slot) in calls.iter().zip(slots) {
            let Some(outcome) = slot else { continue };
            let part = outcome?;
            if !config.output.is_output_tool(&call.tool_name) {
                self.emit(|| AgentEvent::FunctionToolResult(part.clone()));
            }
            parts.push(part);
        }
        Ok(parts)
    }

    /// A response without tool calls: its text is the output when text is allowed
    /// (after parsing and the validators); otherwise the model is asked again.
    async fn handle_text(&mut self, text: Option<String>) -> Result<AgentNode<O>> {
        let agent = self.agent.clone();
        let config = &agent.inner.config;
        let max = config.common.output_retries;
        let rejection = match text {
            Some(text) if self.offered().allow_text_output => {
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
                    Err(ToolCallError::Rejected(r)) => r,
                }
            }
            Some(_) => Rejection::Retry("Please include your response in a tool call.".into()),
            None => {
                Rejection::Retry("Responses without text or tool calls are not permitted.".into())
            }
        };
        self.state.bump_output_retries(max)?;
        let content = match rejection {
            Rejection::Invalid(e) => e.to_value(),
            Rejection::Retry(m) => Value::String(m),
        };
        let part = RetryPromptPart::new(content, None, crate::messages::generate_tool_call_id());
        Ok(AgentNode::ModelRequest(ModelRequest::new(vec![
            ModelRequestPart::RetryPrompt(part),
        ])))
    }
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

/// A tool return that sends a rejection back to the model (PydanticAI 2.x shape).
fn retried_return(
    call: &ToolCallPart,
    rejection: Rejection,
    attempt: u32,
    max_retries: u32,
) -> ModelRequestPart {
    let (content, cause) = match rejection {
        Rejection::Invalid(e) => (e.to_value(), "validation_error"),
        Rejection::Retry(m) => (Value::String(m), "model_retry"),
    };
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
