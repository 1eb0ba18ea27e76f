//! The bank support agent from PydanticAI's examples: deps holding a database
//! connection, instructions computed from it, a tool, and a validated structured output
//! whose risk level must be 0 to 10.
//!
//! Offline by default: a scripted model plays the LLM (asks for the balance, then
//! answers; for a lost card it first answers with a risk of 42, which validation sends
//! back). `VERITY_MODEL` runs it on a real model instead (`openai:gpt-4o`, …).
//!
//! ```text
//! cargo run -p verity --example bank_support
//! ```

use std::collections::HashMap;

use serde_json::json;
use verity::ModelRef;
use verity::prelude::*;

/// The bank's customers, as a database would hold them.
struct DatabaseConn {
    customers: HashMap<u64, (&'static str, f64)>,
}

impl DatabaseConn {
    async fn customer_name(&self, id: u64) -> Option<&'static str> {
        self.customers.get(&id).map(|(name, _)| *name)
    }

    async fn customer_balance(&self, id: u64) -> Result<f64, ModelRetry> {
        self.customers
            .get(&id)
            .map(|(_, balance)| *balance)
            .ok_or_else(|| ModelRetry::new("Customer not found"))
    }
}

struct SupportDependencies {
    customer_id: u64,
    db: DatabaseConn,
}

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct SupportOutput {
    /// Advice returned to the customer.
    support_advice: String,
    /// Whether to block their card or not.
    block_card: bool,
    /// Risk level of the query.
    #[schemars(range(min = 0, max = 10))]
    risk: u8,
}

/// Returns the customer's current account balance.
#[tool]
async fn customer_balance(ctx: &RunContext<SupportDependencies>) -> Result<String, ModelRetry> {
    let deps = ctx.deps();
    let balance = deps.db.customer_balance(deps.customer_id).await?;
    Ok(format!("${balance:.2}"))
}

fn support_agent(model: ModelRef) -> Agent<SupportDependencies, SupportOutput> {
    Agent::builder(model)
        .deps_type::<SupportDependencies>()
        .output::<SupportOutput>()
        .instructions(
            "You are a support agent in our bank, give the customer support and judge the \
             risk level of their query. Reply using the customer's name.",
        )
        .instructions_fn(|ctx: RunContext<SupportDependencies>| async move {
            let name = ctx.deps().db.customer_name(ctx.deps().customer_id).await;
            format!("The customer's name is {name:?}")
        })
        .tool(CustomerBalance)
        .build()
}

/// A deterministic stand-in for the LLM.
fn scripted_model() -> FunctionModel {
    FunctionModel::new(|messages, _| {
        let prompt = verity::messages::last_user_prompt(messages).unwrap_or_default();
        let returns = verity::messages::last_tool_returns(messages);
        let answered = messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count();
        if prompt.contains("balance") {
            match returns.first() {
                Some(balance) if balance.tool_name == "customer_balance" => {
                    ModelResponse::tool_call(
                        "final_result",
                        json!({
                            "support_advice": format!("Hello John, your current account balance is {}.", balance.content.as_str().unwrap_or("?")),
                            "block_card": false,
                            "risk": 1
                        }),
                    )
                }
                _ => ModelResponse::tool_call("customer_balance", json!({})),
            }
        } else {
            // a lost card: the first answer's risk is out of range and comes back
            let risk = if answered == 0 { 42 } else { 8 };
            ModelResponse::tool_call(
                "final_result",
                json!({
                    "support_advice": "I'm sorry to hear that, John. We are temporarily blocking your card to prevent unauthorized transactions.",
                    "block_card": true,
                    "risk": risk
                }),
            )
        }
    })
}

fn deps() -> SupportDependencies {
    SupportDependencies {
        customer_id: 123,
        db: DatabaseConn {
            customers: HashMap::from([(123, ("John", 123.45))]),
        },
    }
}

fn model_from_env() -> verity::Result<ModelRef> {
    match std::env::var("VERITY_MODEL") {
        Ok(name) if !name.is_empty() && name != "scripted" => infer_model(&name),
        _ => Ok(scripted_model().into_model()),
    }
}

#[tokio::main]
async fn main() -> verity::Result<()> {
    let agent = support_agent(model_from_env()?);
    for question in ["What is my balance?", "I just lost my card!"] {
        let result = agent.run(question).deps(deps()).await?;
        println!("{question}\n  {:?}\n  {:?}", result.output, result.usage());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_the_balance_with_the_tool_and_blocks_a_lost_card() {
        let agent = support_agent(scripted_model().into_model());
        let balance = agent.run("What is my balance?").deps(deps()).await.unwrap();
        assert_eq!(
            balance.output.support_advice,
            "Hello John, your current account balance is $123.45."
        );
        assert_eq!(balance.usage().tool_calls, 1);
        // the instructions named the customer
        let first = balance.all_messages()[0].as_request().unwrap();
        assert!(
            first
                .instructions
                .as_deref()
                .unwrap()
                .contains("The customer's name is Some(\"John\")")
        );

        let card = agent
            .run("I just lost my card!")
            .deps(deps())
            .await
            .unwrap();
        assert!(card.output.block_card);
        // risk 42 was sent back (0..=10), the second answer kept
        assert_eq!(card.output.risk, 8);
        assert_eq!(card.usage().requests, 2);
    }
}
