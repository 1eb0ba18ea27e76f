//! The record a documentation pipeline stores: one per chunk of a page.

use serde::{Deserialize, Serialize};

/// One stored chunk of a documentation page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocRecord {
    /// The page's URL.
    pub url: String,
    /// The chunk's position in its page, from 0.
    pub chunk_number: u32,
    /// The page title, and the section's heading when it has one ("Page — Section").
    pub title: String,
    /// A short summary of the page (its first paragraph by default).
    pub summary: String,
    /// The chunk's Markdown.
    pub content: String,
    /// The embedding of the chunk (title, headings and content).
    pub embedding: Vec<f32>,
}

/// A record found by a search, with its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredRecord {
    /// The record (its embedding included).
    pub record: DocRecord,
    /// Cosine similarity to the query, in [-1, 1].
    pub score: f32,
}

/// Cosine similarity of two vectors; 0 when either is zero or their lengths differ.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}
