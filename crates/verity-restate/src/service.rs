//! The Restate virtual object a [`DurableAgent`] is served as: its handlers, its
//! discovery manifest, and the loop that journals a run's steps.
//!
//! The service is written by hand rather than with `#[restate_sdk::object]`, whose
//! service name is fixed at compile time: here it is the name the user gives.

use std::pin::pin;
use std::sync::Arc;

use futures::future::{Either, select};
use restate_sdk::context::RunFuture;
use restate_sdk::discovery;
use restate_sdk::endpoint::{ContextInternal, Endpoint, InputMetadata};
use restate_sdk::errors::{HandlerError, HandlerResult, TerminalError};
use restate_sdk::serde::Json;
use restate_sdk::service::{Service, ServiceDefinition, macro_support};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use verity::agent::{DepsSource, RunRequest, RunResult};
use verity::deferred::{DeferredToolRequests, DeferredToolResults};
use verity::messages::ModelMessage;
use verity::usage::RunUsage;

use crate::error::DurableError;
use crate::journal::{
    JournaledModel, JournaledToolset, ListedTool, ModelStep, Step, ToolOutcome,
    with_idempotency_key,
};
use crate::{DurableAgent, Outcome};

/// The state key of the conversation's messages.
const MESSAGES: &str = "messages";
/// The state key of the decision a suspended run waits for.
const PENDING: &str = "pending";

/// The input of the `run` handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunInput {
    /// The user's prompt.
    pub prompt: String,
}

impl RunInput {
    /// A run on this prompt.
    pub fn new(prompt: impl Into<String>) -> Self {
        RunInput {
            prompt: prompt.into(),
        }
    }
}

/// The output of the `run` handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunOutput {
    /// The agent's output, as JSON.
    pub output: Value,
    /// The run's id (of its last part, when it was resumed after a decision).
    pub run_id: String,
    /// The run's usage (of its last part, when it was resumed after a decision).
    pub usage: RunUsage,
}

/// What a suspended run waits for, as the `pending` handler returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingDecision {
    /// The suspended invocation.
    pub invocation_id: String,
    /// The name of the signal the invocation waits on.
    pub signal: String,
    /// The calls that need a decision.
    pub requests: DeferredToolRequests,
    /// Why the last decision sent was refused (the run waits for another).
    #[serde(default)]
    pub refused: Option<String>,
}

fn terminal(e: DurableError) -> HandlerError {
    TerminalError::new(e.to_string()).into()
}

/// Serve these services on `listener` (HTTP/2, as Restate calls deployments) until the
/// process gets Ctrl-C.
///
/// Unlike `restate_sdk::http_server::HttpServer`, the connections are set to
/// `TCP_NODELAY`: a journaled step ends with a small frame to the server and a wait for
/// its acknowledgement, which Nagle's algorithm and the peer's delayed ACK otherwise
/// hold back by tens of milliseconds per step (see BENCHMARKS.md).
pub async fn serve(
    listener: tokio::net::TcpListener,
    services: impl IntoIterator<Item = ServiceDefinition>,
) {
    let mut builder = Endpoint::builder();
    for service in services {
        builder = builder.bind(service);
    }
    let endpoint = restate_sdk::hyper::HyperEndpoint::new(builder.build());
    let mut shutdown = pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // out of file descriptors and the like: wait, then go on
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!("cannot set TCP_NODELAY: {e}");
                }
                let endpoint = endpoint.clone();
                tokio::spawn(async move {
                    let connection = hyper::server::conn::http2::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), endpoint);
                    if let Err(e) = connection.await {
                        tracing::debug!("a connection ended with an error: {e}");
                    }
                });
            }
            _ = &mut shutdown => return,
        }
    }
}

pub(crate) fn definition<D, O>(agent: DurableAgent<D, O>) -> Result<ServiceDefinition, DurableError>
where
    D: Send + Sync + 'static,
    O: Send + Sync + 'static,
{
    let discovery = manifest(&agent.name)?;
    Ok(macro_support::service_definition(
        Dispatcher {
            agent: Arc::new(agent),
        },
        discovery,
    ))
}

fn handler(name: &str, shared: bool, input: bool, doc: &str) -> Option<discovery::Handler> {
    Some(discovery::Handler {
        name: discovery::HandlerName::try_from(name).ok()?,
        input: Some(if input {
            discovery::InputPayload::from_metadata::<Json<Value>>()
        } else {
            discovery::InputPayload::empty()
        }),
        output: Some(discovery::OutputPayload::from_metadata::<Json<Value>>()),
        ty: shared.then_some(discovery::HandlerType::Shared),
        documentation: Some(doc.to_owned()),
        metadata: Default::default(),
        abort_timeout: None,
        inactivity_timeout: None,
        journal_retention: None,
        idempotency_retention: None,
        workflow_completion_retention: None,
        enable_lazy_state: None,
        ingress_private: None,
        retry_policy_initial_interval: None,
        retry_policy_max_interval: None,
        retry_policy_max_attempts: None,
        retry_policy_exponentiation_factor: None,
        retry_policy_on_max_attempts: None,
    })
}

fn manifest(name: &str) -> Result<discovery::Service, DurableError> {
    let handlers = [
        handler("run", false, true, "Run the agent on a prompt."),
        handler("history", true, false, "The conversation's messages."),
        handler(
            "pending",
            true,
            false,
            "The decision a suspended run waits for.",
        ),
        handler(
            "decide",
            true,
            true,
            "Resume a suspended run with a decision.",
        ),
        handler("clear", false, false, "Forget the conversation."),
    ];
    let service_name = discovery::ServiceName::try_from(name.to_owned()).map_err(|e| {
        DurableError::InvalidName {
            name: name.to_owned(),
            message: e.to_string(),
        }
    })?;
    Ok(discovery::Service {
        ty: discovery::ServiceType::VirtualObject,
        name: service_name,
        handlers: handlers.into_iter().flatten().collect(),
        documentation: Some("A Verity agent: one object per conversation.".to_owned()),
        metadata: Default::default(),
        abort_timeout: None,
        inactivity_timeout: None,
        journal_retention: None,
        idempotency_retention: None,
        enable_lazy_state: None,
        ingress_private: None,
        retry_policy_initial_interval: None,
        retry_policy_max_interval: None,
        retry_policy_max_attempts: None,
        retry_policy_exponentiation_factor: None,
        retry_policy_on_max_attempts: None,
    })
}

struct Dispatcher<D, O> {
    agent: Arc<DurableAgent<D, O>>,
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> Service for Dispatcher<D, O> {
    type Future = macro_support::ServiceBoxFuture;

    fn handle(&self, ctx: ContextInternal) -> Self::Future {
        let agent = Arc::clone(&self.agent);
        Box::pin(async move {
            let (input, meta): (Vec<u8>, InputMetadata) = ctx.input().await;
            let result: HandlerResult<Json<Value>> = match ctx.handler_name() {
                "run" => agent.handle_run(&ctx, &meta, &input).await,
                "history" => handle_history(&ctx, &meta).await,
                "pending" => ctx
                    .get::<Json<Value>>(PENDING)
                    .await
                    .map(|p| Json(p.map_or(Value::Null, |Json(v)| v)))
                    .map_err(HandlerError::from),
                "decide" => handle_decide(&ctx, &meta, &input).await,
                "clear" => {
                    ctx.clear_all();
                    Ok(Json(Value::Null))
                }
                _ => {
                    return Err(restate_sdk::endpoint::Error::unknown_handler(
                        ctx.service_name(),
                        ctx.handler_name(),
                    ));
                }
            };
            ctx.handle_handler_result(result);
            ctx.end();
            Ok(())
        })
    }
}

async fn handle_history(ctx: &ContextInternal, meta: &InputMetadata) -> HandlerResult<Json<Value>> {
    let messages = load_history(ctx, &meta.key).await?;
    serde_json::to_value(messages)
        .map(Json)
        .map_err(|e| terminal(DurableError::Output(e)))
}

async fn handle_decide(
    ctx: &ContextInternal,
    meta: &InputMetadata,
    input: &[u8],
) -> HandlerResult<Json<Value>> {
    let results: DeferredToolResults = serde_json::from_slice(input).map_err(|e| {
        terminal(DurableError::InvalidInput {
            handler: "decide",
            message: e.to_string(),
        })
    })?;
    let pending = ctx
        .get::<Json<PendingDecision>>(PENDING)
        .await?
        .ok_or_else(|| {
            terminal(DurableError::NothingPending {
                key: meta.key.clone(),
            })
        })?
        .into_inner();
    ctx.resolve_signal(&pending.invocation_id, &pending.signal, Json(results));
    Ok(Json(Value::Null))
}

async fn load_history(ctx: &ContextInternal, key: &str) -> HandlerResult<Vec<ModelMessage>> {
    match ctx.get::<Json<Value>>(MESSAGES).await? {
        None => Ok(Vec::new()),
        Some(Json(value)) => serde_json::from_value(value).map_err(|e| {
            terminal(DurableError::History {
                key: key.to_owned(),
                message: e.to_string(),
            })
        }),
    }
}

/// How a model request's error is handled: retried by Restate (with the step's retry
/// policy) when another attempt may succeed, terminal otherwise.
fn model_error(e: verity::Error) -> HandlerError {
    let retryable = match &e {
        verity::Error::ModelHttp { status, .. } => {
            matches!(status, 408 | 409 | 429) || *status >= 500
        }
        verity::Error::ModelApi { .. } => true,
        _ => false,
    };
    if retryable {
        HandlerError::from(e)
    } else {
        TerminalError::new(e.to_string()).into()
    }
}

impl<D: Send + Sync + 'static, O: Send + Sync + 'static> DurableAgent<D, O> {
    async fn handle_run(
        &self,
        ctx: &ContextInternal,
        meta: &InputMetadata,
        input: &[u8],
    ) -> HandlerResult<Json<Value>> {
        let input: RunInput = serde_json::from_slice(input).map_err(|e| {
            terminal(DurableError::InvalidInput {
                handler: "run",
                message: e.to_string(),
            })
        })?;
        let history = load_history(ctx, &meta.key).await?;
        let mut result = self
            .drive(
                ctx,
                meta,
                self.agent
                    .run(input.prompt)
                    .deps((self.deps)())
                    .message_history(history),
            )
            .await?
            .map_err(|e| terminal(DurableError::Run(e)))?;
        let mut suspensions = 0u32;
        let output = loop {
            let requests = match (self.outcome)(&result.output)
                .map_err(|e| terminal(DurableError::Output(e)))?
            {
                Outcome::Output(value) => break value,
                Outcome::Deferred(requests) => requests,
            };
            // wait for a decision; one the run refuses (a call left without an answer,
            // an answer for another call) is reported in `pending`, and the run waits
            // for the next
            let mut refused = None;
            result = loop {
                suspensions += 1;
                let signal = format!("verity-decision-{suspensions}");
                let pending = PendingDecision {
                    invocation_id: meta.invocation_id.clone(),
                    signal: signal.clone(),
                    requests: requests.clone(),
                    refused: refused.take(),
                };
                ctx.set(PENDING, Json(pending));
                let Json(results) = ctx.signal::<Json<DeferredToolResults>>(&signal).await?;
                ctx.clear(PENDING);
                let resumed = self
                    .drive(
                        ctx,
                        meta,
                        self.agent
                            .resume(results)
                            .deps((self.deps)())
                            .message_history(result.all_messages().to_vec()),
                    )
                    .await?;
                match resumed {
                    Ok(resumed) => break resumed,
                    Err(verity::Error::Deferred(e)) => refused = Some(e.to_string()),
                    Err(e) => return Err(terminal(DurableError::Run(e))),
                }
            };
        };
        let messages = serde_json::to_value(result.all_messages())
            .map_err(|e| terminal(DurableError::Output(e)))?;
        ctx.set(MESSAGES, Json(messages));
        let out = RunOutput {
            output,
            run_id: result.run_id().to_owned(),
            usage: result.usage().clone(),
        };
        serde_json::to_value(out)
            .map(Json)
            .map_err(|e| terminal(DurableError::Output(e)))
    }

    /// Run `request` to its end with every model request and (non-pure) tool call
    /// journaled: the run's result, or the handler's error.
    async fn drive<S: DepsSource<D> + Send + 'static>(
        &self,
        ctx: &ContextInternal,
        meta: &InputMetadata,
        request: RunRequest<D, O, S>,
    ) -> HandlerResult<verity::Result<RunResult<O>>> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let model = JournaledModel::new(Arc::clone(self.agent.model()), tx.clone());
        let mut request = request.model(model);
        // the first toolset holds the agent's own tools, whose list is fixed; the lists
        // of the toolsets given to the durable agent (MCP servers') are journaled
        for (i, toolset) in self.toolsets.iter().enumerate() {
            request = request.toolset(JournaledToolset::new(
                Arc::clone(toolset),
                Arc::clone(&self.pure_tools),
                tx.clone(),
                i > 0,
            ));
        }
        drop(tx);
        let run = pin!(std::future::IntoFuture::into_future(request));
        let steps = pin!(async {
            let mut model_steps = 0u32;
            let mut list_steps = 0u32;
            while let Some(step) = rx.recv().await {
                match step {
                    Step::Model(step) => {
                        let ModelStep {
                            model,
                            messages,
                            settings,
                            params,
                            reply,
                        } = *step;
                        model_steps += 1;
                        let name = model.model_name().to_owned();
                        let live = self
                            .on_model_event
                            .clone()
                            .map(|handler| (handler, meta.key.clone()));
                        let step = ctx
                            .run(move || async move {
                                let response = match live {
                                    // streamed: events go out live, the whole response
                                    // is what the journal keeps
                                    Some((handler, key)) => {
                                        stream_request(
                                            &*model,
                                            &messages,
                                            &settings,
                                            &params,
                                            |event| handler(&key, event),
                                        )
                                        .await
                                    }
                                    None => {
                                        model.request_boxed(&messages, &settings, &params).await
                                    }
                                };
                                response.map(Json).map_err(model_error)
                            })
                            .name(format!("model request {model_steps}"));
                        let step = match &self.model_retry {
                            Some(policy) => step.retry_policy(policy.clone()),
                            None => step,
                        };
                        let response =
                            step.await
                                .map(Json::into_inner)
                                .map_err(|e| verity::Error::ModelApi {
                                    model_name: name,
                                    message: e.message().to_owned(),
                                });
                        // the run may have ended meanwhile; nothing waits then
                        let _ = reply.send(response);
                    }
                    Step::Tool {
                        name,
                        call_id,
                        call,
                        reply,
                    } => {
                        let key: Arc<str> = Arc::from(format!("{}/{call_id}", meta.invocation_id));
                        let step = ctx
                            .run(move || async move {
                                Ok(Json(with_idempotency_key(key, call()).await))
                            })
                            .name(format!("tool {name} {call_id}"));
                        let step = match &self.tool_retry {
                            Some(policy) => step.retry_policy(policy.clone()),
                            None => step,
                        };
                        let outcome = match step.await {
                            Ok(Json(outcome)) => outcome,
                            Err(e) => ToolOutcome::Failed {
                                message: e.message().to_owned(),
                            },
                        };
                        let _ = reply.send(outcome);
                    }
                    Step::ListTools { label, list, reply } => {
                        list_steps += 1;
                        let step = ctx
                            .run(move || async move {
                                let tools = list().await.map_err(HandlerError::from)?;
                                let listed = tools
                                    .iter()
                                    .map(|tool| {
                                        ListedTool::of(tool).ok_or_else(|| {
                                            TerminalError::new(format!(
                                                "tool `{}` is of a kind durable runs cannot journal",
                                                tool.name()
                                            ))
                                        })
                                    })
                                    .collect::<Result<Vec<_>, _>>()?;
                                Ok(Json(listed))
                            })
                            .name(format!("list tools {label} {list_steps}"));
                        let tools = match step.await {
                            Ok(Json(listed)) => listed
                                .into_iter()
                                .map(|tool| {
                                    tool.into_tool().ok_or_else(|| {
                                        verity::Error::User(
                                            "a journaled tool is of a kind this worker does not know"
                                                .to_owned(),
                                        )
                                    })
                                })
                                .collect(),
                            Err(e) => Err(verity::Error::User(format!(
                                "listing the tools of {label} failed: {}",
                                e.message()
                            ))),
                        };
                        let _ = reply.send(tools);
                    }
                }
            }
        });
        match select(run, steps).await {
            Either::Left((result, _)) => Ok(result),
            // the steps end only when the run has dropped its senders, i.e. has ended
            Either::Right(((), run)) => Ok(run.await),
        }
    }
}

/// A model request made streamed, each event handed to `on_event` before it is added
/// to the response.
async fn stream_request(
    model: &dyn verity::model::DynModel,
    messages: &[verity::messages::ModelMessage],
    settings: &verity::ModelSettings,
    params: &verity::model::ModelRequestParameters,
    on_event: impl Fn(&verity::stream::ModelStreamEvent),
) -> verity::Result<verity::messages::ModelResponse> {
    use futures::StreamExt as _;
    let mut events = model
        .request_stream_boxed(messages, settings, params)
        .await?;
    let mut response = verity::stream::ResponseAccumulator::new();
    while let Some(event) = events.next().await {
        let event = event?;
        on_event(&event);
        response.apply(event)?;
    }
    Ok(response.finish())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_lists_the_handlers_with_their_kinds() {
        let service = manifest("assistant").unwrap();
        assert!(manifest("not a name!").is_err());
        let json = serde_json::to_value(&service).unwrap();
        assert_eq!(json["name"], "assistant");
        assert_eq!(json["ty"], "VIRTUAL_OBJECT");
        let handlers = json["handlers"].as_array().unwrap();
        let names: Vec<_> = handlers
            .iter()
            .map(|h| h["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["run", "history", "pending", "decide", "clear"]);
    }

    #[test]
    fn model_errors_are_retried_only_when_another_attempt_may_succeed() {
        let http = |status| verity::Error::ModelHttp {
            status,
            model_name: "m".into(),
            body: String::new(),
            retry_after: None,
        };
        let is_terminal = |e: HandlerError| format!("{e:?}").contains("Terminal");
        assert!(!is_terminal(model_error(http(503))));
        assert!(!is_terminal(model_error(http(429))));
        assert!(is_terminal(model_error(http(400))));
        assert!(is_terminal(model_error(verity::Error::User("bad".into()))));
    }
}
