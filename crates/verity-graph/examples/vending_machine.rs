//! A vending machine as a graph: insert coins, select a product, buy it when the balance
//! suffices. Coins and the product choice are outside input: the nodes pause for them,
//! and the driver feeds the next line of a script (the command line arguments).
//!
//! ```sh
//! cargo run -p verity-graph --example vending_machine -- 100 crisps 100
//! ```

use std::error::Error;

use serde::{Deserialize, Serialize};
use verity_graph::{Graph, GraphContext, Next, Node, NodeError, Progress, graph};

/// The machine's state, in cents.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineState {
    /// The user's balance.
    pub balance: u32,
    /// The product chosen, once valid.
    pub product: Option<String>,
}

/// The price of `product` in cents.
fn price(product: &str) -> Option<u32> {
    match product {
        "water" => Some(125),
        "soda" => Some(150),
        "crisps" => Some(175),
        "chocolate" => Some(200),
        _ => None,
    }
}

/// Waits for coins.
#[derive(Debug, Serialize, Deserialize)]
pub struct InsertCoin;

/// Coins were inserted.
#[derive(Debug, Serialize, Deserialize)]
pub struct CoinsInserted {
    amount: u32,
}

/// Waits for the product choice.
#[derive(Debug, Serialize, Deserialize)]
pub struct SelectProduct;

/// Buys the product if possible.
#[derive(Debug, Serialize, Deserialize)]
pub struct Purchase {
    product: String,
}

graph! {
    /// The vending machine.
    pub enum VendingMachine {
        type State = MachineState;
        type Deps = ();
        type Output = String;
        /// Wait for coins.
        InsertCoin => [CoinsInserted],
        /// Add them to the balance.
        CoinsInserted => [SelectProduct: "no product yet", Purchase: "product chosen"],
        /// Wait for a product.
        SelectProduct => [Purchase],
        /// Buy it, or ask for more coins or another product.
        Purchase => [End: "bought", InsertCoin: "not enough money", SelectProduct: "no such product"],
    }
}

type Ctx = GraphContext<MachineState, ()>;

impl Node<VendingMachine> for InsertCoin {
    async fn run(&self, ctx: &mut Ctx) -> Result<Next<Self, VendingMachine>, NodeError> {
        match ctx.take_input::<String>()? {
            None => Ok(Next::pause("Insert coins (cents)")),
            Some(amount) => Ok(Next::goto(CoinsInserted {
                amount: amount.trim().parse()?,
            })),
        }
    }
}

impl Node<VendingMachine> for CoinsInserted {
    async fn run(&self, ctx: &mut Ctx) -> Result<Next<Self, VendingMachine>, NodeError> {
        ctx.state.balance += self.amount;
        Ok(match &ctx.state.product {
            Some(product) => Next::goto(Purchase {
                product: product.clone(),
            }),
            None => Next::goto(SelectProduct),
        })
    }
}

impl Node<VendingMachine> for SelectProduct {
    async fn run(&self, ctx: &mut Ctx) -> Result<Next<Self, VendingMachine>, NodeError> {
        match ctx.take_input::<String>()? {
            None => Ok(Next::pause("Select product")),
            Some(product) => Ok(Next::goto(Purchase { product })),
        }
    }
}

impl Node<VendingMachine> for Purchase {
    async fn run(&self, ctx: &mut Ctx) -> Result<Next<Self, VendingMachine>, NodeError> {
        let Some(price) = price(&self.product) else {
            return Ok(Next::goto(SelectProduct));
        };
        ctx.state.product = Some(self.product.clone());
        if ctx.state.balance >= price {
            ctx.state.balance -= price;
            Ok(Next::end(self.product.clone()))
        } else {
            Ok(Next::goto(InsertCoin))
        }
    }
}

/// Runs the machine, answering each pause with the next line of `script`; returns the
/// transcript and the final state.
pub async fn run_script(script: &[&str]) -> Result<(String, MachineState), Box<dyn Error>> {
    let mut run = Graph::<VendingMachine>::new().iter(InsertCoin, MachineState::default(), ());
    let mut inputs = script.iter();
    let mut transcript = String::new();
    loop {
        match run.run().await? {
            Progress::Paused { prompt, .. } => {
                let Some(input) = inputs.next() else {
                    transcript.push_str(&format!("{prompt}: (script ended)\n"));
                    break;
                };
                transcript.push_str(&format!("{prompt}: {input}\n"));
                run.provide_input(*input)?;
            }
            Progress::End => {
                let state = run.state();
                transcript.push_str(&format!(
                    "purchase successful item={} change={}.{:02}\n",
                    run.output().map_or("", String::as_str),
                    state.balance / 100,
                    state.balance % 100
                ));
                break;
            }
            Progress::Next { .. } => {}
        }
    }
    let state = run.state().clone();
    Ok((transcript, state))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let script: Vec<&str> = if args.is_empty() {
        vec!["100", "crisps", "100"]
    } else {
        args.iter().map(String::as_str).collect()
    };
    let (transcript, _) = run_script(&script).await?;
    print!("{transcript}");
    Ok(())
}
