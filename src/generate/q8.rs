//! The generator's Q8_0 matrices on wasm SIMD: the same products as candle's Q8_0 matmul, bit
//! for bit, computed faster. candle converts both f16 block scales to f32 and widens the
//! activation's bytes again for every weight row it meets; here the weight scales are
//! converted once at load, each activation row is quantised and widened once per matmul, and
//! one pass over a weight block serves [`TILE`] tokens (a prefill's rows). Each product keeps
//! candle's arithmetic exactly (`vec_dot_q8_0_q8_0` in its `simd128.rs`: four i32 lanes per
//! block, scaled and added lane by lane, the lanes summed at the end), so the WebGPU decoder,
//! which follows that order, still matches the CPU path bit for bit.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Result, Tensor};
use core::arch::wasm32::*;
use half::f16;

/// Values per Q8_0 block.
const BLOCK: usize = crate::gguf::Q8_0_BLOCK;
/// Tokens computed together in one pass over the weights (by this kernel and the Q4_1 one).
pub(super) const TILE: usize = 2;

/// A Q8_0 matrix of `outputs` rows of `inputs` values, its scales as f32.
pub struct Q8Matrix {
    outputs: usize,
    inputs: usize,
    values: Vec<i8>,
    scales: Vec<f32>,
}

impl Q8Matrix {
    /// The matrix of a 2-D Q8_0 tensor (`[outputs, inputs]`), or `None` for another type.
    pub fn from_qtensor(tensor: &QTensor) -> Result<Option<Q8Matrix>> {
        if tensor.dtype() != GgmlDType::Q8_0 {
            return Ok(None);
        }
        let (outputs, inputs) = tensor.shape().dims2()?;
        if !inputs.is_multiple_of(BLOCK) {
            return Ok(None);
        }
        let data = tensor.data()?;
        let mut values = Vec::with_capacity(outputs * inputs);
        let mut scales = Vec::with_capacity(outputs * inputs / BLOCK);
        for (scale, block) in crate::gguf::q8_0_blocks(&data, outputs, inputs).map_err(candle_core::Error::Msg)? {
            scales.push(scale);
            values.extend(block.iter().map(|&b| b as i8));
        }
        Ok(Some(Q8Matrix { outputs, inputs, values, scales }))
    }

    /// Rows `ids` of the matrix as f32 (`[ids.len(), inputs]`), as candle dequantises them:
    /// each value times its block's scale. For the token embedding table.
    pub fn rows(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(ids.len() * self.inputs);
        for &id in ids {
            let row = id as usize;
            if row >= self.outputs {
                candle_core::bail!("token {id} is outside the table's {} rows", self.outputs);
            }
            let values = &self.values[row * self.inputs..(row + 1) * self.inputs];
            let scales = &self.scales[row * self.inputs / BLOCK..(row + 1) * self.inputs / BLOCK];
            for (block, &scale) in values.chunks_exact(BLOCK).zip(scales) {
                out.extend(block.iter().map(|&v| f32::from(v) * scale));
            }
        }
        Ok(out)
    }

    /// `x·Wᵀ` for `x` of shape `[..., inputs]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        tiled_matmul(x, self.inputs, self.outputs, "Q8_0", Quantized::new, |tile, y| self.products(tile, y), |row, y| self.products(row, y))
    }

    /// Every output of `N` rows (`y`, one row of outputs after the other).
    fn products<const N: usize>(&self, x: [&Quantized; N], y: &mut [f32]) {
        let blocks = self.inputs / BLOCK;
        let row = |o: usize| (&self.values[o * self.inputs..(o + 1) * self.inputs], &self.scales[o * blocks..(o + 1) * blocks]);
        let mut o = 0;
        while o + 4 <= self.outputs {
            let sums = dot4(x, [row(o), row(o + 1), row(o + 2), row(o + 3)]);
            for (t, sums) in sums.iter().enumerate() {
                y[t * self.outputs + o..t * self.outputs + o + 4].copy_from_slice(sums);
            }
            o += 4;
        }
        for o in o..self.outputs {
            let sums = dot4(x, [row(o); 4]);
            for (t, sums) in sums.iter().enumerate() {
                y[t * self.outputs + o] = sums[0];
            }
        }
    }
}

/// `x·Wᵀ` for a quantised matrix of `inputs` columns and `outputs` rows and `x` of shape
/// `[..., inputs]`, shared by the Q8_0 and Q4_1 kernels: each row of `x` is quantised once
/// (`quantize`), then [`TILE`] rows at a time go through `tile` and any left over through `one`,
/// each writing its rows' outputs one row after the other.
pub(super) fn tiled_matmul<R>(
    x: &Tensor,
    inputs: usize,
    outputs: usize,
    format: &str,
    quantize: impl Fn(&[f32]) -> R,
    tile: impl Fn([&R; TILE], &mut [f32]),
    one: impl Fn([&R; 1], &mut [f32]),
) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let Some((&last, lead)) = dims.split_last() else {
        candle_core::bail!("a {format} matmul needs at least one dimension");
    };
    if last != inputs {
        candle_core::bail!("{last} inputs to a matrix of {inputs}");
    }
    let values = x.flatten_all()?.to_vec1::<f32>()?;
    let rows: Vec<R> = values.chunks_exact(inputs).map(quantize).collect();
    let mut out = vec![0f32; rows.len() * outputs];
    let mut tiles = rows.chunks_exact(TILE);
    let mut dst = out.chunks_exact_mut(TILE * outputs);
    for (rows, y) in (&mut tiles).zip(&mut dst) {
        tile(std::array::from_fn(|t| &rows[t]), y);
    }
    for (row, y) in tiles.remainder().iter().zip(dst.into_remainder().chunks_exact_mut(outputs)) {
        one([row], y);
    }
    let mut shape = lead.to_vec();
    shape.push(outputs);
    Tensor::from_vec(out, shape, x.device())
}

/// An activation row quantised as candle's `BlockQ8_0::from_float` does, its bytes widened to
/// i16 and its block scales rounded through f16 and back.
pub(super) struct Quantized {
    pub(super) values: Vec<i16>,
    pub(super) scales: Vec<f32>,
}

impl Quantized {
    /// Per block: `d = amax / 127`, values `round(x · (1 / d))` (halves away from zero,
    /// saturated to i8), and `d` kept as f16.
    pub(super) fn new(row: &[f32]) -> Quantized {
        let blocks = row.len() / BLOCK;
        let mut values = vec![0i16; row.len()];
        let mut scales = Vec::with_capacity(blocks);
        for (b, block) in row.chunks_exact(BLOCK).enumerate() {
            let amax = block.iter().fold(0f32, |m, x| m.max(x.abs()));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            scales.push(f16::from_f32(d).to_f32());
            // SAFETY: `block` holds 32 values and `values` 32 from b * 32 on.
            unsafe {
                let src = block.as_ptr() as *const v128;
                let inverse = f32x4_splat(id);
                let q = |i: usize| {
                    let v = f32x4_mul(v128_load(src.add(i)), inverse);
                    let whole = f32x4_trunc(v);
                    // Away from zero at a half: the fraction is exact below 2^23.
                    let half = f32x4_ge(f32x4_abs(f32x4_sub(v, whole)), f32x4_splat(0.5));
                    let one = v128_or(v128_and(v, f32x4_splat(-0.0)), f32x4_splat(1.0));
                    i32x4_trunc_sat_f32x4(f32x4_add(whole, v128_and(half, one)))
                };
                let dst = values.as_mut_ptr().add(b * BLOCK) as *mut v128;
                for i in 0..4 {
                    let wide = i16x8_narrow_i32x4(q(2 * i), q(2 * i + 1));
                    // Saturated to i8 as `as i8` does, then widened back.
                    let bytes = i8x16_narrow_i16x8(wide, wide);
                    v128_store(dst.add(i), i16x8_extend_low_i8x16(bytes));
                }
            }
        }
        Quantized { values, scales }
    }
}

/// Each of the `N` rows `x` times four weight rows `(values, scales)`, each product candle's
/// `vec_dot_q8_0_q8_0` exactly. A weight block is widened once for all `N` rows.
fn dot4<const N: usize>(x: [&Quantized; N], w: [(&[i8], &[f32]); 4]) -> [[f32; 4]; N] {
    let blocks = w[0].1.len();
    let mut acc = [[f32x4_splat(0.0); 4]; N];
    for b in 0..blocks {
        // SAFETY: every row holds `blocks` blocks of 32 values, so each load stays inside it.
        unsafe {
            let wide: [[v128; 4]; 4] = std::array::from_fn(|k| std::array::from_fn(|i| i16x8_load_extend_i8x8(w[k].0.as_ptr().add(b * BLOCK + 8 * i))));
            for (t, x) in x.iter().enumerate() {
                let xp = x.values.as_ptr().add(b * BLOCK) as *const v128;
                let xv: [v128; 4] = std::array::from_fn(|i| v128_load(xp.add(i)));
                let xd = *x.scales.get_unchecked(b);
                for k in 0..4 {
                    let mut sum = i32x4_dot_i16x8(wide[k][0], xv[0]);
                    sum = i32x4_add(sum, i32x4_dot_i16x8(wide[k][1], xv[1]));
                    sum = i32x4_add(sum, i32x4_dot_i16x8(wide[k][2], xv[2]));
                    sum = i32x4_add(sum, i32x4_dot_i16x8(wide[k][3], xv[3]));
                    let d = f32x4_splat(*w[k].1.get_unchecked(b) * xd);
                    acc[t][k] = f32x4_add(acc[t][k], f32x4_mul(f32x4_convert_i32x4(sum), d));
                }
            }
        }
    }
    acc.map(|row| row.map(|a| f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a) + f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a)))
}
