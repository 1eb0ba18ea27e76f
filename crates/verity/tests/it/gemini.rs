//! Gemini: request bodies (snapshots: schema handling, multimodal input, thought
//! signatures), and the same parts from streamed and whole responses.
use crate::support::{Canned, MockServer};
use serde_json::{Map, Value, json};
use verity::messages::{
    BinaryContent, FileUrl, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart,
    SystemPromptPart, ToolCallArgs, ToolCallPart, ToolReturnPart, UserContent, UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::gemini::{GeminiModel, THOUGHT_SIGNATURE};
use verity::prelude::*;
use verity::providers::google_gla::GoogleGlaProvider;
use verity::providers::google_vertex::GoogleVertexProvider;

fn gla(url: &str, model: &str) -> GeminiModel {
    GeminiModel::new(
        model,
        GoogleGlaProvider::builder()
            .base_url(url)
            .api_key("gm-test")
            .build()
            .unwrap(),
    )
}

#[test]
fn snapshot_schema_multimodal_and_signatures() {
    let m = gla("http://localhost:1/v1beta", "gemini-2.5-flash");
    let mut video = FileUrl::new("https://www.youtube.com/watch?v=abc");
    video.media_type = Some("video/mp4".into());
    let mut first = ModelRequest::new(vec![
        ModelRequestPart::SystemPrompt(SystemPromptPart::new("You are a nature guide.")),
        ModelRequestPart::UserPrompt(UserPromptPart::new(vec![
            UserContent::from("What is in these?"),
            UserContent::Binary(BinaryContent::new(vec![0xff, 0xd8], "image/jpeg")),
            UserContent::VideoUrl(video),
            UserContent::document_url("gs://bucket/guide.pdf"),
        ])),
    ]);
    first.instructions = Some("Answer briefly.".into());
    let mut call = ToolCallPart::new(
        "lookup",
        ToolCallArgs::Json("{\"species\":\"kiwi\"}".into()),
        "call_1",
    );
    call.provider_name = Some("google-gla".into());
    call.provider_details = Some(Map::from_iter([(
        THOUGHT_SIGNATURE.to_owned(),
        json!("sig-xyz"),
    )]));
    let response = ModelResponse::new(vec![ModelResponsePart::ToolCall(call)]);
    let second = ModelRequest::new(vec![ModelRequestPart::ToolReturn(ToolReturnPart::new(
        "lookup",
        json!(["A kiwi.", {"kind": "binary", "data": "iVBORw==", "media_type": "image/png"}]),
        "call_1",
    ))]);
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"species": {"type": "string"}, "home": {"$ref": "#/$defs/Place"}},
        "required": ["species"],
        "$defs": {"Place": {"type": "object", "properties": {"country": {"type": "string"}}}}
    });
    let params = ModelRequestParameters {
        function_tools: vec![
            ToolDefinition::new("lookup", schema.clone())
                .with_description("Look up a species.")
                .with_kind(ToolKind::Function),
        ],
        output_mode: OutputMode::Native,
        output_object: Some(OutputObjectDefinition {
            name: "Answer".into(),
            description: None,
            json_schema: schema,
            strict: None,
        }),
        allow_text_output: true,
        ..Default::default()
    };
    let settings = ModelSettings::new()
        .max_tokens(256)
        .temperature(0.2)
        .stop_sequences(["END"]);
    let body = m
        .build_request_body(
            &[
                ModelMessage::Request(first),
                ModelMessage::Response(response),
                ModelMessage::Request(second),
            ],
            &settings,
            &params,
        )
        .unwrap();
    assert!(
        body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]
            .get("$schema")
            .is_none()
    );
    assert_eq!(
        body["contents"][1]["parts"][0]["thoughtSignature"],
        "sig-xyz"
    );
    insta::assert_json_snapshot!("gemini_schema_multimodal_signatures", body);
    // the older OpenAPI-subset form inlines references
    let inlined =
        verity::profiles::gemini_inline_refs(&params.function_tools[0].parameters_json_schema);
    assert_eq!(
        inlined["properties"]["home"]["properties"]["country"]["type"],
        "string"
    );
}

fn whole() -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [
                {"text": "Thinking about kiwis.", "thought": true},
                {"text": "Kiwis live in ", "thoughtSignature": "sig-a"},
                {"text": "New Zealand."},
                {"functionCall": {"id": "c1", "name": "lookup", "args": {"species": "kiwi"}}, "thoughtSignature": "sig-b"},
                {"executableCode": {"language": "PYTHON", "code": "print(1)"}}
            ]},
            "finishReason": "STOP",
            "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
        }],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 7, "thoughtsTokenCount": 4, "totalTokenCount": 21},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-1"
    })
}

fn as_sse() -> String {
    let chunks = [
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Thinking about ", "thought": true}]}}], "modelVersion": "gemini-2.5-flash", "responseId": "resp-1", "usageMetadata": {"promptTokenCount": 10}}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "kiwis.", "thought": true}]}}], "responseId": "resp-1"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Kiwis live in ", "thoughtSignature": "sig-a"}]}}], "responseId": "resp-1"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "New Zealand."}]}}], "responseId": "resp-1"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"id": "c1", "name": "lookup", "args": {"species": "kiwi"}}, "thoughtSignature": "sig-b"}, {"executableCode": {"language": "PYTHON", "code": "print(1)"}}]}, "finishReason": "STOP", "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]}], "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 7, "thoughtsTokenCount": 4, "totalTokenCount": 21}, "responseId": "resp-1"}),
    ];
    chunks
        .iter()
        .map(|c| format!("data: {c}\r\n\r\n"))
        .collect()
}

#[tokio::test]
async fn streamed_and_whole_responses_give_the_same_parts() {
    let server = MockServer::start(vec![Canned::json(200, &whole()), Canned::sse(&as_sse())]).await;
    let m = gla(&format!("{}beta", server.url()), "gemini-2.5-flash");
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt(
        "Where do kiwis live?",
    ))];
    let params = ModelRequestParameters {
        allow_text_output: true,
        ..Default::default()
    };
    let whole = m
        .request(&messages, &ModelSettings::default(), &params)
        .await
        .unwrap();
    let mut events = m
        .request_stream(&messages, &ModelSettings::default(), &params)
        .await
        .unwrap();
    let mut acc = verity::stream::ResponseAccumulator::new();
    while let Some(e) = futures::StreamExt::next(&mut events).await {
        acc.apply(e.unwrap()).unwrap();
    }
    let streamed = acc.finish();
    assert_eq!(
        serde_json::to_value(&whole.parts).unwrap(),
        serde_json::to_value(&streamed.parts).unwrap()
    );
    assert_eq!(whole.usage, streamed.usage);
    assert_eq!(whole.usage.output_tokens, 11, "thoughts count as output");
    assert_eq!(whole.finish_reason, streamed.finish_reason);
    assert_eq!(whole.provider_response_id.as_deref(), Some("resp-1"));
    assert!(
        whole
            .provider_details
            .as_ref()
            .unwrap()
            .contains_key("safetyRatings")
    );
    let sent = server.received();
    assert_eq!(
        sent[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        sent[1].path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(sent[0].header("x-goog-api-key"), Some("gm-test"));
    // signatures and the code part go back with the history
    let next = m
        .build_request_body(
            &[messages[0].clone(), ModelMessage::Response(streamed)],
            &ModelSettings::default(),
            &params,
        )
        .unwrap();
    let parts = &next["contents"][1]["parts"];
    assert_eq!(
        parts[1],
        json!({"text": "Kiwis live in New Zealand.", "thoughtSignature": "sig-a"})
    );
    assert_eq!(parts[2]["thoughtSignature"], "sig-b");
    assert_eq!(parts[3]["executableCode"]["code"], "print(1)");
}

#[test]
fn vertex_urls_and_bearer_tokens() {
    let p = GoogleVertexProvider::builder("my-project", "europe-west4")
        .api_key("ya29.token")
        .build()
        .unwrap();
    let m = GeminiModel::new("gemini-2.5-pro", p.clone());
    assert_eq!(m.model_name(), "gemini-2.5-pro");
    assert_eq!(
        p.url("/models/gemini-2.5-pro:generateContent", "gemini-2.5-pro"),
        "https://europe-west4-aiplatform.googleapis.com/v1beta1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent"
    );
    let h = p.headers(&Default::default()).unwrap();
    assert_eq!(h.get("authorization").unwrap(), "Bearer ya29.token");
    assert!(!format!("{p:?}").contains("ya29"));
}

/// Service-account credentials: the token comes from the account's token endpoint (the
/// local server here, with a key made for the test) and authorizes the Vertex request.
#[cfg(feature = "vertex")]
#[tokio::test]
async fn vertex_service_account_tokens_authorize_requests() {
    let dir = std::env::temp_dir().join(format!("verity-sa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_path = dir.join("key.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key_path)
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        panic!("openssl is needed to make a test key: {made:?}");
    }
    let pem = std::fs::read_to_string(&key_path).unwrap();
    let server = MockServer::start(vec![
        Canned::json(200, &json!({"access_token": "ya29.from-service-account", "expires_in": 3600, "token_type": "Bearer"})),
        Canned::json(200, &json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Kiwis live in New Zealand."}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 6}
        })),
        Canned::sse(concat!(
            "data: {\"candidates\": [{\"content\": {\"role\": \"model\", \"parts\": [{\"text\": \"In New \"}]}}]}\r\n\r\n",
            "data: {\"candidates\": [{\"content\": {\"role\": \"model\", \"parts\": [{\"text\": \"Zealand.\"}]}, \"finishReason\": \"STOP\"}], \"usageMetadata\": {\"promptTokenCount\": 5, \"candidatesTokenCount\": 3}}\r\n\r\n",
        )),
    ])
    .await;
    let key = json!({
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "verity-test@p.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": format!("{}/token", server.url()),
    });
    let credentials =
        verity::providers::google_vertex::service_account_credentials(&key.to_string()).unwrap();
    let provider = GoogleVertexProvider::builder("p", "us-central1")
        .base_url(server.url())
        .build()
        .unwrap();
    let model = GeminiModel::new("gemini-2.5-flash", provider).with_google_credentials(credentials);
    let agent = Agent::builder(model).build();
    let result = agent.run("Where do kiwis live?").await.unwrap();
    assert_eq!(result.output, "Kiwis live in New Zealand.");
    let sent = server.received();
    assert_eq!(sent[0].path, "/v1/token");
    assert!(
        String::from_utf8_lossy(&sent[0].body).contains("assertion="),
        "a signed JWT was exchanged"
    );
    assert_eq!(
        sent[1].header("authorization"),
        Some("Bearer ya29.from-service-account")
    );
    // streamed requests carry the (cached) token too
    let streamed = agent.run("Where?").stream().finish().await.unwrap();
    assert_eq!(streamed.output, "In New Zealand.");
    let sent = server.received();
    assert_eq!(sent.len(), 3, "the token was fetched once");
    assert!(
        sent[2].path.contains(":streamGenerateContent"),
        "{}",
        sent[2].path
    );
    assert_eq!(
        sent[2].header("authorization"),
        Some("Bearer ya29.from-service-account")
    );
    std::fs::remove_dir_all(&dir).ok();
}
