//! How a wire API's body reaches the model: over HTTP through a [`Provider`], or
//! through another service's invocation API (AWS Bedrock's InvokeModel, feature
//! `bedrock`, in `providers::bedrock`). Wire APIs build bodies and parse answers; the
//! transport knows where they go and how they are authenticated.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::Result;
use crate::providers::Provider;

/// A service that takes a whole JSON request body and gives the whole answer's body.
pub trait InvokeTransport: Send + Sync + 'static {
    /// The provider's name (`bedrock`), shown in responses as `provider_name`.
    fn name(&self) -> &str;

    /// The base URL shown in responses as `provider_url`.
    fn public_base_url(&self) -> &str;

    /// Send `body` for `model_name`; the answer's body.
    fn invoke<'a>(&'a self, model_name: &'a str, body: Value) -> BoxFuture<'a, Result<Bytes>>;

    /// The input tokens `body` would use.
    fn count_tokens<'a>(&'a self, model_name: &'a str, body: Value) -> BoxFuture<'a, Result<u64>>;
}

/// Where a model's requests go.
#[derive(Clone)]
#[non_exhaustive]
pub enum Transport {
    /// HTTP, to the provider's endpoint with its credentials.
    Http(Provider),
    /// Another service's invocation API; streams are replayed from whole answers.
    Invoke(Arc<dyn InvokeTransport>),
}

impl Transport {
    /// The provider's name.
    pub fn name(&self) -> &str {
        match self {
            Transport::Http(p) => p.name(),
            Transport::Invoke(t) => t.name(),
        }
    }

    /// The base URL without credentials.
    pub fn public_base_url(&self) -> &str {
        match self {
            Transport::Http(p) => p.public_base_url(),
            Transport::Invoke(t) => t.public_base_url(),
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Http(p) => f.debug_tuple("Http").field(p).finish(),
            Transport::Invoke(t) => f
                .debug_struct("Invoke")
                .field("name", &t.name())
                .field("base_url", &t.public_base_url())
                .finish(),
        }
    }
}

impl From<Provider> for Transport {
    fn from(provider: Provider) -> Self {
        Transport::Http(provider)
    }
}
