//! # verity-evals
//!
//! Evals for Verity agents: a [`Dataset`] of [`Case`]s (from YAML or JSON files, with a
//! JSON schema beside them), [`Evaluator`]s (built-ins in [`builtins`], the
//! [`LlmJudge`], your own through a [`Registry`]), [`Dataset::evaluate`] running a task
//! over the cases concurrently, and an [`EvaluationReport`] printed as a table, saved
//! as JSON and compared with a baseline ([`EvaluationReport::diff`]).
//!
//! ```
//! use verity_evals::builtins::{Contains, EqualsExpected};
//! use verity_evals::{Case, Dataset, RenderOptions};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dataset = Dataset::<String, String>::new(vec![
//!     Case::new("greeting", "hello".to_owned()).expected_output("HELLO".to_owned()),
//!     Case::new("name", "verity".to_owned()).evaluator(Contains::new("VER")),
//! ])
//! .evaluator(EqualsExpected);
//!
//! let report = dataset
//!     .evaluate(|s: String| async move { Ok::<_, String>(s.to_uppercase()) })
//!     .max_concurrency(2)
//!     .await;
//! assert_eq!(report.averages().assertion_rate, Some(1.0));
//! println!("{}", report.render(&RenderOptions::default().reasons(true)));
//! # });
//! ```
//!
//! See the crate's README for dataset files, the evaluators' file forms and the CLI.
#![forbid(clippy::dbg_macro)]

pub mod agent_spec;
pub mod builtins;
pub mod dataset;
pub mod diff;
pub mod error;
pub mod evaluator;
pub mod generate;
pub mod judge;
pub mod registry;
pub mod report;
pub mod run;
pub mod spans;

pub use agent_spec::AgentSpec;
pub use dataset::{Case, Dataset, Format};
pub use diff::{Regression, ReportDiff};
pub use error::EvalError;
pub use evaluator::{
    EvalValue, EvaluationResult, Evaluator, EvaluatorContext, EvaluatorOutput, EvaluatorSpec,
    evaluator_fn,
};
pub use generate::generate_dataset;
pub use judge::{GradingOutput, LlmJudge};
pub use registry::Registry;
pub use report::{EvaluationReport, RenderOptions};
pub use run::{Evaluation, record_messages, record_run, record_usage};
pub use spans::{SpanCapture, SpanRecord};
