//! Mistral: request bodies (snapshot), the same response streamed and whole, a history
//! from other providers continuing on Mistral (nine-character tool-call ids) and going
//! back, and keys kept out of errors.
use crate::support::{Canned, MockServer};
use serde_json::{Value, json};
use verity::messages::{
    BinaryContent, FinishReason, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart,
    SystemPromptPart, ThinkingPart, ToolCallArgs, ToolCallPart, ToolReturnPart, UserContent,
    UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::mistral::{MistralModel, fitted_tool_call_id};
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::mistral::MistralProvider;
use verity::providers::openai::OpenAIProvider;

fn model(url: &str) -> MistralModel {
    MistralModel::new(
        "mistral-large-latest",
        MistralProvider::builder()
            .base_url(url)
            .api_key("mi-test")
            .max_retries(0)
            .build()
            .unwrap(),
    )
}

fn is_mistral_id(id: &Value) -> bool {
    id.as_str()
        .is_some_and(|s| s.len() == 9 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[test]
fn snapshot_tools_history_files_and_settings() {
    let m = model("http://localhost:1/v1");
    let first = ModelRequest::new(vec![
        ModelRequestPart::SystemPrompt(SystemPromptPart::new("You are a fruit expert.")),
        ModelRequestPart::UserPrompt(UserPromptPart::new(vec![
            UserContent::from("What is in these?"),
            UserContent::Binary(BinaryContent::new(vec![0xff, 0xd8], "image/jpeg")),
            UserContent::Binary(BinaryContent::new(b"kiwi facts".to_vec(), "text/plain")),
            UserContent::document_url("https://example.com/guide.pdf"),
        ])),
    ]);
    let mut thinking = ThinkingPart::new("The user wants fruit facts.");
    thinking.provider_name = Some("mistral".into());
    let response = ModelResponse::new(vec![
        ModelResponsePart::Thinking(thinking),
        ModelResponsePart::ToolCall(ToolCallPart::new(
            "lookup",
            ToolCallArgs::Json("{\"fruit\": \"kiwi\"}".into()),
            "call_Xq3a9ZpL0wB7",
        )),
    ]);
    let mut second = ModelRequest::new(vec![ModelRequestPart::ToolReturn(ToolReturnPart::new(
        "lookup",
        json!(["A kiwi.", {"kind": "image-url", "url": "https://example.com/kiwi.png"}]),
        "call_Xq3a9ZpL0wB7",
    ))]);
    // the instructions of the last request are the ones sent
    second.instructions = Some("Answer briefly.".into());
    let schema = json!({
        "type": "object",
        "properties": {"fruit": {"type": "string"}},
        "required": ["fruit"]
    });
    let params = ModelRequestParameters {
        function_tools: vec![
            ToolDefinition::new("lookup", schema.clone())
                .with_description("Look up a fruit.")
                .with_kind(ToolKind::Function),
        ],
        output_mode: OutputMode::Native,
        output_object: Some(OutputObjectDefinition {
            name: "Answer".into(),
            description: Some("The answer.".into()),
            json_schema: schema,
            strict: Some(true),
        }),
        allow_text_output: true,
        ..Default::default()
    };
    let settings = ModelSettings::new()
        .max_tokens(256)
        .temperature(0.2)
        .seed(7)
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
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(
        messages[1]["content"], "Answer briefly.",
        "instructions after the system prompt"
    );
    let call_id = &messages[3]["tool_calls"][0]["id"];
    assert!(is_mistral_id(call_id), "{call_id}");
    assert_eq!(&messages[4]["tool_call_id"], call_id);
    assert_eq!(
        messages[5]["content"][0]["text"], "OK",
        "a turn between tool and user"
    );
    assert_eq!(body["random_seed"], 7);
    insta::assert_json_snapshot!("mistral_tools_history_files_settings", body);
}

fn whole() -> Value {
    json!({
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 1_770_000_000,
        "model": "magistral-medium-latest",
        "choices": [{
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": [{"type": "text", "text": "Kiwis? Let me look."}]},
                    {"type": "text", "text": "Looking it up."}
                ],
                "tool_calls": [
                    {"id": "aB3dE5gH7", "index": 0, "function": {"name": "lookup", "arguments": "{\"fruit\": \"kiwi\"}"}},
                    {"id": "Zy9Xw8Vu7", "index": 1, "function": {"name": "lookup", "arguments": "{\"fruit\": \"fig\"}"}}
                ]
            }
        }],
        "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42, "num_cached_tokens": 16, "prompt_tokens_details": {"cached_tokens": 16}}
    })
}

fn as_sse() -> String {
    let base = |choice: Value| json!({"id": "cmpl-1", "object": "chat.completion.chunk", "created": 1_770_000_000, "model": "magistral-medium-latest", "choices": [choice]});
    let mut last = base(
        json!({"index": 0, "finish_reason": "tool_calls", "delta": {"tool_calls": [
            {"id": "Zy9Xw8Vu7", "index": 1, "function": {"name": "lookup", "arguments": "{\"fruit\": \"fig\"}"}}
        ]}}),
    );
    last["usage"] = whole()["usage"].clone();
    let chunks = [
        base(json!({"index": 0, "delta": {"role": "assistant", "content": ""}})),
        base(
            json!({"index": 0, "delta": {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Kiwis? "}]}]}}),
        ),
        base(
            json!({"index": 0, "delta": {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Let me look."}]}]}}),
        ),
        base(json!({"index": 0, "delta": {"content": "Looking "}})),
        base(json!({"index": 0, "delta": {"content": [{"type": "text", "text": "it up."}]}})),
        base(json!({"index": 0, "delta": {"tool_calls": [
            {"id": "aB3dE5gH7", "index": 0, "function": {"name": "lookup", "arguments": "{\"fruit\": \"kiwi\"}"}}
        ]}})),
        last,
    ];
    let mut text: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    text.push_str("data: [DONE]\n\n");
    text
}

#[tokio::test]
async fn streamed_and_whole_responses_give_the_same_response() {
    let server = MockServer::start(vec![Canned::json(200, &whole()), Canned::sse(&as_sse())]).await;
    let m = model(&server.url());
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt("Kiwi?"))];
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
    let mut streamed = acc.finish();
    // the one field that differs by nature: when the response was received
    streamed.timestamp = whole.timestamp;
    assert_eq!(whole, streamed);
    assert_eq!(whole.parts.len(), 4);
    assert_eq!(whole.usage.input_tokens, 30);
    assert_eq!(whole.usage.cache_read_tokens, 16);
    assert_eq!(whole.usage.details.get("num_cached_tokens"), Some(&16));
    assert_eq!(whole.finish_reason, Some(FinishReason::ToolCall));
    assert_eq!(whole.provider_response_id.as_deref(), Some("cmpl-1"));
    assert_eq!(whole.model_name.as_deref(), Some("magistral-medium-latest"));
    let sent = server.received();
    assert_eq!(sent[0].path, "/v1/chat/completions");
    assert_eq!(sent[0].header("authorization"), Some("Bearer mi-test"));
    assert_eq!(sent[0].json()["stream"], false);
    assert_eq!(sent[1].json()["stream"], true);
    // thinking goes back as a `thinking` chunk ahead of the text
    let next = m
        .build_request_body(
            &[messages[0].clone(), ModelMessage::Response(streamed)],
            &ModelSettings::default(),
            &params,
        )
        .unwrap();
    assert_eq!(
        next["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": [{"type": "text", "text": "Kiwis? Let me look."}]},
            {"type": "text", "text": "Looking it up."}
        ])
    );
}

fn completion(message: Value, finish: &str) -> Value {
    json!({
        "id": "cmpl", "object": "chat.completion", "created": 1, "model": "mistral-large-latest",
        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

#[tokio::test]
async fn a_history_from_openai_and_anthropic_continues_on_mistral_and_goes_back() {
    // a conversation begun elsewhere: OpenAI's and Anthropic's tool-call ids
    let history = vec![
        ModelMessage::Request(ModelRequest::user_prompt("Weather in Paris and Rome?")),
        ModelMessage::Response(ModelResponse::new(vec![ModelResponsePart::ToolCall(
            ToolCallPart::new(
                "weather",
                ToolCallArgs::from(json!({"city": "Paris"})),
                "call_9fJk2LmNoPqRsTuV",
            ),
        )])),
        ModelMessage::Request(ModelRequest::new(vec![ModelRequestPart::ToolReturn(
            ToolReturnPart::new("weather", json!("Sunny"), "call_9fJk2LmNoPqRsTuV"),
        )])),
        ModelMessage::Response(ModelResponse::new(vec![ModelResponsePart::ToolCall(
            ToolCallPart::new(
                "weather",
                ToolCallArgs::from(json!({"city": "Rome"})),
                "toolu_01A09q90qw90lq917835lq9",
            ),
        )])),
        ModelMessage::Request(ModelRequest::new(vec![ModelRequestPart::ToolReturn(
            ToolReturnPart::new("weather", json!("Rainy"), "toolu_01A09q90qw90lq917835lq9"),
        )])),
        ModelMessage::Response(ModelResponse::text("Paris is sunny, Rome rainy.")),
    ];
    let server = MockServer::start(vec![
        Canned::json(
            200,
            &completion(
                json!({"role": "assistant", "content": "", "tool_calls": [
                    {"id": "Mi5tRaL01", "index": 0, "function": {"name": "weather", "arguments": "{\"city\": \"Oslo\"}"}}
                ]}),
                "tool_calls",
            ),
        ),
        Canned::json(
            200,
            &completion(json!({"role": "assistant", "content": "Oslo is snowy."}), "stop"),
        ),
    ])
    .await;
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct City {
        city: String,
    }
    let weather = |_ctx, c: City| async move {
        Ok::<_, ToolError>(match c.city.as_str() {
            "Oslo" => "Snowy",
            _ => "Unknown",
        })
    };
    let agent = Agent::builder(model(&server.url()))
        .tool_fn("weather", "The weather in a city.", weather)
        .build();
    let result = agent
        .run("And Oslo?")
        .message_history(history.clone())
        .await
        .unwrap();
    assert_eq!(result.output, "Oslo is snowy.");

    let sent = server.received();
    let second = sent[1].json();
    let messages = second["messages"].as_array().unwrap();
    let calls: Vec<&Value> = messages
        .iter()
        .filter_map(|m| m.get("tool_calls"))
        .flat_map(|c| c.as_array().unwrap())
        .map(|c| &c["id"])
        .collect();
    let returns: Vec<&Value> = messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| &m["tool_call_id"])
        .collect();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls, returns, "every call is answered under its own id");
    assert!(calls.iter().all(|id| is_mistral_id(id)), "{calls:?}");
    assert_eq!(
        calls[0],
        &json!(fitted_tool_call_id("call_9fJk2LmNoPqRsTuV"))
    );
    assert_eq!(
        calls[1],
        &json!(fitted_tool_call_id("toolu_01A09q90qw90lq917835lq9"))
    );
    assert_eq!(calls[2], "Mi5tRaL01", "Mistral's own id is kept");
    // the same history gives the same ids (the prompt cache keeps hitting)
    assert_eq!(sent[0].json()["messages"], {
        let mut first = second["messages"].clone();
        first
            .as_array_mut()
            .unwrap()
            .truncate(sent[0].json()["messages"].as_array().unwrap().len());
        first
    });

    // the history keeps every provider's ids; moving back to OpenAI sends them as they were
    let all = result.all_messages().to_vec();
    let back = MockServer::start(vec![Canned::json(
        200,
        &json!({"id": "x", "model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Done."}}]}),
    )])
    .await;
    let openai = OpenAIChatModel::new(
        "gpt-4o",
        OpenAIProvider::builder()
            .base_url(back.url())
            .api_key("sk-test")
            .build()
            .unwrap(),
    );
    let again = Agent::builder(openai)
        .tool_fn("weather", "The weather in a city.", weather)
        .build()
        .run("Thanks")
        .message_history(all)
        .await
        .unwrap();
    assert_eq!(again.output, "Done.");
    let sent = back.received()[0].json();
    let ids: Vec<&Value> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| &m["tool_call_id"])
        .collect();
    assert_eq!(
        ids,
        [
            &json!("call_9fJk2LmNoPqRsTuV"),
            &json!("toolu_01A09q90qw90lq917835lq9"),
            &json!("Mi5tRaL01")
        ]
    );
}

#[tokio::test]
async fn errors_keep_status_and_body_but_never_the_key() {
    let server = MockServer::start(vec![
        Canned::json(
            422,
            &json!({"object": "error", "message": "Invalid tool call id", "type": "invalid_request_error", "code": "3051"}),
        ),
        Canned::sse("data: {\"object\": \"error\", \"message\": \"overloaded\", \"code\": 503}\n\n"),
    ])
    .await;
    let m = MistralModel::new(
        "mistral-small-latest",
        MistralProvider::builder()
            .base_url(server.url())
            .api_key("mi-PLANTED-secret")
            .max_retries(0)
            .build()
            .unwrap(),
    );
    assert!(!format!("{m:?}").contains("PLANTED"));
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt("hi"))];
    let params = ModelRequestParameters {
        allow_text_output: true,
        ..Default::default()
    };
    let err = m
        .request(&messages, &ModelSettings::default(), &params)
        .await
        .unwrap_err();
    match &err {
        Error::ModelHttp { status, body, .. } => {
            assert_eq!(*status, 422);
            assert!(body.contains("Invalid tool call id"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains("PLANTED"));
    let mut events = m
        .request_stream(&messages, &ModelSettings::default(), &params)
        .await
        .unwrap();
    let first = futures::StreamExt::next(&mut events).await.unwrap();
    assert!(
        matches!(first, Err(Error::ModelHttp { status: 503, .. })),
        "{first:?}"
    );
}

#[test]
fn model_strings_name_mistral() {
    let Err(Error::User(m)) = infer_model("mistrl:mistral-large-latest") else {
        panic!()
    };
    assert!(m.contains("did you mean 'mistral'?"), "{m}");
}
