//! Embedders: texts in, vectors out.

use futures::future::BoxFuture;

use crate::error::EmbedError;

mod openai;
pub use openai::{OpenAIEmbedder, OpenAIEmbedderBuilder};

#[cfg(feature = "local")]
mod local;
#[cfg(feature = "local")]
mod wordpiece;
#[cfg(feature = "local")]
pub use local::LocalEmbedder;

/// Turns texts into vectors, a batch at a time.
///
/// The method returns a boxed future so that the trait is object safe: the agent's
/// `retrieve` tool holds an `Arc<dyn Embedder>`.
pub trait Embedder: Send + Sync {
    /// One vector per text, in the order given. Implementations split the batch into
    /// requests within their own limits.
    fn embed<'a>(&'a self, texts: &'a [String])
    -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>>;

    /// A name for logs and reports (the model's name).
    fn name(&self) -> &str;
}

impl<E: Embedder + ?Sized> Embedder for std::sync::Arc<E> {
    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        (**self).embed(texts)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
}
