//! A web chat with an agent: the page streams the answers, the conversation is kept in
//! SQLite and shown again on reload (PydanticAI's `chat_app` example).
//!
//! ```text
//! cargo run -p verity-ui --example chat_app            # then open http://127.0.0.1:8000
//! ```
//!
//! The model: by default a real local model with no key and no network (SmolLM2-135M
//! behind llama.cpp, installed and started by `scripts/local-model`; Python 3 needed).
//! `--scripted` (or `VERITY_MODEL=scripted`) uses an offline stand-in that streams its
//! answers word by word and calls the weather tool when asked about the weather;
//! `VERITY_MODEL=openai:gpt-4o` (any model string) a real provider.
//!
//! `--port N` (or `PORT`) picks the port (default 8000); `VERITY_CHAT_DB` the SQLite file
//! (default `chat_app.sqlite3` in the system's temporary folder).

use std::time::Duration;

use futures::StreamExt;
use verity::messages::{ModelMessage, ModelRequestPart};
use verity::models::function::{DeltaToolCall, StreamChunk};
use verity::prelude::*;
use verity_ui::chat_app::{ChatStore, chat_app};

/// Today's weather in a city (made up).
///
/// # Arguments
/// * `city` - The city.
#[tool]
async fn get_weather(city: String) -> Result<String, ToolError> {
    let sky = ["sunny", "cloudy", "rainy", "windy"];
    let pick = city.bytes().map(usize::from).sum::<usize>() % sky.len();
    Ok(format!(
        "{} and {}°C in {city}",
        sky.get(pick).unwrap_or(&"sunny"),
        12 + pick * 3
    ))
}

/// An offline stand-in for an LLM: asked about the weather, it calls `get_weather`
/// and reports the result; otherwise it answers about the prompt, word by word.
fn scripted_model() -> FunctionModel {
    FunctionModel::new_stream(|messages: Vec<ModelMessage>, _| {
        let last = messages.last().and_then(|m| m.as_request());
        let returned = last.and_then(|r| {
            r.parts.iter().find_map(|p| match p {
                ModelRequestPart::ToolReturn(t) => Some(t.model_response_str()),
                _ => None,
            })
        });
        let prompt = verity::messages::last_user_prompt(&messages).unwrap_or_default();
        let chunks: Vec<StreamChunk> = match returned {
            Some(weather) => words(&format!("The weather: {weather}.")),
            None if prompt.to_lowercase().contains("weather") => {
                let city = prompt
                    .split_whitespace()
                    .last()
                    .unwrap_or("Paris")
                    .trim_matches(|c: char| !c.is_alphanumeric());
                let mut chunks = words("Let me check the weather.");
                chunks.push(StreamChunk::ToolCalls(vec![DeltaToolCall {
                    index: 0,
                    name: Some("get_weather".into()),
                    json_args: Some(serde_json::json!({ "city": city }).to_string()),
                    tool_call_id: None,
                }]));
                chunks
            }
            None => words(&format!(
                "You said \u{201c}{prompt}\u{201d}. I am a scripted model: ask me about the weather in a city."
            )),
        };
        // a little delay between pieces, so the page shows the answer streaming
        futures::stream::iter(chunks).then(|chunk| async move {
            tokio::time::sleep(Duration::from_millis(40)).await;
            Ok(chunk)
        })
    })
    .with_name("scripted")
}

fn words(text: &str) -> Vec<StreamChunk> {
    text.split_inclusive(' ')
        .map(|w| StreamChunk::Text(w.to_owned()))
        .collect()
}

fn model(scripted: bool) -> verity::Result<verity::ModelRef> {
    match std::env::var("VERITY_MODEL") {
        _ if scripted => Ok(scripted_model().into_model()),
        Ok(name) if name == "scripted" => Ok(scripted_model().into_model()),
        Ok(name) if !name.is_empty() => infer_model(&name),
        _ => {
            let model = verity::models::local::model().map_err(|e| {
                verity::Error::User(format!("{e}; use --scripted, or set VERITY_MODEL"))
            })?;
            Ok(model.into_model())
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scripted = args.iter().any(|a| a == "--scripted");
    let port: u16 = match args.iter().position(|a| a == "--port") {
        Some(i) => args.get(i + 1).ok_or("--port needs a number")?.parse()?,
        None => std::env::var("PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(8000),
    };
    let db = std::env::var_os("VERITY_CHAT_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("chat_app.sqlite3"));

    let model = model(scripted)?;
    println!("model:    {}", model.model_name());
    let agent = Agent::builder(model)
        .instructions("You are a helpful assistant. Answer briefly.")
        .tool(GetWeather)
        .settings(ModelSettings::new().max_tokens(200))
        .build();
    let app = chat_app(agent, ChatStore::open(&db)?);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("history:  {}", db.display());
    println!("chat at   http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
