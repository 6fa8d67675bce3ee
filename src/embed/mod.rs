//! Embedding: a BERT-family sentence encoder (default all-MiniLM-L6-v2) on candle, pooled and
//! normalised exactly as sentence-transformers does, so vectors match the published model. The
//! weights are f32 safetensors or the int8 GGUF that [`quantized::quantize`] derives from them.

pub mod bert;
mod cache;
mod fastmath;
mod int8;
pub mod quantized;
mod recent;

pub use cache::{CacheError, EmbeddingCache, CACHE_MAGIC, CACHE_VERSION};
pub use recent::Recent;

use crate::gpu::{BertShape, GpuEmbedder, GpuError};
use crate::tokenize::WordPiece;
use bert::{Bert, Config};
use candle_core::{DType, Device, Tensor};
use std::io::{Read, Seek, SeekFrom};
use thiserror::Error;

/// Why the embedder could not be loaded or could not embed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// `config.json` is not a BERT configuration.
    #[error("embedder config is not a BERT config.json: {0}")]
    Config(String),
    /// `tokenizer.json` could not be read.
    #[error("embedder tokenizer.json is invalid: {0}")]
    Tokenizer(String),
    /// The weights are not safetensors for the configured BERT model.
    #[error("embedder weights do not fit a BERT model with this config: {0}")]
    Weights(String),
    /// The model failed while running.
    #[error("embedding failed: {0}")]
    Compute(String),
}

impl EmbedError {
    /// A stable, machine-readable name for this error, the `code` JavaScript callers see.
    pub fn code(&self) -> &'static str {
        match self {
            EmbedError::Config(_) | EmbedError::Tokenizer(_) | EmbedError::Weights(_) => "model_invalid",
            EmbedError::Compute(_) => "compute",
        }
    }
}

/// Tokens the embedder reads per text, like sentence-transformers' `max_seq_length` for MiniLM.
pub const MAX_TOKENS: usize = 256;
/// Texts embedded together in one forward pass, at most.
pub const BATCH_SIZE: usize = 16;
/// A batch's longest text is at most this many percent of its shortest (in bytes). Texts are
/// padded to the longest, so a short sentence batched with a long one costs as much as the long
/// one: an extract's sixteen sentences, in one batch, cost several times their own tokens.
const LONGEST_PERCENT: usize = 150;
/// Texts shorter than this count as this long when batching (padding a few tokens costs little).
const SHORT_TEXT: usize = 64;

/// The indices of `texts`, shortest first, cut into batches of at most `max` texts whose
/// lengths differ by at most [`LONGEST_PERCENT`].
fn batches(texts: &[&str], max: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match out.last_mut() {
            Some(batch) if batch.len() < max.max(1) && 100 * texts[i].len() <= LONGEST_PERCENT * texts[batch[0]].len().max(SHORT_TEXT) => batch.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

/// A loaded sentence encoder that turns texts into unit-length vectors.
pub struct Embedder {
    /// The encoder, its weights in f32 or int8.
    model: Bert,
    /// The model's WordPiece tokenizer, for embedding (truncated at the window) and for
    /// measuring text (not truncated).
    tokenizer: WordPiece,
    /// Tokens the encoder reads per text, `[CLS]` and `[SEP]` included.
    max_tokens: usize,
    device: Device,
    dim: usize,
    fingerprint: String,
    shape: BertShape,
    /// The GPU engine for [`Embedder::embed_async`], if attached.
    gpu: Option<GpuEmbedder>,
    /// Why the GPU engine was dropped.
    gpu_error: Option<GpuError>,
}

impl Embedder {
    /// Loads the encoder from the bytes of its weights (`model.safetensors`, or the int8 GGUF),
    /// `config.json` and `tokenizer.json`, so it works the same from files, the network or a
    /// browser cache.
    pub fn from_bytes(weights: &[u8], config_bytes: &[u8], tokenizer_bytes: &[u8]) -> Result<Self, EmbedError> {
        Embedder::from_reader(&mut std::io::Cursor::new(weights), weights.len() as u64, config_bytes, tokenizer_bytes)
    }

    /// Like [`Embedder::from_bytes`], reading the `len`-byte weights file through `reader`: an
    /// int8 GGUF is read one tensor at a time, so a page loads it from JavaScript memory
    /// without a copy of the file in wasm memory (safetensors are read whole).
    pub fn from_reader<R: Read + Seek>(reader: &mut R, len: u64, config_bytes: &[u8], tokenizer_bytes: &[u8]) -> Result<Self, EmbedError> {
        let weights_error = |e: String| EmbedError::Weights(e);
        let len = usize::try_from(len).map_err(|_| weights_error("file too large".into()))?;
        let config: Config = serde_json::from_slice(config_bytes).map_err(|e| EmbedError::Config(e.to_string()))?;
        validate(&config)?;
        let dim = config.hidden_size;
        let max_tokens = MAX_TOKENS.min(config.max_position_embeddings);
        let tokenizer = WordPiece::from_json(tokenizer_bytes).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let device = Device::Cpu;
        let model = if crate::gguf::is_gguf_through(reader, len).map_err(weights_error)? {
            Bert::from_gguf(reader, len, &config)
        } else {
            let mut weights = Vec::new();
            reader.seek(SeekFrom::Start(0)).and_then(|_| reader.read_to_end(&mut weights)).map_err(|e| EmbedError::Weights(e.to_string()))?;
            Bert::from_safetensors(weights, &config)
        }
        .map_err(|e| EmbedError::Weights(e.to_string()))?;
        let fingerprint = fingerprint(config_bytes, tokenizer_bytes);
        let shape = BertShape {
            hidden: config.hidden_size,
            heads: config.num_attention_heads,
            layers: config.num_hidden_layers,
            intermediate: config.intermediate_size,
            max_positions: config.max_position_embeddings,
            eps: config.layer_norm_eps as f32,
            exact_gelu: config.hidden_act == bert::Activation::Gelu,
        };
        Ok(Embedder { model, tokenizer, max_tokens, device, dim, fingerprint, shape, gpu: None, gpu_error: None })
    }

    /// Identifies the model by its config and vocabulary, so an index refuses queries embedded
    /// by a different model (whose vectors would be meaningless against it).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Length of the vectors this model produces (384 for MiniLM).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of wordpiece tokens in `text`, without `[CLS]`/`[SEP]`; used to size passages.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer.count(text)
    }

    /// Embeds one text (e.g. a query).
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed_batch(&[text])?.remove(0))
    }

    /// Embeds many texts, batching texts of similar length together; the output keeps input order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_with_progress(texts, &mut |_| {})
    }

    /// Like [`Embedder::embed`], calling `progress` with the number of texts done after each batch.
    /// Natively the batches are shared among one thread per core (each batch's vectors are the
    /// same whichever thread embeds it); in wasm they run one after the other.
    pub fn embed_with_progress(&self, texts: &[&str], progress: &mut dyn FnMut(usize)) -> Result<Vec<Vec<f32>>, EmbedError> {
        let batches = batches(texts, BATCH_SIZE);
        let mut out = vec![Vec::new(); texts.len()];
        let mut done = 0;
        let mut keep = |batch: &[usize], vectors: Vec<Vec<f32>>| {
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
            done += batch.len();
            progress(done);
        };
        let embed = |batch: &[usize]| self.embed_batch(&batch.iter().map(|&i| texts[i]).collect::<Vec<_>>());
        #[cfg(not(target_arch = "wasm32"))]
        {
            let threads = std::thread::available_parallelism().map_or(1, usize::from).min(batches.len());
            if threads > 1 {
                return parallel::embed_batches(&batches, threads, embed, keep).map(|()| out);
            }
        }
        for batch in &batches {
            keep(batch, embed(batch)?);
        }
        Ok(out)
    }

    /// The encoder's sizes, to build its GPU engine ([`GpuEmbedder::from_weights`]).
    pub fn bert_shape(&self) -> BertShape {
        self.shape
    }

    /// Attaches a GPU engine for [`Embedder::embed_async`]; the CPU model stays as fallback.
    pub fn attach_gpu(&mut self, engine: GpuEmbedder) {
        self.gpu = Some(engine);
        self.gpu_error = None;
    }

    /// Whether a GPU engine is attached (and has not failed).
    pub fn has_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    /// Why the GPU engine was dropped, if it failed.
    pub fn gpu_error(&self) -> Option<&GpuError> {
        self.gpu_error.as_ref()
    }

    /// Like [`Embedder::embed`], on the attached GPU engine, one submit per batch of similar
    /// lengths. If the GPU fails the engine is dropped (see [`Embedder::gpu_error`]) and the
    /// rest is embedded on the CPU; without an engine this is [`Embedder::embed`].
    pub async fn embed_async(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = vec![Vec::new(); texts.len()];
        let batch_size = self.gpu.as_ref().map_or(BATCH_SIZE, GpuEmbedder::max_batch);
        for batch in batches(texts, batch_size) {
            let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            let vectors = if self.gpu.is_some() {
                let (ids, mask, len) = self.encode(&batch_texts)?;
                let gpu = self.gpu.as_mut().ok_or_else(|| EmbedError::Compute("GPU engine vanished".into()))?;
                match gpu.embed(&ids, &mask, len).await {
                    Ok(vectors) => vectors,
                    Err(e) => {
                        self.gpu = None;
                        self.gpu_error = Some(e);
                        self.embed_batch(&batch_texts)?
                    }
                }
            } else {
                self.embed_batch(&batch_texts)?
            };
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Token ids and attention masks of `texts`, each padded to the longest: `(ids, mask, len)`.
    fn encode(&self, texts: &[&str]) -> Result<(Vec<u32>, Vec<u32>, usize), EmbedError> {
        let encodings: Vec<Vec<u32>> = texts.iter().map(|t| self.tokenizer.encode(t, true, Some(self.max_tokens))).collect();
        let len = encodings.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut ids = vec![0u32; texts.len() * len];
        let mut mask = vec![0u32; texts.len() * len];
        for (row, enc) in encodings.iter().enumerate() {
            ids[row * len..row * len + enc.len()].copy_from_slice(enc);
            mask[row * len..row * len + enc.len()].fill(1);
        }
        Ok((ids, mask, len))
    }

    /// One forward pass over texts padded to the longest; mean-pools over the attention mask
    /// (padding excluded) and L2-normalises.
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let compute = |e: candle_core::Error| EmbedError::Compute(e.to_string());
        let (ids, mask, len) = self.encode(texts)?;
        let shape = (texts.len(), len);
        let ids = Tensor::from_vec(ids, shape, &self.device).map_err(compute)?;
        let mask = Tensor::from_vec(mask, shape, &self.device).map_err(compute)?;
        let hidden = self.model.forward(&ids, &mask).map_err(compute)?;
        let pooled = mean_pool(&hidden, &mask).map_err(compute)?;
        let rows: Vec<Vec<f32>> = pooled.to_vec2().map_err(compute)?;
        Ok(rows.into_iter().map(normalize).collect())
    }
}

/// Batches embedded on several threads, natively.
#[cfg(not(target_arch = "wasm32"))]
mod parallel {
    use super::EmbedError;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    /// Embeds `batches` with `embed` on `threads` threads, each taking the next batch not yet
    /// taken, and hands every batch's vectors to `keep` on this thread as they come. The first
    /// error stops the threads from taking more batches and is returned.
    pub fn embed_batches(
        batches: &[Vec<usize>],
        threads: usize,
        embed: impl Fn(&[usize]) -> Result<Vec<Vec<f32>>, EmbedError> + Sync,
        mut keep: impl FnMut(&[usize], Vec<Vec<f32>>),
    ) -> Result<(), EmbedError> {
        let next = AtomicUsize::new(0);
        let (next, embed) = (&next, &embed);
        std::thread::scope(|scope| {
            let (sender, receiver) = mpsc::channel();
            for _ in 0..threads {
                let sender = sender.clone();
                scope.spawn(move || {
                    while let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if sender.send((batch, embed(batch))).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(sender);
            for (batch, vectors) in receiver {
                match vectors {
                    Ok(vectors) => keep(batch, vectors),
                    Err(e) => {
                        next.store(batches.len(), Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            Ok(())
        })
    }
}

/// Mean of the token vectors weighted by the attention mask: `[B, T, H]`, `[B, T]` → `[B, H]`.
fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    summed.broadcast_div(&counts)
}

/// Scales a vector to unit length (a zero vector stays zero).
pub fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// First 16 hex digits of SHA-256 over the config and tokenizer files.
fn fingerprint(config: &[u8], tokenizer: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(config);
    h.update(tokenizer);
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Rejects configs that would make the model's shape arithmetic fail (e.g. zero heads), so a
/// wrong file gives an error instead of a panic.
fn validate(c: &Config) -> Result<(), EmbedError> {
    let bad = |what: &str| Err(EmbedError::Config(what.to_string()));
    if c.hidden_size == 0 || c.num_attention_heads == 0 || c.num_hidden_layers == 0 {
        return bad("hidden_size, num_attention_heads and num_hidden_layers must be positive");
    }
    if !c.hidden_size.is_multiple_of(c.num_attention_heads) {
        return bad("hidden_size must be a multiple of num_attention_heads");
    }
    if c.vocab_size == 0 || c.max_position_embeddings < 2 || c.type_vocab_size == 0 {
        return bad("vocab_size, type_vocab_size and max_position_embeddings must be positive");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{batches, EmbedError};

    /// Batches shared among threads come back whole, each to its own texts, and an error in
    /// one batch is returned.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn batches_on_threads_keep_their_texts_and_stop_at_an_error() {
        let batches: Vec<Vec<usize>> = (0..40).map(|b| vec![2 * b, 2 * b + 1]).collect();
        let embed = |batch: &[usize]| Ok(batch.iter().map(|&i| vec![i as f32]).collect());
        let mut out = vec![None; 80];
        super::parallel::embed_batches(&batches, 3, embed, |batch, vectors| {
            for (&i, v) in batch.iter().zip(vectors) {
                assert!(out[i].replace(v).is_none(), "text {i} twice");
            }
        })
        .unwrap();
        assert_eq!(out, (0..80).map(|i| Some(vec![i as f32])).collect::<Vec<_>>());
        let failing = |batch: &[usize]| if batch[0] == 20 { Err(EmbedError::Compute("batch 10".into())) } else { embed(batch) };
        let got = super::parallel::embed_batches(&batches, 3, failing, |_, _| {});
        assert!(matches!(got, Err(EmbedError::Compute(m)) if m == "batch 10"));
    }

    #[test]
    fn batches_hold_texts_of_similar_length() {
        let long = "x".repeat(400);
        let texts: Vec<String> = [10, 300, 20, 90, 12, 100, 30, 400, 95, 250].iter().map(|&n| "x".repeat(n)).chain([long]).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let got = batches(&texts, 3);
        let mut seen: Vec<usize> = got.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..texts.len()).collect::<Vec<_>>(), "every text once");
        let lengths: Vec<Vec<usize>> = got.iter().map(|b| b.iter().map(|&i| texts[i].len()).collect()).collect();
        assert_eq!(lengths, vec![vec![10, 12, 20], vec![30, 90, 95], vec![100], vec![250, 300], vec![400, 400]]);
    }
}
