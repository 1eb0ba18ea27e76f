//! The tests' surroundings: one Restate server per test run, the mock model server, the
//! worker processes, a round-robin TCP proxy, and the ingress and admin calls.

use std::collections::BTreeMap;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

/// A port free right now.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh scratch directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "verity-restate-{}-{name}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A unique service-name prefix, so that the tests of one run (running concurrently)
/// register services of their own.
pub fn prefix(test: &str) -> String {
    format!("t{}_{test}", free_port())
}

pub struct Restate {
    pub ingress: String,
    pub admin: String,
}

static SERVER: OnceLock<Result<Restate, String>> = OnceLock::new();

/// The server's platform binary (`@restatedev/restate-server-<platform>`), not npm's
/// node shim: killing the shim would leave the server running.
fn restate_binary() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
    let scope = cache.join("verity/restate-npm/node_modules/@restatedev");
    std::fs::read_dir(&scope)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin/restate-server"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| scope.join("restate-server-linux-x64/bin/restate-server"))
}

fn wait_for_port(port: u16, deadline: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn start_server() -> Result<Restate, String> {
    let binary = restate_binary();
    if !binary.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/install-server.sh");
        let status = Command::new("bash")
            .arg(&script)
            .status()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !status.success() || !binary.exists() {
            return Err(format!(
                "the Restate server is not installed and {} failed ({status}); \
                 it needs node and npm, and access to the npm registry",
                script.display()
            ));
        }
    }
    let dir = scratch("server");
    let (ingress, admin, fabric) = (free_port(), free_port(), free_port());
    let log = dir.join("server.log");
    // the server dies with the test process: a watchdog shell kills it when the test
    // process is gone, and removes its data
    let script = format!(
        "\"$0\" --bind-ip 127.0.0.1 --listen-mode tcp --base-dir \"$1/data\" --no-logo \
         --bind-port {fabric} > \"$1/server.log\" 2>&1 & srv=$!; \
         while kill -0 {pid} 2>/dev/null && kill -0 $srv 2>/dev/null; do sleep 0.5; done; \
         kill -9 $srv 2>/dev/null; rm -rf \"$1\"",
        pid = std::process::id()
    );
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(&binary)
        .arg(&dir)
        .env("RESTATE_DISABLE_TELEMETRY", "true")
        .env(
            "RESTATE_INGRESS__BIND_ADDRESS",
            format!("127.0.0.1:{ingress}"),
        )
        .env("RESTATE_ADMIN__BIND_ADDRESS", format!("127.0.0.1:{admin}"))
        .env("RESTATE_LOG_FILTER", "warn")
        // retry a crashed invocation quickly
        .env("RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL", "100ms")
        .env("RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL", "1s")
        // one invocation per connection, so that a TCP proxy spreads them over workers
        .env(
            "RESTATE_WORKER__INVOKER__HTTP2_STREAMS_PER_CONNECTION_LIMIT",
            "1",
        )
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let ready = wait_for_port(admin, Duration::from_secs(90))
        && wait_for_port(ingress, Duration::from_secs(30));
    if !ready {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!(
            "the Restate server ({}) did not open its ports within 2 minutes; its log:\n{tail}",
            binary.display()
        ));
    }
    Ok(Restate {
        ingress: format!("http://127.0.0.1:{ingress}"),
        admin: format!("http://127.0.0.1:{admin}"),
    })
}

/// The Restate server of this test run, started on first use. Fails the test loudly
/// when it cannot be started.
pub fn restate() -> &'static Restate {
    match SERVER.get_or_init(start_server) {
        Ok(server) => server,
        Err(why) => panic!("verity-restate tests need a Restate server: {why}"),
    }
}

/// What the mock model server saw.
#[derive(Default)]
pub struct Seen {
    /// Every request's `messages`, in arrival order.
    pub requests: Vec<String>,
    /// Which worker (`x-worker` header) sent each request.
    pub workers: Vec<String>,
}

/// An OpenAI-compatible mock model on loopback, counting requests. It answers from the
/// last user prompt: `note X` calls `record`, `delete P` calls `delete_file`, `explode`
/// calls `explode`, `json` answers `{"x": 1}`; after a tool return it answers
/// `done: <the return>`; anything else is answered with the conversation's prompts.
pub struct MockModel {
    pub url: String,
    pub seen: Arc<Mutex<Seen>>,
}

fn user_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn completion(text: Option<String>, call: Option<(&str, Value)>) -> Value {
    let finish = if call.is_some() { "tool_calls" } else { "stop" };
    let tool_calls = call.map(|(name, args)| {
        json!([{
            "id": format!("call_{name}_1"),
            "type": "function",
            "function": {"name": name, "arguments": args.to_string()},
        }])
    });
    let mut message = json!({"role": "assistant", "content": text});
    if let Some(calls) = tool_calls {
        message["tool_calls"] = calls;
    }
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 0,
        "model": "mock",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    })
}

async fn chat(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    {
        let mut seen = seen.lock().unwrap();
        seen.requests
            .push(Value::Array(messages.clone()).to_string());
        seen.workers.push(
            headers
                .get("x-worker")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
        );
    }
    let prompts: Vec<String> = messages
        .iter()
        .filter(|m| m["role"] == "user")
        .map(user_text)
        .collect();
    let prompt = prompts.last().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let failures = seen.lock().unwrap().requests.len();
    if prompt == "flaky" && failures == 1 {
        // the first request of a run on "flaky" fails with a status worth retrying
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"message": "overloaded, try again"}})),
        );
    }
    if prompt == "bad request" {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "this request is malformed"}})),
        );
    }
    if last["role"] == "tool" {
        let mut returns: Vec<String> = messages
            .iter()
            .rev()
            .take_while(|m| m["role"] == "tool")
            .map(user_text)
            .collect();
        returns.reverse();
        return (
            StatusCode::OK,
            Json(completion(
                Some(format!("done: {}", returns.join(" | "))),
                None,
            )),
        );
    }
    if prompt == "batch" {
        return (StatusCode::OK, Json(batch()));
    }
    let reply = if let Some(note) = prompt.strip_prefix("note ") {
        completion(None, Some(("record", json!({"note": note}))))
    } else if let Some(path) = prompt.strip_prefix("delete ") {
        completion(None, Some(("delete_file", json!({"path": path}))))
    } else if prompt == "explode" {
        completion(None, Some(("explode", json!({}))))
    } else if prompt == "json" {
        completion(Some(r#"{"x": 1}"#.to_owned()), None)
    } else {
        if prompt.starts_with("slow") {
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        completion(Some(format!("prompts so far: {}", prompts.join(","))), None)
    };
    (StatusCode::OK, Json(reply))
}

/// Three calls in one response: `record one`, the pure `echo`, `record two`.
fn batch() -> Value {
    let call = |id: &str, name: &str, args: Value| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}});
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 0,
        "model": "mock",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant",
            "content": null,
            "tool_calls": [
                call("call_a", "record", json!({"note": "one"})),
                call("call_b", "echo", json!({"text": "hi"})),
                call("call_c", "record", json!({"note": "two"})),
            ],
        }}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    })
}

impl MockModel {
    pub async fn start() -> MockModel {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(Arc::clone(&seen));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        MockModel { url, seen }
    }

    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().requests.clone()
    }

    pub fn workers(&self) -> Vec<String> {
        self.seen.lock().unwrap().workers.clone()
    }
}

/// A worker process (the `verity-restate-test-worker` binary), killed when dropped.
pub struct Worker {
    child: Child,
}

pub struct WorkerConfig {
    pub prefix: String,
    pub id: String,
    pub model_url: String,
    pub tool_log: PathBuf,
    pub pause_marker: Option<PathBuf>,
}

impl Worker {
    pub fn start(config: &WorkerConfig, port: u16) -> Worker {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_verity-restate-test-worker"));
        cmd.args(["--port", &port.to_string()])
            .args(["--prefix", &config.prefix])
            .args(["--model-url", &config.model_url])
            .args(["--worker-id", &config.id])
            .arg("--tool-log")
            .arg(&config.tool_log)
            .stdin(Stdio::null());
        if let Some(marker) = &config.pause_marker {
            cmd.arg("--pause-marker").arg(marker);
        }
        let child = cmd.spawn().unwrap();
        assert!(
            wait_for_port(port, Duration::from_secs(30)),
            "the worker did not listen on {port}"
        );
        Worker { child }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A round-robin TCP proxy: each connection goes to the next worker port.
pub async fn proxy(ports: Vec<u16>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut next = 0usize;
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let target = ports[next % ports.len()];
            next += 1;
            tokio::spawn(async move {
                if let Ok(mut outbound) =
                    tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    port
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// Register the deployment at `port` (the admin API's `POST /deployments`).
pub async fn register(port: u16) {
    let response = http()
        .post(format!("{}/deployments", restate().admin))
        .json(&json!({"uri": format!("http://127.0.0.1:{port}"), "force": true}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "registration failed: {status} {body}");
}

/// Call a handler over the ingress and wait for its response: the status and the body.
pub async fn call(service: &str, key: &str, handler: &str, body: Value) -> (u16, Value) {
    let request = http().post(format!("{}/{service}/{key}/{handler}", restate().ingress));
    // a handler without input takes no body
    let request = if body.is_null() {
        request
    } else {
        request.json(&body)
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Send a `run` without waiting: the invocation id.
pub async fn send(service: &str, key: &str, prompt: &str) -> String {
    let response = http()
        .post(format!("{}/{service}/{key}/run/send", restate().ingress))
        .json(&json!({"prompt": prompt}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["invocationId"]
        .as_str()
        .unwrap_or_else(|| panic!("no invocation id in {body}"))
        .to_owned()
}

/// Wait for an invocation's result.
pub async fn attach(invocation_id: &str) -> (u16, Value) {
    let response = http()
        .get(format!(
            "{}/restate/invocation/{invocation_id}/attach",
            restate().ingress
        ))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The names of an invocation's journal entries, in order (the admin API's SQL
/// introspection of `sys_journal`).
pub async fn journal(invocation_id: &str) -> Vec<String> {
    let response = http()
        .post(format!("{}/query", restate().admin))
        .header("accept", "application/json")
        .json(&json!({"query": format!(
            "SELECT index, entry_type, name FROM sys_journal WHERE id = '{invocation_id}' ORDER BY index"
        )}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows in {body}"))
        .iter()
        .map(|row| {
            format!(
                "{} {}",
                row["entry_type"].as_str().unwrap_or(""),
                row["name"].as_str().unwrap_or("")
            )
            .trim()
            .to_owned()
        })
        .collect()
}

/// Wait until `check` holds, or fail after `secs` seconds.
pub async fn eventually<T>(secs: u64, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(t) = check().await {
            return t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The tool log's lines.
pub fn tool_log(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// How many times each value occurs.
pub fn counts(items: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for item in items {
        *counts.entry(item.clone()).or_insert(0) += 1;
    }
    counts
}
