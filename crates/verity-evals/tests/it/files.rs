//! Datasets to and from YAML and JSON, the schema written beside them, and the
//! registry resolving evaluator names.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use verity_evals::builtins::{Contains, EqualsExpected, MaxDuration, ToolsCalled};
use verity_evals::dataset::schema_path;
use verity_evals::{Case, Dataset, EvalError, Format, Registry, evaluator_fn};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
struct Question {
    text: String,
    #[serde(default)]
    lang: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
struct Answer {
    city: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
struct Meta {
    difficulty: u8,
}

type Ds = Dataset<Question, Answer, Meta>;

fn dataset() -> Ds {
    Dataset::new(vec![
        Case::new(
            "france",
            Question {
                text: "Capital of France?".into(),
                lang: None,
            },
        )
        .expected_output(Answer {
            city: "Paris".into(),
        })
        .metadata(Meta { difficulty: 1 })
        .evaluator(Contains::new(json!({"city": "Paris"}))),
        Case::new(
            "japan",
            Question {
                text: "Capital of Japan?".into(),
                lang: Some("en".into()),
            },
        ),
    ])
    .named("capitals")
    .evaluator(EqualsExpected)
    .evaluator(MaxDuration { seconds: 2.5 })
    .evaluator(ToolsCalled::new(["lookup"]).in_order())
}

/// What a dataset is, apart from its evaluator objects.
fn shape(d: &Ds) -> Value {
    serde_json::from_str(&d.to_json().unwrap()).unwrap()
}

fn validate(schema_file: &std::path::Path, instance: &Value) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_file).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn yaml_round_trip_with_schema_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capitals.yaml");
    let d = dataset();
    d.to_file(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("# yaml-language-server: $schema=capitals_schema.json\n"),
        "{text}"
    );
    assert!(text.contains("- EqualsExpected"), "{text}");
    assert!(text.contains("MaxDuration: 2.5"), "{text}");
    let schema_file = schema_path(&path);
    assert_eq!(schema_file, dir.path().join("capitals_schema.json"));

    let back = Ds::from_file(&path).unwrap();
    assert_eq!(shape(&back), shape(&d));
    assert_eq!(back.cases[0].evaluators[0].name(), "Contains");
    assert_eq!(back.evaluators.len(), 3);

    // the file (as JSON) validates against the schema written beside it
    let as_json: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(validate(&schema_file, &as_json), Vec::<String>::new());
}

#[test]
fn json_round_trip_references_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capitals.json");
    let d = dataset();
    d.to_file(&path).unwrap();
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(file["$schema"], "capitals_schema.json");
    assert_eq!(
        file["evaluators"][2],
        json!({"ToolsCalled": {"tools": ["lookup"], "order": true, "exact": false}})
    );
    assert_eq!(validate(&schema_path(&path), &file), Vec::<String>::new());
    let back = Ds::from_file(&path).unwrap();
    assert_eq!(shape(&back), shape(&d));
}

#[test]
fn the_schema_rejects_what_loading_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capitals.json");
    dataset().to_file(&path).unwrap();
    let schema_file = schema_path(&path);

    // a wrong type in the inputs, an unknown evaluator, an unknown field
    for bad in [
        json!({"cases": [{"name": "a", "inputs": {"text": 3}}]}),
        json!({"cases": [{"name": "a", "inputs": {"text": "x"}}], "evaluators": ["Nope"]}),
        json!({"cases": [{"name": "a", "inputs": {"text": "x"}, "extra": 1}]}),
        json!({"cases": [{"name": "a", "inputs": {"text": "x"}, "metadata": {"difficulty": 300}}]}),
    ] {
        assert!(!validate(&schema_file, &bad).is_empty(), "{bad}");
        let loaded = Ds::parse(&bad.to_string(), Format::Json, &Registry::new());
        assert!(loaded.is_err(), "{bad}");
    }
}

#[test]
fn short_forms_and_errors_of_evaluator_entries() {
    let yaml = r#"
cases:
  - name: a
    inputs: {text: hi}
    evaluators:
      - {Contains: Paris}
      - {Contains: {value: paris, case_sensitive: false}}
      - {IsType: object}
      - {MaxToolCalls: 2}
      - {ValidSchema: {type: object}}
"#;
    let d = Ds::parse(yaml, Format::Yaml, &Registry::new()).unwrap();
    let names: Vec<String> = d.cases[0].evaluators.iter().map(|e| e.name()).collect();
    assert_eq!(
        names,
        [
            "Contains",
            "Contains",
            "IsType",
            "MaxToolCalls",
            "ValidSchema"
        ]
    );
    assert_eq!(d.cases[0].evaluators[0].args(), json!({"value": "Paris"}));

    let err = Ds::parse(
        "cases: [{name: a, inputs: {text: x}, evaluators: [Nope]}]",
        Format::Yaml,
        &Registry::new(),
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::UnknownEvaluator { .. }), "{err}");
    assert!(err.to_string().contains("EqualsExpected"), "{err}");

    let err = Ds::parse(
        "cases: [{name: a, inputs: {text: x}, evaluators: [{MaxToolCalls: many}]}]",
        Format::Yaml,
        &Registry::new(),
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::EvaluatorArgs { .. }), "{err}");

    // a judge needs a model
    let err = Ds::parse(
        "cases: [{name: a, inputs: {text: x}}]\nevaluators: [{LLMJudge: be nice}]",
        Format::Yaml,
        &Registry::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no model"), "{err}");

    let err = Ds::parse(
        "cases: [{name: a, inputs: {text: x}}, {name: a, inputs: {text: y}}]",
        Format::Yaml,
        &Registry::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("two cases are named 'a'"), "{err}");

    let err = Ds::parse(
        "cases: [{name: a, inputs: 3}]",
        Format::Yaml,
        &Registry::new(),
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::Yaml(_)), "{err}");

    assert!(matches!(
        Ds::from_file("x.txt").unwrap_err(),
        EvalError::UnknownFormat(_)
    ));
    assert!(matches!(
        Ds::from_file("missing.yaml").unwrap_err(),
        EvalError::Io { .. }
    ));
}

#[test]
fn user_evaluators_from_the_registry_and_in_the_schema() {
    let registry = Registry::<Question, Answer, Meta>::new().register("NonEmpty", |args, _| {
        let min = args.get("min").and_then(Value::as_u64).unwrap_or(1) as usize;
        Ok(Arc::new(evaluator_fn(
            "NonEmpty",
            move |ctx: &verity_evals::EvaluatorContext<'_, Question, Answer, Meta>| {
                ctx.output.city.len() >= min
            },
        )))
    });
    let d = Ds::parse(
        "cases: [{name: a, inputs: {text: x}}]\nevaluators: [{NonEmpty: {min: 2}}]",
        Format::Yaml,
        &registry,
    )
    .unwrap();
    assert_eq!(d.evaluators[0].name(), "NonEmpty");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.json");
    d.to_file_with(&path, &registry).unwrap();
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path(&path)).unwrap()).unwrap();
    let names = schema["$defs"]["Evaluator"]["anyOf"][0]["enum"]
        .as_array()
        .unwrap();
    assert!(names.contains(&json!("NonEmpty")));
    assert!(names.contains(&json!("LLMJudge")));
}
