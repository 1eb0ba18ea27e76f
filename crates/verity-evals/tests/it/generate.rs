//! A dataset draft written by a (scripted) model from the types' schemas.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use verity::messages::last_user_prompt;
use verity::prelude::*;
use verity_evals::generate::{generate_dataset, generation_schema};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
struct Question {
    year: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
struct CityLocation {
    city: String,
    country: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
struct Meta {
    difficulty: String,
}

#[tokio::test]
async fn a_draft_from_the_types_and_a_description() {
    let seen: Arc<Mutex<Option<(String, Value)>>> = Arc::new(Mutex::new(None));
    let seen2 = seen.clone();
    let model = FunctionModel::new(move |messages, info| {
        let tool = &info.output_tools[0];
        *seen2.lock().unwrap() = Some((
            last_user_prompt(messages).unwrap_or_default(),
            tool.parameters_json_schema.clone(),
        ));
        ModelResponse::tool_call(
            tool.name.clone(),
            json!({"cases": [
                {"name": "london", "inputs": {"year": 2012}, "expected_output": {"city": "London", "country": "United Kingdom"}, "metadata": {"difficulty": "easy"}},
                {"name": "london", "inputs": {"year": 1948}, "expected_output": {"city": "London", "country": "United Kingdom"}},
                {"name": "", "inputs": {"year": 1900}, "expected_output": {"city": "Paris", "country": "France"}}
            ]}),
        )
    });
    let d = generate_dataset::<Question, CityLocation, Meta>(
        model,
        "Where the Summer Olympics were held.",
        3,
    )
    .await
    .unwrap();
    let names: Vec<&str> = d.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["london", "london_2", "case_3"]);
    assert_eq!(
        d.cases[0].metadata,
        Some(Meta {
            difficulty: "easy".into()
        })
    );
    assert_eq!(d.cases[1].inputs, Question { year: 1948 });
    assert_eq!(d.cases[2].expected_output.as_ref().unwrap().city, "Paris");

    let (prompt, schema) = seen.lock().unwrap().clone().unwrap();
    assert!(prompt.starts_with("Write 3 test cases"), "{prompt}");
    assert!(prompt.contains("Summer Olympics"));
    // the model was shown the types' schemas
    let items = &schema["properties"]["cases"]["items"]["properties"];
    assert!(
        items["inputs"].to_string().contains("year") || schema.to_string().contains("year"),
        "{schema}"
    );
    assert!(schema.to_string().contains("country"), "{schema}");

    // the schema itself is valid and accepts what the model wrote
    let s = generation_schema::<Question, CityLocation, Meta>();
    let validator = jsonschema::validator_for(&s).unwrap();
    assert!(validator.is_valid(&json!({"cases": [{"name": "a", "inputs": {"year": 1}, "expected_output": {"city": "x", "country": "y"}}]})));
    assert!(!validator.is_valid(
        &json!({"cases": [{"name": "a", "inputs": {"year": "one"}, "expected_output": null}]})
    ));

    // a draft can be saved as a dataset file
    let dir = tempfile::tempdir().unwrap();
    d.to_file(dir.path().join("draft.yaml")).unwrap();
    assert!(dir.path().join("draft_schema.json").exists());
}

#[tokio::test]
async fn the_test_model_writes_a_schema_valid_draft() {
    let d = generate_dataset::<Question, CityLocation, ()>(TestModel::new(), "olympics", 2)
        .await
        .unwrap();
    assert!(!d.cases.is_empty());
}
