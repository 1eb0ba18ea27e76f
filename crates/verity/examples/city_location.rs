//! The CityLocation agent from PydanticAI's docs, with a tool, end to end.
//!
//! Offline by default: a scripted `FunctionModel` plays the model (it calls the tool,
//! reads its result, and answers through the output tool). Set `VERITY_MODEL` to a
//! model string (e.g. `test`) to run on that model instead.
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
    ctx.deps
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
        let args = match args {
            serde_json::Value::Object(m) => ToolCallArgs::Object(m),
            _ => ToolCallArgs::default(),
        };
        ModelResponse::new(vec![ModelResponsePart::ToolCall(ToolCallPart::new(
            tool, args, "",
        ))])
    })
    .with_name("scripted")
}

#[tokio::main]
async fn main() -> verity::Result<()> {
    let model = match std::env::var("VERITY_MODEL") {
        Ok(name) if !name.is_empty() => name.into_model(),
        _ => scripted_model().into_model(),
    };
    let agent = Agent::builder(model)
        .deps_type::<Almanac>()
        .instructions("Answer with the city and country.")
        .tool(OlympicsHost)
        .output::<CityLocation>()
        .build();
    let deps = Almanac {
        hosts: vec![
            (2008, "Beijing", "China"),
            (2012, "London", "United Kingdom"),
        ],
    };
    let result = agent
        .run_with(
            "Where were the olympics held in 2012?",
            RunOptions::new(deps),
        )
        .await?;
    println!("output: {:?}", result.output);
    println!(
        "answer: {} is in {}",
        result.output.city, result.output.country
    );
    println!("usage:  {:?}", result.usage());
    Ok(())
}
