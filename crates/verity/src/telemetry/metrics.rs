//! The GenAI client metrics (feature `otel`), taken from the `chat` spans as they close:
//! one small `tracing` layer, so that moving to the token counters the conventions
//! announce is a change here only.

use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::{CHAT_SPAN, TARGET, attr};

/// Bucket boundaries the conventions advise for token counts.
const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// Bucket boundaries the conventions advise for operation durations, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// A `tracing` layer that records the GenAI client metrics from Verity's `chat` spans:
/// `gen_ai.client.operation.duration` (seconds, with `error.type` on failures),
/// `gen_ai.client.token.usage` (by `gen_ai.token.type`: `input`, `output`) and
/// `gen_ai.client.operation.time_to_first_chunk` (streamed requests), each with the
/// operation, provider, request and response model and server attributes.
///
/// [`init`](super::init) installs it; add it yourself next to
/// `tracing_opentelemetry::layer()` when you build your own subscriber.
pub struct MetricsLayer {
    duration: Histogram<f64>,
    tokens: Histogram<u64>,
    time_to_first_chunk: Histogram<f64>,
}

impl std::fmt::Debug for MetricsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsLayer").finish_non_exhaustive()
    }
}

impl MetricsLayer {
    /// The layer, its instruments made by `meter`.
    pub fn new(meter: &Meter) -> Self {
        MetricsLayer {
            duration: meter
                .f64_histogram(attr::METRIC_OPERATION_DURATION)
                .with_unit("s")
                .with_description("GenAI operation duration")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            tokens: meter
                .u64_histogram(attr::METRIC_TOKEN_USAGE)
                .with_unit("{token}")
                .with_description("Number of input and output tokens used")
                .with_boundaries(TOKEN_BUCKETS.to_vec())
                .build(),
            time_to_first_chunk: meter
                .f64_histogram(attr::METRIC_TIME_TO_FIRST_CHUNK)
                .with_unit("s")
                .with_description(
                    "Time to receive the first chunk of a streamed response, from the request",
                )
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
        }
    }
}

/// What a `chat` span has recorded that the metrics need.
#[derive(Default)]
struct ChatValues {
    provider: Option<String>,
    request_model: Option<String>,
    response_model: Option<String>,
    server_address: Option<String>,
    server_port: Option<i64>,
    error_type: Option<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    time_to_first_chunk: Option<f64>,
}

impl Visit for ChatValues {
    fn record_str(&mut self, field: &Field, value: &str) {
        let slot = match field.name() {
            attr::PROVIDER_NAME => &mut self.provider,
            attr::REQUEST_MODEL => &mut self.request_model,
            attr::RESPONSE_MODEL => &mut self.response_model,
            attr::SERVER_ADDRESS => &mut self.server_address,
            attr::ERROR_TYPE => &mut self.error_type,
            _ => return,
        };
        *slot = Some(value.to_owned());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        match field.name() {
            attr::SERVER_PORT => self.server_port = Some(value),
            attr::USAGE_INPUT_TOKENS => self.input_tokens = Some(value),
            attr::USAGE_OUTPUT_TOKENS => self.output_tokens = Some(value),
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == attr::RESPONSE_TIME_TO_FIRST_CHUNK {
            self.time_to_first_chunk = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

/// Kept in a `chat` span's extensions while it is open.
struct ChatTiming {
    start: Instant,
    values: ChatValues,
}

fn is_chat(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.name() == CHAT_SPAN && metadata.target() == TARGET
}

impl<S> Layer<S> for MetricsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !is_chat(attrs.metadata()) {
            return;
        }
        let mut values = ChatValues::default();
        attrs.record(&mut values);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(ChatTiming {
                start: Instant::now(),
                values,
            });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && is_chat(span.metadata())
            && let Some(timing) = span.extensions_mut().get_mut::<ChatTiming>()
        {
            values.record(&mut timing.values);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        if !is_chat(span.metadata()) {
            return;
        }
        let Some(timing) = span.extensions_mut().remove::<ChatTiming>() else {
            return;
        };
        let elapsed = timing.start.elapsed().as_secs_f64();
        let v = timing.values;
        let mut attributes = Vec::with_capacity(8);
        attributes.push(KeyValue::new(attr::OPERATION_NAME, attr::OP_CHAT));
        let strings = [
            (attr::PROVIDER_NAME, v.provider),
            (attr::REQUEST_MODEL, v.request_model),
            (attr::RESPONSE_MODEL, v.response_model),
            (attr::SERVER_ADDRESS, v.server_address),
        ];
        for (key, value) in strings {
            if let Some(value) = value {
                attributes.push(KeyValue::new(key, value));
            }
        }
        if let Some(port) = v.server_port {
            attributes.push(KeyValue::new(attr::SERVER_PORT, port));
        }
        if let Some(ttfc) = v.time_to_first_chunk {
            self.time_to_first_chunk.record(ttfc, &attributes);
        }
        // the token type goes on and off the end: no copy of the attributes
        for (kind, tokens) in [("input", v.input_tokens), ("output", v.output_tokens)] {
            if let Some(tokens) = tokens {
                attributes.push(KeyValue::new(attr::TOKEN_TYPE, kind));
                self.tokens
                    .record(u64::try_from(tokens).unwrap_or_default(), &attributes);
                attributes.pop();
            }
        }
        if let Some(error) = v.error_type {
            attributes.push(KeyValue::new(attr::ERROR_TYPE, error));
        }
        self.duration.record(elapsed, &attributes);
    }
}
