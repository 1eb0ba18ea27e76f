//! Evals for Verity agents.
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
