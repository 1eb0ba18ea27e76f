//! # verity-graph
//!
//! Typed graphs (state machines) for Rust: nodes are Rust types, the nodes and edges
//! are declared once with [`graph!`] and checked by the compiler, runs are saved after
//! every node to a [`Persistence`] (memory, JSON files, SQLite) and can be resumed after
//! a crash or a pause for outside input, and the edge list renders as a Mermaid
//! `stateDiagram-v2`. It depends on no other Verity crate; a node may run a Verity agent.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use verity_graph::{Graph, GraphContext, Next, Node, NodeError, graph};
//!
//! #[derive(Serialize, Deserialize)]
//! struct DivisibleBy5(u64);
//! #[derive(Serialize, Deserialize)]
//! struct Increment(u64);
//!
//! graph! {
//!     pub enum Fives {
//!         type State = ();
//!         type Deps = ();
//!         type Output = u64;
//!         /// Ends on a multiple of five.
//!         DivisibleBy5 => [Increment, End],
//!         Increment => [DivisibleBy5],
//!     }
//! }
//!
//! impl Node<Fives> for DivisibleBy5 {
//!     async fn run(&self, _: &mut GraphContext<(), ()>) -> Result<Next<Self, Fives>, NodeError> {
//!         Ok(if self.0 % 5 == 0 { Next::end(self.0) } else { Next::goto(Increment(self.0)) })
//!     }
//! }
//!
//! impl Node<Fives> for Increment {
//!     async fn run(&self, _: &mut GraphContext<(), ()>) -> Result<Next<Self, Fives>, NodeError> {
//!         Ok(Next::goto(DivisibleBy5(self.0 + 1)))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let result = Graph::<Fives>::new().run(DivisibleBy5(4), (), ()).await?;
//! assert_eq!(result.output(), Some(&5));
//! # Ok(()) }
//! ```
//!
//! ## Resume semantics
//!
//! A snapshot is saved when a node starts (status `running`) and, atomically with its
//! successor's snapshot, when it finishes. After a crash, [`Graph::resume`] continues
//! from the last snapshot: finished nodes never run again; the node that was running
//! runs again (at-least-once), unless it declares [`Node::SAFE_TO_REPEAT`] `false`, in
//! which case resume returns [`GraphError::NotSafeToRepeat`].
#![forbid(clippy::dbg_macro)]

mod error;
mod macros;
mod mermaid;
mod node;
mod persistence;
mod run;
mod snapshot;

pub use error::{GraphError, NodeError, PersistenceError};
pub use mermaid::{Direction, MermaidOptions};
pub use node::{
    BoxFuture, EdgeInfo, EdgeTo, EdgeToEnd, GraphContext, GraphNodes, Next, Node, NodeInfo, Step,
};
#[cfg(feature = "sqlite")]
pub use persistence::SqlitePersistence;
pub use persistence::{FilePersistence, InMemoryPersistence, Persistence};
pub use run::{Graph, GraphRun, Outcome, Progress, RunResult};
pub use snapshot::{NodeStatus, Snapshot, SnapshotKind};

#[doc(hidden)]
pub mod __private {
    pub use serde_json;
}
