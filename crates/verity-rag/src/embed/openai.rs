//! An OpenAI-compatible embeddings endpoint: `POST {base}/embeddings`.

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::Embedder;
use crate::error::EmbedError;

/// A client of an OpenAI-compatible embeddings endpoint (OpenAI, llama.cpp's server,
/// vLLM, Ollama's `/v1`, ...).
///
/// A batch is split into requests that stay within the provider's limits: at most
/// [`max_inputs`](OpenAIEmbedderBuilder::max_inputs) inputs and at most
/// [`max_chars`](OpenAIEmbedderBuilder::max_chars) characters per request (characters
/// stand for tokens: a token is roughly four characters of English). Requests are sent
/// one after the other. The key is kept in a `SecretString`: it never appears in
/// `Debug`, logs or errors.
#[derive(Clone)]
pub struct OpenAIEmbedder {
    client: reqwest::Client,
    base_url: String,
    model: String,
    api_key: Option<SecretString>,
    max_inputs: usize,
    max_chars: usize,
    dimensions: Option<usize>,
}

impl fmt::Debug for OpenAIEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAIEmbedder")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("max_inputs", &self.max_inputs)
            .field("max_chars", &self.max_chars)
            .field("dimensions", &self.dimensions)
            .finish()
    }
}

/// Builds an [`OpenAIEmbedder`].
#[derive(Default)]
pub struct OpenAIEmbedderBuilder {
    base_url: Option<String>,
    model: Option<String>,
    api_key: Option<SecretString>,
    max_inputs: Option<usize>,
    max_chars: Option<usize>,
    dimensions: Option<usize>,
    timeout: Option<Duration>,
}

impl fmt::Debug for OpenAIEmbedderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAIEmbedderBuilder")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

impl OpenAIEmbedderBuilder {
    /// The endpoint's base URL (`https://api.openai.com/v1` by default); requests go to
    /// `{base}/embeddings`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// The embedding model (`text-embedding-3-small` by default).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    /// The bearer key (none by default: local servers need none).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }
    /// The key from an environment variable, when it is set.
    pub fn api_key_from_env(mut self, var: &str) -> Self {
        if let Ok(key) = std::env::var(var) {
            self.api_key = Some(SecretString::from(key));
        }
        self
    }
    /// At most this many inputs per request (2048, OpenAI's limit, by default).
    pub fn max_inputs(mut self, n: usize) -> Self {
        self.max_inputs = Some(n.max(1));
        self
    }
    /// At most this many characters per request (100,000 by default, well under
    /// OpenAI's 300,000 tokens per request).
    pub fn max_chars(mut self, n: usize) -> Self {
        self.max_chars = Some(n.max(1));
        self
    }
    /// Ask for vectors of this many dimensions (models that can shorten them).
    pub fn dimensions(mut self, n: usize) -> Self {
        self.dimensions = Some(n);
        self
    }
    /// The per-request timeout (60 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// The embedder.
    pub fn build(self) -> Result<OpenAIEmbedder, EmbedError> {
        let client = reqwest::Client::builder()
            .timeout(self.timeout.unwrap_or(Duration::from_secs(60)))
            .build()
            .map_err(|e| EmbedError::Transport(e.to_string()))?;
        Ok(OpenAIEmbedder {
            client,
            base_url: self
                .base_url
                .unwrap_or_else(|| "https://api.openai.com/v1".into())
                .trim_end_matches('/')
                .to_owned(),
            model: self
                .model
                .unwrap_or_else(|| "text-embedding-3-small".into()),
            api_key: self.api_key,
            max_inputs: self.max_inputs.unwrap_or(2048),
            max_chars: self.max_chars.unwrap_or(100_000),
            dimensions: self.dimensions,
        })
    }
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

impl OpenAIEmbedder {
    /// A builder.
    pub fn builder() -> OpenAIEmbedderBuilder {
        OpenAIEmbedderBuilder::default()
    }

    /// How a batch is split into requests: ranges of input positions, each within the
    /// input and character limits. An input longer than the character limit is an error.
    pub fn plan_requests(
        &self,
        texts: &[String],
    ) -> Result<Vec<std::ops::Range<usize>>, EmbedError> {
        let mut out = Vec::new();
        let (mut start, mut chars) = (0usize, 0usize);
        for (i, t) in texts.iter().enumerate() {
            let n = t.chars().count();
            if n > self.max_chars {
                return Err(EmbedError::InputTooLarge {
                    index: i,
                    chars: n,
                    limit: self.max_chars,
                });
            }
            if i > start && (i - start >= self.max_inputs || chars + n > self.max_chars) {
                out.push(start..i);
                start = i;
                chars = 0;
            }
            chars += n;
        }
        if start < texts.len() {
            out.push(start..texts.len());
        }
        Ok(out)
    }

    async fn request(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut body = json!({"model": self.model, "input": inputs});
        if let (Some(d), Some(obj)) = (self.dimensions, body.as_object_mut()) {
            obj.insert("dimensions".into(), json!(d));
        }
        let mut req = self
            .client
            .post(format!("{}/embeddings", self.base_url))
            .json(&body);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key.expose_secret());
        }
        // reqwest's errors name the URL, never the headers, so the key cannot leak here
        let resp = req
            .send()
            .await
            .map_err(|e| EmbedError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp
            .text()
            .await
            .map_err(|e| EmbedError::Transport(e.without_url().to_string()))?;
        if status.as_u16() == 429 {
            return Err(EmbedError::RateLimited {
                body: text,
                retry_after,
            });
        }
        if !status.is_success() {
            return Err(EmbedError::Http {
                status: status.as_u16(),
                body: text,
            });
        }
        let parsed: EmbeddingsResponse =
            serde_json::from_str(&text).map_err(|e| EmbedError::Decode(e.to_string()))?;
        if parsed.data.len() != inputs.len() {
            return Err(EmbedError::Decode(format!(
                "{} embeddings for {} inputs",
                parsed.data.len(),
                inputs.len()
            )));
        }
        // the items carry their input's index; servers may answer out of order
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; inputs.len()];
        for (pos, item) in parsed.data.into_iter().enumerate() {
            let i = item.index.unwrap_or(pos);
            match slots.get_mut(i) {
                Some(slot @ None) => *slot = Some(item.embedding),
                _ => return Err(EmbedError::Decode(format!("bad or repeated index {i}"))),
            }
        }
        slots
            .into_iter()
            .map(|s| s.ok_or_else(|| EmbedError::Decode("an input got no embedding".into())))
            .collect()
    }
}

impl Embedder for OpenAIEmbedder {
    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(texts.len());
            for range in self.plan_requests(texts)? {
                let batch = texts.get(range).unwrap_or_default();
                tracing::debug!(inputs = batch.len(), model = %self.model, "embeddings request");
                out.extend(self.request(batch).await?);
            }
            Ok(out)
        })
    }

    fn name(&self) -> &str {
        &self.model
    }
}
