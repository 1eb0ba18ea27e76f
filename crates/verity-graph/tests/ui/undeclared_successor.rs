use serde::{Deserialize, Serialize};
use verity_graph::{GraphContext, Next, Node, NodeError, graph};

#[derive(Serialize, Deserialize)]
struct First;
#[derive(Serialize, Deserialize)]
struct Second;

graph! {
    enum G {
        type State = ();
        type Deps = ();
        type Output = ();
        First => [Second],
        Second => [End],
    }
}

impl Node<G> for First {
    async fn run(&self, _: &mut GraphContext<(), ()>) -> Result<Next<Self, G>, NodeError> {
        // First may go to Second only, not end the run
        Ok(Next::end(()))
    }
}

impl Node<G> for Second {
    async fn run(&self, _: &mut GraphContext<(), ()>) -> Result<Next<Self, G>, NodeError> {
        // Second may only end
        Ok(Next::goto(First))
    }
}

fn main() {}
