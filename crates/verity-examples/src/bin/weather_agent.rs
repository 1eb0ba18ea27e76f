//! PydanticAI's weather agent: two tools the model calls in turn — one geocodes a
//! place over HTTP, the other fetches the weather there — with deps holding the HTTP
//! client and the APIs' base URLs, and a retry when a place is not found.
//!
//! ```text
//! cargo run -p verity-examples --bin weather_agent
//! ```
//!
//! Offline by default: a scripted model plays the LLM against a stand-in for the APIs
//! on loopback (`verity_examples::weather_api`); its first guess for Wiltshire
//! ("Wilts") is not found, the tool asks it to try again, and it does. With
//! `VERITY_MODEL` set (e.g. `openai:gpt-4o`) a real model asks PydanticAI's demo
//! endpoints. `WEATHER_API_URL` points both tools at another server.

use std::collections::HashMap;

use serde_json::{Value, json};
use verity::messages::{ModelMessage, ModelRequestPart, ModelResponsePart, ToolOutcome};
use verity::prelude::*;
use verity::{ModelRef, ModelRetry, ToolError};
use verity_examples::support::{Choice, choose_model};
use verity_examples::weather_api::{DEMO_API_URL, WeatherApi};

/// What the tools need: an HTTP client and where the APIs are.
struct Deps {
    client: reqwest::Client,
    /// Base URL of the geocoding API (`/latlng`).
    geo_api: String,
    /// Base URL of the weather API (`/number`, `/weather`).
    weather_api: String,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LatLng {
    lat: f64,
    lng: f64,
}

async fn get_text(client: &reqwest::Client, url: reqwest::Url) -> Result<String, ToolError> {
    let response = client.get(url).send().await?.error_for_status()?;
    Ok(response.text().await?)
}

/// Get the latitude and longitude of a location.
///
/// # Arguments
/// * `location_description` - A description of a location.
#[tool]
async fn get_lat_lng(
    ctx: &RunContext<Deps>,
    location_description: String,
) -> Result<LatLng, ToolError> {
    let deps = ctx.deps();
    let url = reqwest::Url::parse_with_params(
        &format!("{}/latlng", deps.geo_api),
        [("location", &location_description)],
    )
    .map_err(|e| ToolError::failed(e.to_string()))?;
    let response = deps.client.get(url).send().await?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Err(ModelRetry::new(format!(
            "Could not find the location {location_description:?}; describe it differently, e.g. with its full name and country."
        ))
        .into());
    }
    let body = response.error_for_status()?.bytes().await?;
    Ok(serde_json::from_slice(&body)?)
}

/// Get the weather at a location.
///
/// # Arguments
/// * `lat` - Latitude of the location.
/// * `lng` - Longitude of the location.
#[tool]
async fn get_weather(ctx: &RunContext<Deps>, lat: f64, lng: f64) -> Result<Value, ToolError> {
    let deps = ctx.deps();
    let parse = |path: &str, params: &[(&str, String)]| {
        reqwest::Url::parse_with_params(&format!("{}{path}", deps.weather_api), params)
            .map_err(|e| ToolError::failed(e.to_string()))
    };
    let temperature_url = parse("/number", &[("min", "10".into()), ("max", "30".into())])?;
    let description_url = parse(
        "/weather",
        &[("lat", lat.to_string()), ("lng", lng.to_string())],
    )?;
    // both requests at once, as the Python example gathers them
    let (temperature, description) = tokio::join!(
        get_text(&deps.client, temperature_url),
        get_text(&deps.client, description_url)
    );
    Ok(json!({
        "temperature": format!("{} °C", temperature?.trim()),
        "description": description?.trim(),
    }))
}

fn weather_agent(model: ModelRef) -> Agent<Deps, String> {
    Agent::builder(model)
        .deps_type::<Deps>()
        .instructions("Be concise, reply with one sentence.")
        .tool(GetLatLng)
        .tool(GetWeather)
        .retries(2)
        .build()
}

/// A tool call (name, arguments) and its return (outcome, content), if any.
type CallAndReturn = (String, Value, Option<(ToolOutcome, Value)>);

/// Every tool call of the history with its return (if any).
fn calls_and_returns(messages: &[ModelMessage]) -> Vec<CallAndReturn> {
    let mut returns = HashMap::new();
    for m in messages {
        if let Some(r) = m.as_request() {
            for p in &r.parts {
                if let ModelRequestPart::ToolReturn(t) = p {
                    returns.insert(
                        t.tool_call_id.clone(),
                        (t.outcome.clone(), t.content.clone()),
                    );
                }
            }
        }
    }
    let mut out = Vec::new();
    for m in messages {
        if let Some(r) = m.as_response() {
            for p in &r.parts {
                if let ModelResponsePart::ToolCall(c) = p {
                    let args = c.args.to_value().unwrap_or(Value::Null);
                    out.push((
                        c.tool_name.clone(),
                        args,
                        returns.get(&c.tool_call_id).cloned(),
                    ));
                }
            }
        }
    }
    out
}

/// A deterministic stand-in for the LLM: geocode London and "Wilts"; when "Wilts" is
/// not found, try "Wiltshire, England"; then ask the weather for each place found, then
/// answer with what the tools said.
fn scripted_model() -> FunctionModel {
    FunctionModel::new(|messages, _| {
        let history = calls_and_returns(messages);
        if history.is_empty() {
            return ModelResponse::tool_calls_of([
                ("get_lat_lng", json!({"location_description": "London"})),
                ("get_lat_lng", json!({"location_description": "Wilts"})),
            ]);
        }
        let retried = history.iter().any(|(name, _, ret)| {
            name == "get_lat_lng" && matches!(ret, Some((ToolOutcome::Retried, _)))
        });
        let asked_again = history
            .iter()
            .any(|(_, args, _)| args["location_description"] == "Wiltshire, England");
        if retried && !asked_again {
            return ModelResponse::tool_call(
                "get_lat_lng",
                json!({"location_description": "Wiltshire, England"}),
            );
        }
        let places: Vec<(String, Value)> = history
            .iter()
            .filter_map(|(name, args, ret)| match ret {
                Some((ToolOutcome::Success, found)) if name == "get_lat_lng" => Some((
                    args["location_description"]
                        .as_str()
                        .unwrap_or("?")
                        .to_owned(),
                    found.clone(),
                )),
                _ => None,
            })
            .collect();
        let weather: Vec<&Value> = history
            .iter()
            .filter_map(|(name, _, ret)| match ret {
                Some((ToolOutcome::Success, w)) if name == "get_weather" => Some(w),
                _ => None,
            })
            .collect();
        if weather.is_empty() {
            return ModelResponse::tool_calls_of(
                places
                    .iter()
                    .map(|(_, at)| ("get_weather", json!({"lat": at["lat"], "lng": at["lng"]}))),
            );
        }
        let parts: Vec<String> = places
            .iter()
            .zip(weather)
            .map(|((place, _), w)| {
                let place = place.split(',').next().unwrap_or(place);
                format!(
                    "in {place} it is {} and {}",
                    w["description"].as_str().unwrap_or("?").to_lowercase(),
                    w["temperature"].as_str().unwrap_or("?")
                )
            })
            .collect();
        let mut answer = parts.join("; ");
        if let Some(first) = answer.get(..1) {
            answer = format!("{}{}.", first.to_uppercase(), answer.get(1..).unwrap_or(""));
        }
        ModelResponse::text(answer)
    })
    .with_name("scripted-weather")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let choice = choose_model(false)?;
    println!("model: {}", choice.describe());
    let configured = std::env::var("WEATHER_API_URL")
        .ok()
        .filter(|u| !u.is_empty());
    // the stand-in lives as long as `main` when nothing else is configured offline
    let mut stand_in = None;
    let (model, base) = match choice {
        Choice::Named(model) | Choice::Local(model) => {
            (model, configured.unwrap_or_else(|| DEMO_API_URL.to_owned()))
        }
        Choice::Scripted => {
            let base = match configured {
                Some(url) => url,
                None => {
                    let api = WeatherApi::start().await?;
                    let url = api.base_url.clone();
                    stand_in = Some(api);
                    url
                }
            };
            (scripted_model().into_model(), base)
        }
    };
    let base = base.trim_end_matches('/').to_owned();
    let deps = Deps {
        client: reqwest::Client::new(),
        geo_api: base.clone(),
        weather_api: base,
    };
    let result = weather_agent(model)
        .run("What is the weather like in London and in Wiltshire?")
        .deps(deps)
        .await?;
    for call in calls_and_returns(result.all_messages()) {
        let (name, args, ret) = call;
        let ret = ret.map(|(outcome, content)| format!("{outcome:?}: {content}"));
        println!("tool:  {name}({args}) -> {}", ret.unwrap_or_default());
    }
    println!("Response: {}", result.output);
    println!("usage: {:?}", result.usage());
    drop(stand_in);
    Ok(())
}
