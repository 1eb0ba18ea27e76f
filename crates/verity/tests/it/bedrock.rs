//! Bedrock Converse through the AWS SDK against a local server: the request bodies the
//! SDK puts on the wire (snapshots), errors, and credentials kept out of sight.
use crate::support::{Canned, MockServer};
use serde_json::{Value, json};
use verity::messages::{
    BinaryContent, FileUrl, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart,
    SystemPromptPart, ThinkingPart, ToolCallArgs, ToolCallPart, ToolReturnPart, UserContent,
    UserPromptPart,
};
use verity::model::{ModelRequestParameters, ToolDefinition, ToolKind};
use verity::models::bedrock::{BedrockConverseModel, BedrockModelName, LATEST_BEDROCK_MODEL_NAMES};
use verity::prelude::*;
use verity::providers::bedrock::BedrockProvider;
use verity::settings::CacheTtl;

fn converse_ok() -> Value {
    json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "Paris."}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15},
        "metrics": {"latencyMs": 100}
    })
}

async fn provider(server: &MockServer) -> BedrockProvider {
    BedrockProvider::builder()
        .region("us-east-1")
        .credentials(
            "AKIDEXAMPLE",
            "very-secret-key",
            Some("session-token-value".into()),
        )
        .endpoint_url(server.url().trim_end_matches("/v1"))
        .max_attempts(1)
        .build()
        .await
        .unwrap()
}

/// The JSON body the SDK sent for one request.
async fn sent_body(
    messages: Vec<ModelMessage>,
    settings: ModelSettings,
    params: ModelRequestParameters,
) -> Value {
    let server = MockServer::start(vec![Canned::json(200, &converse_ok())]).await;
    let model = BedrockConverseModel::with_provider(
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        provider(&server).await,
    );
    let response = model.request(&messages, &settings, &params).await.unwrap();
    assert_eq!(response.text_content().as_deref(), Some("Paris."));
    server.received()[0].json()
}

#[tokio::test]
async fn snapshot_tools_system_and_settings() {
    let mut first = ModelRequest::new(vec![
        ModelRequestPart::SystemPrompt(SystemPromptPart::new("You are a geography bot.")),
        ModelRequestPart::UserPrompt(UserPromptPart::new("Capital of France?")),
    ]);
    first.instructions = Some("Be brief.".into());
    let mut thinking = ThinkingPart::new("They want a capital.");
    thinking.signature = Some("sig-123".into());
    thinking.provider_name = Some("bedrock".into());
    let response = ModelResponse::new(vec![
        ModelResponsePart::Thinking(thinking),
        ModelResponsePart::ToolCall(ToolCallPart::new(
            "lookup",
            ToolCallArgs::Json("{\"country\":\"France\"}".into()),
            "tooluse_1",
        )),
    ]);
    let second = ModelRequest::new(vec![ModelRequestPart::ToolReturn(ToolReturnPart::new(
        "lookup",
        json!("Paris"),
        "tooluse_1",
    ))]);
    let params = ModelRequestParameters {
        function_tools: vec![ToolDefinition::new(
            "lookup",
            json!({"type": "object", "properties": {"country": {"type": "string"}}, "required": ["country"]}),
        )
        .with_description("Look up a capital.")
        .with_kind(ToolKind::Function)],
        output_tools: vec![ToolDefinition::new(
            "final_result",
            json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        )
        .with_kind(ToolKind::Output)],
        allow_text_output: false,
        ..Default::default()
    };
    let settings = ModelSettings::new()
            .max_tokens(512)
            .temperature(0.5)
            .top_p(0.25)
            .stop_sequences(["END"])
            .extra_body(json!({
                "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
                "performanceConfig": {"latency": "optimized"}
            }))
        .cache_instructions(CacheTtl::FiveMinutes)
        .cache_tool_definitions(CacheTtl::FiveMinutes);
    let body = sent_body(
        vec![
            ModelMessage::Request(first),
            ModelMessage::Response(response),
            ModelMessage::Request(second),
        ],
        settings,
        params,
    )
    .await;
    insta::assert_json_snapshot!("bedrock_tools_system_settings", body);
}

#[tokio::test]
async fn snapshot_documents_and_images() {
    let mut s3_doc = FileUrl::new("s3://bucket/report.pdf");
    s3_doc.media_type = Some("application/pdf".into());
    let prompt = vec![
        UserContent::from("Compare these."),
        UserContent::Binary(BinaryContent::new(vec![0xff, 0xd8, 0xff], "image/jpeg")),
        UserContent::Binary(BinaryContent::new(b"hello".to_vec(), "text/plain")),
        UserContent::DocumentUrl(s3_doc),
        UserContent::image_url("s3://bucket/kiwi.png"),
        UserContent::Binary(BinaryContent::new(vec![0, 0, 0, 0x18], "video/mp4")),
    ];
    let body = sent_body(
        vec![ModelMessage::Request(ModelRequest::user_prompt(prompt))],
        ModelSettings::default(),
        ModelRequestParameters {
            allow_text_output: true,
            ..Default::default()
        },
    )
    .await;
    insta::assert_json_snapshot!("bedrock_documents_images", body);
}

#[tokio::test]
async fn agent_runs_and_errors_keep_status_and_message() {
    let server = MockServer::start(vec![
        Canned::json(200, &converse_ok()),
        Canned::json(
            400,
            &json!({"message": "The provided model identifier is invalid."}),
        )
        .header("x-amzn-errortype", "ValidationException"),
    ])
    .await;
    let model =
        BedrockConverseModel::with_provider("amazon.nova-pro-v1:0", provider(&server).await);
    let agent = Agent::builder(model).build();
    let result = agent.run("Capital of France?").await.unwrap();
    assert_eq!(result.output, "Paris.");
    assert_eq!(result.usage().input_tokens, 12);
    match agent.run("again").await.unwrap_err() {
        Error::ModelHttp { status, body, .. } => {
            assert_eq!(status, 400);
            assert!(
                body.contains("ValidationException")
                    && body.contains("model identifier is invalid"),
                "{body}"
            );
        }
        other => panic!("{other:?}"),
    }
    // the request was signed with the keys, which never show anywhere
    let auth = server.received()[0]
        .header("authorization")
        .unwrap()
        .to_owned();
    assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    let p = provider(&server).await;
    assert!(!format!("{p:?}").contains("very-secret-key"));
    let builder = BedrockProvider::builder().credentials("AKID", "very-secret-key", None);
    assert!(!format!("{builder:?}").contains("very-secret-key"));
}

#[test]
fn model_names_and_families() {
    assert!(
        LATEST_BEDROCK_MODEL_NAMES
            .iter()
            .any(|m| m.starts_with("global."))
    );
    assert_eq!(
        BedrockModelName::from("us.anthropic.claude-sonnet-4-20250514-v1:0").family(),
        "anthropic"
    );
    assert_eq!(
        BedrockModelName::from("apac.amazon.nova-pro-v1:0").family(),
        "amazon"
    );
    assert_eq!(
        BedrockModelName::from("meta.llama3-3-70b-instruct-v1:0").family(),
        "meta"
    );
    let m = verity::infer_model("bedrock:anthropic.claude-3-sonnet-20240229-v1:0").unwrap();
    assert_eq!(m.system(), "bedrock");
}
