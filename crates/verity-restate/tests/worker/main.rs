//! The service process of verity-restate's integration tests: durable agents talking to
//! the tests' mock model server, with tools that write each call they run to a log file
//! (so that the tests count them). Started, killed and restarted by the tests.
//!
//! `verity-restate-test-worker --port N --model-url URL --tool-log FILE --worker-id ID
//! [--prefix P] [--pause-marker FILE]`: serves `P_assistant` and `P_broken`: with a pause marker, the first model request that follows a
//! tool return creates the marker and then never finishes, so that a test can kill the
//! process between a journaled tool call and the next model request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use verity::messages::{ModelMessage, ModelResponse, last_tool_returns};
use verity::model::{Model, ModelProfile, ModelRequestParameters};
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::openai::OpenAIProvider;
use verity::toolsets::FunctionToolset;
use verity_restate::{DurableAgent, idempotency_key};

struct Args {
    port: u16,
    model_url: String,
    tool_log: PathBuf,
    worker_id: String,
    pause_marker: Option<PathBuf>,
    prefix: String,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut port = None;
    let mut model_url = None;
    let mut tool_log = None;
    let mut worker_id = "worker".to_owned();
    let mut pause_marker = None;
    let mut prefix = String::new();
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => port = Some(value.parse().expect("a port")),
            "--model-url" => model_url = Some(value),
            "--tool-log" => tool_log = Some(PathBuf::from(value)),
            "--worker-id" => worker_id = value,
            "--pause-marker" => pause_marker = Some(PathBuf::from(value)),
            "--prefix" => prefix = value,
            other => panic!("unknown flag {other}"),
        }
    }
    Args {
        port: port.expect("--port"),
        model_url: model_url.expect("--model-url"),
        tool_log: tool_log.expect("--tool-log"),
        worker_id,
        pause_marker,
        prefix,
    }
}

/// A model that stops (forever) before the first request that follows a tool return,
/// once: the marker file says it has stopped before.
struct PausingModel {
    inner: OpenAIChatModel,
    marker: Option<PathBuf>,
}

impl Model for PausingModel {
    async fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> verity::Result<ModelResponse> {
        if let Some(marker) = &self.marker
            && !last_tool_returns(messages).is_empty()
            && !marker.exists()
        {
            std::fs::write(marker, "paused").unwrap();
            std::future::pending::<()>().await;
        }
        self.inner.request(messages, settings, params).await
    }
    fn model_name(&self) -> &str {
        self.inner.model_name()
    }
    fn system(&self) -> &str {
        self.inner.system()
    }
    fn profile(&self) -> &ModelProfile {
        self.inner.profile()
    }
}

/// An output that deserializes but cannot be serialized.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Unserializable {
    #[allow(dead_code)]
    x: i64,
}

impl serde::Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "Unserializable refuses to be serialized",
        ))
    }
}

fn log(path: &PathBuf, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Note {
    note: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Text {
    text: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct FilePath {
    path: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Nothing {}

#[tokio::main]
async fn main() {
    let args = args();
    let provider = OpenAIProvider::builder()
        .base_url(format!("{}/v1", args.model_url))
        .api_key("test-key")
        .header("x-worker", args.worker_id.clone())
        .max_retries(0)
        .build()
        .unwrap();
    let model = PausingModel {
        inner: OpenAIChatModel::new("mock", provider),
        marker: args.pause_marker.clone(),
    };
    let model: verity::ModelRef = Arc::new(model);

    let tool_log = Arc::new(args.tool_log.clone());
    let worker = Arc::new(args.worker_id.clone());
    let (l1, w1) = (Arc::clone(&tool_log), Arc::clone(&worker));
    let (l2, w2) = (Arc::clone(&tool_log), Arc::clone(&worker));
    let l3 = Arc::clone(&tool_log);
    // `record` is the agent's own tool (journaled through `split_tools`), the
    // others come in a toolset
    let record = Tool::new("record", "Record a note.", move |_ctx, a: Note| {
        let (log_path, worker) = (Arc::clone(&l1), Arc::clone(&w1));
        async move {
            let note = a.note;
            let key = idempotency_key().unwrap_or_default();
            log(&log_path, &format!("record {note} {worker} {key}"));
            // the metadata shows which process ran the call
            Ok::<_, ToolError>(
                verity::tools::ToolReturn::new(format!("recorded {note} on {worker}"))
                    .with_metadata(serde_json::json!({"worker": worker.as_str()})),
            )
        }
    });
    let tools = FunctionToolset::<()>::new("test")
        .tool(Tool::new(
            "echo",
            "Echo a text.",
            move |_ctx, a: Text| async move { Ok::<_, ToolError>(a.text) },
        ))
        .tool(
            Tool::new("delete_file", "Delete a file.", move |_ctx, a: FilePath| {
                let (log_path, worker) = (Arc::clone(&l2), Arc::clone(&w2));
                async move {
                    let path = a.path;
                    log(&log_path, &format!("delete {path} {worker}"));
                    Ok::<_, ToolError>(format!("deleted {path}"))
                }
            })
            .with_requires_approval(true),
        )
        .tool(Tool::new(
            "explode",
            "Fail for good.",
            move |_ctx, _a: Nothing| {
                let log_path = Arc::clone(&l3);
                async move {
                    log(&log_path, "explode");
                    Err::<String, _>(ToolError::failed("boom: the tool failed for good"))
                }
            },
        ));

    // the toolset is the agent's own too (`AgentBuilder::toolset`): durable runs journal
    // its calls and lists like those of toolsets given to `DurableAgent::toolset`
    let assistant = Agent::builder(Arc::clone(&model))
        .tool(record)
        .toolset(tools)
        .deferrable()
        .build();
    // the model's streamed events, live, next to the tool log
    let event_log = args.tool_log.with_extension("events");
    let assistant = DurableAgent::new(format!("{}_assistant", args.prefix), assistant)
        .on_model_event(move |key, event| log(&event_log, &format!("{key} {event:?}")))
        .pure_tool("echo")
        .with_approvals();
    let broken = Agent::builder(model)
        .output::<Unserializable>()
        .output_mode(OutputMode::Prompted)
        .build();
    let broken = DurableAgent::new(format!("{}_broken", args.prefix), broken);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .unwrap();
    eprintln!("worker {} listening on {}", args.worker_id, args.port);
    verity_restate::serve(
        listener,
        [
            assistant.into_service().unwrap(),
            broken.into_service().unwrap(),
        ],
    )
    .await;
}
