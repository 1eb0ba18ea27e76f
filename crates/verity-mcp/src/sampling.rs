//! Sampling: a server asks the client's model for a message (`sampling/createMessage`).

use serde_json::{Value, json};
use verity::ModelRef;
use verity::model::ModelRequestParameters;

/// Answer a sampling request (the protocol's JSON) with a Verity model: the result's
/// JSON (`role`, `content`, `model`, `stopReason`).
pub(crate) async fn sample(model: &ModelRef, params: &Value) -> verity::Result<Value> {
    let (messages, settings) = crate::client::sampling_messages(params);
    let request_params = ModelRequestParameters {
        allow_text_output: true,
        ..ModelRequestParameters::default()
    };
    let response = model
        .request_boxed(&messages, &settings, &request_params)
        .await?;
    Ok(json!({
        "role": "assistant",
        "content": {"type": "text", "text": response.text_content().unwrap_or_default()},
        "model": model.model_name(),
        "stopReason": "endTurn",
    }))
}
