//! The generator's Q4_1 matrices on wasm SIMD, the format small models such as SmolLM2 are
//! published in: the same products as candle's Q4_1 matmul, bit for bit, which on wasm is
//! candle's generic code, one value at a time. Each activation row is quantised once per
//! matmul as candle's `BlockQ8_1::from_float` does (the values of [`Quantized`], plus each
//! block's `s`), the weights' f16 scales and minimums become f32 once at load, and each weight
//! block's bytes are widened once for every token of a pass. The integer block sums are
//! exact; each row's float sum follows candle's `vec_dot_q4_1_q8_1` order
//! (`sum += isum · d_w · d_x + m_w · s_x`, block after block), four rows in four lanes.

use super::q8::{tiled_matmul, Quantized};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Result, Tensor};
use core::arch::wasm32::*;
use half::f16;

/// Values per Q4_1 block.
const BLOCK: usize = 32;
/// Bytes per Q4_1 block: f16 scale, f16 minimum, 16 bytes of nibbles.
const BLOCK_BYTES: usize = 20;

/// A Q4_1 matrix of `outputs` rows of `inputs` values. Rows come in groups of four whose
/// scales and minimums are interleaved block by block (block 0 of rows 0–3, block 1 of rows
/// 0–3, …) so the kernel loads four as one vector; rows after the last whole group follow one
/// after the other.
pub struct Q4Matrix {
    outputs: usize,
    inputs: usize,
    /// 16 bytes per block, row by row: value `j` of a block in the low nibble of byte `j`,
    /// value `j + 16` in its high nibble.
    nibbles: Vec<u8>,
    scales: Vec<f32>,
    mins: Vec<f32>,
}

/// An activation row quantised as `BlockQ8_1`: [`Quantized`] and each block's `s`, the f16 of
/// its values' sum times the block's f16 scale (as candle computes it); and, per block,
/// `x[j + 16] - 16·x[j]` for `j < 16`, which lets the kernel multiply a weight byte
/// (`low + 16·high`) whole: `Σ byte·x[j] + Σ high·(x[j + 16] - 16·x[j]) = Σ low·x[j] + Σ high·x[j + 16]`.
struct Row {
    q: Quantized,
    sums: Vec<f32>,
    spread: Vec<i16>,
}

impl Row {
    fn new(values: &[f32]) -> Row {
        let q = Quantized::new(values);
        let sums = q
            .values
            .chunks_exact(BLOCK)
            .zip(&q.scales)
            .map(|(block, &d)| {
                let sum: i32 = block.iter().map(|&v| i32::from(v)).sum();
                (f16::from_f32(sum as f32) * f16::from_f32(d)).to_f32()
            })
            .collect();
        let spread = q.values.chunks_exact(BLOCK).flat_map(|block| (0..BLOCK / 2).map(move |j| block[j + BLOCK / 2] - 16 * block[j])).collect();
        Row { q, sums, spread }
    }
}

impl Q4Matrix {
    /// The matrix of a 2-D Q4_1 tensor (`[outputs, inputs]`), or `None` for another type.
    pub fn from_qtensor(tensor: &QTensor) -> Result<Option<Q4Matrix>> {
        if tensor.dtype() != GgmlDType::Q4_1 {
            return Ok(None);
        }
        let (outputs, inputs) = tensor.shape().dims2()?;
        if !inputs.is_multiple_of(BLOCK) {
            return Ok(None);
        }
        let data = tensor.data()?;
        let blocks = inputs / BLOCK;
        if data.len() != outputs * blocks * BLOCK_BYTES {
            candle_core::bail!("a Q4_1 matrix of {outputs}×{inputs} needs {} bytes, not {}", outputs * blocks * BLOCK_BYTES, data.len());
        }
        let grouped = outputs / 4 * 4;
        let mut nibbles = Vec::with_capacity(outputs * blocks * 16);
        let mut scales = vec![0f32; outputs * blocks];
        let mut mins = vec![0f32; outputs * blocks];
        for (i, block) in data.chunks_exact(BLOCK_BYTES).enumerate() {
            let (o, b) = (i / blocks, i % blocks);
            let at = if o < grouped { (o / 4 * blocks + b) * 4 + o % 4 } else { i };
            scales[at] = f16::from_le_bytes([block[0], block[1]]).to_f32();
            mins[at] = f16::from_le_bytes([block[2], block[3]]).to_f32();
            nibbles.extend_from_slice(&block[4..]);
        }
        Ok(Some(Q4Matrix { outputs, inputs, nibbles, scales, mins }))
    }

    /// `x·Wᵀ` for `x` of shape `[..., inputs]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        tiled_matmul(x, self.inputs, self.outputs, "Q4_1", Row::new, |tile, y| self.products(tile, y), |row, y| self.products(row, y))
    }

    /// Every output of `N` rows (`y`, one row of outputs after the other).
    fn products<const N: usize>(&self, x: [&Row; N], y: &mut [f32]) {
        let blocks = self.inputs / BLOCK;
        let nibbles = |o: usize| &self.nibbles[o * blocks * 16..(o + 1) * blocks * 16];
        let mut o = 0;
        while o + 4 <= self.outputs {
            let group = Group {
                nibbles: [nibbles(o), nibbles(o + 1), nibbles(o + 2), nibbles(o + 3)],
                scales: &self.scales[o * blocks..(o + 4) * blocks],
                mins: &self.mins[o * blocks..(o + 4) * blocks],
            };
            let sums = dot4(x, &group);
            for (t, sums) in sums.iter().enumerate() {
                y[t * self.outputs + o..t * self.outputs + o + 4].copy_from_slice(sums);
            }
            o += 4;
        }
        for o in o..self.outputs {
            let range = o * blocks..(o + 1) * blocks;
            for (t, x) in x.iter().enumerate() {
                y[t * self.outputs + o] = dot1(x, nibbles(o), &self.scales[range.clone()], &self.mins[range.clone()]);
            }
        }
    }
}

/// Four weight rows of a matrix, as [`dot4`] reads them.
struct Group<'a> {
    nibbles: [&'a [u8]; 4],
    /// The rows' block scales, interleaved (`scales[4b + k]` is block `b` of row `k`).
    scales: &'a [f32],
    /// The rows' block minimums, interleaved the same way.
    mins: &'a [f32],
}

/// One product of `x` with a weight row, candle's `vec_dot_q4_1_q8_1` one value at a time.
fn dot1(x: &Row, nibbles: &[u8], scales: &[f32], mins: &[f32]) -> f32 {
    let mut sum = 0f32;
    for (b, ((&d, &m), (&xd, &xs))) in scales.iter().zip(mins).zip(x.q.scales.iter().zip(&x.sums)).enumerate() {
        let values = &x.q.values[b * BLOCK..(b + 1) * BLOCK];
        let isum: i32 = nibbles[b * 16..(b + 1) * 16]
            .iter()
            .enumerate()
            .map(|(j, &n)| i32::from(n & 0x0F) * i32::from(values[j]) + i32::from(n >> 4) * i32::from(values[j + 16]))
            .sum();
        sum += isum as f32 * d * xd + m * xs;
    }
    sum
}

/// Each of the `N` rows `x` times the four weight rows of `group`, each product candle's
/// `vec_dot_q4_1_q8_1` exactly: a block's bytes are widened once for all `N` rows and
/// multiplied whole and by their high nibbles (see [`Row`]), its four integer sums are added
/// across lanes (exact), and the float steps run lane by lane in candle's order.
fn dot4<const N: usize>(x: [&Row; N], group: &Group) -> [[f32; 4]; N] {
    let Group { nibbles, scales, mins } = *group;
    let blocks = nibbles[0].len() / 16;
    assert!(
        x.iter().all(|x| x.q.scales.len() == blocks && x.sums.len() == blocks && x.q.values.len() == blocks * BLOCK && x.spread.len() == blocks * BLOCK / 2)
            && nibbles.iter().all(|n| n.len() == blocks * 16)
            && scales.len() == 4 * blocks
            && mins.len() == 4 * blocks
    );
    let mut acc = [f32x4_splat(0.0); N];
    for b in 0..blocks {
        // SAFETY: the assertion above keeps every load inside its slice (16 bytes of block b of
        // each row, its 32 activations, four scales and four minimums); wasm loads need no
        // alignment.
        unsafe {
            // Each row's 16 bytes widened whole (`low + 16·high`, 0..=255) and their high nibbles.
            let wide: [[v128; 4]; 4] = std::array::from_fn(|k| {
                let bytes = v128_load(nibbles[k].as_ptr().add(b * 16) as *const v128);
                let (first, second) = (u16x8_extend_low_u8x16(bytes), u16x8_extend_high_u8x16(bytes));
                [first, second, u16x8_shr(first, 4), u16x8_shr(second, 4)]
            });
            let d = v128_load(scales.as_ptr().add(4 * b) as *const v128);
            let m = v128_load(mins.as_ptr().add(4 * b) as *const v128);
            for t in 0..N {
                let xp = x[t].q.values.as_ptr().add(b * BLOCK) as *const v128;
                let sp = x[t].spread.as_ptr().add(b * BLOCK / 2) as *const v128;
                let xv = [v128_load(xp), v128_load(xp.add(1)), v128_load(sp), v128_load(sp.add(1))];
                let s: [v128; 4] = std::array::from_fn(|k| {
                    let mut sum = i32x4_dot_i16x8(wide[k][0], xv[0]);
                    sum = i32x4_add(sum, i32x4_dot_i16x8(wide[k][1], xv[1]));
                    sum = i32x4_add(sum, i32x4_dot_i16x8(wide[k][2], xv[2]));
                    i32x4_add(sum, i32x4_dot_i16x8(wide[k][3], xv[3]))
                });
                // Transpose-and-add: lane k of `isum` is the sum of s[k]'s four lanes.
                let lo = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(s[0], s[1]), i32x4_shuffle::<2, 6, 3, 7>(s[0], s[1]));
                let hi = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(s[2], s[3]), i32x4_shuffle::<2, 6, 3, 7>(s[2], s[3]));
                let isum = i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(lo, hi), i32x4_shuffle::<2, 3, 6, 7>(lo, hi));
                let xd = f32x4_splat(*x[t].q.scales.get_unchecked(b));
                let xs = f32x4_splat(*x[t].sums.get_unchecked(b));
                let term = f32x4_add(f32x4_mul(f32x4_mul(f32x4_convert_i32x4(isum), d), xd), f32x4_mul(m, xs));
                acc[t] = f32x4_add(acc[t], term);
            }
        }
    }
    acc.map(|a| [f32x4_extract_lane::<0>(a), f32x4_extract_lane::<1>(a), f32x4_extract_lane::<2>(a), f32x4_extract_lane::<3>(a)])
}
