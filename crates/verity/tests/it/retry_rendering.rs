//! How retries reach each wire API, against the texts PydanticAI 2.68 sends (checked by
//! running it: `RetryFeedbackPart.model_response()`, `ToolReturnPart.model_response_str()`
//! and `Model.prepare_messages`), and the 2.68 fields of histories Verity writes.

use std::collections::HashMap;

use serde_json::{Value, json};
use verity::messages::{
    ModelMessage, ModelRequest, ModelRequestPart, ModelResponse, RetryFeedbackPart,
    RetryPromptPart, RetryRendering, ToolCallArgs, ToolCallPart, ToolOutcome, ToolReturnPart,
    messages_from_json, messages_to_json,
};
use verity::model::ModelRequestParameters;
use verity::models::anthropic::AnthropicModel;
use verity::models::gemini::GeminiModel;
use verity::models::openai::OpenAIChatModel;
use verity::providers::anthropic::AnthropicProvider;
use verity::providers::google_gla::GoogleGlaProvider;
use verity::providers::openai::OpenAIProvider;
use verity::settings::ModelSettings;

/// A history written by PydanticAI 2.68 (FunctionModel, `CityLocation`-like output):
/// a tool's `ModelRetry`, an output tool's validation errors, invalid output text, an
/// empty response, an output validator's `ModelRetry`.
const HISTORY: &str = include_str!("data/pydantic_ai_2_68_retries.json");

const TOOL_MESSAGE: &str = "unknown city, try another";
const TOOL_ERRORS: &str = r#"[{"type":"string_type","loc":["city"],"msg":"Input should be a valid string","input":3},{"type":"missing","loc":["country"],"msg":"Field required","input":{"city":3}}]"#;
const VALIDATION_FEEDBACK: &str = "Your previous response failed the application's validation (this is automated feedback, not a message from the user):\n<pyai:validation_errors>\n[{\"type\":\"json_invalid\",\"loc\":[],\"msg\":\"Invalid JSON: expected value at line 1 column 1\",\"input\":\"just text\"}]\n</pyai:validation_errors>";
const NO_OUTPUT: &str = "Please return text or include your response in a tool call.";
const RETRY_FEEDBACK: &str = "Your previous response failed the application's validation (this is automated feedback, not a message from the user):\n<pyai:retry_feedback>\nParis is not allowed, pick another city\n</pyai:retry_feedback>";

fn history() -> Vec<ModelMessage> {
    messages_from_json(HISTORY).unwrap()
}

fn retry_parts(messages: &[ModelMessage]) -> Vec<&ModelRequestPart> {
    messages
        .iter()
        .filter_map(ModelMessage::as_request)
        .flat_map(|r| &r.parts)
        .filter(|p| p.retry_rendering().is_some())
        .collect()
}

#[test]
fn every_retry_of_a_pydantic_ai_history_renders_as_pydantic_ai_does() {
    let messages = history();
    let renderings: Vec<RetryRendering<'_>> = retry_parts(&messages)
        .into_iter()
        .filter_map(ModelRequestPart::retry_rendering)
        .collect();
    assert_eq!(renderings.len(), 5);
    assert_eq!(
        renderings[0].wrapped_error().unwrap(),
        format!("{{\"error\":\"{TOOL_MESSAGE}\"}}")
    );
    assert_eq!(renderings[0].error_text().unwrap(), TOOL_MESSAGE);
    assert_eq!(
        renderings[1].wrapped_error().unwrap(),
        format!("{{\"error\":{TOOL_ERRORS}}}")
    );
    assert_eq!(renderings[1].error_text().unwrap(), TOOL_ERRORS);
    assert_eq!(
        renderings[2],
        RetryRendering::User(VALIDATION_FEEDBACK.into())
    );
    assert_eq!(renderings[3], RetryRendering::System(NO_OUTPUT.into()));
    assert_eq!(renderings[4], RetryRendering::User(RETRY_FEEDBACK.into()));
    // the parts' own texts are PydanticAI's `model_response_str()` / `model_response()`
    let parts = retry_parts(&messages);
    let ModelRequestPart::ToolReturn(tool) = parts[1] else {
        panic!("{:?}", parts[1])
    };
    assert_eq!(
        tool.model_response_str(),
        format!("{{\"error\":{TOOL_ERRORS}}}")
    );
    let ModelRequestPart::RetryFeedback(feedback) = parts[2] else {
        panic!("{:?}", parts[2])
    };
    assert_eq!(feedback.model_response_str(), VALIDATION_FEEDBACK);
}

#[test]
fn feedback_rendering_by_cause() {
    let errors = json!([
        {"type": "string_type", "loc": ["city"], "msg": "Input should be a valid string", "input": 3, "ctx": {"a": 1}},
        {"type": "missing", "loc": [], "msg": "Field required", "input": 3},
    ]);
    // ctx is dropped; a later root-level error's input is dropped when it repeats the first
    let fb = RetryFeedbackPart::new(errors, "validation_error", 1, 1);
    assert_eq!(
        fb.model_response_str(),
        "Your previous response failed the application's validation (this is automated feedback, not a message from the user):\n<pyai:validation_errors>\n[{\"type\":\"string_type\",\"loc\":[\"city\"],\"msg\":\"Input should be a valid string\",\"input\":3},{\"type\":\"missing\",\"loc\":[],\"msg\":\"Field required\"}]\n</pyai:validation_errors>"
    );
    // only the loop's fixed texts speak in the system voice
    let fixed = RetryFeedbackPart::new("Please return text.", "no_output", 1, 1);
    assert!(fixed.is_system_voice());
    assert_eq!(fixed.model_response_str(), "Please return text.");
    let other = RetryFeedbackPart::new("Something else", "no_output", 1, 1);
    assert!(!other.is_system_voice());
    assert_eq!(
        other.model_response_str(),
        "Your previous response failed the application's validation (this is automated feedback, not a message from the user):\n<pyai:retry_feedback>\nSomething else\n</pyai:retry_feedback>"
    );
}

#[test]
fn legacy_retry_prompts_are_translated_as_pydantic_ai_2_68_does() {
    // with a tool name: a retried return of that call
    let with_tool = ModelRequestPart::RetryPrompt(RetryPromptPart::new(
        "bad thing",
        Some("t".into()),
        "c1".into(),
    ));
    let r = with_tool.retry_rendering().unwrap();
    assert_eq!(r.wrapped_error().unwrap(), r#"{"error":"bad thing"}"#);
    assert_eq!(r.error_text().unwrap(), "bad thing");
    let errors = ModelRequestPart::RetryPrompt(RetryPromptPart::new(
        json!([{"type": "missing", "loc": ["x"], "msg": "Field required", "input": {}, "ctx": {"a": 1}}]),
        Some("t".into()),
        "c1".into(),
    ));
    assert_eq!(
        errors.retry_rendering().unwrap().wrapped_error().unwrap(),
        r#"{"error":[{"type":"missing","loc":["x"],"msg":"Field required","input":{}}]}"#
    );
    // without: model_retry feedback in the user voice
    let without =
        ModelRequestPart::RetryPrompt(RetryPromptPart::new("bad thing", None, "c2".into()));
    assert_eq!(
        without.retry_rendering().unwrap(),
        RetryRendering::User(
            "Your previous response failed the application's validation (this is automated feedback, not a message from the user):\n<pyai:retry_feedback>\nbad thing\n</pyai:retry_feedback>".into()
        )
    );
}

fn openai_body(messages: &[ModelMessage]) -> Value {
    let provider = OpenAIProvider::builder()
        .base_url("http://localhost:1/v1")
        .api_key("sk-test")
        .build()
        .unwrap();
    let model = OpenAIChatModel::new("gpt-4o", provider);
    let params = ModelRequestParameters::default();
    let settings = ModelSettings::new();
    let value = model
        .build_request_body(messages, &settings, &params, &HashMap::new(), false)
        .unwrap();
    let sent = model
        .serialize_request_body(messages, &settings, &params, &HashMap::new(), false)
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&sent).unwrap(), value);
    value
}

#[test]
fn openai_chat_voices() {
    let body = openai_body(&history());
    let messages = body["messages"].as_array().unwrap();
    let tools: Vec<&Value> = messages.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(
        tools[0]["content"],
        format!("{{\"error\":\"{TOOL_MESSAGE}\"}}")
    );
    assert_eq!(tools[1]["content"], format!("{{\"error\":{TOOL_ERRORS}}}"));
    let texts: Vec<(&str, &str)> = messages
        .iter()
        .filter(|m| m["role"] != "tool" && m["role"] != "assistant")
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        texts[texts.len() - 3..],
        [
            ("user", VALIDATION_FEEDBACK),
            ("system", NO_OUTPUT),
            ("user", RETRY_FEEDBACK)
        ]
    );
}

#[test]
fn anthropic_voices() {
    let model = AnthropicModel::new(
        "claude-sonnet-4-5",
        AnthropicProvider::builder()
            .base_url("http://localhost:1")
            .api_key("sk-ant-test")
            .build()
            .unwrap(),
    );
    let body = model
        .build_request_body(
            &history(),
            &ModelSettings::new(),
            &ModelRequestParameters::default(),
            false,
        )
        .unwrap();
    let turns = body["messages"].as_array().unwrap();
    let results: Vec<&Value> = turns
        .iter()
        .flat_map(|t| t["content"].as_array().into_iter().flatten())
        .filter(|b| b["type"] == "tool_result")
        .collect();
    assert_eq!(results[0]["content"], TOOL_MESSAGE);
    assert_eq!(results[0]["is_error"], true);
    assert_eq!(results[1]["content"], TOOL_ERRORS);
    assert_eq!(results[1]["is_error"], true);
    let texts: Vec<(&str, &str)> = turns
        .iter()
        .filter(|t| t["role"] != "assistant")
        .flat_map(|t| {
            let role = t["role"].as_str().unwrap();
            t["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |b| b["text"].as_str().map(|text| (role, text)))
        })
        .collect();
    assert_eq!(
        texts[texts.len() - 3..],
        [
            ("user", VALIDATION_FEEDBACK),
            ("system", NO_OUTPUT),
            ("user", RETRY_FEEDBACK)
        ]
    );
}

#[test]
fn gemini_voices() {
    let model = GeminiModel::new(
        "gemini-2.5-flash",
        GoogleGlaProvider::builder()
            .base_url("http://localhost:1/v1beta")
            .api_key("gm-test")
            .build()
            .unwrap(),
    );
    let body = model
        .build_request_body(
            &history(),
            &ModelSettings::new(),
            &ModelRequestParameters::default(),
        )
        .unwrap();
    let contents = body["contents"].as_array().unwrap();
    let responses: Vec<&Value> = contents
        .iter()
        .flat_map(|c| c["parts"].as_array().into_iter().flatten())
        .filter_map(|p| p.get("functionResponse"))
        .collect();
    assert_eq!(responses[0]["response"], json!({"error": TOOL_MESSAGE}));
    assert_eq!(responses[1]["response"], json!({"error": TOOL_ERRORS}));
    let tagged = format!("<system>{NO_OUTPUT}</system>");
    let texts: Vec<(&str, &str)> = contents
        .iter()
        .filter(|c| c["role"] != "model")
        .flat_map(|c| {
            let role = c["role"].as_str().unwrap();
            c["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |p| p["text"].as_str().map(|text| (role, text)))
        })
        .collect();
    // no mid-conversation system role: <system>-tagged user text
    assert_eq!(
        texts[texts.len() - 3..],
        [
            ("user", VALIDATION_FEEDBACK),
            ("user", tagged.as_str()),
            ("user", RETRY_FEEDBACK)
        ]
    );
}

#[cfg(feature = "bedrock")]
#[tokio::test]
async fn bedrock_voices() {
    use aws_sdk_bedrockruntime::types as bt;
    use verity::models::bedrock::BedrockConverseModel;
    use verity::providers::bedrock::BedrockProvider;
    let provider = BedrockProvider::builder()
        .region("us-east-1")
        .credentials("AKIDEXAMPLE", "very-secret-key", None)
        .endpoint_url("http://localhost:1")
        .max_attempts(1)
        .build()
        .await
        .unwrap();
    let model = BedrockConverseModel::with_provider("amazon.nova-pro-v1:0", provider);
    let request = model
        .build_request(
            &history(),
            &ModelSettings::new(),
            &ModelRequestParameters::default(),
            false,
        )
        .unwrap();
    let blocks: Vec<&bt::ContentBlock> = request
        .messages
        .iter()
        .filter(|m| *m.role() == bt::ConversationRole::User)
        .flat_map(|m| m.content())
        .collect();
    let results: Vec<&bt::ToolResultBlock> = blocks
        .iter()
        .filter_map(|b| b.as_tool_result().ok())
        .collect();
    assert_eq!(results[0].status(), Some(&bt::ToolResultStatus::Error));
    assert_eq!(results[0].content()[0].as_text().unwrap(), TOOL_MESSAGE);
    assert_eq!(results[1].content()[0].as_text().unwrap(), TOOL_ERRORS);
    let texts: Vec<&str> = blocks
        .iter()
        .filter_map(|b| b.as_text().ok().map(String::as_str))
        .collect();
    assert_eq!(
        texts[texts.len() - 3..],
        [
            VALIDATION_FEEDBACK,
            format!("<system>{NO_OUTPUT}</system>").as_str(),
            RETRY_FEEDBACK
        ]
    );
}

#[test]
fn pydantic_ai_history_round_trips_exactly() {
    let original: Value = serde_json::from_str(HISTORY).unwrap();
    let back: Value = serde_json::from_str(&messages_to_json(&history()).unwrap()).unwrap();
    assert_eq!(back, original);
}

#[test]
fn timestamps_keep_pydantic_ai_precision() {
    let json = r#"[{"kind":"request","parts":[],"timestamp":"2025-01-02T03:04:18.085000Z"},
        {"kind":"request","parts":[],"timestamp":"2025-01-02T03:04:18Z"},
        {"kind":"request","parts":[],"timestamp":"2025-01-02T03:04:18.085+00:00"}]"#;
    let back: Value =
        serde_json::from_str(&messages_to_json(&messages_from_json(json).unwrap()).unwrap())
            .unwrap();
    assert_eq!(back[0]["timestamp"], "2025-01-02T03:04:18.085000Z");
    assert_eq!(back[1]["timestamp"], "2025-01-02T03:04:18Z");
    assert_eq!(back[2]["timestamp"], "2025-01-02T03:04:18.085000Z");
    // Verity's own timestamps are written the same way: six digits of microseconds
    let own: Value =
        serde_json::to_value(ModelMessage::Request(ModelRequest::user_prompt("hi"))).unwrap();
    let ts = own["timestamp"].as_str().unwrap();
    let fraction = ts
        .trim_end_matches('Z')
        .rsplit_once('.')
        .map(|(_, f)| f.len());
    assert!(matches!(fraction, Some(6) | None), "{ts}");
}

#[test]
fn verity_writes_the_2_68_fields_it_knows() {
    let call = ToolCallPart::new("t", ToolCallArgs::default(), "c1");
    let mut ret = ToolReturnPart::new("t", "ok", "c1");
    ret.outcome = ToolOutcome::Success;
    let messages = vec![
        ModelMessage::Request(ModelRequest::user_prompt("hi")),
        ModelMessage::Response(ModelResponse::new(vec![
            verity::messages::ModelResponsePart::ToolCall(call),
        ])),
        ModelMessage::Request(ModelRequest::new(vec![ModelRequestPart::ToolReturn(ret)])),
    ];
    let v: Value = serde_json::from_str(&messages_to_json(&messages).unwrap()).unwrap();
    for m in v.as_array().unwrap() {
        assert_eq!(m["state"], "complete");
        assert_eq!(m["metadata"], Value::Null);
        assert!(m.as_object().unwrap().contains_key("metadata"));
    }
    assert!(
        v[1]["parts"][0]
            .as_object()
            .unwrap()
            .contains_key("tool_kind")
    );
    assert!(
        v[2]["parts"][0]
            .as_object()
            .unwrap()
            .contains_key("tool_kind")
    );
    // read back, and written again unchanged
    let again: Value = serde_json::from_str(
        &messages_to_json(&messages_from_json(&v.to_string()).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(again, v);
}
