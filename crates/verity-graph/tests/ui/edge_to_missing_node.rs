use serde::{Deserialize, Serialize};
use verity_graph::{GraphContext, Next, Node, NodeError, graph};

#[derive(Serialize, Deserialize)]
struct Start;
#[derive(Serialize, Deserialize)]
struct Elsewhere;

graph! {
    enum G {
        type State = ();
        type Deps = ();
        type Output = ();
        Start => [Elsewhere, End],
    }
}

impl Node<G> for Start {
    async fn run(&self, _: &mut GraphContext<(), ()>) -> Result<Next<Self, G>, NodeError> {
        Ok(Next::end(()))
    }
}

fn main() {}
