//! A fast OpenAI-compatible mock for the benchmark scenarios: a tool call first when
//! function tools are offered and no tool result has come back, then the output tool
//! with `{"city":"London","country":"United Kingdom"}`; SSE when `stream` is true.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const USAGE: &str = r#"{"prompt_tokens":57,"completion_tokens":8,"total_tokens":65}"#;

/// The answer to a chat-completions request body.
pub fn respond(body: &Value) -> (bool, String) {
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let tools: Vec<&str> = body
        .get("tools")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let answered = body
        .get("messages")
        .and_then(Value::as_array)
        .is_some_and(|m| {
            m.iter()
                .any(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
        });
    let function = tools.iter().find(|t| !t.starts_with("final_result"));
    let output = tools
        .iter()
        .find(|t| t.starts_with("final_result"))
        .copied()
        .unwrap_or("final_result");
    let (name, args, id) = match function {
        Some(f) if !answered => (*f, r#"{"city":"London"}"#, "call_tool"),
        _ => (
            output,
            r#"{"city":"London","country":"United Kingdom"}"#,
            "call_final",
        ),
    };
    if !stream {
        let v = json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": args}}]
            }}],
            "usage": serde_json::from_str::<Value>(USAGE).unwrap_or(Value::Null),
        });
        return (false, v.to_string());
    }
    // text before the tool call, arguments split across chunks, usage last
    let (a, b) = args.split_at(args.len() / 2);
    let chunks = [
        json!({"id": "c", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Let me check. "}}]}),
        json!({"id": "c", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": a}}]}}]}),
        json!({"id": "c", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": b}}]}}]}),
        json!({"id": "c", "model": "gpt-4o", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        json!({"id": "c", "model": "gpt-4o", "choices": [], "usage": serde_json::from_str::<Value>(USAGE).unwrap_or(Value::Null)}),
    ];
    let mut out = String::new();
    for c in chunks {
        out.push_str("data: ");
        out.push_str(&c.to_string());
        out.push_str("\n\n");
    }
    out.push_str("data: [DONE]\n\n");
    (true, out)
}

/// Whether this soak request is one of the runs to fail: the run number (`run N` in
/// the user prompt) is a multiple of `fail_every` (0: none fail).
fn injected_failure(body: &Value, fail_every: u64) -> bool {
    if fail_every == 0 {
        return false;
    }
    body.pointer("/messages")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter().find_map(|m| {
                m.get("content")
                    .and_then(Value::as_str)?
                    .strip_prefix("run ")?
                    .parse::<u64>()
                    .ok()
            })
        })
        .is_some_and(|n| n % fail_every == 0)
}

async fn handle(
    req: Request<Incoming>,
    delay: Duration,
    fail_every: u64,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path().ends_with("/health") {
        return Ok(Response::new(Full::new(Bytes::from_static(b"ok"))));
    }
    // an OTLP/HTTP sink, for benchmarks that export their telemetry to loopback
    if matches!(req.uri().path(), "/v1/traces" | "/v1/metrics" | "/v1/logs") {
        let _ = req.into_body().collect().await;
        let mut response = Response::new(Full::new(Bytes::new()));
        if let Ok(v) = hyper::header::HeaderValue::from_str("application/x-protobuf") {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, v);
        }
        return Ok(response);
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if injected_failure(&value, fail_every) {
        let mut response = Response::new(Full::new(Bytes::from_static(
            br#"{"error":{"message":"injected failure"}}"#,
        )));
        *response.status_mut() = hyper::StatusCode::BAD_REQUEST;
        return Ok(response);
    }
    let (sse, text) = respond(&value);
    let content_type = if sse {
        "text/event-stream"
    } else {
        "application/json"
    };
    let mut response = Response::new(Full::new(Bytes::from(text)));
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    Ok(response)
}

/// Serve on `127.0.0.1:port` until the process ends.
pub async fn serve(port: u16, delay: Duration) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    eprintln!("mock listening on http://{}/v1", listener.local_addr()?);
    serve_on(listener, delay, 0).await
}

/// Serve on a bound listener; every `fail_every`-th soak run gets a 400 (0: none).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    delay: Duration,
    fail_every: u64,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, delay, fail_every));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
