//! The server the official MCP conformance runner tests: Verity tools named as the
//! runner's scenarios expect, served over streamable HTTP.
//!
//! ```sh
//! cargo run -p verity-mcp --example conformance_server -- 127.0.0.1:8001 &
//! npx @modelcontextprotocol/conformance server --url http://127.0.0.1:8001/mcp \
//!     --expected-failures crates/verity-mcp/conformance-baseline.yml
//! ```
//!
//! It prints the server's URL on its first line of stdout. The scenarios a server made of
//! Verity tools cannot pass (resources, prompts, logging, completion, and tools that talk
//! back to the client mid-call) are listed with their reasons in
//! `conformance-baseline.yml`.

use serde_json::{Value, json};
use verity::messages::{BinaryContent, UserContent};
use verity::prelude::*;
use verity::toolsets::{ToolFuture, ToolsetTool};
use verity::{RunContext, ToolCallError, ToolDefinition, Toolset};
use verity_mcp::McpToolServer;

/// A 1x1 red PNG.
const RED_PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x08, 0xd7, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x00, 0x03, 0x01, 0x01, 0x00, 0x18, 0xdd, 0x8d, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A WAV file of 8 silent samples (8 kHz, 8-bit mono).
fn silent_wav() -> Vec<u8> {
    let samples = [0x80u8; 8];
    let mut wav = Vec::with_capacity(44 + samples.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes()); // sample rate
    wav.extend_from_slice(&8000u32.to_le_bytes()); // byte rate
    wav.extend_from_slice(&1u16.to_le_bytes()); // block align
    wav.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(&samples);
    wav
}

fn binary(data: Vec<u8>, media_type: &str, filename: Option<&str>) -> UserContent {
    let mut content = BinaryContent::new(data, media_type);
    content.filename = filename.map(str::to_string);
    UserContent::Binary(content)
}

/// Returns a fixed text.
#[tool]
async fn test_simple_text() -> String {
    "This is a simple text response for testing.".to_string()
}

/// Returns a 1x1 red PNG.
#[tool]
async fn test_image_content() -> UserContent {
    binary(RED_PIXEL_PNG.to_vec(), "image/png", None)
}

/// Returns a short silent WAV file.
#[tool]
async fn test_audio_content() -> UserContent {
    binary(silent_wav(), "audio/wav", None)
}

/// Returns a text file as an embedded resource.
#[tool]
async fn test_embedded_resource() -> UserContent {
    let text = b"This is an embedded resource content.".to_vec();
    binary(text, "text/plain", Some("embedded.txt"))
}

/// Returns text, an image and a resource in one result.
#[tool]
async fn test_multiple_content_types() -> Vec<UserContent> {
    vec![
        UserContent::Text("Multiple content types test:".to_string()),
        binary(RED_PIXEL_PNG.to_vec(), "image/png", None),
        binary(
            br#"{"test": "data", "value": 123}"#.to_vec(),
            "application/json",
            Some("mixed-content.json"),
        ),
    ]
}

/// Always fails: its error reaches the client as a tool result with `isError`.
#[tool]
async fn test_error_handling() -> Result<String, ToolError> {
    Err(ToolError::failed(
        "This tool intentionally returns an error for testing",
    ))
}

/// A tool whose input schema is written by hand in JSON Schema 2020-12 (`$schema`,
/// `$defs`, `$ref`, `additionalProperties`), served as it is.
struct HandWrittenSchema;

impl Toolset<()> for HandWrittenSchema {
    fn label(&self) -> String {
        "hand-written schema".to_string()
    }

    fn tools<'a>(
        &'a self,
        _ctx: &'a RunContext<()>,
    ) -> futures::future::BoxFuture<'a, verity::Result<Vec<ToolsetTool>>> {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {
                "address": {
                    "type": "object",
                    "properties": {
                        "street": {"type": "string"},
                        "city": {"type": "string"}
                    }
                }
            },
            "properties": {
                "name": {"type": "string"},
                "address": {"$ref": "#/$defs/address"}
            },
            "additionalProperties": false
        });
        let definition = ToolDefinition::new("json_schema_2020_12_tool", schema)
            .with_description("Tool with JSON Schema 2020-12 features");
        Box::pin(async move { Ok(vec![ToolsetTool::new(definition)]) })
    }

    fn call(&self, _ctx: RunContext<()>, _name: &str, args: Value) -> ToolFuture {
        Box::pin(async move { Ok::<_, ToolCallError>(json!({ "received": args })) })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8001".to_string());
    let server = McpToolServer::new("verity-conformance")
        .tool(TestSimpleText)
        .tool(TestImageContent)
        .tool(TestAudioContent)
        .tool(TestEmbeddedResource)
        .tool(TestMultipleContentTypes)
        .tool(TestErrorHandling)
        .toolset(HandWrittenSchema);
    let http = server.serve_http(addr.as_str()).await?;
    println!("{}", http.url());
    tokio::signal::ctrl_c().await?;
    http.shutdown().await;
    Ok(())
}
