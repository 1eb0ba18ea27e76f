//! OpenAI Responses: request bodies (snapshots), what goes back to which provider,
//! streamed and whole responses alike, `previous_response_id`, errors and token counts.
use std::collections::HashMap;

use crate::support::{Canned, MockServer};
use serde_json::{Map, Value, json};
use verity::messages::{
    BinaryContent, FinishReason, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart,
    SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs, ToolCallPart, ToolReturnPart,
    UserContent, UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::fallback::FallbackModel;
use verity::models::infer::{WireApi, prefix_row};
use verity::models::openai_responses::{OpenAIResponsesModel, PreviousResponseId, RAW_ITEM};
use verity::prelude::*;
use verity::providers::openai::OpenAIProvider;
use verity::providers::openai_compatible::OpenAICompatibleProvider;
use verity::stream::ResponseAccumulator;

fn model(url: &str, name: &str) -> OpenAIResponsesModel {
    let provider = OpenAIProvider::builder()
        .base_url(url)
        .api_key("sk-test")
        .max_retries(0)
        .build()
        .unwrap();
    OpenAIResponsesModel::new(name, provider)
}

fn body(
    m: &OpenAIResponsesModel,
    messages: &[ModelMessage],
    params: &ModelRequestParameters,
) -> Value {
    m.build_request_body(
        messages,
        &ModelSettings::default(),
        params,
        &HashMap::new(),
        false,
    )
    .unwrap()
}

fn weather_tool() -> ToolDefinition {
    ToolDefinition::new(
        "get_weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
    .with_description("Weather in a city.")
    .with_strict(Some(true))
    .with_kind(ToolKind::Function)
}

fn thinking(
    content: &str,
    id: Option<&str>,
    signature: Option<&str>,
    provider: &str,
) -> ModelResponsePart {
    let mut t = ThinkingPart::new(content);
    t.id = id.map(str::to_owned);
    t.signature = signature.map(str::to_owned);
    t.provider_name = Some(provider.to_owned());
    ModelResponsePart::Thinking(t)
}

fn call(id: &str, item_id: Option<&str>, provider: &str) -> ModelResponsePart {
    let mut c = ToolCallPart::new(
        "get_weather",
        ToolCallArgs::Json(r#"{"city":"Paris"}"#.into()),
        id,
    );
    c.id = item_id.map(str::to_owned);
    c.provider_name = Some(provider.to_owned());
    ModelResponsePart::ToolCall(c)
}

fn text(content: &str, item_id: Option<&str>, provider: &str) -> ModelResponsePart {
    let mut t = TextPart::new(content);
    t.id = item_id.map(str::to_owned);
    t.provider_name = Some(provider.to_owned());
    ModelResponsePart::Text(t)
}

fn response(parts: Vec<ModelResponsePart>, provider: &str, url: Option<&str>) -> ModelMessage {
    let mut r = ModelResponse::new(parts);
    r.provider_name = Some(provider.to_owned());
    r.provider_url = url.map(str::to_owned);
    r.provider_response_id = Some(format!("resp_{provider}"));
    ModelMessage::Response(r)
}

fn tool_return(id: &str) -> ModelMessage {
    ModelMessage::Request(ModelRequest::new(vec![ModelRequestPart::ToolReturn(
        ToolReturnPart::new("get_weather", json!({"temp": 21}), id),
    )]))
}

const URL: &str = "http://localhost:1/v1";

/// A conversation on OpenAI's Responses API: reasoning with a summary and encrypted
/// content, a tool call, its return.
fn own_conversation() -> Vec<ModelMessage> {
    let mut first = ModelRequest::new(vec![
        ModelRequestPart::SystemPrompt(SystemPromptPart::new("You are a weather bot.")),
        ModelRequestPart::UserPrompt(UserPromptPart::new(vec![
            UserContent::Text("Weather here?".into()),
            UserContent::image_url("https://example.com/street.png"),
            UserContent::Binary(BinaryContent::new(b"%PDF-1.4".to_vec(), "application/pdf")),
        ])),
    ]);
    first.instructions = Some("Be brief.".into());
    let mut last = ModelRequest::new(vec![ModelRequestPart::ToolReturn(ToolReturnPart::new(
        "get_weather",
        json!({"temp": 21}),
        "call_1",
    ))]);
    last.instructions = Some("Be brief.".into());
    vec![
        ModelMessage::Request(first),
        response(
            vec![
                thinking(
                    "Looking at the picture.",
                    Some("rs_1"),
                    Some("gAAAA-enc"),
                    "openai",
                ),
                thinking("It is Paris.", Some("rs_1"), None, "openai"),
                text("Let me check.", Some("msg_1"), "openai"),
                call("call_1", Some("fc_1"), "openai"),
            ],
            "openai",
            Some(URL),
        ),
        ModelMessage::Request(last),
    ]
}

#[test]
fn snapshot_tools_reasoning_and_history() {
    let params = ModelRequestParameters {
        function_tools: vec![weather_tool()],
        output_tools: vec![ToolDefinition::new(
            "final_result",
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        )
        .with_description("The final response")
        .with_kind(ToolKind::Output)],
        allow_text_output: false,
        ..Default::default()
    };
    let b = body(&model(URL, "gpt-5"), &own_conversation(), &params);
    insta::assert_json_snapshot!("openai_responses_tools_reasoning_history", b);
    // the two summaries of one reasoning item go back as one item, with its id
    assert_eq!(b["input"][2]["summary"].as_array().unwrap().len(), 2);
    // a model without reasoning is sent no item ids and no reasoning items
    let b = body(&model(URL, "gpt-4o"), &own_conversation(), &params);
    let input = b["input"].as_array().unwrap();
    assert!(
        input
            .iter()
            .all(|i| i.get("id").is_none() && i["type"] != "reasoning"),
        "{input:#?}"
    );
    assert_eq!(
        input[2]["content"],
        "<think>\nLooking at the picture.\n</think>"
    );
    assert_eq!(
        input[4],
        json!({"role": "assistant", "content": "Let me check."})
    );
    assert!(b.get("include").is_none());
}

#[test]
fn snapshot_native_and_prompted_output() {
    let m = model(URL, "gpt-4o");
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt(
        "Largest city?",
    ))];
    let native = ModelRequestParameters {
        output_mode: OutputMode::Native,
        output_object: Some(OutputObjectDefinition {
            name: "CityLocation".into(),
            description: Some("A city.".into()),
            json_schema: json!({"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}}, "required": ["city", "country"]}),
            strict: Some(true),
        }),
        allow_text_output: true,
        ..Default::default()
    };
    let settings = ModelSettings::new().max_tokens(100).temperature(0.5);
    let b = m
        .build_request_body(&messages, &settings, &native, &HashMap::new(), true)
        .unwrap();
    insta::assert_json_snapshot!("openai_responses_native_output", b);
    let prompted = ModelRequestParameters {
        output_mode: OutputMode::Prompted,
        allow_text_output: true,
        ..Default::default()
    };
    let b = body(&m, &messages, &prompted);
    assert_eq!(b["text"], json!({"format": {"type": "json_object"}}));
}

#[test]
fn reasoning_goes_back_only_to_the_provider_that_produced_it() {
    let mut anthropic_block = Map::new();
    anthropic_block.insert("part_kind".into(), json!("builtin-tool-call"));
    anthropic_block.insert("provider_name".into(), json!("anthropic"));
    anthropic_block.insert(
        "provider_details".into(),
        json!({"anthropic_block": {"type": "server_tool_use", "id": "srvtoolu_1"}}),
    );
    let mut web_search = Map::new();
    web_search.insert("part_kind".into(), json!("builtin-tool-call"));
    web_search.insert("provider_name".into(), json!("openai"));
    web_search.insert(
        "provider_details".into(),
        json!({ RAW_ITEM: {"type": "web_search_call", "id": "ws_1", "status": "completed"} }),
    );
    let history = vec![
        ModelMessage::Request(ModelRequest::user_prompt("Weather in Paris?")),
        // OpenAI through Chat Completions: the same provider, but a Chat field name as id
        response(
            vec![
                thinking("chat reasoning", Some("reasoning_content"), None, "openai"),
                call("call_chat", None, "openai"),
            ],
            "openai",
            Some(URL),
        ),
        tool_return("call_chat"),
        // DeepSeek through Chat Completions
        response(
            vec![
                thinking(
                    "deepseek reasoning",
                    Some("reasoning_content"),
                    None,
                    "deepseek",
                ),
                call("call_ds", None, "deepseek"),
            ],
            "deepseek",
            None,
        ),
        tool_return("call_ds"),
        // Claude, with a signature and a server tool block
        response(
            vec![
                thinking(
                    "claude reasoning",
                    None,
                    Some("claude-signature"),
                    "anthropic",
                ),
                ModelResponsePart::Unknown(anthropic_block),
                call("toolu_1", None, "anthropic"),
            ],
            "anthropic",
            None,
        ),
        tool_return("toolu_1"),
        // another Responses provider (through a FallbackModel): its reasoning ids, item
        // ids and encrypted content mean nothing here
        response(
            vec![
                thinking(
                    "router reasoning",
                    Some("rs_router"),
                    Some("router-enc"),
                    "openrouter",
                ),
                call("call_router", Some("fc_router"), "openrouter"),
            ],
            "openrouter",
            None,
        ),
        tool_return("call_router"),
        // OpenAI's Responses API at another endpoint: encrypted reasoning still goes back
        // (it is checked by its key), output item ids and server-side items do not
        response(
            vec![
                thinking("elsewhere", Some("rs_other"), Some("other-enc"), "openai"),
                ModelResponsePart::Unknown(web_search),
                call("call_other", Some("fc_other"), "openai"),
            ],
            "openai",
            Some("https://other.example.com/v1"),
        ),
        tool_return("call_other"),
        // this model's own response
        response(
            vec![
                thinking("mine", Some("rs_mine"), Some("mine-enc"), "openai"),
                call("call_mine", Some("fc_mine"), "openai"),
            ],
            "openai",
            Some(URL),
        ),
        tool_return("call_mine"),
    ];
    let params = ModelRequestParameters {
        function_tools: vec![weather_tool()],
        allow_text_output: true,
        ..Default::default()
    };
    let b = body(&model(URL, "gpt-5"), &history, &params);
    let input = b["input"].as_array().unwrap();
    let reasoning: Vec<&Value> = input.iter().filter(|i| i["type"] == "reasoning").collect();
    let ids: Vec<&str> = reasoning
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["rs_other", "rs_mine"], "{input:#?}");
    assert_eq!(reasoning[0]["encrypted_content"], "other-enc");
    let item_ids: Vec<&str> = input
        .iter()
        .filter(|i| i["type"] == "function_call")
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(item_ids, ["fc_mine"]);
    // foreign thinking is shown as text, in the assistant's voice
    let texts: Vec<&str> = input
        .iter()
        .filter(|i| i["role"] == "assistant")
        .filter_map(|i| i["content"].as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "<think>\nchat reasoning\n</think>",
            "<think>\ndeepseek reasoning\n</think>",
            "<think>\nclaude reasoning\n</think>",
            "<think>\nrouter reasoning\n</think>",
        ]
    );
    // no other provider's blocks, no server-side item of another endpoint
    let raw = serde_json::to_string(input).unwrap();
    assert!(
        !raw.contains("srvtoolu_1") && !raw.contains("ws_1"),
        "{raw}"
    );
    assert!(
        !raw.contains("claude-signature") && !raw.contains("router-enc"),
        "{raw}"
    );
}

fn reasoning_response(id: &str, call_id: &str) -> Value {
    json!({
        "id": id, "object": "response", "created_at": 1_700_000_000, "status": "completed",
        "model": "gpt-5-2025-08-07",
        "output": [
            {"type": "reasoning", "id": "rs_a", "summary": [{"type": "summary_text", "text": "Need the weather."}], "encrypted_content": "enc-a"},
            {"type": "function_call", "id": "fc_a", "call_id": call_id, "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"}
        ],
        "usage": {"input_tokens": 50, "output_tokens": 20, "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 12}}
    })
}

fn text_response(id: &str, text: &str) -> Value {
    json!({
        "id": id, "object": "response", "created_at": 1_700_000_001, "status": "completed",
        "model": "gpt-5-2025-08-07",
        "output": [{"type": "message", "id": "msg_b", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}],
        "usage": {"input_tokens": 80, "output_tokens": 5}
    })
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct City {
    city: String,
}

#[tokio::test]
async fn a_fallback_to_another_provider_sends_no_foreign_reasoning() {
    let primary = MockServer::start(vec![
        Canned::json(200, &reasoning_response("resp_a", "call_a")),
        Canned::json(503, &json!({"error": {"message": "overloaded"}})),
    ])
    .await;
    let secondary =
        MockServer::start(vec![Canned::json(200, &text_response("resp_b", "Sunny."))]).await;
    let other = OpenAICompatibleProvider::builder()
        .name("other-openai")
        .base_url(secondary.url())
        .api_key("k")
        .max_retries(0)
        .build()
        .unwrap();
    let fallback = FallbackModel::new([
        model(&primary.url(), "gpt-5").into_model(),
        OpenAIResponsesModel::new("gpt-5", other).into_model(),
    ]);
    let agent = Agent::builder(fallback)
        .tool_fn("get_weather", "Weather.", |_ctx, c: City| async move {
            Ok::<_, ToolError>(format!("sunny in {}", c.city))
        })
        .build();
    let result = agent.run("Weather in Paris?").await.unwrap();
    assert_eq!(result.output, "Sunny.");
    let sent = secondary.received()[0].json();
    let input = sent["input"].as_array().unwrap();
    assert!(input.iter().all(|i| i["type"] != "reasoning"), "{input:#?}");
    let fc = input.iter().find(|i| i["type"] == "function_call").unwrap();
    assert!(fc.get("id").is_none(), "{fc}");
    assert_eq!(fc["call_id"], "call_a");
    assert!(
        input
            .iter()
            .any(|i| i["content"] == "<think>\nNeed the weather.\n</think>")
    );
    // the primary's own second request did carry its reasoning item
    let own = primary.received()[1].json();
    assert_eq!(own["input"][1]["type"], "reasoning");
    assert_eq!(own["input"][1]["encrypted_content"], "enc-a");
    assert_eq!(own["input"][2]["id"], "fc_a");
}

#[tokio::test]
async fn previous_response_id_sends_only_what_the_server_has_not_stored() {
    let server = MockServer::start(vec![
        Canned::json(200, &reasoning_response("resp_a", "call_a")),
        Canned::json(200, &text_response("resp_b", "Sunny.")),
    ])
    .await;
    let m = model(&server.url(), "gpt-5").with_previous_response_id(PreviousResponseId::Auto);
    let agent = Agent::builder(m)
        .tool_fn("get_weather", "Weather.", |_ctx, c: City| async move {
            Ok::<_, ToolError>(format!("sunny in {}", c.city))
        })
        .build();
    agent.run("Weather in Paris?").await.unwrap();
    let first = server.received()[0].json();
    assert!(first.get("previous_response_id").is_none());
    let second = server.received()[1].json();
    assert_eq!(second["previous_response_id"], "resp_a");
    assert_eq!(
        second["input"],
        json!([{"type": "function_call_output", "call_id": "call_a", "output": "sunny in Paris"}])
    );
    // a seed id is sent when the history has nothing to continue from
    let seeded =
        model(URL, "gpt-5").with_previous_response_id(PreviousResponseId::Id("resp_seed".into()));
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt(
        "And tomorrow?",
    ))];
    let b = body(&seeded, &messages, &ModelRequestParameters::default());
    assert_eq!(b["previous_response_id"], "resp_seed");
}

/// A streamed response, as the server sends it: the SSE events ending in
/// `response.completed` that carries the whole response.
fn sse_of(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

async fn whole_and_streamed(whole: &Value, sse: &str) -> (ModelResponse, ModelResponse) {
    let server = MockServer::start(vec![Canned::json(200, whole), Canned::sse(sse)]).await;
    let m = model(&server.url(), "gpt-5");
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt("hi"))];
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
    let mut acc = ResponseAccumulator::new();
    while let Some(e) = futures::StreamExt::next(&mut events).await {
        acc.apply(e.unwrap()).unwrap();
    }
    (whole, acc.finish())
}

fn assert_same(whole: &ModelResponse, streamed: &ModelResponse, what: &str) {
    let parts = |r: &ModelResponse| serde_json::to_value(&r.parts).unwrap();
    assert_eq!(parts(whole), parts(streamed), "{what}: parts");
    assert_eq!(whole.usage, streamed.usage, "{what}: usage");
    assert_eq!(
        whole.finish_reason, streamed.finish_reason,
        "{what}: finish reason"
    );
    assert_eq!(
        whole.provider_response_id, streamed.provider_response_id,
        "{what}: id"
    );
    assert_eq!(whole.model_name, streamed.model_name, "{what}: model");
    assert_eq!(
        whole.provider_details, streamed.provider_details,
        "{what}: details"
    );
}

#[tokio::test]
async fn streamed_and_whole_responses_give_the_same_response() {
    let whole = reasoning_response("resp_s", "call_s");
    let events = [
        json!({"type": "response.created", "response": {"id": "resp_s", "status": "in_progress", "model": "gpt-5-2025-08-07", "output": []}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "id": "rs_a", "summary": []}}),
        json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_a", "output_index": 0, "summary_index": 0, "delta": "Need the "}),
        json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_a", "output_index": 0, "summary_index": 0, "delta": "weather."}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": whole["output"][0]}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": {"type": "function_call", "id": "fc_a", "call_id": "call_s", "name": "get_weather", "arguments": ""}}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "fc_a", "output_index": 1, "delta": "{\"city\":"}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "fc_a", "output_index": 1, "delta": "\"Paris\"}"}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": whole["output"][1]}),
        json!({"type": "response.completed", "response": whole}),
    ];
    let (w, s) = whole_and_streamed(&whole, &sse_of(&events)).await;
    assert_same(&w, &s, "reasoning and a tool call");
    let ModelResponsePart::Thinking(t) = &w.parts[0] else {
        panic!("{:?}", w.parts)
    };
    assert_eq!(
        (t.content.as_str(), t.signature.as_deref()),
        ("Need the weather.", Some("enc-a"))
    );
    assert_eq!(w.usage.details.get("reasoning_tokens"), Some(&12));
    assert_eq!(w.finish_reason, Some(FinishReason::Stop));
}

/// Every streamed exchange of the recorded corpus, streamed and taken whole (the
/// response its `response.completed` event carries) gives the same response.
#[tokio::test]
async fn recorded_streams_and_their_whole_responses_agree() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/cassettes/openai-responses");
    let dir = std::env::var_os("VERITY_CONFORMANCE_DIR")
        .map(|d| std::path::PathBuf::from(d).join("openai-responses"))
        .unwrap_or(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "*** no conformance corpus at {}: recorded streams not compared",
            dir.display()
        );
        return;
    };
    let mut compared = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let cassette: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for i in cassette["interactions"].as_array().unwrap() {
            let Some(sse) = i["response"]["body"]
                .as_str()
                .filter(|b| b.contains("event: response."))
            else {
                continue;
            };
            let events: Vec<Value> = sse
                .split("\n\n")
                .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .collect();
            let mut whole = events
                .iter()
                .find(|e| e["type"] == "response.completed")
                .map(|e| e["response"].clone())
                .unwrap();
            if whole["output"].as_array().is_none_or(Vec::is_empty) {
                continue;
            }
            // the items as the stream finished them (encrypted content differs between
            // an item's `done` event and the completed response), then any the stream
            // left to the completed response
            let mut items: Vec<Value> = events
                .iter()
                .filter(|e| e["type"] == "response.output_item.done")
                .map(|e| e["item"].clone())
                .collect();
            for item in whole["output"].as_array().unwrap() {
                if !items.iter().any(|i| i["id"] == item["id"]) {
                    items.push(item.clone());
                }
            }
            whole["output"] = Value::Array(items);
            let (w, s) = whole_and_streamed(&whole, sse).await;
            assert_same(&w, &s, &path.display().to_string());
            compared += 1;
        }
    }
    assert!(compared >= 20, "only {compared} recorded streams compared");
}

#[tokio::test]
async fn errors_are_typed_and_keep_status_and_body() {
    let server = MockServer::start(vec![
        Canned::json(400, &json!({"error": {"message": "Invalid 'max_output_tokens'", "code": "decimal_below_min_value"}})),
        Canned::sse(&sse_of(&[
            json!({"type": "response.created", "response": {"id": "resp_e", "status": "in_progress", "output": []}}),
            json!({"type": "error", "code": "server_error", "message": "boom"}),
        ])),
        Canned::sse(&sse_of(&[json!({"type": "response.output_text.delta", "item_id": "m", "output_index": 0, "content_index": 0, "delta": "cut"})])),
        Canned::json(200, &json!({"object": "response"})),
    ])
    .await;
    let m = model(&server.url(), "gpt-4o");
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt("hi"))];
    let params = ModelRequestParameters::default();
    let settings = ModelSettings::default();
    match m.request(&messages, &settings, &params).await {
        Err(Error::ModelHttp {
            status: 400, body, ..
        }) => assert!(body.contains("decimal_below_min_value")),
        other => panic!("{other:?}"),
    }
    for expected in ["boom", "ended before the response was complete"] {
        let mut events = m
            .request_stream(&messages, &settings, &params)
            .await
            .unwrap();
        let mut error = None;
        while let Some(e) = futures::StreamExt::next(&mut events).await {
            if let Err(e) = e {
                error = Some(e);
                break;
            }
        }
        match error {
            Some(Error::ModelApi { message, .. }) => {
                assert!(message.contains(expected), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        m.request(&messages, &settings, &params).await,
        Err(Error::UnexpectedModelBehavior { .. })
    ));
}

#[tokio::test]
async fn tokens_are_counted_by_the_input_tokens_endpoint() {
    let server = MockServer::start(vec![Canned::json(
        200,
        &json!({"object": "response.input_tokens", "input_tokens": 18}),
    )])
    .await;
    let m = model(&server.url(), "gpt-4.1-mini");
    let messages = vec![ModelMessage::Request(ModelRequest::user_prompt(
        "The quick brown fox.",
    ))];
    let n = m
        .count_tokens(
            &messages,
            &ModelSettings::default(),
            &ModelRequestParameters::default(),
        )
        .await
        .unwrap();
    assert_eq!(n, 18);
    let sent = &server.received()[0];
    assert_eq!(sent.path, "/v1/responses/input_tokens");
    assert!(sent.json().get("stream").is_none());
}

#[test]
fn model_strings_choose_the_wire_api_as_pydantic_ai_2_does() {
    let wire = |prefix: &str| prefix_row(prefix).unwrap().wire;
    assert_eq!(wire("openai"), WireApi::OpenAIResponses);
    assert_eq!(wire("openai-responses"), WireApi::OpenAIResponses);
    assert_eq!(wire("openai-chat"), WireApi::OpenAIChat);
    for chat in ["azure", "deepseek", "openrouter", "ollama", "groq"] {
        assert_eq!(wire(chat), WireApi::OpenAIChat, "{chat}");
    }
}
