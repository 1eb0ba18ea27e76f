//! A stand-in for the weather example's HTTP APIs, on loopback, in the shapes of
//! PydanticAI's demo endpoints (`https://demo-endpoints.pydantic.workers.dev`):
//!
//! - `GET /latlng?location=London` → `{"lat": 51.5072, "lng": -0.1276}`, or 404 for a
//!   place it does not know;
//! - `GET /number?min=10&max=30` → a number as text (here always the middle one);
//! - `GET /weather?lat=..&lng=..` → a description as text.
//!
//! Unlike the demo endpoints (random answers), the stand-in is deterministic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// PydanticAI's demo endpoints, used when the example runs on a real model.
pub const DEMO_API_URL: &str = "https://demo-endpoints.pydantic.workers.dev";

/// The places the stand-in knows: name (lower case), latitude, longitude, weather.
const PLACES: &[(&str, f64, f64, &str)] = &[
    ("london", 51.5072, -0.1276, "Drizzle"),
    ("wiltshire", 51.3492, -1.9927, "Sunny"),
    ("paris", 48.8566, 2.3522, "Overcast"),
];

/// A running stand-in; stops when dropped.
#[derive(Debug)]
pub struct WeatherApi {
    /// Its base URL (`http://127.0.0.1:<port>`).
    pub base_url: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WeatherApi {
    /// Start it on a free loopback port, on the current tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/latlng", get(latlng))
            .route("/number", get(number))
            .route("/weather", get(weather))
            .with_state(requests.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(WeatherApi {
            base_url,
            requests,
            task,
        })
    }

    /// The paths and queries received so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for WeatherApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Log = Arc<Mutex<Vec<String>>>;

fn record(log: &Log, uri: &Uri) {
    if let Ok(mut l) = log.lock() {
        l.push(uri.to_string());
    }
}

fn find(location: &str) -> Option<&'static (&'static str, f64, f64, &'static str)> {
    let wanted = location.to_lowercase();
    PLACES.iter().find(|(name, ..)| {
        wanted
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == *name)
    })
}

async fn latlng(
    State(log): State<Log>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    record(&log, &uri);
    let location = q.get("location").map(String::as_str).unwrap_or_default();
    match find(location) {
        Some((_, lat, lng, _)) => axum::Json(json!({"lat": lat, "lng": lng})).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"detail": format!("location {location:?} not found")})),
        )
            .into_response(),
    }
}

async fn number(
    State(log): State<Log>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    record(&log, &uri);
    let bound = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    match (bound("min"), bound("max")) {
        (Some(min), Some(max)) if min <= max => ((min + max) / 2).to_string().into_response(),
        _ => (StatusCode::BAD_REQUEST, "min and max are needed").into_response(),
    }
}

async fn weather(
    State(log): State<Log>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    record(&log, &uri);
    let coord = |k: &str| q.get(k).and_then(|v| v.parse::<f64>().ok());
    match (coord("lat"), coord("lng")) {
        (Some(lat), Some(lng)) => {
            let nearest = PLACES.iter().min_by(|a, b| {
                let d = |p: &(&str, f64, f64, &str)| (p.1 - lat).powi(2) + (p.2 - lng).powi(2);
                d(a).total_cmp(&d(b))
            });
            nearest
                .map_or("Sunny", |(.., w)| *w)
                .to_owned()
                .into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "lat and lng are needed").into_response(),
    }
}
