//! The built-in evaluators: [`Equals`], [`EqualsExpected`], [`Contains`], [`IsType`],
//! [`ValidSchema`], [`MaxDuration`], and the trajectory checks [`ToolsCalled`],
//! [`MaxToolCalls`], [`MaxModelRequests`]. The LLM judge is in [`crate::judge`].
//!
//! They compare the output as JSON, so they work for any serializable output type.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::EvalError;
use crate::evaluator::{EvaluationResult, Evaluator, EvaluatorContext, EvaluatorOutput};

fn ready<'a>(out: EvaluatorOutput) -> BoxFuture<'a, EvaluatorOutput> {
    Box::pin(std::future::ready(out))
}

fn to_args<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Read an evaluator's arguments from a file: a map of its fields, or one value for its
/// main field (`primary`), or nothing.
pub(crate) fn parse_args<T: for<'de> Deserialize<'de>>(
    name: &str,
    args: &Value,
    primary: Option<&str>,
) -> Result<T, EvalError> {
    let value = match (args, primary) {
        (Value::Null, _) => json!({}),
        (Value::Object(_), _) => args.clone(),
        (other, Some(field)) => json!({ field: other }),
        (other, None) => {
            return Err(EvalError::EvaluatorArgs {
                name: name.to_owned(),
                message: format!("expected a map of arguments, got {other}"),
            });
        }
    };
    serde_json::from_value(value).map_err(|e| EvalError::EvaluatorArgs {
        name: name.to_owned(),
        message: e.to_string(),
    })
}

/// Passes when the output equals a value (compared as JSON). File form:
/// `{Equals: VALUE}` or `{Equals: {value: VALUE}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Equals {
    /// The value the output must equal.
    pub value: Value,
}

impl Equals {
    /// Passes when the output serializes to `value`.
    pub fn new(value: impl Serialize) -> Result<Self, EvalError> {
        Ok(Equals {
            value: serde_json::to_value(value)?,
        })
    }
}

impl<I: Serialize + Sync, O: Serialize + Sync, M: Serialize + Sync> Evaluator<I, O, M> for Equals {
    fn name(&self) -> String {
        "Equals".into()
    }
    fn args(&self) -> Value {
        to_args(self)
    }
    fn evaluate<'a>(
        &'a self,
        ctx: &'a EvaluatorContext<'a, I, O, M>,
    ) -> BoxFuture<'a, EvaluatorOutput> {
        ready(ctx.output_json().map(|out| {
            let passed = out == self.value;
            let r = EvaluationResult::assertion("Equals", passed);
            vec![if passed {
                r
            } else {
                r.with_reason(format!("{out} != {}", self.value))
            }]
        }))
    }
}

/// Passes when the output equals the case's expected output (compared as JSON); says
/// nothing for a case without one. File form: `EqualsExpected`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EqualsExpected;

impl<I: Serialize + Sync, O: Serialize + Sync, M: Serialize + Sync> Evaluator<I, O, M>
    for EqualsExpected
{
    fn name(&self) -> String {
        "EqualsExpected".into()
    }
    fn evaluate<'a>(
        &'a self,
        ctx: &'a EvaluatorContext<'a, I, O, M>,
    ) -> BoxFuture<'a, EvaluatorOutput> {
        let out = (|| {
            let Some(expected) = ctx.expected_output_json()? else {
                return Ok(Vec::new());
            };
            let out = ctx.output_json()?;
            let passed = out == expected;
            let r = EvaluationResult::assertion("EqualsExpected", passed);
            Ok(vec![if passed {
                r
            } else {
                r.with_reason(format!("expected {expected}, got {out}"))
            }])
        })();
        ready(out)
    }
}

fn default_true() -> bool {
    true
}

/// Passes when the output contains a value: a substring of a string output, an element
/// of a list, or a key (or a sub-map, all of whose entries match) of a map. File form:
/// `{Contains: VALUE}` or `{Contains: {value: VALUE, case_sensitive: false}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contains {
    /// What the output must contain.
    pub value: Value,
    /// Whether string comparison is case sensitive (default `true`).
    #[serde(default = "default_true")]
    pub case_sensitive: bool,
}

impl Contains {
    /// Passes when the output contains `value` (case sensitive).
    pub fn new(value: impl Into<Value>) -> Self {
        Contains {
            value: value.into(),
            case_sensitive: true,
        }
    }
    /// Compare strings ignoring case.
    pub fn case_insensitive(mut self) -> Self {
        self.case_sensitive = false;
        self
    }

    fn check(&self, out: &Value) -> Result<(), String> {
        let fold = |s: &str| {
            if self.case_sensitive {
                s.to_owned()
            } else {
                s.to_lowercase()
            }
        };
        match (out, &self.value) {
            (Value::String(s), Value::String(needle)) => {
                if fold(s).contains(&fold(needle)) {
                    Ok(())
                } else {
                    Err(format!("{out} does not contain {}", self.value))
                }
            }
            (Value::Array(items), needle) => {
                if items.iter().any(|i| i == needle) {
                    Ok(())
                } else {
                    Err(format!("{} is not an element of the output", self.value))
                }
            }
            (Value::Object(map), Value::String(key)) => {
                if map.contains_key(key) {
                    Ok(())
                } else {
                    Err(format!("the output has no key {key:?}"))
                }
            }
            (Value::Object(map), Value::Object(sub)) => {
                for (k, v) in sub {
                    match map.get(k) {
                        Some(have) if have == v => {}
                        Some(have) => {
                            return Err(format!("key {k:?}: expected {v}, got {have}"));
                        }
                        None => return Err(format!("the output has no key {k:?}")),
                    }
                }
                Ok(())
            }
            (other, _) => Err(format!(
                "cannot look for {} in {}",
                self.value,
                json_type(other)
            )),
        }
    }
}

impl<I: Serialize + Sync, O: Serialize + Sync, M: Serialize + Sync> Evaluator<I, O, M>
    for Contains
{
    fn name(&self) -> String {
        "Contains".into()
    }
    fn args(&self) -> Value {
        if self.case_sensitive {
            json!({ "value": self.value })
        } else {
            to_args(self)
        }
    }
    fn evaluate<'a>(
        &'a self,
        ctx: &'a EvaluatorContext<'a, I, O, M>,
    ) -> BoxFuture<'a, EvaluatorOutput> {
        ready(ctx.output_json().map(|out| {
            vec![match self.check(&out) {
                Ok(()) => EvaluationResult::assertion("Contains", true),
                Err(why) => EvaluationResult::assertion("Contains", false).with_reason(why),
            }]
        }))
    }
}

/// The JSON type name of a value (`integer` for whole numbers).
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Passes when the output's JSON type is the one named: `string`, `number` (any number),
/// `integer`, `boolean`, `array`, `object` or `null`. File form: `{IsType: string}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsType {
    /// The JSON type's name.
    #[serde(rename = "type")]
    pub type_name: String,
}

impl IsType {
    /// Passes when the output is of JSON type `type_name`.
    pub fn new(type_name: impl Into<String>) -> Self {
        IsType {
            type_name: type_name.into(),
        }
    }
}

impl<I: Serialize + Sync, O: Serialize + Sync, M: Serialize + Sync> Evaluator<I, O, M> for IsType {
    fn name(&self) -> String {
        "IsType".into()
    }
    fn args(&self) -> Value {
        to_args(self)
    }
    fn evaluate<'a>(
        &'a self,
        ctx: &'a EvaluatorContext<'a, I, O, M>,
    ) -> BoxFuture<'a, EvaluatorOutput> {
        ready(ctx.output_json().map(|out| {
            let actual = json_type(&out);
            let passed =
                actual == self.type_name || (self.type_name == "number" && actual == "integer");
            let r = EvaluationResult::assertion("IsType", passed);
            vec![if passed {
                r
            } else {
                r.with_reason(format!("expected {}, got {actual}", self.type_name))
            }]
        }))
    }
}

/// Passes when the output validates against a JSON schema. File form:
/// `{ValidSchema: {type: object, required: [city]}}`.
#[derive(Clone)]
pub struct ValidSchema {
    schema: Value,
    validator: std::sync::Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for ValidSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidSchema")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl ValidSchema {
    /// Passes when the output validates against `schema`; an invalid schema is an error.
    pub fn new(schema: Value) -> Result<Self, EvalError> {
        let validator =
            jsonschema::validator_for(&schema).map_err(|e| EvalError::Schema(e.to_string()))?;
        Ok(ValidSchema {
            schema,
            validator: std::sync::Arc::new(validator),
        })
    }
    /// Passes when the output validates against the schema of `T` (schemars).
    pub fn of<T: schemars::JsonSchema>() -> Result<Self, EvalError> {
        Self::new(schemars::schema_for!(T).to_value())
    }
}

impl<I: Serialize + Sync, O: Serialize + Sync, M: Serialize + Sync> Evaluator<I, O, M>
    for ValidSchema
{
    fn name(&self) -> String {
        "ValidSchema".into()
    }
    fn args(&self) -> Value {
        self.schema.clone()
    }
    fn evaluate<'a>(
        &'a self,
        ctx: &'a EvaluatorContext<'a, I, O, M>,
    ) -> BoxFuture<'a, EvaluatorOutput> {
        ready(ctx.output_json().map(|out| {
            let errors: Vec<String> = self
                .validator
                .iter_errors(&out)
                .map(|e| {
                    let at = e.instance_path().to_string();
                    if at.is_empty() {
                        e.to_string()
                    } else {
                        format!("{at}: {e}")
                    }
                })
                .collect();
            let r = EvaluationResult::assertion("ValidSchema", errors.is_empty());
            vec![if errors.is_empty() {
                r
            } else {
                r.with_reason(errors.join("; "))
            }]
        }))
    }
}

/// Passes when the task took at most this long. File form: `{MaxDuration: 2.5}`
/// (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxDuration {
    /// The limit, in seconds.
    pub seconds: f64,
}

impl MaxDuration {
    /// Passes when the task took at most `limit`.
    pub fn new(limit: Duration) -> Self {
        MaxDuration {
            seconds: limit.as_secs_f64(),
        }
    }
}

impl<I: Sync, O: Sync, M: Sync> Evaluator<I, O, M> for MaxDuration {
    fn name(&self) -> String {
        "MaxDuration".into()
    }
    fn args(&self) -> Value {
        json!(self.seconds)
    }
    fn evaluate<'a>(
        &'a self,
        ctx: &'a EvaluatorContext<'a, I, O, M>,
    ) -> BoxFuture<'a, EvaluatorOutput> {
        let took = ctx.duration.as_secs_f64();
        let passed = took <= self.seconds;
        let r = EvaluationResult::assertion("MaxDuration", passed);
        ready(Ok(vec![if passed {
            r
        } else {
            r.with_reason(format!("took {took:.3}s, more than {}s", self.seconds))
        }]))
    }
}

/// Checks the tools the agent called (from the recorded messages; output tools are not
/// counted). File form: `{ToolsCalled: [a, b]}` (each called, in any order) or
/// `{ToolsCalled: {tools: [a, b], order: true, exact: true}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolsCalled {
    /// The tools.
    pub tools: Vec<String>,
    /// The tools must have been called in this order (as a subsequence, or exactly
    /// this sequence when `exact`).
    #[serde(default)]
    pub order: bool,
    /// No other tools may have been called.
    #[serde(default)]
    pub exact: bool,
}

impl ToolsCalled {
    /// Passes when each of `tools` was called, in any order, others allowed.
    pub fn new<S: Into<String>>(tools: impl IntoIterator<Item = S>) -> Self {
        ToolsCalled {
            tools: tools.into_iter().map(Into::into).collect(),
            order: false,
            exact: false,
        }
    }
    /// The calls must come in this order.
    pub fn in_order(mut self) -> Self {
        self.order = true;
        self
    }
    /// No other tool may have been called (with `in_order`: exactly this sequence).
    pub fn exactly(mut self) -> Self {
        self.exact = true;
        self
    }

    fn check(&self, called: &[&str]) -> Result<(), String> {
        if self.order {
            if self.exact {
                let want: Vec<&str> = self.tools.iter().map(String::as_str).collect();
                return if want == called {
                    Ok(())
                } else {
                    Err(format!("called {called:?}, expected exactly {want:?}"))
                };
            }
            let mut rest = called.iter();
            for t in &self.tools {
                if !rest.any(|c| c == t) {
                    return Err(format!(
                        "called {called:?}, expected {:?} in order",
                        self.tools
                    ));
                }
            }
            return Ok(());
        }
        let missing: Vec<&String> = self
            .tools
            .iter()
            .filter(|t| !called.contains(&t.as_str()))
            .collect();
        if !missing.is_empty() {
            return Err(format!("not called: {missing:?} (called {called:?})"));
        }
        if self.exact {
            let extra: Vec<&&str> = called
                .iter()
                .filter(|c| !self.tools.iter().any(|t| t == **c))
                .collect();
            if !extra.is_empty() {
                return Err(format!("unexpected calls: {extra:?}"));
            }
        }
        Ok(())
    }
}

impl<I: Sync, O: Sync, M: Sync> Evaluator<I, O, M> for ToolsCalled {
    fn name(&self) -> String {
        "ToolsCalled".into()
    }
    fn args(&self) -> Value {
        if !self.order && !self.exact {
            json!(self.tools)
        } else {
            to_args(self)
        }
    }
    fn evaluate<'a>(
        &'a self,
        ctx: &'a EvaluatorContext<'a, I, O, M>,
    ) -> BoxFuture<'a, EvaluatorOutput> {
        let called = ctx.tool_calls();
        ready(Ok(vec![match self.check(&called) {
            Ok(()) => EvaluationResult::assertion("ToolsCalled", true),
            Err(why) => EvaluationResult::assertion("ToolsCalled", false).with_reason(why),
        }]))
    }
}

/// Passes when the agent made at most this many function-tool calls (recorded
/// messages). File form: `{MaxToolCalls: 3}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxToolCalls {
    /// The limit.
    pub max: u64,
}

impl<I: Sync, O: Sync, M: Sync> Evaluator<I, O, M> for MaxToolCalls {
    fn name(&self) -> String {
        "MaxToolCalls".into()
    }
    fn args(&self) -> Value {
        json!(self.max)
    }
    fn evaluate<'a>(
        &'a self,
        ctx: &'a EvaluatorContext<'a, I, O, M>,
    ) -> BoxFuture<'a, EvaluatorOutput> {
        let n = ctx.tool_calls().len() as u64;
        let r = EvaluationResult::assertion("MaxToolCalls", n <= self.max);
        ready(Ok(vec![if n <= self.max {
            r
        } else {
            r.with_reason(format!("{n} tool calls, more than {}", self.max))
        }]))
    }
}

/// Passes when the agent made at most this many model requests (the recorded usage,
/// else the responses in the recorded messages). File form: `{MaxModelRequests: 2}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxModelRequests {
    /// The limit.
    pub max: u64,
}

impl<I: Sync, O: Sync, M: Sync> Evaluator<I, O, M> for MaxModelRequests {
    fn name(&self) -> String {
        "MaxModelRequests".into()
    }
    fn args(&self) -> Value {
        json!(self.max)
    }
    fn evaluate<'a>(
        &'a self,
        ctx: &'a EvaluatorContext<'a, I, O, M>,
    ) -> BoxFuture<'a, EvaluatorOutput> {
        let n = ctx.model_requests();
        let r = EvaluationResult::assertion("MaxModelRequests", n <= self.max);
        ready(Ok(vec![if n <= self.max {
            r
        } else {
            r.with_reason(format!("{n} model requests, more than {}", self.max))
        }]))
    }
}
