use verity_examples::weather_api::WeatherApi;

use crate::run_example;

#[tokio::test]
async fn geocodes_retries_an_unknown_place_and_reports_the_weather() {
    let api = WeatherApi::start().await.unwrap();
    let run = run_example(
        env!("CARGO_BIN_EXE_weather_agent"),
        &[("WEATHER_API_URL", &api.base_url)],
        &[],
    )
    .await;
    assert!(
        run.stdout.contains(
            "Response: In London it is drizzle and 20 °C; in Wiltshire it is sunny and 20 °C."
        ),
        "{}",
        run.stdout
    );
    // "Wilts" was not found: the tool's ModelRetry went back to the model
    assert!(
        run.stdout
            .contains(r#"get_lat_lng({"location_description":"Wilts"}) -> Retried: "Could not find the location"#),
        "{}",
        run.stdout
    );

    // the requests reached the stand-in in the shapes of PydanticAI's demo endpoints
    let requests = api.requests();
    let latlng: Vec<_> = requests
        .iter()
        .filter(|r| r.starts_with("/latlng"))
        .collect();
    assert_eq!(latlng.len(), 3, "{requests:?}");
    assert!(latlng.contains(&&"/latlng?location=Wilts".to_owned()));
    assert!(latlng.contains(&&"/latlng?location=Wiltshire%2C+England".to_owned()));
    assert_eq!(
        requests
            .iter()
            .filter(|r| *r == "/number?min=10&max=30")
            .count(),
        2
    );
    assert!(requests.contains(&"/weather?lat=51.5072&lng=-0.1276".to_owned()));
    assert!(requests.contains(&"/weather?lat=51.3492&lng=-1.9927".to_owned()));
}

#[tokio::test]
async fn runs_offline_on_its_own_stand_in() {
    let run = run_example(env!("CARGO_BIN_EXE_weather_agent"), &[], &[]).await;
    assert!(
        run.stdout.contains("in Wiltshire it is sunny"),
        "{}",
        run.stdout
    );
}
