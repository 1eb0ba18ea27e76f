//! Mermaid `stateDiagram-v2` diagrams from the compile-time edge list.

use std::fmt::Write as _;

use crate::node::NodeInfo;

/// The direction of a diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Top to bottom.
    TopToBottom,
    /// Left to right.
    LeftToRight,
    /// Right to left.
    RightToLeft,
    /// Bottom to top.
    BottomToTop,
}

impl Direction {
    fn code(self) -> &'static str {
        match self {
            Self::TopToBottom => "TB",
            Self::LeftToRight => "LR",
            Self::RightToLeft => "RL",
            Self::BottomToTop => "BT",
        }
    }
}

/// Options of [`Graph::mermaid_with`](crate::Graph::mermaid_with).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MermaidOptions {
    /// The layout direction (Mermaid's default when `None`).
    pub direction: Option<Direction>,
    /// The node the diagram starts from (`[*] --> start`); the first declared node when `None`.
    pub start: Option<String>,
    /// A title (front matter).
    pub title: Option<String>,
    /// Notes from the nodes' doc comments.
    pub notes: bool,
    /// Labels of the edges that declare one.
    pub edge_labels: bool,
    /// Nodes to highlight.
    pub highlighted: Vec<String>,
    /// The CSS of highlighted nodes.
    pub highlight_css: String,
}

impl Default for MermaidOptions {
    fn default() -> Self {
        Self {
            direction: None,
            start: None,
            title: None,
            notes: true,
            edge_labels: true,
            highlighted: Vec::new(),
            highlight_css: "fill:#fdff32".to_owned(),
        }
    }
}

impl MermaidOptions {
    /// The defaults: notes and edge labels on, no direction, no highlights.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the direction.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = Some(direction);
        self
    }

    /// Sets the start node.
    pub fn start(mut self, node: impl Into<String>) -> Self {
        self.start = Some(node.into());
        self
    }

    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Turns the notes from doc comments on or off.
    pub fn notes(mut self, notes: bool) -> Self {
        self.notes = notes;
        self
    }

    /// Turns the edge labels on or off.
    pub fn edge_labels(mut self, labels: bool) -> Self {
        self.edge_labels = labels;
        self
    }

    /// Highlights a node.
    pub fn highlight(mut self, node: impl Into<String>) -> Self {
        self.highlighted.push(node.into());
        self
    }
}

/// Mermaid labels and notes are single-line text: no `:` breaks, no newlines.
fn clean(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn render(_graph: &str, nodes: &[NodeInfo], options: &MermaidOptions) -> String {
    let mut out = String::new();
    if let Some(title) = &options.title {
        let _ = writeln!(out, "---\ntitle: {}\n---", clean(title));
    }
    out.push_str("stateDiagram-v2\n");
    if let Some(direction) = options.direction {
        let _ = writeln!(out, "  direction {}", direction.code());
    }
    let start = options
        .start
        .as_deref()
        .or_else(|| nodes.first().map(|n| n.name));
    if let Some(start) = start {
        let _ = writeln!(out, "  [*] --> {start}");
    }
    for node in nodes {
        for edge in node.edges {
            let to = edge.to.unwrap_or("[*]");
            let _ = write!(out, "  {} --> {to}", node.name);
            match edge.label {
                Some(label) if options.edge_labels => {
                    let _ = writeln!(out, ": {}", clean(label));
                }
                _ => out.push('\n'),
            }
        }
    }
    if options.notes {
        for node in nodes {
            let lines: Vec<&str> = node
                .doc
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            if lines.is_empty() {
                continue;
            }
            let _ = writeln!(out, "  note right of {}", node.name);
            for line in lines {
                let _ = writeln!(out, "    {line}");
            }
            out.push_str("  end note\n");
        }
    }
    if !options.highlighted.is_empty() {
        let _ = writeln!(out, "  classDef highlighted {}", options.highlight_css);
        for node in &options.highlighted {
            let _ = writeln!(out, "  class {node} highlighted");
        }
    }
    out
}
