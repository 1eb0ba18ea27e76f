//! A web chat for an agent (PydanticAI's `chat_app` example, as a router): a page of
//! plain HTML and JavaScript that streams the answers, over the UI message stream
//! protocol, and the conversation kept in SQLite.
//!
//! | route | what it does |
//! |---|---|
//! | `GET /` | the chat page |
//! | `GET /api/chat` | the stored conversation, as UI messages (JSON) |
//! | `POST /api/chat` | a `useChat` request: the agent's answer as a UI message stream |
//! | `DELETE /api/chat` | forget the conversation |
//! | `POST /api/ag-ui` | an AG-UI `RunAgentInput`: the answer as AG-UI events (the history is the request's) |
//!
//! The store, not the request, holds the history: a request's last user message is the
//! new prompt (its approvals, if it ends with an assistant message, the deferred
//! results), and the conversation the run ends with replaces the stored one. Any AI SDK
//! frontend (`useChat` with `api: '/api/chat'`) can use the endpoint too.
//!
//! ```no_run
//! use verity::prelude::*;
//! use verity_ui::chat_app::{ChatStore, chat_app};
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let agent = Agent::builder(TestModel::new()).build();
//! let app = chat_app(agent, ChatStore::open("chat.sqlite3")?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rusqlite::Connection;
use verity::Agent;
use verity::messages::ModelMessage;

use crate::ag_ui::AgUiAdapter;
use crate::vercel::{SdkVersion, VercelAiAdapter, dump_messages};

/// The chat page (plain HTML and JavaScript, no build step).
pub const CHAT_PAGE: &str = include_str!("chat_app.html");

/// Why the conversation store failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatStoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored message could not be read or written.
    #[error("stored message: {0}")]
    Json(#[from] serde_json::Error),
}

/// One conversation kept in SQLite: its messages, in order, as Verity's JSON.
#[derive(Debug, Clone)]
pub struct ChatStore {
    conn: Arc<Mutex<Connection>>,
}

impl ChatStore {
    /// The store in this SQLite file (created when missing).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ChatStoreError> {
        Self::with(Connection::open(path)?)
    }

    /// A store in memory, gone with the process.
    pub fn in_memory() -> Result<Self, ChatStoreError> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(conn: Connection) -> Result<Self, ChatStoreError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, message TEXT NOT NULL);",
        )?;
        Ok(ChatStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // a panic while holding the lock cannot leave SQLite half-written: keep going
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The conversation.
    pub fn messages(&self) -> Result<Vec<ModelMessage>, ChatStoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT message FROM messages ORDER BY seq")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        let mut messages = Vec::new();
        for row in rows {
            messages.push(serde_json::from_str(&row?)?);
        }
        Ok(messages)
    }

    /// Replace the conversation with these messages.
    pub fn replace(&self, messages: &[ModelMessage]) -> Result<(), ChatStoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM messages", [])?;
        for (seq, message) in messages.iter().enumerate() {
            tx.execute(
                "INSERT INTO messages (seq, message) VALUES (?1, ?2)",
                rusqlite::params![seq as i64, serde_json::to_string(message)?],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Forget the conversation.
    pub fn clear(&self) -> Result<(), ChatStoreError> {
        self.conn().execute("DELETE FROM messages", [])?;
        Ok(())
    }
}

fn server_error(e: impl std::fmt::Display) -> Response {
    let body = serde_json::json!({"error": e.to_string()}).to_string();
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The chat app's router for this agent and store (deps from the deps type's
/// `Default`; AI SDK v6 streams, so approvals reach the page).
pub fn chat_app<D, O>(agent: Agent<D, O>, store: ChatStore) -> Router
where
    D: Default + Send + Sync + 'static,
    O: Send + Sync + 'static,
{
    let (post_store, get_store, delete_store) = (store.clone(), store.clone(), store);
    let ag_ui_agent = agent.clone();
    Router::new()
        .route(
            "/",
            get(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    )],
                    CHAT_PAGE,
                )
            }),
        )
        .route(
            "/api/chat",
            get(move || async move {
                match get_store.messages() {
                    Ok(messages) => (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        serde_json::to_string(&dump_messages(&messages)).unwrap_or_default(),
                    )
                        .into_response(),
                    Err(e) => server_error(e),
                }
            })
            .post(move |body: Bytes| async move { answer(&agent, &post_store, &body) })
            .delete(move || async move {
                match delete_store.clear() {
                    Ok(()) => StatusCode::NO_CONTENT.into_response(),
                    Err(e) => server_error(e),
                }
            }),
        )
        .route(
            "/api/ag-ui",
            post(
                move |body: Bytes| async move { AgUiAdapter::new().dispatch(&ag_ui_agent, &body) },
            ),
        )
}

fn answer<D, O>(agent: &Agent<D, O>, store: &ChatStore, body: &[u8]) -> Response
where
    D: Default + Send + Sync + 'static,
    O: Send + Sync + 'static,
{
    let request = match VercelAiAdapter::parse_request(body) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let stored = match store.messages() {
        Ok(stored) => stored,
        Err(e) => return server_error(e),
    };
    // the stored conversation, not the request's, is the history; approvals answer the
    // calls it ends with
    let input = match VercelAiAdapter::run_input_with_history(&request, stored) {
        Ok(input) => input,
        Err(e) => return e.into_response(),
    };
    let adapter = VercelAiAdapter::new().sdk_version(SdkVersion::V6);
    let run = input.request(agent).stream();
    let store = store.clone();
    let chunks = adapter.stream_with(run, move |result| {
        // the stream's last chunks still go out; the next request would see the old
        // conversation, which the page shows on reload
        let _ = store.replace(result.all_messages());
    });
    VercelAiAdapter::response(chunks)
}
