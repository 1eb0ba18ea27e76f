//! [`EvalError`]: every way loading, running and reporting can fail.

use std::path::PathBuf;

/// An error of the evals crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file's extension names no format this crate reads (`.yaml`, `.yml`, `.json`).
    #[error("{0}: unknown dataset format (expected a .yaml, .yml or .json file)")]
    UnknownFormat(PathBuf),
    /// A YAML document could not be read or written.
    #[error("YAML: {0}")]
    Yaml(String),
    /// A JSON document could not be read or written.
    #[error("JSON: {0}")]
    Json(String),
    /// A dataset names an evaluator the registry does not know.
    #[error("unknown evaluator '{name}' (known: {known})")]
    UnknownEvaluator {
        /// The name in the file.
        name: String,
        /// The registry's names, comma separated.
        known: String,
    },
    /// An evaluator's arguments in a dataset are not what it takes.
    #[error("evaluator '{name}': {message}")]
    EvaluatorArgs {
        /// The evaluator.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// An evaluator failed while evaluating a case (kept in the report, not fatal).
    #[error("evaluator '{name}' failed: {message}")]
    Evaluator {
        /// The evaluator.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// A dataset is malformed in a way serde does not catch (duplicate case names, ...).
    #[error("invalid dataset: {0}")]
    Dataset(String),
    /// A JSON schema is not a valid schema.
    #[error("invalid JSON schema: {0}")]
    Schema(String),
    /// A Verity run (an LLM judge, dataset generation) failed.
    #[error(transparent)]
    Verity(#[from] verity::Error),
}

impl EvalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<serde_json::Error> for EvalError {
    fn from(e: serde_json::Error) -> Self {
        EvalError::Json(e.to_string())
    }
}

impl From<serde_norway::Error> for EvalError {
    fn from(e: serde_norway::Error) -> Self {
        EvalError::Yaml(e.to_string())
    }
}
