//! Three ways to reach AWS Bedrock: the default credential chain, explicit keys, and a
//! client you built yourself.
//!
//! ```text
//! cargo run -p verity --features bedrock --example bedrock_providers
//! ```
//!
//! Building the providers needs no network. Set `VERITY_BEDROCK_MODEL` (e.g.
//! `us.anthropic.claude-sonnet-4-20250514-v1:0`) to also ask that model a question with
//! the default chain's credentials.

use verity::models::bedrock::BedrockConverseModel;
use verity::prelude::*;
use verity::providers::bedrock::BedrockProvider;

#[tokio::main]
async fn main() -> verity::Result<()> {
    // 1. The standard AWS configuration: env vars, profiles, SSO, instance roles.
    let default_chain = BedrockProvider::from_env().await?;

    // 2. Explicit keys (and region); the secret never shows in Debug output or errors.
    let explicit = BedrockProvider::builder()
        .region("us-east-1")
        .credentials("AKIDEXAMPLE", "example-secret-key", None)
        .build()
        .await?;

    // 3. A client configured by your own code (retries, endpoints, interceptors, ...).
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .load()
        .await;
    let prebuilt = BedrockProvider::from_client(aws_sdk_bedrockruntime::Client::new(&config));

    for (name, provider) in [
        ("default chain", &default_chain),
        ("explicit keys", &explicit),
        ("pre-built client", &prebuilt),
    ] {
        println!("{name}: {provider:?}");
    }

    if let Ok(model_id) = std::env::var("VERITY_BEDROCK_MODEL") {
        let agent =
            Agent::builder(BedrockConverseModel::with_provider(model_id, default_chain)).build();
        let result = agent.run("Where were the olympics held in 2012?").await?;
        println!("{}\n{:?}", result.output, result.usage());
    }
    Ok(())
}
