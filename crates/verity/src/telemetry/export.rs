//! OTLP export (feature `otel`): [`init`] and the propagation of trace context into
//! outgoing requests.

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

use super::metrics::MetricsLayer;
use crate::error::{Error, Result};

/// The instrumentation scope of Verity's spans and metrics.
const SCOPE: &str = "verity";

/// Keeps the exporters of [`init`] running; flushes and shuts them down when dropped
/// (or by [`shutdown`](Self::shutdown)), so keep it alive until the program ends.
#[must_use = "dropping the guard flushes and stops the exporters"]
pub struct TelemetryGuard {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    done: bool,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard").finish_non_exhaustive()
    }
}

impl TelemetryGuard {
    /// The tracer provider installed (also the global one).
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    /// The meter provider installed (also the global one).
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// Export what is buffered now.
    pub fn flush(&self) -> Result<()> {
        let traces = self.tracer_provider.force_flush();
        let metrics = self.meter_provider.force_flush();
        traces.map_err(|e| Error::User(format!("cannot flush the spans: {e}")))?;
        metrics.map_err(|e| Error::User(format!("cannot flush the metrics: {e}")))
    }

    /// Flush and stop the exporters, reporting a failure (dropping the guard does the
    /// same and ignores failures).
    pub fn shutdown(mut self) -> Result<()> {
        self.done = true;
        let flushed = self.flush();
        let traces = self.tracer_provider.shutdown();
        let metrics = self.meter_provider.shutdown();
        flushed?;
        traces.map_err(|e| Error::User(format!("cannot stop the span exporter: {e}")))?;
        metrics.map_err(|e| Error::User(format!("cannot stop the metric exporter: {e}")))
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let _ = self.tracer_provider.force_flush();
        let _ = self.meter_provider.force_flush();
        let _ = self.tracer_provider.shutdown();
        let _ = self.meter_provider.shutdown();
    }
}

/// The OTLP protocol the environment asks for (`OTEL_EXPORTER_OTLP_{signal}_PROTOCOL`,
/// else `OTEL_EXPORTER_OTLP_PROTOCOL`): `http/protobuf` (the default) or `http/json`.
fn protocol(signal_variable: &str) -> Result<Protocol> {
    let value = [signal_variable, "OTEL_EXPORTER_OTLP_PROTOCOL"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()));
    match value.as_deref().map(str::trim) {
        None | Some("http/protobuf") => Ok(Protocol::HttpBinary),
        Some("http/json") => Ok(Protocol::HttpJson),
        Some(other) => Err(Error::User(format!(
            "OTLP protocol `{other}` is not supported: use `http/protobuf` or `http/json`"
        ))),
    }
}

/// Install OpenTelemetry export for the whole program, in one call: an OTLP exporter
/// (http/protobuf by default) for the spans (batched) and the GenAI metrics (read
/// periodically), the W3C trace-context propagator, and a global `tracing` subscriber
/// that sends the spans at level INFO and above to them (Verity's run, model-request
/// and tool spans, and your own).
///
/// The standard variables apply: `OTEL_EXPORTER_OTLP_ENDPOINT` (default
/// `http://localhost:4318`; `/v1/traces` and `/v1/metrics` are appended) and the
/// per-signal `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`,
/// `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf` or `http/json`), `OTEL_SERVICE_NAME`
/// and `OTEL_RESOURCE_ATTRIBUTES`.
///
/// Fails when a global `tracing` subscriber is already set: then add [`layers`] to
/// your own.
///
/// Keep the returned guard alive: dropping it flushes what is buffered.
pub fn init() -> Result<TelemetryGuard> {
    let build_error = |what: &str, e: &dyn std::fmt::Display| {
        Error::User(format!("cannot build the OTLP {what} exporter: {e}"))
    };
    let span_exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")?)
        .build()
        .map_err(|e| build_error("span", &e))?;
    let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_protocol(protocol("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")?)
        .build()
        .map_err(|e| build_error("metric", &e))?;
    // the default resource reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
    let resource = Resource::builder().build();
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(span_exporter)
        .with_resource(resource.clone())
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_periodic_exporter(metric_exporter)
        .with_resource(resource)
        .build();
    let guard = TelemetryGuard {
        tracer_provider: tracer_provider.clone(),
        meter_provider: meter_provider.clone(),
        done: false,
    };
    let subscriber = tracing_subscriber::registry()
        .with(Targets::new().with_default(LevelFilter::INFO))
        .with(layers(&tracer_provider, &meter_provider));
    tracing::subscriber::set_global_default(subscriber).map_err(|_| {
        Error::User(
            "a global tracing subscriber is already set: add verity::telemetry::layers() \
             to it instead of calling init()"
                .into(),
        )
    })?;
    opentelemetry::global::set_tracer_provider(tracer_provider);
    opentelemetry::global::set_meter_provider(meter_provider);
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(guard)
}

/// The `tracing` layers that turn spans into OpenTelemetry spans of `tracer_provider`
/// and the `chat` spans into GenAI metrics of `meter_provider`: what [`init`] installs,
/// for a subscriber of your own (`registry().with(fmt::layer()).with(layers(&t, &m))`).
///
/// Spans and events at level INFO and above pass (Verity's spans are INFO): the debug
/// and trace events of the HTTP stack would otherwise each become a span event. The span
/// layer leaves out what costs per poll or per span and tells a backend little here
/// (busy/idle times, thread, code location, level and target).
pub fn layers<S>(
    tracer_provider: &SdkTracerProvider,
    meter_provider: &SdkMeterProvider,
) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let tracer = tracer_provider.tracer(SCOPE);
    let meter = opentelemetry::metrics::MeterProvider::meter(meter_provider, SCOPE);
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_level(false)
        .with_target(false)
        .and_then(MetricsLayer::new(&meter))
        .with_filter(LevelFilter::INFO)
}

/// Writes propagation fields into request headers.
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Put the active span's W3C trace context (`traceparent`, `tracestate`) into the
/// headers of an outgoing request; nothing when no span is active or nobody exports.
/// The current span's W3C trace context as key/value pairs (see
/// [`trace_context`](super::trace_context)).
pub(crate) fn current_trace_context() -> Vec<(String, String)> {
    struct Pairs(Vec<(String, String)>);
    impl Injector for Pairs {
        fn set(&mut self, key: &str, value: String) {
            self.0.push((key.to_owned(), value));
        }
    }
    let span = tracing::Span::current();
    if span.is_disabled() {
        return Vec::new();
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut pairs = Pairs(Vec::new());
    TraceContextPropagator::new().inject_context(&context, &mut pairs);
    pairs.0
}

pub(crate) fn inject_trace_context(headers: &mut HeaderMap) {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return;
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return;
    }
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}
