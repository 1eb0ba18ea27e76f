//! Against the reference server `@modelcontextprotocol/server-everything`, over stdio and
//! streamable HTTP: tools (text, structured output, images, resource links, errors),
//! resources, prompts, elicitation, instructions.

use std::time::Duration;

use serde_json::{Value, json};
use verity::prelude::*;
use verity::tools::{Rejection, ToolCallError};
use verity::toolsets::Toolset;
use verity_mcp::{ElicitationResponse, McpContent, McpServer, McpServerBuilder};

use crate::support;

/// The reference server over stdio; it may fetch nothing from the network.
pub fn stdio_builder() -> Option<McpServerBuilder> {
    let js = support::everything()?;
    Some(
        McpServer::stdio("node", [js.to_string_lossy().into_owned(), "stdio".into()])
            .id("everything")
            .env("GZIP_ALLOWED_DOMAINS", "localhost.invalid")
            .inherit_stderr(false),
    )
}

async fn check_tools(server: &McpServer) {
    let tools = server.list_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    for expected in [
        "echo",
        "get-sum",
        "get-structured-content",
        "get-tiny-image",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }

    // text
    let echo = server
        .call_tool("echo", json!({"message": "hi"}))
        .await
        .unwrap();
    assert!(!echo.is_error);
    assert_eq!(echo.to_model_value(false), json!("Echo: hi"));
    let sum = server
        .call_tool("get-sum", json!({"a": 2, "b": 3}))
        .await
        .unwrap();
    assert!(
        sum.to_model_value(false).as_str().unwrap().contains('5'),
        "{sum:?}"
    );

    // structured output, declared by an output schema
    let def = tools
        .iter()
        .find(|t| t.name == "get-structured-content")
        .unwrap();
    assert!(def.output_schema.is_some());
    let weather = server
        .call_tool("get-structured-content", json!({"location": "Chicago"}))
        .await
        .unwrap();
    assert_eq!(
        weather.to_model_value(false),
        json!({"temperature": 36, "conditions": "Light rain / drizzle", "humidity": 82})
    );

    // an image becomes Verity binary content
    let image = server.call_tool("get-tiny-image", json!({})).await.unwrap();
    assert!(image.content.iter().any(|c| matches!(c, McpContent::Image { mime_type, data } if mime_type == "image/png" && data.starts_with(b"\x89PNG"))));
    let value = image.to_model_value(false);
    assert!(
        value
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["kind"] == "binary" && v["media_type"] == "image/png"),
        "{value}"
    );

    // resource links are their URIs
    let links = server
        .call_tool("get-resource-links", json!({"count": 2}))
        .await
        .unwrap();
    let uris: Vec<String> = links
        .content
        .iter()
        .filter_map(|c| match c {
            McpContent::ResourceLink(r) => Some(r.uri.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(uris.len(), 2, "{links:?}");
    let value = links.to_model_value(false);
    assert!(
        value
            .as_array()
            .unwrap()
            .contains(&Value::String(uris[0].clone()))
    );

    // an embedded resource
    let reference = server
        .call_tool(
            "get-resource-reference",
            json!({"resourceType": "Text", "resourceId": 1}),
        )
        .await
        .unwrap();
    assert!(
        reference
            .content
            .iter()
            .any(|c| matches!(c, McpContent::Resource(_))),
        "{reference:?}"
    );

    // invalid arguments: an error result, which the toolset turns into a retry prompt
    let bad = server.call_tool("get-sum", json!({"a": "x"})).await;
    match bad {
        Ok(r) => assert!(r.is_error, "{r:?}"),
        Err(e) => assert!(matches!(e, verity_mcp::McpError::Protocol { .. }), "{e}"),
    }
    let ctx = RunContext::new(());
    let retried = Toolset::<()>::call(server, ctx, "get-sum", json!({"a": "x"})).await;
    assert!(
        matches!(retried, Err(ToolCallError::Rejected(Rejection::Retry(_)))),
        "{retried:?}"
    );
}

async fn check_resources_and_prompts(server: &McpServer) {
    let resources = server.list_resources().await.unwrap();
    assert!(!resources.is_empty());
    let first = &resources[0];
    let contents = server.read_resource(&first.uri).await.unwrap();
    assert_eq!(contents[0].uri(), first.uri);
    let templates = server.list_resource_templates().await.unwrap();
    assert!(!templates.is_empty());

    let prompts = server.list_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"simple-prompt"), "{names:?}");
    let args = prompts.iter().find(|p| p.name == "args-prompt").unwrap();
    assert!(
        args.arguments
            .iter()
            .any(|a| a.name == "city" && a.required)
    );
    let prompt = server
        .get_prompt("args-prompt", [("city", "Paris"), ("state", "IDF")])
        .await
        .unwrap();
    let text = match &prompt.messages[0].content {
        McpContent::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    assert!(text.contains("Paris"), "{text}");
}

#[tokio::test]
async fn everything_over_stdio() {
    let Some(builder) = stdio_builder() else {
        return;
    };
    let server = builder.tool_prefix("ev").build();
    let info = server.connect().await.unwrap();
    assert!(!info.name.is_empty());
    assert!(
        server
            .instructions()
            .await
            .unwrap()
            .is_some_and(|i| !i.is_empty())
    );
    check_tools(&server).await;
    check_resources_and_prompts(&server).await;

    // the toolset view: prefixed names, calls strip the prefix
    let ctx = RunContext::new(());
    let tools = Toolset::<()>::tools(&server, &ctx).await.unwrap();
    assert!(tools.iter().all(|t| t.name().starts_with("ev_")));
    let echo = Toolset::<()>::call(&server, ctx, "ev_echo", json!({"message": "x"}))
        .await
        .unwrap();
    assert_eq!(echo, json!("Echo: x"));
    server.close().await;
}

#[tokio::test]
async fn everything_elicitation() {
    let Some(builder) = stdio_builder() else {
        return;
    };
    let server = builder
        .elicitation(|request| async move {
            assert!(request.message.contains("Please provide"));
            assert!(request.requested_schema.is_some());
            ElicitationResponse::Accept(Some(json!({"name": "Ada", "check": true})))
        })
        .build();
    let tools = server.list_tools().await.unwrap();
    assert!(
        tools
            .iter()
            .any(|t| t.name == "trigger-elicitation-request")
    );
    let result = server
        .call_tool("trigger-elicitation-request", json!({}))
        .await
        .unwrap();
    let text = format!("{:?}", result.to_model_value(false));
    assert!(text.contains("Name: Ada"), "{text}");
}

/// A free port on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// server-everything over HTTP (`streamableHttp` or `sse`) on a free port, once it listens.
async fn spawn_everything_http(js: &std::path::Path, mode: &str) -> (tokio::process::Child, u16) {
    let port = free_port();
    let child = tokio::process::Command::new("node")
        .arg(js)
        .arg(mode)
        .env("PORT", port.to_string())
        .env("GZIP_ALLOWED_DOMAINS", "localhost.invalid")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // wait for the port (bounded)
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server-everything ({mode}) did not listen on {port}");
    (child, port)
}

#[tokio::test]
async fn everything_over_streamable_http() {
    let Some(js) = support::everything() else {
        return;
    };
    let (mut child, port) = spawn_everything_http(&js, "streamableHttp").await;
    let server = McpServer::http(format!("http://127.0.0.1:{port}/mcp"))
        .header("X-Test", "verity")
        .build();
    check_tools(&server).await;
    check_resources_and_prompts(&server).await;
    server.close().await;
    let _ = child.kill().await;
}

#[tokio::test]
async fn everything_over_legacy_sse() {
    let Some(js) = support::everything() else {
        return;
    };
    let (mut child, port) = spawn_everything_http(&js, "sse").await;
    // read from an mcpServers config: a URL ending in /sse means the SSE transport
    let config = verity_mcp::McpConfig::from_json(&format!(
        r#"{{"mcpServers": {{"legacy": {{"url": "http://127.0.0.1:{port}/sse"}}}}}}"#
    ))
    .unwrap();
    let server = config.into_servers().unwrap().remove(0);
    let info = server.connect().await.unwrap();
    assert!(info.name.contains("everything"), "{info:?}");
    check_tools(&server).await;
    check_resources_and_prompts(&server).await;
    server.close().await;
    let _ = child.kill().await;
}

#[tokio::test]
async fn everything_sampling_answered_by_a_verity_model() {
    let Some(builder) = stdio_builder() else {
        return;
    };
    let model = verity::models::function::FunctionModel::new(|messages, _info| {
        let prompt = format!("{messages:?}");
        assert!(prompt.contains("context: tell me a joke"), "{prompt}");
        ModelResponse::text("a sampled answer")
    });
    let server = builder.sampling_model(model).build();
    let tools = server.list_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "trigger-sampling-request"));
    let result = server
        .call_tool(
            "trigger-sampling-request",
            json!({"prompt": "tell me a joke", "maxTokens": 50}),
        )
        .await
        .unwrap();
    let text = format!("{:?}", result.to_model_value(false));
    assert!(text.contains("a sampled answer"), "{text}");
}
