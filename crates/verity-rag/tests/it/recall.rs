//! recall@5 of the local embedder over PydanticAI's documentation: a question counts as
//! found when one of the five chunks retrieved for it comes from a page labelled as
//! answering it.

use verity_rag::{Embedder, SqliteStore, VectorStore};

use crate::support;

/// Questions written for this test, each with the page(s) (paths under the docs
/// folder, without `.md`) that answer it.
const QUESTIONS: &[(&str, &[&str])] = &[
    (
        "How do I pass dependencies such as an HTTP client or an API key to my tools and system prompts?",
        &["dependencies"],
    ),
    (
        "How can I test an agent without calling a real LLM?",
        &["testing"],
    ),
    (
        "How do I configure retries with backoff for HTTP requests to the model provider?",
        &["models/http-request-retries", "retries"],
    ),
    (
        "How do I connect an agent to an MCP server over stdio?",
        &["mcp/client", "capabilities/mcp", "mcp/overview"],
    ),
    (
        "How do I continue a conversation by passing the previous messages to the next run?",
        &["message-history"],
    ),
    (
        "How do I run a local model with Ollama?",
        &["models/ollama"],
    ),
    (
        "How do I install a slim version of pydantic-ai with only the OpenAI dependencies?",
        &["install"],
    ),
    (
        "How do I require a human to approve a tool call before it runs?",
        &["deferred-tools", "capabilities/handle-deferred-tool-calls"],
    ),
    (
        "How do I limit the number of requests or tokens an agent run may use?",
        &["agent"],
    ),
    (
        "How do I make an agent durable with Temporal workflows?",
        &["durable_execution/temporal"],
    ),
    (
        "How do I evaluate an agent against a dataset of cases?",
        &["evals", "evals/quick-start", "evals/core-concepts"],
    ),
    (
        "How do I use an LLM as a judge to score outputs in evals?",
        &["evals/evaluators/llm-judge", "evals/evaluators/built-in"],
    ),
    (
        "How do I send an image or a PDF document to the model as input?",
        &["input"],
    ),
    (
        "Which environment variable holds the Anthropic API key?",
        &["models/anthropic"],
    ),
    (
        "How do I send traces of agent runs to Logfire with OpenTelemetry?",
        &["logfire"],
    ),
    (
        "How can one agent delegate work to another agent?",
        &["multi-agent-applications"],
    ),
    (
        "How do I let the model search the web with a built-in tool?",
        &["native-tools", "capabilities/web-search", "common-tools"],
    ),
    (
        "How do I define a graph with nodes and edges in pydantic-graph?",
        &["graph", "graph/builder", "graph/builder/steps"],
    ),
    (
        "How do I fall back to another model when the first one fails?",
        &["models/overview"],
    ),
    (
        "How do I stream the agent's text output as it is generated?",
        &["agent", "output"],
    ),
];

/// Measured 1.00 (20/20) with all-MiniLM-L6-v2, 256 tokens, the default chunking (1966
/// chunks): see the README. The margin allows for other CPUs' rounding.
const THRESHOLD: f64 = 0.85;

#[tokio::test]
async fn local_embedder_recall_at_5_on_pydantic_ai_docs() {
    let Some(records) = support::docs_records() else {
        return;
    };
    let embedder = support::embedder().unwrap();
    let store = SqliteStore::in_memory().unwrap();
    store.upsert(records).await.unwrap();

    let questions: Vec<String> = QUESTIONS.iter().map(|(q, _)| (*q).to_owned()).collect();
    let vectors = embedder.embed(&questions).await.unwrap();
    let mut hits = 0;
    for ((question, pages), vector) in QUESTIONS.iter().zip(&vectors) {
        let found = store.search(vector, 5).await.unwrap();
        assert_eq!(found.len(), 5);
        let wanted: Vec<String> = pages
            .iter()
            .map(|p| format!("{}/{p}/", support::BASE_URL))
            .collect();
        let hit = found.iter().any(|f| wanted.contains(&f.record.url));
        hits += usize::from(hit);
        let urls: Vec<&str> = found.iter().map(|f| f.record.url.as_str()).collect();
        eprintln!(
            "{} {question}\n    {urls:?}",
            if hit { "HIT " } else { "MISS" }
        );
    }
    let recall = hits as f64 / QUESTIONS.len() as f64;
    println!(
        "recall@5 of all-MiniLM-L6-v2 on PydanticAI's docs: {recall:.2} ({hits}/{} questions, {} chunks)",
        QUESTIONS.len(),
        records.len()
    );
    assert!(
        recall >= THRESHOLD,
        "recall@5 {recall:.2} is under {THRESHOLD}"
    );
}

#[tokio::test]
async fn the_local_embedder_gives_normalized_vectors_that_rank_sensibly() {
    let Some(embedder) = support::embedder() else {
        return;
    };
    let texts: Vec<String> = [
        "The cat sits on the mat.",
        "A kitten is resting on a rug.",
        "Quarterly revenue grew by ten percent.",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let v = embedder.embed(&texts).await.unwrap();
    assert_eq!(v.len(), 3);
    for x in &v {
        assert_eq!(x.len(), 384);
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(cos(&v[0], &v[1]) > 0.5, "{}", cos(&v[0], &v[1]));
    assert!(cos(&v[0], &v[1]) > cos(&v[0], &v[2]) + 0.3);
    // batching and padding do not change a text's vector
    let alone = embedder.embed(&texts[2..]).await.unwrap();
    assert!(cos(&alone[0], &v[2]) > 0.9999);
}
