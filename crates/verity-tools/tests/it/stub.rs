//! One axum server for the whole test run: each test gets its own path prefix, so
//! tests running in parallel never see each other's requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// What a scenario answers: status, extra headers, body.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// A request the stub received.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: String,
}

#[derive(Default)]
struct Shared {
    replies: HashMap<String, Reply>,
    received: HashMap<String, Vec<Received>>,
}

pub struct Stub {
    base: String,
    shared: Arc<Mutex<Shared>>,
}

async fn handle(
    State(shared): State<Arc<Mutex<Shared>>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = shared.lock().unwrap();
    s.received.entry(name.clone()).or_default().push(Received {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    match s.replies.get(&name) {
        Some(r) => {
            let mut response =
                (StatusCode::from_u16(r.status).unwrap(), r.body.clone()).into_response();
            for (k, v) in &r.headers {
                response.headers_mut().insert(*k, v.parse().unwrap());
            }
            response
        }
        None => (StatusCode::NOT_FOUND, "no such scenario").into_response(),
    }
}

/// The shared stub, started once (on its own runtime thread, so that it outlives each
/// test's runtime).
pub fn stub() -> &'static Stub {
    static STUB: OnceLock<Stub> = OnceLock::new();
    STUB.get_or_init(|| {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new()
            .route("/{name}", post(handle))
            .with_state(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        Stub { base, shared }
    })
}

impl Stub {
    /// Register a scenario; returns its URL.
    pub fn scenario(&self, name: &str, reply: Reply) -> String {
        self.shared
            .lock()
            .unwrap()
            .replies
            .insert(name.to_owned(), reply);
        format!("{}/{name}", self.base)
    }

    pub fn received(&self, name: &str) -> Vec<Received> {
        self.shared
            .lock()
            .unwrap()
            .received
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}
