//! OTLP export (feature `otel`): [`init`] and the propagation of trace context into
//! outgoing requests.

use opentelemetry::trace::{TraceContextExt, TraceFlags, TracerProvider as _};
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
    // the global filter stops what is below INFO before a span or event exists, so the
    // layers need no filter of their own (which would cost a span lookup per callback)
    let subscriber = tracing_subscriber::registry()
        .with(Targets::new().with_default(LevelFilter::INFO))
        .with(unfiltered_layers(&tracer_provider, &meter_provider));
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
    unfiltered_layers(tracer_provider, meter_provider).with_filter(LevelFilter::INFO)
}

/// The span and metrics layers of [`layers`], without its level filter.
fn unfiltered_layers<S>(
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
}

/// The active span's W3C trace context: `traceparent` and the `tracestate` header value
/// (empty when there is none); `None` outside a traced span or when nobody exports.
///
/// Written by hand rather than through `TraceContextPropagator`, which formats through
/// `format!` and hands each header to a string-keyed injector: this runs on every model
/// request, and the propagator cost more than a tenth of a traced run's overhead.
fn active_trace_context() -> Option<(String, String)> {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    let span_ref = context.span();
    let span_context = span_ref.span_context();
    if !span_context.is_valid() {
        return None;
    }
    // `00-{trace id}-{span id}-{flags}`
    let mut traceparent = String::with_capacity(55);
    traceparent.push_str("00-");
    push_hex(&mut traceparent, &span_context.trace_id().to_bytes());
    traceparent.push('-');
    push_hex(&mut traceparent, &span_context.span_id().to_bytes());
    traceparent.push('-');
    let sampled = span_context.trace_flags() & TraceFlags::SAMPLED;
    push_hex(&mut traceparent, &[sampled.to_u8()]);
    Some((traceparent, span_context.trace_state().header()))
}

/// Append the lower-case hex of `bytes`.
fn push_hex(out: &mut String, bytes: &[u8]) {
    for byte in bytes {
        for nibble in [byte >> 4, byte & 0x0f] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
}

/// The current span's W3C trace context as key/value pairs (see
/// [`trace_context`](super::trace_context)).
pub(crate) fn current_trace_context() -> Vec<(String, String)> {
    let Some((traceparent, tracestate)) = active_trace_context() else {
        return Vec::new();
    };
    let mut pairs = vec![("traceparent".to_owned(), traceparent)];
    if !tracestate.is_empty() {
        pairs.push(("tracestate".to_owned(), tracestate));
    }
    pairs
}

/// Put the active span's W3C trace context (`traceparent`, and `tracestate` when there
/// is one) into the headers of an outgoing request; nothing when no span is active or
/// nobody exports.
pub(crate) fn inject_trace_context(headers: &mut HeaderMap) {
    let Some((traceparent, tracestate)) = active_trace_context() else {
        return;
    };
    if let Ok(value) = HeaderValue::try_from(traceparent) {
        headers.insert(TRACEPARENT, value);
    }
    if !tracestate.is_empty()
        && let Ok(value) = HeaderValue::from_str(&tracestate)
    {
        headers.insert(TRACESTATE, value);
    }
}

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use opentelemetry::propagation::{Injector, TextMapPropagator};
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceId, TraceState};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    struct Pairs(Vec<(String, String)>);
    impl Injector for Pairs {
        fn set(&mut self, key: &str, value: String) {
            self.0.push((key.to_owned(), value));
        }
    }

    /// What the SDK's propagator writes for the same context.
    fn by_the_propagator(span: &tracing::Span) -> Vec<(String, String)> {
        let mut pairs = Pairs(Vec::new());
        TraceContextPropagator::new().inject_context(&span.context(), &mut pairs);
        pairs.0.retain(|(_, v)| !v.is_empty());
        pairs.0
    }

    #[test]
    fn headers_match_the_sdk_propagator() {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            assert!(current_trace_context().is_empty(), "no span, no context");
            let span = tracing::info_span!("outer");
            let _entered = span.enter();
            let ours = current_trace_context();
            assert_eq!(ours, by_the_propagator(&span));
            assert_eq!(ours[0].1.len(), 55);
            let mut headers = HeaderMap::new();
            inject_trace_context(&mut headers);
            assert_eq!(headers["traceparent"].to_str().unwrap(), ours[0].1);
            assert!(!headers.contains_key("tracestate"));

            // a remote parent with trace state and no sampling flag
            let remote = SpanContext::new(
                TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
                SpanId::from_hex("b7ad6b7169203331").unwrap(),
                TraceFlags::default(),
                true,
                TraceState::from_key_value([("vendor", "value")]).unwrap(),
            );
            let child = tracing::info_span!("child");
            let _ =
                child.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
            let _entered = child.enter();
            let ours = current_trace_context();
            assert_eq!(ours, by_the_propagator(&child));
            assert!(
                ours[0]
                    .1
                    .starts_with("00-0af7651916cd43dd8448eb211c80319c-")
            );
            assert_eq!(
                ours[1],
                ("tracestate".to_owned(), "vendor=value".to_owned())
            );
        });
    }
}
