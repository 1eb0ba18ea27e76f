//! `build`: Markdown pages into [`DocRecord`]s.

use std::path::{Path, PathBuf};

use crate::chunker::{ChunkOptions, chunk_markdown};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::record::DocRecord;
use crate::store::VectorStore;

/// One Markdown page and where it is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The page's URL.
    pub url: String,
    /// The page's Markdown.
    pub markdown: String,
}

/// Every `.md` file under `dir` (sorted by path), with its URL under `base_url`: the
/// path without `.md` and with a trailing slash, `index.md` standing for its folder
/// (`agent.md` → `{base}/agent/`, `models/index.md` → `{base}/models/`), as MkDocs
/// publishes pages.
pub fn read_pages(dir: &Path, base_url: &str) -> Result<Vec<Page>> {
    let mut files = Vec::new();
    collect_md(dir, &mut files)?;
    files.sort();
    let mut pages = Vec::with_capacity(files.len());
    for file in files {
        let markdown = std::fs::read_to_string(&file).map_err(|source| Error::Io {
            path: file.display().to_string(),
            source,
        })?;
        let rel = file.strip_prefix(dir).unwrap_or(&file);
        pages.push(Page {
            url: page_url(base_url, rel),
            markdown,
        });
    }
    Ok(pages)
}

fn collect_md(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| Error::Io {
        path: dir.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_md(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    Ok(())
}

/// The URL of a page at `rel` (a path relative to the docs folder) under `base_url`.
pub fn page_url(base_url: &str, rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.strip_suffix(".md").unwrap_or(&last);
        if stem != "index" && stem != "README" {
            parts.push(stem.to_owned());
        }
    }
    let base = base_url.trim_end_matches('/');
    if parts.is_empty() {
        format!("{base}/")
    } else {
        format!("{base}/{}/", parts.join("/"))
    }
}

/// The page title: its first `# ` heading, else the last segment of its URL.
pub fn page_title(markdown: &str, url: &str) -> String {
    let mut in_fence = false;
    for line in markdown.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
        }
        if !in_fence && let Some(title) = line.strip_prefix("# ") {
            return title.trim().to_owned();
        }
    }
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(url)
        .to_owned()
}

/// The page's first paragraph of prose (no heading, code, admonition, table, list,
/// image or HTML), flattened to one line and cut at `max_chars` — a deterministic
/// summary.
pub fn first_paragraph(markdown: &str, max_chars: usize) -> String {
    let mut in_fence = false;
    let mut para: Vec<&str> = Vec::new();
    for line in markdown.lines() {
        let t = line.trim();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            if !para.is_empty() {
                break;
            }
            continue;
        }
        if in_fence {
            continue;
        }
        let prose = !t.is_empty()
            && !line.starts_with(' ')
            && !line.starts_with('\t')
            && !["#", "!!!", "???", "|", "<", "!", "-", "*", ">", "[", ":"]
                .iter()
                .any(|p| t.starts_with(p))
            && !t.chars().next().is_some_and(|c| c.is_ascii_digit());
        if prose {
            para.push(t);
        } else if !para.is_empty() {
            break;
        }
    }
    let text = para.join(" ");
    if text.chars().count() <= max_chars {
        return text;
    }
    let cut: String = text.chars().take(max_chars).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(a, _)| a);
    format!("{cut}…")
}

/// A record before embedding: everything but the vector, and the text to embed.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRecord {
    /// The record, with an empty embedding.
    pub record: DocRecord,
    /// What is embedded: the title and headings, then the content.
    pub text: String,
}

/// Chunks pages into records (not yet embedded).
pub fn chunk_pages(pages: &[Page], options: &ChunkOptions) -> Vec<PendingRecord> {
    let mut out = Vec::new();
    for page in pages {
        let title = page_title(&page.markdown, &page.url);
        let summary = first_paragraph(&page.markdown, 300);
        for (n, chunk) in chunk_markdown(&page.markdown, options)
            .into_iter()
            .enumerate()
        {
            let section = chunk.headings.last().filter(|h| **h != title);
            let record_title = match section {
                Some(s) => format!("{title} — {s}"),
                None => title.clone(),
            };
            let text = format!("{}\n\n{}", chunk.headings.join(" > "), chunk.content);
            out.push(PendingRecord {
                record: DocRecord {
                    url: page.url.clone(),
                    chunk_number: u32::try_from(n).unwrap_or(u32::MAX),
                    title: record_title,
                    summary: summary.clone(),
                    content: chunk.content,
                    embedding: Vec::new(),
                },
                text,
            });
        }
    }
    out
}

/// Embeds pending records, `batch` at a time.
pub async fn embed_records(
    pending: Vec<PendingRecord>,
    embedder: &dyn Embedder,
    batch: usize,
) -> Result<Vec<DocRecord>> {
    let mut out = Vec::with_capacity(pending.len());
    for group in pending.chunks(batch.max(1)) {
        let texts: Vec<String> = group.iter().map(|p| p.text.clone()).collect();
        let vectors = embedder.embed(&texts).await?;
        if vectors.len() != texts.len() {
            return Err(Error::CountMismatch {
                expected: texts.len(),
                got: vectors.len(),
            });
        }
        for (p, v) in group.iter().zip(vectors) {
            let mut record = p.record.clone();
            record.embedding = v;
            out.push(record);
        }
    }
    Ok(out)
}

/// What [`build`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildReport {
    /// Pages read.
    pub pages: usize,
    /// Records stored.
    pub records: usize,
}

/// Reads every Markdown page under `dir`, chunks, embeds and stores it (replacing what
/// the store held).
pub async fn build(
    dir: &Path,
    base_url: &str,
    options: &ChunkOptions,
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
) -> Result<BuildReport> {
    let pages = read_pages(dir, base_url)?;
    let pending = chunk_pages(&pages, options);
    let records = embed_records(pending, embedder, 256).await?;
    store.clear().await?;
    for group in records.chunks(512) {
        store.upsert(group).await?;
    }
    Ok(BuildReport {
        pages: pages.len(),
        records: records.len(),
    })
}
