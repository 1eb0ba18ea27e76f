//! `verity-bench`: agent runs of the PydanticAI docs example against an
//! OpenAI-compatible server, with one JSON line of results; and `verity-bench mock`, a
//! fast local server for the same scenarios.
//!
//! ```text
//! verity-bench --base-url URL --runs N --concurrency C --scenario structured|tool|stream
//! verity-bench mock --port P [--delay-ms D]
//! verity-bench sdk-floor --runs N [--export]
//! ```

mod floor;
mod mock;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use tokio::sync::Semaphore;
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::openai::OpenAIProvider;

const PROMPT: &str = "Where were the olympics held in 2012?";

#[derive(Parser)]
#[command(about = "Benchmark Verity agent runs against an OpenAI-compatible server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Base URL of the server (…/v1).
    #[arg(long, default_value = "http://127.0.0.1:8000/v1")]
    base_url: String,
    /// Agent runs to make.
    #[arg(long, default_value_t = 1000)]
    runs: usize,
    /// Runs in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// What each run does.
    #[arg(long, value_enum, default_value_t = Scenario::Structured)]
    scenario: Scenario,
    /// Telemetry while the runs go: none, a bare `tracing` registry, spans recorded by
    /// the OpenTelemetry SDK with no exporter, or `verity::telemetry::init()` exporting over OTLP/HTTP (to
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`; `verity-bench mock` accepts `/v1/traces`).
    #[arg(long, value_enum, default_value_t = Telemetry::Off)]
    telemetry: Telemetry,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Telemetry {
    /// No subscriber: the spans are disabled.
    Off,
    /// A plain `tracing` registry with no layer: Verity's spans are created, entered
    /// and closed, and go nowhere (the cost of the `tracing` side alone).
    Registry,
    /// Spans and metrics recorded by the SDK, exported nowhere.
    Spans,
    /// `verity::telemetry::init()`: batched OTLP export.
    Otlp,
}

/// What keeps the telemetry of a benchmark run installed (held for its `Drop`).
#[allow(dead_code)]
enum TelemetryGuard {
    None,
    Local(
        opentelemetry_sdk::trace::SdkTracerProvider,
        opentelemetry_sdk::metrics::SdkMeterProvider,
    ),
    Otlp(verity::telemetry::TelemetryGuard),
}

fn install_telemetry(telemetry: Telemetry) -> verity::Result<TelemetryGuard> {
    use tracing_subscriber::layer::SubscriberExt;
    Ok(match telemetry {
        Telemetry::Off => TelemetryGuard::None,
        Telemetry::Registry => {
            tracing::subscriber::set_global_default(tracing_subscriber::registry())
                .map_err(|e| verity::Error::User(e.to_string()))?;
            TelemetryGuard::None
        }
        Telemetry::Spans => {
            let tracer_provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
            let meter_provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
            let subscriber = tracing_subscriber::registry()
                .with(verity::telemetry::layers(&tracer_provider, &meter_provider));
            // the global default: the runs are spawned onto the runtime's workers
            tracing::subscriber::set_global_default(subscriber)
                .map_err(|e| verity::Error::User(e.to_string()))?;
            TelemetryGuard::Local(tracer_provider, meter_provider)
        }
        Telemetry::Otlp => TelemetryGuard::Otlp(verity::telemetry::init()?),
    })
}

#[derive(Subcommand)]
enum Command {
    /// Serve the mock OpenAI-compatible API.
    Mock {
        /// Port on 127.0.0.1.
        #[arg(long)]
        port: u16,
        /// Delay before each answer.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
    /// Soak: many runs against an in-process mock that fails every N-th run; checks
    /// that every run ends exactly once, errors only where injected, and samples RSS.
    Soak {
        /// Runs to make.
        #[arg(long, default_value_t = 100_000)]
        runs: u64,
        /// Runs in flight at once.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Fail every N-th run (100: 1%).
        #[arg(long, default_value_t = 100)]
        fail_every: u64,
    },
    /// The OpenTelemetry work of N structured runs (their two spans and three metric
    /// records) done directly on the SDK, with no `tracing` and no agent: the floor of
    /// any instrumentation that builds SDK spans.
    SdkFloor {
        /// Runs to instrument.
        #[arg(long, default_value_t = 1000)]
        runs: usize,
        /// Export over OTLP/HTTP (`OTEL_EXPORTER_OTLP_ENDPOINT`) instead of nowhere.
        #[arg(long)]
        export: bool,
    },
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4)
}

async fn soak(runs: u64, concurrency: usize, fail_every: u64) -> verity::Result<bool> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| verity::Error::User(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| verity::Error::User(e.to_string()))?;
    tokio::spawn(mock::serve_on(listener, Duration::ZERO, fail_every));
    let agent = Arc::new(agent(&format!("http://{addr}/v1"), Scenario::Tool)?);
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, bool)>();
    let start = Instant::now();
    let spawner = {
        let (agent, semaphore) = (Arc::clone(&agent), Arc::clone(&semaphore));
        tokio::spawn(async move {
            for i in 0..runs {
                let Ok(permit) = Arc::clone(&semaphore).acquire_owned().await else {
                    break;
                };
                let (agent, tx) = (Arc::clone(&agent), tx.clone());
                tokio::spawn(async move {
                    let ok = agent.run(format!("run {i}")).await.is_ok();
                    drop(permit);
                    let _ = tx.send((i, ok));
                });
            }
        })
    };
    let mut seen = vec![0u8; usize::try_from(runs).unwrap_or(0)];
    let (mut done, mut unexpected, mut samples) = (0u64, 0u64, Vec::new());
    while done < runs {
        let Some((i, ok)) = rx.recv().await else {
            break;
        };
        if let Some(slot) = seen.get_mut(usize::try_from(i).unwrap_or(usize::MAX)) {
            *slot = slot.saturating_add(1);
        }
        let injected = fail_every != 0 && i % fail_every == 0;
        if ok == injected {
            unexpected += 1;
        }
        done += 1;
        if done % (runs / 10).max(1) == 0 {
            samples.push(rss_kib());
        }
    }
    let _ = spawner.await;
    let lost = seen.iter().filter(|&&n| n == 0).count();
    let duplicated = seen.iter().filter(|&&n| n > 1).count();
    let secs = start.elapsed().as_secs_f64();
    let warm = samples.get(1).copied().unwrap_or(0);
    let last = samples.last().copied().unwrap_or(0);
    println!(
        "{}",
        json!({
            "runs": runs, "concurrency": concurrency, "fail_every": fail_every, "secs": secs,
            "runs_per_s": runs as f64 / secs, "completed": done, "lost": lost, "duplicated": duplicated,
            "unexpected_outcomes": unexpected, "rss_kib_samples": samples,
            "rss_growth_after_warmup_kib": last as i64 - warm as i64,
        })
    );
    Ok(lost == 0 && duplicated == 0 && unexpected == 0)
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// One request: the structured output.
    Structured,
    /// Two requests: a `get_weather` tool call, then the structured output.
    Tool,
    /// The tool scenario, streamed.
    Stream,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct CityLocation {
    city: String,
    country: String,
}

/// Get the current weather in a city.
///
/// # Arguments
/// * `city` - The city.
#[tool]
fn get_weather(city: String) -> String {
    format!("Sunny, 22 degrees Celsius in {city}")
}

fn agent(base_url: &str, scenario: Scenario) -> verity::Result<Agent<(), CityLocation>> {
    let provider = OpenAIProvider::builder()
        .base_url(base_url)
        .api_key("sk-mock")
        .max_retries(0)
        .build()?;
    let builder = Agent::builder(OpenAIChatModel::new("gpt-4o", provider));
    let builder = match scenario {
        Scenario::Structured => builder,
        Scenario::Tool | Scenario::Stream => builder.tool(GetWeather),
    };
    Ok(builder.output::<CityLocation>().build())
}

async fn one_run(
    agent: &Agent<(), CityLocation>,
    scenario: Scenario,
) -> verity::Result<CityLocation> {
    match scenario {
        Scenario::Stream => Ok(agent.run(PROMPT).stream().finish().await?.output),
        _ => Ok(agent.run(PROMPT).await?.output),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted
        .get(idx.min(sorted.len() - 1))
        .copied()
        .unwrap_or(0.0)
}

async fn bench(cli: Cli) -> verity::Result<bool> {
    let _telemetry = install_telemetry(cli.telemetry)?;
    let agent = Arc::new(agent(&cli.base_url, cli.scenario)?);
    // untimed warm-up, as the other peers do
    for _ in 0..(cli.runs / 10).clamp(1, 50) {
        one_run(&agent, cli.scenario).await?;
    }
    let semaphore = Arc::new(Semaphore::new(cli.concurrency.max(1)));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(cli.runs);
    for _ in 0..cli.runs {
        let (agent, semaphore, scenario) =
            (Arc::clone(&agent), Arc::clone(&semaphore), cli.scenario);
        handles.push(tokio::spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let t = Instant::now();
            let ok = one_run(&agent, scenario).await.is_ok();
            (t.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(cli.runs);
    let mut errors = 0usize;
    for h in handles {
        match h.await {
            Ok((d, true)) => latencies.push(d.as_secs_f64() * 1000.0),
            _ => errors += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "runs": cli.runs, "concurrency": cli.concurrency, "secs": secs,
            "runs_per_s": cli.runs as f64 / secs,
            "p50_ms": percentile(&latencies, 50.0), "p99_ms": percentile(&latencies, 99.0),
            "errors": errors,
        })
    );
    Ok(errors == 0)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Mock { port, delay_ms }) => {
            return match mock::serve(port, Duration::from_millis(delay_ms)).await {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mock: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        Some(Command::Soak {
            runs,
            concurrency,
            fail_every,
        }) => {
            return match soak(runs, concurrency, fail_every).await {
                Ok(true) => std::process::ExitCode::SUCCESS,
                Ok(false) => std::process::ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("soak: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        Some(Command::SdkFloor { runs, export }) => {
            let done = tokio::task::spawn_blocking(move || floor::run(runs, export)).await;
            return match done {
                Ok(Ok(())) => std::process::ExitCode::SUCCESS,
                Ok(Err(e)) => {
                    eprintln!("sdk-floor: {e}");
                    std::process::ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("sdk-floor: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        None => {}
    }
    match bench(cli).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("verity-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
