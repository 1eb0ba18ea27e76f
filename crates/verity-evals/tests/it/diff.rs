//! A report against a baseline: old → new, added and removed cases, regressions.

use verity_evals::RenderOptions;

use crate::report::sample_report;

#[tokio::test]
async fn diff_shows_changes_and_finds_regressions() {
    let baseline = sample_report(true).await;
    let mut current = sample_report(false).await;
    // a case added, one removed
    current.cases.retain(|c| c.name != "empty");
    let mut added = current.cases[0].clone();
    added.name = "new_case".into();
    current.cases.push(added);

    let diff = current.diff(&baseline);
    assert_eq!(diff.added, ["new_case"]);
    assert_eq!(diff.removed, ["empty"]);
    let hello = diff.cases.iter().find(|c| c.name == "hello").unwrap();
    assert_eq!(hello.assertions["EqualsExpected"].old, Some(1.0));
    assert_eq!(hello.assertions["EqualsExpected"].new, Some(0.0));
    assert_eq!(hello.assertions["EqualsExpected"].delta(), Some(-1.0));
    assert!(hello.output_changed);

    let regressions = diff.regressions(0.05);
    assert_eq!(regressions.len(), 1, "{regressions:?}");
    assert_eq!(regressions[0].metric, "assertion pass rate");
    assert!(
        regressions[0]
            .to_string()
            .starts_with("assertion pass rate: 0.833 -> "),
        "{}",
        regressions[0]
    );
    // a threshold larger than the fall: no regression
    let fall = regressions[0].old - regressions[0].new;
    assert!(diff.regressions(fall + 0.01).is_empty());
    // the same report against itself: nothing
    assert!(baseline.diff(&baseline).regressions(0.0).is_empty());

    let opts = RenderOptions::default().durations(false);
    insta::assert_snapshot!("diff_unicode", diff.render(&opts));
    let text = diff.render(&opts.ascii(true));
    assert!(text.contains("EqualsExpected: PASS -> FAIL"), "{text}");
}

#[tokio::test]
async fn a_falling_score_and_new_failures_are_regressions() {
    let baseline = sample_report(true).await;
    let mut current = baseline.clone();
    for c in &mut current.cases {
        if let Some(s) = c.scores.get_mut("length") {
            s.mean -= 0.2;
        }
    }
    let failure = current.failures[0].clone();
    current.failures.push(verity_evals::report::ReportFailure {
        name: "other".into(),
        ..failure
    });
    let metrics: Vec<String> = current
        .diff(&baseline)
        .regressions(0.1)
        .into_iter()
        .map(|r| r.metric)
        .collect();
    assert_eq!(metrics, ["score length", "task failures"]);
    assert_eq!(
        current.diff(&baseline).regressions(0.3).len(),
        1,
        "only the failures remain"
    );
}
