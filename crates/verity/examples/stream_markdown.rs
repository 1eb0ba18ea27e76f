//! Stream a Markdown answer to the terminal as it arrives.
//!
//! Offline by default: a streaming `FunctionModel` plays the model, sending the answer
//! a few characters at a time. Set `VERITY_MODEL` to a model string to use that model.
//!
//! ```text
//! cargo run -p verity --example stream_markdown
//! ```

use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use verity::models::function::StreamChunk;
use verity::prelude::*;

const ANSWER: &str = "## The 2012 Summer Olympics\n\n\
- **Host city:** London, United Kingdom\n\
- **Dates:** 27 July – 12 August 2012\n\
- **Nations:** 204\n\n\
London became the first city to host the modern Games three times.\n";

fn streaming_model() -> FunctionModel {
    FunctionModel::new_stream(|_, _| {
        let pieces: Vec<String> = ANSWER
            .chars()
            .collect::<Vec<_>>()
            .chunks(6)
            .map(|c| c.iter().collect())
            .collect();
        futures::stream::iter(pieces).then(|piece| async move {
            tokio::time::sleep(Duration::from_millis(15)).await;
            Ok(StreamChunk::Text(piece))
        })
    })
    .with_name("markdown")
}

#[tokio::main]
async fn main() -> verity::Result<()> {
    let model = match std::env::var("VERITY_MODEL") {
        Ok(name) if !name.is_empty() => infer_model(&name)?,
        _ => streaming_model().into_model(),
    };
    let agent = Agent::builder(model)
        .instructions("Answer in Markdown.")
        .build();
    let mut run = agent.run("Tell me about the 2012 Olympics.").stream();
    let mut deltas = run.stream_text_deltas();
    let mut stdout = std::io::stdout();
    while let Some(delta) = deltas.next().await {
        let _ = write!(stdout, "{}", delta?);
        let _ = stdout.flush();
    }
    if let Some(usage) = run.usage() {
        println!("\nusage: {usage:?}");
    }
    Ok(())
}
