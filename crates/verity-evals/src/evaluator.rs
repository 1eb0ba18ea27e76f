//! The [`Evaluator`] trait, what it sees ([`EvaluatorContext`]) and what it returns
//! ([`EvaluationResult`]s: assertions, scores and labels).

use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use verity::messages::{ModelMessage, ModelResponsePart};
use verity::usage::RunUsage;

use crate::error::EvalError;
use crate::spans::SpanRecord;

/// Everything an evaluator sees of one run of one case.
#[derive(Debug)]
#[non_exhaustive]
pub struct EvaluatorContext<'a, I, O, M> {
    /// The case's name.
    pub name: &'a str,
    /// The case's inputs.
    pub inputs: &'a I,
    /// What the task returned.
    pub output: &'a O,
    /// The case's expected output, if it has one.
    pub expected_output: Option<&'a O>,
    /// The case's metadata, if it has any.
    pub metadata: Option<&'a M>,
    /// How long the task took (the successful attempt).
    pub duration: Duration,
    /// The messages of the agent runs the task recorded with
    /// [`record_run`](crate::record_run) / [`record_messages`](crate::record_messages)
    /// (empty when it recorded none).
    pub messages: &'a [ModelMessage],
    /// The usage the task recorded, summed over its runs.
    pub usage: Option<&'a RunUsage>,
    /// The `tracing` spans the task opened, when span capture is on
    /// (see [`crate::spans`]); `None` otherwise.
    pub spans: Option<&'a [SpanRecord]>,
}

impl<'a, I, O, M> EvaluatorContext<'a, I, O, M> {
    /// A context for `output` of the case `name` with `inputs`: no expected output, no
    /// metadata, zero duration, nothing recorded (for testing evaluators).
    pub fn new(name: &'a str, inputs: &'a I, output: &'a O) -> Self {
        EvaluatorContext {
            name,
            inputs,
            output,
            expected_output: None,
            metadata: None,
            duration: Duration::ZERO,
            messages: &[],
            usage: None,
            spans: None,
        }
    }
    /// With the expected output.
    pub fn with_expected_output(mut self, expected: &'a O) -> Self {
        self.expected_output = Some(expected);
        self
    }
    /// With metadata.
    pub fn with_metadata(mut self, metadata: &'a M) -> Self {
        self.metadata = Some(metadata);
        self
    }
    /// With the task's duration.
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }
    /// With recorded messages.
    pub fn with_messages(mut self, messages: &'a [ModelMessage]) -> Self {
        self.messages = messages;
        self
    }
    /// With recorded usage.
    pub fn with_usage(mut self, usage: &'a RunUsage) -> Self {
        self.usage = Some(usage);
        self
    }
    /// With captured spans.
    pub fn with_spans(mut self, spans: &'a [SpanRecord]) -> Self {
        self.spans = Some(spans);
        self
    }

    /// The function tools called, in order: from the recorded messages (output tools,
    /// named `final_result…`, left out), else from the captured `execute_tool` spans.
    pub fn tool_calls(&self) -> Vec<&str> {
        if self.messages.is_empty() {
            if let Some(spans) = self.spans {
                return spans
                    .iter()
                    .filter(|s| s.target == "verity" && s.name == "execute_tool")
                    .filter_map(|s| s.field("gen_ai.tool.name"))
                    .collect();
            }
        }
        self.messages
            .iter()
            .filter_map(ModelMessage::as_response)
            .flat_map(|r| r.parts.iter())
            .filter_map(|p| match p {
                ModelResponsePart::ToolCall(c) if !c.tool_name.starts_with("final_result") => {
                    Some(c.tool_name.as_str())
                }
                _ => None,
            })
            .collect()
    }

    /// The model requests made: the recorded usage's count when there is one, else the
    /// responses in the recorded messages, else the captured `chat` spans.
    pub fn model_requests(&self) -> u64 {
        if let Some(u) = self.usage.filter(|u| u.requests > 0) {
            return u.requests;
        }
        if self.messages.is_empty() {
            if let Some(spans) = self.spans {
                return spans
                    .iter()
                    .filter(|s| s.target == "verity" && s.name == "chat")
                    .count() as u64;
            }
        }
        self.messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count() as u64
    }
}

impl<I: Serialize, O: Serialize, M: Serialize> EvaluatorContext<'_, I, O, M> {
    /// The output as JSON.
    pub fn output_json(&self) -> Result<Value, EvalError> {
        Ok(serde_json::to_value(self.output)?)
    }
    /// The expected output as JSON (`None` when the case has none).
    pub fn expected_output_json(&self) -> Result<Option<Value>, EvalError> {
        Ok(self.expected_output.map(serde_json::to_value).transpose()?)
    }
    /// The inputs as JSON.
    pub fn inputs_json(&self) -> Result<Value, EvalError> {
        Ok(serde_json::to_value(self.inputs)?)
    }
}

/// The value of one result: an assertion passes or fails, a score is a number, a label
/// is a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EvalValue {
    /// Passed (`true`) or failed.
    Assertion(bool),
    /// A number, usually in `0.0..=1.0`.
    Score(f64),
    /// A category.
    Label(String),
}

/// One result of an evaluator: a named value with an optional reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationResult {
    /// The result's name (the report's column entry), usually the evaluator's name.
    pub name: String,
    /// The value.
    pub value: EvalValue,
    /// Why, if the evaluator says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl EvaluationResult {
    /// An assertion.
    pub fn assertion(name: impl Into<String>, passed: bool) -> Self {
        Self {
            name: name.into(),
            value: EvalValue::Assertion(passed),
            reason: None,
        }
    }
    /// A score.
    pub fn score(name: impl Into<String>, value: f64) -> Self {
        Self {
            name: name.into(),
            value: EvalValue::Score(value),
            reason: None,
        }
    }
    /// A label.
    pub fn label(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: EvalValue::Label(value.into()),
            reason: None,
        }
    }
    /// The same result with a reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// What an evaluator returns: any number of results.
pub type EvaluatorOutput = Result<Vec<EvaluationResult>, EvalError>;

/// Judges one run of a case.
///
/// `evaluate` returns a boxed future, so an evaluator may be asynchronous (an LLM
/// judge) or not: a synchronous one returns `Box::pin(std::future::ready(..))`, or is
/// written as a closure with [`evaluator_fn`]. [`name`](Evaluator::name) and
/// [`args`](Evaluator::args) are how the evaluator is written into a dataset file
/// (`Name` alone when the arguments are `null`, else `{Name: args}`); a
/// [`Registry`](crate::Registry) turns them back into an evaluator.
///
/// ```
/// use verity_evals::{Evaluator, EvaluatorContext, EvaluatorOutput, EvaluationResult};
/// use futures::future::BoxFuture;
///
/// /// Passes when the output is shorter than the input.
/// struct Shorter;
///
/// impl Evaluator<String, String, ()> for Shorter {
///     fn name(&self) -> String {
///         "Shorter".into()
///     }
///     fn evaluate<'a>(
///         &'a self,
///         ctx: &'a EvaluatorContext<'a, String, String, ()>,
///     ) -> BoxFuture<'a, EvaluatorOutput> {
///         let passed = ctx.output.len() < ctx.inputs.len();
///         Box::pin(std::future::ready(Ok(vec![EvaluationResult::assertion("Shorter", passed)])))
///     }
/// }
/// ```
pub trait Evaluator<I, O, M>: Send + Sync {
    /// The evaluator's name, as written in dataset files.
    fn name(&self) -> String;

    /// The evaluator's arguments, as written in dataset files (`null`: none).
    fn args(&self) -> Value {
        Value::Null
    }

    /// Judge a run.
    fn evaluate<'a>(
        &'a self,
        ctx: &'a EvaluatorContext<'a, I, O, M>,
    ) -> BoxFuture<'a, EvaluatorOutput>;
}

/// A synchronous evaluator made from a closure: see [`evaluator_fn`].
pub struct FnEvaluator<F> {
    name: String,
    f: F,
}

impl<F> std::fmt::Debug for FnEvaluator<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnEvaluator")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a closure evaluator may return.
pub trait IntoEvaluatorOutput {
    /// Convert, naming single results after the evaluator.
    fn into_output(self, name: &str) -> EvaluatorOutput;
}

impl IntoEvaluatorOutput for bool {
    fn into_output(self, name: &str) -> EvaluatorOutput {
        Ok(vec![EvaluationResult::assertion(name, self)])
    }
}
impl IntoEvaluatorOutput for f64 {
    fn into_output(self, name: &str) -> EvaluatorOutput {
        Ok(vec![EvaluationResult::score(name, self)])
    }
}
impl IntoEvaluatorOutput for String {
    fn into_output(self, name: &str) -> EvaluatorOutput {
        Ok(vec![EvaluationResult::label(name, self)])
    }
}
impl IntoEvaluatorOutput for EvaluationResult {
    fn into_output(self, _name: &str) -> EvaluatorOutput {
        Ok(vec![self])
    }
}
impl IntoEvaluatorOutput for Vec<EvaluationResult> {
    fn into_output(self, _name: &str) -> EvaluatorOutput {
        Ok(self)
    }
}
impl<T: IntoEvaluatorOutput> IntoEvaluatorOutput for Result<T, EvalError> {
    fn into_output(self, name: &str) -> EvaluatorOutput {
        self.and_then(|t| t.into_output(name))
    }
}

/// A synchronous evaluator from a closure returning a `bool` (an assertion), an `f64`
/// (a score), a `String` (a label), an [`EvaluationResult`], a `Vec` of them, or a
/// `Result` of any of these.
///
/// ```
/// use verity_evals::{evaluator_fn, Evaluator, EvaluatorContext};
///
/// let non_empty = evaluator_fn("NonEmpty", |ctx: &EvaluatorContext<'_, String, String, ()>| {
///     !ctx.output.is_empty()
/// });
/// let _: &dyn Evaluator<String, String, ()> = &non_empty;
/// ```
pub fn evaluator_fn<I, O, M, F, R>(name: impl Into<String>, f: F) -> FnEvaluator<F>
where
    F: for<'a> Fn(&EvaluatorContext<'a, I, O, M>) -> R + Send + Sync,
    R: IntoEvaluatorOutput,
{
    FnEvaluator {
        name: name.into(),
        f,
    }
}

impl<I, O, M, F, R> Evaluator<I, O, M> for FnEvaluator<F>
where
    I: Sync,
    O: Sync,
    M: Sync,
    F: for<'a> Fn(&EvaluatorContext<'a, I, O, M>) -> R + Send + Sync,
    R: IntoEvaluatorOutput,
{
    fn name(&self) -> String {
        self.name.clone()
    }
    fn evaluate<'a>(
        &'a self,
        ctx: &'a EvaluatorContext<'a, I, O, M>,
    ) -> BoxFuture<'a, EvaluatorOutput> {
        let out = (self.f)(ctx).into_output(&self.name);
        Box::pin(std::future::ready(out))
    }
}

/// An evaluator as written in a dataset file: `Name`, or `{Name: args}` where `args` is
/// a map of the evaluator's fields or a single value for its main field
/// (`{Contains: "Paris"}` is `{Contains: {value: "Paris"}}`).
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluatorSpec {
    /// The registered name.
    pub name: String,
    /// The arguments (`null`: none).
    pub args: Value,
}

impl EvaluatorSpec {
    /// The spec of an evaluator.
    pub fn of<I, O, M>(e: &(impl Evaluator<I, O, M> + ?Sized)) -> Self {
        EvaluatorSpec {
            name: e.name(),
            args: e.args(),
        }
    }
}

impl Serialize for EvaluatorSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let empty = match &self.args {
            Value::Null => true,
            Value::Object(m) => m.is_empty(),
            _ => false,
        };
        if empty {
            s.serialize_str(&self.name)
        } else {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry(&self.name, &self.args)?;
            m.end()
        }
    }
}

impl<'de> Deserialize<'de> for EvaluatorSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::String(name) => Ok(EvaluatorSpec {
                name,
                args: Value::Null,
            }),
            Value::Object(m) if m.len() == 1 => {
                let Some((name, args)) = m.into_iter().next() else {
                    return Err(D::Error::custom("an evaluator map needs one key"));
                };
                Ok(EvaluatorSpec { name, args })
            }
            other => Err(D::Error::custom(format!(
                "an evaluator is `Name` or `{{Name: arguments}}` (one key), not {other}"
            ))),
        }
    }
}
