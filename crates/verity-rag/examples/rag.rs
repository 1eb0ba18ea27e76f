//! Docs RAG: build a store from a folder of Markdown pages, then ask an agent that
//! retrieves from it and cites the URLs it used.
//!
//! ```text
//! cargo run -p verity-rag --features local --example rag -- build path/to/docs
//! cargo run -p verity-rag --features local --example rag -- search "How do I test an agent?"
//! ```
//!
//! Options: `--db PATH` (the SQLite store; by default `verity/rag/docs.sqlite` in the
//! user's cache folder), `--base-url URL` (where the pages are published; by default
//! `https://ai.pydantic.dev`, which suits PydanticAI's docs).
//!
//! Everything runs offline by default: the embeddings come from all-MiniLM-L6-v2 in the
//! process (its weights installed by `tests/install-model.sh`), the answer from
//! SmolLM2-135M behind llama.cpp's server (`scripts/local-model`). That model is too
//! small to call tools, so for it the chunks are retrieved up front and put into the
//! prompt. `VERITY_MODEL` picks another model: a model string such as `openai:gpt-5`
//! (which calls the `retrieve` tool itself), or `scripted` for an offline stand-in that
//! calls `retrieve` and answers with the URLs it got. `VERITY_EMBEDDINGS_MODEL` (with
//! `VERITY_EMBEDDINGS_BASE_URL` and `OPENAI_API_KEY`) uses an OpenAI-compatible
//! embeddings endpoint instead of the local model; build and search must use the same.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use verity::messages::{ModelRequestPart, ModelResponsePart, ToolCallArgs, ToolCallPart};
use verity::prelude::*;
use verity_rag::agent::format_chunks;
use verity_rag::chunker::ChunkOptions;
use verity_rag::{Embedder, LocalEmbedder, OpenAIEmbedder, RagDeps, SqliteStore, rag_agent};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// What the command line asked for.
struct Args {
    command: String,
    positional: Option<String>,
    db: PathBuf,
    base_url: String,
}

fn parse_args(args: &[String]) -> Result<Args, AnyError> {
    let usage = "usage: rag build DOCS_DIR | rag search \"question\"  [--db PATH] [--base-url URL]";
    let mut it = args.iter();
    let command = it.next().ok_or(usage)?.clone();
    let mut positional = None;
    let mut db = None;
    let mut base_url = "https://ai.pydantic.dev".to_owned();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--db" => db = Some(PathBuf::from(it.next().ok_or(usage)?)),
            "--base-url" => base_url = it.next().ok_or(usage)?.clone(),
            _ if positional.is_none() => positional = Some(a.clone()),
            _ => return Err(usage.into()),
        }
    }
    let db = match db {
        Some(db) => db,
        None => cache_dir()
            .ok_or("no cache folder: pass --db")?
            .join("docs.sqlite"),
    };
    Ok(Args {
        command,
        positional,
        db,
        base_url,
    })
}

fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("verity/rag"))
}

/// The local embedder, installing its weights first when they are missing.
fn local_embedder() -> Result<LocalEmbedder, AnyError> {
    let dir = LocalEmbedder::default_dir().ok_or("no cache folder for the model")?;
    if !dir.join("model.safetensors").exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/install-model.sh");
        let status = std::process::Command::new("bash").arg(script).status()?;
        if !status.success() {
            return Err("tests/install-model.sh failed".into());
        }
    }
    Ok(LocalEmbedder::load(dir)?)
}

fn embedder() -> Result<Arc<dyn Embedder>, AnyError> {
    match std::env::var("VERITY_EMBEDDINGS_MODEL") {
        Ok(model) if !model.is_empty() => {
            let mut b = OpenAIEmbedder::builder()
                .model(model)
                .api_key_from_env("OPENAI_API_KEY");
            if let Ok(url) = std::env::var("VERITY_EMBEDDINGS_BASE_URL") {
                b = b.base_url(url);
            }
            Ok(Arc::new(b.build()?))
        }
        _ => Ok(Arc::new(local_embedder()?)),
    }
}

/// A deterministic stand-in for an LLM: retrieves with the question, then answers
/// with the titles and URLs it got.
fn scripted_model() -> FunctionModel {
    FunctionModel::new(|messages, _info| {
        let returned = messages.last().and_then(|m| m.as_request()).and_then(|r| {
            r.parts.iter().find_map(|p| match p {
                ModelRequestPart::ToolReturn(t) if t.tool_name == "retrieve" => {
                    t.content.as_str().map(str::to_owned)
                }
                _ => None,
            })
        });
        match returned {
            None => {
                let question = messages
                    .iter()
                    .filter_map(|m| m.as_request())
                    .flat_map(|r| &r.parts)
                    .find_map(|p| match p {
                        ModelRequestPart::UserPrompt(u) => Some(u.content.text()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let args = ToolCallArgs::from(json!({ "query": question }));
                ModelResponse::new(vec![ModelResponsePart::ToolCall(ToolCallPart::new(
                    "retrieve", args, "",
                ))])
            }
            Some(chunks) => {
                let mut urls: Vec<&str> = Vec::new();
                for url in chunks.lines().filter_map(|l| l.strip_prefix("URL: ")) {
                    if !urls.contains(&url) {
                        urls.push(url);
                    }
                }
                let title = chunks
                    .lines()
                    .find_map(|l| l.strip_prefix("# "))
                    .unwrap_or("nothing");
                ModelResponse::text(format!(
                    "The closest section is \"{title}\". Sources: {}",
                    urls.join(" ")
                ))
            }
        }
    })
    .with_name("scripted")
}

/// The local model, started if needed.
fn local_model() -> Result<verity::models::openai::OpenAIChatModel, AnyError> {
    verity::models::local::model()
        .map_err(|e| format!("{e}; set VERITY_MODEL, e.g. VERITY_MODEL=scripted").into())
}

/// Runs the command line `args` (without the program name); `model` is what
/// `VERITY_MODEL` says. Returns what it printed.
pub async fn run(args: &[String], model: Option<&str>) -> Result<String, AnyError> {
    let args = parse_args(args)?;
    if let Some(parent) = args.db.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let embedder = embedder()?;
    let store = Arc::new(SqliteStore::open(&args.db)?);
    match args.command.as_str() {
        "build" => {
            let dir = args.positional.ok_or("build needs the docs folder")?;
            let report = verity_rag::build(
                Path::new(&dir),
                &args.base_url,
                &ChunkOptions::default(),
                embedder.as_ref(),
                store.as_ref(),
            )
            .await?;
            Ok(format!(
                "built {}: {} pages, {} chunks, embedded by {}",
                args.db.display(),
                report.pages,
                report.records,
                embedder.name()
            ))
        }
        "search" => {
            let question = args.positional.ok_or("search needs a question")?;
            let deps = RagDeps::new(store, embedder);
            let settings = ModelSettings::new().temperature(0.0).max_tokens(400);
            let result = match model {
                Some("scripted") => {
                    rag_agent(scripted_model())
                        .run(question)
                        .deps(deps)
                        .settings(settings)
                        .await?
                }
                Some(name) if !name.is_empty() => {
                    rag_agent(infer_model(name)?)
                        .run(question)
                        .deps(deps)
                        .settings(settings)
                        .await?
                }
                _ => {
                    // SmolLM2-135M cannot call tools: retrieve first, answer from the prompt
                    let model = local_model()?;
                    let chunks = deps.retrieve(&question).await?;
                    let agent = Agent::builder(model)
                        .instructions(verity_rag::agent::INSTRUCTIONS)
                        .build();
                    let result = agent
                        .run(format!(
                            "Documentation:\n\n{}\n\nQuestion: {question}",
                            format_chunks(&chunks)
                        ))
                        .settings(settings)
                        .await?;
                    // a model this small seldom cites: the sources are listed for it
                    let mut urls: Vec<&str> = Vec::new();
                    for c in &chunks {
                        if !urls.contains(&c.record.url.as_str()) {
                            urls.push(&c.record.url);
                        }
                    }
                    return Ok(format!(
                        "answer: {}\nsources: {}",
                        result.output,
                        urls.join(" ")
                    ));
                }
            };
            Ok(format!("answer: {}", result.output))
        }
        other => Err(format!("unknown command {other:?}: build or search").into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = std::env::var("VERITY_MODEL").ok();
    println!("{}", run(&args, model.as_deref()).await?);
    Ok(())
}
