//! Provider quirks that real traffic shows and the recorded corpus does not: each was a
//! user's failed request somewhere.

use serde_json::json;
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::azure::AzureProvider;
use verity::providers::openai::OpenAIProvider;
use verity::providers::perplexity::PerplexityProvider;

use crate::support::{Canned, MockServer};

fn sse(chunks: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for c in chunks {
        out.push_str(&format!("data: {c}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

fn delta(index: u64, text: &str) -> serde_json::Value {
    json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
           "choices": [{"index": index, "delta": {"content": text}, "finish_reason": null}]})
}

async fn streamed_text(model: OpenAIChatModel) -> String {
    let agent = Agent::builder(model).build();
    let mut run = agent.run("ping").stream();
    let mut text = String::new();
    {
        let mut deltas = run.stream_text_deltas();
        while let Some(d) = deltas.next().await {
            text.push_str(&d.unwrap());
        }
    }
    assert_eq!(run.result().unwrap().output, text);
    text
}

#[tokio::test]
async fn several_choices_in_one_stream_stay_apart() {
    // `n: 2`: each choice's deltas come in chunks of their own
    let body = sse(&[
        delta(0, "Hel"),
        delta(1, "Bon"),
        delta(0, "lo"),
        delta(1, "jour"),
    ]);
    let server = MockServer::start(vec![Canned::sse(&body)]).await;
    let provider = OpenAIProvider::builder()
        .base_url(server.url())
        .api_key("k")
        .build()
        .unwrap();
    assert_eq!(
        streamed_text(OpenAIChatModel::new("gpt-4o", provider)).await,
        "Hello"
    );
}

#[tokio::test]
async fn cumulative_streams_are_read_as_deltas() {
    // Perplexity repeats the whole text so far in every chunk
    let body = sse(&[delta(0, "po"), delta(0, "pong"), delta(0, "pong!")]);
    let server = MockServer::start(vec![Canned::sse(&body)]).await;
    let provider = PerplexityProvider::builder()
        .base_url(server.url())
        .api_key("k")
        .build()
        .unwrap();
    assert_eq!(
        streamed_text(OpenAIChatModel::new("sonar", provider)).await,
        "pong!"
    );
}

#[tokio::test]
async fn azure_sends_its_key_in_the_api_key_header() {
    let server = MockServer::start(vec![Canned::json(
        200,
        &json!({"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                             "finish_reason": "stop"}]}),
    )])
    .await;
    let provider = AzureProvider::builder()
        .base_url(server.url())
        .api_key("azure-secret")
        .build()
        .unwrap();
    let agent = Agent::builder(OpenAIChatModel::new("gpt-4o", provider)).build();
    assert_eq!(agent.run("hi").await.unwrap().output, "hi");
    let sent = &server.received()[0];
    assert_eq!(sent.header("api-key"), Some("azure-secret"));
    assert_eq!(sent.header("authorization"), None);
}

#[tokio::test]
async fn a_prompt_the_provider_blocks_is_a_typed_error_not_an_empty_success() {
    use verity::models::gemini::GeminiModel;
    use verity::providers::google_gla::GoogleGlaProvider;
    let blocked = Canned::json(
        200,
        &json!({"promptFeedback": {"blockReason": "MODEL_ARMOR",
                                   "blockReasonMessage": "Blocked by Model Armor."},
                "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}),
    );
    let server = MockServer::start(vec![blocked]).await;
    let provider = GoogleGlaProvider::builder()
        .base_url(server.url())
        .api_key("k")
        .build()
        .unwrap();
    let agent = Agent::builder(GeminiModel::new("gemini-2.5-flash", provider)).build();
    let err = agent.run("something blocked").await.unwrap_err();
    match &err {
        Error::ContentFilter { message, body } => {
            assert_eq!(
                message,
                "Content filter triggered. Block reason: 'MODEL_ARMOR'"
            );
            assert!(body.as_deref().unwrap().contains("content_filter"));
        }
        other => panic!("{other:?}"),
    }
    // one request: a blocked prompt is not sent again
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn an_anthropic_refusal_with_nothing_to_act_on_is_a_content_filter_error() {
    use verity::models::anthropic::AnthropicModel;
    use verity::providers::anthropic::AnthropicProvider;
    let refusal = Canned::json(
        200,
        &json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [], "stop_reason": "refusal",
                "usage": {"input_tokens": 5, "output_tokens": 0}}),
    );
    let server = MockServer::start(vec![refusal]).await;
    let provider = AnthropicProvider::builder()
        .base_url(server.url())
        .api_key("k")
        .build()
        .unwrap();
    let agent = Agent::builder(AnthropicModel::new("claude-sonnet-4-5", provider)).build();
    let err = agent.run("no").await.unwrap_err();
    assert!(matches!(err, Error::ContentFilter { .. }), "{err:?}");
    assert_eq!(server.received().len(), 1);
}

#[test]
fn anthropic_uploaded_files_go_by_their_media_type() {
    use verity::messages::{ModelRequest, ModelRequestPart, UploadedFile, UserPromptPart};
    use verity::models::anthropic::AnthropicModel;
    use verity::providers::anthropic::AnthropicProvider;
    let model = AnthropicModel::new(
        "claude-sonnet-4-5",
        AnthropicProvider::builder().api_key("k").build().unwrap(),
    );
    let file = |id: &str, media: &str| {
        let f: UploadedFile =
            serde_json::from_value(json!({"file_id": id, "media_type": media})).unwrap();
        UserContent::UploadedFile(f)
    };
    let messages = vec![ModelMessage::Request(ModelRequest::new(vec![
        ModelRequestPart::UserPrompt(UserPromptPart::new(vec![
            UserContent::from("Compare."),
            file("file_img", "image/png"),
            file("file_doc", "application/pdf"),
        ])),
    ]))];
    let params = verity::model::ModelRequestParameters {
        allow_text_output: true,
        ..Default::default()
    };
    let body = model
        .build_request_body(&messages, &ModelSettings::new(), &params, false)
        .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(
        &model
            .serialize_request_body(&messages, &ModelSettings::new(), &params, false)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sent, body);
    let blocks = &body["messages"][0]["content"];
    assert_eq!(
        blocks[1],
        json!({"type": "image", "source": {"type": "file", "file_id": "file_img"}})
    );
    assert_eq!(blocks[2]["type"], "document");
}

#[test]
fn gemini_video_metadata_stays_with_downloaded_bytes() {
    use verity::messages::{BinaryContent, ModelRequest, ModelRequestPart, UserPromptPart};
    use verity::models::gemini::GeminiModel;
    use verity::providers::google_gla::GoogleGlaProvider;
    let mut video = BinaryContent::new(vec![0, 0, 0, 0x18], "video/mp4");
    video.extra.insert(
        "vendor_metadata".into(),
        json!({"video_metadata": {"fps": 2, "start_offset": "1s"}}),
    );
    let messages = vec![ModelMessage::Request(ModelRequest::new(vec![
        ModelRequestPart::UserPrompt(UserPromptPart::new(vec![
            UserContent::from("Watch."),
            UserContent::Binary(video),
        ])),
    ]))];
    let model = GeminiModel::new(
        "gemini-2.5-flash",
        GoogleGlaProvider::builder().api_key("k").build().unwrap(),
    );
    let params = verity::model::ModelRequestParameters {
        allow_text_output: true,
        ..Default::default()
    };
    let body = model
        .build_request_body(&messages, &ModelSettings::new(), &params)
        .unwrap();
    let parts = &body["contents"][0]["parts"];
    assert_eq!(parts[1]["inlineData"]["mimeType"], "video/mp4");
    assert_eq!(
        parts[2],
        json!({"videoMetadata": {"fps": 2, "start_offset": "1s"}})
    );
    let sent: serde_json::Value = serde_json::from_slice(
        &model
            .serialize_request_body(&messages, &ModelSettings::new(), &params)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sent, body);
}

#[tokio::test]
async fn openrouter_reasoning_details_keep_their_signature_and_go_back() {
    use verity::providers::openrouter::OpenRouterProvider;
    let details = json!([
        {"type": "reasoning.text", "text": "Think ", "index": 0, "format": "anthropic-claude-v1"},
        {"type": "reasoning.text", "text": "hard.", "signature": "sig-1", "index": 0,
         "format": "anthropic-claude-v1"},
    ]);
    // streamed: the two pieces of one detail arrive in two chunks
    let chunk = |d: serde_json::Value, content: &str| {
        let reasoning = d["text"].clone();
        json!({"id": "gen-1", "object": "chat.completion.chunk", "created": 1,
               "model": "anthropic/claude-sonnet-4.5",
               "choices": [{"index": 0, "delta": {"content": content, "reasoning": reasoning,
                            "reasoning_details": [d]}, "finish_reason": null}]})
    };
    let body = sse(&[
        chunk(details[0].clone(), ""),
        chunk(details[1].clone(), "42"),
    ]);
    let answer = json!({"id": "gen-2", "object": "chat.completion", "created": 1,
        "model": "anthropic/claude-sonnet-4.5",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                     "finish_reason": "stop"}]});
    let server = MockServer::start(vec![Canned::sse(&body), Canned::json(200, &answer)]).await;
    let provider = OpenRouterProvider::builder()
        .base_url(server.url())
        .api_key("k")
        .build()
        .unwrap();
    let agent = Agent::builder(OpenAIChatModel::new(
        "anthropic/claude-sonnet-4.5",
        provider,
    ))
    .build();
    let first = agent
        .run("What is the answer?")
        .stream()
        .finish()
        .await
        .unwrap();
    assert_eq!(first.output, "42");
    let response = first.all_messages()[1].as_response().unwrap();
    let verity::messages::ModelResponsePart::Thinking(thinking) = &response.parts[0] else {
        panic!("{:?}", response.parts)
    };
    assert_eq!(thinking.content, "Think hard.");
    assert_eq!(thinking.signature.as_deref(), Some("sig-1"));
    let merged = json!([{"type": "reasoning.text", "text": "Think hard.", "signature": "sig-1",
                         "index": 0, "format": "anthropic-claude-v1"}]);
    assert_eq!(
        response.provider_details.as_ref().unwrap()["reasoning_details"],
        merged
    );
    // the next request sends them back as they came
    agent
        .run("And why?")
        .message_history(first.all_messages().to_vec())
        .await
        .unwrap();
    let sent = server.received()[1].json();
    assert_eq!(sent["messages"][1]["reasoning_details"], merged);
}
