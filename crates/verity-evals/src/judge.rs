//! [`LlmJudge`]: a model grades the output against a rubric.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use verity::{Agent, IntoModel, ModelRef, ModelSettings, OutputMode};

use crate::evaluator::{EvaluationResult, Evaluator, EvaluatorContext, EvaluatorOutput};

/// What the judge model answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GradingOutput {
    /// Why the output passes or fails, in a sentence or two. At most 500 characters:
    /// the bound also stops a small model that repeats itself (with native output, the
    /// server's grammar enforces it).
    #[schemars(length(max = 500))]
    pub reason: String,
    /// Whether the output satisfies the rubric.
    pub pass: bool,
    /// How well the output satisfies the rubric, from 0.0 (not at all) to 1.0 (fully).
    pub score: f64,
}

const INSTRUCTIONS: &str = "You are grading output according to a user-specified rubric. \
If the statement in the rubric is true of the output, the output passes the test. \
Respond with a reason (one or two sentences), whether the output passes (pass), and a \
score from 0.0 (the rubric is not met at all) to 1.0 (fully met).";

/// An LLM judge: a Verity agent with [`GradingOutput`] as its structured output is
/// shown the output (and, when asked, the inputs and the expected output) and the
/// rubric. It gives an assertion (`pass`, with the judge's reason) and a score, both
/// named after the judge (`LLMJudge` unless [`named`](Self::named)).
///
/// File form: `{LLMJudge: {rubric: "...", model: "openai:gpt-4o", include_input: true,
/// include_expected_output: true}}` (or `{LLMJudge: "rubric"}`); without `model`, the
/// registry's [`judge_model`](crate::Registry::judge_model) is used.
#[derive(Clone)]
pub struct LlmJudge {
    rubric: String,
    model: ModelRef,
    model_name: Option<String>,
    include_input: bool,
    include_expected_output: bool,
    result_name: String,
    agent: Agent<(), GradingOutput>,
}

impl std::fmt::Debug for LlmJudge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmJudge")
            .field("rubric", &self.rubric)
            .field("model", &self.model.model_name())
            .field("include_input", &self.include_input)
            .field("include_expected_output", &self.include_expected_output)
            .finish_non_exhaustive()
    }
}

fn build_agent(
    model: ModelRef,
    mode: Option<OutputMode>,
    settings: ModelSettings,
) -> Agent<(), GradingOutput> {
    let b = Agent::builder(model)
        .instructions(INSTRUCTIONS)
        .output::<GradingOutput>()
        .output_retries(2)
        .settings(settings);
    match mode {
        Some(m) => b.output_mode(m).build(),
        None => b.build(),
    }
}

impl LlmJudge {
    /// A judge of `rubric` on `model` (the output through the model's default output
    /// mode, temperature 0).
    pub fn new(rubric: impl Into<String>, model: impl IntoModel) -> Self {
        let model = model.into_model();
        LlmJudge {
            rubric: rubric.into(),
            agent: build_agent(model.clone(), None, Self::default_settings()),
            model,
            model_name: None,
            include_input: false,
            include_expected_output: false,
            result_name: "LLMJudge".into(),
        }
    }

    fn default_settings() -> ModelSettings {
        ModelSettings::new().temperature(0.0)
    }

    /// Show the judge the case's inputs.
    pub fn include_input(mut self, yes: bool) -> Self {
        self.include_input = yes;
        self
    }
    /// Show the judge the case's expected output.
    pub fn include_expected_output(mut self, yes: bool) -> Self {
        self.include_expected_output = yes;
        self
    }
    /// Name the results (default `LLMJudge`), e.g. when a dataset has several judges.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.result_name = name.into();
        self
    }
    /// Ask for the grading in this output mode (e.g. [`OutputMode::Native`] for a model
    /// that cannot call tools) and with these settings.
    pub fn with_output(mut self, mode: OutputMode, settings: ModelSettings) -> Self {
        self.agent = build_agent(self.model.clone(), Some(mode), settings);
        self
    }
    /// Remember the model string this judge was made from (written back to files).
    pub(crate) fn with_model_name(mut self, name: Option<String>) -> Self {
        self.model_name = name;
        self
    }

    /// The prompt the judge is sent.
    pub fn prompt(
        &self,
        inputs: Option<&Value>,
        output: &Value,
        expected: Option<&Value>,
    ) -> String {
        let mut p = String::new();
        if let Some(i) = inputs {
            p.push_str(&format!("<Input>\n{}\n</Input>\n", show(i)));
        }
        p.push_str(&format!("<Output>\n{}\n</Output>\n", show(output)));
        if let Some(e) = expected {
            p.push_str(&format!(
                "<ExpectedOutput>\n{}\n</ExpectedOutput>\n",
                show(e)
            ));
        }
        p.push_str(&format!("<Rubric>\n{}\n</Rubric>", self.rubric));
        p
    }

    /// Grade one output.
    pub async fn grade(
        &self,
        inputs: Option<&Value>,
        output: &Value,
        expected: Option<&Value>,
    ) -> Result<GradingOutput, verity::Error> {
        let prompt = self.prompt(inputs, output, expected);
        Ok(self.agent.run(prompt).await?.output)
    }
}

/// Strings as they are, anything else as JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl<I: Serialize + Sync, O: Serialize + Sync, M: Serialize + Sync> Evaluator<I, O, M>
    for LlmJudge
{
    fn name(&self) -> String {
        "LLMJudge".into()
    }
    fn args(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("rubric".into(), json!(self.rubric));
        if let Some(name) = &self.model_name {
            m.insert("model".into(), json!(name));
        }
        if self.include_input {
            m.insert("include_input".into(), json!(true));
        }
        if self.include_expected_output {
            m.insert("include_expected_output".into(), json!(true));
        }
        Value::Object(m)
    }
    fn evaluate<'a>(
        &'a self,
        ctx: &'a EvaluatorContext<'a, I, O, M>,
    ) -> BoxFuture<'a, EvaluatorOutput> {
        Box::pin(async move {
            let output = ctx.output_json()?;
            let inputs = if self.include_input {
                Some(ctx.inputs_json()?)
            } else {
                None
            };
            let expected = if self.include_expected_output {
                ctx.expected_output_json()?
            } else {
                None
            };
            let grade = self
                .grade(inputs.as_ref(), &output, expected.as_ref())
                .await?;
            let score = if grade.score.is_finite() {
                grade.score.clamp(0.0, 1.0)
            } else {
                0.0
            };
            Ok(vec![
                EvaluationResult::assertion(self.result_name.clone(), grade.pass)
                    .with_reason(grade.reason.clone()),
                EvaluationResult::score(self.result_name.clone(), score).with_reason(grade.reason),
            ])
        })
    }
}

/// The file form's arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JudgeArgs {
    pub rubric: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub include_input: bool,
    #[serde(default)]
    pub include_expected_output: bool,
}
