//! `dataset.evaluate(task)`: concurrency limit, repeats, retries, failures, recorded
//! runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use verity::prelude::*;
use verity_evals::builtins::{EqualsExpected, MaxModelRequests, ToolsCalled};
use verity_evals::{
    Case, Dataset, EvalError, EvaluationResult, EvaluatorContext, evaluator_fn, record_run,
};

fn numbers(n: usize) -> Dataset<u32, u32> {
    Dataset::new(
        (0..n as u32)
            .map(|i| Case::new(format!("n{i}"), i).expected_output(i * 2))
            .collect(),
    )
    .evaluator(EqualsExpected)
}

#[tokio::test]
async fn the_concurrency_limit_is_honoured() {
    for limit in [1usize, 3] {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let report = numbers(10)
            .evaluate(|i: u32| {
                let in_flight = in_flight.clone();
                let max_seen = max_seen.clone();
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max_seen.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, String>(i * 2)
                }
            })
            .max_concurrency(limit)
            .progress(false)
            .await;
        assert_eq!(max_seen.load(Ordering::SeqCst), limit, "limit {limit}");
        assert_eq!(report.cases.len(), 10);
        assert_eq!(report.averages().assertion_rate, Some(1.0));
        // the report keeps the dataset's order whatever the completion order
        let names: Vec<&str> = report.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names[..3], ["n0", "n1", "n2"]);
    }
    // without a limit, all at once
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    numbers(6)
        .evaluate(|i: u32| {
            let (in_flight, max_seen) = (in_flight.clone(), max_seen.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max_seen.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, String>(i * 2)
            }
        })
        .await;
    assert_eq!(max_seen.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn repeats_give_means_and_spreads() {
    let calls = Arc::new(AtomicUsize::new(0));
    let dataset = Dataset::<u32, u32>::new(vec![Case::new("one", 1)]).evaluator(evaluator_fn(
        "Parity",
        |ctx: &EvaluatorContext<'_, u32, u32, ()>| {
            vec![
                EvaluationResult::score("value", f64::from(*ctx.output)),
                EvaluationResult::assertion("even", ctx.output % 2 == 0),
                EvaluationResult::label("kind", if ctx.output % 2 == 0 { "even" } else { "odd" }),
            ]
        },
    ));
    let report = dataset
        .evaluate(|_: u32| {
            let n = calls.fetch_add(1, Ordering::SeqCst) as u32;
            async move { Ok::<_, String>(n) } // 0, 1, 2, 3
        })
        .repeat(4)
        .max_concurrency(1)
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let case = &report.cases[0];
    assert_eq!(case.runs, 4);
    let s = &case.scores["value"];
    assert_eq!((s.mean, s.n), (1.5, 4));
    assert!((s.std - 1.25f64.sqrt()).abs() < 1e-9);
    assert_eq!(
        (
            case.assertions["even"].passed,
            case.assertions["even"].total
        ),
        (2, 4)
    );
    assert_eq!(case.labels["kind"].counts.len(), 2);
    assert_eq!(report.averages().assertion_rate, Some(0.5));
}

#[tokio::test]
async fn flaky_tasks_are_retried_when_asked() {
    let flaky = |calls: Arc<AtomicUsize>| {
        move |i: u32| {
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    Err("flaky".to_owned())
                } else {
                    Ok(i * 2)
                }
            }
        }
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let report = numbers(1).evaluate(flaky(calls.clone())).retries(2).await;
    assert!(report.failures.is_empty());
    assert_eq!(report.cases[0].attempts, 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let calls = Arc::new(AtomicUsize::new(0));
    let report = numbers(1).evaluate(flaky(calls.clone())).await;
    assert!(report.cases.is_empty());
    assert_eq!(report.failures[0].name, "n0");
    assert_eq!(report.failures[0].error, "flaky");
}

#[tokio::test]
async fn evaluator_errors_are_reported_not_fatal() {
    let dataset = numbers(1).evaluator(evaluator_fn(
        "Broken",
        |_: &EvaluatorContext<'_, u32, u32, ()>| {
            Err::<bool, _>(EvalError::Evaluator {
                name: "Broken".into(),
                message: "no luck".into(),
            })
        },
    ));
    let report = dataset
        .evaluate(|i: u32| async move { Ok::<_, String>(i * 2) })
        .await;
    let case = &report.cases[0];
    assert!(case.assertions["EqualsExpected"].passed == 1);
    assert_eq!(case.evaluator_failures[0].evaluator, "Broken");
    assert!(case.evaluator_failures[0].error.contains("no luck"));
}

#[tokio::test]
async fn recorded_runs_feed_the_trajectory_evaluators() {
    let model = FunctionModel::new(|messages, _| {
        if messages.iter().any(|m| m.as_response().is_some()) {
            ModelResponse::text("done")
        } else {
            ModelResponse::tool_call("search", json!({"q": "x"}))
        }
    });
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Q {
        q: String,
    }
    let agent = Agent::builder(model)
        .tool_fn("search", "Search.", |_ctx, a: Q| async move {
            Ok::<_, ToolError>(a.q)
        })
        .build();
    let dataset = Dataset::<String, String>::new(vec![
        Case::new("searches", "find x".to_owned())
            .evaluator(ToolsCalled::new(["search"]))
            .evaluator(MaxModelRequests { max: 1 }),
    ]);
    let report = dataset
        .evaluate(|prompt: String| {
            let agent = agent.clone();
            async move {
                let result = agent.run(prompt).await?;
                record_run(&result);
                Ok::<_, verity::Error>(result.output)
            }
        })
        .await;
    let case = &report.cases[0];
    assert_eq!(case.output, json!("done"));
    assert_eq!(case.assertions["ToolsCalled"].passed, 1);
    let max = &case.assertions["MaxModelRequests"];
    assert_eq!(max.passed, 0);
    assert_eq!(max.reason.as_deref(), Some("2 model requests, more than 1"));
}
