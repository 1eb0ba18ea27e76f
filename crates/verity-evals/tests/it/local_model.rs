//! One real judge call: SmolLM2-135M behind llama.cpp (`scripts/local-model`), in native
//! output mode. Skipped loudly when the server cannot start on a developer machine; in
//! CI (`CI` set) that fails the test.

use std::sync::OnceLock;

use serde_json::{Value, json};
use verity::prelude::*;
use verity_evals::{EvalValue, Evaluator, EvaluatorContext, LlmJudge};

fn local_model_url() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| match verity::models::local::start(false) {
        Ok(url) => Some(url),
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!("the local model server did not start in CI: {why}");
            }
            eprintln!(
                "\n*****************************************************************\n\
                 *** LOCAL-MODEL JUDGE TEST SKIPPED: the server could not start:\n*** {why}\n\
                 *****************************************************************\n"
            );
            None
        }
    })
    .clone()
}

#[tokio::test]
async fn a_real_judge_call_in_native_output_mode() {
    let Some(url) = local_model_url() else { return };
    let model = verity::models::local::model_at(&url).unwrap();
    let judge = LlmJudge::new("The output is a greeting.", model)
        .include_input(true)
        .with_output(
            OutputMode::Native,
            ModelSettings::new().temperature(0.0).max_tokens(300),
        );
    let input = json!("Say hello.");
    let out = json!("Hello there!");
    let results =
        Evaluator::<Value, Value, ()>::evaluate(&judge, &EvaluatorContext::new("c", &input, &out))
            .await
            .unwrap();
    // a small model's verdict is not asserted; its shape is
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(
        matches!(results[0].value, EvalValue::Assertion(_)),
        "{results:?}"
    );
    match results[1].value {
        EvalValue::Score(s) => assert!((0.0..=1.0).contains(&s), "{s}"),
        ref other => panic!("not a score: {other:?}"),
    }
    assert!(results[0].reason.is_some());
}
