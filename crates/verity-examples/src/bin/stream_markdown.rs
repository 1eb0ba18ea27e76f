//! PydanticAI's stream_markdown example: an answer in Markdown, rendered in the
//! terminal while it streams — each update draws the text received so far again
//! (termimad), so headings, lists, emphasis and code look right as soon as they are
//! complete. When stdout is not a terminal, the final rendering is printed.
//!
//! ```text
//! cargo run -p verity-examples --bin stream_markdown
//! ```
//!
//! By default it runs on the local model (SmolLM2-135M, `scripts/local-model`), falling
//! back to a scripted streaming model when that cannot start. `VERITY_MODEL` picks
//! another model (`openai:gpt-4o`, ..., or `scripted`).

use std::time::Duration;

use futures::StreamExt;
use verity::models::function::StreamChunk;
use verity::prelude::*;
use verity_examples::markdown::LiveMarkdown;
use verity_examples::support::{Choice, choose_model};

const PROMPT: &str = "Show me a short example of using serde in Rust.";

const SCRIPTED_ANSWER: &str = "## Serde in a nutshell\n\n\
**Serde** turns Rust values into formats such as JSON, and back:\n\n\
- derive `Serialize` and `Deserialize`\n\
- call `serde_json::to_string` or `from_str`\n\n\
```rust\n\
#[derive(Serialize, Deserialize)]\n\
struct Point { x: i32, y: i32 }\n\
```\n\n\
That is *all* it takes.\n";

/// A model streaming [`SCRIPTED_ANSWER`] a few characters at a time.
fn scripted_model() -> FunctionModel {
    FunctionModel::new_stream(|_, _| {
        let chars: Vec<char> = SCRIPTED_ANSWER.chars().collect();
        let pieces: Vec<String> = chars.chunks(7).map(|c| c.iter().collect()).collect();
        futures::stream::iter(pieces).then(|piece| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(StreamChunk::Text(piece))
        })
    })
    .with_name("scripted-markdown")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let choice = choose_model(true)?;
    eprintln!("model: {}\nasking: {PROMPT}", choice.describe());
    let (model, settings) = match choice {
        Choice::Named(m) => (m, ModelSettings::new()),
        // the small local model rambles: keep its answer short
        Choice::Local(m) => (m, ModelSettings::new().max_tokens(300).temperature(0.2)),
        Choice::Scripted => (scripted_model().into_model(), ModelSettings::new()),
    };
    let agent = Agent::builder(model)
        .instructions("Answer in Markdown.")
        .settings(settings)
        .build();
    let mut run = agent.run(PROMPT).stream();
    let mut view = LiveMarkdown::<std::io::Stdout>::stdout();
    let mut last = String::new();
    {
        let mut texts = run.stream_text();
        while let Some(text) = texts.next().await {
            last = text?;
            view.update(&last)?;
        }
    }
    view.finish(&last)?;
    if let Some(usage) = run.usage() {
        eprintln!("usage: {usage:?}");
    }
    Ok(())
}
