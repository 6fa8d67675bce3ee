//! The int8 encoder's linear layers, our own kernel: weights as i8 rows with one f32 scale per
//! block of 32 (Q8_0's f16 scales converted once, at load), activations quantised per block the
//! same way, and block dot products in i32. On wasm SIMD each activation block is loaded once
//! for four weight rows and multiplied with `i32x4.dot_i16x8`. candle's Q8_0 matmul converts
//! both f16 scales in every block of every dot product, which left the int8 model slower than
//! f32 in the browser.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Result, Tensor};
use half::f16;

/// Values per quantisation block, as in Q8_0.
const BLOCK: usize = 32;
/// Bytes of one Q8_0 block: an f16 scale, then 32 int8 values.
const Q8_0_BYTES: usize = 2 + BLOCK;

/// A linear layer `y = x·Wᵀ + b` with int8 weights `W` (`[outputs, inputs]`).
pub struct Int8Linear {
    outputs: usize,
    inputs: usize,
    /// `outputs × inputs` weights, row by row.
    weights: Vec<i8>,
    /// One scale per block of each row: `outputs × inputs / 32`.
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
        let mut weights = Vec::with_capacity(outputs * inputs);
        let mut scales = Vec::with_capacity(outputs * inputs / BLOCK);
        for block in data.chunks_exact(Q8_0_BYTES) {
            scales.push(f16::from_le_bytes([block[0], block[1]]).to_f32());
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
        let mut quantized = Quantized::new(self.inputs);
        for (row, y) in values.chunks_exact(self.inputs).zip(out.chunks_exact_mut(self.outputs)) {
            quantized.set(row);
            self.row(&quantized, y);
        }
        let mut shape = lead.to_vec();
        shape.push(self.outputs);
        Tensor::from_vec(out, shape, x.device())
    }

    /// One output row: every output's dot product with the quantised input row, plus the bias.
    fn row(&self, x: &Quantized, y: &mut [f32]) {
        let blocks = self.inputs / BLOCK;
        let weights = |o: usize| &self.weights[o * self.inputs..(o + 1) * self.inputs];
        let scales = |o: usize| &self.scales[o * blocks..(o + 1) * blocks];
        let mut o = 0;
        while o + 4 <= self.outputs {
            let sums = dot4(x, [weights(o), weights(o + 1), weights(o + 2), weights(o + 3)], [scales(o), scales(o + 1), scales(o + 2), scales(o + 3)]);
            for (k, s) in sums.into_iter().enumerate() {
                y[o + k] = s + self.bias[o + k];
            }
            o += 4;
        }
        for (o, (y, bias)) in y.iter_mut().zip(&self.bias).enumerate().skip(o) {
            *y = dot1(x, weights(o), scales(o)) + bias;
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

    fn set(&mut self, row: &[f32]) {
        for ((block, q), scale) in row.chunks_exact(BLOCK).zip(self.values.chunks_exact_mut(BLOCK)).zip(&mut self.scales) {
            let largest = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            *scale = largest / 127.0;
            let inverse = if largest > 0.0 { 127.0 / largest } else { 0.0 };
            for (q, v) in q.iter_mut().zip(block) {
                *q = (v * inverse).round() as i16;
            }
        }
    }
}

/// One dot product of `x` with a weight row.
fn dot1(x: &Quantized, weights: &[i8], scales: &[f32]) -> f32 {
    let mut sum = 0f32;
    for (b, (xs, ws)) in x.scales.iter().zip(scales).enumerate() {
        let range = b * BLOCK..(b + 1) * BLOCK;
        let dot: i32 = x.values[range.clone()].iter().zip(&weights[range]).map(|(&a, &w)| i32::from(a) * i32::from(w)).sum();
        sum += dot as f32 * (xs * ws);
    }
    sum
}

/// Four dot products of `x` with four weight rows.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn dot4(x: &Quantized, weights: [&[i8]; 4], scales: [&[f32]; 4]) -> [f32; 4] {
    std::array::from_fn(|k| dot1(x, weights[k], scales[k]))
}

/// Four dot products of `x` with four weight rows: each block of `x` is loaded once (four
/// `i16x8`) and multiplied with each row's block, widened from i8 as it is loaded.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn dot4(x: &Quantized, weights: [&[i8]; 4], scales: [&[f32]; 4]) -> [f32; 4] {
    use core::arch::wasm32::*;
    let blocks = x.scales.len();
    assert!(x.values.len() == blocks * BLOCK && weights.iter().all(|w| w.len() == blocks * BLOCK) && scales.iter().all(|s| s.len() == blocks));
    let mut acc = [f32x4_splat(0.0); 4];
    for b in 0..blocks {
        // SAFETY: the assertion above keeps every load inside its slice (block b of 32 values);
        // wasm loads need no alignment.
        unsafe {
            let xp = x.values.as_ptr().add(b * BLOCK) as *const v128;
            let xv = [v128_load(xp), v128_load(xp.add(1)), v128_load(xp.add(2)), v128_load(xp.add(3))];
            let xs = *x.scales.get_unchecked(b);
            for k in 0..4 {
                let wp = weights[k].as_ptr().add(b * BLOCK);
                let mut s = i32x4_dot_i16x8(xv[0], i16x8_load_extend_i8x8(wp));
                s = i32x4_add(s, i32x4_dot_i16x8(xv[1], i16x8_load_extend_i8x8(wp.add(8))));
                s = i32x4_add(s, i32x4_dot_i16x8(xv[2], i16x8_load_extend_i8x8(wp.add(16))));
                s = i32x4_add(s, i32x4_dot_i16x8(xv[3], i16x8_load_extend_i8x8(wp.add(24))));
                let scale = f32x4_splat(xs * *scales[k].get_unchecked(b));
                acc[k] = f32x4_add(acc[k], f32x4_mul(f32x4_convert_i32x4(s), scale));
            }
        }
    }
    acc.map(|a| f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a) + f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a))
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
        let x = Tensor::from_vec((0..3 * inputs).map(|i| ((i * 31) % 17) as f32 / 8.0 - 1.0).collect::<Vec<_>>(), (1, 3, inputs), &device).unwrap();
        let got = layer.forward(&x).unwrap();
        assert_eq!(got.dims(), &[1, 3, outputs]);
        let expected = x.broadcast_matmul(&q.dequantize(&device).unwrap().t().unwrap()).unwrap().broadcast_add(&bias).unwrap();
        let (got, expected) = (got.flatten_all().unwrap().to_vec1::<f32>().unwrap(), expected.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 0.05, "{g} vs {e}");
        }
        assert!(Int8Linear::from_q8_0(&q, &Tensor::zeros(3, candle_core::DType::F32, &device).unwrap()).is_err(), "a bias of the wrong length");
        assert!(layer.forward(&Tensor::zeros((2, 32), candle_core::DType::F32, &device).unwrap()).is_err(), "the wrong input width");
    }
}
