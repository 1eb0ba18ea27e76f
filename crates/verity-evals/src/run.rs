//! `dataset.evaluate(task)`: every case run through the task (concurrently, up to a
//! limit; repeated; retried), judged by the evaluators, and gathered into a report.

use std::fmt::Display;
use std::future::{Future, IntoFuture};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::StreamExt;
use serde::Serialize;
use verity::RunResult;
use verity::messages::ModelMessage;
use verity::usage::RunUsage;

use crate::dataset::{Case, Dataset};
use crate::evaluator::{EvaluationResult, EvaluatorContext};
use crate::report::{EvaluationReport, EvaluatorFailure, RunOutcome};
use crate::spans::{self, SpanRecord};

/// What a task recorded about its agent runs.
#[derive(Debug, Default)]
struct Recorded {
    messages: Vec<ModelMessage>,
    usage: Option<RunUsage>,
}

tokio::task_local! {
    static RECORDER: Arc<Mutex<Recorded>>;
}

fn with_recorder(f: impl FnOnce(&mut Recorded)) {
    // outside an evaluation there is nothing to record into: ignored
    let _ = RECORDER.try_with(|r| {
        let mut guard = r.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard);
    });
}

/// Record an agent run's messages and usage for the case being evaluated, so that the
/// trajectory evaluators ([`ToolsCalled`](crate::builtins::ToolsCalled),
/// [`MaxToolCalls`](crate::builtins::MaxToolCalls),
/// [`MaxModelRequests`](crate::builtins::MaxModelRequests)) see them. Call it in the
/// task; outside an evaluation it does nothing. Several runs in one task add up.
pub fn record_run<T>(result: &RunResult<T>) {
    record_messages(result.new_messages());
    record_usage(result.usage());
}

/// Record messages for the case being evaluated (see [`record_run`]).
pub fn record_messages(messages: &[ModelMessage]) {
    with_recorder(|r| r.messages.extend_from_slice(messages));
}

/// Record usage for the case being evaluated (added to what was recorded before).
pub fn record_usage(usage: &RunUsage) {
    with_recorder(|r| {
        let total = r.usage.take().unwrap_or_default();
        r.usage = Some(total + usage.clone());
    });
}

/// An evaluation being set up: [`Dataset::evaluate`] makes it; options are set with
/// its methods; `.await` runs it and gives the [`EvaluationReport`].
#[must_use = "an evaluation does nothing until awaited"]
pub struct Evaluation<'d, I, O, M, F> {
    dataset: &'d Dataset<I, O, M>,
    task: F,
    max_concurrency: Option<usize>,
    repeat: u32,
    retries: u32,
    progress: Option<bool>,
    name: Option<String>,
}

impl<I, O, M> Dataset<I, O, M> {
    /// Evaluate `task` (an async function of a case's inputs) on every case. By default
    /// all cases run at once, once each, without retries, with a progress bar when
    /// stderr is a terminal.
    ///
    /// ```
    /// use verity_evals::{Case, Dataset, builtins::EqualsExpected};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dataset = Dataset::<String, String>::new(vec![
    ///     Case::new("hi", "hi".to_owned()).expected_output("HI".to_owned()),
    /// ])
    /// .evaluator(EqualsExpected);
    /// let report = dataset
    ///     .evaluate(|s: String| async move { Ok::<_, std::convert::Infallible>(s.to_uppercase()) })
    ///     .max_concurrency(4)
    ///     .await;
    /// assert_eq!(report.averages().assertion_rate, Some(1.0));
    /// # });
    /// ```
    pub fn evaluate<F>(&self, task: F) -> Evaluation<'_, I, O, M, F> {
        Evaluation {
            dataset: self,
            task,
            max_concurrency: None,
            repeat: 1,
            retries: 0,
            progress: None,
            name: None,
        }
    }
}

impl<I, O, M, F> Evaluation<'_, I, O, M, F> {
    /// Run at most `n` task calls at once (at least 1).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = Some(n.max(1));
        self
    }
    /// Run each case `n` times (at least 1): the report gives means and spreads.
    pub fn repeat(mut self, n: u32) -> Self {
        self.repeat = n.max(1);
        self
    }
    /// Retry a task call that fails up to `n` more times.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }
    /// Show the progress bar (`true`; still only on a terminal) or never (`false`).
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = Some(show);
        self
    }
    /// The report's name (default: the dataset's name, else `evaluation`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl<'d, I, O, M, F, Fut, E> IntoFuture for Evaluation<'d, I, O, M, F>
where
    I: Clone + Serialize + Send + Sync + 'd,
    O: Serialize + Send + Sync + 'd,
    M: Serialize + Send + Sync + 'd,
    F: Fn(I) -> Fut + Send + Sync + 'd,
    Fut: Future<Output = Result<O, E>> + Send + 'd,
    E: Display + Send + 'd,
{
    type Output = EvaluationReport;
    type IntoFuture = BoxFuture<'d, EvaluationReport>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let Evaluation {
                dataset,
                task,
                max_concurrency,
                repeat,
                retries,
                progress,
                name,
            } = self;
            let total = dataset.cases.len() * repeat as usize;
            let bar = progress_bar(progress.unwrap_or(true), total as u64);
            let limit = max_concurrency.unwrap_or(total.max(1));
            let jobs: Vec<usize> = (0..dataset.cases.len())
                .flat_map(|i| std::iter::repeat_n(i, repeat as usize))
                .collect();
            let task = &task;
            let bar_ref = &bar;
            let mut outcomes: Vec<(usize, RunOutcome)> = futures::stream::iter(jobs)
                .map(|i| job(dataset, i, task, retries, bar_ref))
                .buffer_unordered(limit)
                .filter_map(std::future::ready)
                .collect()
                .await;
            bar.finish_and_clear();
            outcomes.sort_by_key(|(i, _)| *i);
            let name = name
                .or_else(|| dataset.name.clone())
                .unwrap_or_else(|| "evaluation".to_owned());
            EvaluationReport::from_outcomes(name, dataset, outcomes)
        })
    }
}

fn progress_bar(wanted: bool, total: u64) -> indicatif::ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} evaluating [{bar:30}] {pos}/{len} cases {elapsed}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

async fn job<I, O, M, F, Fut, E>(
    dataset: &Dataset<I, O, M>,
    i: usize,
    task: &F,
    retries: u32,
    bar: &indicatif::ProgressBar,
) -> Option<(usize, RunOutcome)>
where
    I: Clone + Serialize + Send + Sync,
    O: Serialize + Send + Sync,
    M: Serialize + Send + Sync,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    E: Display + Send,
{
    let case = dataset.cases.get(i)?;
    let outcome = run_case(dataset, case, task, retries).await;
    bar.inc(1);
    Some((i, outcome))
}

/// One run of one case: the task (retried), then every evaluator.
async fn run_case<I, O, M, F, Fut, E>(
    dataset: &Dataset<I, O, M>,
    case: &Case<I, O, M>,
    task: &F,
    retries: u32,
) -> RunOutcome
where
    I: Clone + Serialize + Send + Sync,
    O: Serialize + Send + Sync,
    M: Serialize + Send + Sync,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    E: Display + Send,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        let recorder = Arc::new(Mutex::new(Recorded::default()));
        let started = Instant::now();
        let (result, captured) = spans::capture(
            &case.name,
            RECORDER.scope(recorder.clone(), task(case.inputs.clone())),
        )
        .await;
        let duration = started.elapsed();
        let output = match result {
            Ok(output) => output,
            Err(e) if attempts <= retries => {
                let _ = e;
                continue;
            }
            Err(e) => {
                return RunOutcome {
                    output: Err(e.to_string()),
                    duration,
                    attempts,
                    results: Vec::new(),
                    evaluator_failures: Vec::new(),
                };
            }
        };
        let recorded =
            std::mem::take(&mut *recorder.lock().unwrap_or_else(PoisonError::into_inner));
        return evaluate_run(
            dataset, case, output, duration, attempts, recorded, captured,
        )
        .await;
    }
}

async fn evaluate_run<I, O, M>(
    dataset: &Dataset<I, O, M>,
    case: &Case<I, O, M>,
    output: O,
    duration: Duration,
    attempts: u32,
    recorded: Recorded,
    spans: Option<Vec<SpanRecord>>,
) -> RunOutcome
where
    I: Serialize + Send + Sync,
    O: Serialize + Send + Sync,
    M: Serialize + Send + Sync,
{
    let ctx = EvaluatorContext {
        name: &case.name,
        inputs: &case.inputs,
        output: &output,
        expected_output: case.expected_output.as_ref(),
        metadata: case.metadata.as_ref(),
        duration,
        messages: &recorded.messages,
        usage: recorded.usage.as_ref(),
        spans: spans.as_deref(),
    };
    let evaluators: Vec<_> = dataset
        .evaluators
        .iter()
        .chain(case.evaluators.iter())
        .collect();
    let outs = futures::future::join_all(evaluators.iter().map(|e| e.evaluate(&ctx))).await;
    let mut results: Vec<(String, EvaluationResult)> = Vec::new();
    let mut evaluator_failures = Vec::new();
    for (e, out) in evaluators.iter().zip(outs) {
        match out {
            Ok(rs) => results.extend(rs.into_iter().map(|r| (e.name(), r))),
            Err(err) => evaluator_failures.push(EvaluatorFailure {
                evaluator: e.name(),
                error: err.to_string(),
            }),
        }
    }
    let output = serde_json::to_value(&output).map_err(|e| format!("output not serializable: {e}"));
    RunOutcome {
        output,
        duration,
        attempts,
        results,
        evaluator_failures,
    }
}
