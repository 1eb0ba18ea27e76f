//! Scripted agents, the stream's chunks, and the npm tools the tests drive.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use futures::stream;
use serde_json::{Value, json};
use verity::messages::{ModelMessage, ModelRequestPart, last_tool_returns};
use verity::models::function::{DeltaToolCall, StreamChunk};
use verity::prelude::*;

/// The model of the golden `tool` scenario: "Let me check.", a get_weather call with
/// its arguments in two pieces; after the tool returned, the answer in three pieces.
pub fn tool_model() -> FunctionModel {
    FunctionModel::new_stream(|messages: Vec<ModelMessage>, _| {
        let chunks = if last_request_returned(&messages) {
            texts(&["It is ", "sunny in ", "Paris."])
        } else {
            text_and_split_call(
                "Let me check.",
                "get_weather",
                ["{\"city\":", " \"Paris\"}"],
            )
        };
        stream::iter(chunks.into_iter().map(Ok))
    })
}

/// Whether the last request carries a tool's return.
pub fn last_request_returned(messages: &[ModelMessage]) -> bool {
    messages
        .last()
        .and_then(|m| m.as_request())
        .is_some_and(|r| {
            r.parts
                .iter()
                .any(|p| matches!(p, ModelRequestPart::ToolReturn(_)))
        })
}

/// Text chunks.
pub fn texts(pieces: &[&str]) -> Vec<StreamChunk> {
    pieces
        .iter()
        .map(|t| StreamChunk::Text((*t).into()))
        .collect()
}

/// Some text, then a call `call_1` of `name` with its arguments in two pieces.
pub fn text_and_split_call(text: &str, name: &str, args: [&str; 2]) -> Vec<StreamChunk> {
    vec![
        StreamChunk::Text(text.into()),
        StreamChunk::ToolCalls(vec![DeltaToolCall {
            index: 0,
            name: Some(name.into()),
            json_args: Some(args[0].into()),
            tool_call_id: Some("call_1".into()),
        }]),
        StreamChunk::ToolCalls(vec![DeltaToolCall {
            index: 0,
            json_args: Some(args[1].into()),
            ..Default::default()
        }]),
    ]
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct City {
    #[allow(dead_code)]
    pub city: String,
}

pub fn weather_tool() -> Tool<()> {
    Tool::new(
        "get_weather",
        "The weather in a city.",
        |_ctx, _a: City| async move { Ok::<_, ToolError>("sunny") },
    )
}

pub fn tool_agent() -> Agent<(), String> {
    Agent::builder(tool_model()).tool(weather_tool()).build()
}

/// The golden `reasoning` scenario: thinking, then "Hello there!" in two pieces.
pub fn reasoning_agent() -> Agent<(), String> {
    let model = FunctionModel::new_stream(|_, _| {
        stream::iter(
            [
                StreamChunk::Thinking("The user greets me.".into()),
                StreamChunk::Text("Hello ".into()),
                StreamChunk::Text("there!".into()),
            ]
            .map(Ok),
        )
    });
    Agent::builder(model).build()
}

/// A `useChat` body with one user message.
pub fn chat_body(prompt: &str) -> Vec<u8> {
    json!({
        "id": "chat-1",
        "trigger": "submit-message",
        "messages": [{"id": "user-1", "role": "user", "parts": [{"type": "text", "text": prompt}]}],
    })
    .to_string()
    .into_bytes()
}

/// A response's whole body as text.
pub async fn body_text(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The JSON chunks of an SSE body, checking the framing (`data: …` events, `[DONE]` last).
pub fn sse_chunks(body: &str) -> Vec<Value> {
    let events: Vec<&str> = body.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.last(), Some(&"data: [DONE]"), "{body}");
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").expect(e)).expect(e))
        .collect()
}

/// Ids (text and reasoning part ids) replaced by their order of appearance, message
/// metadata's timestamps by a placeholder, and the metadata's key (`pydantic_ai`,
/// `verity`) by `framework`.
pub fn normalize(chunks: &[Value]) -> Vec<Value> {
    let mut ids: Vec<String> = Vec::new();
    chunks
        .iter()
        .map(|chunk| {
            let mut chunk = chunk.clone();
            if let Some(id) = chunk.get("id").and_then(Value::as_str).map(str::to_owned) {
                let n = ids.iter().position(|i| *i == id).unwrap_or_else(|| {
                    ids.push(id.clone());
                    ids.len() - 1
                });
                chunk["id"] = json!(format!("id-{n}"));
            }
            if let Some(meta) = chunk
                .get_mut("messageMetadata")
                .and_then(Value::as_object_mut)
            {
                let inner = meta.remove("pydantic_ai").or_else(|| meta.remove("verity"));
                if let Some(mut inner) = inner {
                    if inner.get("timestamp").is_some() {
                        inner["timestamp"] = json!("<timestamp>");
                    }
                    meta.insert("framework".into(), inner);
                }
            }
            chunk
        })
        .collect()
}

/// Where the npm packages the tests drive are, installing them first when missing. A
/// missing tool fails the test under CI=true; elsewhere it prints a loud notice and the
/// test is skipped (`None`).
pub fn ui_npm() -> Option<PathBuf> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .ok_or("neither XDG_CACHE_HOME nor HOME is set")?;
        let dir = cache.join("verity/ui-npm");
        let ready = |d: &PathBuf| {
            d.join("node_modules/ai/package.json").exists()
                && d.join("node_modules/playwright-core/package.json").exists()
                && d.join("node_modules/@ag-ui/core/package.json").exists()
                && std::path::Path::new("/usr/bin/chromium").exists()
        };
        if !ready(&dir) {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/install-tools.sh");
            let out = Command::new("bash")
                .arg(script)
                .output()
                .map_err(|e| format!("cannot run {script}: {e}"))?;
            if !out.status.success() || !ready(&dir) {
                return Err(format!(
                    "{script} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(dir)
    });
    match dir {
        Ok(dir) => Some(dir.clone()),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("the verity-ui test tools are missing: {e}")
        }
        Err(e) => {
            eprintln!(
                "\n==================== SKIPPED ====================\n\
                 the verity-ui test tools (npm `ai`, `@ag-ui/core`, `playwright-core`, chromium) are missing:\n{e}\n\
                 =================================================\n"
            );
            None
        }
    }
}

/// Run a Node script (from tests/it/js) with the npm tools on NODE_PATH, `stdin` piped
/// in; its stdout, or a panic with its stderr.
pub fn run_node(npm: &std::path::Path, script: &str, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let path = format!("{}/tests/it/js/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("node")
        .arg(&path)
        .args(args)
        .env("NODE_PATH", npm.join("node_modules"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The golden `invalid_args` scenario's model: get_weather with a number for the city
/// and an unknown get_forecast in one response; after their retries, an apology.
pub fn golden_invalid_args_agent() -> Agent<(), String> {
    let model = FunctionModel::new_stream(|messages: Vec<ModelMessage>, _| {
        let chunk = if messages.len() > 1 {
            StreamChunk::Text("Sorry, I could not check.".into())
        } else {
            let call = |index, name: &str, args: &str, id: &str| DeltaToolCall {
                index,
                name: Some(name.into()),
                json_args: Some(args.into()),
                tool_call_id: Some(id.into()),
            };
            StreamChunk::ToolCalls(vec![
                call(0, "get_weather", "{\"city\": 3}", "call_1"),
                call(1, "get_forecast", "{}", "call_2"),
            ])
        };
        stream::iter([Ok(chunk)])
    });
    Agent::builder(model).tool(weather_tool()).build()
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct FilePath {
    pub path: String,
}

/// The golden `approval` scenario's agent: a delete_file call that needs approval; once
/// it has a result, "Done: " and the result. Counts the tool's runs.
pub fn golden_approval_agent(runs: Arc<AtomicUsize>) -> Agent<(), Deferrable<String>> {
    let model = FunctionModel::new_stream(|messages: Vec<ModelMessage>, _| {
        let chunk = match last_tool_returns(&messages).first() {
            Some(ret) => StreamChunk::Text(format!("Done: {}", ret.model_response_str())),
            None => StreamChunk::ToolCalls(vec![DeltaToolCall {
                index: 0,
                name: Some("delete_file".into()),
                json_args: Some("{\"path\": \"notes.txt\"}".into()),
                tool_call_id: Some("call_1".into()),
            }]),
        };
        stream::iter([Ok(chunk)])
    });
    Agent::builder(model)
        .tool(
            Tool::new("delete_file", "Delete a file.", move |_ctx, a: FilePath| {
                runs.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, ToolError>(format!("deleted {}", a.path)) }
            })
            .with_requires_approval(true),
        )
        .deferrable()
        .build()
}
