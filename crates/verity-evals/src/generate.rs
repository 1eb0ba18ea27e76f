//! [`generate_dataset`]: a draft dataset written by a model from the types' schemas and
//! a description.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use verity::{Agent, IntoModel, OutputMode, OutputSpec};

use crate::dataset::{Case, Dataset};
use crate::error::EvalError;

#[derive(Deserialize)]
#[serde(bound(deserialize = "I: DeserializeOwned, O: DeserializeOwned, M: DeserializeOwned"))]
struct Generated<I, O, M> {
    cases: Vec<GeneratedCase<I, O, M>>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "I: DeserializeOwned, O: DeserializeOwned, M: DeserializeOwned"))]
struct GeneratedCase<I, O, M> {
    name: String,
    inputs: I,
    #[serde(default = "none")]
    expected_output: Option<O>,
    #[serde(default = "none")]
    metadata: Option<M>,
}

fn none<T>() -> Option<T> {
    None
}

/// The schema of the generation's output: `{cases: [{name, inputs, expected_output,
/// metadata}]}` with the types' schemas.
pub fn generation_schema<I: JsonSchema, O: JsonSchema, M: JsonSchema>() -> Value {
    let mut generator = schemars::SchemaGenerator::default();
    let inputs = generator.subschema_for::<I>().to_value();
    let output = generator.subschema_for::<O>().to_value();
    let metadata = generator.subschema_for::<M>().to_value();
    let defs = generator.take_definitions(true);
    let mut schema = json!({
        "type": "object",
        "properties": {
            "cases": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "description": "A unique snake_case name for the case."},
                        "inputs": inputs,
                        "expected_output": output,
                        "metadata": metadata
                    },
                    "required": ["name", "inputs", "expected_output"]
                }
            }
        },
        "required": ["cases"]
    });
    if !defs.is_empty() {
        if let Some(obj) = schema.as_object_mut() {
            obj.insert("$defs".into(), Value::Object(defs));
        }
    }
    schema
}

/// Ask `model` for `n` cases of a dataset of these types, described by `description`.
/// A Verity agent with the cases' JSON schema as its structured output does the
/// writing; duplicate names get a suffix. The result is a draft: save it with
/// [`Dataset::to_file`], read it, and add evaluators.
///
/// ```
/// use verity::prelude::*;
/// use verity_evals::generate::generate_dataset;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // TestModel answers with arguments generated from the schema
/// let dataset = generate_dataset::<String, String, ()>(TestModel::new(), "greetings", 3)
///     .await
///     .unwrap();
/// assert!(!dataset.cases.is_empty());
/// # });
/// ```
pub async fn generate_dataset<I, O, M>(
    model: impl IntoModel,
    description: &str,
    n: usize,
) -> Result<Dataset<I, O, M>, EvalError>
where
    I: DeserializeOwned + JsonSchema + Send + Sync + 'static,
    O: DeserializeOwned + JsonSchema + Send + Sync + 'static,
    M: DeserializeOwned + JsonSchema + Send + Sync + 'static,
{
    generate_dataset_with(model, description, n, None).await
}

/// [`generate_dataset`] with the output asked for in `mode` (e.g.
/// [`OutputMode::Native`] for a model that cannot call tools).
pub async fn generate_dataset_with<I, O, M>(
    model: impl IntoModel,
    description: &str,
    n: usize,
    mode: Option<OutputMode>,
) -> Result<Dataset<I, O, M>, EvalError>
where
    I: DeserializeOwned + JsonSchema + Send + Sync + 'static,
    O: DeserializeOwned + JsonSchema + Send + Sync + 'static,
    M: DeserializeOwned + JsonSchema + Send + Sync + 'static,
{
    let spec = OutputSpec::from_schema(
        "dataset",
        "The generated test cases.",
        generation_schema::<I, O, M>(),
    );
    let spec = match mode {
        Some(m) => spec.with_mode(m),
        None => spec,
    };
    let agent = Agent::builder(model)
        .instructions(
            "You write test cases for evaluating an AI system. Each case has a unique \
             snake_case name, inputs, the expected output and metadata, each matching \
             its JSON schema. Cover typical cases and edge cases.",
        )
        .output_spec(spec)
        .output_retries(3)
        .build();
    let prompt = format!("Write {n} test cases for this system:\n\n{description}");
    let value = agent.run(prompt).await?.output;
    let generated: Generated<I, O, M> = serde_json::from_value(value)?;
    let mut seen = BTreeSet::new();
    let mut cases = Vec::with_capacity(generated.cases.len());
    for (i, c) in generated.cases.into_iter().enumerate() {
        let base = if c.name.trim().is_empty() {
            format!("case_{}", i + 1)
        } else {
            c.name.trim().to_owned()
        };
        let mut name = base.clone();
        let mut k = 2;
        while !seen.insert(name.clone()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        cases.push(Case {
            name,
            inputs: c.inputs,
            expected_output: c.expected_output,
            metadata: c.metadata,
            evaluators: Vec::new(),
        });
    }
    Ok(Dataset::new(cases))
}
