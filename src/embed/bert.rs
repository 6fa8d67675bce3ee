//! The BERT encoder's forward pass, ours, for both weight formats: f32 safetensors (linear
//! layers as f32 matmuls) and the int8 GGUF that [`super::quantized::quantize`] derives (linear
//! layers on our int8 kernel, [`super::int8`], and the token and position tables kept quantized,
//! their rows dequantized as they are looked up). The operations and their order are those of
//! the published model (Hugging Face's `BertModel`): embeddings summed and normalised, then per
//! layer self-attention and a feed-forward block, each added back and normalised.

use super::fastmath::{gelu_in_place, softmax_rows_in_place};
use super::int8::Int8Linear;
use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{LayerNorm, VarBuilder};
use serde::Deserialize;
use std::io::{Read, Seek};

/// What `config.json` says of the model (other keys are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// Width of the token vectors.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// The feed-forward layer's activation.
    #[serde(default)]
    pub hidden_act: Activation,
    /// Learned positions, so the longest input.
    pub max_position_embeddings: usize,
    /// Token types (segments).
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
}

/// The feed-forward activation, as `config.json` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Activation {
    /// GELU with the exact error function (`"gelu"`), what sentence encoders use.
    #[default]
    #[serde(rename = "gelu")]
    Gelu,
    /// GELU's tanh approximation.
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_approximate")]
    GeluTanh,
    /// ReLU.
    #[serde(rename = "relu")]
    Relu,
}

impl Activation {
    fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Gelu => x.gelu_erf(),
            Activation::GeluTanh => x.gelu(),
            Activation::Relu => x.relu(),
        }
    }
}

/// A linear layer `y = x·Wᵀ + b`, in f32 or int8.
enum Linear {
    F32(candle_nn::Linear),
    Int8(Int8Linear),
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::F32(l) => l.forward(x),
            Linear::Int8(l) => l.forward(x),
        }
    }

    /// `activation(x·Wᵀ + b)`. The int8 layer applies GELU (erf) with our vectorised
    /// approximation ([`gelu_in_place`], within 2e-6 of libm's), the f32 one candle's, which
    /// keeps the f32 encoder bit for bit the published model's.
    fn forward_activated(&self, x: &Tensor, activation: Activation) -> Result<Tensor> {
        match (self, activation) {
            (Linear::Int8(l), Activation::Gelu) => l.forward_then(x, gelu_in_place),
            _ => activation.apply(&self.forward(x)?),
        }
    }
}

/// A lookup table of token or position vectors, in f32 or Q8_0.
enum Table {
    F32(Tensor),
    Q8(QMatMul),
}

impl Table {
    /// The rows `ids` (`[...]`) as `[..., hidden]`.
    fn lookup(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Table::F32(table) => {
                let mut dims = ids.dims().to_vec();
                dims.push(table.dim(1)?);
                table.index_select(&ids.flatten_all()?, 0)?.reshape(dims)
            }
            Table::Q8(table) => table.embedding(ids),
        }
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// A BERT encoder: token ids in, one vector per token out.
pub struct Bert {
    words: Table,
    positions: Table,
    /// Row 0 of the token-type table: every token is of type 0 here.
    token_type: Tensor,
    norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    activation: Activation,
    /// Whether the linear layers are int8, whose encoder also takes the vectorised GELU and
    /// softmax of [`super::fastmath`].
    int8: bool,
    device: Device,
}

/// Where the weights come from: the file's tensors by their names in the published model.
trait Weights {
    fn linear(&mut self, prefix: &str, outputs: usize, inputs: usize) -> Result<Linear>;
    fn table(&mut self, name: &str, rows: usize, width: usize) -> Result<Table>;
    fn vector(&mut self, name: &str, width: usize) -> Result<Tensor>;
    fn norm(&mut self, prefix: &str, width: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm::new(self.vector(&format!("{prefix}.weight"), width)?, self.vector(&format!("{prefix}.bias"), width)?, eps))
    }
}

/// f32 safetensors, tensor names with or without a `bert.` prefix.
struct Safetensors<'a>(VarBuilder<'a>);

impl Weights for Safetensors<'_> {
    fn linear(&mut self, prefix: &str, outputs: usize, inputs: usize) -> Result<Linear> {
        Ok(Linear::F32(candle_nn::linear(inputs, outputs, self.0.pp(prefix))?))
    }

    fn table(&mut self, name: &str, rows: usize, width: usize) -> Result<Table> {
        Ok(Table::F32(self.0.get((rows, width), name)?))
    }

    fn vector(&mut self, name: &str, width: usize) -> Result<Tensor> {
        self.0.get(width, name)
    }
}

/// The int8 GGUF, read one tensor at a time as the model takes it.
struct Gguf<'a, R> {
    content: &'a gguf_file::Content,
    reader: &'a mut R,
    device: Device,
}

impl<R: Read + Seek> Gguf<'_, R> {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<QTensor> {
        if !self.content.tensor_infos.contains_key(name) {
            candle_core::bail!("tensor {name} is missing");
        }
        let tensor = self.content.tensor(self.reader, name, &self.device)?;
        if tensor.shape().dims() != shape {
            candle_core::bail!("tensor {name} has shape {:?}, the config says {shape:?}", tensor.shape().dims());
        }
        Ok(tensor)
    }
}

impl<R: Read + Seek> Weights for Gguf<'_, R> {
    fn linear(&mut self, prefix: &str, outputs: usize, inputs: usize) -> Result<Linear> {
        let weight = self.take(&format!("{prefix}.weight"), &[outputs, inputs])?;
        let bias = self.vector(&format!("{prefix}.bias"), outputs)?;
        Ok(Linear::Int8(Int8Linear::from_q8_0(&weight, &bias)?))
    }

    fn table(&mut self, name: &str, rows: usize, width: usize) -> Result<Table> {
        let table = self.take(name, &[rows, width])?;
        Ok(match table.dtype() {
            GgmlDType::F32 => Table::F32(table.dequantize(&self.device)?),
            _ => Table::Q8(QMatMul::from_qtensor(table)?),
        })
    }

    fn vector(&mut self, name: &str, width: usize) -> Result<Tensor> {
        self.take(name, &[width])?.dequantize(&self.device)
    }
}

impl Bert {
    /// Reads the encoder `config` describes from f32 safetensors bytes.
    pub fn from_safetensors(bytes: Vec<u8>, config: &Config) -> Result<Bert> {
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)?;
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        Bert::load(&mut Safetensors(vb), config)
    }

    /// Reads the encoder `config` describes from the `len`-byte int8 GGUF behind `reader`, one
    /// tensor at a time, each turned into the layer that keeps it before the next is read: a
    /// page loads the model from JavaScript memory without a copy of the file in wasm memory.
    pub fn from_gguf<R: Read + Seek>(reader: &mut R, len: usize, config: &Config) -> Result<Bert> {
        let content = crate::gguf::read_through(reader, len).map_err(candle_core::Error::Msg)?;
        crate::gguf::check_bounds(&content, len).map_err(candle_core::Error::Msg)?;
        Bert::load(&mut Gguf { content: &content, reader, device: Device::Cpu }, config)
    }

    fn load(w: &mut impl Weights, c: &Config) -> Result<Bert> {
        let (h, eps) = (c.hidden_size, c.layer_norm_eps);
        let words = w.table("embeddings.word_embeddings.weight", c.vocab_size, h)?;
        let positions = w.table("embeddings.position_embeddings.weight", c.max_position_embeddings, h)?;
        let token_types = match w.table("embeddings.token_type_embeddings.weight", c.type_vocab_size, h)? {
            Table::F32(t) => t,
            Table::Q8(_) => candle_core::bail!("the token-type table must be f32"),
        };
        let norm = w.norm("embeddings.LayerNorm", h, eps)?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                query: w.linear(&format!("{p}.attention.self.query"), h, h)?,
                key: w.linear(&format!("{p}.attention.self.key"), h, h)?,
                value: w.linear(&format!("{p}.attention.self.value"), h, h)?,
                attention_out: w.linear(&format!("{p}.attention.output.dense"), h, h)?,
                attention_norm: w.norm(&format!("{p}.attention.output.LayerNorm"), h, eps)?,
                intermediate: w.linear(&format!("{p}.intermediate.dense"), c.intermediate_size, h)?,
                output: w.linear(&format!("{p}.output.dense"), h, c.intermediate_size)?,
                output_norm: w.norm(&format!("{p}.output.LayerNorm"), h, eps)?,
            });
        }
        let heads = c.num_attention_heads;
        let int8 = layers.iter().any(|l| matches!(l.query, Linear::Int8(_)));
        Ok(Bert {
            words,
            positions,
            token_type: token_types.get(0)?,
            norm,
            layers,
            heads,
            head_dim: h / heads,
            activation: c.hidden_act,
            int8,
            device: Device::Cpu,
        })
    }

    /// Hidden states `[B, T, H]` for token ids and attention mask `[B, T]` (token type 0).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (batch, len) = ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, &self.device)?;
        let x = self.words.lookup(ids)?.broadcast_add(&self.token_type)?.broadcast_add(&self.positions.lookup(&positions)?)?;
        let mut x = self.norm.forward(&x)?;
        // 0 where a token may be attended to, the most negative float where it is padding.
        let blocked = ((1.0 - mask.to_dtype(DType::F32)?)? * f64::from(f32::MIN))?.reshape((batch, 1, 1, len))?;
        let blocked_rows = if self.int8 { blocked.flatten_all()?.to_vec1::<f32>()? } else { Vec::new() };
        let root = (self.head_dim as f64).sqrt();
        for layer in &self.layers {
            let split = |t: Tensor| t.reshape((batch, len, self.heads, self.head_dim))?.transpose(1, 2)?.contiguous();
            let q = split(layer.query.forward(&x)?)?;
            let k = split(layer.key.forward(&x)?)?;
            let v = split(layer.value.forward(&x)?)?;
            let mixed = if self.int8 {
                // One text at a time: a batch's scores at once (16 × 12 heads × 256² floats,
                // 50 MB) are too large for the allocator to reuse, and faulting their pages in
                // again for every layer cost a tenth of native indexing.
                let mut texts = Vec::with_capacity(batch);
                for b in 0..batch {
                    let (q, k) = (q.narrow(0, b, 1)?, k.narrow(0, b, 1)?);
                    let probs = attention_probs(&q.matmul(&k.t()?)?, 1.0 / root as f32, &blocked_rows[b * len..(b + 1) * len])?;
                    texts.push(probs.matmul(&v.narrow(0, b, 1)?)?);
                }
                Tensor::cat(&texts, 0)?
            } else {
                let scores = (q.matmul(&k.t()?)? / root)?.broadcast_add(&blocked)?;
                candle_nn::ops::softmax(&scores, D::Minus1)?.matmul(&v)?
            };
            let context = mixed.transpose(1, 2)?.contiguous()?.flatten_from(D::Minus2)?;
            let attended = layer.attention_norm.forward(&(layer.attention_out.forward(&context)? + &x)?)?;
            let up = layer.intermediate.forward_activated(&attended, self.activation)?;
            x = layer.output_norm.forward(&(layer.output.forward(&up)? + &attended)?)?;
        }
        Ok(x)
    }
}

/// Softmax over the keys of `scores` (`[B, heads, T, T]`) scaled by `scale`, with `blocked`
/// (`[B, T]`: 0, or the most negative float for padding) added first: one pass in place with
/// [`softmax_rows_in_place`] where candle makes three.
fn attention_probs(scores: &Tensor, scale: f32, blocked: &[f32]) -> Result<Tensor> {
    let dims = scores.dims().to_vec();
    let len = scores.dim(D::Minus1)?;
    let per_batch = scores.elem_count() / (blocked.len() / len).max(1);
    let mut values = scores.flatten_all()?.to_vec1::<f32>()?;
    for (batch, chunk) in values.chunks_exact_mut(per_batch).enumerate() {
        let bias = &blocked[batch * len..(batch + 1) * len];
        for row in chunk.chunks_exact_mut(len) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v = *v * scale + b;
            }
        }
    }
    softmax_rows_in_place(&mut values, len);
    Tensor::from_vec(values, dims, scores.device())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_config_keys_it_needs_and_the_activation() {
        let json = r#"{"vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
            "intermediate_size": 1536, "hidden_act": "gelu", "max_position_embeddings": 512, "type_vocab_size": 2,
            "layer_norm_eps": 1e-12, "pad_token_id": 0, "architectures": ["BertModel"]}"#;
        let c: Config = serde_json::from_str(json).unwrap();
        assert_eq!((c.hidden_size, c.hidden_act), (384, Activation::Gelu));
        let tanh: Config = serde_json::from_str(&json.replace("\"gelu\"", "\"gelu_pytorch_tanh\"")).unwrap();
        assert_eq!(tanh.hidden_act, Activation::GeluTanh);
        assert!(serde_json::from_str::<Config>(&json.replace("\"gelu\"", "\"swish\"")).is_err(), "an activation we do not run");
    }
}
