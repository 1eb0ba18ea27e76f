//! The client the official MCP conformance runner tests: Verity's [`McpServer`] over
//! streamable HTTP.
//!
//! The runner starts it with the test server's URL as the last argument and the scenario
//! in `MCP_CONFORMANCE_SCENARIO`:
//!
//! ```sh
//! cargo build -p verity-mcp --example conformance_client
//! npx @modelcontextprotocol/conformance client \
//!     --command "target/debug/examples/conformance_client" --scenario tools_call
//! ```
//!
//! It connects, lists the tools and calls each (`add_numbers` with two numbers, any other
//! with no arguments), answering elicitations by accepting the schema's defaults.

use serde_json::{Value, json};
use verity_mcp::{ElicitationResponse, McpServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .next_back()
        .ok_or("usage: conformance_client URL")?;
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    eprintln!("scenario {scenario:?} against {url}");
    let server = McpServer::http(url)
        // an empty acceptance: the client fills in the schema's defaults
        .elicitation(|_request| async { ElicitationResponse::Accept(None) })
        .build();
    let info = server.connect().await?;
    eprintln!("connected to {}", info.name);
    for tool in server.list_tools().await?.iter() {
        let args: Value = if tool.name == "add_numbers" {
            json!({"a": 5, "b": 3})
        } else {
            json!({})
        };
        let result = server.call_tool(&tool.name, args).await?;
        println!("{}: {}", tool.name, result.to_model_value(false));
    }
    server.close().await;
    Ok(())
}
