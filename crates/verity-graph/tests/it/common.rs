//! A small graph exercising every feature: loops, End, a pause for input, a node not
//! safe to repeat, and a way to hang inside a node (to simulate a crash).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use verity_graph::{GraphContext, Next, Node, NodeError, graph};

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub count: u32,
    pub answers: Vec<String>,
}

/// Records the nodes that ran; `hang_at` makes `Add` (at that count) and `Charge`
/// hang forever, as a process that dies inside a node.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub log: Arc<Mutex<Vec<String>>>,
    pub hang_at: Arc<AtomicU32>,
}

impl Probe {
    pub fn hanging_at(count: u32) -> Self {
        let probe = Self::default();
        probe.hang_at.store(count, Ordering::SeqCst);
        probe
    }

    pub fn record(&self, entry: String) {
        self.log.lock().unwrap().push(entry);
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    async fn maybe_hang(&self, count: u32) {
        if self.hang_at.load(Ordering::SeqCst) == count {
            std::future::pending::<()>().await;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Add {
    pub target: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ask;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Charge {
    pub cents: u32,
}

graph! {
    /// The test graph.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Tallies {
        type State = Tally;
        type Deps = Probe;
        type Output = u32;
        /// Adds one to the count
        /// until it reaches the target.
        Add => [Add: "below target", Check: "target reached"],
        /// Ends once someone answered.
        Check => [Ask: "no answer yet", End: "answered"],
        /// Waits for a human's answer.
        Ask => [Check],
        /// Not safe to repeat.
        Charge => [End],
    }
}

impl Node<Tallies> for Add {
    async fn run(
        &self,
        ctx: &mut GraphContext<Tally, Probe>,
    ) -> Result<Next<Self, Tallies>, NodeError> {
        ctx.state.count += 1;
        let count = ctx.state.count;
        ctx.deps().record(format!("Add {count}"));
        ctx.deps().maybe_hang(count).await;
        Ok(if count >= self.target {
            Next::goto(Check)
        } else {
            Next::goto(Add {
                target: self.target,
            })
        })
    }
}

impl Node<Tallies> for Check {
    async fn run(
        &self,
        ctx: &mut GraphContext<Tally, Probe>,
    ) -> Result<Next<Self, Tallies>, NodeError> {
        ctx.deps().record("Check".to_owned());
        Ok(if ctx.state.answers.is_empty() {
            Next::goto(Ask)
        } else {
            Next::end(ctx.state.count)
        })
    }
}

impl Node<Tallies> for Ask {
    async fn run(
        &self,
        ctx: &mut GraphContext<Tally, Probe>,
    ) -> Result<Next<Self, Tallies>, NodeError> {
        match ctx.take_input::<String>()? {
            None => {
                ctx.deps().record("Ask (paused)".to_owned());
                Ok(Next::pause("what is your name?"))
            }
            Some(answer) => {
                ctx.deps().record(format!("Ask {answer}"));
                ctx.deps().maybe_hang(ctx.state.count + 1000).await;
                ctx.state.answers.push(answer);
                Ok(Next::goto(Check))
            }
        }
    }
}

impl Node<Tallies> for Charge {
    const SAFE_TO_REPEAT: bool = false;

    async fn run(
        &self,
        ctx: &mut GraphContext<Tally, Probe>,
    ) -> Result<Next<Self, Tallies>, NodeError> {
        ctx.deps().record(format!("Charge {}", self.cents));
        ctx.deps().maybe_hang(ctx.state.count).await;
        Ok(Next::end(self.cents))
    }
}
