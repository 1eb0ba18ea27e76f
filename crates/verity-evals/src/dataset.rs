//! [`Dataset`] and [`Case`]: what to evaluate, loaded from and saved to YAML or JSON
//! with a JSON schema beside the file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::agent_spec::AgentSpec;
use crate::error::EvalError;
use crate::evaluator::{Evaluator, EvaluatorSpec};
use crate::registry::{BUILTIN_NAMES, DynEvaluator, Registry};

/// One case: a name, the task's inputs, optionally the expected output and metadata,
/// and evaluators that apply to this case only.
pub struct Case<I, O, M = ()> {
    /// A unique name within the dataset.
    pub name: String,
    /// The task's inputs.
    pub inputs: I,
    /// What the task should return, if known.
    pub expected_output: Option<O>,
    /// Anything else about the case (difficulty, source, ...).
    pub metadata: Option<M>,
    /// Evaluators run for this case only, after the dataset's.
    pub evaluators: Vec<DynEvaluator<I, O, M>>,
}

impl<I, O, M> Clone for Case<I, O, M>
where
    I: Clone,
    O: Clone,
    M: Clone,
{
    fn clone(&self) -> Self {
        Case {
            name: self.name.clone(),
            inputs: self.inputs.clone(),
            expected_output: self.expected_output.clone(),
            metadata: self.metadata.clone(),
            evaluators: self.evaluators.clone(),
        }
    }
}

impl<I: std::fmt::Debug, O: std::fmt::Debug, M: std::fmt::Debug> std::fmt::Debug for Case<I, O, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("inputs", &self.inputs)
            .field("expected_output", &self.expected_output)
            .field("metadata", &self.metadata)
            .field(
                "evaluators",
                &self.evaluators.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<I, O, M> Case<I, O, M> {
    /// A case with no expected output, metadata or evaluators.
    pub fn new(name: impl Into<String>, inputs: I) -> Self {
        Case {
            name: name.into(),
            inputs,
            expected_output: None,
            metadata: None,
            evaluators: Vec::new(),
        }
    }
    /// With the expected output.
    pub fn expected_output(mut self, output: O) -> Self {
        self.expected_output = Some(output);
        self
    }
    /// With metadata.
    pub fn metadata(mut self, metadata: M) -> Self {
        self.metadata = Some(metadata);
        self
    }
    /// With an evaluator for this case.
    pub fn evaluator(mut self, e: impl Evaluator<I, O, M> + 'static) -> Self {
        self.evaluators.push(Arc::new(e));
        self
    }
}

/// Cases and the evaluators applied to every case.
///
/// `I` is the task's inputs, `O` its output, `M` the cases' metadata. In files, the
/// dataset is:
///
/// ```yaml
/// # yaml-language-server: $schema=capitals_schema.json
/// name: capitals
/// cases:
///   - name: france
///     inputs: What is the capital of France?
///     expected_output: Paris
///     metadata: {difficulty: easy}
///     evaluators:
///       - {Contains: Paris}
/// evaluators:
///   - EqualsExpected
///   - {MaxDuration: 2.0}
/// ```
pub struct Dataset<I, O, M = ()> {
    /// The dataset's name (the report's title).
    pub name: Option<String>,
    /// The cases, in order.
    pub cases: Vec<Case<I, O, M>>,
    /// Evaluators run for every case.
    pub evaluators: Vec<DynEvaluator<I, O, M>>,
    /// The agent the dataset is meant for, if the file says (used by `verity eval run`).
    pub agent: Option<AgentSpec>,
}

impl<I, O, M> Clone for Dataset<I, O, M>
where
    I: Clone,
    O: Clone,
    M: Clone,
{
    fn clone(&self) -> Self {
        Dataset {
            name: self.name.clone(),
            cases: self.cases.clone(),
            evaluators: self.evaluators.clone(),
            agent: self.agent.clone(),
        }
    }
}

impl<I: std::fmt::Debug, O: std::fmt::Debug, M: std::fmt::Debug> std::fmt::Debug
    for Dataset<I, O, M>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("name", &self.name)
            .field("cases", &self.cases)
            .field(
                "evaluators",
                &self.evaluators.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .field("agent", &self.agent)
            .finish()
    }
}

impl<I, O, M> Default for Dataset<I, O, M> {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

/// A case as written in a file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(
    serialize = "I: Serialize, O: Serialize, M: Serialize",
    deserialize = "I: DeserializeOwned, O: DeserializeOwned, M: DeserializeOwned"
))]
struct CaseFile<I, O, M> {
    name: String,
    inputs: I,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected_output: Option<O>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<M>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    evaluators: Vec<EvaluatorSpec>,
}

/// A dataset as written in a file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(
    serialize = "I: Serialize, O: Serialize, M: Serialize",
    deserialize = "I: DeserializeOwned, O: DeserializeOwned, M: DeserializeOwned"
))]
struct DatasetFile<I, O, M> {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    schema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent: Option<AgentSpec>,
    cases: Vec<CaseFile<I, O, M>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    evaluators: Vec<EvaluatorSpec>,
}

/// A dataset file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a file's extension names.
    pub fn of(path: &Path) -> Result<Self, EvalError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("yaml" | "yml") => Ok(Format::Yaml),
            Some("json") => Ok(Format::Json),
            _ => Err(EvalError::UnknownFormat(path.to_owned())),
        }
    }
}

/// Where the schema of a dataset file is written: `NAME_schema.json` beside it.
pub fn schema_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".to_owned());
    path.with_file_name(format!("{stem}_schema.json"))
}

impl<I, O, M> Dataset<I, O, M> {
    /// A dataset of these cases, without dataset-wide evaluators.
    pub fn new(cases: Vec<Case<I, O, M>>) -> Self {
        Dataset {
            name: None,
            cases,
            evaluators: Vec::new(),
            agent: None,
        }
    }
    /// With a name.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// With an evaluator applied to every case.
    pub fn evaluator(mut self, e: impl Evaluator<I, O, M> + 'static) -> Self {
        self.evaluators.push(Arc::new(e));
        self
    }
    /// With a case.
    pub fn case(mut self, case: Case<I, O, M>) -> Self {
        self.cases.push(case);
        self
    }

    fn check_names(&self) -> Result<(), EvalError> {
        let mut seen = BTreeSet::new();
        for c in &self.cases {
            if c.name.is_empty() {
                return Err(EvalError::Dataset("a case has an empty name".into()));
            }
            if !seen.insert(c.name.as_str()) {
                return Err(EvalError::Dataset(format!(
                    "two cases are named '{}'",
                    c.name
                )));
            }
        }
        Ok(())
    }
}

impl<I, O, M> Dataset<I, O, M>
where
    I: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static,
    O: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static,
    M: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static,
{
    /// Load a dataset file (YAML or JSON, by extension), resolving its evaluators with
    /// the built-in [`Registry`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, EvalError> {
        Self::from_file_with(path, &Registry::new())
    }

    /// Load a dataset file, resolving its evaluators with `registry`.
    pub fn from_file_with(
        path: impl AsRef<Path>,
        registry: &Registry<I, O, M>,
    ) -> Result<Self, EvalError> {
        let path = path.as_ref();
        let format = Format::of(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        Self::parse(&text, format, registry).map_err(|e| match e {
            EvalError::Yaml(m) => EvalError::Yaml(format!("{}: {m}", path.display())),
            EvalError::Json(m) => EvalError::Json(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Read a dataset from YAML or JSON text.
    pub fn parse(
        text: &str,
        format: Format,
        registry: &Registry<I, O, M>,
    ) -> Result<Self, EvalError> {
        let file: DatasetFile<I, O, M> = match format {
            Format::Yaml => serde_norway::from_str(text)?,
            Format::Json => serde_json::from_str(text)?,
        };
        let resolve = |specs: &[EvaluatorSpec]| -> Result<Vec<DynEvaluator<I, O, M>>, EvalError> {
            specs.iter().map(|s| registry.resolve(s)).collect()
        };
        let mut cases = Vec::with_capacity(file.cases.len());
        for c in file.cases {
            cases.push(Case {
                evaluators: resolve(&c.evaluators)?,
                name: c.name,
                inputs: c.inputs,
                expected_output: c.expected_output,
                metadata: c.metadata,
            });
        }
        let dataset = Dataset {
            name: file.name,
            cases,
            evaluators: resolve(&file.evaluators)?,
            agent: file.agent,
        };
        dataset.check_names()?;
        Ok(dataset)
    }

    fn to_file_struct(&self, schema: Option<String>) -> DatasetFile<&I, &O, &M> {
        DatasetFile {
            schema,
            name: self.name.clone(),
            agent: self.agent.clone(),
            cases: self
                .cases
                .iter()
                .map(|c| CaseFile {
                    name: c.name.clone(),
                    inputs: &c.inputs,
                    expected_output: c.expected_output.as_ref(),
                    metadata: c.metadata.as_ref(),
                    evaluators: c
                        .evaluators
                        .iter()
                        .map(|e| EvaluatorSpec::of(e.as_ref()))
                        .collect(),
                })
                .collect(),
            evaluators: self
                .evaluators
                .iter()
                .map(|e| EvaluatorSpec::of(e.as_ref()))
                .collect(),
        }
    }

    /// The dataset as YAML text (without the schema comment).
    pub fn to_yaml(&self) -> Result<String, EvalError> {
        self.check_names()?;
        Ok(serde_norway::to_string(&self.to_file_struct(None))?)
    }

    /// The dataset as pretty JSON text (without `$schema`).
    pub fn to_json(&self) -> Result<String, EvalError> {
        self.check_names()?;
        Ok(serde_json::to_string_pretty(&self.to_file_struct(None))?)
    }

    /// Save the dataset (YAML or JSON, by extension) and its JSON schema beside it
    /// ([`schema_path`]), which the file references (`# yaml-language-server: $schema=`
    /// in YAML, `"$schema"` in JSON) so that editors validate and complete it. The
    /// schema allows the built-in evaluators and those the dataset uses.
    pub fn to_file(&self, path: impl AsRef<Path>) -> Result<(), EvalError> {
        let mut names: BTreeSet<String> = BUILTIN_NAMES.iter().map(|s| (*s).to_owned()).collect();
        for e in self
            .evaluators
            .iter()
            .chain(self.cases.iter().flat_map(|c| c.evaluators.iter()))
        {
            names.insert(e.name());
        }
        let names: Vec<String> = names.into_iter().collect();
        self.to_file_with_names(path.as_ref(), &names)
    }

    /// Save as [`to_file`](Self::to_file) does, the schema allowing the evaluators of
    /// `registry` (plus those the dataset uses).
    pub fn to_file_with(
        &self,
        path: impl AsRef<Path>,
        registry: &Registry<I, O, M>,
    ) -> Result<(), EvalError> {
        let mut names: BTreeSet<String> = registry.names().into_iter().collect();
        for e in self
            .evaluators
            .iter()
            .chain(self.cases.iter().flat_map(|c| c.evaluators.iter()))
        {
            names.insert(e.name());
        }
        let names: Vec<String> = names.into_iter().collect();
        self.to_file_with_names(path.as_ref(), &names)
    }

    fn to_file_with_names(&self, path: &Path, names: &[String]) -> Result<(), EvalError> {
        self.check_names()?;
        let format = Format::of(path)?;
        let schema_file = schema_path(path);
        let schema_ref = schema_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let schema = serde_json::to_string_pretty(&Self::json_schema(names))?;
        std::fs::write(&schema_file, schema + "\n").map_err(|e| EvalError::io(&schema_file, e))?;
        let text = match format {
            Format::Yaml => format!(
                "# yaml-language-server: $schema={schema_ref}\n{}",
                serde_norway::to_string(&self.to_file_struct(None))?
            ),
            Format::Json => {
                serde_json::to_string_pretty(&self.to_file_struct(Some(schema_ref)))? + "\n"
            }
        };
        std::fs::write(path, text).map_err(|e| EvalError::io(path, e))
    }

    /// The JSON schema of a dataset file of these types, allowing the evaluator names
    /// given (as `Name` or `{Name: arguments}`).
    pub fn json_schema(evaluator_names: &[String]) -> Value {
        let mut generator = schemars::SchemaGenerator::default();
        let inputs = generator.subschema_for::<I>().to_value();
        let output = generator.subschema_for::<O>().to_value();
        let metadata = generator.subschema_for::<M>().to_value();
        let agent = generator.subschema_for::<AgentSpec>().to_value();
        let defs = generator.take_definitions(true);
        let evaluator = json!({
            "description": "An evaluator: `Name`, or `{Name: arguments}`.",
            "anyOf": [
                {"type": "string", "enum": evaluator_names},
                {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "propertyNames": {"enum": evaluator_names}
                }
            ]
        });
        let case = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "description": "A unique name."},
                "inputs": inputs,
                "expected_output": output,
                "metadata": metadata,
                "evaluators": {"type": "array", "items": {"$ref": "#/$defs/Evaluator"}}
            },
            "required": ["name", "inputs"],
            "additionalProperties": false
        });
        let mut defs = defs;
        defs.insert("Evaluator".into(), evaluator);
        defs.insert("Case".into(), case);
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Verity evals dataset",
            "type": "object",
            "properties": {
                "$schema": {"type": "string"},
                "name": {"type": "string"},
                "agent": agent,
                "cases": {"type": "array", "items": {"$ref": "#/$defs/Case"}},
                "evaluators": {"type": "array", "items": {"$ref": "#/$defs/Evaluator"}}
            },
            "required": ["cases"],
            "additionalProperties": false,
            "$defs": Value::Object(defs)
        })
    }
}
