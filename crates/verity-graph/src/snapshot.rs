//! Snapshots: the run's history, and what persistence stores.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The status of a snapshot's node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Next to run.
    Pending,
    /// Running (a run that died here re-runs the node on resume, if it is safe to repeat).
    Running,
    /// Finished; the next snapshot holds its successor.
    Success,
    /// Waiting for outside input.
    Paused,
    /// Failed; resume runs it again.
    Error,
    /// The run ended (an end snapshot).
    Ended,
}

/// What a snapshot holds: a node to run, or the run's end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SnapshotKind {
    /// A node (its name and data).
    Node {
        /// The node's name.
        name: String,
        /// The node's data.
        data: serde_json::Value,
    },
    /// The end, with the run's output.
    End {
        /// The output.
        output: serde_json::Value,
    },
}

/// One step of a run: a node (or the end) with the state before it ran, timestamps and status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The run.
    pub run_id: String,
    /// The position in the run, from 0.
    pub seq: u64,
    /// The node or the end.
    #[serde(flatten)]
    pub kind: SnapshotKind,
    /// The state: before the node ran (after it, once it paused or ended the run).
    pub state: serde_json::Value,
    /// The node's status.
    pub status: NodeStatus,
    /// When the snapshot was taken.
    pub created_at: DateTime<Utc>,
    /// When the node started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When the node finished (or paused, or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The node's prompt, when it paused for input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The outside input given to the node, kept while it runs, so that a run resumed
    /// after a crash inside the node gives it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
    /// The node's error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Snapshot {
    /// The node's name, `None` for an end snapshot.
    pub fn node_name(&self) -> Option<&str> {
        match &self.kind {
            SnapshotKind::Node { name, .. } => Some(name),
            SnapshotKind::End { .. } => None,
        }
    }

    /// How long the node ran, when it has finished.
    pub fn duration(&self) -> Option<chrono::TimeDelta> {
        Some(self.finished_at? - self.started_at?)
    }
}
