//! Telemetry (feature `otel`): the spans of runs, model requests and tool calls as the
//! OpenTelemetry SDK's in-memory exporter receives them, the GenAI metrics, and an
//! end-to-end export over OTLP/HTTP to a receiver on loopback.
//!
//! Each in-memory test installs its subscriber for its own thread (`set_default`) and
//! runs on a current-thread runtime, so tests running beside it are not traced.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{KeyValue, Value as OtelValue};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{Value, json};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::openai::OpenAIProvider;
use verity::telemetry::attr;

use crate::support::{Canned, MockServer};

/// The exporters of one test, and its subscriber installed for this thread.
struct Capture {
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
    meter_provider: SdkMeterProvider,
    _tracer_provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

fn capture() -> Capture {
    let spans = InMemorySpanExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let metrics = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metrics.clone()).build())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(Targets::new().with_target("verity", LevelFilter::INFO))
        .with(verity::telemetry::layers(&tracer_provider, &meter_provider));
    Capture {
        spans,
        metrics,
        meter_provider,
        _tracer_provider: tracer_provider,
        _guard: tracing::subscriber::set_default(subscriber),
    }
}

impl Capture {
    /// The finished spans, in the order they started.
    fn spans(&self) -> Vec<SpanData> {
        let mut spans = self.spans.get_finished_spans().unwrap();
        spans.sort_by_key(|s| s.start_time);
        spans
    }

    /// Every data point of the histogram `name`: (attributes, count, sum).
    fn histogram(&self, name: &str) -> Vec<(BTreeMap<String, String>, u64, f64)> {
        self.meter_provider.force_flush().unwrap();
        let mut points = Vec::new();
        let finished = self.metrics.get_finished_metrics().unwrap();
        // cumulative: the last export holds everything
        let Some(last) = finished.last() else {
            return points;
        };
        for scope in last.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                let attrs = |kvs: &mut dyn Iterator<Item = &KeyValue>| {
                    kvs.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                        .collect::<BTreeMap<_, _>>()
                };
                match metric.data() {
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            points.push((attrs(&mut p.attributes()), p.count(), p.sum()));
                        }
                    }
                    AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            points.push((attrs(&mut p.attributes()), p.count(), p.sum() as f64));
                        }
                    }
                    other => panic!("{name}: {other:?}"),
                }
            }
        }
        points
    }
}

fn get<'a>(span: &'a SpanData, key: &str) -> Option<&'a OtelValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn string(span: &SpanData, key: &str) -> String {
    match get(span, key) {
        Some(v) => v.as_str().into_owned(),
        None => panic!("{} has no {key}: {:?}", span.name, span.attributes),
    }
}

fn int(span: &SpanData, key: &str) -> i64 {
    match get(span, key) {
        Some(OtelValue::I64(n)) => *n,
        other => panic!("{}: {key} is {other:?}", span.name),
    }
}

fn json_attr(span: &SpanData, key: &str) -> Value {
    serde_json::from_str(&string(span, key)).unwrap()
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn openai_on(server: &MockServer) -> OpenAIChatModel {
    let provider = OpenAIProvider::builder()
        .base_url(server.url())
        .api_key("sk-secret-test-key")
        .build()
        .unwrap();
    OpenAIChatModel::new("gpt-4o", provider)
}

fn tool_call_completion() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 4}}
    })
}

fn text_completion(text: &str) -> Value {
    json!({
        "id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}
    })
}

/// Get the weather in a city.
///
/// # Arguments
/// * `city` - The city's name.
#[tool]
async fn get_weather(city: String) -> String {
    format!("sunny in {city}")
}

async fn weather_server() -> MockServer {
    MockServer::start(vec![
        Canned::json(200, &tool_call_completion()),
        Canned::json(200, &text_completion("It is sunny in Paris.")),
    ])
    .await
}

/// run → chat → execute_tool → chat: names, kinds, parents, the required attributes,
/// usage equal to `result.usage()`, no content by default, and `traceparent` sent.
#[tokio::test]
async fn spans_of_a_run_with_a_tool_call() {
    let cap = capture();
    let server = weather_server().await;
    let agent = Agent::builder(openai_on(&server))
        .name("weather")
        .instructions("Be brief.")
        .settings(ModelSettings::new().temperature(0.5).max_tokens(100))
        .tool(GetWeather)
        .build();
    let result = agent.run("Weather in Paris?").await.unwrap();
    assert_eq!(result.output, "It is sunny in Paris.");

    let spans = cap.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "invoke_agent weather",
            "chat gpt-4o",
            "execute_tool get_weather",
            "chat gpt-4o"
        ]
    );
    let (run, chat1, tool, chat2) = (&spans[0], &spans[1], &spans[2], &spans[3]);
    let trace = run.span_context.trace_id();
    for child in [chat1, tool, chat2] {
        assert_eq!(
            child.parent_span_id,
            run.span_context.span_id(),
            "{}",
            child.name
        );
        assert_eq!(child.span_context.trace_id(), trace);
    }
    assert_eq!(run.span_kind, SpanKind::Internal);
    assert_eq!(chat1.span_kind, SpanKind::Client);
    assert_eq!(tool.span_kind, SpanKind::Internal);
    assert_eq!(run.status, Status::Unset);

    // the run
    assert_eq!(string(run, attr::OPERATION_NAME), "invoke_agent");
    assert_eq!(string(run, attr::AGENT_NAME), "weather");
    assert_eq!(string(run, attr::PROVIDER_NAME), "openai");
    assert_eq!(string(run, attr::REQUEST_MODEL), "gpt-4o");
    let usage = result.usage();
    assert_eq!(
        int(run, attr::USAGE_INPUT_TOKENS),
        usage.input_tokens as i64
    );
    assert_eq!(
        int(run, attr::USAGE_OUTPUT_TOKENS),
        usage.output_tokens as i64
    );
    assert_eq!(
        int(run, attr::USAGE_CACHE_READ_INPUT_TOKENS),
        usage.cache_read_tokens as i64
    );
    assert_eq!((usage.input_tokens, usage.output_tokens), (30, 12));
    assert!(get(run, attr::ERROR_TYPE).is_none());

    // the model requests
    let port = server
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/v1")
        .to_owned();
    for chat in [chat1, chat2] {
        assert_eq!(string(chat, attr::OPERATION_NAME), "chat");
        assert_eq!(string(chat, attr::PROVIDER_NAME), "openai");
        assert_eq!(string(chat, attr::REQUEST_MODEL), "gpt-4o");
        assert_eq!(string(chat, attr::RESPONSE_MODEL), "gpt-4o-2024-08-06");
        assert_eq!(string(chat, attr::SERVER_ADDRESS), "127.0.0.1");
        assert_eq!(int(chat, attr::SERVER_PORT).to_string(), port);
        assert_eq!(int(chat, attr::REQUEST_MAX_TOKENS), 100);
        assert_eq!(
            get(chat, attr::REQUEST_TEMPERATURE),
            Some(&OtelValue::F64(0.5))
        );
        assert_eq!(string(chat, attr::OUTPUT_TYPE), "text");
        assert!(get(chat, attr::RESPONSE_TIME_TO_FIRST_CHUNK).is_none());
    }
    assert_eq!(string(chat1, attr::RESPONSE_ID), "chatcmpl-1");
    assert_eq!(
        get(chat1, attr::RESPONSE_FINISH_REASONS),
        Some(&OtelValue::Array(
            vec![opentelemetry::StringValue::from("tool_call")].into()
        ))
    );
    assert_eq!(
        (
            int(chat1, attr::USAGE_INPUT_TOKENS),
            int(chat1, attr::USAGE_OUTPUT_TOKENS)
        ),
        (10, 5)
    );
    assert_eq!(int(chat1, attr::USAGE_CACHE_READ_INPUT_TOKENS), 4);
    assert_eq!(
        (
            int(chat2, attr::USAGE_INPUT_TOKENS),
            int(chat2, attr::USAGE_OUTPUT_TOKENS)
        ),
        (20, 7)
    );

    // the tool call
    assert_eq!(string(tool, attr::OPERATION_NAME), "execute_tool");
    assert_eq!(string(tool, attr::TOOL_NAME), "get_weather");
    assert_eq!(string(tool, attr::TOOL_CALL_ID), "call_1");
    assert_eq!(string(tool, attr::TOOL_TYPE), "function");
    assert_eq!(int(tool, attr::TOOL_CALL_RETRY), 0);

    // no content by default, and never a key
    for span in &spans {
        for key in [
            attr::INPUT_MESSAGES,
            attr::OUTPUT_MESSAGES,
            attr::SYSTEM_INSTRUCTIONS,
            attr::TOOL_DEFINITIONS,
            attr::TOOL_CALL_ARGUMENTS,
            attr::TOOL_CALL_RESULT,
        ] {
            assert!(get(span, key).is_none(), "{} has {key}", span.name);
        }
        for kv in &span.attributes {
            assert!(!kv.value.as_str().contains("sk-secret"), "{kv:?}");
        }
    }

    // each request carries its chat span's trace context
    let received = server.received();
    for (request, chat) in received.iter().zip([chat1, chat2]) {
        let traceparent = request.header("traceparent").expect("traceparent");
        assert_eq!(
            traceparent,
            format!(
                "00-{}-{}-01",
                chat.span_context.trace_id(),
                chat.span_context.span_id()
            )
        );
    }

    // metrics: tokens by type, one duration per request
    let tokens = cap.histogram(attr::METRIC_TOKEN_USAGE);
    let sum_of = |kind: &str| -> f64 {
        tokens
            .iter()
            .filter(|(a, _, _)| a.get(attr::TOKEN_TYPE).map(String::as_str) == Some(kind))
            .map(|(_, _, sum)| sum)
            .sum()
    };
    assert_eq!(sum_of("input"), 30.0);
    assert_eq!(sum_of("output"), 12.0);
    let (attrs, _, _) = &tokens[0];
    assert_eq!(attrs[attr::OPERATION_NAME], "chat");
    assert_eq!(attrs[attr::PROVIDER_NAME], "openai");
    assert_eq!(attrs[attr::REQUEST_MODEL], "gpt-4o");
    assert_eq!(attrs[attr::RESPONSE_MODEL], "gpt-4o-2024-08-06");
    let durations = cap.histogram(attr::METRIC_OPERATION_DURATION);
    assert_eq!(durations.iter().map(|(_, n, _)| n).sum::<u64>(), 2);
    assert!(
        durations
            .iter()
            .all(|(a, _, sum)| !a.contains_key(attr::ERROR_TYPE) && *sum > 0.0)
    );
    assert!(cap.histogram(attr::METRIC_TIME_TO_FIRST_CHUNK).is_empty());
}

/// With content capture on: the messages in the conventions' JSON shapes, the
/// instructions, the tool definitions, the tool's arguments and result.
#[tokio::test]
async fn content_is_captured_when_enabled() {
    let cap = capture();
    let server = weather_server().await;
    let agent = Agent::builder(openai_on(&server))
        .instructions("Be brief.")
        .tool(GetWeather)
        .capture_message_content(true)
        .build();
    agent.run("Weather in Paris?").await.unwrap();
    let spans = cap.spans();
    let chats = named(&spans, "chat gpt-4o");
    let tool = named(&spans, "execute_tool get_weather")[0];
    assert_eq!(named(&spans, "invoke_agent agent").len(), 1);

    assert_eq!(
        json_attr(chats[0], attr::INPUT_MESSAGES),
        json!([{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}])
    );
    assert_eq!(
        json_attr(chats[0], attr::SYSTEM_INSTRUCTIONS),
        json!([{"type": "text", "content": "Be brief."}])
    );
    assert_eq!(
        json_attr(chats[0], attr::OUTPUT_MESSAGES),
        json!([{"role": "assistant", "finish_reason": "tool_call", "parts": [
            {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
        ]}])
    );
    let defs = json_attr(chats[0], attr::TOOL_DEFINITIONS);
    assert_eq!(defs[0]["type"], "function");
    assert_eq!(defs[0]["name"], "get_weather");
    assert_eq!(defs[0]["description"], "Get the weather in a city.");
    assert_eq!(
        defs[0]["parameters"]["properties"]["city"]["type"],
        "string"
    );

    let second = json_attr(chats[1], attr::INPUT_MESSAGES);
    assert_eq!(second.as_array().unwrap().len(), 3);
    assert_eq!(
        second[2],
        json!({"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1",
                "name": "get_weather", "result": "sunny in Paris"}]})
    );
    assert_eq!(
        json_attr(chats[1], attr::OUTPUT_MESSAGES)[0]["parts"][0],
        json!({"type": "text", "content": "It is sunny in Paris."})
    );
    assert_eq!(
        json_attr(tool, attr::TOOL_CALL_ARGUMENTS),
        json!({"city": "Paris"})
    );
    assert_eq!(
        json_attr(tool, attr::TOOL_CALL_RESULT),
        json!("sunny in Paris")
    );
}

/// A request the provider refuses: the chat and run spans carry `error.type` and an
/// error status, and the duration metric the error type.
#[tokio::test]
async fn failed_request_marks_the_spans() {
    let cap = capture();
    let server = MockServer::start(vec![Canned::json(
        400,
        &json!({"error": {"message": "bad request", "type": "invalid_request_error"}}),
    )])
    .await;
    let agent = Agent::builder(openai_on(&server)).build();
    let err = agent.run("hi").await.unwrap_err();
    assert!(
        matches!(err, Error::ModelHttp { status: 400, .. }),
        "{err:?}"
    );
    let spans = cap.spans();
    let run = named(&spans, "invoke_agent agent")[0];
    let chat = named(&spans, "chat gpt-4o")[0];
    for span in [run, chat] {
        assert_eq!(string(span, attr::ERROR_TYPE), "ModelHttp");
        assert!(
            matches!(span.status, Status::Error { .. }),
            "{:?}",
            span.status
        );
    }
    assert!(get(chat, attr::USAGE_INPUT_TOKENS).is_none());
    let durations = cap.histogram(attr::METRIC_OPERATION_DURATION);
    assert_eq!(durations.len(), 1);
    assert_eq!(durations[0].0[attr::ERROR_TYPE], "ModelHttp");
    assert!(cap.histogram(attr::METRIC_TOKEN_USAGE).is_empty());
}

/// A tool that asks for a retry, then succeeds (the retry is visible on the span), and
/// one that fails and ends the run.
#[tokio::test]
async fn failed_and_retried_tools_mark_their_spans() {
    let cap = capture();
    let model = FunctionModel::new(|messages, _| {
        let responses = messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count();
        match responses {
            0 | 1 => ModelResponse::tool_calls_of([("flaky", json!({}))]),
            _ => ModelResponse::tool_calls_of([("broken", json!({}))]),
        }
    });
    let attempts = Arc::new(Mutex::new(0));
    let counter = Arc::clone(&attempts);
    let agent = Agent::builder(model)
        .retries(2)
        .tool_fn("flaky", "Works the second time.", move |_ctx, _: Value| {
            let counter = Arc::clone(&counter);
            async move {
                let mut n = counter.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    Err(ToolError::Retry("try again".into()))
                } else {
                    Ok("fine".to_owned())
                }
            }
        })
        .tool_fn("broken", "Always fails.", |_ctx, _: Value| async move {
            Err::<String, _>(ToolError::Failed("disk on fire".into()))
        })
        .build();
    let err = agent.run("go").await.unwrap_err();
    assert!(matches!(err, Error::ToolExecution { .. }), "{err:?}");
    let spans = cap.spans();
    let flaky = named(&spans, "execute_tool flaky");
    assert_eq!(flaky.len(), 2);
    assert_eq!(string(flaky[0], attr::ERROR_TYPE), "ModelRetry");
    assert_eq!(int(flaky[0], attr::TOOL_CALL_RETRY), 0);
    assert!(get(flaky[1], attr::ERROR_TYPE).is_none());
    assert_eq!(int(flaky[1], attr::TOOL_CALL_RETRY), 1);
    let broken = named(&spans, "execute_tool broken")[0];
    assert_eq!(string(broken, attr::ERROR_TYPE), "ToolExecution");
    assert!(matches!(broken.status, Status::Error { .. }));
    let run = named(&spans, "invoke_agent agent")[0];
    assert_eq!(string(run, attr::ERROR_TYPE), "ToolExecution");
    assert_eq!(string(run, attr::PROVIDER_NAME), "function");
    // no message of the failure goes into the spans without content capture
    for span in &spans {
        for kv in &span.attributes {
            assert!(!kv.value.as_str().contains("disk on fire"), "{kv:?}");
        }
    }
}

/// An output function is user code the model calls: it gets an `execute_tool` span (a
/// retry it asks for marks the span), as PydanticAI gives output functions; plain
/// structured output gets none.
#[tokio::test]
async fn output_functions_get_an_execute_tool_span() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Lookup {
        city: String,
    }
    let cap = capture();
    let model = FunctionModel::new(|messages, _| {
        let responses = messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count();
        let city = if responses == 0 { "Atlantis" } else { "Paris" };
        ModelResponse::tool_calls_of([("lookup_country", json!({"city": city}))])
    });
    let agent = Agent::builder(model)
        .output_function(
            "lookup_country",
            "Finds the country of a city.",
            |_ctx: RunContext<()>, a: Lookup| async move {
                if a.city == "Atlantis" {
                    Err(ModelRetry::new("no such city"))
                } else {
                    Ok(format!("France, for {}", a.city))
                }
            },
        )
        .build();
    let result = agent.run("Where is Paris?").await.unwrap();
    assert_eq!(result.output, "France, for Paris");
    let spans = cap.spans();
    let calls = named(&spans, "execute_tool lookup_country");
    assert_eq!(
        calls.len(),
        2,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    assert_eq!(string(calls[0], attr::ERROR_TYPE), "ModelRetry");
    assert!(get(calls[1], attr::ERROR_TYPE).is_none());
    assert_eq!(string(calls[1], attr::OPERATION_NAME), "execute_tool");
    // children of the run, not of a chat span
    let run = named(&spans, "invoke_agent agent")[0];
    for call in calls {
        assert_eq!(call.parent_span_id, run.span_context.span_id());
    }

    // a plain structured output: no execute_tool span
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct City {
        name: String,
    }
    let cap = capture();
    let model = FunctionModel::new(|_, info| {
        ModelResponse::tool_calls_of([(
            info.output_tools[0].name.clone(),
            json!({"name": "Paris"}),
        )])
    });
    let agent = Agent::builder(model).output::<City>().build();
    assert_eq!(agent.run("a city").await.unwrap().output.name, "Paris");
    assert!(
        cap.spans()
            .iter()
            .all(|s| !s.name.starts_with("execute_tool")),
        "no span for plain output"
    );
}

/// A streamed run: the chat span and the metric carry the time to the first chunk.
#[tokio::test]
async fn streamed_requests_record_the_time_to_first_chunk() {
    let cap = capture();
    let agent = Agent::builder(TestModel::new()).build();
    let mut run = agent.run("hi").stream();
    let texts: Vec<String> = futures::StreamExt::collect::<Vec<_>>(run.stream_text())
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(!texts.is_empty());
    let usage = run.usage().unwrap().clone();
    let spans = cap.spans();
    let chat = named(&spans, "chat test")[0];
    let ttfc = match get(chat, attr::RESPONSE_TIME_TO_FIRST_CHUNK) {
        Some(OtelValue::F64(s)) => *s,
        other => panic!("{other:?}"),
    };
    assert!((0.0..10.0).contains(&ttfc), "{ttfc}");
    let run_span = named(&spans, "invoke_agent agent")[0];
    assert_eq!(
        int(run_span, attr::USAGE_INPUT_TOKENS),
        usage.input_tokens as i64
    );
    assert_eq!(
        int(run_span, attr::USAGE_OUTPUT_TOKENS),
        usage.output_tokens as i64
    );
    let points = cap.histogram(attr::METRIC_TIME_TO_FIRST_CHUNK);
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].1, 1);
}

/// A run stepped through node by node has the same span tree as an awaited one: one
/// `invoke_agent` span, opened at the first step and ended with the run.
#[tokio::test]
async fn a_stepped_run_is_one_invoke_agent_span() {
    let cap = capture();
    let server = weather_server().await;
    let agent = Agent::builder(openai_on(&server))
        .name("weather")
        .tool(GetWeather)
        .build();
    let mut run = agent.run("Weather in Paris?").iter();
    let mut node = AgentNode::UserPrompt;
    loop {
        node = run.next(node).await.unwrap();
        if matches!(node, AgentNode::End(_)) {
            break;
        }
    }
    let usage = run.usage().clone();
    let spans = cap.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "invoke_agent weather",
            "chat gpt-4o",
            "execute_tool get_weather",
            "chat gpt-4o"
        ]
    );
    let run_span = &spans[0];
    for child in &spans[1..] {
        assert_eq!(child.parent_span_id, run_span.span_context.span_id());
    }
    assert_eq!(
        int(run_span, attr::USAGE_INPUT_TOKENS),
        usage.input_tokens as i64
    );
}

/// A tool sees the trace context of its own `execute_tool` span, for carriers Verity does
/// not fill itself (an MCP request's `_meta`); outside a span there is none.
#[tokio::test]
async fn tools_can_carry_the_trace_context_on() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct City {
        city: String,
    }
    assert!(verity::telemetry::trace_context().is_empty());
    let cap = capture();
    let server = weather_server().await;
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let record = Arc::clone(&seen);
    let agent = Agent::builder(openai_on(&server))
        .tool_fn(
            "get_weather",
            "Weather in a city.",
            move |_ctx: RunContext<()>, a: City| {
                let record = Arc::clone(&record);
                async move {
                    *record.lock().unwrap() = verity::telemetry::trace_context();
                    Ok::<_, ToolError>(format!("sunny in {}", a.city))
                }
            },
        )
        .build();
    agent.run("Weather in Paris?").await.unwrap();
    let spans = cap.spans();
    let tool = named(&spans, "execute_tool get_weather")[0];
    let context = seen.lock().unwrap().clone();
    let traceparent = &context.iter().find(|(k, _)| k == "traceparent").unwrap().1;
    assert_eq!(
        traceparent,
        &format!(
            "00-{}-{}-01",
            tool.span_context.trace_id(),
            tool.span_context.span_id()
        )
    );
}

/// Without a subscriber no span is built, and nothing reaches the request headers.
#[tokio::test]
async fn without_a_subscriber_nothing_is_traced() {
    let server = weather_server().await;
    let agent = Agent::builder(openai_on(&server)).tool(GetWeather).build();
    agent.run("Weather in Paris?").await.unwrap();
    for request in server.received() {
        assert!(request.header("traceparent").is_none());
    }
}

mod otlp {
    //! The end-to-end export: a child process of this test binary calls
    //! `verity::telemetry::init()` (a global subscriber, which must not leak into the
    //! other tests) and runs an agent; an OTLP/HTTP receiver here decodes what arrives.
    use std::sync::{Arc, Mutex};

    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use verity::prelude::*;
    use verity::providers::openai_compatible::OpenAICompatibleProvider;

    use super::weather_server;

    const CHILD_ENV: &str = "VERITY_OTLP_CHILD_MODEL_URL";

    #[derive(Default)]
    struct Received {
        traces: Vec<ExportTraceServiceRequest>,
        metrics: Vec<ExportMetricsServiceRequest>,
        paths: Vec<String>,
        content_types: Vec<String>,
    }

    /// A minimal OTLP/HTTP receiver: `POST /v1/traces` and `POST /v1/metrics`, protobuf
    /// bodies, keep-alive connections.
    async fn receiver() -> (String, Arc<Mutex<Received>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Received::default()));
        let store = Arc::clone(&received);
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        // read one request: headers, then Content-Length bytes
                        let header_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            let mut chunk = [0u8; 8192];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
                        let path = head
                            .split_whitespace()
                            .nth(1)
                            .unwrap_or_default()
                            .to_owned();
                        let header = |name: &str| {
                            head.lines().find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.trim()
                                    .eq_ignore_ascii_case(name)
                                    .then(|| v.trim().to_owned())
                            })
                        };
                        let length: usize = header("content-length")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        while buf.len() < header_end + length {
                            let mut chunk = [0u8; 8192];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let body: Vec<u8> =
                            buf.drain(..header_end + length).skip(header_end).collect();
                        {
                            let mut r = store.lock().unwrap();
                            r.content_types
                                .push(header("content-type").unwrap_or_default());
                            match path.as_str() {
                                "/v1/traces" => r.traces.push(
                                    ExportTraceServiceRequest::decode(body.as_slice()).unwrap(),
                                ),
                                "/v1/metrics" => r.metrics.push(
                                    ExportMetricsServiceRequest::decode(body.as_slice()).unwrap(),
                                ),
                                _ => {}
                            }
                            r.paths.push(path);
                        }
                        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, received)
    }

    fn attribute(span: &Span, key: &str) -> Option<String> {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.clone()),
                any_value::Value::IntValue(n) => Some(n.to_string()),
                any_value::Value::DoubleValue(f) => Some(f.to_string()),
                other => Some(format!("{other:?}")),
            })
    }

    /// The spans of a run arrive over the wire, with the resource's service name, and
    /// so do the GenAI metrics. The run goes to the local model when it can start, else
    /// to a mock OpenAI-compatible server.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_and_metrics_arrive_over_otlp_http() {
        let (endpoint, received) = receiver().await;
        let local = crate::local_model::local_model_url();
        let mock = match local {
            Some(_) => None,
            None => {
                eprintln!("otlp: the local model is not available; the run goes to a mock server");
                let server = weather_server().await;
                Some(server)
            }
        };
        let (model_url, model_name) = match (&local, &mock) {
            (Some(url), _) => (url.clone(), "SmolLM2-135M-Instruct"),
            (None, Some(server)) => (server.url(), "gpt-4o"),
            _ => unreachable!(),
        };
        let exe = std::env::current_exe().unwrap();
        let output = tokio::process::Command::new(exe)
            .args([
                "telemetry::otlp::child",
                "--exact",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD_ENV, &model_url)
            .env("VERITY_OTLP_CHILD_MODEL_NAME", model_name)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .env("OTEL_SERVICE_NAME", "verity-e2e")
            .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("child run done"), "{stdout}\n{stderr}");

        let r = received.lock().unwrap();
        assert!(r.paths.iter().any(|p| p == "/v1/traces"), "{:?}", r.paths);
        assert!(r.paths.iter().any(|p| p == "/v1/metrics"), "{:?}", r.paths);
        assert!(
            r.content_types
                .iter()
                .all(|c| c == "application/x-protobuf"),
            "{:?}",
            r.content_types
        );
        let mut spans = Vec::new();
        for request in &r.traces {
            for resource_spans in &request.resource_spans {
                let service = resource_spans
                    .resource
                    .as_ref()
                    .and_then(|res| res.attributes.iter().find(|kv| kv.key == "service.name"))
                    .and_then(|kv| kv.value.as_ref()?.value.as_ref().cloned());
                assert_eq!(
                    service,
                    Some(any_value::Value::StringValue("verity-e2e".into()))
                );
                for scope in &resource_spans.scope_spans {
                    spans.extend(scope.spans.iter().cloned());
                }
            }
        }
        let run = spans
            .iter()
            .find(|s| s.name == "invoke_agent e2e")
            .unwrap_or_else(|| panic!("{:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()));
        let chats: Vec<&Span> = spans
            .iter()
            .filter(|s| s.name == format!("chat {model_name}"))
            .collect();
        assert!(!chats.is_empty());
        for chat in &chats {
            assert_eq!(chat.parent_span_id, run.span_id);
            assert_eq!(chat.trace_id, run.trace_id);
            // SPAN_KIND_CLIENT
            assert_eq!(chat.kind, 3);
            assert_eq!(
                attribute(chat, "gen_ai.operation.name").as_deref(),
                Some("chat")
            );
            assert_eq!(
                attribute(chat, "server.address").as_deref(),
                Some("127.0.0.1")
            );
            assert!(attribute(chat, "gen_ai.usage.input_tokens").is_some());
        }
        assert_eq!(attribute(run, "gen_ai.agent.name").as_deref(), Some("e2e"));
        let input: i64 = attribute(run, "gen_ai.usage.input_tokens")
            .unwrap()
            .parse()
            .unwrap();
        assert!(input > 0);
        if let Some(mock) = &mock {
            assert!(spans.iter().any(|s| s.name == "execute_tool get_weather"));
            assert_eq!(input, 30);
            // the mock server saw the chat spans' trace context
            let sent = mock.received();
            let traceparent = sent[0].header("traceparent").unwrap().to_owned();
            assert!(traceparent.contains(&hex(&run.trace_id)), "{traceparent}");
        }
        let metric_names: Vec<String> = r
            .metrics
            .iter()
            .flat_map(|m| &m.resource_metrics)
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .map(|m| m.name.clone())
            .collect();
        for name in [
            "gen_ai.client.operation.duration",
            "gen_ai.client.token.usage",
        ] {
            assert!(metric_names.iter().any(|n| n == name), "{metric_names:?}");
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Runs only as the child of the test above (it does nothing otherwise).
    #[test]
    fn child() {
        let Ok(url) = std::env::var(CHILD_ENV) else {
            return;
        };
        let model_name = std::env::var("VERITY_OTLP_CHILD_MODEL_NAME").unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let guard = verity::telemetry::init().unwrap();
        rt.block_on(async {
            let provider = OpenAICompatibleProvider::builder()
                .base_url(&url)
                .api_key("sk-test")
                .build()
                .unwrap();
            let model = verity::models::openai::OpenAIChatModel::new(model_name.clone(), provider);
            let mut builder = Agent::builder(model)
                .name("e2e")
                .settings(ModelSettings::new().temperature(0.0).max_tokens(16));
            // a 135M model does not call tools reliably: the tool goes to the mock only
            if model_name == "gpt-4o" {
                builder = builder.tool(super::GetWeather);
            }
            let agent = builder.build();
            let result = agent
                .run("Weather in Paris? Answer briefly.")
                .await
                .unwrap();
            println!("usage: {:?}", result.usage());
        });
        guard.shutdown().unwrap();
        println!("child run done");
    }
}
