//! [`Registry`]: evaluator names in dataset files, resolved to evaluators.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use verity::{IntoModel, ModelRef};

use crate::builtins::{
    Contains, Equals, EqualsExpected, IsType, MaxDuration, MaxModelRequests, MaxToolCalls,
    ToolsCalled, ValidSchema, parse_args,
};
use crate::error::EvalError;
use crate::evaluator::{Evaluator, EvaluatorSpec};
use crate::judge::{JudgeArgs, LlmJudge};

/// A shared evaluator.
pub type DynEvaluator<I, O, M> = Arc<dyn Evaluator<I, O, M>>;

/// Makes an evaluator from its arguments in a file; see [`Registry::register`].
pub type Factory<I, O, M> = Arc<
    dyn Fn(&Value, &Registry<I, O, M>) -> Result<DynEvaluator<I, O, M>, EvalError> + Send + Sync,
>;

/// The names of the built-in evaluators.
pub const BUILTIN_NAMES: &[&str] = &[
    "Equals",
    "EqualsExpected",
    "Contains",
    "IsType",
    "ValidSchema",
    "MaxDuration",
    "LLMJudge",
    "ToolsCalled",
    "MaxToolCalls",
    "MaxModelRequests",
];

/// Evaluator names and how to make each from its file arguments: the built-ins
/// ([`Registry::new`]) plus the user's ([`register`](Self::register)).
///
/// ```
/// use verity_evals::{EvaluatorContext, Registry, evaluator_fn};
///
/// type Ctx<'a> = EvaluatorContext<'a, String, String, ()>;
/// let registry = Registry::<String, String, ()>::new().register("NonEmpty", |_args, _| {
///     Ok(std::sync::Arc::new(evaluator_fn("NonEmpty", |ctx: &Ctx<'_>| !ctx.output.is_empty())))
/// });
/// assert!(registry.names().contains(&"NonEmpty".to_owned()));
/// ```
pub struct Registry<I, O, M> {
    factories: BTreeMap<String, Factory<I, O, M>>,
    judge_model: Option<ModelRef>,
}

impl<I, O, M> Clone for Registry<I, O, M> {
    fn clone(&self) -> Self {
        Registry {
            factories: self.factories.clone(),
            judge_model: self.judge_model.clone(),
        }
    }
}

impl<I, O, M> std::fmt::Debug for Registry<I, O, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("names", &self.names())
            .finish_non_exhaustive()
    }
}

impl<I, O, M> Default for Registry<I, O, M>
where
    I: Serialize + Send + Sync + 'static,
    O: Serialize + Send + Sync + 'static,
    M: Serialize + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<I, O, M> Registry<I, O, M> {
    /// A registry with no evaluators at all.
    pub fn empty() -> Self {
        Registry {
            factories: BTreeMap::new(),
            judge_model: None,
        }
    }

    /// Add (or replace) an evaluator name. The factory gets the arguments written in the
    /// file (`null` when there are none) and the registry.
    pub fn register<F>(mut self, name: impl Into<String>, factory: F) -> Self
    where
        F: Fn(&Value, &Registry<I, O, M>) -> Result<DynEvaluator<I, O, M>, EvalError>
            + Send
            + Sync
            + 'static,
    {
        self.factories.insert(name.into(), Arc::new(factory));
        self
    }

    /// The model of LLM judges whose file entry names none.
    pub fn judge_model(mut self, model: impl IntoModel) -> Self {
        self.judge_model = Some(model.into_model());
        self
    }

    /// The default judge model, if one is set.
    pub fn default_judge_model(&self) -> Option<&ModelRef> {
        self.judge_model.as_ref()
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.factories.keys().cloned().collect()
    }

    /// Make the evaluator a file entry names.
    pub fn resolve(&self, spec: &EvaluatorSpec) -> Result<DynEvaluator<I, O, M>, EvalError> {
        match self.factories.get(&spec.name) {
            Some(f) => f(&spec.args, self),
            None => Err(EvalError::UnknownEvaluator {
                name: spec.name.clone(),
                known: self.names().join(", "),
            }),
        }
    }
}

impl<I, O, M> Registry<I, O, M>
where
    I: Serialize + Send + Sync + 'static,
    O: Serialize + Send + Sync + 'static,
    M: Serialize + Send + Sync + 'static,
{
    /// The built-in evaluators ([`BUILTIN_NAMES`]).
    pub fn new() -> Self {
        Self::empty()
            .register("Equals", |a, _| {
                Ok(Arc::new(parse_args::<Equals>("Equals", a, Some("value"))?))
            })
            .register("EqualsExpected", |_, _| Ok(Arc::new(EqualsExpected)))
            .register("Contains", |a, _| {
                Ok(Arc::new(parse_args::<Contains>(
                    "Contains",
                    a,
                    Some("value"),
                )?))
            })
            .register("IsType", |a, _| {
                Ok(Arc::new(parse_args::<IsType>("IsType", a, Some("type"))?))
            })
            .register("ValidSchema", |a, _| {
                Ok(Arc::new(ValidSchema::new(a.clone())?))
            })
            .register("MaxDuration", |a, _| {
                Ok(Arc::new(parse_args::<MaxDuration>(
                    "MaxDuration",
                    a,
                    Some("seconds"),
                )?))
            })
            .register("ToolsCalled", |a, _| {
                Ok(Arc::new(parse_args::<ToolsCalled>(
                    "ToolsCalled",
                    a,
                    Some("tools"),
                )?))
            })
            .register("MaxToolCalls", |a, _| {
                Ok(Arc::new(parse_args::<MaxToolCalls>(
                    "MaxToolCalls",
                    a,
                    Some("max"),
                )?))
            })
            .register("MaxModelRequests", |a, _| {
                Ok(Arc::new(parse_args::<MaxModelRequests>(
                    "MaxModelRequests",
                    a,
                    Some("max"),
                )?))
            })
            .register("LLMJudge", |a, registry| {
                let args: JudgeArgs = parse_args("LLMJudge", a, Some("rubric"))?;
                let model =
                    match &args.model {
                        Some(name) => verity::infer_model(name)?,
                        None => registry.judge_model.clone().ok_or_else(|| {
                            EvalError::EvaluatorArgs {
                                name: "LLMJudge".into(),
                                message: "no model: give `model:` in the file or set \
                                      Registry::judge_model"
                                    .into(),
                            }
                        })?,
                    };
                Ok(Arc::new(
                    LlmJudge::new(args.rubric, model)
                        .include_input(args.include_input)
                        .include_expected_output(args.include_expected_output)
                        .with_model_name(args.model),
                ))
            })
    }
}
