//! Span capture: the spans of an agent run reach the evaluators, and the trajectory
//! checks fall back on them when the task records no messages.

use serde_json::json;
use verity::prelude::*;
use verity_evals::builtins::{MaxModelRequests, ToolsCalled};
use verity_evals::{Case, Dataset, EvaluatorContext, SpanCapture, evaluator_fn};

#[tokio::test]
async fn the_runs_spans_reach_the_evaluators() {
    assert!(
        SpanCapture::install(),
        "no other global subscriber in this test binary"
    );
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
        .name("searcher")
        .tool_fn("search", "Search.", |_ctx, a: Q| async move {
            Ok::<_, ToolError>(a.q)
        })
        .build();
    let dataset = Dataset::<String, String>::new(vec![Case::new("a", "find x".to_owned())])
        .evaluator(ToolsCalled::new(["search"]).exactly())
        .evaluator(MaxModelRequests { max: 2 })
        .evaluator(evaluator_fn(
            "Spans",
            |ctx: &EvaluatorContext<'_, String, String, ()>| {
                let spans = ctx.spans.unwrap_or_default();
                let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
                names.first() == Some(&"invoke_agent")
                    && names.iter().filter(|n| **n == "chat").count() == 2
                    && spans.iter().any(|s| {
                        s.name == "execute_tool" && s.parent.as_deref() == Some("invoke_agent")
                    })
            },
        ));
    // the task records nothing: the trajectory comes from the spans
    let report = dataset
        .evaluate(|prompt: String| {
            let agent = agent.clone();
            async move { Ok::<_, verity::Error>(agent.run(prompt).await?.output) }
        })
        .await;
    let case = &report.cases[0];
    for name in ["ToolsCalled", "MaxModelRequests", "Spans"] {
        assert_eq!(
            case.assertions[name].passed, 1,
            "{name}: {:?}",
            case.assertions
        );
    }
}
