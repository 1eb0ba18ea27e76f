//! The CityLocation eval example, run through its entry point.

#[allow(dead_code)]
#[path = "../../examples/city_location_eval.rs"]
mod city_location_eval;

#[tokio::test]
async fn the_city_location_eval_runs_offline() {
    let dataset = city_location_eval::dataset().unwrap();
    assert_eq!(dataset.cases.len(), 10);
    let report = city_location_eval::run_eval().await.unwrap();
    assert_eq!(report.cases.len(), 10);
    assert!(report.failures.is_empty());
    let london = report.case("london_2012").unwrap();
    assert_eq!(london.output["city"], "London");
    for name in [
        "EqualsExpected",
        "ToolsCalled",
        "MaxModelRequests",
        "LLMJudge",
    ] {
        assert_eq!(london.assertions[name].passed, 1, "{name}");
    }
    assert_eq!(london.scores["LLMJudge"].mean, 1.0);
    // the almanac has no 2020 games: the agent answers "unknown", the judge fails it
    let tokyo = report.case("tokyo_2020").unwrap();
    assert_eq!(tokyo.output["city"], "unknown");
    assert_eq!(tokyo.assertions["EqualsExpected"].passed, 0);
    assert_eq!(tokyo.assertions["LLMJudge"].passed, 0);
    assert_eq!(tokyo.scores["LLMJudge"].mean, 0.0);
    // the one case-level evaluator
    assert_eq!(
        report.case("seoul_1988").unwrap().assertions["MaxToolCalls"].passed,
        1
    );
    let avg = report.averages();
    assert_eq!(avg.scores["LLMJudge"], 0.9);
    assert_eq!(avg.assertion_rate, Some(39.0 / 41.0));
}
