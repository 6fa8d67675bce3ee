//! The int8 encoder's linear layers, our own kernel: weights as i8 rows with one f32 scale per
//! block of 32 (Q8_0's f16 scales converted once, at load), activations quantised per block the
//! same way, and block dot products in i32. On wasm SIMD four input rows (tokens) go through
//! each group of four weight rows together: every weight block is widened from i8 once for the
//! four tokens and multiplied with `i32x4.dot_i16x8`, and the four rows' block sums are added
//! across lanes in integers so that one vector carries them through the scaling. The result is
//! the scalar kernel's, bit for bit. Natively on x86-64 the same kernel runs on AVX2, or, where
//! the CPU has VNNI, on weights packed at load so that each lane sums one row (`x86::Packed`);
//! both give the scalar kernel's bits too. candle's Q8_0 matmul converts both f16 scales in
//! every block of every dot product, which left the int8 model slower than f32 in the browser.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Result, Tensor};

/// Values per quantisation block, as in Q8_0.
const BLOCK: usize = crate::gguf::Q8_0_BLOCK;
/// Input rows (tokens) multiplied together with each block of weights, which is loaded and
/// widened once for all of them.
const TILE: usize = 4;

/// A linear layer `y = x·Wᵀ + b` with int8 weights `W` (`[outputs, inputs]`).
pub struct Int8Linear {
    outputs: usize,
    inputs: usize,
    /// `outputs × inputs` weights, row by row (empty where `packed` holds them).
    weights: Vec<i8>,
    /// One scale per block of each row, `outputs × inputs / 32`: rows in groups of four with
    /// their scales interleaved block by block (block 0 of rows 0–3, block 1 of rows 0–3, …),
    /// so the kernel loads the four as one vector; rows after the last whole group, one after
    /// the other. Empty where `packed` holds them.
    scales: Vec<f32>,
    /// The weights and scales in the VNNI kernel's layout instead, where the CPU has VNNI.
    #[cfg(target_arch = "x86_64")]
    packed: Option<x86::Packed>,
    bias: Vec<f32>,
}

/// Four weight rows of a layer, as [`dot4`] reads them.
struct Group<'a> {
    weights: [&'a [i8]; 4],
    /// The rows' block scales, interleaved (`scales[4b + k]` is block `b` of row `k`).
    scales: &'a [f32],
}

impl Int8Linear {
    /// Takes the weights from a Q8_0 tensor `[outputs, inputs]` and the f32 `bias`.
    pub fn from_q8_0(weight: &QTensor, bias: &Tensor) -> Result<Int8Linear> {
        Int8Linear::read(weight, bias, true)
    }

    /// [`Int8Linear::from_q8_0`], packing the weights for the VNNI kernel only if `vnni` (and
    /// the CPU has it), so that tests can compare the kernels on one layer.
    fn read(weight: &QTensor, bias: &Tensor, vnni: bool) -> Result<Int8Linear> {
        let (outputs, inputs) = weight.shape().dims2()?;
        if weight.dtype() != GgmlDType::Q8_0 || !inputs.is_multiple_of(BLOCK) {
            return Err(candle_core::Error::Msg(format!("an int8 linear layer needs Q8_0 rows of whole blocks, not {:?} {outputs}×{inputs}", weight.dtype())));
        }
        let data = weight.data()?;
        let blocks = inputs / BLOCK;
        #[cfg(target_arch = "x86_64")]
        let mut packed = if vnni { x86::Packed::for_layer(outputs, inputs) } else { None };
        #[cfg(target_arch = "x86_64")]
        let rows = packed.is_none();
        // Off x86-64 there is no VNNI kernel: the weights are always kept row by row.
        #[cfg(not(target_arch = "x86_64"))]
        let rows = {
            let _ = vnni;
            true
        };
        let mut weights = Vec::with_capacity(if rows { outputs * inputs } else { 0 });
        let mut scales = vec![0f32; if rows { outputs * blocks } else { 0 }];
        let grouped = outputs / 4 * 4;
        for (i, (scale, block)) in crate::gguf::q8_0_blocks(&data, outputs, inputs).map_err(candle_core::Error::Msg)?.enumerate() {
            let (o, b) = (i / blocks, i % blocks);
            #[cfg(target_arch = "x86_64")]
            if let Some(packed) = &mut packed {
                packed.put(o, b, scale, block);
                continue;
            }
            let at = if o < grouped { (o / 4 * blocks + b) * 4 + o % 4 } else { i };
            scales[at] = scale;
            weights.extend(block.iter().map(|&b| b as i8));
        }
        let bias = bias.to_vec1::<f32>()?;
        if bias.len() != outputs {
            return Err(candle_core::Error::Msg(format!("a bias of {} for {outputs} outputs", bias.len())));
        }
        Ok(Int8Linear {
            outputs,
            inputs,
            weights,
            scales,
            #[cfg(target_arch = "x86_64")]
            packed,
            bias,
        })
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
        #[cfg(target_arch = "x86_64")]
        if let Some(packed) = &self.packed {
            // SAFETY: a layer has packed weights only where the CPU has VNNI (`Packed::for_layer`).
            return unsafe { packed.rows(x, &self.bias, y) };
        }
        let blocks = self.inputs / BLOCK;
        let weights = |o: usize| &self.weights[o * self.inputs..(o + 1) * self.inputs];
        let scales = |o: usize| &self.scales[o * blocks..(o + 1) * blocks];
        let mut o = 0;
        while o + 4 <= self.outputs {
            let group = Group { weights: [weights(o), weights(o + 1), weights(o + 2), weights(o + 3)], scales: &self.scales[o * blocks..(o + 4) * blocks] };
            let sums = dot4(x, &group);
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
    /// The values plus 128, as unsigned bytes, for the VNNI kernel (written by the AVX2
    /// quantisation only).
    #[cfg(target_arch = "x86_64")]
    offset: Vec<u8>,
}

impl Quantized {
    fn new(inputs: usize) -> Quantized {
        Quantized {
            values: vec![0; inputs],
            scales: vec![0.0; inputs / BLOCK],
            #[cfg(target_arch = "x86_64")]
            offset: vec![0; inputs],
        }
    }

    /// Quantises `row`, rounding halves to even (wasm's `nearest`, one instruction), on AVX2
    /// where the CPU has it.
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn set(&mut self, row: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { x86::quantize(self, row) };
        }
        self.set_scalar(row);
    }

    /// [`Quantized::set`] one value at a time, the reference the vector versions equal.
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn set_scalar(&mut self, row: &[f32]) {
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

/// Four dot products of each of the `N` rows `x` with the four weight rows of `group`; the same
/// arithmetic as [`dot1`], on AVX2 where the CPU has it.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn dot4<const N: usize>(x: [&Quantized; N], group: &Group) -> [[f32; 4]; N] {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { x86::dot4(x, group) };
    }
    dot4_scalar(x, group)
}

/// [`dot4`] one product at a time, the reference the vector kernels equal.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn dot4_scalar<const N: usize>(x: [&Quantized; N], group: &Group) -> [[f32; 4]; N] {
    x.map(|x| std::array::from_fn(|k| dot1(x, group.weights[k], &group.scales[k..], 4)))
}

/// The kernel on x86-64 with AVX2, for native indexing: `vpmaddwd` is wasm's `i32x4.dot_i16x8`
/// on eight lanes, so the integer block sums and their scaling are those of the other kernels.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Group, Quantized, BLOCK};
    use std::arch::x86_64::*;

    /// Weight rows in a group of the VNNI layout, one per i32 lane of a 256-bit vector.
    const ROWS: usize = 8;

    /// [`super::dot4`] with AVX2: each weight block is widened to i16 once for the `N` rows and
    /// multiplied with `vpmaddwd`; the four rows' block sums are added across lanes in integers
    /// (exact) and scaled and accumulated as [`super::dot1`] does, so the result is the scalar
    /// kernel's, bit for bit.
    #[target_feature(enable = "avx2")]
    pub(super) fn dot4<const N: usize>(x: [&Quantized; N], group: &Group) -> [[f32; 4]; N] {
        let blocks = group.weights[0].len() / BLOCK;
        assert!(
            x.iter().all(|x| x.scales.len() == blocks && x.values.len() == blocks * BLOCK)
                && group.weights.iter().all(|w| w.len() == blocks * BLOCK)
                && group.scales.len() == 4 * blocks
        );
        let mut acc = [_mm_setzero_ps(); N];
        let mut s = [[_mm256_setzero_si256(); 4]; N];
        for b in 0..blocks {
            // SAFETY: the assertion above keeps block b of every row and its four scales inside
            // their slices; these loads need no alignment.
            let ws = unsafe {
                for (k, row) in group.weights.iter().enumerate() {
                    let wp = row.as_ptr().add(b * BLOCK) as *const __m128i;
                    let w = [_mm256_cvtepi8_epi16(_mm_loadu_si128(wp)), _mm256_cvtepi8_epi16(_mm_loadu_si128(wp.add(1)))];
                    for (t, x) in x.iter().enumerate() {
                        let xp = x.values.as_ptr().add(b * BLOCK) as *const __m256i;
                        s[t][k] = _mm256_add_epi32(_mm256_madd_epi16(_mm256_loadu_si256(xp), w[0]), _mm256_madd_epi16(_mm256_loadu_si256(xp.add(1)), w[1]));
                    }
                }
                _mm_loadu_ps(group.scales.as_ptr().add(4 * b))
            };
            for t in 0..N {
                let s = &s[t];
                // Each 128-bit half holds the four rows' partial sums; the halves added give
                // lane k = the sum of s[k]'s eight lanes.
                let h = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
                let sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
                let scale = _mm_mul_ps(_mm_set1_ps(x[t].scales[b]), ws);
                acc[t] = _mm_add_ps(acc[t], _mm_mul_ps(_mm_cvtepi32_ps(sums), scale));
            }
        }
        acc.map(|a| {
            let mut out = [0f32; 4];
            // SAFETY: `out` has room for the four lanes.
            unsafe { _mm_storeu_ps(out.as_mut_ptr(), a) };
            out
        })
    }

    /// Weight rows in groups of eight for VNNI's `vpdpbusd`, which adds four products of
    /// unsigned and signed bytes into each i32 lane: for each group and block, eight vectors,
    /// vector `i` holding bytes `4i..4i + 4` of the eight rows, one row per lane. Multiplied
    /// with those four bytes of an activation block in every lane, the eight vectors leave each
    /// row's whole block sum in its own lane, with no adding across lanes. Activations are offset
    /// by 128 to make them unsigned, and `128 · Σw` is taken off after (exact, in integers).
    pub(super) struct Packed {
        outputs: usize,
        blocks: usize,
        /// `[group][block][i][row][4]` bytes.
        weights: Vec<i8>,
        /// `[group][block][row]`: the rows' block scales.
        scales: Vec<f32>,
        /// `[group][block][row]`: 128 times the rows' block sums of weights.
        offsets: Vec<i32>,
    }

    impl Packed {
        /// Room for a layer's weights, where the CPU has VNNI on 256-bit vectors and the rows
        /// make whole groups (MiniLM's all do); `None` otherwise.
        pub(super) fn for_layer(outputs: usize, inputs: usize) -> Option<Packed> {
            let vnni = is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl") && is_x86_feature_detected!("avx2");
            (vnni && outputs.is_multiple_of(ROWS)).then(|| Packed {
                outputs,
                blocks: inputs / BLOCK,
                weights: vec![0; outputs * inputs],
                scales: vec![0.0; outputs * inputs / BLOCK],
                offsets: vec![0; outputs * inputs / BLOCK],
            })
        }

        /// Puts block `b` of weight row `o`: its scale and 32 values.
        pub(super) fn put(&mut self, o: usize, b: usize, scale: f32, values: &[u8]) {
            let at = (o / ROWS * self.blocks + b) * ROWS;
            self.scales[at + o % ROWS] = scale;
            self.offsets[at + o % ROWS] = 128 * values.iter().map(|&v| i32::from(v as i8)).sum::<i32>();
            for (i, four) in values.chunks_exact(4).enumerate() {
                let to = ((at * ROWS + i * ROWS) + o % ROWS) * 4;
                for (w, &v) in self.weights[to..to + 4].iter_mut().zip(four) {
                    *w = v as i8;
                }
            }
        }

        /// [`super::Int8Linear::rows`] on the packed weights: `N` output rows `y`, plus `bias`.
        #[target_feature(enable = "avx2,avx512vnni,avx512vl")]
        pub(super) fn rows<const N: usize>(&self, x: [&Quantized; N], bias: &[f32], y: &mut [f32]) {
            let (outputs, blocks) = (self.outputs, self.blocks);
            assert!(
                x.iter().all(|x| x.offset.len() == blocks * BLOCK && x.scales.len() == blocks)
                    && self.weights.len() == outputs * blocks * BLOCK
                    && self.scales.len() == outputs * blocks
                    && self.offsets.len() == outputs * blocks
                    && bias.len() == outputs
                    && y.len() == N * outputs
            );
            for g in 0..outputs / ROWS {
                let mut acc = [_mm256_setzero_ps(); N];
                for b in 0..blocks {
                    let at = (g * blocks + b) * ROWS;
                    // SAFETY: the assertion above keeps every load inside its slice (block b of
                    // group g: 8 vectors of 32 bytes, 8 scales and offsets; 32 bytes of each
                    // activation row); these loads need no alignment.
                    unsafe {
                        let w: [__m256i; 8] =
                            std::array::from_fn(|i| _mm256_loadu_si256(self.weights.as_ptr().add((at * ROWS + i * ROWS) * 4) as *const __m256i));
                        let ws = _mm256_loadu_ps(self.scales.as_ptr().add(at));
                        let offset = _mm256_loadu_si256(self.offsets.as_ptr().add(at) as *const __m256i);
                        for t in 0..N {
                            let xp = x[t].offset.as_ptr().add(b * BLOCK) as *const i32;
                            let four = |i: usize| _mm256_set1_epi32(xp.add(i).read_unaligned());
                            // Two chains of four, added in integers, so they overlap.
                            let mut even = _mm256_dpbusd_epi32(_mm256_setzero_si256(), four(0), w[0]);
                            let mut odd = _mm256_dpbusd_epi32(_mm256_setzero_si256(), four(1), w[1]);
                            for i in (2..8).step_by(2) {
                                even = _mm256_dpbusd_epi32(even, four(i), w[i]);
                                odd = _mm256_dpbusd_epi32(odd, four(i + 1), w[i + 1]);
                            }
                            let sums = _mm256_sub_epi32(_mm256_add_epi32(even, odd), offset);
                            let scale = _mm256_mul_ps(_mm256_set1_ps(x[t].scales[b]), ws);
                            acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(_mm256_cvtepi32_ps(sums), scale));
                        }
                    }
                }
                for (t, acc) in acc.iter().enumerate() {
                    let mut sums = [0f32; ROWS];
                    // SAFETY: `sums` has room for the eight lanes.
                    unsafe { _mm256_storeu_ps(sums.as_mut_ptr(), *acc) };
                    for (j, s) in sums.iter().enumerate() {
                        y[t * outputs + g * ROWS + j] = s + bias[g * ROWS + j];
                    }
                }
            }
        }
    }

    /// [`Quantized::set`] with AVX2, eight lanes at a time: the same values as the scalar
    /// version (`vroundps` rounds halves to even).
    #[target_feature(enable = "avx2")]
    pub(super) fn quantize(q: &mut Quantized, row: &[f32]) {
        assert!(row.len() == q.values.len() && row.len() == q.offset.len() && row.len() == q.scales.len() * BLOCK);
        let magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
        for (b, scale) in q.scales.iter_mut().enumerate() {
            // SAFETY: the assertion above keeps block b's 32 values inside both slices.
            unsafe {
                let src = row.as_ptr().add(b * BLOCK);
                let v: [__m256; 4] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(8 * i)));
                let mut m = _mm256_and_ps(v[0], magnitude);
                for x in &v[1..] {
                    m = _mm256_max_ps(m, _mm256_and_ps(*x, magnitude));
                }
                let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
                let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
                let largest = _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps::<1>(m, m)));
                *scale = largest / 127.0;
                let inverse = _mm256_set1_ps(if largest > 0.0 { 127.0 / largest } else { 0.0 });
                let round = |x: __m256| _mm256_cvtps_epi32(_mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(x, inverse)));
                // packs works within 128-bit halves; the permutes put the quarters in order.
                let in_order = |packed: __m256i| _mm256_permute4x64_epi64::<0b11_01_10_00>(packed);
                let halves: [__m256i; 2] = std::array::from_fn(|i| in_order(_mm256_packs_epi32(round(v[2 * i]), round(v[2 * i + 1]))));
                let dst = q.values.as_mut_ptr().add(b * BLOCK) as *mut __m256i;
                _mm256_storeu_si256(dst, halves[0]);
                _mm256_storeu_si256(dst.add(1), halves[1]);
                // Values in -127..=127 plus 128 are their bytes with the top bit flipped.
                let bytes = _mm256_xor_si256(in_order(_mm256_packs_epi16(halves[0], halves[1])), _mm256_set1_epi8(i8::MIN));
                _mm256_storeu_si256(q.offset.as_mut_ptr().add(b * BLOCK) as *mut __m256i, bytes);
            }
        }
    }
}

/// Four dot products of each of the `N` rows `x` with four weight rows, whose block scales are
/// interleaved (`scales[4b + k]` is block `b` of row `k`). Each weight block is loaded and
/// widened from i8 once (four `i16x8`) and multiplied with every row's block; the four rows'
/// i32 lanes are summed across (exact, in integers), so that one vector holds the four block
/// sums, scaled and added as [`dot1`] does: the same bits as the scalar kernel.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn dot4<const N: usize>(x: [&Quantized; N], group: &Group) -> [[f32; 4]; N] {
    use core::arch::wasm32::*;
    let Group { weights, scales } = *group;
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

    /// The AVX2 kernel gives the scalar kernel's quantised rows and sums, bit for bit.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_equals_the_scalar_kernel() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let inputs = 96;
        // Halves (2.5, -0.5 after scaling) and zeros test the rounding; row 2 is all zeros.
        let rows: Vec<Vec<f32>> = (0..4)
            .map(|r| {
                (0..inputs)
                    .map(|i| if r == 2 { 0.0 } else { (((i * 37 + r * 11) % 29) as f32 - 14.0) * 0.37 + if i % 7 == 0 { 127.0 / 2.0 } else { 0.0 } })
                    .collect()
            })
            .collect();
        let (mut fast, mut slow): (Vec<Quantized>, Vec<Quantized>) = (0..4).map(|_| (Quantized::new(inputs), Quantized::new(inputs))).unzip();
        for ((f, s), row) in fast.iter_mut().zip(&mut slow).zip(&rows) {
            // SAFETY: the CPU has AVX2, checked above.
            unsafe { x86::quantize(f, row) };
            s.set_scalar(row);
            assert_eq!((&f.values, &f.scales), (&s.values, &s.scales));
        }
        let weights: Vec<Vec<i8>> = (0..4).map(|k| (0..inputs).map(|i| ((i * 53 + k * 17) % 255) as i32 - 127).map(|v| v as i8).collect()).collect();
        let scales: Vec<f32> = (0..4 * inputs / BLOCK).map(|i| 0.01 + i as f32 * 0.003).collect();
        let group = Group { weights: [&weights[0], &weights[1], &weights[2], &weights[3]], scales: &scales };
        let x: [&Quantized; 4] = std::array::from_fn(|t| &fast[t]);
        // SAFETY: as above.
        assert_eq!(unsafe { x86::dot4(x, &group) }.map(|r| r.map(f32::to_bits)), dot4_scalar(x, &group).map(|r| r.map(f32::to_bits)));
    }

    /// Where the CPU has VNNI, a layer's packed weights give the other kernels' outputs, bit for
    /// bit.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vnni_equals_the_other_kernels() {
        let device = Device::Cpu;
        let (outputs, inputs) = (24, 96);
        let w: Vec<f32> = (0..outputs * inputs).map(|i| ((i * 7919) % 253) as f32 / 126.0 - 1.0).collect();
        let q = QTensor::quantize(&Tensor::from_vec(w, (outputs, inputs), &device).unwrap(), GgmlDType::Q8_0).unwrap();
        let bias = Tensor::from_vec((0..outputs).map(|i| i as f32 / 7.0).collect::<Vec<_>>(), outputs, &device).unwrap();
        let packed = Int8Linear::from_q8_0(&q, &bias).unwrap();
        if packed.packed.is_none() {
            return;
        }
        assert!(packed.weights.is_empty() && packed.scales.is_empty(), "one copy of the weights");
        let plain = Int8Linear::read(&q, &bias, false).unwrap();
        // Six rows: a tile of four, then two alone.
        let x = Tensor::from_vec((0..6 * inputs).map(|i| ((i * 31) % 23) as f32 / 5.0 - 2.0).collect::<Vec<_>>(), (6, inputs), &device).unwrap();
        let bits = |l: &Int8Linear| l.forward(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&packed), bits(&plain));
    }
}
