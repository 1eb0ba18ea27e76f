//! Cohere v2 chat replay: the request is rebuilt from the recorded one, and the
//! recorded response (or stream of typed events) is read into the shared expected
//! response.

use serde_json::{Map, Value, json};
use verity::messages::{
    ModelMessage, ModelRequest, ModelRequestPart, ModelResponse, ModelResponsePart,
    SystemPromptPart, TextPart, ThinkingPart, ToolCallArgs, ToolCallPart, ToolReturnPart,
    UserContent, UserPromptPart,
};
use verity::model::{ModelRequestParameters, OutputObjectDefinition, ToolDefinition, ToolKind};
use verity::models::cohere::CohereModel;
use verity::providers::cohere::CohereProvider;
use verity::settings::ToolChoice;
use verity::{IntoModel, ModelSettings, OutputMode};

use super::{
    Call, Expected, ExpectedCall, ExpectedResponse, Mode, ModelFuture, Replay, WireApi,
    compare_bodies, sse_events, test_provider,
};
use crate::support::Received;

/// Cohere's v2 chat.
pub(crate) struct Cohere;

impl WireApi for Cohere {
    fn name(&self) -> &'static str {
        "cohere"
    }

    fn build_request(&self, call: &Call<'_>) -> Result<Replay, String> {
        let body = call.recorded();
        let model = body["model"].as_str().ok_or("no model")?.to_owned();
        let mode = if body["stream"] == true {
            Mode::Stream
        } else {
            Mode::Request
        };
        Ok(Replay::new(model, mode, reverse(body)?, Some(body.clone())))
    }

    fn model<'a>(
        &'a self,
        _call: &'a Call<'a>,
        replay: &'a Replay,
        url: &'a str,
    ) -> ModelFuture<'a> {
        Box::pin(async move {
            // the API's paths are `/v2/...` under the host
            let base = url.trim_end_matches("/v1");
            let provider = test_provider(CohereProvider::builder().base_url(base))?;
            Ok(CohereModel::new(replay.model.clone(), provider).into_model())
        })
    }

    fn compare_request(
        &self,
        _call: &Call<'_>,
        replay: &Replay,
        sent: &Received,
    ) -> Result<(), String> {
        if sent.path != "/v2/chat" {
            return Err(format!("sent to {}", sent.path));
        }
        if sent.header("authorization") != Some("Bearer test-key") {
            return Err("no bearer key sent".into());
        }
        let recorded = replay.recorded.as_ref().ok_or("no recorded body")?;
        compare_bodies(&normalize(&sent.json()), &normalize(recorded), "messages")
    }

    fn expected_response(&self, call: &Call<'_>, replay: &Replay) -> Result<Expected, String> {
        let response = call.response();
        let status = call.status();
        if status >= 400 {
            let message = response
                .body
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned);
            return Ok(Expected::HttpError { status, message });
        }
        if replay.mode == Mode::Stream {
            let text = String::from_utf8(response.bytes()).unwrap_or_default();
            return Ok(expected_from_events(&text));
        }
        let body = &response.body;
        let Some(message) = body.get("message").filter(|m| m.is_object()) else {
            return Ok(Expected::Invalid);
        };
        let mut e = ExpectedResponse {
            id: body["id"].as_str().map(str::to_owned),
            model: Some(replay.model.clone()),
            ..Default::default()
        };
        end_into(&mut e, body);
        for item in message["content"].as_array().into_iter().flatten() {
            e.text.push_str(item["text"].as_str().unwrap_or_default());
            e.thinking
                .push_str(item["thinking"].as_str().unwrap_or_default());
        }
        for call in message["tool_calls"].as_array().into_iter().flatten() {
            e.tool_calls.push(ExpectedCall::new(
                call["function"]["name"].as_str().unwrap_or_default(),
                &call["function"]["arguments"],
                call["id"].as_str(),
            ));
        }
        Ok(Expected::Response(Box::new(e)))
    }
}

/// PydanticAI's finish reason and the usage, from a response or a `message-end` delta.
fn end_into(e: &mut ExpectedResponse, holder: &Value) {
    e.finish_reason = holder["finish_reason"].as_str().map(|r| {
        match r {
            "COMPLETE" | "STOP_SEQUENCE" => "stop",
            "MAX_TOKENS" => "length",
            "TOOL_CALL" => "tool_call",
            "ERROR" => "error",
            other => other,
        }
        .to_owned()
    });
    let u = &holder["usage"];
    let n = |v: &Value| v.as_f64().unwrap_or(0.0) as u64;
    e.input_tokens = n(&u["tokens"]["input_tokens"]);
    e.output_tokens = n(&u["tokens"]["output_tokens"]);
    e.cache_read_tokens = n(&u["cached_tokens"]);
}

fn expected_from_events(text: &str) -> Expected {
    let mut e = ExpectedResponse::default();
    let mut calls: std::collections::BTreeMap<u64, ExpectedCall> = Default::default();
    for (_, data) in sse_events(text) {
        if data.is_empty() || data == "[DONE]" {
            continue;
        }
        let Ok(event) = serde_json::from_str::<Value>(&data) else {
            return Expected::Invalid;
        };
        let index = event["index"].as_u64().unwrap_or(0);
        let message = &event["delta"]["message"];
        match event["type"].as_str().unwrap_or_default() {
            "message-start" => e.id = event["id"].as_str().map(str::to_owned),
            "content-start" | "content-delta" => {
                e.text
                    .push_str(message["content"]["text"].as_str().unwrap_or_default());
                e.thinking
                    .push_str(message["content"]["thinking"].as_str().unwrap_or_default());
            }
            "tool-call-start" => {
                let c = &message["tool_calls"];
                calls.insert(
                    index,
                    ExpectedCall::new(
                        c["function"]["name"].as_str().unwrap_or_default(),
                        &c["function"]["arguments"],
                        c["id"].as_str(),
                    ),
                );
            }
            "tool-call-delta" => {
                if let Some(call) = calls.get_mut(&index) {
                    call.args.push_str(
                        message["tool_calls"]["function"]["arguments"]
                            .as_str()
                            .unwrap_or_default(),
                    );
                }
            }
            "message-end" => end_into(&mut e, &event["delta"]),
            "error" => return Expected::StreamError,
            _ => {}
        }
    }
    e.tool_calls = calls.into_values().collect();
    Expected::Response(Box::new(e))
}

// ---------------------------------------------------------------------------------
// building Verity's request from the recorded one

/// Request keys Verity writes itself; the rest goes through `extra_body`.
const MODELLED_KEYS: &[&str] = &[
    "model",
    "messages",
    "tools",
    "tool_choice",
    "stream",
    "max_tokens",
    "stop_sequences",
    "temperature",
    "p",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
];

fn reverse(
    body: &Value,
) -> Result<(Vec<ModelMessage>, ModelSettings, ModelRequestParameters), String> {
    let (mut settings, mut params) = Replay::start();
    settings.max_tokens = body["max_tokens"].as_u64().map(|v| v as u32);
    settings.temperature = body["temperature"].as_f64();
    settings.top_p = body["p"].as_f64();
    settings.seed = body["seed"].as_i64();
    settings.presence_penalty = body["presence_penalty"].as_f64();
    settings.frequency_penalty = body["frequency_penalty"].as_f64();
    settings.stop_sequences = body["stop_sequences"].as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    });
    let mut extra = Map::new();
    for (k, v) in body.as_object().into_iter().flatten() {
        if !MODELLED_KEYS.contains(&k.as_str()) {
            extra.insert(k.clone(), v.clone());
        }
    }
    for t in body["tools"].as_array().into_iter().flatten() {
        let f = &t["function"];
        let mut def = ToolDefinition::new(
            f["name"].as_str().unwrap_or_default(),
            f.get("parameters").cloned().unwrap_or(json!({})),
        );
        def.description = f["description"].as_str().map(str::to_owned);
        if def.name.starts_with("final_result") {
            params.output_tools.push(def.with_kind(ToolKind::Output));
        } else {
            params
                .function_tools
                .push(def.with_kind(ToolKind::Function));
        }
    }
    match body["tool_choice"].as_str() {
        Some("REQUIRED") if !params.output_tools.is_empty() => params.allow_text_output = false,
        Some("REQUIRED") => settings.tool_choice = Some(ToolChoice::Required),
        Some("NONE") => settings.tool_choice = Some(ToolChoice::None),
        _ => {}
    }
    if let Some(rf) = body.get("response_format") {
        match rf.get("json_schema") {
            Some(schema) => {
                params.output_mode = OutputMode::Native;
                params.output_object = Some(OutputObjectDefinition {
                    name: "result".into(),
                    description: None,
                    json_schema: schema.clone(),
                    strict: None,
                });
            }
            None => params.output_mode = OutputMode::Prompted,
        }
    }
    if !extra.is_empty() {
        settings.extra_body = Some(Value::Object(extra));
    }
    Ok((
        reverse_messages(body["messages"].as_array().ok_or("no messages")?)?,
        settings,
        params,
    ))
}

fn reverse_messages(raw: &[Value]) -> Result<Vec<ModelMessage>, String> {
    let mut out: Vec<ModelMessage> = Vec::new();
    let mut pending: Vec<ModelRequestPart> = Vec::new();
    let mut names: std::collections::HashMap<String, String> = Default::default();
    for m in raw {
        match m["role"].as_str().unwrap_or_default() {
            "system" => pending.push(ModelRequestPart::SystemPrompt(SystemPromptPart::new(
                m["content"].as_str().unwrap_or_default(),
            ))),
            "user" => {
                let content = match &m["content"] {
                    Value::String(s) => verity::UserPrompt::Text(s.clone()),
                    Value::Array(items) => verity::UserPrompt::Parts(
                        items
                            .iter()
                            .map(|i| {
                                UserContent::Text(i["text"].as_str().unwrap_or_default().into())
                            })
                            .collect(),
                    ),
                    other => return Err(format!("user content {other} not mapped")),
                };
                pending.push(ModelRequestPart::UserPrompt(UserPromptPart::new(content)));
            }
            "tool" => {
                let id = m["tool_call_id"].as_str().unwrap_or_default().to_owned();
                let name = names.get(&id).cloned().unwrap_or_default();
                let content = m["content"].as_str().unwrap_or_default();
                pending.push(ModelRequestPart::ToolReturn(ToolReturnPart::new(
                    name,
                    json!(content),
                    id,
                )));
            }
            "assistant" => {
                if !pending.is_empty() {
                    out.push(ModelMessage::Request(ModelRequest::new(std::mem::take(
                        &mut pending,
                    ))));
                }
                let mut parts = Vec::new();
                for item in m["content"].as_array().into_iter().flatten() {
                    if let Some(t) = item["thinking"].as_str() {
                        parts.push(ModelResponsePart::Thinking(ThinkingPart::new(t)));
                    } else if let Some(t) = item["text"].as_str() {
                        parts.push(ModelResponsePart::Text(TextPart::new(t)));
                    }
                }
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    let id = call["id"].as_str().unwrap_or_default().to_owned();
                    let name = call["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    names.insert(id.clone(), name.clone());
                    let args = ToolCallArgs::from(call["function"]["arguments"].clone());
                    parts.push(ModelResponsePart::ToolCall(ToolCallPart::new(
                        name, args, id,
                    )));
                }
                out.push(ModelMessage::Response(ModelResponse::new(parts)));
            }
            other => return Err(format!("role `{other}` not mapped")),
        }
    }
    if !pending.is_empty() {
        out.push(ModelMessage::Request(ModelRequest::new(pending)));
    }
    Ok(out)
}

/// A body where legitimate differences vanish: tool-call arguments compare as JSON.
fn normalize(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        for m in messages.iter_mut() {
            if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
                for c in calls.iter_mut() {
                    if let Some(args) = c["function"]["arguments"].as_str()
                        && let Ok(v) = serde_json::from_str::<Value>(args)
                    {
                        c["function"]["arguments"] = v;
                    }
                }
            }
        }
    }
    body
}
