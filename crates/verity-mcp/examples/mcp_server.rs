//! Serve Verity tools and an agent over MCP.
//!
//! `cargo run -p verity-mcp --example mcp_server` speaks MCP on stdin/stdout (point an
//! MCP client's `command` at it); with `--http` it serves streamable HTTP at
//! `http://127.0.0.1:8000/mcp` until Ctrl-C.

use verity::prelude::*;
use verity_mcp::McpToolServer;

/// Add two numbers.
///
/// # Arguments
/// * `a` - The first number.
/// * `b` - The second number.
#[tool]
async fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// The weather in a city.
///
/// # Arguments
/// * `city` - The city's name.
#[tool]
async fn weather(city: String) -> String {
    format!("sunny in {city}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // any model works here; TestModel keeps the example offline
    let agent = Agent::builder(TestModel::new()).tool(Weather).build();
    let server = McpToolServer::new("verity-example")
        .instructions("A calculator, and an agent that knows the weather.")
        .tool(Add)
        .agent("weather_agent", "Ask about the weather.", agent);
    if std::env::args().any(|a| a == "--http") {
        let http = server.serve_http("127.0.0.1:8000").await?;
        eprintln!("serving MCP at {}", http.url());
        tokio::signal::ctrl_c().await?;
        http.shutdown().await;
    } else {
        server.serve_stdio().await?;
    }
    Ok(())
}
