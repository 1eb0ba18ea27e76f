//! `verity eval run`: a dataset file through its agent, the report, `--save`, and
//! `--baseline` with the exit code of a regression.

use serde_json::Value;

use crate::{home, stdout_of, verity};

const ECHO_DATASET: &str = r#"
name: echo
agent:
  instructions: Repeat the prompt.
cases:
  - name: hello
    inputs: hello
    evaluators: [{Contains: "you said: hello"}]
  - name: world
    inputs: world
    evaluators: [{Contains: "you said: world"}]
evaluators:
  - {Contains: "turn 1"}
  - {MaxModelRequests: 1}
"#;

#[test]
fn a_run_saves_its_report_and_a_regression_exits_3() {
    let h = home();
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("echo.yaml");
    let baseline = dir.path().join("baseline.json");
    std::fs::write(&dataset, ECHO_DATASET).unwrap();

    let out = stdout_of(
        verity(&h)
            .args(["eval", "run", "-m", "echo"])
            .arg(&dataset)
            .arg("--save")
            .arg(&baseline),
    );
    assert!(out.starts_with("Evaluation summary: echo\n"), "{out}");
    assert!(
        out.contains("| hello    | turn 1: you said: hello | PASS Contains "),
        "{out}"
    );
    assert!(out.contains("100.0% PASS"), "{out}");
    assert!(!out.contains('\x1b'), "plain in a pipe: {out}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    assert_eq!(report["cases"].as_array().unwrap().len(), 2);
    assert_eq!(report["cases"][0]["output"], "turn 1: you said: hello");

    // the same dataset against its baseline: no regression
    let out = stdout_of(
        verity(&h)
            .args(["eval", "run", "-m", "echo"])
            .arg(&dataset)
            .arg("--baseline")
            .arg(&baseline),
    );
    assert!(out.contains("Evaluation diff: echo"), "{out}");

    // one expectation changed: the pass rate falls from 100% to 83%
    std::fs::write(
        &dataset,
        ECHO_DATASET.replace("you said: world", "you said: planet"),
    )
    .unwrap();
    let run = |threshold: &str| {
        verity(&h)
            .args([
                "eval",
                "run",
                "-m",
                "echo",
                "--reasons",
                "--threshold",
                threshold,
            ])
            .arg(&dataset)
            .arg("--baseline")
            .arg(&baseline)
            .output()
            .unwrap()
    };
    let out = run("0.1");
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("Contains_2: PASS -> FAIL"), "{stdout}");
    assert!(stdout.contains("100% -> 83% (-17%)"), "{stdout}");
    assert!(
        stdout.contains(r#"does not contain "you said: plane"#),
        "reasons shown: {stdout}"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("regression") && stderr.contains("assertion pass rate: 1.000 -> 0.833"),
        "{stderr}"
    );
    // a fall within the threshold is not a regression
    assert_eq!(run("0.2").status.code(), Some(0));
}

#[test]
fn structured_output_and_a_judge_on_the_test_model() {
    let h = home();
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("cities.json");
    std::fs::write(
        &dataset,
        r#"{
  "agent": {
    "model": "test",
    "instructions": "Answer with the city and country.",
    "output_schema": {
      "type": "object",
      "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
      "required": ["city", "country"]
    }
  },
  "cases": [
    {"name": "london", "inputs": {"year": 2012}},
    {"name": "paris", "inputs": "Where were the 2024 games?"}
  ],
  "evaluators": [
    {"IsType": "object"},
    {"ValidSchema": {"type": "object", "required": ["city", "country"]}},
    {"LLMJudge": "The answer names a city."}
  ]
}"#,
    )
    .unwrap();
    let report = dir.path().join("report.json");
    let out = stdout_of(
        verity(&h)
            .args(["eval", "run", "--judge-model", "test"])
            .arg(&dataset)
            .arg("--save")
            .arg(&report),
    );
    assert!(out.contains("PASS ValidSchema"), "{out}");
    assert!(out.contains("LLMJudge: "), "scores shown: {out}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let london = &report["cases"][0];
    assert!(london["output"]["city"].is_string(), "{london}");
    assert!(london["scores"]["LLMJudge"]["mean"].is_number(), "{london}");
}

#[test]
fn a_bad_dataset_is_a_usage_error() {
    let h = home();
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("bad.yaml");
    std::fs::write(
        &dataset,
        "cases: [{name: a, inputs: x, evaluators: [Nope]}]",
    )
    .unwrap();
    let out = verity(&h)
        .args(["eval", "run", "-m", "echo"])
        .arg(&dataset)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unknown evaluator 'Nope'"), "{err}");

    let out = verity(&h)
        .args(["eval", "run", "-m", "echo", "missing.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
