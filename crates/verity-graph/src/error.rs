//! Errors.

use std::fmt;
use std::path::PathBuf;

/// The error a node's `run` returns: any error, or a message.
///
/// Every `std::error::Error + Send + Sync` converts into it with `?`.
pub struct NodeError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl NodeError {
    /// An error with this message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self(message.into().into())
    }

    /// The underlying error.
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self.0
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for NodeError {
    fn from(error: E) -> Self {
        Self(Box::new(error))
    }
}

impl fmt::Debug for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// An error of a [`Persistence`](crate::Persistence) backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistenceError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A stored snapshot is corrupted (does not parse, or does not fit the graph).
    #[error("corrupted snapshot at {location}: {reason}")]
    Corrupt {
        /// Where: the file (and snapshot index) or the database row.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed.
    #[error("database {location}: {source}")]
    Database {
        /// The database file.
        location: String,
        /// The database error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A snapshot does not serialize.
    #[error("a snapshot does not serialize: {0}")]
    Encode(#[from] serde_json::Error),
    /// A run id a file backend cannot use as a file name.
    #[error("invalid run id {0:?}: use letters, digits, `-`, `_` and `.`")]
    InvalidRunId(String),
}

/// An error of a graph run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A node failed; its snapshot is marked `error` and resuming runs it again.
    #[error("node `{node}` failed: {source}")]
    Node {
        /// The node's name.
        node: &'static str,
        /// The node's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The persistence backend failed, or a stored snapshot is corrupted.
    #[error(transparent)]
    Persistence(#[from] PersistenceError),
    /// The run died while running a node declared not safe to repeat
    /// ([`Node::SAFE_TO_REPEAT`](crate::Node::SAFE_TO_REPEAT) is `false`).
    #[error(
        "run `{run_id}` stopped while node `{node}` was running, and `{node}` is not safe to repeat"
    )]
    NotSafeToRepeat {
        /// The run.
        run_id: String,
        /// The node that was running.
        node: String,
    },
    /// The persistence has no snapshot of this run.
    #[error("no snapshot of run `{0}`")]
    UnknownRun(String),
    /// The state or a node does not serialize into a snapshot.
    #[error("the state or a node does not serialize: {0}")]
    Encode(#[from] serde_json::Error),
    /// The run id or persistence was changed after the run started.
    #[error("the run has already started")]
    AlreadyStarted,
}
