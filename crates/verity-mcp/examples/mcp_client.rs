//! An agent using an MCP server's tools.
//!
//! `cargo run -p verity-mcp --example mcp_client -- COMMAND [ARGS…]` starts the server
//! with that command (default: this crate's `mcp_server` example through cargo) and
//! runs an agent on `TestModel`, which calls every tool the server offers.

use verity::prelude::*;
use verity_mcp::McpServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        args = [
            "cargo",
            "run",
            "-q",
            "-p",
            "verity-mcp",
            "--example",
            "mcp_server",
        ]
        .map(String::from)
        .to_vec();
    }
    let command = args.remove(0);
    let server = McpServer::stdio(command, args).tool_prefix("srv").build();

    let info = server.connect().await?;
    println!("connected to {} {}", info.name, info.version);
    for tool in server.list_tools().await?.iter() {
        println!(
            "  tool {}: {}",
            tool.name,
            tool.description.as_deref().unwrap_or("")
        );
    }

    let agent = Agent::builder(TestModel::new())
        .toolset(server.clone())
        .instructions_fn(server.instructions_for())
        .build();
    let result = agent.run("Use the tools.").await?;
    println!("{}", result.output);
    server.close().await;
    Ok(())
}
