//! PydanticAI's stream_whales example: a list of structured records (whale species)
//! streamed from the model and drawn as a table that fills in while it arrives. Each
//! partial output is a `Vec<Whale>` validated from the JSON received so far
//! (`StreamedRun::stream_output`); fields not complete yet show as `…`.
//!
//! ```text
//! cargo run -p verity-examples --bin stream_whales
//! ```
//!
//! Offline by default: a scripted model streams five whales a few characters at a time.
//! `VERITY_MODEL` runs it on a real model (`openai:gpt-4o`, ...). When stdout is not a
//! terminal, only the final table is printed (and the number of partial tables drawn
//! goes to stderr).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use comfy_table::{CellAlignment, ContentArrangement, Table};
use futures::StreamExt;
use serde_json::json;
use verity::models::function::{DeltaToolCall, StreamChunk};
use verity::prelude::*;
use verity_examples::support::{Choice, choose_model};

/// A whale species. Only the name is required, so a record is shown as soon as its
/// name has arrived and fills in field by field.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Whale {
    /// The species' common name.
    name: String,
    /// Average length of an adult whale in meters.
    #[serde(default)]
    length: Option<f64>,
    /// Average weight of an adult whale in kilograms.
    #[serde(default)]
    #[schemars(range(min = 50))]
    weight: Option<f64>,
    /// The ocean it lives in.
    #[serde(default)]
    ocean: Option<String>,
    /// Short description.
    #[serde(default)]
    description: Option<String>,
}

fn whale_table(whales: &[Whale], width: u16) -> Table {
    let mut table = Table::new();
    table
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header([
            "ID",
            "Name",
            "Avg. Length (m)",
            "Avg. Weight (kg)",
            "Ocean",
            "Description",
        ]);
    let pending = || "…".to_owned();
    for (id, whale) in whales.iter().enumerate() {
        table.add_row([
            (id + 1).to_string(),
            whale.name.clone(),
            whale.length.map_or_else(pending, |l| format!("{l:.0}")),
            whale.weight.map_or_else(pending, |w| format!("{w:.0}")),
            whale.ocean.clone().unwrap_or_else(pending),
            whale.description.clone().unwrap_or_else(pending),
        ]);
    }
    for column in [0, 2, 3] {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

fn scripted_whales() -> serde_json::Value {
    json!([
        {"name": "Blue whale", "length": 25.0, "weight": 140000.0, "ocean": "All major oceans",
         "description": "The largest animal known to have ever lived."},
        {"name": "Humpback whale", "length": 14.0, "weight": 30000.0, "ocean": "All major oceans",
         "description": "Known for its long songs and acrobatic breaches."},
        {"name": "Sperm whale", "length": 16.0, "weight": 41000.0, "ocean": "Deep waters worldwide",
         "description": "The largest toothed whale, a deep diver hunting squid."},
        {"name": "Narwhal", "length": 4.5, "weight": 1400.0, "ocean": "Arctic Ocean",
         "description": "A small whale whose males carry a long spiral tusk."},
        {"name": "Bowhead whale", "length": 18.0, "weight": 75000.0, "ocean": "Arctic Ocean",
         "description": "Lives over 200 years and breaks sea ice with its head."}
    ])
}

/// A model streaming five whales as the output tool's arguments, a few characters at
/// a time.
fn scripted_model() -> FunctionModel {
    FunctionModel::new_stream(|_, info| {
        let tool = info
            .output_tools
            .first()
            .map_or_else(|| "final_result".to_owned(), |t| t.name.clone());
        let args = json!({ "response": scripted_whales() }).to_string();
        let chars: Vec<char> = args.chars().collect();
        let pieces: Vec<String> = chars.chunks(12).map(|c| c.iter().collect()).collect();
        futures::stream::iter(pieces.into_iter().enumerate()).then(move |(i, piece)| {
            let name = (i == 0).then(|| tool.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(StreamChunk::ToolCalls(vec![DeltaToolCall {
                    index: 0,
                    name,
                    json_args: Some(piece),
                    tool_call_id: None,
                }]))
            }
        })
    })
    .with_name("scripted-whales")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let choice = choose_model(false)?;
    eprintln!("model: {}", choice.describe());
    let model = match choice {
        Choice::Named(m) | Choice::Local(m) => m,
        Choice::Scripted => scripted_model().into_model(),
    };
    let agent = Agent::builder(model).output::<Vec<Whale>>().build();
    let live = std::io::stdout().is_terminal();
    let width = if live {
        // a terminal that reports no usable width gets the default
        comfy_table::Table::new()
            .width()
            .filter(|w| *w >= 40)
            .unwrap_or(120)
            .min(120)
    } else {
        120
    };
    let mut out = std::io::stdout();
    let mut run = agent
        .run("Generate me details of 5 species of Whale.")
        .stream();
    let mut shown_rows = 0usize;
    let mut frames = 0usize;
    let mut last = Vec::new();
    {
        let mut outputs = run.stream_output();
        while let Some(whales) = outputs.next().await {
            let whales = whales?;
            frames += 1;
            if live {
                let drawn = format!("{}\n", whale_table(&whales, width));
                if shown_rows > 0 {
                    // back to the table's first row, then clear to the end of the screen
                    write!(out, "\x1b[{shown_rows}A\r\x1b[J")?;
                }
                write!(out, "{drawn}")?;
                out.flush()?;
                shown_rows = drawn.matches('\n').count();
            }
            last = whales;
        }
    }
    if !live {
        writeln!(out, "{}", whale_table(&last, width))?;
    }
    eprintln!("partial tables: {frames}");
    if let Some(usage) = run.usage() {
        eprintln!("usage: {usage:?}");
    }
    Ok(())
}
