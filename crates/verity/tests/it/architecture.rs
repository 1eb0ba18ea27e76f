//! The library's module graph follows the dependency rules of ARCHITECTURE.md: read
//! from the sources (`crate::` paths outside test modules), checked here so that a
//! change that breaks a rule fails the build's tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The vocabulary every layer shares: none of it may name a model, a provider or the
/// agent.
const LEAVES: &[&str] = &[
    "messages", "usage", "settings", "model", "profiles", "schema", "request",
];
const UPPER: &[&str] = &["models", "providers", "agent", "run_stream"];

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`models/openai.rs` → `models`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The top-level modules a file names through `crate::` paths, test modules and
/// comments left out.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a, b::c}`: the first segment of each item
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.insert(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        if from == "lib" {
            continue; // the crate root re-exports everything
        }
        let text = std::fs::read_to_string(file).unwrap();
        let entry = graph.entry(from.clone()).or_default();
        for to in imports(&text) {
            if to != from && modules.contains(&to) {
                entry.insert(to);
            }
        }
    }
    graph
}

/// Every module reachable from `start`.
fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![start.to_owned()];
    while let Some(m) = todo.pop() {
        for next in graph.get(&m).into_iter().flatten() {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

#[test]
fn shared_vocabulary_names_no_model_provider_or_agent() {
    let graph = graph();
    for leaf in LEAVES {
        let reach = reachable(&graph, leaf);
        let bad: Vec<_> = UPPER.iter().filter(|u| reach.contains(**u)).collect();
        assert!(bad.is_empty(), "`{leaf}` reaches {bad:?}: {graph:#?}");
    }
}

#[test]
fn no_import_cycle_passes_through_model() {
    let graph = graph();
    let from_model = reachable(&graph, "model");
    assert!(
        !from_model.contains("model"),
        "`model` is in a cycle through {from_model:?}"
    );
}

#[test]
fn the_agent_knows_models_only_through_the_model_trait() {
    let graph = graph();
    let agent = &graph["agent"];
    // the reader sees what the agent does import
    assert!(
        agent.contains("messages") && agent.contains("model"),
        "{agent:?}"
    );
    assert!(
        !agent.contains("models") && !agent.contains("providers"),
        "agent imports {agent:?}"
    );
}

#[test]
fn only_the_inference_module_names_concrete_models_outside_models() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    for file in files {
        let module = module_of(&src, &file);
        if module == "models" || module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            assert!(
                !line.contains("crate::models::"),
                "{} names a concrete model: {line}",
                file.display()
            );
        }
    }
}
