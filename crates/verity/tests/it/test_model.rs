//! TestModel generates tool arguments and outputs that are valid for their schemas.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use verity::models::test::generate_args;
use verity::prelude::*;
use verity::tools::parameters_schema;

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
enum Color {
    Red,
    Green,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "kind")]
enum Shape {
    Circle { radius: f64 },
    Square { side: u32 },
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
struct Address {
    street: String,
    zip: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
struct Tree {
    label: String,
    children: Vec<Tree>,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
struct Everything {
    name: String,
    age: u8,
    score: f32,
    active: bool,
    nickname: Option<String>,
    tags: Vec<String>,
    address: Address,
    previous: Vec<Address>,
    color: Color,
    favourite: Option<Color>,
    shape: Shape,
    pair: (i32, String),
    counts: BTreeMap<String, u64>,
    tree: Tree,
    #[schemars(range(min = 5, max = 9))]
    bounded: i64,
    #[schemars(length(min = 3))]
    code: String,
}

fn assert_valid(schema: &Value, value: &Value) {
    let validator = jsonschema::validator_for(schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{value} is not valid for {schema}: {errors:?}"
    );
}

#[test]
fn generated_arguments_are_valid_for_nested_enum_optional_types() {
    let schema = parameters_schema::<Everything>();
    let value = generate_args(&schema);
    assert_valid(&schema, &value);
    let parsed: Everything = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(parsed.bounded, 5);
    assert_eq!(parsed.code.len(), 3);
    assert!(parsed.nickname.is_some(), "optional fields are filled in");
    assert_eq!(parsed.previous.len(), 1);
}

#[tokio::test]
async fn test_model_calls_every_tool_with_schema_valid_arguments() {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let s = Arc::clone(&seen);
    let agent = Agent::builder(TestModel::new())
        .tool_fn("store", "Store everything.", move |_ctx, e: Everything| {
            let s = Arc::clone(&s);
            async move {
                s.lock().unwrap().push(serde_json::to_value(&e).unwrap());
                Ok::<_, ToolError>("stored")
            }
        })
        .tool_fn(
            "address",
            "Store an address.",
            |_ctx, a: Address| async move { Ok::<_, ToolError>(a.street) },
        )
        .output::<Everything>()
        .build();
    let result = agent.run("go").await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(result.usage().tool_calls, 2);
    assert_eq!(result.usage().requests, 2);
    assert_valid(
        &parameters_schema::<Everything>(),
        &serde_json::to_value(&result.output).unwrap(),
    );
}

#[tokio::test]
async fn test_model_text_summarises_tool_results_and_takes_custom_output() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct City {
        city: String,
    }
    let agent = Agent::builder(TestModel::new())
        .tool_fn("weather", "Weather.", |_ctx, c: City| async move {
            Ok::<_, ToolError>(format!("sunny in {}", c.city))
        })
        .build();
    assert_eq!(
        agent.run("x").await.unwrap().output,
        "{\"weather\":\"sunny in a\"}"
    );

    let agent =
        Agent::builder(TestModel::new().with_output_args(serde_json::json!({"city": "London"})))
            .output::<serde_json::Map<String, Value>>()
            .build();
    assert_eq!(agent.run("x").await.unwrap().output["city"], "London");

    let agent = Agent::builder(TestModel::new().with_output_args(serde_json::json!(["a", "b"])))
        .output::<Vec<String>>()
        .output_mode(OutputMode::Native)
        .build();
    assert_eq!(agent.run("x").await.unwrap().output, ["a", "b"]);
}
