//! What journaling costs: the benchmark's `tool` scenario (a `get_weather` tool call,
//! then the `CityLocation` output tool: two model requests and one tool call per run)
//! run in-process, and run durably through a Restate server, against the same mock
//! model (`verity-bench mock`). See BENCHMARKS.md for the commands and the figures.
//!
//! ```text
//! journal_overhead serve   --port 9080 --mock http://127.0.0.1:8000/v1
//! journal_overhead plain   --mock http://127.0.0.1:8000/v1 --runs 1000 --concurrency 1
//! journal_overhead durable --ingress http://127.0.0.1:8080 --runs 1000 --concurrency 1
//! journal_overhead durable --ingress http://127.0.0.1:8080 --runs 1000 --handler clear
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::openai::OpenAIProvider;
use verity_restate::DurableAgent;

#[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct CityLocation {
    city: String,
    country: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct City {
    city: String,
}

const PROMPT: &str = "Where were the olympics held in 2012?";

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// The agent's own tool: a durable run journals its calls, and (its list being fixed)
/// not its list, so a run is three journaled steps (model, tool, model).
fn get_weather() -> Tool<()> {
    Tool::new(
        "get_weather",
        "The weather in a city.",
        |_ctx, c: City| async move { Ok::<_, ToolError>(format!("sunny in {}", c.city)) },
    )
}

fn agent(mock: &str) -> Result<Agent<(), CityLocation>, verity::Error> {
    let provider = OpenAIProvider::builder()
        .base_url(mock)
        .api_key("bench")
        .build()?;
    Ok(Agent::builder(OpenAIChatModel::new("gpt-4o", provider))
        .tool(get_weather())
        .output::<CityLocation>()
        .build())
}

/// Run `one` `runs` times, `concurrency` at a time; print runs/s, p50 and p99.
async fn measure<F, Fut>(label: &str, runs: usize, concurrency: usize, one: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let one = Arc::new(one);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (one, next) = (Arc::clone(&one), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= runs {
                    return latencies;
                }
                let t = Instant::now();
                if let Err(e) = one(i).await {
                    eprintln!("run {i} failed: {e}");
                    std::process::exit(1);
                }
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap_or_default());
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{label}: {runs} runs at concurrency {concurrency}: {:.0} runs/s, p50 {:.2} ms, p99 {:.2} ms",
        runs as f64 / elapsed.as_secs_f64(),
        at(0.5),
        at(0.99)
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_default();
    let runs: usize = flag(&args, "--runs").map_or(Ok(1000), |r| r.parse())?;
    let concurrency: usize = flag(&args, "--concurrency").map_or(Ok(1), |r| r.parse())?;
    let mock = flag(&args, "--mock").unwrap_or_else(|| "http://127.0.0.1:8000/v1".into());
    match mode.as_str() {
        "serve" => {
            let port: u16 = flag(&args, "--port").map_or(Ok(9080), |p| p.parse())?;
            let durable = DurableAgent::new("bench", agent(&mock)?);
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            verity_restate::serve(listener, [durable.into_service()?]).await;
        }
        "plain" => {
            let agent = agent(&mock)?;
            measure("plain", runs, concurrency, move |_| {
                let agent = agent.clone();
                async move {
                    agent
                        .run(PROMPT)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            })
            .await;
        }
        "durable" => {
            let ingress =
                flag(&args, "--ingress").unwrap_or_else(|| "http://127.0.0.1:8080".into());
            // `--handler clear` (an exclusive handler that journals nothing) measures
            // what an invocation costs without any step
            let handler = flag(&args, "--handler").unwrap_or_else(|| "run".into());
            let label = format!("durable {handler}");
            let client = reqwest::Client::new();
            let stamp = std::process::id();
            measure(&label, runs, concurrency, move |i| {
                let handler = handler.clone();
                let (client, ingress) = (client.clone(), ingress.clone());
                async move {
                    // one conversation per run: runs of one conversation are serialized
                    let request = client.post(format!("{ingress}/bench/run-{stamp}-{i}/{handler}"));
                    let request = if handler == "run" {
                        request.json(&serde_json::json!({"prompt": PROMPT}))
                    } else {
                        request
                    };
                    let response = request.send().await.map_err(|e| e.to_string())?;
                    let status = response.status();
                    let body = response.text().await.map_err(|e| e.to_string())?;
                    if !status.is_success() || (handler == "run" && !body.contains("London")) {
                        return Err(format!("{status}: {body}"));
                    }
                    Ok(())
                }
            })
            .await;
        }
        _ => {
            eprintln!(
                "usage: journal_overhead serve|plain|durable [--mock URL] [--ingress URL] [--port N] [--runs N] [--concurrency N]"
            );
            std::process::exit(2);
        }
    }
    Ok(())
}
