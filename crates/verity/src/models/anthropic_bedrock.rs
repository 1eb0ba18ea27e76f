//! Claude on AWS Bedrock (feature `bedrock`): the Messages body through Bedrock's
//! InvokeModel transport.

use std::sync::Arc;

use crate::error::Result;
use crate::models::anthropic::AnthropicModel;
use crate::providers::bedrock::{BedrockInvokeModel, BedrockProvider};
use crate::providers::transport::Transport;

impl AnthropicModel {
    /// A Claude model on AWS Bedrock, spoken to with InvokeModel and the Messages body.
    pub fn on_bedrock(model_id: impl Into<String>, provider: BedrockProvider) -> Result<Self> {
        let transport = BedrockInvokeModel::anthropic(provider);
        Ok(Self::with_transport(
            model_id,
            Transport::Invoke(Arc::new(transport)),
        ))
    }
}
