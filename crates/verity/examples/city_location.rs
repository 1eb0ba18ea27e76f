//! The CityLocation agent from PydanticAI's docs, with a tool, end to end.
//!
//! By default it runs on a real local model with no key and no network: SmolLM2-135M
//! behind llama.cpp's OpenAI-compatible server, installed and started by
//! `scripts/local-model` (Python 3 needed). That model cannot call tools, so the output
//! comes through native JSON-schema output; it is small, so its facts are often wrong,
//! but the output is always a valid `CityLocation`.
//!
//! `VERITY_MODEL` picks another model instead: a model string such as `openai:gpt-4o`
//! or `ollama:llama3.2` (the output then comes through an output tool, and the model may
//! call the tool), or `scripted` for an offline stand-in that calls the tool.
//!
//! ```text
//! cargo run -p verity --example city_location
//! ```

use serde_json::json;
use verity::messages::{ModelRequestPart, ModelResponsePart, ToolCallArgs, ToolCallPart};
use verity::prelude::*;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct CityLocation {
    city: String,
    country: String,
}

/// Olympic host cities the tool knows.
struct Almanac {
    hosts: Vec<(u32, &'static str, &'static str)>,
}

/// Look up where the Summer Olympics were held in a year.
///
/// # Arguments
/// * `year` - The year of the games.
#[tool]
async fn olympics_host(ctx: &RunContext<Almanac>, year: u32) -> Result<String, ModelRetry> {
    ctx.deps()
        .hosts
        .iter()
        .find(|(y, _, _)| *y == year)
        .map(|(_, city, country)| format!("{city}, {country}"))
        .ok_or_else(|| ModelRetry::new(format!("no Summer Olympics in {year}; try another year")))
}

/// A deterministic stand-in for an LLM: asks the tool, then answers with what it said.
fn scripted_model() -> FunctionModel {
    FunctionModel::new(|messages, info| {
        let last_return = messages.last().and_then(|m| m.as_request()).and_then(|r| {
            r.parts.iter().find_map(|p| match p {
                ModelRequestPart::ToolReturn(t) if t.tool_name == "olympics_host" => {
                    t.content.as_str().map(str::to_owned)
                }
                _ => None,
            })
        });
        let (tool, args) = match last_return {
            None => ("olympics_host".to_owned(), json!({"year": 2012})),
            Some(answer) => {
                let (city, country) = answer.split_once(", ").unwrap_or((&answer, ""));
                let output_tool = info
                    .output_tools
                    .first()
                    .map_or("final_result", |t| &t.name);
                (
                    output_tool.to_owned(),
                    json!({"city": city, "country": country}),
                )
            }
        };
        let args = ToolCallArgs::from(args);
        ModelResponse::new(vec![ModelResponsePart::ToolCall(ToolCallPart::new(
            tool, args, "",
        ))])
    })
    .with_name("scripted")
}

#[tokio::main]
async fn main() -> verity::Result<()> {
    // with the `otel` feature and OTEL_EXPORTER_OTLP_ENDPOINT set, the run's spans and
    // metrics go to that OTLP endpoint (flushed when `_telemetry` is dropped)
    #[cfg(feature = "otel")]
    let _telemetry = match std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Some(_) => Some(verity::telemetry::init()?),
        None => None,
    };
    let (model, mode) = match std::env::var("VERITY_MODEL") {
        Ok(name) if name == "scripted" => (scripted_model().into_model(), OutputMode::Tool),
        Ok(name) if !name.is_empty() => (infer_model(&name)?, OutputMode::Tool),
        _ => {
            let model = verity::models::local::model().map_err(|e| {
                verity::Error::User(format!(
                    "{e}; set VERITY_MODEL to use another model, e.g. VERITY_MODEL=scripted"
                ))
            })?;
            (model.into_model(), OutputMode::Native)
        }
    };
    println!("model:  {}", model.model_name());
    let agent = Agent::builder(model)
        .deps_type::<Almanac>()
        .instructions("Answer with the city and country.")
        .tool(OlympicsHost)
        .output::<CityLocation>()
        .output_mode(mode)
        .output_retries(3)
        .settings(ModelSettings::new().max_tokens(100).temperature(0.0))
        .build();
    let deps = Almanac {
        hosts: vec![
            (2008, "Beijing", "China"),
            (2012, "London", "United Kingdom"),
        ],
    };
    let result = agent
        .run("Where were the olympics held in 2012?")
        .deps(deps)
        .await?;
    println!("output: {:?}", result.output);
    println!(
        "answer: {} is in {}",
        result.output.city, result.output.country
    );
    println!("usage:  {:?}", result.usage());
    Ok(())
}
