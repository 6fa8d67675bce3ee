//! The llama forward pass on candle's quantised tensors. It computes what candle-transformers'
//! `quantized_llama` computes, op for op (the WebGPU kernels follow that order bit for bit),
//! but looks token rows up in the quantised embedding table instead of a dequantised f32 copy:
//! for SmolLM2-135M that copy was 113 MB of a 145 MB model, beside the same table kept
//! quantised for the output layer (the two are tied). On wasm SIMD its Q8_0 and Q4_1 matrices
//! are our own ([`super::q8`], [`super::q4`]): the same products, faster.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::q4::Q4Matrix;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::q8::Q8Matrix;
use candle_core::quantized::{gguf_file::Content, QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use std::collections::HashMap;
use std::io::{Read, Seek};
use std::sync::Arc;

/// Positions the rotary tables cover, so the most tokens a sequence may hold.
pub const MAX_SEQ_LEN: usize = 4096;

/// A weight matrix: candle's quantised matmul, or on wasm SIMD our kernels for Q8_0 and Q4_1
/// matrices (the same products, bit for bit).
#[derive(Clone)]
enum Matrix {
    Candle(QMatMul),
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Q8(Arc<Q8Matrix>),
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Q4(Arc<Q4Matrix>),
}

impl Matrix {
    /// The matrix of `tensor`, on our kernel where it has one.
    fn new(tensor: QTensor) -> Result<Matrix> {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if let Some(matrix) = Q8Matrix::from_qtensor(&tensor)? {
            return Ok(Matrix::Q8(Arc::new(matrix)));
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if let Some(matrix) = Q4Matrix::from_qtensor(&tensor)? {
            return Ok(Matrix::Q4(Arc::new(matrix)));
        }
        QMatMul::from_qtensor(tensor).map(Matrix::Candle)
    }

    /// `x·Wᵀ` for `x` of shape `[..., inputs]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Matrix::Candle(m) => m.forward(x),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Matrix::Q8(m) => m.forward(x),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Matrix::Q4(m) => m.forward(x),
        }
    }
}

/// The token embedding table, looked up row by row; the output layer may share it.
#[derive(Clone)]
enum Table {
    Candle(Arc<QTensor>),
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Q8(Arc<Q8Matrix>),
}

impl Table {
    /// The table of `tensor`, on our kernel where it has one.
    fn new(tensor: QTensor) -> Result<Table> {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if let Some(matrix) = Q8Matrix::from_qtensor(&tensor)? {
            return Ok(Table::Q8(Arc::new(matrix)));
        }
        Ok(Table::Candle(Arc::new(tensor)))
    }

    /// The rows of `tokens` (`[1, T]` → `[1, T, hidden]`).
    fn lookup(&self, tokens: &Tensor) -> Result<Tensor> {
        match self {
            Table::Candle(t) => t.embedding(tokens),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Table::Q8(m) => {
                let ids = tokens.flatten_all()?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
                let rows = m.rows(&ids)?;
                let mut shape = tokens.dims().to_vec();
                shape.push(rows.len() / ids.len().max(1));
                Tensor::from_vec(rows, shape, tokens.device())
            }
        }
    }

    /// The table as the output layer (tied embeddings).
    fn as_output(&self) -> Result<Matrix> {
        match self {
            Table::Candle(t) => QMatMul::from_arc(t.clone()).map(Matrix::Candle),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Table::Q8(m) => Ok(Matrix::Q8(m.clone())),
        }
    }
}

/// One transformer block's weights and its KV cache.
#[derive(Clone)]
struct Block {
    q: Matrix,
    k: Matrix,
    v: Matrix,
    out: Matrix,
    attention_norm: Tensor,
    gate: Matrix,
    up: Matrix,
    down: Matrix,
    ffn_norm: Tensor,
    cache: Option<(Tensor, Tensor)>,
}

/// Rotary position tables shared by every block.
#[derive(Clone)]
struct Rope {
    cos: Tensor,
    sin: Tensor,
}

/// A llama-family model with one KV cache. Clones share the weights (reference-counted) and
/// copy only the caches.
#[derive(Clone)]
pub struct Llama {
    embedding: Table,
    blocks: Vec<Block>,
    norm: Tensor,
    output: Matrix,
    rope: Rope,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    eps: f32,
    neg_inf: Tensor,
    /// Causal masks by (new tokens, attended tokens), made once each.
    masks: HashMap<(usize, usize), Tensor>,
}

impl Llama {
    /// Reads the weights a validated llama GGUF header describes through `reader`, one tensor
    /// at a time.
    pub fn from_gguf<R: Read + Seek>(content: &Content, reader: &mut R, device: &Device) -> Result<Llama> {
        let md = |key: &str| content.metadata.get(key).ok_or_else(|| candle_core::Error::Msg(format!("missing {key}")));
        if md("llama.expert_count").and_then(|v| v.to_u32()).unwrap_or(0) > 1 {
            candle_core::bail!("mixture-of-experts models are not supported");
        }
        let heads = md("llama.attention.head_count")?.to_u32()? as usize;
        let kv_heads = md("llama.attention.head_count_kv")?.to_u32()? as usize;
        let blocks = md("llama.block_count")?.to_u32()? as usize;
        let hidden = md("llama.embedding_length")?.to_u32()? as usize;
        let rope_dim = md("llama.rope.dimension_count")?.to_u32()? as usize;
        let eps = md("llama.attention.layer_norm_rms_epsilon")?.to_f32()?;
        let freq_base = md("llama.rope.freq_base").and_then(|v| v.to_f32()).unwrap_or(10000.0);
        let mut tensor = |name: &str| content.tensor(reader, name, device);
        let embedding = Table::new(tensor("token_embd.weight")?)?;
        let norm = tensor("output_norm.weight")?.dequantize(device)?;
        let output = match tensor("output.weight") {
            Ok(output) => Matrix::new(output)?,
            Err(_) => embedding.as_output()?,
        };
        let mut weights = Vec::with_capacity(blocks);
        for i in 0..blocks {
            let mut matrix = |name: &str| Matrix::new(tensor(&format!("blk.{i}.{name}.weight"))?);
            let (q, k, v, out) = (matrix("attn_q")?, matrix("attn_k")?, matrix("attn_v")?, matrix("attn_output")?);
            let (gate, up, down) = (matrix("ffn_gate")?, matrix("ffn_up")?, matrix("ffn_down")?);
            let mut vector = |name: &str| tensor(&format!("blk.{i}.{name}.weight"))?.dequantize(device);
            let (attention_norm, ffn_norm) = (vector("attn_norm")?, vector("ffn_norm")?);
            weights.push(Block { q, k, v, out, attention_norm, gate, up, down, ffn_norm, cache: None });
        }
        Ok(Llama {
            embedding,
            blocks: weights,
            norm,
            output,
            rope: Rope::new(rope_dim, freq_base, device)?,
            heads,
            kv_heads,
            head_dim: hidden / heads,
            eps,
            neg_inf: Tensor::new(f32::NEG_INFINITY, device)?,
            masks: HashMap::new(),
        })
    }

    /// Forgets every cached key and value.
    pub fn clear_kv_cache(&mut self) {
        for block in &mut self.blocks {
            block.cache = None;
        }
    }

    /// Feeds `tokens` (`[1, T]`) at positions from `start` on and returns the last one's
    /// next-token logits (`[1, vocab]`).
    pub fn forward(&mut self, tokens: &Tensor, start: usize) -> Result<Tensor> {
        let (_, len) = tokens.dims2()?;
        let mask = if len == 1 { None } else { Some(self.mask(len, start, tokens.device())?) };
        let shape = Shape { rope: &self.rope, heads: self.heads, kv_heads: self.kv_heads, head_dim: self.head_dim, neg_inf: &self.neg_inf };
        let mut x = self.embedding.lookup(tokens)?;
        for block in &mut self.blocks {
            let normed = candle_nn::ops::rms_norm(&x, &block.attention_norm, self.eps)?;
            let attended = attend(block, &normed, mask.as_ref(), start, &shape)?;
            let x1 = (attended + &x)?;
            let normed = candle_nn::ops::rms_norm(&x1, &block.ffn_norm, self.eps)?;
            let gated = (candle_nn::ops::silu(&block.gate.forward(&normed)?)? * block.up.forward(&normed)?)?;
            x = (block.down.forward(&gated)? + &x1)?;
        }
        let x = candle_nn::ops::rms_norm(&x, &self.norm, self.eps)?;
        self.output.forward(&x.i((.., len - 1, ..))?)
    }

    /// The causal mask for `len` new tokens after `start` cached ones: 1 where a token may not
    /// look.
    fn mask(&mut self, len: usize, start: usize, device: &Device) -> Result<Tensor> {
        let total = start + len;
        if let Some(mask) = self.masks.get(&(len, total)) {
            return Ok(mask.clone());
        }
        let cells: Vec<u8> = (0..len).flat_map(|i| (0..total).map(move |j| u8::from(j > start + i))).collect();
        let mask = Tensor::from_slice(&cells, (len, total), device)?;
        self.masks.insert((len, total), mask.clone());
        Ok(mask)
    }
}

/// The model-wide values a block's attention reads, borrowed apart from the blocks so that
/// each block's cache can be updated while they are read.
struct Shape<'a> {
    rope: &'a Rope,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    neg_inf: &'a Tensor,
}

/// Self-attention of one block over its cache and the new tokens `x` (`[1, T, hidden]`).
fn attend(block: &mut Block, x: &Tensor, mask: Option<&Tensor>, start: usize, model: &Shape<'_>) -> Result<Tensor> {
    let (batch, len, hidden) = x.dims3()?;
    let heads = |t: Tensor, n: usize| t.reshape((batch, len, n, model.head_dim))?.transpose(1, 2);
    let q = heads(block.q.forward(x)?, model.heads)?;
    let k = heads(block.k.forward(x)?, model.kv_heads)?;
    let v = heads(block.v.forward(x)?, model.kv_heads)?.contiguous()?;
    let q = model.rope.apply(&q, start)?;
    let k = model.rope.apply(&k, start)?;
    let (k, v) = match &block.cache {
        Some((k_cache, v_cache)) if start > 0 => (Tensor::cat(&[k_cache, &k], 2)?, Tensor::cat(&[v_cache, &v], 2)?),
        _ => (k, v),
    };
    block.cache = Some((k.clone(), v.clone()));
    let repeat = model.heads / model.kv_heads;
    let k = repeat_heads(k, repeat)?;
    let v = repeat_heads(v, repeat)?;
    let scores = (q.matmul(&k.t()?)? / (model.head_dim as f64).sqrt())?;
    let scores = match mask {
        None => scores,
        Some(mask) => {
            let mask = mask.broadcast_as(scores.shape())?;
            mask.where_cond(&model.neg_inf.broadcast_as(scores.shape().dims())?, &scores)?
        }
    };
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    let y = probs.matmul(&v.contiguous()?)?;
    let y = y.transpose(1, 2)?.reshape(&[batch, len, hidden])?;
    block.out.forward(&y)
}

/// Repeats each of the `[B, kv_heads, T, D]` key or value heads `n` times, for grouped-query
/// attention.
fn repeat_heads(t: Tensor, n: usize) -> Result<Tensor> {
    if n == 1 {
        return Ok(t);
    }
    let (batch, kv_heads, len, dim) = t.dims4()?;
    Tensor::cat(&vec![&t; n], 2)?.reshape((batch, kv_heads * n, len, dim))
}

impl Rope {
    /// Cosines and sines of position × frequency for `dim` rotated dimensions.
    fn new(dim: usize, base: f32, device: &Device) -> Result<Rope> {
        let inverse: Vec<f32> = (0..dim).step_by(2).map(|i| 1f32 / base.powf(i as f32 / dim as f32)).collect();
        let inverse = Tensor::new(inverse.as_slice(), device)?;
        let positions = Tensor::arange(0, MAX_SEQ_LEN as u32, device)?.to_dtype(DType::F32)?.reshape((MAX_SEQ_LEN, 1))?;
        let angles = positions.matmul(&inverse.reshape((1, inverse.elem_count()))?)?;
        Ok(Rope { cos: angles.cos()?, sin: angles.sin()? })
    }

    /// Rotates `x` (`[B, heads, T, D]`, pairs interleaved as in llama's GGUF) for positions from
    /// `start` on.
    fn apply(&self, x: &Tensor, start: usize) -> Result<Tensor> {
        let len = x.dim(2)?;
        let cos = self.cos.narrow(0, start, len)?;
        let sin = self.sin.narrow(0, start, len)?;
        candle_nn::rotary_emb::rope_i(&x.contiguous()?, &cos, &sin)
    }
}
