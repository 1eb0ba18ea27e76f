//! The `tracing` spans a task opens, for evaluators that look at them.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One span the task opened (Verity's `invoke_agent`, `chat`, `execute_tool` spans, or
/// the task's own), closed by the time evaluators run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRecord {
    /// The span's name (`chat gpt-4o`, `execute_tool get_weather`, ...).
    pub name: String,
    /// The `tracing` target (`verity` for Verity's spans).
    pub target: String,
    /// The name of the enclosing span, if it is not the case's own.
    pub parent: Option<String>,
    /// The span's fields, as text.
    pub fields: BTreeMap<String, String>,
    /// How long the span was open.
    pub duration: Duration,
}

/// Run `fut`; with span capture on, also return the spans it opened.
pub(crate) async fn capture<T>(
    _case: &str,
    fut: impl Future<Output = T>,
) -> (T, Option<Vec<SpanRecord>>) {
    (fut.await, None)
}
