//! Nodes, the graph trait the `graph!` macro implements, and what a node returns.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::NodeError;

/// A boxed, `Send` future, as returned by [`GraphNodes::run_node`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a node's `run` gets: the graph's state (mutable), its dependencies (shared),
/// the run's id and, for a node resumed after a pause, the outside input.
#[derive(Debug)]
pub struct GraphContext<S, D> {
    /// The graph's state, mutable by every node and saved in every snapshot.
    pub state: S,
    deps: D,
    run_id: String,
    input: Option<serde_json::Value>,
}

impl<S, D> GraphContext<S, D> {
    pub(crate) fn new(state: S, deps: D, run_id: String) -> Self {
        Self {
            state,
            deps,
            run_id,
            input: None,
        }
    }

    /// The dependencies given to the run (shared by all nodes, never persisted).
    pub fn deps(&self) -> &D {
        &self.deps
    }

    /// The id of this run (the key of its snapshots in a [`Persistence`](crate::Persistence)).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Whether outside input was provided for this node
    /// (see [`GraphRun::provide_input`](crate::GraphRun::provide_input)).
    pub fn has_input(&self) -> bool {
        self.input.is_some()
    }

    /// Takes the outside input provided for this node, decoded as `T`; `Ok(None)` when
    /// there is none (the node may then [pause](Next::pause) to wait for it).
    ///
    /// # Errors
    /// A [`NodeError`] when the input does not decode as `T`.
    pub fn take_input<T: DeserializeOwned>(&mut self) -> Result<Option<T>, NodeError> {
        match self.input.take() {
            None => Ok(None),
            Some(value) => serde_json::from_value(value)
                .map(Some)
                .map_err(|e| NodeError::msg(format!("the input does not decode: {e}"))),
        }
    }

    pub(crate) fn input(&self) -> Option<&serde_json::Value> {
        self.input.as_ref()
    }

    pub(crate) fn set_input(&mut self, input: Option<serde_json::Value>) {
        self.input = input;
    }

    pub(crate) fn set_run_id(&mut self, run_id: String) {
        self.run_id = run_id;
    }

    pub(crate) fn into_parts(self) -> (S, D) {
        (self.state, self.deps)
    }
}

/// A node of the graph `G`: a Rust type whose `run` returns the next node or the end.
///
/// The possible successors are declared in [`graph!`](crate::graph) and checked by the
/// types: [`Next::goto`] only accepts a node the declaration lists as a successor of
/// `Self`, [`Next::end`] only when `End` is listed.
pub trait Node<G: GraphNodes>: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Whether running this node twice is harmless. Resume re-runs the node that was
    /// running when the process died (at-least-once); a node that must not run twice
    /// (it sent an email, charged a card) sets this to `false`, and resuming a run that
    /// died inside it stops with [`GraphError::NotSafeToRepeat`](crate::GraphError::NotSafeToRepeat).
    const SAFE_TO_REPEAT: bool = true;

    /// Runs the node.
    fn run(
        &self,
        ctx: &mut GraphContext<G::State, G::Deps>,
    ) -> impl Future<Output = Result<Next<Self, G>, NodeError>> + Send;
}

/// Implemented by [`graph!`](crate::graph) for each declared edge `From => [To]` of the graph `G`.
pub trait EdgeTo<G, To> {}

/// Implemented by [`graph!`](crate::graph) for each node declared with an edge to `End`.
pub trait EdgeToEnd<G> {}

/// What happens after a node, as the engine sees it.
pub enum Step<G: GraphNodes> {
    /// Run this node next.
    Node(G),
    /// The run ends with this output.
    End(G::Output),
    /// The node waits for outside input; the run stops and can be resumed later.
    Pause(String),
}

/// What a node of type `From` in graph `G` returns: a declared successor, the end, or a pause.
pub struct Next<From, G: GraphNodes> {
    step: Step<G>,
    _from: PhantomData<fn() -> From>,
}

impl<From, G: GraphNodes> Next<From, G> {
    /// Continue with `node`, which must be a declared successor of `From`.
    pub fn goto<To>(node: To) -> Self
    where
        From: EdgeTo<G, To>,
        To: Into<G>,
    {
        Self {
            step: Step::Node(node.into()),
            _from: PhantomData,
        }
    }

    /// End the run with `output`; `From` must declare an edge to `End`.
    pub fn end(output: G::Output) -> Self
    where
        From: EdgeToEnd<G>,
    {
        Self {
            step: Step::End(output),
            _from: PhantomData,
        }
    }

    /// Pause the run to wait for outside input (human in the loop). The run stops with
    /// [`Progress::Paused`](crate::Progress::Paused); after
    /// [`GraphRun::provide_input`](crate::GraphRun::provide_input) (possibly in another
    /// process, after [`Graph::resume`](crate::Graph::resume)) this node runs again and
    /// finds the input with [`GraphContext::take_input`].
    pub fn pause(prompt: impl Into<String>) -> Self {
        Self {
            step: Step::Pause(prompt.into()),
            _from: PhantomData,
        }
    }

    /// The step, for the engine.
    pub fn into_step(self) -> Step<G> {
        self.step
    }
}

/// An edge of the compile-time edge list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeInfo {
    /// The target node's name, `None` for `End`.
    pub to: Option<&'static str>,
    /// The edge's label, if declared (`Next: "label"`).
    pub label: Option<&'static str>,
}

/// A node of the compile-time node list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's name (its type's and variant's name).
    pub name: &'static str,
    /// The doc comment written on the node's line in [`graph!`](crate::graph), one line per line.
    pub doc: &'static str,
    /// The node's outgoing edges.
    pub edges: &'static [EdgeInfo],
}

/// A graph: the node enum generated by [`graph!`](crate::graph). Not meant to be
/// implemented by hand.
pub trait GraphNodes: Sized + Send + Sync + 'static {
    /// The state every node can read and change.
    type State: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// The dependencies shared by every node.
    type Deps: Send + Sync + 'static;
    /// The run's output, given to `End`.
    type Output: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// The graph's name (the enum's name).
    const NAME: &'static str;
    /// The nodes and their edges, in declaration order.
    const NODES: &'static [NodeInfo];

    /// The name of this node.
    fn node_name(&self) -> &'static str;
    /// Whether this node may run again after a crash ([`Node::SAFE_TO_REPEAT`]).
    fn safe_to_repeat(&self) -> bool;
    /// Runs this node.
    fn run_node<'a>(
        &'a self,
        ctx: &'a mut GraphContext<Self::State, Self::Deps>,
    ) -> BoxFuture<'a, Result<Step<Self>, NodeError>>;
    /// This node's data as JSON (for a snapshot).
    ///
    /// # Errors
    /// When the node does not serialize.
    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error>;
    /// The node named `name` from its JSON data (from a snapshot).
    ///
    /// # Errors
    /// A description when the name is unknown or the data does not decode.
    fn from_json(name: &str, data: serde_json::Value) -> Result<Self, String>;
}
