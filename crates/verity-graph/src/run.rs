//! Running a graph: to the end, step by step, and resumed from persistence.

use std::marker::PhantomData;
use std::sync::Arc;

use chrono::Utc;
use serde::Serialize;

use crate::error::{GraphError, PersistenceError};
use crate::mermaid::MermaidOptions;
use crate::node::{GraphContext, GraphNodes, NodeInfo, Step};
use crate::persistence::{InMemoryPersistence, Persistence};
use crate::snapshot::{NodeStatus, Snapshot, SnapshotKind};

/// A graph whose nodes are the enum `G` declared with [`graph!`](crate::graph).
#[derive(Debug)]
pub struct Graph<G> {
    _nodes: PhantomData<fn() -> G>,
}

impl<G> Default for Graph<G> {
    fn default() -> Self {
        Self {
            _nodes: PhantomData,
        }
    }
}

impl<G> Clone for Graph<G> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<G> Copy for Graph<G> {}

impl<G: GraphNodes> Graph<G> {
    /// The graph.
    pub const fn new() -> Self {
        Self {
            _nodes: PhantomData,
        }
    }

    /// The nodes and edges, as declared.
    pub fn nodes(&self) -> &'static [NodeInfo] {
        G::NODES
    }

    /// Runs the graph from `start` until it ends or a node pauses for input, with
    /// snapshots in memory. For a persisted run use [`Graph::iter`] and
    /// [`GraphRun::persistence`].
    ///
    /// # Errors
    /// When a node fails, or the state does not serialize.
    pub async fn run(
        &self,
        start: impl Into<G>,
        state: G::State,
        deps: G::Deps,
    ) -> Result<RunResult<G>, GraphError> {
        let mut run = self.iter(start, state, deps);
        run.run().await?;
        Ok(run.into_result())
    }

    /// A run from `start`, driven step by step with [`GraphRun::next`]. Nothing runs
    /// (and nothing is saved) before the first step, so the persistence and run id can
    /// still be set.
    pub fn iter(&self, start: impl Into<G>, state: G::State, deps: G::Deps) -> GraphRun<G> {
        let run_id = uuid::Uuid::now_v7().to_string();
        GraphRun {
            ctx: GraphContext::new(state, deps, run_id.clone()),
            run_id,
            current: Current::Pending(start.into()),
            paused: None,
            history: Vec::new(),
            persistence: Arc::new(InMemoryPersistence::new()),
            started: false,
        }
    }

    /// Resumes the run `run_id` from its last snapshot in `persistence` (after the
    /// process died, or after a pause). Finished nodes are not run again; the node that
    /// was running when the process died runs again (at-least-once), unless it is not
    /// [safe to repeat](crate::Node::SAFE_TO_REPEAT).
    ///
    /// # Errors
    /// [`GraphError::UnknownRun`] without snapshots, [`GraphError::NotSafeToRepeat`],
    /// [`PersistenceError::Corrupt`] naming the file or row of a snapshot that does not
    /// decode.
    pub fn resume(
        &self,
        persistence: Arc<dyn Persistence>,
        run_id: &str,
        deps: G::Deps,
    ) -> Result<GraphRun<G>, GraphError> {
        let history = persistence.load(run_id)?;
        let Some(last) = history.last() else {
            return Err(GraphError::UnknownRun(run_id.to_owned()));
        };
        let corrupt = |reason: String| PersistenceError::Corrupt {
            location: persistence.location(run_id, last.seq),
            reason,
        };
        let state: G::State = serde_json::from_value(last.state.clone())
            .map_err(|e| corrupt(format!("the state does not decode: {e}")))?;
        let mut paused = None;
        let mut input = None;
        let current = match (&last.kind, last.status) {
            (SnapshotKind::End { output }, _) => Current::Ended(
                serde_json::from_value(output.clone())
                    .map_err(|e| corrupt(format!("the output does not decode: {e}")))?,
            ),
            (SnapshotKind::Node { name, data }, status) => {
                let node = G::from_json(name, data.clone()).map_err(corrupt)?;
                match status {
                    NodeStatus::Pending | NodeStatus::Error => Current::Pending(node),
                    NodeStatus::Paused => {
                        paused = Some(last.prompt.clone().unwrap_or_default());
                        Current::Pending(node)
                    }
                    NodeStatus::Running if node.safe_to_repeat() => {
                        input.clone_from(&last.input);
                        Current::Pending(node)
                    }
                    NodeStatus::Running => {
                        return Err(GraphError::NotSafeToRepeat {
                            run_id: run_id.to_owned(),
                            node: name.clone(),
                        });
                    }
                    NodeStatus::Success | NodeStatus::Ended => {
                        return Err(corrupt(format!(
                            "the last snapshot has status {status:?} but no successor"
                        ))
                        .into());
                    }
                }
            }
        };
        let mut ctx = GraphContext::new(state, deps, run_id.to_owned());
        ctx.set_input(input);
        Ok(GraphRun {
            ctx,
            run_id: run_id.to_owned(),
            current,
            paused,
            history,
            persistence,
            started: true,
        })
    }

    /// The Mermaid `stateDiagram-v2` of the graph, with default options.
    pub fn mermaid(&self) -> String {
        crate::mermaid::render(G::NAME, G::NODES, &MermaidOptions::default())
    }

    /// The Mermaid `stateDiagram-v2` of the graph, with `options`.
    pub fn mermaid_with(&self, options: &MermaidOptions) -> String {
        crate::mermaid::render(G::NAME, G::NODES, options)
    }
}

enum Current<G: GraphNodes> {
    Pending(G),
    Ended(G::Output),
}

/// What a step of a run led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The node ran; `node` runs next.
    Next {
        /// The next node's name.
        node: &'static str,
    },
    /// The node paused to wait for outside input.
    Paused {
        /// The paused node's name.
        node: &'static str,
        /// What it asks for.
        prompt: String,
    },
    /// The run ended ([`GraphRun::output`] has the output).
    End,
}

/// How a run stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// It ended with this output.
    End(T),
    /// A node paused for input; resume it from persistence ([`Graph::resume`]).
    Paused {
        /// The paused node's name.
        node: String,
        /// What it asks for.
        prompt: String,
    },
}

/// The result of [`Graph::run`] / [`GraphRun::into_result`].
#[derive(Debug)]
pub struct RunResult<G: GraphNodes> {
    /// The run's id.
    pub run_id: String,
    /// The final state.
    pub state: G::State,
    /// How it stopped (`None` when it was stopped before the end).
    pub outcome: Option<Outcome<G::Output>>,
    /// The snapshots of the run.
    pub history: Vec<Snapshot>,
}

impl<G: GraphNodes> RunResult<G> {
    /// The output, if the run ended.
    pub fn output(&self) -> Option<&G::Output> {
        match &self.outcome {
            Some(Outcome::End(output)) => Some(output),
            _ => None,
        }
    }
}

/// A run of a graph, driven step by step: inspect or change the state and the next node
/// between steps, or stop. Every step is saved to the persistence.
pub struct GraphRun<G: GraphNodes> {
    run_id: String,
    ctx: GraphContext<G::State, G::Deps>,
    current: Current<G>,
    paused: Option<String>,
    history: Vec<Snapshot>,
    persistence: Arc<dyn Persistence>,
    started: bool,
}

impl<G: GraphNodes> std::fmt::Debug for GraphRun<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphRun")
            .field("graph", &G::NAME)
            .field("run_id", &self.run_id)
            .field("next_node", &self.next_node().map(G::node_name))
            .field("steps", &self.history.len())
            .finish_non_exhaustive()
    }
}

impl<G: GraphNodes> GraphRun<G> {
    /// Saves the run's snapshots to `persistence` (before the first step).
    ///
    /// # Errors
    /// [`GraphError::AlreadyStarted`] after the first step.
    pub fn persistence(mut self, persistence: Arc<dyn Persistence>) -> Result<Self, GraphError> {
        if self.started {
            return Err(GraphError::AlreadyStarted);
        }
        self.persistence = persistence;
        Ok(self)
    }

    /// Sets the run's id (before the first step; by default a UUID v7).
    ///
    /// # Errors
    /// [`GraphError::AlreadyStarted`] after the first step.
    pub fn with_run_id(mut self, run_id: impl Into<String>) -> Result<Self, GraphError> {
        if self.started {
            return Err(GraphError::AlreadyStarted);
        }
        self.run_id = run_id.into();
        self.ctx.set_run_id(self.run_id.clone());
        Ok(self)
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The state.
    pub fn state(&self) -> &G::State {
        &self.ctx.state
    }

    /// The state, to change between steps (saved with the next step).
    pub fn state_mut(&mut self) -> &mut G::State {
        &mut self.ctx.state
    }

    /// The dependencies.
    pub fn deps(&self) -> &G::Deps {
        self.ctx.deps()
    }

    /// The node that runs next (also when paused), `None` once the run ended.
    pub fn next_node(&self) -> Option<&G> {
        match &self.current {
            Current::Pending(node) => Some(node),
            Current::Ended(_) => None,
        }
    }

    /// Replaces the node that runs next.
    pub fn set_next_node(&mut self, node: impl Into<G>) {
        self.current = Current::Pending(node.into());
        self.paused = None;
    }

    /// The prompt of the paused node, if the run is paused.
    pub fn paused(&self) -> Option<&str> {
        self.paused.as_deref()
    }

    /// The output, once the run ended.
    pub fn output(&self) -> Option<&G::Output> {
        match &self.current {
            Current::Ended(output) => Some(output),
            _ => None,
        }
    }

    /// The snapshots so far.
    pub fn history(&self) -> &[Snapshot] {
        &self.history
    }

    /// Provides outside input to the next node (typically a paused one), which reads it
    /// with [`GraphContext::take_input`].
    ///
    /// # Errors
    /// When `input` does not serialize.
    pub fn provide_input(&mut self, input: impl Serialize) -> Result<(), GraphError> {
        self.ctx.set_input(Some(serde_json::to_value(input)?));
        Ok(())
    }

    fn snapshot(
        &self,
        seq: u64,
        kind: SnapshotKind,
        status: NodeStatus,
    ) -> Result<Snapshot, GraphError> {
        Ok(Snapshot {
            run_id: self.run_id.clone(),
            seq,
            kind,
            state: serde_json::to_value(&self.ctx.state)?,
            status,
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
            prompt: None,
            input: None,
            error: None,
        })
    }

    fn save(&mut self, snapshots: Vec<Snapshot>) -> Result<(), GraphError> {
        self.persistence.save(&self.run_id, &snapshots)?;
        for snapshot in snapshots {
            match self.history.iter_mut().find(|s| s.seq == snapshot.seq) {
                Some(existing) => *existing = snapshot,
                None => self.history.push(snapshot),
            }
        }
        Ok(())
    }

    /// Runs the next node and saves the result: its successor, the end, or a pause.
    /// After the end it returns [`Progress::End`] again.
    ///
    /// # Errors
    /// When the node fails (its snapshot is marked `error`; calling `next` again retries
    /// it), or persistence fails.
    pub async fn next(&mut self) -> Result<Progress, GraphError> {
        let node = match &self.current {
            Current::Ended(_) => return Ok(Progress::End),
            Current::Pending(node) => node,
        };
        let node_kind = SnapshotKind::Node {
            name: node.node_name().to_owned(),
            data: node.to_json()?,
        };
        // the snapshot of this node: the last one, or a new one for a new or replaced node
        let seq = match self.history.last() {
            Some(last)
                if last.status == NodeStatus::Success || last.status == NodeStatus::Ended =>
            {
                last.seq + 1
            }
            Some(last) => last.seq,
            None => 0,
        };
        let mut running = self.snapshot(seq, node_kind, NodeStatus::Running)?;
        running.created_at = self
            .history
            .iter()
            .find(|s| s.seq == seq)
            .map_or(running.created_at, |s| s.created_at);
        running.started_at = Some(Utc::now());
        running.input = self.ctx.input().cloned();
        self.save(vec![running.clone()])?;
        self.started = true;

        let result = match &self.current {
            Current::Pending(node) => node.run_node(&mut self.ctx).await,
            Current::Ended(_) => return Ok(Progress::End),
        };
        self.ctx.set_input(None);
        let name = self.next_node().map_or("", G::node_name);
        let mut done = running;
        done.finished_at = Some(Utc::now());
        done.input = None;
        match result {
            Ok(Step::Node(next)) => {
                done.status = NodeStatus::Success;
                let kind = SnapshotKind::Node {
                    name: next.node_name().to_owned(),
                    data: next.to_json()?,
                };
                let pending = self.snapshot(seq + 1, kind, NodeStatus::Pending)?;
                self.save(vec![done, pending])?;
                let next_name = next.node_name();
                self.paused = None;
                self.current = Current::Pending(next);
                Ok(Progress::Next { node: next_name })
            }
            Ok(Step::End(output)) => {
                done.status = NodeStatus::Success;
                let kind = SnapshotKind::End {
                    output: serde_json::to_value(&output)?,
                };
                let mut end = self.snapshot(seq + 1, kind, NodeStatus::Ended)?;
                end.finished_at = end.started_at;
                self.save(vec![done, end])?;
                self.current = Current::Ended(output);
                Ok(Progress::End)
            }
            Ok(Step::Pause(prompt)) => {
                done.status = NodeStatus::Paused;
                done.state = serde_json::to_value(&self.ctx.state)?;
                done.prompt = Some(prompt.clone());
                self.save(vec![done])?;
                self.paused = Some(prompt.clone());
                Ok(Progress::Paused { node: name, prompt })
            }
            Err(error) => {
                done.status = NodeStatus::Error;
                done.error = Some(error.to_string());
                self.save(vec![done])?;
                Err(GraphError::Node {
                    node: name,
                    source: error.into_inner(),
                })
            }
        }
    }

    /// Runs nodes until the run ends or a node pauses.
    ///
    /// # Errors
    /// As [`GraphRun::next`].
    pub async fn run(&mut self) -> Result<Progress, GraphError> {
        loop {
            match self.next().await? {
                Progress::Next { .. } => {}
                stop => return Ok(stop),
            }
        }
    }

    /// The result: final state, outcome and history.
    pub fn into_result(self) -> RunResult<G> {
        let outcome = match (self.current, self.paused) {
            (Current::Ended(output), _) => Some(Outcome::End(output)),
            (Current::Pending(node), Some(prompt)) => Some(Outcome::Paused {
                node: node.node_name().to_owned(),
                prompt,
            }),
            (Current::Pending(_), None) => None,
        };
        let (state, _) = self.ctx.into_parts();
        RunResult {
            run_id: self.run_id,
            state,
            outcome,
            history: self.history,
        }
    }
}
