//! [`EvaluationReport`]: per-case outputs, assertions, scores, labels and durations;
//! averages; a terminal table; JSON.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use comfy_table::{Cell, ContentArrangement, Table};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dataset::Dataset;
use crate::error::EvalError;
use crate::evaluator::{EvalValue, EvaluationResult};

/// One run of one case, before aggregation.
#[derive(Debug)]
pub(crate) struct RunOutcome {
    pub output: Result<Value, String>,
    pub duration: Duration,
    pub attempts: u32,
    pub results: Vec<(String, EvaluationResult)>,
    pub evaluator_failures: Vec<EvaluatorFailure>,
}

/// An evaluator that failed (an error, not a failed assertion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluatorFailure {
    /// The evaluator.
    pub evaluator: String,
    /// Its error.
    pub error: String,
}

/// An assertion over the case's runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssertionSummary {
    /// Runs in which it passed.
    pub passed: u32,
    /// Runs in which it was evaluated.
    pub total: u32,
    /// The reason given (of the last failing run, else of the last run), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AssertionSummary {
    /// The fraction of runs in which it passed.
    pub fn rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            f64::from(self.passed) / f64::from(self.total)
        }
    }
}

/// A score over the case's runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    /// The mean.
    pub mean: f64,
    /// The standard deviation (0 for one run).
    pub std: f64,
    /// Runs in which it was evaluated.
    pub n: u32,
    /// The reason given in the last run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A label over the case's runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelSummary {
    /// The most frequent value.
    pub value: String,
    /// How often each value was given.
    pub counts: BTreeMap<String, u32>,
    /// The reason given in the last run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A mean and a standard deviation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// The mean.
    pub mean: f64,
    /// The standard deviation (0 for one value).
    pub std: f64,
}

impl Stat {
    fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Stat::default();
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Stat {
            mean,
            std: var.sqrt(),
        }
    }
}

/// One case of a report: its data, the output of its (last) run, and the evaluators'
/// results over its runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportCase {
    /// The case's name.
    pub name: String,
    /// Its inputs.
    pub inputs: Value,
    /// Its expected output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<Value>,
    /// Its metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The output of the last successful run.
    pub output: Value,
    /// Successful runs (evaluated).
    pub runs: u32,
    /// Runs whose task failed (after retries).
    #[serde(default)]
    pub failed_runs: u32,
    /// Task calls made, retries included.
    pub attempts: u32,
    /// Assertions by name.
    #[serde(default)]
    pub assertions: BTreeMap<String, AssertionSummary>,
    /// Scores by name.
    #[serde(default)]
    pub scores: BTreeMap<String, ScoreSummary>,
    /// Labels by name.
    #[serde(default)]
    pub labels: BTreeMap<String, LabelSummary>,
    /// The task's duration in seconds over the successful runs.
    pub duration: Stat,
    /// Evaluators that failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evaluator_failures: Vec<EvaluatorFailure>,
}

/// A case whose task failed in every run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportFailure {
    /// The case's name.
    pub name: String,
    /// Its inputs.
    pub inputs: Value,
    /// The last error.
    pub error: String,
    /// Runs tried.
    pub runs: u32,
}

/// The averages over a report's cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Averages {
    /// Cases evaluated (failures not counted).
    pub cases: usize,
    /// Passed assertions over all assertions (every run counts); `None` without any.
    pub assertion_rate: Option<f64>,
    /// Each score's mean over the cases that have it.
    pub scores: BTreeMap<String, f64>,
    /// The mean task duration in seconds.
    pub duration: f64,
}

/// The result of [`Dataset::evaluate`]: one entry per case, and the cases whose task
/// failed. Serializes to JSON ([`to_json`](Self::to_json), [`save`](Self::save)), prints
/// as a table ([`render`](Self::render)), compares with a baseline
/// ([`diff`](Self::diff)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    /// The report's name.
    pub name: String,
    /// The evaluated cases, in the dataset's order.
    pub cases: Vec<ReportCase>,
    /// The cases whose task failed in every run.
    #[serde(default)]
    pub failures: Vec<ReportFailure>,
}

fn to_json_or_null<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

impl EvaluationReport {
    pub(crate) fn from_outcomes<I: Serialize, O: Serialize, M: Serialize>(
        name: String,
        dataset: &Dataset<I, O, M>,
        outcomes: Vec<(usize, RunOutcome)>,
    ) -> Self {
        let mut by_case: Vec<Vec<RunOutcome>> = dataset.cases.iter().map(|_| Vec::new()).collect();
        for (i, o) in outcomes {
            if let Some(v) = by_case.get_mut(i) {
                v.push(o);
            }
        }
        let mut cases = Vec::new();
        let mut failures = Vec::new();
        for (case, runs) in dataset.cases.iter().zip(by_case) {
            let inputs = to_json_or_null(&case.inputs);
            let attempts = runs.iter().map(|r| r.attempts).sum();
            let (ok, failed): (Vec<RunOutcome>, Vec<RunOutcome>) =
                runs.into_iter().partition(|r| r.output.is_ok());
            if ok.is_empty() {
                let error = failed
                    .last()
                    .and_then(|r| r.output.as_ref().err().cloned())
                    .unwrap_or_else(|| "no run".to_owned());
                failures.push(ReportFailure {
                    name: case.name.clone(),
                    inputs,
                    error,
                    runs: failed.len() as u32,
                });
                continue;
            }
            cases.push(aggregate(
                case.name.clone(),
                inputs,
                case.expected_output.as_ref().map(to_json_or_null),
                case.metadata.as_ref().map(to_json_or_null),
                &ok,
                failed.len() as u32,
                attempts,
            ));
        }
        EvaluationReport {
            name,
            cases,
            failures,
        }
    }

    /// The averages over the cases.
    pub fn averages(&self) -> Averages {
        let (mut passed, mut total) = (0u64, 0u64);
        let mut scores: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for c in &self.cases {
            for a in c.assertions.values() {
                passed += u64::from(a.passed);
                total += u64::from(a.total);
            }
            for (name, s) in &c.scores {
                scores.entry(name.clone()).or_default().push(s.mean);
            }
        }
        let durations: Vec<f64> = self.cases.iter().map(|c| c.duration.mean).collect();
        Averages {
            cases: self.cases.len(),
            assertion_rate: (total > 0).then(|| passed as f64 / total as f64),
            scores: scores
                .into_iter()
                .map(|(k, v)| (k, Stat::of(&v).mean))
                .collect(),
            duration: Stat::of(&durations).mean,
        }
    }

    /// The case named `name`.
    pub fn case(&self, name: &str) -> Option<&ReportCase> {
        self.cases.iter().find(|c| c.name == name)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> Result<String, EvalError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// A report from its JSON.
    pub fn from_json(text: &str) -> Result<Self, EvalError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Write the report as JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), EvalError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()? + "\n").map_err(|e| EvalError::io(path, e))
    }

    /// Read a report written by [`save`](Self::save).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, EvalError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        Self::from_json(&text).map_err(|e| match e {
            EvalError::Json(m) => EvalError::Json(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// The report as a table (see [`RenderOptions`]).
    pub fn render(&self, opts: &RenderOptions) -> String {
        let has_scores = self.cases.iter().any(|c| !c.scores.is_empty());
        let has_labels = self.cases.iter().any(|c| !c.labels.is_empty());
        let has_assertions = self.cases.iter().any(|c| !c.assertions.is_empty());
        let mut table = opts.table();
        let mut header = vec!["Case"];
        if opts.include_input {
            header.push("Inputs");
        }
        if opts.include_expected_output {
            header.push("Expected");
        }
        if opts.include_output {
            header.push("Output");
        }
        if has_scores {
            header.push("Scores");
        }
        if has_labels {
            header.push("Labels");
        }
        if has_assertions {
            header.push("Assertions");
        }
        if opts.include_durations {
            header.push("Duration");
        }
        table.set_header(header);
        for c in &self.cases {
            let mut row = vec![Cell::new(&c.name)];
            if opts.include_input {
                row.push(Cell::new(opts.value(&c.inputs)));
            }
            if opts.include_expected_output {
                row.push(Cell::new(
                    c.expected_output
                        .as_ref()
                        .map(|v| opts.value(v))
                        .unwrap_or_default(),
                ));
            }
            if opts.include_output {
                row.push(Cell::new(opts.value(&c.output)));
            }
            if has_scores {
                row.push(Cell::new(scores_cell(&c.scores, opts)));
            }
            if has_labels {
                row.push(Cell::new(labels_cell(&c.labels, opts)));
            }
            if has_assertions {
                row.push(Cell::new(assertions_cell(&c.assertions, opts)));
            }
            if opts.include_durations {
                row.push(Cell::new(stat_duration(&c.duration)));
            }
            table.add_row(row);
        }
        let avg = self.averages();
        if self.cases.len() > 1 {
            let mut row = vec![Cell::new("Averages")];
            for on in [
                opts.include_input,
                opts.include_expected_output,
                opts.include_output,
            ] {
                if on {
                    row.push(Cell::new(""));
                }
            }
            if has_scores {
                row.push(Cell::new(
                    avg.scores
                        .iter()
                        .map(|(k, v)| format!("{k}: {v:.2}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ));
            }
            if has_labels {
                row.push(Cell::new(""));
            }
            if has_assertions {
                row.push(Cell::new(
                    avg.assertion_rate
                        .map(|r| format!("{:.1}% {}", r * 100.0, opts.pass()))
                        .unwrap_or_default(),
                ));
            }
            if opts.include_durations {
                row.push(Cell::new(duration(avg.duration)));
            }
            table.add_row(row);
        }
        let mut out = format!("Evaluation summary: {}\n{table}\n", self.name);
        if !self.failures.is_empty() {
            let mut t = opts.table();
            t.set_header(vec!["Failed case", "Error"]);
            for f in &self.failures {
                t.add_row(vec![f.name.clone(), opts.truncate(&f.error)]);
            }
            out.push_str(&format!("Task failures:\n{t}\n"));
        }
        let evaluator_failures: Vec<(&str, &EvaluatorFailure)> = self
            .cases
            .iter()
            .flat_map(|c| {
                c.evaluator_failures
                    .iter()
                    .map(move |f| (c.name.as_str(), f))
            })
            .collect();
        if !evaluator_failures.is_empty() {
            let mut t = opts.table();
            t.set_header(vec!["Case", "Evaluator", "Error"]);
            for (case, f) in evaluator_failures {
                t.add_row(vec![
                    case.to_owned(),
                    f.evaluator.clone(),
                    opts.truncate(&f.error),
                ]);
            }
            out.push_str(&format!("Evaluator failures:\n{t}\n"));
        }
        out
    }

    /// Print the table on stdout ([`RenderOptions::auto`]: ASCII when stdout is not a
    /// terminal).
    pub fn print(&self) {
        print!("{}", self.render(&RenderOptions::auto()));
    }
}

impl std::fmt::Display for EvaluationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(&RenderOptions::auto()))
    }
}

fn aggregate(
    name: String,
    inputs: Value,
    expected_output: Option<Value>,
    metadata: Option<Value>,
    runs: &[RunOutcome],
    failed_runs: u32,
    attempts: u32,
) -> ReportCase {
    let mut assertions: BTreeMap<String, AssertionSummary> = BTreeMap::new();
    let mut scores: BTreeMap<String, (Vec<f64>, Option<String>)> = BTreeMap::new();
    let mut labels: BTreeMap<String, (BTreeMap<String, u32>, Option<String>)> = BTreeMap::new();
    let mut evaluator_failures = Vec::new();
    for run in runs {
        // one name per kind per run: a second result of a name becomes `name_2`, ...
        let mut seen: BTreeMap<(u8, String), u32> = BTreeMap::new();
        for (_, r) in &run.results {
            let kind = match r.value {
                EvalValue::Assertion(_) => 0,
                EvalValue::Score(_) => 1,
                EvalValue::Label(_) => 2,
            };
            let n = seen.entry((kind, r.name.clone())).or_insert(0);
            *n += 1;
            let key = if *n == 1 {
                r.name.clone()
            } else {
                format!("{}_{n}", r.name)
            };
            match &r.value {
                EvalValue::Assertion(passed) => {
                    let a = assertions.entry(key).or_insert(AssertionSummary {
                        passed: 0,
                        total: 0,
                        reason: None,
                    });
                    a.total += 1;
                    if *passed {
                        a.passed += 1;
                        if a.passed == a.total {
                            a.reason.clone_from(&r.reason);
                        }
                    } else {
                        a.reason.clone_from(&r.reason);
                    }
                }
                EvalValue::Score(v) => {
                    let s = scores.entry(key).or_default();
                    s.0.push(*v);
                    s.1.clone_from(&r.reason);
                }
                EvalValue::Label(v) => {
                    let l = labels.entry(key).or_default();
                    *l.0.entry(v.clone()).or_insert(0) += 1;
                    l.1.clone_from(&r.reason);
                }
            }
        }
        evaluator_failures.extend(run.evaluator_failures.iter().cloned());
    }
    let durations: Vec<f64> = runs.iter().map(|r| r.duration.as_secs_f64()).collect();
    let output = runs
        .last()
        .and_then(|r| r.output.as_ref().ok().cloned())
        .unwrap_or(Value::Null);
    ReportCase {
        name,
        inputs,
        expected_output,
        metadata,
        output,
        runs: runs.len() as u32,
        failed_runs,
        attempts,
        assertions,
        scores: scores
            .into_iter()
            .map(|(k, (v, reason))| {
                let st = Stat::of(&v);
                (
                    k,
                    ScoreSummary {
                        mean: st.mean,
                        std: st.std,
                        n: v.len() as u32,
                        reason,
                    },
                )
            })
            .collect(),
        labels: labels
            .into_iter()
            .map(|(k, (counts, reason))| {
                let value = counts
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(v, _)| v.clone())
                    .unwrap_or_default();
                (
                    k,
                    LabelSummary {
                        value,
                        counts,
                        reason,
                    },
                )
            })
            .collect(),
        duration: Stat::of(&durations),
        evaluator_failures,
    }
}

/// How a report or a diff is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderOptions {
    /// A column with each case's inputs.
    pub include_input: bool,
    /// A column with each case's expected output.
    pub include_expected_output: bool,
    /// A column with each case's output (default on).
    pub include_output: bool,
    /// The evaluators' reasons under their results.
    pub include_reasons: bool,
    /// The duration column (default on).
    pub include_durations: bool,
    /// ASCII borders and `PASS`/`FAIL` instead of box drawing and ✔/✗.
    pub ascii: bool,
    /// Wrap the table to this width.
    pub width: Option<u16>,
    /// Cut values longer than this many characters.
    pub max_value_chars: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            include_input: false,
            include_expected_output: false,
            include_output: true,
            include_reasons: false,
            include_durations: true,
            ascii: false,
            width: None,
            max_value_chars: 60,
        }
    }
}

impl RenderOptions {
    /// The defaults, ASCII when stdout is not a terminal.
    pub fn auto() -> Self {
        RenderOptions {
            ascii: !std::io::stdout().is_terminal(),
            ..Self::default()
        }
    }
    /// With or without the inputs column.
    pub fn input(mut self, on: bool) -> Self {
        self.include_input = on;
        self
    }
    /// With or without the expected output column.
    pub fn expected_output(mut self, on: bool) -> Self {
        self.include_expected_output = on;
        self
    }
    /// With or without the output column.
    pub fn output(mut self, on: bool) -> Self {
        self.include_output = on;
        self
    }
    /// With or without the reasons.
    pub fn reasons(mut self, on: bool) -> Self {
        self.include_reasons = on;
        self
    }
    /// With or without the durations.
    pub fn durations(mut self, on: bool) -> Self {
        self.include_durations = on;
        self
    }
    /// ASCII (`true`) or Unicode.
    pub fn ascii(mut self, on: bool) -> Self {
        self.ascii = on;
        self
    }
    /// Wrap to this width.
    pub fn width(mut self, width: u16) -> Self {
        self.width = Some(width);
        self
    }

    pub(crate) fn table(&self) -> Table {
        let mut t = Table::new();
        t.load_preset(if self.ascii {
            comfy_table::presets::ASCII_FULL_CONDENSED
        } else {
            comfy_table::presets::UTF8_FULL_CONDENSED
        });
        match self.width {
            Some(w) => {
                t.set_content_arrangement(ContentArrangement::Dynamic);
                t.set_width(w);
            }
            None => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        t
    }

    pub(crate) fn pass(&self) -> &'static str {
        if self.ascii { "PASS" } else { "✔" }
    }
    pub(crate) fn fail(&self) -> &'static str {
        if self.ascii { "FAIL" } else { "✗" }
    }
    pub(crate) fn arrow(&self) -> &'static str {
        if self.ascii { "->" } else { "→" }
    }

    pub(crate) fn truncate(&self, s: &str) -> String {
        if s.chars().count() <= self.max_value_chars {
            return s.to_owned();
        }
        let ell = if self.ascii { "..." } else { "…" };
        let cut: String = s
            .chars()
            .take(self.max_value_chars.saturating_sub(1))
            .collect();
        cut + ell
    }

    pub(crate) fn value(&self, v: &Value) -> String {
        let s = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.truncate(&s)
    }
}

fn assertions_cell(a: &BTreeMap<String, AssertionSummary>, opts: &RenderOptions) -> String {
    a.iter()
        .map(|(name, s)| {
            let mark = if s.passed == s.total {
                opts.pass().to_owned()
            } else if s.passed == 0 {
                opts.fail().to_owned()
            } else {
                format!("{}/{}", s.passed, s.total)
            };
            let mut line = format!("{mark} {name}");
            if opts.include_reasons {
                if let Some(r) = &s.reason {
                    line.push_str(&format!(": {}", opts.truncate(r)));
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn scores_cell(s: &BTreeMap<String, ScoreSummary>, opts: &RenderOptions) -> String {
    s.iter()
        .map(|(name, s)| {
            let mut line = if s.n > 1 {
                format!("{name}: {:.2} ± {:.2}", s.mean, s.std)
            } else {
                format!("{name}: {:.2}", s.mean)
            };
            if opts.ascii {
                line = line.replace('±', "+/-");
            }
            if opts.include_reasons {
                if let Some(r) = &s.reason {
                    line.push_str(&format!(" ({})", opts.truncate(r)));
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn labels_cell(l: &BTreeMap<String, LabelSummary>, opts: &RenderOptions) -> String {
    l.iter()
        .map(|(name, l)| {
            let total: u32 = l.counts.values().sum();
            let n = l.counts.get(&l.value).copied().unwrap_or(0);
            let mut line = if l.counts.len() > 1 {
                format!("{name}: {} ({n}/{total})", l.value)
            } else {
                format!("{name}: {}", l.value)
            };
            if opts.include_reasons {
                if let Some(r) = &l.reason {
                    line.push_str(&format!(" ({})", opts.truncate(r)));
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A duration in seconds, written short: `850µs`, `12.3ms`, `1.25s`.
pub(crate) fn duration(secs: f64) -> String {
    if secs < 0.001 {
        format!("{:.0}µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1}ms", secs * 1e3)
    } else {
        format!("{secs:.2}s")
    }
}

fn stat_duration(s: &Stat) -> String {
    if s.std > 0.0 {
        format!("{} ± {}", duration(s.mean), duration(s.std))
    } else {
        duration(s.mean)
    }
}
