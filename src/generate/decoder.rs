//! The decoder interface a generation runs on: feed tokens, get the next one picked from the
//! adjusted logits. [`CpuDecoder`] (our llama on candle's quantised tensors) implements it here and the WebGPU
//! engine implements it in [`crate::gpu`], so `generate` knows no GPU type. A decoder holds one
//! sequence's KV cache: each generation owns its own.

use super::llama::Llama;
use super::GenerateError;
use crate::sample::Draw;
use candle_core::{Device, Tensor};
use std::future::Future;
use std::pin::Pin;

/// Tokens fed to the model per forward pass during prefill, bounding attention memory. Every
/// decoder prefills in these chunks: gemm sums attention in an order that depends on their
/// shape, and the GPU kernels copy that order.
pub const PREFILL_CHUNK: usize = 256;

/// What is done to the logits before a token is picked: the repetition `penalty` over the
/// distinct tokens of `recent` (1.0 for none), then `bias` added to the logits of the distinct
/// tokens `boosts` (the copy bias).
#[derive(Debug, Clone, Copy, Default)]
pub struct Adjust<'a> {
    /// Recent tokens the penalty applies to.
    pub recent: &'a [u32],
    /// The repetition penalty.
    pub penalty: f32,
    /// Tokens the copy bias raises.
    pub boosts: &'a [u32],
    /// The copy bias.
    pub bias: f32,
}

/// The next token, once a decoder has computed it.
pub type NextToken<'a> = Pin<Box<dyn Future<Output = Result<u32, GenerateError>> + 'a>>;

/// `Send` natively, so a generator can move between threads; nothing on wasm32, where the
/// browser's WebGPU handles cannot be sent.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send> MaybeSend for T {}
/// `Send` natively, so a generator can move between threads; nothing on wasm32, where the
/// browser's WebGPU handles cannot be sent.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T> MaybeSend for T {}

/// A forward pass with its own KV cache, as a generation steps it.
pub trait Decoder: MaybeSend {
    /// Feeds `tokens` at the positions after those fed since the last [`Decoder::reset`] and
    /// resolves to the next token: the logits `adjust`ed, then the most likely token (the last
    /// on ties) or the seeded `draw`. A [`GenerateError::Accelerator`] means the engine is
    /// unusable; the generation then continues on the CPU.
    fn step<'a>(&'a mut self, tokens: &'a [u32], adjust: Adjust<'a>, draw: Option<Draw>) -> NextToken<'a>;

    /// Forgets the fed tokens, to start a new sequence.
    fn reset(&mut self);

    /// Where it runs, as JavaScript reports it: `"cpu"` or `"webgpu"`.
    fn backend(&self) -> &'static str;
}

/// The CPU decoder: the llama forward pass on candle's quantised tensors. Clones share the weights (reference-counted
/// tensors) and get their own KV cache, so a generation's decoder costs only its cache.
#[derive(Clone)]
pub struct CpuDecoder {
    model: Llama,
    device: Device,
    /// Tokens in the KV cache.
    position: usize,
}

impl CpuDecoder {
    pub(crate) fn new(model: Llama) -> CpuDecoder {
        CpuDecoder { model, device: Device::Cpu, position: 0 }
    }

    /// [`Decoder::step`] without the future: the CPU computes at once.
    pub fn next(&mut self, tokens: &[u32], adjust: &Adjust<'_>, draw: Option<Draw>) -> Result<u32, GenerateError> {
        let logits = self.forward(tokens)?;
        pick(logits, adjust, draw)
    }

    /// The next-token logits after feeding `tokens` (in chunks of [`PREFILL_CHUNK`]), before any
    /// adjustment: what the WebGPU engine's logits are compared with, bit for bit.
    pub fn logits(&mut self, tokens: &[u32]) -> Result<Vec<f32>, GenerateError> {
        self.forward(tokens)?.to_vec1::<f32>().map_err(|e| GenerateError::Compute(e.to_string()))
    }

    /// Feeds `tokens` in chunks of [`PREFILL_CHUNK`] and returns the last one's next-token logits.
    pub(super) fn forward(&mut self, tokens: &[u32]) -> Result<Tensor, GenerateError> {
        let compute = |e: candle_core::Error| GenerateError::Compute(e.to_string());
        let mut logits = None;
        for chunk in tokens.chunks(PREFILL_CHUNK) {
            let input = Tensor::new(chunk, &self.device).and_then(|t| t.unsqueeze(0)).map_err(compute)?;
            logits = Some(self.model.forward(&input, self.position).map_err(compute)?);
            self.position += chunk.len();
        }
        let logits = logits.ok_or_else(|| GenerateError::Compute("no new tokens to feed".into()))?;
        logits.squeeze(0).map_err(compute)
    }
}

impl Decoder for CpuDecoder {
    fn step<'a>(&'a mut self, tokens: &'a [u32], adjust: Adjust<'a>, draw: Option<Draw>) -> NextToken<'a> {
        Box::pin(std::future::ready(self.next(tokens, &adjust, draw)))
    }

    fn reset(&mut self) {
        self.model.clear_kv_cache();
        self.position = 0;
    }

    fn backend(&self) -> &'static str {
        "cpu"
    }
}

/// The index of the largest value, the last on ties (as candle's greedy sampler picks).
pub(super) fn last_argmax(values: &[f32]) -> u32 {
    values.iter().enumerate().fold((0, f32::MIN), |best, (i, &v)| if v >= best.1 { (i, v) } else { best }).0 as u32
}

/// The repetition penalty: the logit of each distinct token of `recent` is divided by
/// `penalty` when positive and multiplied by it when negative, so it becomes less likely.
fn penalise(logits: &mut [f32], penalty: f32, recent: &[u32]) {
    let mut seen = std::collections::HashSet::new();
    for &token in recent {
        if seen.insert(token) {
            if let Some(logit) = logits.get_mut(token as usize) {
                *logit = if *logit >= 0.0 { *logit / penalty } else { *logit * penalty };
            }
        }
    }
}

/// Applies the repetition penalty and the copy bias to next-token `logits` and picks a token:
/// the most likely one (the last on ties, as candle's greedy sampler), or the seeded draw.
fn pick(logits: Tensor, adjust: &Adjust<'_>, draw: Option<Draw>) -> Result<u32, GenerateError> {
    let compute = |e: candle_core::Error| GenerateError::Compute(e.to_string());
    let logits = if adjust.penalty == 1.0 {
        logits
    } else {
        let mut values = logits.to_vec1::<f32>().map_err(compute)?;
        penalise(&mut values, adjust.penalty, adjust.recent);
        let len = values.len();
        Tensor::from_vec(values, len, logits.device()).map_err(compute)?
    };
    if adjust.boosts.is_empty() || adjust.bias == 0.0 {
        return match draw {
            None => logits.argmax(candle_core::D::Minus1).and_then(|t| t.to_scalar::<u32>()).map_err(compute),
            Some(draw) => Ok(draw.pick(&logits.to_vec1::<f32>().map_err(compute)?)),
        };
    }
    let mut values = logits.to_vec1::<f32>().map_err(compute)?;
    let mut boosts = adjust.boosts.to_vec();
    boosts.sort_unstable();
    boosts.dedup();
    for t in boosts {
        if let Some(v) = values.get_mut(t as usize) {
            *v += adjust.bias;
        }
    }
    Ok(match draw {
        None => last_argmax(&values),
        Some(draw) => draw.pick(&values),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_penalty_lowers_each_recent_token_once() {
        let mut logits = vec![2.0, -2.0, 1.0];
        // Token 0 twice, token 7 outside the vocabulary.
        penalise(&mut logits, 2.0, &[0, 1, 0, 7]);
        assert_eq!(logits, vec![1.0, -4.0, 1.0]);
    }
}
