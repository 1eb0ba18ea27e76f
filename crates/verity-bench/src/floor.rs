//! `verity-bench sdk-floor`: the OpenTelemetry work of a structured run done directly on
//! the SDK, with no `tracing`, no bridge layer and no agent — the `invoke_agent` and
//! `chat` spans with the attributes Verity gives them, and the three GenAI metric
//! records. What any instrumentation that builds real SDK spans must spend at least;
//! counted with callgrind next to `--telemetry spans|otlp` (BENCHMARKS.md).

use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer as _, TracerProvider};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use verity::telemetry::attr;

/// Build and end the spans and record the metrics of `runs` structured runs; with
/// `export`, through `verity::telemetry::init()`'s OTLP exporters (so to
/// `OTEL_EXPORTER_OTLP_ENDPOINT`), else on providers with no exporter.
pub fn run(runs: usize, export: bool) -> verity::Result<()> {
    use opentelemetry_sdk::metrics::SdkMeterProvider;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    let guard = if export {
        Some(verity::telemetry::init()?)
    } else {
        None
    };
    let (tracer_provider, meter_provider) = match &guard {
        Some(guard) => (
            guard.tracer_provider().clone(),
            guard.meter_provider().clone(),
        ),
        None => (
            SdkTracerProvider::builder().build(),
            SdkMeterProvider::builder().build(),
        ),
    };
    let tracer = tracer_provider.tracer("verity");
    let meter = opentelemetry::metrics::MeterProvider::meter(&meter_provider, "verity");
    let duration = meter.f64_histogram(attr::METRIC_OPERATION_DURATION).build();
    let tokens = meter.u64_histogram(attr::METRIC_TOKEN_USAGE).build();

    // what a bridge gets as borrowed text and has to copy into each span
    let (agent, model, provider, host) = ("agent", "gpt-4o", "openai", "127.0.0.1");
    for _ in 0..runs {
        let run = tracer
            .span_builder(format!("{} {agent}", attr::OP_INVOKE_AGENT))
            .with_kind(SpanKind::Internal)
            .with_attributes([
                KeyValue::new(attr::OPERATION_NAME, attr::OP_INVOKE_AGENT),
                KeyValue::new(attr::AGENT_NAME, agent.to_owned()),
                KeyValue::new(attr::PROVIDER_NAME, provider.to_owned()),
                KeyValue::new(attr::REQUEST_MODEL, model.to_owned()),
            ])
            .start(&tracer);
        let run = Context::current_with_span(run);

        let mut chat = tracer
            .span_builder(format!("{} {model}", attr::OP_CHAT))
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new(attr::OPERATION_NAME, attr::OP_CHAT),
                KeyValue::new(attr::PROVIDER_NAME, provider.to_owned()),
                KeyValue::new(attr::REQUEST_MODEL, model.to_owned()),
                KeyValue::new(attr::SERVER_ADDRESS, host.to_owned()),
                KeyValue::new(attr::SERVER_PORT, 8000_i64),
                KeyValue::new(attr::OUTPUT_TYPE, "json"),
            ])
            .start_with_context(&tracer, &run);
        chat.set_attributes([
            KeyValue::new(attr::RESPONSE_ID, "chatcmpl-mock".to_owned()),
            KeyValue::new(attr::RESPONSE_MODEL, model.to_owned()),
            KeyValue::new(attr::USAGE_INPUT_TOKENS, 57_i64),
            KeyValue::new(attr::USAGE_OUTPUT_TOKENS, 12_i64),
            KeyValue::new(
                attr::RESPONSE_FINISH_REASONS,
                Value::Array(Array::String(vec![StringValue::from("stop")])),
            ),
        ]);
        chat.end();

        let mut metric_attributes = vec![
            KeyValue::new(attr::OPERATION_NAME, attr::OP_CHAT),
            KeyValue::new(attr::PROVIDER_NAME, provider.to_owned()),
            KeyValue::new(attr::REQUEST_MODEL, model.to_owned()),
            KeyValue::new(attr::RESPONSE_MODEL, model.to_owned()),
            KeyValue::new(attr::SERVER_ADDRESS, host.to_owned()),
            KeyValue::new(attr::SERVER_PORT, 8000_i64),
        ];
        for (kind, count) in [("input", 57), ("output", 12)] {
            metric_attributes.push(KeyValue::new(attr::TOKEN_TYPE, kind));
            tokens.record(count, &metric_attributes);
            metric_attributes.pop();
        }
        duration.record(0.001, &metric_attributes);

        let run = run.span();
        run.set_attribute(KeyValue::new(attr::USAGE_INPUT_TOKENS, 57_i64));
        run.set_attribute(KeyValue::new(attr::USAGE_OUTPUT_TOKENS, 12_i64));
        run.end();
    }
    if let Some(guard) = guard {
        guard.shutdown()?;
    }
    Ok(())
}
