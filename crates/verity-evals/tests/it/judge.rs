//! The LLM judge, played by a FunctionModel.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use verity::messages::last_user_prompt;
use verity::prelude::*;
use verity_evals::{
    Case, Dataset, EvalValue, Evaluator, EvaluatorContext, Format, LlmJudge, Registry,
};

/// A judge model that records the prompts it is shown and passes outputs containing
/// "Paris" (score 0.9), failing others (score 0.2).
fn judge(prompts: Arc<Mutex<Vec<String>>>) -> FunctionModel {
    FunctionModel::new(move |messages, info| {
        let prompt = last_user_prompt(messages).unwrap_or_default();
        prompts.lock().unwrap().push(prompt.clone());
        let output = prompt.split("<Output>").nth(1).unwrap_or_default();
        let pass = output
            .split("</Output>")
            .next()
            .unwrap_or_default()
            .contains("Paris");
        ModelResponse::tool_call(
            info.output_tools[0].name.clone(),
            json!({
                "reason": if pass { "Names Paris." } else { "Does not name Paris." },
                "pass": pass,
                "score": if pass { 0.9 } else { 0.2 },
            }),
        )
    })
}

#[tokio::test]
async fn the_judge_returns_pass_score_and_reason() {
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let j = LlmJudge::new(
        "The answer names the capital of France.",
        judge(prompts.clone()),
    );
    let input = json!("Capital of France?");
    let out = json!("It is Paris.");
    let results =
        Evaluator::<Value, Value, ()>::evaluate(&j, &EvaluatorContext::new("c", &input, &out))
            .await
            .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].name, "LLMJudge");
    assert_eq!(results[0].value, EvalValue::Assertion(true));
    assert_eq!(results[0].reason.as_deref(), Some("Names Paris."));
    assert_eq!(results[1].value, EvalValue::Score(0.9));

    // by default the judge sees the output and the rubric only
    let p = prompts.lock().unwrap()[0].clone();
    assert_eq!(
        p,
        "<Output>\nIt is Paris.\n</Output>\n<Rubric>\nThe answer names the capital of France.\n</Rubric>"
    );
}

#[tokio::test]
async fn inputs_and_expected_output_when_asked_and_scores_in_the_report() {
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let registry = Registry::new().judge_model(judge(prompts.clone()));
    let yaml = r#"
cases:
  - {name: good, inputs: {country: France}, expected_output: {city: Paris}}
  - {name: bad, inputs: {country: France}, expected_output: {city: Paris}}
evaluators:
  - LLMJudge: {rubric: Right capital., include_input: true, include_expected_output: true}
"#;
    let dataset: Dataset<Value, Value> = Dataset::parse(yaml, Format::Yaml, &registry).unwrap();
    assert_eq!(
        dataset.evaluators[0].args(),
        json!({"rubric": "Right capital.", "include_input": true, "include_expected_output": true})
    );
    let report = dataset
        .evaluate(|inputs: Value| async move {
            let _ = inputs;
            Ok::<_, String>(json!({"city": "Paris"}))
        })
        .await;
    let p = prompts.lock().unwrap()[0].clone();
    assert!(
        p.starts_with("<Input>\n{\"country\":\"France\"}\n</Input>\n<Output>\n"),
        "{p}"
    );
    assert!(
        p.contains("<ExpectedOutput>\n{\"city\":\"Paris\"}\n</ExpectedOutput>"),
        "{p}"
    );
    let case = report.case("good").unwrap();
    assert_eq!(case.scores["LLMJudge"].mean, 0.9);
    assert_eq!(case.assertions["LLMJudge"].passed, 1);

    // a failing grade; the judge named differently
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let dataset = Dataset::<String, String>::new(vec![Case::new("lyon", "x".to_owned())])
        .evaluator(LlmJudge::new("Names Paris.", judge(prompts)).named("paris"));
    let report = dataset
        .evaluate(|_: String| async move { Ok::<_, String>("Lyon".to_owned()) })
        .await;
    let case = &report.cases[0];
    assert_eq!(case.assertions["paris"].passed, 0);
    assert_eq!(
        case.assertions["paris"].reason.as_deref(),
        Some("Does not name Paris.")
    );
    assert_eq!(case.scores["paris"].mean, 0.2);
}

#[tokio::test]
async fn a_judge_whose_model_fails_is_an_evaluator_failure() {
    let broken =
        FunctionModel::new_async(|_, _| async { Err(verity::Error::User("offline".into())) });
    let dataset = Dataset::<String, String>::new(vec![Case::new("a", "x".to_owned())])
        .evaluator(LlmJudge::new("Anything.", broken));
    let report = dataset
        .evaluate(|s: String| async move { Ok::<_, String>(s) })
        .await;
    let f = &report.cases[0].evaluator_failures[0];
    assert_eq!(f.evaluator, "LLMJudge");
    assert!(f.error.contains("offline"), "{}", f.error);
}
