//! Every built-in evaluator, on hand-made contexts and on recorded agent runs.

use std::time::Duration;

use serde_json::{Value, json};
use verity::prelude::*;
use verity_evals::builtins::*;
use verity_evals::{EvalValue, EvaluationResult, Evaluator, EvaluatorContext};

async fn eval(
    e: &dyn Evaluator<Value, Value, ()>,
    ctx: &EvaluatorContext<'_, Value, Value, ()>,
) -> Vec<EvaluationResult> {
    e.evaluate(ctx).await.unwrap()
}

fn passed(results: &[EvaluationResult]) -> bool {
    assert_eq!(results.len(), 1, "{results:?}");
    match results[0].value {
        EvalValue::Assertion(b) => b,
        ref other => panic!("not an assertion: {other:?}"),
    }
}

#[tokio::test]
async fn equals_compares_as_json() {
    let input = json!("q");
    let out = json!({"a": 1, "b": [1, 2]});
    let ctx = EvaluatorContext::new("c", &input, &out);
    assert!(passed(
        &eval(&Equals::new(json!({"b": [1, 2], "a": 1})).unwrap(), &ctx).await
    ));
    let r = eval(&Equals::new(json!({"a": 2})).unwrap(), &ctx).await;
    assert!(!passed(&r));
    assert!(r[0].reason.as_deref().unwrap().contains("!="));
}

#[tokio::test]
async fn equals_expected_passes_fails_and_is_silent_without_expectation() {
    let input = json!("q");
    let out = json!("Paris");
    let good = json!("Paris");
    let bad = json!("Lyon");
    let ctx = EvaluatorContext::new("c", &input, &out);
    assert!(eval(&EqualsExpected, &ctx).await.is_empty());
    assert!(passed(
        &eval(
            &EqualsExpected,
            &EvaluatorContext::new("c", &input, &out).with_expected_output(&good)
        )
        .await
    ));
    let r = eval(
        &EqualsExpected,
        &EvaluatorContext::new("c", &input, &out).with_expected_output(&bad),
    )
    .await;
    assert!(!passed(&r));
    assert_eq!(
        r[0].reason.as_deref(),
        Some(r#"expected "Lyon", got "Paris""#)
    );
}

#[tokio::test]
async fn contains_strings_lists_and_maps() {
    let input = json!(null);
    let text = json!("The capital is Paris.");
    let ctx = EvaluatorContext::new("c", &input, &text);
    assert!(passed(&eval(&Contains::new("Paris"), &ctx).await));
    assert!(!passed(&eval(&Contains::new("paris"), &ctx).await));
    assert!(passed(
        &eval(&Contains::new("paris").case_insensitive(), &ctx).await
    ));

    let list = json!([1, "two", 3]);
    let ctx = EvaluatorContext::new("c", &input, &list);
    assert!(passed(&eval(&Contains::new("two"), &ctx).await));
    assert!(!passed(&eval(&Contains::new(4), &ctx).await));

    let map = json!({"city": "Paris", "country": "France"});
    let ctx = EvaluatorContext::new("c", &input, &map);
    assert!(passed(&eval(&Contains::new("city"), &ctx).await));
    assert!(passed(
        &eval(&Contains::new(json!({"country": "France"})), &ctx).await
    ));
    let r = eval(&Contains::new(json!({"country": "Spain"})), &ctx).await;
    assert!(!passed(&r));
    assert!(r[0].reason.as_deref().unwrap().contains("Spain"));

    let number = json!(3);
    let r = eval(
        &Contains::new("3"),
        &EvaluatorContext::new("c", &input, &number),
    )
    .await;
    assert!(!passed(&r));
    assert!(r[0].reason.as_deref().unwrap().contains("integer"));
}

#[tokio::test]
async fn is_type_names_json_types() {
    let input = json!(null);
    for (out, ty, ok) in [
        (json!("s"), "string", true),
        (json!(1), "integer", true),
        (json!(1), "number", true),
        (json!(1.5), "integer", false),
        (json!([]), "array", true),
        (json!({}), "object", true),
        (json!(true), "boolean", true),
        (json!(null), "string", false),
    ] {
        let r = eval(&IsType::new(ty), &EvaluatorContext::new("c", &input, &out)).await;
        assert_eq!(passed(&r), ok, "{out} is {ty}");
    }
}

#[tokio::test]
async fn valid_schema_checks_the_output() {
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct City {
        city: String,
        population: u32,
    }
    let e = ValidSchema::of::<City>().unwrap();
    let input = json!(null);
    let good = json!({"city": "Paris", "population": 2_100_000});
    let bad = json!({"city": "Paris", "population": -1});
    assert!(passed(
        &eval(&e, &EvaluatorContext::new("c", &input, &good)).await
    ));
    let r = eval(&e, &EvaluatorContext::new("c", &input, &bad)).await;
    assert!(!passed(&r));
    assert!(
        r[0].reason.as_deref().unwrap().contains("/population"),
        "{r:?}"
    );
    assert!(ValidSchema::new(json!({"type": 12})).is_err());
}

#[tokio::test]
async fn max_duration_compares_the_task_time() {
    let input = json!(null);
    let out = json!(null);
    let fast = EvaluatorContext::new("c", &input, &out).with_duration(Duration::from_millis(10));
    let slow = EvaluatorContext::new("c", &input, &out).with_duration(Duration::from_secs(3));
    let e = MaxDuration::new(Duration::from_secs(1));
    assert!(passed(&eval(&e, &fast).await));
    let r = eval(&e, &slow).await;
    assert!(!passed(&r));
    assert!(r[0].reason.as_deref().unwrap().contains("3.000s"));
}

/// A run that calls `lookup`, then `convert`, then answers: its messages and usage.
async fn recorded_run() -> (Vec<ModelMessage>, verity::RunUsage) {
    let model = FunctionModel::new(|messages, info| {
        let responses = messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count();
        match responses {
            0 => ModelResponse::tool_call("lookup", json!({"q": "x"})),
            1 => ModelResponse::tool_call("convert", json!({"q": "y"})),
            _ => ModelResponse::tool_call(info.output_tools[0].name.clone(), json!({"v": 1})),
        }
    });
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Out {
        v: u32,
    }
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Q {
        q: String,
    }
    let agent = Agent::builder(model)
        .tool_fn("lookup", "Look up.", |_ctx, a: Q| async move {
            Ok::<_, ToolError>(a.q)
        })
        .tool_fn("convert", "Convert.", |_ctx, a: Q| async move {
            Ok::<_, ToolError>(a.q)
        })
        .output::<Out>()
        .build();
    let result = agent.run("go").await.unwrap();
    (result.all_messages().to_vec(), result.usage().clone())
}

#[tokio::test]
async fn trajectory_checks_read_the_runs_messages() {
    let (messages, usage) = recorded_run().await;
    let input = json!(null);
    let out = json!({"v": 1});
    let ctx = EvaluatorContext::new("c", &input, &out).with_messages(&messages);
    assert_eq!(ctx.tool_calls(), vec!["lookup", "convert"]);

    assert!(passed(
        &eval(&ToolsCalled::new(["convert", "lookup"]), &ctx).await
    ));
    assert!(passed(
        &eval(&ToolsCalled::new(["lookup", "convert"]).in_order(), &ctx).await
    ));
    let r = eval(&ToolsCalled::new(["convert", "lookup"]).in_order(), &ctx).await;
    assert!(!passed(&r));
    assert!(passed(&eval(&ToolsCalled::new(["lookup"]), &ctx).await));
    assert!(!passed(
        &eval(&ToolsCalled::new(["lookup"]).exactly(), &ctx).await
    ));
    assert!(passed(
        &eval(
            &ToolsCalled::new(["lookup", "convert"]).in_order().exactly(),
            &ctx
        )
        .await
    ));
    let r = eval(&ToolsCalled::new(["search"]), &ctx).await;
    assert!(!passed(&r));
    assert!(r[0].reason.as_deref().unwrap().contains("search"));

    assert!(passed(&eval(&MaxToolCalls { max: 2 }, &ctx).await));
    let r = eval(&MaxToolCalls { max: 1 }, &ctx).await;
    assert!(!passed(&r));
    assert_eq!(r[0].reason.as_deref(), Some("2 tool calls, more than 1"));

    // three responses in the messages; the same from the usage
    assert_eq!(ctx.model_requests(), 3);
    assert!(passed(&eval(&MaxModelRequests { max: 3 }, &ctx).await));
    assert!(!passed(&eval(&MaxModelRequests { max: 2 }, &ctx).await));
    let with_usage: EvaluatorContext<'_, _, _, ()> =
        EvaluatorContext::new("c", &input, &out).with_usage(&usage);
    assert_eq!(with_usage.model_requests(), 3);
}

#[tokio::test]
async fn closures_are_evaluators() {
    let e = verity_evals::evaluator_fn("Short", |ctx: &EvaluatorContext<'_, Value, Value, ()>| {
        ctx.output
            .as_str()
            .map_or(0.0, |s| 1.0 / (1.0 + s.len() as f64))
    });
    let input = json!(null);
    let out = json!("abc");
    let r = eval(&e, &EvaluatorContext::new("c", &input, &out)).await;
    assert_eq!(r, vec![EvaluationResult::score("Short", 0.25)]);
}
