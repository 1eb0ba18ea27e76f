//! The Verity side: the catalogue of tools and output types (twins of those in
//! `pyai_runner.py`, same names, same behaviour) and the scenario runs, recorded in the
//! same JSON shape the Python runner prints.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{Value, json};
use verity::agent::AgentBuilder;
use verity::agent::builder_state::OutputOpen;
use verity::deferred::{Deferrable, DeferredToolResults, ExternalResult};
use verity::messages::{
    ModelRequestPart, ModelResponsePart, ToolCallArgs, ToolCallPart, ToolOutcome,
};
use verity::output::{OutputSpec, TextOr};
use verity::prelude::*;
use verity::usage::UsageLimits;
use verity::{ExternalToolset, ToolDefinition};
use verity::{ModelRetry, ToolError};

// ------------------------------------------------------------------ scenarios

/// One scenario of `scenarios.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Scenario {
    pub name: String,
    #[allow(dead_code)]
    pub description: String,
    #[serde(default = "default_output")]
    pub output: String,
    #[serde(default)]
    pub tools: Vec<String>,
    /// Tools of an external toolset (definitions only; their calls are deferred).
    #[serde(default)]
    pub external_tools: Vec<String>,
    #[serde(default)]
    pub agent: AgentConfig,
    pub runs: Vec<RunSpec>,
}

fn default_output() -> String {
    "str".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AgentConfig {
    pub end_strategy: Option<String>,
    pub retries: Option<u32>,
    pub output_retries: Option<u32>,
    pub output_validator: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RunSpec {
    /// `None`: resume without a new prompt.
    pub prompt: Option<String>,
    /// The scripted responses, one list of parts per model request.
    pub responses: Vec<Vec<ScriptPart>>,
    /// `"previous"`: continue the previous run's messages.
    pub history: Option<String>,
    pub usage_limits: Option<Limits>,
    /// Decisions for the previous run's deferred calls (see `pyai_runner.py`).
    pub deferred_results: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Limits {
    pub request_limit: Option<u64>,
    pub tool_calls_limit: Option<u64>,
}

/// A scripted response part: `{"text": ...}` or `{"call": name, "args": ...}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ScriptPart {
    Text { text: String },
    Call { call: String, args: Option<Value> },
}

// ------------------------------------------------------------------ the catalogue

#[derive(Debug, Clone, serde::Serialize, Deserialize, schemars::JsonSchema)]
pub struct CityLocation {
    city: String,
    country: String,
}

#[derive(Debug, Clone, serde::Serialize, Deserialize, schemars::JsonSchema)]
pub struct Country {
    country: String,
    continent: String,
}

#[derive(Debug, Clone, serde::Serialize, Deserialize, schemars::JsonSchema)]
pub struct Risk {
    #[schemars(range(min = 0, max = 10))]
    score: i64,
}

/// `CityLocation | Country`: an enum whose variants carry the structs.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub enum CityOrCountry {
    CityLocation(CityLocation),
    Country(Country),
}

/// An output as JSON, in the shape PydanticAI's `model_dump(mode='json')` gives.
pub trait OutputJson {
    fn output_json(&self) -> Value;
}

impl OutputJson for String {
    fn output_json(&self) -> Value {
        json!(self)
    }
}

/// PydanticAI's `str | CityLocation` output is either the text or the model.
impl OutputJson for TextOr<CityLocation> {
    fn output_json(&self) -> Value {
        match self {
            TextOr::Text(t) => json!(t),
            TextOr::Structured(c) => serde_json::to_value(c).unwrap(),
        }
    }
}

macro_rules! plain_output_json {
    ($($t:ty),*) => {$(
        impl OutputJson for $t {
            fn output_json(&self) -> Value {
                serde_json::to_value(self).unwrap()
            }
        }
    )*};
}
plain_output_json!(CityLocation, Country, Risk);

/// PydanticAI's `[O, DeferredToolRequests]` output: the output, or the requests as
/// `{"deferred": {calls, approvals, metadata}}` with calls as `[name, args, id]`.
impl<O: OutputJson> OutputJson for Deferrable<O> {
    fn output_json(&self) -> Value {
        match self {
            Deferrable::Output(o) => o.output_json(),
            Deferrable::Deferred(d) => {
                let calls = |cs: &[ToolCallPart]| -> Vec<Value> {
                    cs.iter()
                        .map(|c| json!([c.tool_name, c.args.to_value().unwrap(), c.tool_call_id]))
                        .collect()
                };
                json!({"deferred": {
                    "calls": calls(&d.calls),
                    "approvals": calls(&d.approvals),
                    "metadata": d.metadata,
                }})
            }
        }
    }
}

/// The scenario's decisions for the previous run's calls, each bound to its call.
fn deferred_results(spec: &Value, previous: &[ModelMessage]) -> DeferredToolResults {
    let find = |id: &str| -> ToolCallPart {
        previous
            .iter()
            .filter_map(|m| m.as_response())
            .flat_map(|r| r.tool_calls())
            .find(|c| c.tool_call_id == id)
            .cloned()
            .unwrap_or_else(|| panic!("no call {id} in the previous run"))
    };
    let mut results = DeferredToolResults::new();
    if let Some(approvals) = spec["approvals"].as_object() {
        for (id, a) in approvals {
            let call = find(id);
            match a {
                Value::Bool(true) => results.approve(&call),
                Value::Bool(false) => results.deny(&call, verity::deferred::DEFAULT_DENIAL),
                a if a.get("denied").is_some() => {
                    results.deny(&call, a["denied"].as_str().unwrap())
                }
                a => results.approve_with_args(&call, a["override_args"].clone()),
            };
        }
    }
    if let Some(calls) = spec["calls"].as_object() {
        for (id, c) in calls {
            let call = find(id);
            let result = if let Some(v) = c.get("return") {
                ExternalResult::Return(v.clone())
            } else if let Some(m) = c.get("retry") {
                ExternalResult::Retry(m.as_str().unwrap().to_owned())
            } else {
                ExternalResult::Failed(c["failed"].as_str().unwrap().to_owned())
            };
            results.external(&call, result);
        }
    }
    if let Some(metadata) = spec["metadata"].as_object() {
        for (id, m) in metadata {
            results.with_metadata(&find(id), m.clone());
        }
    }
    results
}

impl OutputJson for CityOrCountry {
    fn output_json(&self) -> Value {
        match self {
            CityOrCountry::CityLocation(c) => c.output_json(),
            CityOrCountry::Country(c) => c.output_json(),
        }
    }
}

type Deps = Arc<Recorder>;

#[derive(Deserialize, schemars::JsonSchema)]
struct CityArgs {
    city: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct XArgs {
    x: i64,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NoArgs {}

#[derive(Deserialize, schemars::JsonSchema)]
struct PathArgs {
    path: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct UpdateArgs {
    path: String,
    content: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct TaskArgs {
    task: String,
}

#[derive(Debug)]
struct ToolBroke;

impl std::fmt::Display for ToolBroke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the tool broke")
    }
}

impl std::error::Error for ToolBroke {}

fn add_tool<O: Send + Sync + 'static>(
    b: AgentBuilder<Deps, O, OutputOpen>,
    name: &str,
) -> AgentBuilder<Deps, O, OutputOpen> {
    match name {
        "get_weather" => b.tool_fn(
            "get_weather",
            "Get the weather in a city.",
            |ctx: RunContext<Deps>, a: CityArgs| async move {
                ctx.deps().executed("get_weather");
                Ok::<_, ToolError>(format!("Sunny in {}", a.city))
            },
        ),
        "flaky" => b.tool_fn(
            "flaky",
            "Double a number; asks for a retry on its 1st, 3rd, 5th... call in a run.",
            |ctx: RunContext<Deps>, a: XArgs| async move {
                ctx.deps().executed("flaky");
                let n = ctx.deps().flaky_calls.fetch_add(1, Ordering::SeqCst) + 1;
                if n % 2 == 1 {
                    return Err(ToolError::from(ModelRetry::new(format!(
                        "not ready yet for {}, call again",
                        a.x
                    ))));
                }
                Ok(a.x * 2)
            },
        ),
        "always_retry" => b.tool_fn(
            "always_retry",
            "Never succeeds: always asks for a retry.",
            |ctx: RunContext<Deps>, _: NoArgs| async move {
                ctx.deps().executed("always_retry");
                Err::<String, _>(ToolError::from(ModelRetry::new("still not working")))
            },
        ),
        "fails" => b.tool_fn(
            "fails",
            "Fails with an ordinary error.",
            |ctx: RunContext<Deps>, _: NoArgs| async move {
                ctx.deps().executed("fails");
                Err::<String, _>(ToolError::from(ToolBroke))
            },
        ),
        "delete_file" => b.tool(
            Tool::new(
                "delete_file",
                "Delete a file (needs approval).",
                |ctx: RunContext<Deps>, a: PathArgs| async move {
                    ctx.deps().executed("delete_file");
                    Ok::<_, ToolError>(format!("File '{}' deleted", a.path))
                },
            )
            .with_requires_approval(true),
        ),
        "update_file" => b.tool_fn(
            "update_file",
            "Write a file; `.env` needs approval.",
            |ctx: RunContext<Deps>, a: UpdateArgs| async move {
                if a.path == ".env" && !ctx.tool_call_approved() {
                    return Err(ToolError::ApprovalRequired(Some(
                        json!({"reason": "protected"}),
                    )));
                }
                ctx.deps().executed("update_file");
                Ok(format!("File '{}' updated: '{}'", a.path, a.content))
            },
        ),
        "send_to_worker" => b.tool_fn(
            "send_to_worker",
            "Hand a task to a background worker.",
            |_ctx: RunContext<Deps>, a: TaskArgs| async move {
                Err::<String, _>(ToolError::CallDeferred(Some(json!({"task": a.task}))))
            },
        ),
        other => panic!("unknown tool in the catalogue: {other}"),
    }
}

/// The external toolset of a scenario.
fn external_toolset(names: &[String]) -> ExternalToolset {
    let definitions = names.iter().map(|name| match name.as_str() {
        "calc" => ToolDefinition::new(
            "calc",
            json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}),
        )
        .with_description("Calculate something."),
        other => panic!("unknown external tool in the catalogue: {other}"),
    });
    ExternalToolset::new("external", definitions.collect::<Vec<_>>())
}

/// Tools, retries, end strategy and validator of the scenario, then build.
/// `Err` when Verity cannot express the configuration.
fn finish<O: Send + Sync + 'static>(
    mut b: AgentBuilder<Deps, O, OutputOpen>,
    sc: &Scenario,
) -> Result<Agent<Deps, O>, String> {
    for tool in &sc.tools {
        b = add_tool(b, tool);
    }
    if !sc.external_tools.is_empty() {
        b = b.toolset(external_toolset(&sc.external_tools));
    }
    let cfg = &sc.agent;
    if let Some(r) = cfg.retries {
        b = b.retries(r);
    }
    if let Some(r) = cfg.output_retries {
        b = b.output_retries(r);
    }
    match cfg.end_strategy.as_deref() {
        None => {}
        Some("early") => b = b.end_strategy(EndStrategy::Early),
        Some("graceful") => b = b.end_strategy(EndStrategy::Graceful),
        Some("exhaustive") => b = b.end_strategy(EndStrategy::Exhaustive),
        Some(other) => return Err(format!("Verity has no end strategy `{other}`")),
    }
    Ok(match cfg.output_validator.as_deref() {
        None => b.build(),
        Some("reject_first") => b
            .output_validator(|ctx: RunContext<Deps>, o: O| async move {
                let n = ctx.deps().validator_calls.fetch_add(1, Ordering::SeqCst) + 1;
                if n <= 1 {
                    return Err(ToolError::from(ModelRetry::new(
                        "not good enough, answer again",
                    )));
                }
                Ok(o)
            })
            .build(),
        Some(other) => return Err(format!("unknown output validator `{other}`")),
    })
}

// ------------------------------------------------------------------ recording

/// Per run: the script, what each request offered, which tools ran when.
pub struct Recorder {
    responses: Vec<Vec<ScriptPart>>,
    run_index: usize,
    requests: Mutex<Vec<Value>>,
    executions: Mutex<Vec<(usize, String)>>,
    position: AtomicUsize,
    flaky_calls: AtomicUsize,
    validator_calls: AtomicUsize,
}

impl Recorder {
    fn new(responses: Vec<Vec<ScriptPart>>, run_index: usize) -> Self {
        Recorder {
            responses,
            run_index,
            requests: Mutex::new(Vec::new()),
            executions: Mutex::new(Vec::new()),
            position: AtomicUsize::new(0),
            flaky_calls: AtomicUsize::new(0),
            validator_calls: AtomicUsize::new(0),
        }
    }

    fn executed(&self, name: &str) {
        let after = self.requests.lock().unwrap().len();
        self.executions
            .lock()
            .unwrap()
            .push((after, name.to_owned()));
    }

    fn model(&self, messages: &[ModelMessage], info: &AgentInfo) -> ModelResponse {
        let last = messages.iter().rev().find_map(|m| m.as_request());
        self.requests.lock().unwrap().push(json!({
            "function_tools": info.function_tools.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
            "output_tools": info.output_tools.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
            "allow_text_output": info.allow_text_output,
            "message_count": messages.len(),
            "last_request": last.map(|r| r.parts.iter().map(part_view).collect::<Vec<_>>()).unwrap_or_default(),
        }));
        let position = self.position.fetch_add(1, Ordering::SeqCst) + 1;
        let exhausted = vec![ScriptPart::Text {
            text: "SCRIPT EXHAUSTED".into(),
        }];
        let script = self.responses.get(position - 1).unwrap_or(&exhausted);
        let parts = script
            .iter()
            .enumerate()
            .map(|(i, p)| match p {
                ScriptPart::Text { text } => {
                    ModelResponsePart::Text(verity::messages::TextPart::new(text.clone()))
                }
                ScriptPart::Call { call, args } => ModelResponsePart::ToolCall(ToolCallPart::new(
                    call.clone(),
                    ToolCallArgs::from(args.clone().unwrap_or_else(|| json!({}))),
                    format!("call_{}_{position}_{i}", self.run_index),
                )),
            })
            .collect();
        ModelResponse::new(parts)
    }
}

/// A request part as the model is shown it: kind, tool name, text.
fn part_view(part: &ModelRequestPart) -> Value {
    let kind = serde_json::to_value(part).unwrap()["part_kind"].clone();
    match part {
        ModelRequestPart::ToolReturn(r) => json!({
            "part_kind": kind,
            "tool_name": r.tool_name,
            "outcome": serde_json::to_value(&r.outcome).unwrap(),
            "text": r.model_response_str(),
        }),
        ModelRequestPart::RetryPrompt(r) => {
            let mut v = json!({"part_kind": kind, "text": r.model_response_str()});
            if let Some(name) = &r.tool_name {
                v["tool_name"] = json!(name);
            }
            v
        }
        ModelRequestPart::UserPrompt(u) => {
            let content = serde_json::to_value(&u.content).unwrap();
            let text = match content {
                Value::String(s) => s,
                other => other.to_string(),
            };
            json!({"part_kind": kind, "text": text})
        }
        ModelRequestPart::SystemPrompt(s) => json!({"part_kind": kind, "text": s.content}),
        ModelRequestPart::RetryFeedback(f) => {
            json!({"part_kind": kind, "text": f.model_response_str()})
        }
        _ => json!({"part_kind": kind}),
    }
}

fn retry_texts(messages: &[ModelMessage]) -> Vec<Value> {
    messages
        .iter()
        .filter_map(|m| m.as_request())
        .flat_map(|r| r.parts.iter())
        .filter(|p| match p {
            ModelRequestPart::RetryPrompt(_) | ModelRequestPart::RetryFeedback(_) => true,
            ModelRequestPart::ToolReturn(r) => r.outcome != ToolOutcome::Success,
            _ => false,
        })
        .map(part_view)
        .collect()
}

/// Verity's error as `{type, message}`: the variant name and the message without the
/// Display prefix (see DELIBERATE_DIFFERENCES).
fn error_json(e: &Error) -> Value {
    let (kind, message) = match e {
        Error::UnexpectedModelBehavior { message, .. } => {
            ("UnexpectedModelBehavior", message.clone())
        }
        Error::UsageLimitExceeded(m) => ("UsageLimitExceeded", m.clone()),
        Error::ToolExecution { source, .. } => ("ToolExecution", source.to_string()),
        other => {
            let debug = format!("{other:?}");
            let name = debug
                .split(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or("")
                .to_owned();
            return json!({"type": name, "message": other.to_string()});
        }
    };
    json!({"type": kind, "message": message})
}

// ------------------------------------------------------------------ running

async fn play<O, F>(sc: &Scenario, make: F) -> Value
where
    O: OutputJson + Send + Sync + 'static,
    F: Fn(FunctionModel) -> Result<Agent<Deps, O>, String>,
{
    let mut runs = Vec::new();
    let mut previous: Vec<ModelMessage> = Vec::new();
    for (run_index, spec) in sc.runs.iter().enumerate() {
        let start = |rec: &Arc<Recorder>| {
            let model_rec = Arc::clone(rec);
            let model =
                FunctionModel::new(move |m, i| model_rec.model(m, i)).with_name("differential");
            let agent = make(model)?;
            let req = match (&spec.prompt, &spec.deferred_results) {
                (Some(prompt), None) => agent.run(prompt.clone()),
                (Some(prompt), Some(d)) => agent
                    .run(prompt.clone())
                    .deferred_results(deferred_results(d, &previous)),
                (None, Some(d)) => agent.resume(deferred_results(d, &previous)),
                (None, None) => return Err("a run without prompt or results".to_owned()),
            };
            let mut req = req.deps(Arc::clone(rec));
            if spec.history.as_deref() == Some("previous") {
                req = req.message_history(previous.clone());
            }
            if let Some(l) = &spec.usage_limits {
                req = req.usage_limits(UsageLimits {
                    request_limit: l.request_limit,
                    tool_calls_limit: l.tool_calls_limit,
                    ..UsageLimits::default()
                });
            }
            Ok::<_, String>(req)
        };
        let rec = Arc::new(Recorder::new(spec.responses.clone(), run_index));
        let req = match start(&rec) {
            Ok(req) => req,
            Err(unsupported) => {
                return json!({"unsupported": unsupported});
            }
        };
        let mut result = serde_json::Map::new();
        let (messages, rec) = match req.await {
            Ok(r) => {
                result.insert("outcome".into(), json!({"ok": r.output.output_json()}));
                result.insert(
                    "usage".into(),
                    json!({"requests": r.usage().requests, "tool_calls": r.usage().tool_calls}),
                );
                (r.all_messages().to_vec(), rec)
            }
            Err(e) => {
                result.insert("outcome".into(), json!({"error": error_json(&e)}));
                // An awaited run that fails keeps no messages: play it again (the script
                // is deterministic) node by node to see the history it leaves.
                let rec = Arc::new(Recorder::new(spec.responses.clone(), run_index));
                let mut run = start(&rec).unwrap().iter();
                let mut node = AgentNode::UserPrompt;
                let again = loop {
                    match run.next(node).await {
                        Ok(AgentNode::End(_)) => break None,
                        Ok(next) => node = next,
                        Err(e) => break Some(e),
                    }
                };
                assert_eq!(
                    again.as_ref().map(ToString::to_string),
                    Some(e.to_string()),
                    "{}: the stepped replay must fail as the awaited run did",
                    sc.name
                );
                (run.messages().to_vec(), rec)
            }
        };
        result.insert("messages".into(), serde_json::to_value(&messages).unwrap());
        result.insert(
            "requests".into(),
            Value::Array(rec.requests.lock().unwrap().clone()),
        );
        let mut executed = rec.executions.lock().unwrap().clone();
        executed.sort();
        result.insert(
            "executed".into(),
            executed.iter().map(|(i, n)| json!([i, n])).collect(),
        );
        result.insert("retry_texts".into(), Value::Array(retry_texts(&messages)));
        runs.push(Value::Object(result));
        previous = messages;
    }
    json!({"runs": runs})
}

fn base(model: FunctionModel) -> AgentBuilder<Deps, String, OutputOpen> {
    Agent::builder(model).deps_type::<Deps>()
}

/// Play one scenario with Verity.
pub async fn run_scenario(sc: &Scenario) -> Value {
    match sc.output.as_str() {
        "str" => play(sc, |m| finish(base(m), sc)).await,
        "CityLocation" => play(sc, |m| finish(base(m).output::<CityLocation>(), sc)).await,
        "Risk" => play(sc, |m| finish(base(m).output::<Risk>(), sc)).await,
        "CityOrCountry" => play(sc, |m| finish(base(m).output::<CityOrCountry>(), sc)).await,
        "StrOrCity" => {
            play(sc, |m| {
                finish(
                    base(m).output_spec(OutputSpec::<TextOr<CityLocation>>::text_or()),
                    sc,
                )
            })
            .await
        }
        "StrOrDeferred" => play(sc, |m| finish(base(m).deferrable(), sc)).await,
        "CityOrDeferred" => {
            play(sc, |m| {
                finish(base(m).output::<CityLocation>().deferrable(), sc)
            })
            .await
        }
        other => panic!("unknown output type in the catalogue: {other}"),
    }
}
