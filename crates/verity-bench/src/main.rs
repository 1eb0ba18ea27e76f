//! `verity-bench`: agent runs of the PydanticAI docs example against an
//! OpenAI-compatible server, with one JSON line of results; and `verity-bench mock`, a
//! fast local server for the same scenarios.
//!
//! ```text
//! verity-bench --base-url URL --runs N --concurrency C --scenario structured|tool|stream
//! verity-bench mock --port P [--delay-ms D]
//! ```

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
        Scenario::Stream => Ok(agent.run_stream(PROMPT).finish().await?.output),
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
    if let Some(Command::Mock { port, delay_ms }) = cli.command {
        return match mock::serve(port, Duration::from_millis(delay_ms)).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mock: {e}");
                std::process::ExitCode::FAILURE
            }
        };
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
