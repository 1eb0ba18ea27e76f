//! Verity's MCP server (tools, an agent) driven by rmcp's client and by verity-mcp's own
//! client, over streamable HTTP and over a byte stream (stdio's framing).

use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use verity::prelude::*;
use verity_mcp::{McpServer, McpToolServer};

/// Add two numbers.
///
/// # Arguments
/// * `a` - The first number.
/// * `b` - The second number.
#[tool]
async fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct CityArgs {
    /// The city.
    city: String,
}

fn tool_server() -> McpToolServer<()> {
    let weather = Tool::new(
        "weather",
        "The weather in a city.",
        |_ctx, a: CityArgs| async move {
            Ok::<_, ToolError>(json!({"city": a.city, "temperature": 21}))
        },
    );
    let picky = Tool::new("picky", "Refuses Paris.", |_ctx, a: CityArgs| async move {
        if a.city == "Paris" {
            return Err(ToolError::Retry("not Paris, please".into()));
        }
        Ok(a.city)
    });
    let agent = Agent::builder(TestModel::new()).build();
    McpToolServer::new("verity-test")
        .instructions("Tools for tests.")
        .tool(Add)
        .tool(weather)
        .tool(picky)
        .agent("ask_agent", "Ask an agent.", agent)
}

async fn drive_with_rmcp<S: rmcp::Service<rmcp::RoleClient>>(
    client: &rmcp::service::RunningService<rmcp::RoleClient, S>,
) {
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "verity-test");
    assert_eq!(info.instructions.as_deref(), Some("Tools for tests."));
    let tools = client.list_all_tools().await.unwrap();
    let add = tools.iter().find(|t| t.name == "add").unwrap();
    // the schema of the Rust function's arguments
    let schema = serde_json::to_value(&*add.input_schema).unwrap();
    assert_eq!(schema["properties"]["a"]["type"], "integer");
    assert_eq!(
        schema["properties"]["b"]["description"],
        "The second number."
    );
    assert_eq!(add.description.as_deref(), Some("Add two numbers."));

    let args = |v: Value| v.as_object().unwrap().clone();
    let sum = client
        .call_tool(CallToolRequestParams::new("add").with_arguments(args(json!({"a": 2, "b": 40}))))
        .await
        .unwrap();
    assert_eq!(sum.is_error, None);
    let sum = serde_json::to_value(&sum).unwrap();
    assert_eq!(sum["content"][0]["text"], "42");
    assert_eq!(sum["structuredContent"], json!({"result": 42}));

    let weather = client
        .call_tool(
            CallToolRequestParams::new("weather").with_arguments(args(json!({"city": "Oslo"}))),
        )
        .await
        .unwrap();
    assert_eq!(
        weather.structured_content,
        Some(json!({"city": "Oslo", "temperature": 21}))
    );

    let retry = client
        .call_tool(
            CallToolRequestParams::new("picky").with_arguments(args(json!({"city": "Paris"}))),
        )
        .await
        .unwrap();
    assert_eq!(retry.is_error, Some(true));
    assert!(
        serde_json::to_string(&retry)
            .unwrap()
            .contains("not Paris, please")
    );

    let invalid = client
        .call_tool(CallToolRequestParams::new("add").with_arguments(args(json!({"a": "two"}))))
        .await
        .unwrap();
    assert_eq!(invalid.is_error, Some(true));

    let unknown = client.call_tool(CallToolRequestParams::new("nope")).await;
    assert!(unknown.is_err());

    let answer = client
        .call_tool(
            CallToolRequestParams::new("ask_agent").with_arguments(args(json!({"prompt": "hi"}))),
        )
        .await
        .unwrap();
    let answer = serde_json::to_value(&answer).unwrap();
    assert_eq!(answer["content"][0]["text"], "success (no tool calls)");
}

#[tokio::test]
async fn verity_server_over_http_with_rmcp_client() {
    let http = tool_server().serve_http("127.0.0.1:0").await.unwrap();
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(http.url());
    let client = ().serve(transport).await.unwrap();
    drive_with_rmcp(&client).await;
    client.cancel().await.unwrap();
    http.shutdown().await;
}

#[tokio::test]
async fn verity_server_over_stdio_framing_with_rmcp_client() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    let serving = tokio::spawn(tool_server().serve_io(server_read, server_write));
    let client = ().serve(client_io).await.unwrap();
    drive_with_rmcp(&client).await;
    client.cancel().await.unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn verity_server_used_as_toolset_by_a_verity_agent() {
    let http = tool_server().serve_http("127.0.0.1:0").await.unwrap();
    let remote = McpServer::http(http.url()).tool_prefix("remote").build();
    let agent = Agent::builder(TestModel::new())
        .toolset(remote.clone())
        .instructions_fn(remote.instructions_for())
        .build();
    let result = agent.run("use the tools").await.unwrap();
    let returns: Vec<String> = result
        .all_messages()
        .iter()
        .filter_map(|m| match m {
            ModelMessage::Request(r) => Some(r.parts.iter()),
            _ => None,
        })
        .flatten()
        .filter_map(|p| match p {
            verity::ModelRequestPart::ToolReturn(r) => Some(r.tool_name.clone()),
            _ => None,
        })
        .collect();
    for name in ["remote_add", "remote_weather", "remote_ask_agent"] {
        assert!(
            returns.iter().any(|r| r == name),
            "{name} not called: {returns:?}"
        );
    }
    remote.close().await;
    http.shutdown().await;
}

/// An agent served with `sampling_agent` runs on the calling client's model when the
/// client offers sampling (here a Verity client answering with a FunctionModel), and on
/// its own model when it does not.
#[tokio::test]
async fn sampling_agent_runs_on_the_clients_model_when_offered() {
    use verity::models::function::{AgentInfo, FunctionModel};
    let own = FunctionModel::new(|_: &[ModelMessage], _: &AgentInfo| {
        ModelResponse::text("from the server's own model")
    });
    let agent = Agent::builder(own)
        .instructions("Answer in one word.")
        .build();
    let server = McpToolServer::new("sampling").sampling_agent("ask", "Ask the agent.", agent);
    let http = server.serve_http("127.0.0.1:0").await.unwrap();

    // what the client's model saw: the system prompt and the user's prompt
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let clients_model = FunctionModel::new(move |messages: &[ModelMessage], _: &AgentInfo| {
        let ModelMessage::Request(request) = messages.last().unwrap() else {
            panic!("a request last");
        };
        let prompt = request
            .parts
            .iter()
            .find_map(|p| match p {
                verity::ModelRequestPart::UserPrompt(u) => Some(u.content.text()),
                _ => None,
            })
            .unwrap_or_default();
        log.lock().unwrap().push(format!(
            "{} | {prompt}",
            request.instructions.clone().unwrap_or_default()
        ));
        ModelResponse::text(format!("sampled: {prompt}"))
    });
    let with_sampling = McpServer::http(http.url())
        .sampling_model(clients_model)
        .build();
    let result = with_sampling
        .call_tool("ask", json!({"prompt": "capital of France?"}))
        .await
        .unwrap();
    assert_eq!(
        result.to_model_value(false),
        json!("sampled: capital of France?")
    );
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["Answer in one word. | capital of France?"]
    );

    let without = McpServer::http(http.url()).build();
    let result = without
        .call_tool("ask", json!({"prompt": "capital of France?"}))
        .await
        .unwrap();
    assert_eq!(
        result.to_model_value(false),
        json!("from the server's own model")
    );
    with_sampling.close().await;
    without.close().await;
    http.shutdown().await;
}

/// Through sampling no tool definitions go, so a served agent's structured output is
/// asked for in the instructions (prompted mode): the client's model answers JSON text.
#[tokio::test]
async fn sampling_agent_with_structured_output_is_prompted() {
    use verity::models::function::{AgentInfo, FunctionModel};
    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct City {
        name: String,
        country: String,
    }
    let own = FunctionModel::new(|_: &[ModelMessage], _: &AgentInfo| ModelResponse::text("unused"));
    let agent = Agent::builder(own).output::<City>().build();
    let server = McpToolServer::new("sampling").sampling_agent("city", "Name a city.", agent);
    let http = server.serve_http("127.0.0.1:0").await.unwrap();
    let saw_schema = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = saw_schema.clone();
    let clients_model = FunctionModel::new(move |messages: &[ModelMessage], _: &AgentInfo| {
        let ModelMessage::Request(request) = messages.last().unwrap() else {
            panic!("a request last");
        };
        // the output schema travels in the system prompt
        if request
            .instructions
            .as_deref()
            .is_some_and(|i| i.contains("country"))
        {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        ModelResponse::text(r#"{"name": "Paris", "country": "France"}"#)
    });
    let client = McpServer::http(http.url())
        .sampling_model(clients_model)
        .build();
    let result = client
        .call_tool("city", json!({"prompt": "the capital of France"}))
        .await
        .unwrap();
    assert_eq!(
        result.to_model_value(true),
        json!({"name": "Paris", "country": "France"})
    );
    assert!(saw_schema.load(std::sync::atomic::Ordering::SeqCst));
    client.close().await;
    http.shutdown().await;
}
