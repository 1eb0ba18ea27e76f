//! `search`: an agent that answers from the docs through a `retrieve` tool.

use std::sync::Arc;

use verity::prelude::*;

use crate::embed::Embedder;
use crate::record::ScoredRecord;
use crate::store::VectorStore;

/// What the `retrieve` tool searches: a store and the embedder its records were made
/// with.
#[derive(Clone)]
pub struct RagDeps {
    /// The records.
    pub store: Arc<dyn VectorStore>,
    /// Embeds the query (the same model the records were embedded with).
    pub embedder: Arc<dyn Embedder>,
    /// How many chunks a retrieval returns (5 by default).
    pub top_k: usize,
}

impl std::fmt::Debug for RagDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RagDeps")
            .field("embedder", &self.embedder.name())
            .field("top_k", &self.top_k)
            .finish_non_exhaustive()
    }
}

impl RagDeps {
    /// Deps searching `store` with queries embedded by `embedder`, top 5.
    pub fn new(store: Arc<dyn VectorStore>, embedder: Arc<dyn Embedder>) -> Self {
        RagDeps {
            store,
            embedder,
            top_k: 5,
        }
    }

    /// The `top_k` chunks nearest to `query`.
    pub async fn retrieve(&self, query: &str) -> crate::Result<Vec<ScoredRecord>> {
        let texts = [query.to_owned()];
        let mut vectors = self.embedder.embed(&texts).await?;
        let Some(vector) = vectors.pop() else {
            return Err(crate::Error::CountMismatch {
                expected: 1,
                got: 0,
            });
        };
        Ok(self.store.search(&vector, self.top_k).await?)
    }
}

/// The `retrieve` tool's arguments.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct RetrieveArgs {
    /// What to look for in the documentation, in a few words.
    pub query: String,
}

/// The chunks as the model sees them: title, URL, content.
pub fn format_chunks(chunks: &[ScoredRecord]) -> String {
    let mut out = String::new();
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n---\n\n");
        }
        out.push_str(&format!(
            "# {}\nURL: {}\n\n{}",
            c.record.title, c.record.url, c.record.content
        ));
    }
    out
}

/// The `retrieve` tool: a query in, the top chunks with their URLs out.
pub fn retrieve_tool() -> Tool<RagDeps> {
    Tool::new(
        "retrieve",
        "Retrieve documentation sections relevant to a query, each with its URL.",
        |ctx: RunContext<RagDeps>, args: RetrieveArgs| async move {
            let chunks = ctx
                .deps()
                .retrieve(&args.query)
                .await
                .map_err(|e| ToolError::Failed(Box::new(e)))?;
            Ok::<_, ToolError>(format_chunks(&chunks))
        },
    )
}

/// The instructions of the docs agent.
pub const INSTRUCTIONS: &str = "You answer questions about the documentation. \
Call the `retrieve` tool with a short query first, then answer from what it returns, \
briefly, and cite the URLs of the sections you used. If the documentation does not \
answer the question, say so.";

/// The docs agent: [`INSTRUCTIONS`] and the `retrieve` tool, on `model`.
pub fn rag_agent(model: impl IntoModel) -> Agent<RagDeps, String> {
    Agent::builder(model)
        .deps_type::<RagDeps>()
        .instructions(INSTRUCTIONS)
        .tool(retrieve_tool())
        .build()
}
