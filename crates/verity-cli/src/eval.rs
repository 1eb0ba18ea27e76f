//! `verity eval run DATASET`: a dataset file run through the agent it describes.

use std::io::IsTerminal;

use serde_json::Value;
use verity_evals::{AgentSpec, Dataset, EvaluationReport, Registry, RenderOptions};

use crate::cli::EvalRunArgs;
use crate::error::CliError;

/// The exit code of a regression against the baseline.
pub const REGRESSION: u8 = 3;

/// What the run decided: the regressions found against the baseline, as one line each.
pub fn regressions(
    report: &EvaluationReport,
    baseline: &EvaluationReport,
    threshold: f64,
) -> Vec<String> {
    report
        .diff(baseline)
        .regressions(threshold)
        .iter()
        .map(ToString::to_string)
        .collect()
}

pub fn run(args: &EvalRunArgs) -> Result<(), CliError> {
    let path = &args.dataset;
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    // the file's agent section first: its model is the judges' default too
    let raw: Value = serde_norway::from_str(&text)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    let file_model = raw
        .get("agent")
        .and_then(|a| a.get("model"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let model_name = args
        .model
        .clone()
        .or(file_model)
        .or_else(|| std::env::var("VERITY_MODEL").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(crate::models::default_model_name);
    let model = crate::models::resolve(&model_name)?;
    let judge = match &args.judge_model {
        Some(name) => crate::models::resolve(name)?,
        None => model.clone(),
    };
    let registry = Registry::<Value, Value, Value>::new().judge_model(judge);
    let format = verity_evals::Format::of(path).map_err(|e| CliError::usage(e.to_string()))?;
    let dataset = Dataset::<Value, Value, Value>::parse(&text, format, &registry)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    let baseline = args
        .baseline
        .as_ref()
        .map(|p| EvaluationReport::load(p).map_err(|e| CliError::usage(e.to_string())))
        .transpose()?;
    let task = dataset
        .agent
        .clone()
        .unwrap_or_else(AgentSpec::default)
        .task(model);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::run(format!("cannot start the async runtime: {e}")))?;
    let name = dataset.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "evaluation".to_owned())
    });
    let report = runtime.block_on(async {
        dataset
            .evaluate(|inputs: Value| task(inputs))
            .max_concurrency(args.concurrency)
            .repeat(args.repeat)
            .retries(args.retries)
            .name(name)
            .await
    });
    let opts = RenderOptions::default()
        .ascii(!std::io::stdout().is_terminal())
        .reasons(args.reasons)
        .input(args.inputs);
    outln!("{}", report.render(&opts).trim_end());
    if let Some(save) = &args.save {
        report
            .save(save)
            .map_err(|e| CliError::run(e.to_string()))?;
    }
    if let Some(baseline) = &baseline {
        outln!();
        outln!("{}", report.diff(baseline).render(&opts).trim_end());
        let found = regressions(&report, baseline, args.threshold);
        if !found.is_empty() {
            return Err(CliError {
                code: REGRESSION,
                message: format!(
                    "regression against {} (threshold {}): {}",
                    args.baseline
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    args.threshold,
                    found.join("; ")
                ),
            });
        }
    }
    Ok(())
}
