//! The int8 encoder's linear layers, our own kernel: weights as i8 rows with one f32 scale per
//! block of 32 (Q8_0's f16 scales converted once, at load), activations quantised per block the
//! same way, and block dot products in i32. On wasm SIMD four input rows (tokens) go through
//! each group of four weight rows together: every weight block is widened from i8 once for the
//! four tokens and multiplied with `i32x4.dot_i16x8`, and the four rows' block sums are added
//! across lanes in integers so that one vector carries them through the scaling. The result is
//! the scalar kernel's, bit for bit. candle's Q8_0 matmul converts both f16 scales in every
//! block of every dot product, which left the int8 model slower than f32 in the browser.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Result, Tensor};
use half::f16;

/// Values per quantisation block, as in Q8_0.
const BLOCK: usize = 32;
/// Input rows (tokens) multiplied together with each block of weights, which is loaded and
/// widened once for all of them.
const TILE: usize = 4;
/// Bytes of one Q8_0 block: an f16 scale, then 32 int8 values.
const Q8_0_BYTES: usize = 2 + BLOCK;

/// A linear layer `y = x·Wᵀ + b` with int8 weights `W` (`[outputs, inputs]`).
pub struct Int8Linear {
    outputs: usize,
    inputs: usize,
    /// `outputs × inputs` weights, row by row.
    weights: Vec<i8>,
    /// One scale per block of each row, `outputs × inputs / 32`: rows in groups of four with
    /// their scales interleaved block by block (block 0 of rows 0–3, block 1 of rows 0–3, …),
    /// so the kernel loads the four as one vector; rows after the last whole group, one after
    /// the other.
    scales: Vec<f32>,
    bias: Vec<f32>,
}

impl Int8Linear {
    /// Takes the weights from a Q8_0 tensor `[outputs, inputs]` and the f32 `bias`.
    pub fn from_q8_0(weight: &QTensor, bias: &Tensor) -> Result<Int8Linear> {
        let (outputs, inputs) = weight.shape().dims2()?;
        if weight.dtype() != GgmlDType::Q8_0 || !inputs.is_multiple_of(BLOCK) {
            return Err(candle_core::Error::Msg(format!("an int8 linear layer needs Q8_0 rows of whole blocks, not {:?} {outputs}×{inputs}", weight.dtype())));
        }
        let data = weight.data()?;
        if data.len() != outputs * inputs / BLOCK * Q8_0_BYTES {
            return Err(candle_core::Error::Msg(format!("{} bytes of Q8_0 for {outputs}×{inputs} weights", data.len())));
        }
        let blocks = inputs / BLOCK;
        let mut weights = Vec::with_capacity(outputs * inputs);
        let mut scales = vec![0f32; outputs * blocks];
        let grouped = outputs / 4 * 4;
        for (i, block) in data.chunks_exact(Q8_0_BYTES).enumerate() {
            let (o, b) = (i / blocks, i % blocks);
            let at = if o < grouped { (o / 4 * blocks + b) * 4 + o % 4 } else { i };
            scales[at] = f16::from_le_bytes([block[0], block[1]]).to_f32();
            weights.extend(block[2..].iter().map(|&b| b as i8));
        }
        let bias = bias.to_vec1::<f32>()?;
        if bias.len() != outputs {
            return Err(candle_core::Error::Msg(format!("a bias of {} for {outputs} outputs", bias.len())));
        }
        Ok(Int8Linear { outputs, inputs, weights, scales, bias })
    }

    /// `x·Wᵀ + b` for `x` of shape `[..., inputs]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_then(x, |_| {})
    }

    /// `x·Wᵀ + b`, with `then` applied to the values before they become a tensor (an
    /// activation, in place, without another pass through candle).
    pub fn forward_then(&self, x: &Tensor, then: impl FnOnce(&mut [f32])) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let Some((&last, lead)) = dims.split_last() else {
            return Err(candle_core::Error::Msg("an int8 linear layer needs at least one dimension".into()));
        };
        if last != self.inputs {
            return Err(candle_core::Error::Msg(format!("{last} inputs to a layer of {}", self.inputs)));
        }
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let rows = values.len() / self.inputs;
        let mut out = vec![0f32; rows * self.outputs];
        let mut tile: [Quantized; TILE] = std::array::from_fn(|_| Quantized::new(self.inputs));
        for (rows, ys) in values.chunks(TILE * self.inputs).zip(out.chunks_mut(TILE * self.outputs)) {
            for (q, row) in tile.iter_mut().zip(rows.chunks_exact(self.inputs)) {
                q.set(row);
            }
            if rows.len() == TILE * self.inputs {
                self.rows::<TILE>(std::array::from_fn(|t| &tile[t]), ys);
            } else {
                for (q, y) in tile.iter().zip(ys.chunks_exact_mut(self.outputs)) {
                    self.rows::<1>([q], y);
                }
            }
        }
        then(&mut out);
        let mut shape = lead.to_vec();
        shape.push(self.outputs);
        Tensor::from_vec(out, shape, x.device())
    }

    /// `N` output rows (`y`, one after the other) for `N` quantised input rows: every output's
    /// dot product with each input row, plus the bias. Each weight block is widened once for
    /// all `N` rows; each row's sums are the same whatever `N` is.
    fn rows<const N: usize>(&self, x: [&Quantized; N], y: &mut [f32]) {
        let blocks = self.inputs / BLOCK;
        let weights = |o: usize| &self.weights[o * self.inputs..(o + 1) * self.inputs];
        let scales = |o: usize| &self.scales[o * blocks..(o + 1) * blocks];
        let mut o = 0;
        while o + 4 <= self.outputs {
            let sums = dot4(x, [weights(o), weights(o + 1), weights(o + 2), weights(o + 3)], &self.scales[o * blocks..(o + 4) * blocks]);
            for (t, sums) in sums.iter().enumerate() {
                for (k, s) in sums.iter().enumerate() {
                    y[t * self.outputs + o + k] = s + self.bias[o + k];
                }
            }
            o += 4;
        }
        for o in o..self.outputs {
            for (t, x) in x.iter().enumerate() {
                y[t * self.outputs + o] = dot1(x, weights(o), scales(o), 1) + self.bias[o];
            }
        }
    }
}

/// An input row quantised like Q8_0 (scale = largest magnitude / 127 per block), its values
/// widened to i16 once so the dot products load them directly.
struct Quantized {
    values: Vec<i16>,
    scales: Vec<f32>,
}

impl Quantized {
    fn new(inputs: usize) -> Quantized {
        Quantized { values: vec![0; inputs], scales: vec![0.0; inputs / BLOCK] }
    }

    /// Quantises `row`, rounding halves to even (wasm's `nearest`, one instruction).
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn set(&mut self, row: &[f32]) {
        for ((block, q), scale) in row.chunks_exact(BLOCK).zip(self.values.chunks_exact_mut(BLOCK)).zip(&mut self.scales) {
            let largest = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            *scale = largest / 127.0;
            let inverse = if largest > 0.0 { 127.0 / largest } else { 0.0 };
            for (q, v) in q.iter_mut().zip(block) {
                *q = (v * inverse).round_ties_even() as i16;
            }
        }
    }

    /// Quantises `row` eight lanes at a time: the same values as the scalar version.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn set(&mut self, row: &[f32]) {
        use core::arch::wasm32::*;
        assert!(row.len() == self.values.len() && row.len() == self.scales.len() * BLOCK);
        for (b, scale) in self.scales.iter_mut().enumerate() {
            // SAFETY: the assertion above keeps block b's 32 values inside both slices.
            unsafe {
                let src = row.as_ptr().add(b * BLOCK) as *const v128;
                let v: [v128; 8] = std::array::from_fn(|i| v128_load(src.add(i)));
                let mut m = f32x4_abs(v[0]);
                for x in &v[1..] {
                    m = f32x4_pmax(m, f32x4_abs(*x));
                }
                m = f32x4_pmax(m, i32x4_shuffle::<2, 3, 0, 1>(m, m));
                m = f32x4_pmax(m, i32x4_shuffle::<1, 0, 3, 2>(m, m));
                let largest = f32x4_extract_lane::<0>(m);
                *scale = largest / 127.0;
                let inverse = f32x4_splat(if largest > 0.0 { 127.0 / largest } else { 0.0 });
                let q = |x: v128| i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(x, inverse)));
                let dst = self.values.as_mut_ptr().add(b * BLOCK) as *mut v128;
                for i in 0..4 {
                    v128_store(dst.add(i), i16x8_narrow_i32x4(q(v[2 * i]), q(v[2 * i + 1])));
                }
            }
        }
    }
}

/// One dot product of `x` with a weight row, whose block scales are every `stride`-th value of
/// `scales` (1 for a row of its own, 4 for a row of a group).
fn dot1(x: &Quantized, weights: &[i8], scales: &[f32], stride: usize) -> f32 {
    let mut sum = 0f32;
    for (b, (xs, ws)) in x.scales.iter().zip(scales.iter().step_by(stride)).enumerate() {
        let range = b * BLOCK..(b + 1) * BLOCK;
        let dot: i32 = x.values[range.clone()].iter().zip(&weights[range]).map(|(&a, &w)| i32::from(a) * i32::from(w)).sum();
        sum += dot as f32 * (xs * ws);
    }
    sum
}

/// Four dot products of each of the `N` rows `x` with four weight rows, whose block scales are
/// interleaved (`scales[4b + k]` is block `b` of row `k`); the same arithmetic as [`dot1`].
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn dot4<const N: usize>(x: [&Quantized; N], weights: [&[i8]; 4], scales: &[f32]) -> [[f32; 4]; N] {
    x.map(|x| std::array::from_fn(|k| dot1(x, weights[k], &scales[k..], 4)))
}

/// Four dot products of each of the `N` rows `x` with four weight rows, whose block scales are
/// interleaved (`scales[4b + k]` is block `b` of row `k`). Each weight block is loaded and
/// widened from i8 once (four `i16x8`) and multiplied with every row's block; the four rows'
/// i32 lanes are summed across (exact, in integers), so that one vector holds the four block
/// sums, scaled and added as [`dot1`] does: the same bits as the scalar kernel.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn dot4<const N: usize>(x: [&Quantized; N], weights: [&[i8]; 4], scales: &[f32]) -> [[f32; 4]; N] {
    use core::arch::wasm32::*;
    let blocks = weights[0].len() / BLOCK;
    assert!(
        x.iter().all(|x| x.scales.len() == blocks && x.values.len() == blocks * BLOCK)
            && weights.iter().all(|w| w.len() == blocks * BLOCK)
            && scales.len() == 4 * blocks
    );
    let mut acc = [f32x4_splat(0.0); N];
    for b in 0..blocks {
        // SAFETY: the assertion above keeps every load inside its slice (block b of 32 values,
        // four scales); wasm loads need no alignment.
        unsafe {
            let mut s = [[i32x4_splat(0); 4]; N];
            for k in 0..4 {
                let wp = weights[k].as_ptr().add(b * BLOCK);
                let w = [i16x8_load_extend_i8x8(wp), i16x8_load_extend_i8x8(wp.add(8)), i16x8_load_extend_i8x8(wp.add(16)), i16x8_load_extend_i8x8(wp.add(24))];
                for t in 0..N {
                    let xp = x[t].values.as_ptr().add(b * BLOCK) as *const v128;
                    let mut d = i32x4_dot_i16x8(v128_load(xp), w[0]);
                    d = i32x4_add(d, i32x4_dot_i16x8(v128_load(xp.add(1)), w[1]));
                    d = i32x4_add(d, i32x4_dot_i16x8(v128_load(xp.add(2)), w[2]));
                    s[t][k] = i32x4_add(d, i32x4_dot_i16x8(v128_load(xp.add(3)), w[3]));
                }
            }
            let ws = v128_load(scales.as_ptr().add(4 * b) as *const v128);
            for t in 0..N {
                let s = &s[t];
                // Transpose-and-add: lane k of the result is the sum of s[k]'s four lanes.
                let lo = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(s[0], s[1]), i32x4_shuffle::<2, 6, 3, 7>(s[0], s[1]));
                let hi = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(s[2], s[3]), i32x4_shuffle::<2, 6, 3, 7>(s[2], s[3]));
                let sums = i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(lo, hi), i32x4_shuffle::<2, 3, 6, 7>(lo, hi));
                let scale = f32x4_mul(f32x4_splat(*x[t].scales.get_unchecked(b)), ws);
                acc[t] = f32x4_add(acc[t], f32x4_mul(f32x4_convert_i32x4(sums), scale));
            }
        }
    }
    acc.map(|a| [f32x4_extract_lane::<0>(a), f32x4_extract_lane::<1>(a), f32x4_extract_lane::<2>(a), f32x4_extract_lane::<3>(a)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The int8 layer's products are the f32 products of the dequantised weights, up to the
    /// activations' own quantisation error.
    #[test]
    fn int8_products_follow_the_f32_products() {
        let device = Device::Cpu;
        let (outputs, inputs) = (10, 64);
        let w: Vec<f32> = (0..outputs * inputs).map(|i| ((i * 7919) % 211) as f32 / 105.0 - 1.0).collect();
        let weight = Tensor::from_vec(w, (outputs, inputs), &device).unwrap();
        let q = QTensor::quantize(&weight, GgmlDType::Q8_0).unwrap();
        let bias = Tensor::from_vec((0..outputs).map(|i| i as f32 / 10.0).collect::<Vec<_>>(), outputs, &device).unwrap();
        let layer = Int8Linear::from_q8_0(&q, &bias).unwrap();
        // Five rows: a tile of four and one alone; ten outputs: two groups of four and two alone.
        let x = Tensor::from_vec((0..5 * inputs).map(|i| ((i * 31) % 17) as f32 / 8.0 - 1.0).collect::<Vec<_>>(), (1, 5, inputs), &device).unwrap();
        let got = layer.forward(&x).unwrap();
        assert_eq!(got.dims(), &[1, 5, outputs]);
        for row in 0..5 {
            let alone = layer.forward(&x.narrow(1, row, 1).unwrap()).unwrap();
            assert_eq!(
                alone.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                got.narrow(1, row, 1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                "row {row} in a tile"
            );
        }
        let expected = x.broadcast_matmul(&q.dequantize(&device).unwrap().t().unwrap()).unwrap().broadcast_add(&bias).unwrap();
        let (got, expected) = (got.flatten_all().unwrap().to_vec1::<f32>().unwrap(), expected.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 0.05, "{g} vs {e}");
        }
        assert!(Int8Linear::from_q8_0(&q, &Tensor::zeros(3, candle_core::DType::F32, &device).unwrap()).is_err(), "a bias of the wrong length");
        assert!(layer.forward(&Tensor::zeros((2, 32), candle_core::DType::F32, &device).unwrap()).is_err(), "the wrong input width");
    }
}
