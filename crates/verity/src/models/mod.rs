//! Models: one file per wire API, plus the test, function and fallback models, and the
//! local model started on demand.

pub mod anthropic;
#[cfg(feature = "bedrock")]
mod anthropic_bedrock;
#[cfg(feature = "bedrock")]
pub mod bedrock;
pub mod cohere;
pub mod fallback;
pub mod function;
pub mod gemini;
#[cfg(feature = "vertex")]
mod gemini_vertex;
pub mod infer;
pub mod local;
pub mod mistral;
pub mod openai;
pub mod openai_responses;
pub mod test;
pub(crate) mod wire;

pub use crate::model::{
    ALLOW_MODEL_REQUESTS_ENV, model_requests_allowed, set_allow_model_requests,
    with_model_requests_allowed,
};
