//! The chat app: its HTTP API, and its page in headless Chromium.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use verity::models::function::StreamChunk;
use verity::prelude::*;
use verity_ui::chat_app::{ChatStore, chat_app};

use crate::support::*;

/// A model that streams "The answer is forty-two." word by word, slowly enough for
/// the page to show it growing.
fn slow_agent() -> Agent<(), String> {
    let model = FunctionModel::new_stream(|_, _| {
        futures::stream::iter(
            "The answer is forty-two."
                .split_inclusive(' ')
                .map(str::to_owned),
        )
        .then(|w| async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            Ok(StreamChunk::Text(w))
        })
    });
    Agent::builder(model).build()
}

async fn serve(agent: Agent<(), String>, store: ChatStore) -> String {
    serve_any(agent, store).await
}

async fn serve_any<O: Send + Sync + 'static>(agent: Agent<(), O>, store: ChatStore) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, chat_app(agent, store)).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_api_stores_the_conversation_in_sqlite() {
    let dir = std::env::temp_dir().join(format!("verity-ui-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("chat.sqlite3");
    let _ = std::fs::remove_file(&db);
    let url = serve(tool_agent(), ChatStore::open(&db).unwrap()).await;
    let client = reqwest::Client::new();
    let page = client.get(&url).send().await.unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().await.unwrap().contains("<form id=\"form\">"));
    let stored: Value = client
        .get(format!("{url}/api/chat"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored, json!([]));

    let response = client
        .post(format!("{url}/api/chat"))
        .body(chat_body("Weather in Paris?"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-vercel-ai-ui-message-stream"], "v1");
    let chunks = sse_chunks(&response.text().await.unwrap());
    assert!(chunks.iter().any(|c| c["type"] == "tool-output-available"));

    // the stored conversation, as UI messages, loads back to the stored history exactly
    let stored: Vec<verity_ui::vercel::UiMessage> = client
        .get(format!("{url}/api/chat"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    let history = ChatStore::open(&db).unwrap().messages().unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(verity_ui::vercel::load_messages(&stored).unwrap(), history);

    let bad = client
        .post(format!("{url}/api/chat"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let cleared = client
        .delete(format!("{url}/api/chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert!(ChatStore::open(&db).unwrap().messages().unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct FilePath {
    path: String,
}

fn approval_agent() -> Agent<(), verity::Deferrable<String>> {
    let model = FunctionModel::new(|messages: &[verity::messages::ModelMessage], _| {
        match verity::messages::last_tool_returns(messages).first() {
            None => verity::messages::ModelResponse::tool_call(
                "delete_file",
                json!({"path": "notes.txt"}),
            ),
            Some(ret) => {
                verity::messages::ModelResponse::text(format!("Done: {}", ret.model_response_str()))
            }
        }
    });
    Agent::builder(model)
        .tool(
            Tool::new("delete_file", "Delete a file.", |_ctx, a: FilePath| async move {
                Ok::<_, ToolError>(format!("deleted {}", a.path))
            })
            .with_requires_approval(true),
        )
        .deferrable()
        .build()
}

#[tokio::test]
async fn approvals_round_trip_through_the_stored_conversation() {
    let url = serve_any(approval_agent(), ChatStore::in_memory().unwrap()).await;
    let client = reqwest::Client::new();
    let first = client
        .post(format!("{url}/api/chat"))
        .body(chat_body("Delete notes.txt"))
        .send()
        .await
        .unwrap();
    let chunks = sse_chunks(&first.text().await.unwrap());
    let request = chunks
        .iter()
        .find(|c| c["type"] == "tool-approval-request")
        .expect("an approval request");
    let call_id = request["toolCallId"].as_str().unwrap();
    // the page sends the assistant message back with the approval answered
    let approved = json!({"id": "main", "trigger": "submit-message", "messages": [
        {"id": "u", "role": "user", "parts": [{"type": "text", "text": "Delete notes.txt"}]},
        {"id": "a", "role": "assistant", "parts": [
            {"type": "step-start"},
            {"type": "tool-delete_file", "toolCallId": call_id, "state": "approval-responded",
             "input": {"path": "notes.txt"}, "approval": {"id": call_id, "approved": true}},
        ]},
    ]});
    let second = client
        .post(format!("{url}/api/chat"))
        .body(approved.to_string())
        .send()
        .await
        .unwrap();
    let chunks = sse_chunks(&second.text().await.unwrap());
    assert!(
        chunks
            .iter()
            .any(|c| c["type"] == "tool-output-available" && c["output"] == "deleted notes.txt"),
        "{chunks:#?}"
    );
    let stored: Value = client
        .get(format!("{url}/api/chat"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = &stored.as_array().unwrap().last().unwrap()["parts"];
    assert_eq!(
        last.as_array().unwrap().last().unwrap()["text"],
        "Done: deleted notes.txt"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_streams_the_answer_and_shows_the_history_after_a_reload() {
    let Some(npm) = ui_npm() else { return };
    let url = serve(slow_agent(), ChatStore::in_memory().unwrap()).await;
    let out = tokio::task::spawn_blocking(move || {
        run_node(&npm, "chat_browser.cjs", &[&url, "What is the answer?"], "")
    })
    .await
    .unwrap();
    let out: Value = serde_json::from_str(&out).unwrap();
    let answer = "The answer is forty-two.";
    // the answer appeared piece by piece
    let streamed: Vec<&str> = out["streamed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(streamed.len() >= 3, "{streamed:?}");
    assert!(
        streamed
            .iter()
            .any(|s| !s.is_empty() && answer.starts_with(s) && *s != answer),
        "{streamed:?}"
    );
    assert_eq!(streamed.last(), Some(&answer));
    let expected = json!([
        {"role": "user", "text": "What is the answer?"},
        {"role": "assistant", "text": answer},
    ]);
    assert_eq!(out["before"], expected);
    // after a reload, the page shows the conversation from SQLite
    assert_eq!(out["reloaded"], expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_asks_for_approval_and_runs_the_approved_call() {
    let Some(npm) = ui_npm() else { return };
    let url = serve_any(approval_agent(), ChatStore::in_memory().unwrap()).await;
    let out = tokio::task::spawn_blocking(move || {
        run_node(
            &npm,
            "chat_browser.cjs",
            &[&url, "Delete notes.txt", "approve"],
            "",
        )
    })
    .await
    .unwrap();
    let out: Value = serde_json::from_str(&out).unwrap();
    let before = out["before"].as_array().unwrap();
    assert_eq!(before.len(), 3, "{out}");
    assert!(
        before[1]["text"]
            .as_str()
            .unwrap()
            .contains("approval-responded"),
        "{out}"
    );
    assert!(
        before[2]["text"]
            .as_str()
            .unwrap()
            .contains("deleted notes.txt"),
        "{out}"
    );
    assert!(
        before[2]["text"]
            .as_str()
            .unwrap()
            .ends_with("Done: deleted notes.txt"),
        "{out}"
    );
    // reloaded from SQLite: the user's message, then the whole assistant turn
    let reloaded = out["reloaded"].as_array().unwrap();
    assert_eq!(reloaded.len(), 2, "{out}");
    let turn = reloaded[1]["text"].as_str().unwrap();
    assert!(
        turn.contains("output-available") && turn.ends_with("Done: deleted notes.txt"),
        "{out}"
    );
}
