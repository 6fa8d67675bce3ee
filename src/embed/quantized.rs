//! BERT-family sentence encoders with int8 weights: Q8_0 blocks (32 weights and one f16 scale)
//! in a GGUF file, a quarter of the f32 safetensors. The linear layers run on our int8 kernel
//! ([`super::int8`]: int8 dot products, wasm SIMD in the browser) and the token and position
//! tables stay quantized, their rows dequantized as they are looked up. The graph is the one of
//! candle-transformers' `BertModel`, which the f32 path runs, so the two agree up to the
//! quantization error. [`quantize`] derives the file from the f32 model.

use super::int8::Int8Linear as Linear;
use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::LayerNorm;
use candle_transformers::models::bert::Config;
use std::io::{Cursor, Read, Seek};

/// The GGUF `general.architecture` of an int8 encoder written by [`quantize`].
pub const ARCHITECTURE: &str = "bert";

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

/// An int8 BERT encoder loaded from GGUF.
pub struct QuantizedBert {
    words: QMatMul,
    positions: QMatMul,
    token_types: Tensor,
    norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    device: Device,
}

/// The tensors of a GGUF file, read one at a time as the model takes them.
struct Tensors<'a, R> {
    content: &'a gguf_file::Content,
    reader: &'a mut R,
    device: Device,
}

impl<R: Read + Seek> Tensors<'_, R> {
    fn take(&mut self, name: &str) -> Result<QTensor> {
        if !self.content.tensor_infos.contains_key(name) {
            candle_core::bail!("tensor {name} is missing");
        }
        self.content.tensor(self.reader, name, &self.device)
    }

    fn float(&mut self, name: &str) -> Result<Tensor> {
        self.take(name)?.dequantize(&self.device)
    }

    fn linear(&mut self, prefix: &str) -> Result<Linear> {
        let weight = self.take(&format!("{prefix}.weight"))?;
        Linear::from_q8_0(&weight, &self.float(&format!("{prefix}.bias"))?)
    }

    fn norm(&mut self, prefix: &str, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm::new(self.float(&format!("{prefix}.weight"))?, self.float(&format!("{prefix}.bias"))?, eps))
    }
}

impl QuantizedBert {
    /// Reads the encoder from GGUF bytes written by [`quantize`] for the model `config` describes.
    pub fn from_gguf(bytes: &[u8], config: &Config) -> Result<QuantizedBert> {
        QuantizedBert::from_reader(&mut Cursor::new(bytes), bytes.len(), config)
    }

    /// Like [`QuantizedBert::from_gguf`], reading the `len`-byte file through `reader` one
    /// tensor at a time, each turned into the layer that keeps it before the next is read: a
    /// page loads the model from JavaScript memory without a copy of the file in wasm memory.
    pub fn from_reader<R: Read + Seek>(reader: &mut R, len: usize, config: &Config) -> Result<QuantizedBert> {
        let device = Device::Cpu;
        let content = crate::gguf::read_through(reader, len).map_err(candle_core::Error::Msg)?;
        crate::gguf::check_bounds(&content, len).map_err(candle_core::Error::Msg)?;
        let mut t = Tensors { content: &content, reader, device: device.clone() };
        let eps = config.layer_norm_eps;
        let words = QMatMul::from_qtensor(t.take("embeddings.word_embeddings.weight")?)?;
        let positions = QMatMul::from_qtensor(t.take("embeddings.position_embeddings.weight")?)?;
        let token_types = t.float("embeddings.token_type_embeddings.weight")?;
        let norm = t.norm("embeddings.LayerNorm", eps)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                query: t.linear(&format!("{p}.attention.self.query"))?,
                key: t.linear(&format!("{p}.attention.self.key"))?,
                value: t.linear(&format!("{p}.attention.self.value"))?,
                attention_out: t.linear(&format!("{p}.attention.output.dense"))?,
                attention_norm: t.norm(&format!("{p}.attention.output.LayerNorm"), eps)?,
                intermediate: t.linear(&format!("{p}.intermediate.dense"))?,
                output: t.linear(&format!("{p}.output.dense"))?,
                output_norm: t.norm(&format!("{p}.output.LayerNorm"), eps)?,
            });
        }
        let heads = config.num_attention_heads;
        Ok(QuantizedBert { words, positions, token_types, norm, layers, heads, head_dim: config.hidden_size / heads, device })
    }

    /// Hidden states `[B, T, H]` for token ids and attention mask `[B, T]` (token type 0).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (batch, len) = ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, &self.device)?;
        let words = self.words.embedding(ids)?;
        let x = words.broadcast_add(&self.positions.embedding(&positions)?)?.broadcast_add(&self.token_types.get(0)?)?;
        let mut x = self.norm.forward(&x)?;
        // 0 where a token may be attended to, the most negative float where it is padding.
        let blocked = ((1.0 - mask.to_dtype(DType::F32)?)? * f64::from(f32::MIN))?.reshape((batch, 1, 1, len))?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        for layer in &self.layers {
            let split = |t: Tensor| t.reshape((batch, len, self.heads, self.head_dim))?.transpose(1, 2)?.contiguous();
            let q = split(layer.query.forward(&x)?)?;
            let k = split(layer.key.forward(&x)?)?;
            let v = split(layer.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&blocked)?;
            let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let context = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.flatten_from(D::Minus2)?;
            let attended = layer.attention_norm.forward(&(layer.attention_out.forward(&context)? + &x)?)?;
            let up = layer.intermediate.forward(&attended)?.gelu_erf()?;
            x = layer.output_norm.forward(&(layer.output.forward(&up)? + &attended)?)?;
        }
        Ok(x)
    }
}

/// Whether the f32 tensor `name` is stored as Q8_0: every matrix whose rows are whole blocks
/// (the linear layers and the token and position tables); vectors stay f32.
fn quantizes(name: &str, shape: &[usize]) -> bool {
    shape.len() == 2 && shape[1].is_multiple_of(32) && !name.contains("token_type_embeddings")
}

/// Derives the int8 GGUF from an f32 BERT in safetensors (names with or without a `bert.`
/// prefix); pooler and head tensors, which sentence embedding does not use, are left out.
pub fn quantize(safetensors: &[u8]) -> Result<Vec<u8>> {
    let tensors = candle_core::safetensors::load_buffer(safetensors, &Device::Cpu)?;
    let mut named: Vec<(String, QTensor)> = Vec::new();
    for (name, tensor) in tensors {
        let name = name.strip_prefix("bert.").unwrap_or(&name).to_string();
        if !(name.starts_with("embeddings.") || name.starts_with("encoder.")) {
            continue;
        }
        let tensor = tensor.to_dtype(DType::F32)?;
        let dtype = if quantizes(&name, tensor.dims()) { GgmlDType::Q8_0 } else { GgmlDType::F32 };
        named.push((name, QTensor::quantize(&tensor, dtype)?));
    }
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let arch = gguf_file::Value::String(ARCHITECTURE.to_string());
    let kind = gguf_file::Value::String("sentence-embedding encoder, Q8_0 weights".to_string());
    let metadata = [("general.architecture", &arch), ("general.description", &kind)];
    let refs: Vec<(&str, &QTensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &metadata, &refs)?;
    Ok(out.into_inner())
}
