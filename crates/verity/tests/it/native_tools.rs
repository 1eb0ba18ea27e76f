//! Native (provider-run) tools offered next to the agent's own tools, from typed values.

use serde_json::{Value, json};
use verity::messages::{ModelRequest, ModelRequestPart, UserPromptPart};
use verity::model::{ModelRequestParameters, ToolDefinition, ToolKind};
use verity::models::anthropic::AnthropicModel;
use verity::models::gemini::GeminiModel;
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::anthropic::AnthropicProvider;
use verity::providers::google_gla::GoogleGlaProvider;
use verity::providers::openai::OpenAIProvider;
use verity::request::NativeTool;

use crate::support::{Canned, MockServer};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct City {
    city: String,
}

fn anthropic_reply() -> Canned {
    Canned::json(
        200,
        &json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "It is sunny."}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 5, "output_tokens": 3}}),
    )
}

#[tokio::test]
async fn an_agents_native_tools_go_next_to_its_own() {
    let server = MockServer::start(vec![anthropic_reply()]).await;
    let provider = AnthropicProvider::builder()
        .base_url(server.url())
        .api_key("k")
        .build()
        .unwrap();
    let agent = Agent::builder(AnthropicModel::new("claude-sonnet-4-5", provider))
        .tool_fn(
            "get_weather",
            "Weather in a city.",
            |_ctx: RunContext<()>, a: City| async move { Ok::<_, ToolError>(a.city) },
        )
        .native_tool(NativeTool::WebSearch {
            max_uses: Some(3),
            allowed_domains: vec!["example.com".into()],
        })
        .native_tool(NativeTool::code_execution())
        .build();
    let out = agent.run("Weather in Paris?").await.unwrap();
    assert_eq!(out.output, "It is sunny.");
    let body = server.received()[0].json();
    let tools = body["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["get_weather", "web_search", "code_execution"]);
    assert_eq!(
        tools[1],
        json!({"type": "web_search_20250305", "name": "web_search", "max_uses": 3,
               "allowed_domains": ["example.com"]})
    );
    assert_eq!(tools[2]["type"], "code_execution_20260120");
}

fn hello() -> Vec<ModelMessage> {
    vec![ModelMessage::Request(ModelRequest::new(vec![
        ModelRequestPart::UserPrompt(UserPromptPart::new("Hello")),
    ]))]
}

fn with_native(tools: Vec<NativeTool>) -> ModelRequestParameters {
    ModelRequestParameters {
        function_tools: vec![
            ToolDefinition::new("lookup", json!({"type": "object", "properties": {}}))
                .with_kind(ToolKind::Function),
        ],
        allow_text_output: true,
        native_tools: tools,
        ..Default::default()
    }
}

#[test]
fn gemini_takes_them_as_tool_entries() {
    let model = GeminiModel::new(
        "gemini-2.5-flash",
        GoogleGlaProvider::builder().api_key("k").build().unwrap(),
    );
    let params = with_native(vec![
        NativeTool::web_search(),
        NativeTool::web_fetch(),
        NativeTool::code_execution(),
    ]);
    let body = model
        .build_request_body(&hello(), &ModelSettings::new(), &params)
        .unwrap();
    let sent: Value = serde_json::from_slice(
        &model
            .serialize_request_body(&hello(), &ModelSettings::new(), &params)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sent, body);
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools[0]["functionDeclarations"][0]["name"], "lookup");
    assert_eq!(
        &tools[1..],
        &[
            json!({"googleSearch": {}}),
            json!({"urlContext": {}}),
            json!({"codeExecution": {}})
        ]
    );
}

#[test]
fn a_wire_api_without_them_says_so() {
    let model = OpenAIChatModel::new(
        "gpt-4o",
        OpenAIProvider::builder().api_key("k").build().unwrap(),
    );
    let err = model
        .build_request_body(
            &hello(),
            &ModelSettings::new(),
            &with_native(vec![NativeTool::web_search()]),
            &Default::default(),
            false,
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::User(m) if m.contains("does not support native tools (web_search)")),
        "{err}"
    );
}

#[cfg(feature = "bedrock")]
#[tokio::test]
async fn bedrock_nova_runs_code_as_a_system_tool() {
    use verity::models::bedrock::BedrockConverseModel;
    use verity::providers::bedrock::BedrockProvider;
    let provider = BedrockProvider::builder()
        .region("us-east-1")
        .credentials("AKIDEXAMPLE", "secret", None)
        .build()
        .await
        .unwrap();
    let nova = BedrockConverseModel::with_provider("us.amazon.nova-2-lite-v1:0", provider.clone());
    let request = nova
        .build_request(
            &hello(),
            &ModelSettings::new(),
            &with_native(vec![NativeTool::code_execution()]),
            false,
        )
        .unwrap();
    let tools = request.tool_config.unwrap().tools().to_vec();
    assert_eq!(tools.len(), 2);
    assert!(
        matches!(&tools[1], aws_sdk_bedrockruntime::types::Tool::SystemTool(t) if t.name() == "nova_code_interpreter")
    );
    // web search is not native on Bedrock; neither is code execution on Claude there
    assert!(
        nova.build_request(
            &hello(),
            &ModelSettings::new(),
            &with_native(vec![NativeTool::web_search()]),
            false
        )
        .is_err()
    );
    let claude =
        BedrockConverseModel::with_provider("us.anthropic.claude-sonnet-4-5-v1:0", provider);
    assert!(
        claude
            .build_request(
                &hello(),
                &ModelSettings::new(),
                &with_native(vec![NativeTool::code_execution()]),
                false
            )
            .is_err()
    );
}
