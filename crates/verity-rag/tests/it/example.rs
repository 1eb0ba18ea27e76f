//! The `rag` example end to end (its own code, included here): `build` over a few of
//! PydanticAI's pages, then `search` with a scripted model that calls `retrieve`.

#[allow(dead_code)]
#[path = "../../examples/rag.rs"]
mod rag_example;

use crate::support;

#[tokio::test]
async fn build_then_search_with_a_scripted_model_citing_urls() {
    let Some(docs) = support::docs_dir() else {
        return;
    };
    if support::minilm().is_none() {
        return;
    }
    let tmp = std::env::temp_dir().join(format!("verity-rag-example-{}", std::process::id()));
    let pages = tmp.join("docs");
    std::fs::create_dir_all(pages.join("models")).unwrap();
    for page in ["testing.md", "dependencies.md", "models/ollama.md"] {
        std::fs::copy(docs.join(page), pages.join(page)).unwrap();
    }
    let db = tmp.join("docs.sqlite").display().to_string();
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let out = rag_example::run(
        &args(&["build", pages.to_str().unwrap(), "--db", &db]),
        None,
    )
    .await
    .unwrap();
    println!("{out}");
    assert!(out.contains("3 pages"), "{out}");

    let out = rag_example::run(
        &args(&[
            "search",
            "How do I test an agent without calling a real LLM?",
            "--db",
            &db,
        ]),
        Some("scripted"),
    )
    .await
    .unwrap();
    println!("{out}");
    assert!(
        out.contains("Sources: https://ai.pydantic.dev/testing/"),
        "{out}"
    );

    // a search against a store that was never built finds nothing, and says so
    let empty = tmp.join("empty.sqlite").display().to_string();
    let out = rag_example::run(
        &args(&["search", "anything", "--db", &empty]),
        Some("scripted"),
    )
    .await
    .unwrap();
    assert!(
        out.contains("Sources: \n") || out.ends_with("Sources: "),
        "{out}"
    );

    let err = rag_example::run(&args(&["frobnicate", "--db", &db]), Some("scripted")).await;
    assert!(err.unwrap_err().to_string().contains("unknown command"));
    std::fs::remove_dir_all(&tmp).unwrap();
}
