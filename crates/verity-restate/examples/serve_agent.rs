//! Serve a note-taking agent durably on Restate, as the virtual object `notes` (one
//! object per conversation).
//!
//! `VERITY_MODEL` is the model string (default `openai:gpt-4o-mini`, which needs
//! `OPENAI_API_KEY`; `ollama:llama3.2` runs locally), `PORT` the port to serve on
//! (default 9080). Then (see the README):
//!
//! ```text
//! restate-server                                   # the Restate server, ingress on 8080
//! cargo run -p verity-restate --example serve_agent
//! curl localhost:9070/deployments -H 'content-type: application/json' \
//!      -d '{"uri": "http://localhost:9080"}'        # register the service
//! curl localhost:8080/notes/my-conversation/run -H 'content-type: application/json' \
//!      -d '{"prompt": "Note that the demo is on Friday."}'
//! ```

use std::sync::{Arc, Mutex};

use verity::prelude::*;
use verity::toolsets::FunctionToolset;
use verity_restate::{DurableAgent, idempotency_key};

/// What the tools act on: lives in the service process, never serialized.
#[derive(Default)]
struct Notebook {
    notes: Mutex<Vec<String>>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Note {
    /// The note's text.
    text: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Nothing {}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::var("VERITY_MODEL").unwrap_or_else(|_| "openai:gpt-4o-mini".into());
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9080);

    let tools = FunctionToolset::<Arc<Notebook>>::new("notes")
        // journaled: runs once per run, even across a crash of this process
        .tool(Tool::new(
            "save_note",
            "Save a note.",
            |ctx: RunContext<Arc<Notebook>>, note: Note| async move {
                // the same key on every attempt of this call: a real store would
                // deduplicate on it
                let key = idempotency_key().unwrap_or_default();
                let mut notes = ctx
                    .deps()
                    .notes
                    .lock()
                    .map_err(|_| ToolError::failed("poisoned"))?;
                notes.push(note.text);
                Ok::<_, ToolError>(format!("saved ({key})"))
            },
        ))
        // pure: not journaled
        .tool(Tool::new(
            "list_notes",
            "List the saved notes.",
            |ctx: RunContext<Arc<Notebook>>, _: Nothing| async move {
                let notes = ctx
                    .deps()
                    .notes
                    .lock()
                    .map_err(|_| ToolError::failed("poisoned"))?;
                Ok::<_, ToolError>(notes.join("\n"))
            },
        ))
        // needs a person's approval: the run suspends until `decide` is called
        .tool(
            Tool::new(
                "clear_notes",
                "Delete every note.",
                |ctx: RunContext<Arc<Notebook>>, _: Nothing| async move {
                    let mut notes = ctx
                        .deps()
                        .notes
                        .lock()
                        .map_err(|_| ToolError::failed("poisoned"))?;
                    notes.clear();
                    Ok::<_, ToolError>("cleared")
                },
            )
            .with_requires_approval(true),
        );

    let agent = Agent::builder(infer_model(&model)?)
        .deps_type::<Arc<Notebook>>()
        .instructions("You keep the user's notes with your tools.")
        .deferrable()
        .build();
    let notebook = Arc::new(Notebook::default());
    let durable = DurableAgent::with_deps("notes", agent, move || Arc::clone(&notebook))
        .toolset(tools)
        .pure_tool("list_notes")
        .with_approvals();

    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    println!("serving the `notes` agent on port {port}");
    verity_restate::serve(listener, [durable.into_service()?]).await;
    Ok(())
}
