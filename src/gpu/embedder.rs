//! The BERT sentence encoder (all-MiniLM-L6-v2 and its family) on the GPU: f32 weights
//! uploaded once, a padded batch of token rows per submit through tiled dense layers (bias and
//! GELU fused), masked attention, layer norms, and masked mean pooling with L2 normalisation,
//! so only the pooled vectors are read back. Tokenisation stays on the CPU (the embedder's).

use super::runtime::{compile, Alloc, Dispatch};
use super::{Gpu, GpuError};
use candle_core::{DType, Device};
use std::collections::HashMap;

/// Longest sequence the attention kernel holds in workgroup memory.
const MAX_SEQ: usize = 512;

/// The encoder's sizes, from its config.json.
#[derive(Debug, Clone, Copy)]
pub struct BertShape {
    /// Width of the token vectors.
    pub hidden: usize,
    /// Attention heads per layer.
    pub heads: usize,
    /// Encoder layers.
    pub layers: usize,
    /// Width of the feed-forward layer.
    pub intermediate: usize,
    /// Learned positions (the longest input).
    pub max_positions: usize,
    /// Layer-norm epsilon.
    pub eps: f32,
    /// Whether the feed-forward activation is GELU with the exact error function, the only
    /// one the kernels compute.
    pub exact_gelu: bool,
}

/// How many workgroups a launch needs for a batch.
#[derive(Clone, Copy)]
enum Grid {
    /// One thread per element of `width`-wide rows, in workgroups of 64.
    Elements(usize),
    /// One workgroup per token row.
    Rows,
    /// 16×16 output tiles of a dense layer with `outputs` columns.
    Tiles(usize),
    /// One workgroup per (token row, head).
    Heads(usize),
    /// One workgroup per sequence.
    Sequences,
}

/// A BERT encoder on the GPU, for batches of at most `max_batch` sequences.
pub struct GpuEmbedder {
    gpu: Gpu,
    shape: BertShape,
    max_batch: usize,
    max_seq: usize,
    batch: wgpu::Buffer,
    ids: wgpu::Buffer,
    mask: wgpu::Buffer,
    out: wgpu::Buffer,
    staging: wgpu::Buffer,
    graph: Vec<(Dispatch, Grid)>,
}

impl std::fmt::Debug for GpuEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuEmbedder").field("shape", &self.shape).field("max_batch", &self.max_batch).finish()
    }
}

fn unsupported(what: impl Into<String>) -> GpuError {
    GpuError::Unsupported(what.into())
}

/// Every tensor of `model.safetensors`, or of a GGUF file dequantized to f32, by name.
fn read_tensors(weights: &[u8]) -> Result<std::collections::HashMap<String, candle_core::Tensor>, GpuError> {
    if !weights.starts_with(b"GGUF") {
        return candle_core::safetensors::load_buffer(weights, &Device::Cpu).map_err(|e| unsupported(format!("unreadable safetensors: {e}")));
    }
    let bad = |e: candle_core::Error| unsupported(format!("unreadable GGUF: {e}"));
    let mut reader = std::io::Cursor::new(weights);
    let content = candle_core::quantized::gguf_file::Content::read(&mut reader).map_err(bad)?;
    let names: Vec<String> = content.tensor_infos.keys().cloned().collect();
    names.into_iter().map(|n| Ok((n.clone(), content.tensor(&mut reader, &n, &Device::Cpu).and_then(|t| t.dequantize(&Device::Cpu)).map_err(bad)?))).collect()
}

impl GpuEmbedder {
    /// Uploads a BERT encoder from its weights (`model.safetensors`, or the int8 GGUF, which is
    /// dequantized: the kernels run in f32), for batches of up to `max_batch` sequences of up to
    /// `max_seq` tokens.
    pub async fn from_weights(gpu: &Gpu, weights: &[u8], shape: BertShape, max_batch: usize, max_seq: usize) -> Result<GpuEmbedder, GpuError> {
        let tensors = read_tensors(weights)?;
        let max_seq = max_seq.min(shape.max_positions).min(MAX_SEQ);
        if shape.heads == 0
            || !shape.hidden.is_multiple_of(shape.heads)
            || !shape.hidden.is_multiple_of(16)
            || !shape.intermediate.is_multiple_of(16)
            || shape.hidden > 1024
        {
            return Err(unsupported(format!("hidden size {} with {} heads", shape.hidden, shape.heads)));
        }
        if !shape.exact_gelu {
            return Err(unsupported("a feed-forward activation other than GELU (erf)".to_string()));
        }
        let gpu = gpu.clone();
        gpu.checked(|| build(&gpu, &tensors, shape, max_batch.max(1), max_seq)).await?
    }

    /// Longest sequence (in tokens) a batch may have.
    pub fn max_seq(&self) -> usize {
        self.max_seq
    }

    /// Most sequences in one batch.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Kernel launches per batch.
    pub fn dispatches_per_batch(&self) -> usize {
        self.graph.len()
    }

    /// Embeds one padded batch: `ids` and `mask` hold `seq` tokens per sequence, one sequence
    /// after another. Returns one unit vector per sequence.
    pub async fn embed(&mut self, ids: &[u32], mask: &[u32], seq: usize) -> Result<Vec<Vec<f32>>, GpuError> {
        let count = ids.len().checked_div(seq).unwrap_or(0);
        if count == 0 || ids.len() != count * seq || mask.len() != ids.len() || count > self.max_batch || seq > self.max_seq {
            return Err(GpuError::Internal(format!("batch of {} ids as {count} × {seq} does not fit {} × {}", ids.len(), self.max_batch, self.max_seq)));
        }
        if self.gpu.is_lost() {
            return Err(GpuError::Lost("before the batch".into()));
        }
        let rows = count * seq;
        let queue = &self.gpu.queue;
        queue.write_buffer(&self.batch, 0, &words(&[rows as u32, seq as u32, count as u32, 0]));
        queue.write_buffer(&self.ids, 0, &words(ids));
        queue.write_buffer(&self.mask, 0, &words(mask));
        let mut encoder = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            for (d, grid) in &self.graph {
                let (x, y, z) = match *grid {
                    Grid::Elements(width) => {
                        let groups = (rows * width).div_ceil(64) as u32;
                        (groups.min(65535), groups.div_ceil(65535), 1)
                    }
                    Grid::Rows => (rows as u32, 1, 1),
                    Grid::Tiles(outputs) => (outputs.div_ceil(16) as u32, rows.div_ceil(16) as u32, 1),
                    Grid::Heads(heads) => (rows as u32, 1, heads as u32),
                    Grid::Sequences => (count as u32, 1, 1),
                };
                pass.set_pipeline(&d.pipeline);
                pass.set_bind_group(0, &d.bind_group, &[]);
                pass.dispatch_workgroups(x, y, z);
            }
        }
        let bytes = (count * self.shape.hidden * 4) as u64;
        encoder.copy_buffer_to_buffer(&self.out, 0, &self.staging, 0, bytes);
        let data = self.gpu.read_back(encoder, &self.staging).await?;
        let floats: Vec<f32> = data[..bytes as usize].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok(floats.chunks(self.shape.hidden).map(<[f32]>::to_vec).collect())
    }
}

fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn build(gpu: &Gpu, tensors: &HashMap<String, candle_core::Tensor>, s: BertShape, max_batch: usize, max_seq: usize) -> Result<GpuEmbedder, GpuError> {
    let device = &gpu.device;
    let alloc = Alloc { device };
    let tensor = |name: &str, len: usize| -> Result<wgpu::Buffer, GpuError> {
        let t = tensors.get(name).or_else(|| tensors.get(&format!("bert.{name}"))).ok_or_else(|| unsupported(format!("no tensor {name}")))?;
        if t.elem_count() != len {
            return Err(unsupported(format!("{name} has {} values, expected {len}", t.elem_count())));
        }
        let values: Vec<f32> =
            t.to_dtype(DType::F32).and_then(|t| t.flatten_all()).and_then(|t| t.to_vec1()).map_err(|e| unsupported(format!("{name}: {e}")))?;
        Ok(alloc.storage(&values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()))
    };
    let common = format!("{}\n{}", include_str!("shaders/common.wgsl"), include_str!("shaders/bert_common.wgsl"));
    let pipeline = |name: &str, source: &str| compile(device, name, &format!("{common}\n{source}"), &[]);
    let embed_k = pipeline("bert_embed", include_str!("shaders/bert_embed.wgsl"));
    let norm_k = pipeline("layernorm", include_str!("shaders/layernorm.wgsl"));
    let linear_k = pipeline("linear", include_str!("shaders/linear.wgsl"));
    let attention_k = pipeline("bert_attention", include_str!("shaders/bert_attention.wgsl"));
    let pool_k = pipeline("pool", include_str!("shaders/pool.wgsl"));

    let (h, rows) = (s.hidden, max_batch * max_seq);
    let batch = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("batch"),
        size: 16,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let ids = alloc.zeroed(rows);
    let mask = alloc.zeroed(rows);
    let (x, y, q, k, v, att) =
        (alloc.zeroed(rows * h), alloc.zeroed(rows * h), alloc.zeroed(rows * h), alloc.zeroed(rows * h), alloc.zeroed(rows * h), alloc.zeroed(rows * h));
    let inner = alloc.zeroed(rows * s.intermediate);
    let out = alloc.zeroed(max_batch * h);
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("vectors read-back"),
        size: (max_batch * h * 4) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });

    let norm_dims = alloc.dims(h, 0, 0, 0, s.eps);
    let norm_residual_dims = alloc.dims(h, 1, 0, 0, s.eps);
    let mut graph = vec![(
        alloc.dispatch(
            &embed_k,
            &[
                &alloc.dims(h, 0, 0, 0, 0.0),
                &batch,
                &ids,
                &tensor("embeddings.word_embeddings.weight", tensors_len(tensors, "embeddings.word_embeddings.weight"))?,
                &tensor("embeddings.position_embeddings.weight", s.max_positions * h)?,
                &tensor("embeddings.token_type_embeddings.weight", tensors_len(tensors, "embeddings.token_type_embeddings.weight"))?,
                &y,
            ],
            (1, 1),
        ),
        Grid::Elements(h),
    )];
    graph.push((
        alloc.dispatch(
            &norm_k,
            &[&norm_dims, &batch, &y, &y, &tensor("embeddings.LayerNorm.weight", h)?, &tensor("embeddings.LayerNorm.bias", h)?, &x],
            (1, 1),
        ),
        Grid::Rows,
    ));
    let linear = |input: &wgpu::Buffer, output: &wgpu::Buffer, prefix: &str, n: usize, kk: usize, gelu: bool| -> Result<(Dispatch, Grid), GpuError> {
        let dims = alloc.dims(n, kk, gelu as usize, 0, 0.0);
        let w = tensor(&format!("{prefix}.weight"), n * kk)?;
        let b = tensor(&format!("{prefix}.bias"), n)?;
        Ok((alloc.dispatch(&linear_k, &[&dims, &batch, input, &w, &b, output], (1, 1)), Grid::Tiles(n)))
    };
    let attention_dims = alloc.dims(s.heads, h / s.heads, h, 0, 0.0);
    for layer in 0..s.layers {
        let p = format!("encoder.layer.{layer}");
        graph.push(linear(&x, &q, &format!("{p}.attention.self.query"), h, h, false)?);
        graph.push(linear(&x, &k, &format!("{p}.attention.self.key"), h, h, false)?);
        graph.push(linear(&x, &v, &format!("{p}.attention.self.value"), h, h, false)?);
        graph.push((alloc.dispatch(&attention_k, &[&attention_dims, &batch, &q, &k, &v, &mask, &att], (1, 1)), Grid::Heads(s.heads)));
        graph.push(linear(&att, &y, &format!("{p}.attention.output.dense"), h, h, false)?);
        let (g, b) = (tensor(&format!("{p}.attention.output.LayerNorm.weight"), h)?, tensor(&format!("{p}.attention.output.LayerNorm.bias"), h)?);
        graph.push((alloc.dispatch(&norm_k, &[&norm_residual_dims, &batch, &y, &x, &g, &b, &q], (1, 1)), Grid::Rows));
        graph.push(linear(&q, &inner, &format!("{p}.intermediate.dense"), s.intermediate, h, true)?);
        graph.push(linear(&inner, &y, &format!("{p}.output.dense"), h, s.intermediate, false)?);
        let (g, b) = (tensor(&format!("{p}.output.LayerNorm.weight"), h)?, tensor(&format!("{p}.output.LayerNorm.bias"), h)?);
        graph.push((alloc.dispatch(&norm_k, &[&norm_residual_dims, &batch, &y, &q, &g, &b, &x], (1, 1)), Grid::Rows));
    }
    graph.push((alloc.dispatch(&pool_k, &[&alloc.dims(h, 0, 0, 0, 0.0), &batch, &x, &mask, &out], (1, 1)), Grid::Sequences));
    Ok(GpuEmbedder { gpu: gpu.clone(), shape: s, max_batch, max_seq, batch, ids, mask, out, staging, graph })
}

/// Element count of a tensor that may be named with or without a `bert.` prefix (0 if absent,
/// which the lookup then reports).
fn tensors_len(tensors: &HashMap<String, candle_core::Tensor>, name: &str) -> usize {
    tensors.get(name).or_else(|| tensors.get(&format!("bert.{name}"))).map_or(0, |t| t.elem_count())
}
