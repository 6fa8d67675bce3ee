//! The llama-family decoder on the GPU: Q8_0 weights (Q4_0 ones widened to Q8_0) repacked at load into aligned int8 and
//! scale streams, a graph of pipelines and bind groups built once, the prompt in the CPU path's
//! chunks of 256 tokens and then one submit per generated token, and the pick (repetition
//! penalty, then greedy or the seeded draw) on the GPU so only the 4-byte token id is read
//! back. It reproduces candle's quantised llama float for float on the targets [`cpu_order`]
//! knows (activations quantised to Q8_0 before each matmul, every sum in the CPU's order, its
//! libm's `exp`, divisions rounded to nearest), so decoding gives the same tokens as the CPU
//! path.

use super::numerics::cpu_order;
use super::runtime::{compile, f32_bytes, per_64, u32_bytes, Alloc, Dispatch, Weight, Q8_0_BLOCK};
use super::{Gpu, GpuError};
use crate::generate::{Adjust, Decoder, NextToken, PREFILL_CHUNK};
use crate::sample::Draw;
use candle_core::quantized::gguf_file::{Content, TensorInfo};
use candle_core::quantized::GgmlDType;
use std::collections::HashSet;
use std::io::Cursor;

/// Most distinct recent tokens the repetition penalty can cover.
const MAX_RECENT: usize = 1024;
/// Prompt tokens run through the graph together, in one submit (prefill in chunks).
const CHUNK: usize = PREFILL_CHUNK;

/// The model's shape, read from GGUF metadata.
#[derive(Debug, Clone, Copy)]
struct Shape {
    hidden: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    ffn: usize,
    vocab: usize,
    context: usize,
    eps: f32,
    rope_base: f32,
}

/// A llama-family GGUF model loaded onto the GPU, with its KV cache.
pub struct GpuDecoder {
    gpu: Gpu,
    shape: Shape,
    step: wgpu::Buffer,
    recent: wgpu::Buffer,
    /// Copy-bias count and value (a `Dims`), written before each picked token.
    boost_dims: wgpu::Buffer,
    boosts: wgpu::Buffer,
    out: wgpu::Buffer,
    staging: wgpu::Buffer,
    tokens: wgpu::Buffer,
    /// Embedding and layers, over a chunk of tokens.
    body: Vec<(Dispatch, Grid)>,
    /// Final norm and output projection of the chunk's last token: the logits.
    head: Vec<Dispatch>,
    /// Repetition penalty, copy bias and argmax over the logits.
    pick: Vec<Dispatch>,
    /// Repetition penalty, copy bias and the seeded draw over the logits.
    draw: Vec<Dispatch>,
    /// The draw's settings, written before each drawn token.
    sampling: wgpu::Buffer,
    logits: wgpu::Buffer,
    logits_staging: wgpu::Buffer,
    position: usize,
}

impl std::fmt::Debug for GpuDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuDecoder").field("shape", &self.shape).field("position", &self.position).finish()
    }
}

fn unsupported(what: impl Into<String>) -> GpuError {
    GpuError::Unsupported(what.into())
}

fn metadata(content: &Content, key: &str) -> Result<usize, GpuError> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok()).map(|v| v as usize).ok_or_else(|| unsupported(format!("missing {key}")))
}

fn metadata_f32(content: &Content, key: &str, default: f32) -> f32 {
    content.metadata.get(key).and_then(|v| v.to_f32().ok()).unwrap_or(default)
}

/// Bytes of one Q4_0 block: an f16 scale and 32 four-bit values, two per byte.
const Q4_0_BLOCK: usize = 18;

/// Q4_0 blocks rewritten as the Q8_0 blocks that hold the same values: each nibble less 8 as an
/// int8 (element `j < 16` in the low nibble of byte `j`, `j + 16` in its high nibble), the same
/// scale. Lossless, and candle's Q4_0 dot products sum exactly as its Q8_0 ones do, so the
/// Q8_0 kernels stay identical to the CPU; the GPU holds such a model at Q8_0's size.
fn q4_0_as_q8_0(blocks: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(blocks.len() / Q4_0_BLOCK * Q8_0_BLOCK);
    for block in blocks.chunks_exact(Q4_0_BLOCK) {
        out.extend_from_slice(&block[..2]);
        let nibbles = &block[2..];
        out.extend(nibbles.iter().map(|b| ((b & 0x0f) as i8 - 8) as u8));
        out.extend(nibbles.iter().map(|b| ((b >> 4) as i8 - 8) as u8));
    }
    out
}

/// The raw bytes of a tensor inside the GGUF file, bounds-checked.
fn tensor_bytes<'a>(content: &'a Content, bytes: &'a [u8], name: &str) -> Result<(&'a [u8], &'a TensorInfo), GpuError> {
    let info = content.tensor_infos.get(name).ok_or_else(|| unsupported(format!("no tensor {name}")))?;
    let elements = info.shape.elem_count();
    let size = match info.ggml_dtype {
        GgmlDType::Q8_0 => elements / 32 * Q8_0_BLOCK,
        GgmlDType::Q4_0 => elements / 32 * Q4_0_BLOCK,
        GgmlDType::F32 => elements * 4,
        other => return Err(unsupported(format!("{name} is {other:?}; the GPU kernels take Q8_0 or Q4_0 matrices and F32 norms"))),
    };
    let start = usize::try_from(content.tensor_data_offset + info.offset).map_err(|_| unsupported("tensor offset"))?;
    let data = start.checked_add(size).and_then(|end| bytes.get(start..end)).ok_or_else(|| unsupported(format!("{name} lies outside the file")))?;
    Ok((data, info))
}

impl GpuDecoder {
    /// Loads a llama-family GGUF (Q8_0 or Q4_0 matrices, F32 norms, as wasmrag ships SmolLM2) onto
    /// `gpu` with a KV cache for `context` tokens.
    pub async fn from_gguf(gpu: &Gpu, bytes: &[u8], context: usize) -> Result<GpuDecoder, GpuError> {
        let content = Content::read(&mut Cursor::new(bytes)).map_err(|e| unsupported(format!("unreadable GGUF: {e}")))?;
        let hidden = metadata(&content, "llama.embedding_length")?;
        let heads = metadata(&content, "llama.attention.head_count")?;
        let kv_heads = metadata(&content, "llama.attention.head_count_kv").unwrap_or(heads);
        let (_, embedding) = tensor_bytes(&content, bytes, "token_embd.weight")?;
        let shape = Shape {
            hidden,
            layers: metadata(&content, "llama.block_count")?,
            heads,
            kv_heads,
            head_dim: hidden / heads.max(1),
            ffn: metadata(&content, "llama.feed_forward_length")?,
            vocab: embedding.shape.dims()[0],
            context: context.max(1),
            eps: metadata_f32(&content, "llama.attention.layer_norm_rms_epsilon", 1e-5),
            rope_base: metadata_f32(&content, "llama.rope.freq_base", 10000.0),
        };
        let rope_dim = metadata(&content, "llama.rope.dimension_count").unwrap_or(shape.head_dim);
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 || shape.head_dim * heads != hidden || !shape.head_dim.is_multiple_of(2) {
            return Err(unsupported(format!("{heads} heads / {kv_heads} key-value heads for width {hidden}")));
        }
        if shape.vocab > 65535 {
            return Err(unsupported(format!("a vocabulary of {} tokens (at most 65535)", shape.vocab)));
        }
        if hidden % 32 != 0 || !shape.ffn.is_multiple_of(32) || rope_dim != shape.head_dim {
            return Err(unsupported("sizes that are not multiples of 32, or partial RoPE"));
        }
        let gpu = gpu.clone();
        let built = gpu.checked(|| Builder { gpu: &gpu, content: &content, bytes, shape }.build()).await??;
        Ok(built)
    }

    /// Tokens in the KV cache.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Tokens the KV cache holds.
    pub fn context_length(&self) -> usize {
        self.shape.context
    }

    /// Kernel launches per generated token (each prompt token runs all but the last few).
    pub fn dispatches_per_token(&self) -> usize {
        self.body.len() + self.head.len() + self.pick.len()
    }

    /// Forgets the cached tokens, to start a new sequence.
    pub fn reset(&mut self) {
        self.position = 0;
    }

    /// Feeds `tokens` at the next positions and returns the greedy next token, after the
    /// logits are `adjust`ed. A prompt runs in chunks of 256 tokens, one submit each; only the
    /// 4-byte token id is read back.
    pub async fn next_token(&mut self, tokens: &[u32], adjust: &Adjust<'_>) -> Result<u32, GpuError> {
        let bytes = self.run(tokens, adjust, Pick::Greedy).await?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Like [`GpuDecoder::next_token`], but the token is `draw`n as the CPU path draws it
    /// ([`Draw::pick`]): same seed and logits, same token. Only its id is read back.
    pub async fn next_token_drawn(&mut self, tokens: &[u32], adjust: &Adjust<'_>, draw: &Draw) -> Result<u32, GpuError> {
        let settings =
            [draw.temperature.to_bits(), draw.top_p.to_bits(), draw.seed as u32, (draw.seed >> 32) as u32, draw.position, self.shape.vocab as u32, 0, 0];
        self.gpu.queue.write_buffer(&self.sampling, 0, &u32_bytes(&settings));
        let bytes = self.run(tokens, adjust, Pick::Draw).await?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Feeds `tokens` and returns the next-token logits (reads back the whole vocabulary,
    /// `4 × vocab` bytes).
    pub async fn next_logits(&mut self, tokens: &[u32]) -> Result<Vec<f32>, GpuError> {
        let bytes = self.run(tokens, &Adjust { penalty: 1.0, ..Adjust::default() }, Pick::Logits).await?;
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    /// Runs the graph over `tokens`; reads back the picked token, or all logits.
    async fn run(&mut self, tokens: &[u32], adjust: &Adjust<'_>, pick: Pick) -> Result<Vec<u8>, GpuError> {
        let penalty = adjust.penalty;
        if tokens.is_empty() {
            return Err(GpuError::Internal("no tokens to feed".into()));
        }
        if self.gpu.is_lost() {
            return Err(GpuError::Lost("before the step".into()));
        }
        if self.position + tokens.len() > self.shape.context {
            return Err(GpuError::Internal(format!("{} tokens exceed the {}-token cache", self.position + tokens.len(), self.shape.context)));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.shape.vocab) {
            return Err(GpuError::Internal(format!("token {bad} is outside the vocabulary")));
        }
        let distinct: Vec<u32> = if penalty == 1.0 {
            Vec::new()
        } else {
            let set: HashSet<u32> = adjust.recent.iter().copied().filter(|&t| (t as usize) < self.shape.vocab).collect();
            set.into_iter().collect()
        };
        let boosts: Vec<u32> = if adjust.bias == 0.0 {
            Vec::new()
        } else {
            let set: HashSet<u32> = adjust.boosts.iter().copied().filter(|&t| (t as usize) < self.shape.vocab).collect();
            set.into_iter().collect()
        };
        if distinct.len() > MAX_RECENT || boosts.len() > MAX_RECENT {
            return Err(GpuError::Internal(format!("{} recent and {} boosted tokens (at most {MAX_RECENT} each)", distinct.len(), boosts.len())));
        }
        if !distinct.is_empty() {
            self.gpu.queue.write_buffer(&self.recent, 0, &u32_bytes(&distinct));
        }
        if !boosts.is_empty() {
            self.gpu.queue.write_buffer(&self.boosts, 0, &u32_bytes(&boosts));
        }
        let mut boost_dims = u32_bytes(&[boosts.len() as u32, 0, 0, 0]);
        boost_dims.extend(f32_bytes(&[adjust.bias, 0.0, 0.0, 0.0]));
        self.gpu.queue.write_buffer(&self.boost_dims, 0, &boost_dims);
        let chunks = tokens.chunks(CHUNK).count();
        for (i, chunk) in tokens.chunks(CHUNK).enumerate() {
            let last = i + 1 == chunks;
            let count = chunk.len() as u32;
            let step = [self.position as u32, count, distinct.len() as u32, penalty.to_bits()];
            self.gpu.queue.write_buffer(&self.step, 0, &u32_bytes(&step));
            self.gpu.queue.write_buffer(&self.tokens, 0, &u32_bytes(chunk));
            let mut encoder = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
                let tail: &[Dispatch] = if last { &self.head } else { &[] };
                let picked: &[Dispatch] = match pick {
                    _ if !last => &[],
                    Pick::Greedy => &self.pick,
                    Pick::Draw => &self.draw,
                    Pick::Logits => &[],
                };
                let body = self.body.iter().map(|(d, grid)| (d, grid.workgroups(count)));
                let rest = tail.iter().chain(picked).map(|d| (d, d.workgroups));
                for (d, (x, y)) in body.chain(rest) {
                    pass.set_pipeline(&d.pipeline);
                    pass.set_bind_group(0, &d.bind_group, &[]);
                    pass.dispatch_workgroups(x, y, 1);
                }
            }
            self.position += chunk.len();
            if last && pick != Pick::Logits {
                encoder.copy_buffer_to_buffer(&self.out, 0, &self.staging, 0, 4);
                return self.gpu.read_back(encoder, &self.staging).await;
            }
            if last {
                encoder.copy_buffer_to_buffer(&self.logits, 0, &self.logits_staging, 0, self.logits.size());
                return self.gpu.read_back(encoder, &self.logits_staging).await;
            }
            self.gpu.queue.submit([encoder.finish()]);
        }
        Err(GpuError::Internal("no token was produced".into()))
    }
}

impl Decoder for GpuDecoder {
    fn step<'a>(&'a mut self, tokens: &'a [u32], adjust: Adjust<'a>, draw: Option<Draw>) -> NextToken<'a> {
        Box::pin(async move {
            let next = match draw {
                None => self.next_token(tokens, &adjust).await,
                Some(draw) => self.next_token_drawn(tokens, &adjust, &draw).await,
            };
            Ok(next?)
        })
    }

    fn reset(&mut self) {
        GpuDecoder::reset(self);
    }

    fn backend(&self) -> &'static str {
        "webgpu"
    }
}

/// What a run reads back: a greedy token, a drawn token, or the logits.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pick {
    Greedy,
    Draw,
    Logits,
}

/// The compute kernels, compiled once.
pub(crate) struct Kernels {
    pub(crate) embed: wgpu::ComputePipeline,
    pub(crate) rmsnorm: wgpu::ComputePipeline,
    pub(crate) quantize: wgpu::ComputePipeline,
    pub(crate) matvec: wgpu::ComputePipeline,
    pub(crate) rope: wgpu::ComputePipeline,
    pub(crate) attention: wgpu::ComputePipeline,
    pub(crate) silu_mul: wgpu::ComputePipeline,
    pub(crate) penalty: wgpu::ComputePipeline,
    pub(crate) boost: wgpu::ComputePipeline,
    pub(crate) argmax: wgpu::ComputePipeline,
    pub(crate) sample: wgpu::ComputePipeline,
}

impl Kernels {
    pub(crate) fn new(device: &wgpu::Device) -> Kernels {
        let common = include_str!("shaders/common.wgsl");
        let o = cpu_order();
        let exp = if o.libm_exp { include_str!("shaders/exp_libm.wgsl") } else { include_str!("shaders/exp_rounded.wgsl") };
        let with = |name: &str, source: &str, constants: &[(&str, f64)]| compile(device, name, &format!("{common}\n{source}"), constants);
        let make = |name: &str, source: &str| with(name, source, &[]);
        let attention = [
            ("FUSED", f64::from(u8::from(o.fused))),
            ("HORIZONTAL", f64::from(u8::from(o.horizontal))),
            ("GEMV_WIDTH", f64::from(o.gemv_width)),
            ("SUM_STEP", f64::from(o.sum_step)),
        ];
        Kernels {
            embed: make("embed", include_str!("shaders/embed.wgsl")),
            rmsnorm: make("rmsnorm", include_str!("shaders/rmsnorm.wgsl")),
            quantize: make("quantize", include_str!("shaders/quantize.wgsl")),
            matvec: with("matvec", include_str!("shaders/matvec.wgsl"), &[("LANES", f64::from(o.dot_lanes))]),
            rope: make("rope", include_str!("shaders/rope.wgsl")),
            attention: with("attention", &format!("{exp}\n{}", include_str!("shaders/attention.wgsl")), &attention),
            silu_mul: make("silu_mul", &format!("{exp}\n{}", include_str!("shaders/silu_mul.wgsl"))),
            penalty: make("penalty", include_str!("shaders/penalty.wgsl")),
            boost: make("boost", include_str!("shaders/boost.wgsl")),
            argmax: make("argmax", include_str!("shaders/argmax.wgsl")),
            sample: make("sample", &format!("{}\n{}", include_str!("shaders/exp_libm.wgsl"), include_str!("shaders/sample.wgsl"))),
        }
    }
}

/// Workgroups along x of the matvec kernel for `rows` output rows (64 / LANES rows each).
pub(crate) fn matvec_groups(rows: usize) -> u32 {
    (rows as u32).div_ceil(64 / cpu_order().dot_lanes)
}

/// Tokens one matvec workgroup covers (its `TILE`).
const MATVEC_TILE: u32 = 8;

/// How many workgroups a body launch needs for a chunk of `count` tokens.
#[derive(Clone, Copy)]
enum Grid {
    /// One thread per element of each token's `width`-wide row, in workgroups of 64.
    Elements(usize),
    /// `x` workgroups for each token (y of the workgroup id).
    PerToken(u32),
    /// One workgroup per 32-value block of each token's `width`-wide row.
    Blocks(usize),
    /// The matvec kernel: `x` workgroups of rows for each tile of 8 tokens.
    Matmul(u32),
}

impl Grid {
    fn workgroups(self, count: u32) -> (u32, u32) {
        match self {
            Grid::Elements(width) => ((count * width as u32).div_ceil(64), 1),
            Grid::PerToken(x) => (x, count),
            Grid::Blocks(width) => (count * (width / 32) as u32, 1),
            Grid::Matmul(x) => (x, count.div_ceil(MATVEC_TILE)),
        }
    }
}

/// Builds the buffers and the per-token graph.
struct Builder<'a> {
    gpu: &'a Gpu,
    content: &'a Content,
    bytes: &'a [u8],
    shape: Shape,
}

impl Builder<'_> {
    fn q8(&self, alloc: &Alloc, name: &str, rows: usize, cols: usize) -> Result<Weight, GpuError> {
        let (data, info) = tensor_bytes(self.content, self.bytes, name)?;
        if info.shape.dims() != [rows, cols] {
            return Err(unsupported(format!("{name} is {:?}, expected [{rows}, {cols}]", info.shape.dims())));
        }
        match info.ggml_dtype {
            GgmlDType::Q8_0 => Ok(alloc.weight(data, rows)),
            GgmlDType::Q4_0 => Ok(alloc.weight(&q4_0_as_q8_0(data), rows)),
            other => Err(unsupported(format!("{name} is {other:?}, expected a Q8_0 or Q4_0 matrix"))),
        }
    }

    fn norm(&self, alloc: &Alloc, name: &str) -> Result<wgpu::Buffer, GpuError> {
        let (data, info) = tensor_bytes(self.content, self.bytes, name)?;
        if info.ggml_dtype != GgmlDType::F32 || info.shape.elem_count() != self.shape.hidden {
            return Err(unsupported(format!("{name} is {:?} {:?}, expected F32 [{}]", info.ggml_dtype, info.shape.dims(), self.shape.hidden)));
        }
        Ok(alloc.storage(data))
    }

    fn build(self) -> Result<GpuDecoder, GpuError> {
        let s = self.shape;
        let device = &self.gpu.device;
        let alloc = Alloc { device };
        let k = Kernels::new(device);
        let kv_dim = s.kv_heads * s.head_dim;
        let widest = s.hidden.max(s.ffn);

        let embedding = self.q8(&alloc, "token_embd.weight", s.vocab, s.hidden)?;
        let output = if self.content.tensor_infos.contains_key("output.weight") {
            self.q8(&alloc, "output.weight", s.vocab, s.hidden)?
        } else {
            self.q8(&alloc, "token_embd.weight", s.vocab, s.hidden)?
        };
        let output_norm = self.norm(&alloc, "output_norm.weight")?;

        let half = s.head_dim / 2;
        let theta: Vec<f32> = (0..s.head_dim).step_by(2).map(|i| 1f32 / s.rope_base.powf(i as f32 / s.head_dim as f32)).collect();
        let mut cos = Vec::with_capacity(s.context * half);
        let mut sin = Vec::with_capacity(s.context * half);
        for pos in 0..s.context {
            for t in &theta {
                let angle = pos as f32 * t;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let cos = alloc.storage(&f32_bytes(&cos));
        let sin = alloc.storage(&f32_bytes(&sin));

        let step = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("step"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let rows = CHUNK;
        let x = alloc.zeroed(rows * s.hidden);
        let xn = alloc.zeroed(rows * s.hidden);
        let xq = alloc.zeroed(rows * widest / 4);
        let xd = alloc.zeroed(rows * widest / 32);
        let q = alloc.zeroed(rows * s.hidden);
        let kk = alloc.zeroed(rows * kv_dim);
        let v = alloc.zeroed(rows * kv_dim);
        let att = alloc.zeroed(rows * s.hidden);
        let gate = alloc.zeroed(rows * s.ffn);
        let up = alloc.zeroed(rows * s.ffn);
        let h = alloc.zeroed(rows * s.ffn);
        let logits = alloc.zeroed(s.vocab);
        let scores = alloc.zeroed(rows * s.heads * s.context);
        let tokens = alloc.zeroed(rows);
        let recent = alloc.zeroed(MAX_RECENT);
        let boosts = alloc.zeroed(MAX_RECENT);
        let boost_dims = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("copy bias"),
            size: 32,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let out = alloc.zeroed(1);
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("token read-back"),
            size: 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        let norm_dims = alloc.dims(s.hidden, 0, 0, 0, s.eps);
        let last_norm_dims = alloc.dims(s.hidden, 1, 0, 0, s.eps);
        let quantize = |input: &wgpu::Buffer, n: usize| (alloc.dispatch(&k.quantize, &[input, &xq, &xd], (0, 0)), Grid::Blocks(n));
        let matvec = |w: &Weight, y: &wgpu::Buffer, accumulate: bool| {
            let dims = alloc.dims(w.rows, w.blocks, accumulate as usize, 0, 0.0);
            (alloc.dispatch(&k.matvec, &[&dims, &step, &w.quants, &w.scales, &xq, &xd, y], (0, 0)), Grid::Matmul(matvec_groups(w.rows)))
        };
        let per_token = |d: Dispatch, x: u32| (d, Grid::PerToken(x));

        let embed = alloc.dispatch(&k.embed, &[&alloc.dims(s.hidden, 0, 0, 0, 0.0), &step, &embedding.quants, &embedding.scales, &tokens, &x], (0, 0));
        let mut body = vec![(embed, Grid::Elements(s.hidden))];
        let head_dims = alloc.dims(s.heads, s.kv_heads, s.head_dim, s.context, (1.0 / (s.head_dim as f64).sqrt()) as f32);
        let ffn_dims = alloc.dims(s.ffn, 0, 0, 0, 0.0);
        for layer in 0..s.layers {
            let name = |t: &str| format!("blk.{layer}.{t}.weight");
            let k_cache = alloc.zeroed(s.context * kv_dim);
            let v_cache = alloc.zeroed(s.context * kv_dim);
            body.push(per_token(alloc.dispatch(&k.rmsnorm, &[&norm_dims, &step, &x, &self.norm(&alloc, &name("attn_norm"))?, &xn], (0, 0)), 1));
            body.push(quantize(&xn, s.hidden));
            body.push(matvec(&self.q8(&alloc, &name("attn_q"), s.hidden, s.hidden)?, &q, false));
            body.push(matvec(&self.q8(&alloc, &name("attn_k"), kv_dim, s.hidden)?, &kk, false));
            body.push(matvec(&self.q8(&alloc, &name("attn_v"), kv_dim, s.hidden)?, &v, false));
            let rope = alloc.dispatch(&k.rope, &[&head_dims, &step, &q, &kk, &v, &k_cache, &v_cache, &cos, &sin], (0, 0));
            body.push((rope, Grid::Elements((s.heads + s.kv_heads) * half)));
            body.push(per_token(alloc.dispatch(&k.attention, &[&head_dims, &step, &q, &k_cache, &v_cache, &scores, &att], (0, 0)), s.heads as u32));
            body.push(quantize(&att, s.hidden));
            body.push(matvec(&self.q8(&alloc, &name("attn_output"), s.hidden, s.hidden)?, &x, true));
            body.push(per_token(alloc.dispatch(&k.rmsnorm, &[&norm_dims, &step, &x, &self.norm(&alloc, &name("ffn_norm"))?, &xn], (0, 0)), 1));
            body.push(quantize(&xn, s.hidden));
            body.push(matvec(&self.q8(&alloc, &name("ffn_gate"), s.ffn, s.hidden)?, &gate, false));
            body.push(matvec(&self.q8(&alloc, &name("ffn_up"), s.ffn, s.hidden)?, &up, false));
            body.push((alloc.dispatch(&k.silu_mul, &[&ffn_dims, &step, &gate, &up, &h], (0, 0)), Grid::Elements(s.ffn)));
            body.push(quantize(&h, s.ffn));
            body.push(matvec(&self.q8(&alloc, &name("ffn_down"), s.hidden, s.ffn)?, &x, true));
        }
        let head = vec![
            alloc.dispatch(&k.rmsnorm, &[&last_norm_dims, &step, &x, &output_norm, &xn], (1, 1)),
            alloc.dispatch(&k.quantize, &[&xn, &xq, &xd], ((s.hidden / 32) as u32, 1)),
            {
                let dims = alloc.dims(output.rows, output.blocks, 0, 1, 0.0);
                alloc.dispatch(&k.matvec, &[&dims, &step, &output.quants, &output.scales, &xq, &xd, &logits], (matvec_groups(output.rows), 1))
            },
        ];
        let pick = vec![
            alloc.dispatch(&k.penalty, &[&step, &recent, &logits], per_64(MAX_RECENT)),
            alloc.dispatch(&k.boost, &[&boost_dims, &boosts, &logits], per_64(MAX_RECENT)),
            alloc.dispatch(&k.argmax, &[&alloc.dims(s.vocab, 0, 0, 0, 0.0), &logits, &out], (1, 1)),
        ];
        let sampling = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("sampling"),
            size: 32,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let draw = vec![
            alloc.dispatch(&k.penalty, &[&step, &recent, &logits], per_64(MAX_RECENT)),
            alloc.dispatch(&k.boost, &[&boost_dims, &boosts, &logits], per_64(MAX_RECENT)),
            alloc.dispatch(&k.sample, &[&sampling, &logits, &alloc.zeroed(s.vocab), &out], (1, 1)),
        ];
        let logits_staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("logits read-back"),
            size: logits.size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(GpuDecoder {
            gpu: self.gpu.clone(),
            shape: s,
            step,
            recent,
            boost_dims,
            boosts,
            out,
            staging,
            tokens,
            body,
            head,
            pick,
            draw,
            sampling,
            logits,
            logits_staging,
            position: 0,
        })
    }
}
