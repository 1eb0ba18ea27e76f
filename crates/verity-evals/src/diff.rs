//! [`ReportDiff`]: a report against a baseline, old → new with deltas, added and
//! removed cases, and the regressions past a threshold.

use std::collections::{BTreeMap, BTreeSet};

use comfy_table::Cell;
use serde::{Deserialize, Serialize};

use crate::report::{Averages, EvaluationReport, RenderOptions, duration};

/// A number before and after (`None`: absent on that side).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// In the baseline.
    pub old: Option<f64>,
    /// In the new report.
    pub new: Option<f64>,
}

impl Change {
    /// `new - old`, when both exist.
    pub fn delta(&self) -> Option<f64> {
        Some(self.new? - self.old?)
    }
}

/// One case present in both reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseDiff {
    /// The case.
    pub name: String,
    /// Each assertion's pass rate.
    pub assertions: BTreeMap<String, Change>,
    /// Each score's mean.
    pub scores: BTreeMap<String, Change>,
    /// Each label's value.
    pub labels: BTreeMap<String, (Option<String>, Option<String>)>,
    /// The mean task duration in seconds.
    pub duration: Change,
    /// Whether the output differs.
    pub output_changed: bool,
}

/// A fall past the threshold: see [`ReportDiff::regressions`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    /// What fell: `assertion pass rate`, `score NAME`, `task failures`.
    pub metric: String,
    /// Before.
    pub old: f64,
    /// After.
    pub new: f64,
}

impl std::fmt::Display for Regression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.metric == "task failures" {
            write!(f, "{}: {} -> {}", self.metric, self.old, self.new)
        } else {
            write!(
                f,
                "{}: {:.3} -> {:.3} ({:+.3})",
                self.metric,
                self.old,
                self.new,
                self.new - self.old
            )
        }
    }
}

/// A report compared with a baseline ([`EvaluationReport::diff`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportDiff {
    /// The new report's name.
    pub name: String,
    /// The cases in both, in the new report's order.
    pub cases: Vec<CaseDiff>,
    /// Cases only in the new report.
    pub added: Vec<String>,
    /// Cases only in the baseline.
    pub removed: Vec<String>,
    /// The baseline's averages.
    pub baseline: Averages,
    /// The new report's averages.
    pub current: Averages,
    /// Task failures in the baseline.
    pub baseline_failures: usize,
    /// Task failures in the new report.
    pub current_failures: usize,
}

impl EvaluationReport {
    /// Compare with `baseline`: old → new per case, added and removed cases, averages.
    pub fn diff(&self, baseline: &EvaluationReport) -> ReportDiff {
        let old_names: BTreeSet<&str> = baseline
            .cases
            .iter()
            .map(|c| c.name.as_str())
            .chain(baseline.failures.iter().map(|f| f.name.as_str()))
            .collect();
        let new_names: BTreeSet<&str> = self
            .cases
            .iter()
            .map(|c| c.name.as_str())
            .chain(self.failures.iter().map(|f| f.name.as_str()))
            .collect();
        let mut cases = Vec::new();
        for new in &self.cases {
            let Some(old) = baseline.case(&new.name) else {
                continue;
            };
            let mut assertions = BTreeMap::new();
            for k in old.assertions.keys().chain(new.assertions.keys()) {
                assertions.insert(
                    k.clone(),
                    Change {
                        old: old.assertions.get(k).map(|a| a.rate()),
                        new: new.assertions.get(k).map(|a| a.rate()),
                    },
                );
            }
            let mut scores = BTreeMap::new();
            for k in old.scores.keys().chain(new.scores.keys()) {
                scores.insert(
                    k.clone(),
                    Change {
                        old: old.scores.get(k).map(|s| s.mean),
                        new: new.scores.get(k).map(|s| s.mean),
                    },
                );
            }
            let mut labels = BTreeMap::new();
            for k in old.labels.keys().chain(new.labels.keys()) {
                labels.insert(
                    k.clone(),
                    (
                        old.labels.get(k).map(|l| l.value.clone()),
                        new.labels.get(k).map(|l| l.value.clone()),
                    ),
                );
            }
            cases.push(CaseDiff {
                name: new.name.clone(),
                assertions,
                scores,
                labels,
                duration: Change {
                    old: Some(old.duration.mean),
                    new: Some(new.duration.mean),
                },
                output_changed: old.output != new.output,
            });
        }
        ReportDiff {
            name: self.name.clone(),
            cases,
            added: new_names
                .difference(&old_names)
                .map(|s| (*s).to_owned())
                .collect(),
            removed: old_names
                .difference(&new_names)
                .map(|s| (*s).to_owned())
                .collect(),
            baseline: baseline.averages(),
            current: self.averages(),
            baseline_failures: baseline.failures.len(),
            current_failures: self.failures.len(),
        }
    }
}

impl ReportDiff {
    /// What fell by more than `threshold` (absolute, e.g. `0.05` for five points of a
    /// pass rate): the overall assertion pass rate, each score's average over the
    /// cases, and the count of cases whose task failed (any increase). Empty: no
    /// regression.
    pub fn regressions(&self, threshold: f64) -> Vec<Regression> {
        let mut out = Vec::new();
        if let (Some(old), Some(new)) = (self.baseline.assertion_rate, self.current.assertion_rate)
        {
            if old - new > threshold {
                out.push(Regression {
                    metric: "assertion pass rate".into(),
                    old,
                    new,
                });
            }
        }
        for (name, old) in &self.baseline.scores {
            if let Some(new) = self.current.scores.get(name) {
                if old - new > threshold {
                    out.push(Regression {
                        metric: format!("score {name}"),
                        old: *old,
                        new: *new,
                    });
                }
            }
        }
        if self.current_failures > self.baseline_failures {
            out.push(Regression {
                metric: "task failures".into(),
                old: self.baseline_failures as f64,
                new: self.current_failures as f64,
            });
        }
        out
    }

    /// The diff as a table: per case, each score and assertion rate old → new with its
    /// delta, the duration; then the added and removed cases and the averages.
    pub fn render(&self, opts: &RenderOptions) -> String {
        let arrow = opts.arrow();
        let has_scores = !self.baseline.scores.is_empty() || !self.current.scores.is_empty();
        let mut table = opts.table();
        let mut header = vec!["Case"];
        if has_scores {
            header.push("Scores");
        }
        header.push("Assertions");
        if opts.include_durations {
            header.push("Duration");
        }
        table.set_header(header);
        let change = |c: &Change, pct: bool| -> String {
            let f = |v: Option<f64>| match v {
                None => "-".to_owned(),
                Some(v) if pct => format!("{:.0}%", v * 100.0),
                Some(v) => format!("{v:.2}"),
            };
            let mut s = format!("{} {arrow} {}", f(c.old), f(c.new));
            if let Some(d) = c.delta() {
                if d.abs() > 1e-9 {
                    if pct {
                        s.push_str(&format!(" ({:+.0}%)", d * 100.0));
                    } else {
                        s.push_str(&format!(" ({d:+.2})"));
                    }
                }
            }
            s
        };
        for c in &self.cases {
            let scores = c
                .scores
                .iter()
                .map(|(k, v)| format!("{k}: {}", change(v, false)))
                .collect::<Vec<_>>()
                .join("\n");
            let assertions = c
                .assertions
                .iter()
                .map(|(k, v)| {
                    let mark = |r: Option<f64>| match r {
                        None => "-".to_owned(),
                        Some(r) if r >= 1.0 => opts.pass().to_owned(),
                        Some(r) if r <= 0.0 => opts.fail().to_owned(),
                        Some(r) => format!("{:.0}%", r * 100.0),
                    };
                    format!("{k}: {} {arrow} {}", mark(v.old), mark(v.new))
                })
                .collect::<Vec<_>>()
                .join("\n");
            let mut row = vec![Cell::new(&c.name)];
            if has_scores {
                row.push(Cell::new(scores));
            }
            row.push(Cell::new(assertions));
            if opts.include_durations {
                let d = |v: Option<f64>| v.map(duration).unwrap_or_else(|| "-".into());
                row.push(Cell::new(format!(
                    "{} {arrow} {}",
                    d(c.duration.old),
                    d(c.duration.new)
                )));
            }
            table.add_row(row);
        }
        for name in &self.added {
            let mut row = vec![Cell::new(format!("+ {name}")), Cell::new("(added)")];
            if has_scores {
                row.push(Cell::new(""));
            }
            if opts.include_durations {
                row.push(Cell::new(""));
            }
            table.add_row(row);
        }
        for name in &self.removed {
            let mut row = vec![Cell::new(format!("- {name}")), Cell::new("(removed)")];
            if has_scores {
                row.push(Cell::new(""));
            }
            if opts.include_durations {
                row.push(Cell::new(""));
            }
            table.add_row(row);
        }
        let names: BTreeSet<&String> = self
            .baseline
            .scores
            .keys()
            .chain(self.current.scores.keys())
            .collect();
        let scores = names
            .into_iter()
            .map(|k| {
                let c = Change {
                    old: self.baseline.scores.get(k).copied(),
                    new: self.current.scores.get(k).copied(),
                };
                format!("{k}: {}", change(&c, false))
            })
            .collect::<Vec<_>>()
            .join("\n");
        let rate = change(
            &Change {
                old: self.baseline.assertion_rate,
                new: self.current.assertion_rate,
            },
            true,
        );
        let mut row = vec![Cell::new("Averages")];
        if has_scores {
            row.push(Cell::new(scores));
        }
        row.push(Cell::new(rate));
        if opts.include_durations {
            row.push(Cell::new(format!(
                "{} {arrow} {}",
                duration(self.baseline.duration),
                duration(self.current.duration)
            )));
        }
        table.add_row(row);
        let mut out = format!("Evaluation diff: {}\n{table}\n", self.name);
        if self.baseline_failures != self.current_failures {
            out.push_str(&format!(
                "Task failures: {} {arrow} {}\n",
                self.baseline_failures, self.current_failures
            ));
        }
        out
    }
}
