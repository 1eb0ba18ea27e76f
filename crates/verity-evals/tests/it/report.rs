//! The report: table snapshots (Unicode and ASCII), JSON round trip, averages.

use verity_evals::builtins::{Contains, EqualsExpected, IsType};
use verity_evals::{
    Case, Dataset, EvaluationReport, EvaluationResult, EvaluatorContext, RenderOptions,
    evaluator_fn,
};

pub async fn sample_report(shout: bool) -> EvaluationReport {
    let dataset = Dataset::<String, String>::new(vec![
        Case::new("hello", "hello".to_owned()).expected_output("HELLO".to_owned()),
        Case::new("world", "world".to_owned())
            .expected_output("WORLD!".to_owned())
            .evaluator(Contains::new("WOR")),
        Case::new("empty", String::new()),
        Case::new("boom", "boom".to_owned()),
    ])
    .named("shouting")
    .evaluator(EqualsExpected)
    .evaluator(IsType::new("string"))
    .evaluator(evaluator_fn(
        "Length",
        |ctx: &EvaluatorContext<'_, String, String, ()>| {
            vec![
                EvaluationResult::score("length", ctx.output.len() as f64 / 10.0)
                    .with_reason(format!("{} characters", ctx.output.len())),
                EvaluationResult::label(
                    "size",
                    if ctx.output.is_empty() {
                        "empty"
                    } else {
                        "short"
                    },
                ),
            ]
        },
    ));
    dataset
        .evaluate(move |s: String| async move {
            if s == "boom" {
                return Err("the task exploded".to_owned());
            }
            Ok(if shout { s.to_uppercase() } else { s })
        })
        .await
}

#[tokio::test]
async fn report_table_snapshot() {
    let report = sample_report(true).await;
    let opts = RenderOptions::default().durations(false);
    insta::assert_snapshot!("report_unicode", report.render(&opts));
    let opts = RenderOptions::default()
        .durations(false)
        .ascii(true)
        .reasons(true)
        .input(true)
        .expected_output(true);
    insta::assert_snapshot!("report_ascii_with_reasons", report.render(&opts));
}

#[tokio::test]
async fn averages_and_json_round_trip() {
    let report = sample_report(true).await;
    let avg = report.averages();
    assert_eq!(avg.cases, 3);
    // hello: 2/2, world: EqualsExpected fails, IsType and Contains pass, empty: IsType
    assert_eq!(avg.assertion_rate, Some(5.0 / 6.0));
    assert!((avg.scores["length"] - (0.5 + 0.5 + 0.0) / 3.0).abs() < 1e-9);
    assert_eq!(report.failures[0].error, "the task exploded");

    let back = EvaluationReport::from_json(&report.to_json().unwrap()).unwrap();
    assert_eq!(back, report);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    report.save(&path).unwrap();
    assert_eq!(EvaluationReport::load(&path).unwrap(), report);
    assert!(EvaluationReport::load(dir.path().join("nope.json")).is_err());
}
