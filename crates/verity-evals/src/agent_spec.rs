//! [`AgentSpec`]: an agent described in a dataset file, so that a file alone is
//! runnable (`verity eval run`).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use verity::{Agent, IntoModel, ModelRef, OutputSpec};

/// The agent a dataset is meant for: the model string, the instructions and the
/// output's JSON schema. The task it makes runs the agent with each case's inputs as the
/// prompt (a string as it is, anything else as JSON) and returns the output as JSON (a
/// string for text output).
///
/// ```yaml
/// agent:
///   model: openai:gpt-4o
///   instructions: Answer with the city and country.
///   output_schema:
///     type: object
///     properties: {city: {type: string}, country: {type: string}}
///     required: [city, country]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// A model string (`openai:gpt-4o`, `test`, ...); a caller may override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The agent's instructions (system prompt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// A JSON schema for structured output; without one the output is text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
}

/// A task over JSON inputs and outputs, as [`AgentSpec::task`] makes.
pub type JsonTask =
    Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Value, verity::Error>> + Send + Sync>;

/// The prompt for a case's inputs: a string as it is, anything else as pretty JSON.
pub fn prompt_of(inputs: &Value) -> String {
    match inputs {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string()),
    }
}

impl AgentSpec {
    /// The model the spec names, resolved with [`verity::infer_model`].
    pub fn model(&self) -> Option<Result<ModelRef, verity::Error>> {
        self.model.as_deref().map(verity::infer_model)
    }

    /// The task: run the agent on `model` with each case's inputs as the prompt; the
    /// run's messages are recorded for the trajectory evaluators.
    pub fn task(&self, model: impl IntoModel) -> JsonTask {
        let model = model.into_model();
        match &self.output_schema {
            Some(schema) => {
                let name = schema
                    .get("title")
                    .and_then(Value::as_str)
                    .filter(|t| {
                        !t.is_empty()
                            && t.chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    })
                    .unwrap_or("final_result")
                    .to_owned();
                let description = schema
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("The final answer.")
                    .to_owned();
                let mut b = Agent::builder(model).output_spec(OutputSpec::from_schema(
                    name,
                    description,
                    schema.clone(),
                ));
                if let Some(i) = &self.instructions {
                    b = b.instructions(i.clone());
                }
                let agent = b.build();
                Arc::new(move |inputs: Value| {
                    let agent = agent.clone();
                    Box::pin(async move {
                        let result = agent.run(prompt_of(&inputs)).await?;
                        crate::run::record_run(&result);
                        Ok(result.output)
                    })
                })
            }
            None => {
                let mut b = Agent::builder(model);
                if let Some(i) = &self.instructions {
                    b = b.instructions(i.clone());
                }
                let agent = b.build();
                Arc::new(move |inputs: Value| {
                    let agent = agent.clone();
                    Box::pin(async move {
                        let result = agent.run(prompt_of(&inputs)).await?;
                        crate::run::record_run(&result);
                        Ok(Value::String(result.output))
                    })
                })
            }
        }
    }
}
