//! An eval of the CityLocation agent (the olympics example of `crates/verity`) over the
//! ten cases of `olympics.yaml`, offline and deterministic: a scripted `FunctionModel`
//! plays the agent's model (it calls the `olympics_host` tool, then answers with what
//! the tool said) and another plays the LLM judge.
//!
//! ```text
//! cargo run -p verity-evals --example city_location_eval [-- --reasons]
//! ```

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use verity::messages::{last_tool_returns, last_user_prompt};
use verity::prelude::*;
use verity_evals::{Dataset, EvaluationReport, Format, Registry, RenderOptions, record_run};

/// Where the games were held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CityLocation {
    /// The city.
    pub city: String,
    /// The country.
    pub country: String,
}

/// A case's inputs: the year of the games.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Question {
    /// The year.
    pub year: u32,
}

/// Olympic host cities the tool knows.
pub struct Almanac {
    hosts: Vec<(u32, &'static str, &'static str)>,
}

/// Look up where the Summer Olympics were held in a year.
///
/// # Arguments
/// * `year` - The year of the games.
#[tool]
async fn olympics_host(ctx: &RunContext<Arc<Almanac>>, year: u32) -> Result<String, ModelRetry> {
    ctx.deps()
        .hosts
        .iter()
        .find(|(y, _, _)| *y == year)
        .map(|(_, city, country)| format!("{city}, {country}"))
        .ok_or_else(|| ModelRetry::new(format!("no Summer Olympics in {year}")))
}

/// The agent's model: asks the tool for the year in the prompt, then answers with what
/// the tool said (or "unknown" when the tool had nothing).
fn scripted_model() -> FunctionModel {
    FunctionModel::new(|messages, info| {
        let output_tool = info
            .output_tools
            .first()
            .map_or("final_result".to_owned(), |t| t.name.clone());
        if let Some(ret) = last_tool_returns(messages)
            .into_iter()
            .find(|r| r.tool_name == "olympics_host")
        {
            let answer = if ret.is_error() {
                json!({"city": "unknown", "country": "unknown"})
            } else {
                let text = ret.content.as_str().unwrap_or_default();
                let (city, country) = text.split_once(", ").unwrap_or((text, ""));
                json!({"city": city, "country": country})
            };
            return ModelResponse::tool_call(output_tool, answer);
        }
        let prompt = last_user_prompt(messages).unwrap_or_default();
        let year: u32 = prompt
            .split(|c: char| !c.is_ascii_digit())
            .find_map(|w| w.parse().ok())
            .unwrap_or(0);
        ModelResponse::tool_call("olympics_host", json!({ "year": year }))
    })
    .with_name("scripted")
}

/// The judge's model: passes an output that names a city, fails "unknown".
fn judge_model() -> FunctionModel {
    FunctionModel::new(|messages, info| {
        let prompt = last_user_prompt(messages).unwrap_or_default();
        let output = prompt
            .split("<Output>")
            .nth(1)
            .and_then(|s| s.split("</Output>").next())
            .unwrap_or_default();
        let known = !output.contains("unknown");
        let grade = json!({
            "reason": if known { "A real city and its country." } else { "No city is named." },
            "pass": known,
            "score": if known { 1.0 } else { 0.0 },
        });
        let tool = info
            .output_tools
            .first()
            .map_or("final_result".to_owned(), |t| t.name.clone());
        ModelResponse::tool_call(tool, grade)
    })
    .with_name("judge")
}

/// The dataset file, its evaluators resolved (the judge on its scripted model).
pub fn dataset() -> Result<Dataset<Question, CityLocation>, verity_evals::EvalError> {
    let registry = Registry::new().judge_model(judge_model());
    Dataset::parse(include_str!("olympics.yaml"), Format::Yaml, &registry)
}

/// Run the eval: the agent on each case, four at a time.
pub async fn run_eval() -> Result<EvaluationReport, verity_evals::EvalError> {
    let dataset = dataset()?;
    let agent = Agent::builder(scripted_model())
        .deps_type::<Arc<Almanac>>()
        .instructions("Answer with the city and country.")
        .tool(OlympicsHost)
        .output::<CityLocation>()
        .build();
    let almanac = Arc::new(Almanac {
        hosts: vec![
            (1988, "Seoul", "South Korea"),
            (1992, "Barcelona", "Spain"),
            (1996, "Atlanta", "United States"),
            (2000, "Sydney", "Australia"),
            (2004, "Athens", "Greece"),
            (2008, "Beijing", "China"),
            (2012, "London", "United Kingdom"),
            (2016, "Rio de Janeiro", "Brazil"),
            (2021, "Tokyo", "Japan"),
            (2024, "Paris", "France"),
        ],
    });
    let report = dataset
        .evaluate(|q: Question| {
            let agent = agent.clone();
            let almanac = almanac.clone();
            async move {
                let prompt = format!("Where were the Summer Olympics held in {}?", q.year);
                let result = agent.run(prompt).deps(almanac).await?;
                record_run(&result);
                Ok::<_, verity::Error>(result.output)
            }
        })
        .max_concurrency(4)
        .await;
    Ok(report)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), verity_evals::EvalError> {
    let report = run_eval().await?;
    // `-- --reasons` adds the evaluators' reasons
    let opts = RenderOptions::auto().reasons(std::env::args().any(|a| a == "--reasons"));
    print!("{}", report.render(&opts));
    Ok(())
}
