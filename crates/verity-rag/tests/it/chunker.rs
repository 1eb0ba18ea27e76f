use verity_rag::chunker::{ChunkOptions, chunk_markdown};
use verity_rag::ingest::{first_paragraph, page_title, page_url};

#[test]
fn sections_follow_the_headings_up_to_level_three() {
    let md = "# Title\n\nIntro text.\n\n## Install\n\npip install x\n\n### Slim\n\nslim text\n\n#### Deep\n\ndeep text\n\n## Use\n\nuse text\n";
    let chunks = chunk_markdown(md, &ChunkOptions::default());
    let heads: Vec<Vec<&str>> = chunks
        .iter()
        .map(|c| c.headings.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(
        heads,
        vec![
            vec!["Title"],
            vec!["Title", "Install"],
            vec!["Title", "Install", "Slim"],
            vec!["Title", "Use"],
        ]
    );
    assert_eq!(chunks[0].content, "# Title\n\nIntro text.");
    // a level-4 heading stays inside its section
    assert!(chunks[2].content.contains("#### Deep\n\ndeep text"));
    assert!(chunks[3].content.starts_with("## Use"));
}

#[test]
fn a_heading_with_nothing_under_it_is_no_chunk() {
    let chunks = chunk_markdown("# A\n## B\ntext\n", &ChunkOptions::default());
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].headings, vec!["A", "B"]);
}

#[test]
fn headings_inside_fences_are_code() {
    let md = "# Page\n\n```python\n# not a heading\nx = 1\n```\n\n    ~~~~\n    ## also not\n    ~~~~\n\ntext\n";
    let chunks = chunk_markdown(md, &ChunkOptions::default());
    assert_eq!(chunks.len(), 1);
    assert!(chunks[0].content.contains("# not a heading"));
    assert!(chunks[0].content.contains("## also not"));
}

#[test]
fn long_sections_are_split_under_the_cap_and_fences_stay_whole() {
    let para = "word ".repeat(30); // 150 chars
    let fence = format!("```py\n{}\n```", "print('x')\n".repeat(30)); // ~340 chars
    let md = format!("# P\n\n{para}\n\n{para}\n\n{fence}\n\n{para}\n\n## Q\n\nshort\n");
    let cap = 200;
    let chunks = chunk_markdown(&md, &ChunkOptions::default().with_max_chars(cap));
    assert!(chunks.len() >= 4, "{chunks:#?}");
    for c in &chunks {
        let fences = c.content.matches("```").count();
        assert_eq!(fences % 2, 0, "a fence split across chunks: {c:#?}");
        if fences == 0 {
            assert!(c.content.chars().count() <= cap, "{c:#?}");
        }
    }
    // the fence is one chunk, whole
    assert!(chunks.iter().any(|c| c.content == fence));
    assert_eq!(chunks.last().unwrap().headings, vec!["P", "Q"]);
    // nothing lost: every word is still there
    let words: usize = chunks
        .iter()
        .map(|c| c.content.matches("word").count())
        .sum();
    assert_eq!(words, 90);
}

#[test]
fn a_single_long_line_is_split_between_words() {
    let line = "abc ".repeat(100);
    let chunks = chunk_markdown(
        &format!("# T\n\n{line}"),
        &ChunkOptions::default().with_max_chars(50),
    );
    assert!(chunks.iter().all(|c| c.content.chars().count() <= 50));
    let total: usize = chunks
        .iter()
        .map(|c| c.content.matches("abc").count())
        .sum();
    assert_eq!(total, 100);
}

#[test]
fn an_unclosed_fence_runs_to_the_end() {
    let md = "# T\n\n```\n# inside\n\n## still inside\n";
    let chunks = chunk_markdown(md, &ChunkOptions::default().with_max_chars(10));
    assert_eq!(chunks.len(), 2);
    assert!(chunks[1].content.contains("## still inside"));
}

#[test]
fn front_matter_is_dropped() {
    let chunks = chunk_markdown(
        "---\ntitle: x\n---\n# T\n\nbody\n",
        &ChunkOptions::default(),
    );
    assert_eq!(chunks.len(), 1);
    assert!(!chunks[0].content.contains("title: x"));
}

#[test]
fn urls_titles_and_summaries() {
    use std::path::Path;
    let base = "https://ai.pydantic.dev/";
    assert_eq!(
        page_url(base, Path::new("agent.md")),
        "https://ai.pydantic.dev/agent/"
    );
    assert_eq!(
        page_url(base, Path::new("models/openai.md")),
        "https://ai.pydantic.dev/models/openai/"
    );
    assert_eq!(
        page_url(base, Path::new("graph/builder/index.md")),
        "https://ai.pydantic.dev/graph/builder/"
    );
    assert_eq!(
        page_url(base, Path::new("index.md")),
        "https://ai.pydantic.dev/"
    );
    let md = "```\n# code\n```\n# Agents\n\n!!! note\n    admonition\n\nAgents are the **primary** interface\nfor talking to models.\n\nSecond paragraph.\n";
    assert_eq!(page_title(md, "https://x/agent/"), "Agents");
    assert_eq!(page_title("no heading", "https://x/agent/"), "agent");
    assert_eq!(
        first_paragraph(md, 300),
        "Agents are the **primary** interface for talking to models."
    );
    assert_eq!(first_paragraph(md, 20), "Agents are the…");
}
