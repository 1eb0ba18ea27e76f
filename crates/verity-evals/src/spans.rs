//! The `tracing` spans a task opens, for evaluators that look at them.
//!
//! Span capture is off until a [`SpanCapture`] layer is part of the global subscriber
//! ([`SpanCapture::install`], or [`SpanCapture::layer`] added to your own
//! `tracing_subscriber::registry()`). Then each run of a case is wrapped in an
//! `eval_case` span, and every span opened inside it (Verity's `invoke_agent`, `chat`
//! and `execute_tool` spans, and the task's own) is recorded and handed to the
//! evaluators as [`EvaluatorContext::spans`](crate::EvaluatorContext::spans). Spans of
//! tasks spawned without the current span (`tokio::spawn` without `.in_current_span()`)
//! are not seen.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::Instrument;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The `tracing` target of the case span.
pub const TARGET: &str = "verity_evals";
/// The name of the span each case run is wrapped in.
pub const CASE_SPAN: &str = "eval_case";

/// One span the task opened, closed by the time evaluators run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRecord {
    /// The span's name in `tracing`'s metadata (`invoke_agent`, `chat`,
    /// `execute_tool`, ...; Verity's full OpenTelemetry name is the `otel.name` field).
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

impl SpanRecord {
    /// A field's value.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Store {
    runs: Mutex<HashMap<u64, Vec<(Instant, SpanRecord)>>>,
}

impl Store {
    fn take(&self, case: u64) -> Vec<SpanRecord> {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        let mut records = runs.remove(&case).unwrap_or_default();
        records.sort_by_key(|(start, _)| *start);
        records.into_iter().map(|(_, r)| r).collect()
    }
}

static ACTIVE: OnceLock<Arc<Store>> = OnceLock::new();

/// A `tracing_subscriber` layer recording the spans opened under each case run.
#[derive(Clone)]
pub struct SpanCapture {
    store: Arc<Store>,
}

impl std::fmt::Debug for SpanCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanCapture").finish_non_exhaustive()
    }
}

impl SpanCapture {
    /// The layer, to add to a `tracing_subscriber::registry()` that becomes the global
    /// default. Evaluations use the first layer made.
    pub fn layer() -> Self {
        let store = ACTIVE.get_or_init(|| Arc::new(Store::default())).clone();
        SpanCapture { store }
    }

    /// Make a registry with this layer the global subscriber. `false` when a global
    /// subscriber was already set (add [`layer`](Self::layer) to it instead).
    pub fn install() -> bool {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(Self::layer());
        tracing::subscriber::set_global_default(subscriber).is_ok()
    }
}

/// Marks the case span.
struct CaseRoot;

/// A span being recorded.
struct Pending {
    case: u64,
    started: Instant,
    record: SpanRecord,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S> tracing_subscriber::Layer<S> for SpanCapture
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let meta = attrs.metadata();
        if meta.target() == TARGET && meta.name() == CASE_SPAN {
            span.extensions_mut().insert(CaseRoot);
            return;
        }
        let Some(parent) = span.parent() else { return };
        let Some(case) = parent
            .scope()
            .find(|s| s.extensions().get::<CaseRoot>().is_some())
        else {
            return;
        };
        let parent_name = (parent.id() != case.id()).then(|| parent.name().to_owned());
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        span.extensions_mut().insert(Pending {
            case: case.id().into_u64(),
            started: Instant::now(),
            record: SpanRecord {
                name: meta.name().to_owned(),
                target: meta.target().to_owned(),
                parent: parent_name,
                fields,
                duration: Duration::ZERO,
            },
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(p) = ext.get_mut::<Pending>() {
            values.record(&mut Fields(&mut p.record.fields));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(mut p) = span.extensions_mut().remove::<Pending>() else {
            return;
        };
        p.record.duration = p.started.elapsed();
        self.store
            .runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(p.case)
            .or_default()
            .push((p.started, p.record));
    }
}

/// Run `fut`; with span capture on, also return the spans it opened.
pub(crate) async fn capture<T>(
    case: &str,
    fut: impl Future<Output = T>,
) -> (T, Option<Vec<SpanRecord>>) {
    let Some(store) = ACTIVE.get() else {
        return (fut.await, None);
    };
    let span = tracing::info_span!(target: TARGET, CASE_SPAN, case = case);
    let Some(id) = span.id() else {
        // the capturing subscriber is not the one in force here
        return (fut.await, None);
    };
    let out = fut.instrument(span).await;
    (out, Some(store.take(id.into_u64())))
}
