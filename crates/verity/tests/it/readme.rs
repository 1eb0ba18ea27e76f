//! The README's quick start, compiled and run.
use verity::prelude::*;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct CityLocation {
    city: String,
    country: String,
}

/// Look up where the Summer Olympics were held.
///
/// # Arguments
/// * `year` - The year of the games.
#[tool]
fn olympics_host(year: u32) -> Result<String, ModelRetry> {
    match year {
        2012 => Ok("London, United Kingdom".into()),
        _ => Err(ModelRetry::new("unknown year, try another")),
    }
}

#[tokio::test]
async fn readme_quick_start_runs() {
    let agent = Agent::builder(TestModel::new())
        .instructions("Answer with the city and country.")
        .tool(OlympicsHost)
        .output::<CityLocation>()
        .retries(2)
        .build();
    // TestModel calls the tool with year 0: the tool asks for a retry, TestModel tries
    // again with the same arguments, and the retries run out.
    let err = agent
        .run("Where were the olympics held in 2012?")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("exceeded max retries count of 2"),
        "{err}"
    );

    let agent = Agent::builder(TestModel::new())
        .output::<CityLocation>()
        .build();
    let result = agent
        .run("Where were the olympics held in 2012?")
        .await
        .unwrap();
    assert_eq!(result.output.city, "a");
    assert_eq!(result.output.country, "a");
    assert_eq!(result.usage().requests, 1);
}
