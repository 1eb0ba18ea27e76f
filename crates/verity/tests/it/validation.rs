//! Validation like pydantic's through whole runs: every error reported in pydantic's
//! shape, extra tool arguments rejected, schema constraints enforced, field-less union
//! variants, and outputs that are either text or structured (`str | T`).
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use verity::messages::{ModelRequestPart, ModelResponsePart, ToolCallArgs, ToolCallPart};
use verity::output::{OutputSpec, TextOr};
use verity::prelude::*;

fn call(name: &str, args: Value, id: &str) -> ModelResponse {
    ModelResponse::new(vec![ModelResponsePart::ToolCall(ToolCallPart::new(
        name,
        ToolCallArgs::from(args),
        id,
    ))])
}

fn responses(messages: &[ModelMessage]) -> usize {
    messages
        .iter()
        .filter(|m| m.as_response().is_some())
        .count()
}

/// The content of the tool return (or retry prompt) in the last request.
fn last_feedback(messages: &[ModelMessage]) -> Value {
    let parts = messages
        .iter()
        .rev()
        .find_map(|m| m.as_request())
        .map(|r| r.parts.clone())
        .unwrap_or_default();
    match parts.first() {
        Some(ModelRequestPart::ToolReturn(r)) => r.content.clone(),
        Some(ModelRequestPart::RetryPrompt(r)) => serde_json::to_value(&r.content).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// Get the weather.
#[tool]
fn get_weather(city: String, days: i64) -> String {
    format!("sunny in {city} for {days} days")
}

/// PydanticAI 2.68 with `get_weather(city: str, days: int)`: the schema is closed, and
/// `{"days": "two", "extra": 1}` gets exactly these three errors; `"42"` is taken as 42.
#[tokio::test]
async fn tool_arguments_every_error_and_extra_forbidden() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let model = FunctionModel::new(move |messages, info| match responses(messages) {
        0 => {
            assert_eq!(
                info.function_tools[0].parameters_json_schema,
                json!({
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "format": "int64"}},
                    "required": ["city", "days"],
                    "additionalProperties": false
                })
            );
            call("get_weather", json!({"days": "two", "extra": 1}), "c1")
        }
        1 => {
            seen2.lock().unwrap().push(last_feedback(messages));
            call("get_weather", json!({"city": "London", "days": "42"}), "c2")
        }
        _ => {
            seen2.lock().unwrap().push(last_feedback(messages));
            ModelResponse::text("done")
        }
    });
    let agent = Agent::builder(model).tool(GetWeather).build();
    assert_eq!(agent.run("weather?").await.unwrap().output, "done");
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0],
        json!([
            {"type": "missing", "loc": ["city"], "msg": "Field required", "input": {"days": "two", "extra": 1}},
            {"type": "int_parsing", "loc": ["days"], "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "two"},
            {"type": "extra_forbidden", "loc": ["extra"], "msg": "Extra inputs are not permitted", "input": 1}
        ])
    );
    assert_eq!(seen[1], json!("sunny in London for 42 days"));
}

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct Rating {
    #[schemars(range(min = 0, max = 10))]
    score: u8,
    #[schemars(length(min = 1))]
    reason: String,
}

/// Constraints in the schema are enforced: pydantic's `Field(ge=0, le=10)` and
/// `min_length=1` give these errors; the lax `"7"` is accepted.
#[tokio::test]
async fn output_constraints_are_enforced() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let model = FunctionModel::new(move |messages, _| match responses(messages) {
        0 => call("final_result", json!({"score": 42, "reason": ""}), "o1"),
        _ => {
            seen2.lock().unwrap().push(last_feedback(messages));
            call(
                "final_result",
                json!({"score": "7", "reason": "good"}),
                "o2",
            )
        }
    });
    let agent = Agent::builder(model).output::<Rating>().build();
    let out = agent.run("rate it").await.unwrap().output;
    assert_eq!(
        out,
        Rating {
            score: 7,
            reason: "good".into()
        }
    );
    assert_eq!(
        seen.lock().unwrap()[0],
        json!([
            {"type": "string_too_short", "loc": ["reason"], "msg": "String should have at least 1 character", "input": ""},
            {"type": "less_than_equal", "loc": ["score"], "msg": "Input should be less than or equal to 10", "input": 42}
        ])
    );
}

/// Output models are not closed (PydanticAI's output tools have no
/// `additionalProperties: false`; pydantic ignores extra keys): an extra key is dropped.
#[tokio::test]
async fn output_tools_ignore_extra_keys() {
    #[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
    struct City {
        city: String,
    }
    let model = FunctionModel::new(|_, info| {
        assert!(
            info.output_tools[0]
                .parameters_json_schema
                .get("additionalProperties")
                .is_none()
        );
        call("final_result", json!({"city": "Paris", "extra": 1}), "o1")
    });
    let agent = Agent::builder(model).output::<City>().build();
    assert_eq!(agent.run("x").await.unwrap().output.city, "Paris");
}

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct City {
    city: String,
}

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct Empty {}

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
enum Answer {
    Found(City),
    Nothing(Empty),
}

/// A field-less struct as a union variant takes `{}`, like PydanticAI's
/// `final_result_Empty` with `{"properties": {}, "type": "object"}`.
#[tokio::test]
async fn field_less_union_variant_takes_an_empty_object() {
    let model = FunctionModel::new(|_, info| {
        let tool = info
            .output_tools
            .iter()
            .find(|t| t.name == "final_result_Nothing")
            .unwrap();
        assert_eq!(
            tool.parameters_json_schema["properties"],
            json!({}),
            "{}",
            tool.parameters_json_schema
        );
        call("final_result_Nothing", json!({}), "o1")
    });
    let agent = Agent::builder(model).output::<Answer>().build();
    assert_eq!(
        agent.run("x").await.unwrap().output,
        Answer::Nothing(Empty {})
    );
}

/// PydanticAI's `output_type=str | CityLocation`: the output tool is offered and text is
/// allowed; text gives `Text`, the tool gives `Structured`.
#[tokio::test]
async fn text_or_structured_output() {
    let model = FunctionModel::new(|messages, info| {
        assert!(info.allow_text_output);
        assert_eq!(info.output_tools.len(), 1);
        assert_eq!(info.output_tools[0].name, "final_result");
        let prompt = messages
            .first()
            .and_then(|m| m.as_request())
            .map(|r| format!("{:?}", r.parts))
            .unwrap_or_default();
        if prompt.contains("structured") {
            call("final_result", json!({"city": "Rome"}), "o1")
        } else {
            ModelResponse::text("Just text.")
        }
    });
    let agent = Agent::builder(model)
        .output_spec(OutputSpec::<TextOr<City>>::text_or())
        .build();
    assert_eq!(
        agent.run("text please").await.unwrap().output,
        TextOr::Text("Just text.".into())
    );
    assert_eq!(
        agent.run("structured please").await.unwrap().output,
        TextOr::Structured(City {
            city: "Rome".into()
        })
    );
}

/// Invalid structured output in a text-or agent is retried with the errors.
#[tokio::test]
async fn text_or_structured_retries_invalid_tool_args() {
    let model = FunctionModel::new(|messages, _| match responses(messages) {
        0 => call("final_result", json!({"city": 5}), "o1"),
        _ => {
            assert_eq!(
                last_feedback(messages),
                json!([{"type": "string_type", "loc": ["city"], "msg": "Input should be a valid string", "input": 5}])
            );
            ModelResponse::text("gave up")
        }
    });
    let agent = Agent::builder(model)
        .output_spec(OutputSpec::<TextOr<City>>::text_or())
        .build();
    assert_eq!(
        agent.run("x").await.unwrap().output,
        TextOr::Text("gave up".into())
    );
}

/// A run-time output schema (PydanticAI's `StructuredDict`): the arguments are checked
/// against it, with pydantic's errors sent back, and returned as JSON.
#[tokio::test]
async fn a_run_time_schema_checks_the_output() {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name", "age"]
    });
    let model = FunctionModel::new(|messages, info| {
        assert_eq!(info.output_tools[0].name, "person");
        let answered = messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count();
        let age = if answered == 0 { -1 } else { 36 };
        ModelResponse::tool_call("person", serde_json::json!({"name": "Ada", "age": age}))
    });
    let agent = Agent::builder(model)
        .output_spec(OutputSpec::from_schema("person", "A person.", schema))
        .build();
    let result = agent.run("Who?").await.unwrap();
    assert_eq!(result.output, serde_json::json!({"name": "Ada", "age": 36}));
    let retry = result.all_messages()[2].as_request().unwrap();
    let verity::messages::ModelRequestPart::ToolReturn(r) = &retry.parts[0] else {
        panic!("{retry:?}")
    };
    assert_eq!(r.content[0]["type"], "greater_than_equal");
}
