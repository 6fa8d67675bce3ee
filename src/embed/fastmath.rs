//! Vectorised GELU (erf) and softmax for the int8 encoder, four lanes at a time on wasm SIMD:
//! candle's `gelu_erf` calls libm's `erff` and its softmax `expf` one value at a time, which
//! together took a fifth of the int8 encoder's time in the browser. GELU is
//! `x·(1 + erf(x/√2))/2` with Abramowitz and Stegun's rational approximation of erf (7.1.26,
//! absolute error below 1.5e-7); both use our own `exp`. The f32 encoder keeps candle's
//! functions, which it matches bit for bit.

/// `p` and `a1..a5` of Abramowitz and Stegun's formula 7.1.26.
const P: f32 = 0.327_591_1;
const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_7, -1.453_152_1, 1.061_405_4];
const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// Applies GELU to every value of `values`.
pub fn gelu_in_place(values: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let values = simd::gelu_lanes(values);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { x86::gelu_all(values) };
    }
    gelu_all(values);
}

/// [`gelu`] of every value, inlined where it is called so that the compiler vectorises it for
/// the caller's instruction set.
#[inline(always)]
fn gelu_all(values: &mut [f32]) {
    for v in values {
        *v = gelu(*v);
    }
}

/// GELU of one value.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    let z = (x * SQRT_HALF).abs();
    let t = 1.0 / (1.0 + P * z);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let erf = 1.0 - poly * exp(-z * z);
    0.5 * x * (1.0 + erf.copysign(x))
}

/// Softmax of each row of `width` values of `values`, in place.
pub fn softmax_rows_in_place(values: &mut [f32], width: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { x86::softmax_rows(values, width) };
    }
    softmax_rows(values, width);
}

/// [`softmax_rows_in_place`], inlined where it is called like [`gelu_all`].
#[inline(always)]
fn softmax_rows(values: &mut [f32], width: usize) {
    for row in values.chunks_exact_mut(width) {
        let max = largest(row);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let (sum, tail) = simd::exp_shifted_lanes(&mut *row, max);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        let (sum, tail) = (0.0, &mut *row);
        // The exponentials and their sum in two loops, so that the compiler vectorises both.
        for v in tail.iter_mut() {
            *v = exp(*v - max);
        }
        let inverse = 1.0 / (sum + total(tail));
        for v in row.iter_mut() {
            *v *= inverse;
        }
    }
}

/// Running values kept apart in [`largest`] and [`total`], so that they vectorise.
const LANES: usize = 8;

/// The largest of `values` (minus infinity for none), by comparison: `f32::max` is a libm call
/// in wasm (its NaN rules need one).
#[inline(always)]
fn largest(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = if v > *m { v } else { *m };
        }
    }
    lanes.iter().chain(rest).fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// The sum of `values`, in [`LANES`] running sums added at the end.
#[inline(always)]
fn total(values: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (s, &v) in lanes.iter_mut().zip(chunk) {
            *s += v;
        }
    }
    lanes.iter().chain(rest).fold(0.0, |s, &v| s + v)
}

/// `e^x` for `x ≤ 0`: `2^n · e^r` with `|r| ≤ ln 2 / 2` and a degree-6 Taylor polynomial
/// (relative error about 2e-7); 0 below -87, where f32 would leave normal numbers.
#[inline(always)]
fn exp(x: f32) -> f32 {
    if x < -87.0 {
        return 0.0;
    }
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (C[0] + r * (C[1] + r * (C[2] + r * (C[3] + r * C[4])))));
    // 2^n from n + 127 in the low bits of 2^23 + n + 127 (exact: n is a whole number in
    // -126..=0 here), which vectorises where a float-to-int conversion would not.
    p * f32::from_bits((n + 8_388_735.0).to_bits() << 23)
}

/// ln 2 split so that `n · LN2_HI` is exact for the `n` that occur.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// 1/2!, 1/3!, 1/4!, 1/5!, 1/6!.
const C: [f32; 5] = [0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0];

/// The scalar loops compiled for AVX2, which the compiler vectorises: the same operations on
/// each value (Rust never fuses a multiply and an add), so the same results as the scalar code.
#[cfg(target_arch = "x86_64")]
mod x86 {
    /// [`super::gelu_all`] with AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) fn gelu_all(values: &mut [f32]) {
        super::gelu_all(values);
    }

    /// [`super::softmax_rows`] with AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) fn softmax_rows(values: &mut [f32], width: usize) {
        super::softmax_rows(values, width);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use super::{A, C, LN2_HI, LN2_LO, P, SQRT_HALF};
    use core::arch::wasm32::*;

    /// GELU of the values four at a time, the same operations as [`super::gelu`]; returns the
    /// tail (fewer than four) left for the scalar version.
    pub fn gelu_lanes(values: &mut [f32]) -> &mut [f32] {
        let whole = values.len() / 4 * 4;
        let (lanes, tail) = values.split_at_mut(whole);
        for chunk in lanes.chunks_exact_mut(4) {
            // SAFETY: each chunk is four f32s; wasm loads and stores need no alignment.
            unsafe {
                let p = chunk.as_mut_ptr() as *mut v128;
                v128_store(p, gelu4(v128_load(p)));
            }
        }
        tail
    }

    fn gelu4(x: v128) -> v128 {
        let splat = f32x4_splat;
        let z = f32x4_abs(f32x4_mul(x, splat(SQRT_HALF)));
        let t = f32x4_div(splat(1.0), f32x4_add(splat(1.0), f32x4_mul(splat(P), z)));
        let mut poly = splat(A[4]);
        for a in [A[3], A[2], A[1], A[0]] {
            poly = f32x4_add(splat(a), f32x4_mul(t, poly));
        }
        poly = f32x4_mul(t, poly);
        let erf = f32x4_sub(splat(1.0), f32x4_mul(poly, exp4(f32x4_neg(f32x4_mul(z, z)))));
        // erf takes the sign of x (copysign, as the scalar version).
        let erf = v128_or(f32x4_abs(erf), v128_and(x, splat(-0.0)));
        f32x4_mul(f32x4_mul(splat(0.5), x), f32x4_add(splat(1.0), erf))
    }

    /// `e^(v - max)` of the values four at a time, in place, and their sum; returns the tail
    /// (fewer than four) left for the scalar version.
    pub fn exp_shifted_lanes(values: &mut [f32], max: f32) -> (f32, &mut [f32]) {
        let whole = values.len() / 4 * 4;
        let (lanes, tail) = values.split_at_mut(whole);
        let mut sum = f32x4_splat(0.0);
        for chunk in lanes.chunks_exact_mut(4) {
            // SAFETY: each chunk is four f32s; wasm loads and stores need no alignment.
            unsafe {
                let p = chunk.as_mut_ptr() as *mut v128;
                let e = exp4(f32x4_sub(v128_load(p), f32x4_splat(max)));
                v128_store(p, e);
                sum = f32x4_add(sum, e);
            }
        }
        let sum = f32x4_extract_lane::<0>(sum) + f32x4_extract_lane::<1>(sum) + f32x4_extract_lane::<2>(sum) + f32x4_extract_lane::<3>(sum);
        (sum, tail)
    }

    fn exp4(x: v128) -> v128 {
        let splat = f32x4_splat;
        let underflow = f32x4_lt(x, splat(-87.0));
        let x = f32x4_pmax(x, splat(-87.0));
        let n = f32x4_nearest(f32x4_mul(x, splat(std::f32::consts::LOG2_E)));
        let r = f32x4_sub(f32x4_sub(x, f32x4_mul(n, splat(LN2_HI))), f32x4_mul(n, splat(LN2_LO)));
        let mut p = splat(C[4]);
        for c in [C[3], C[2], C[1], C[0], 1.0, 1.0] {
            p = f32x4_add(splat(c), f32x4_mul(r, p));
        }
        let scale = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
        v128_andnot(f32x4_mul(p, scale), underflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Within 2e-6 of candle's `gelu_erf` (libm's `erff`) from -10 to 10, and exact at 0.
    #[test]
    fn follows_the_exact_gelu() {
        let xs: Vec<f32> = (-100_000..=100_000).map(|i| i as f32 / 10_000.0).collect();
        let exact = Tensor::new(xs.as_slice(), &Device::Cpu).unwrap().gelu_erf().unwrap().to_vec1::<f32>().unwrap();
        let mut ours = xs.clone();
        gelu_in_place(&mut ours);
        let worst = ours.iter().zip(&exact).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 2e-6, "largest difference {worst}");
        assert_eq!(ours[100_000], 0.0);
        assert!(ours[0].abs() < 1e-6 && (ours[200_000] - 10.0).abs() < 1e-5);
    }

    /// Within 1e-6 of candle's softmax, masked (most negative float) entries exactly 0.
    #[test]
    fn softmax_follows_candles() {
        let width = 37;
        let mut rows: Vec<f32> = (0..width * 5).map(|i| ((i * 7919) % 211) as f32 / 9.0 - 11.0).collect();
        rows[3] = f32::MIN;
        rows[width + 36] = f32::MIN;
        let exact = candle_nn::ops::softmax(&Tensor::from_vec(rows.clone(), (5, width), &Device::Cpu).unwrap(), 1).unwrap();
        let exact = exact.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        softmax_rows_in_place(&mut rows, width);
        let worst = rows.iter().zip(&exact).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-6, "largest difference {worst}");
        assert_eq!((rows[3], rows[width + 36]), (0.0, 0.0));
    }

    /// The AVX2 builds of GELU and softmax give the scalar code's values, bit for bit.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_equals_the_scalar_code() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let xs: Vec<f32> = (-3000..3000).map(|i| i as f32 / 97.0).chain([f32::MIN, -100.0, 0.0]).collect();
        let (mut fast, mut slow) = (xs.clone(), xs.clone());
        // SAFETY: the CPU has AVX2, checked above.
        unsafe { x86::gelu_all(&mut fast) };
        gelu_all(&mut slow);
        assert_eq!(fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), slow.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        let (mut fast, mut slow) = (xs.clone(), xs);
        // SAFETY: as above.
        unsafe { x86::softmax_rows(&mut fast, 41) };
        softmax_rows(&mut slow, 41);
        assert_eq!(fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), slow.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }

    #[test]
    fn exp_follows_std() {
        assert_eq!(exp(-88.0), 0.0);
        for i in -870..=0 {
            let x = i as f32 / 10.0;
            let (ours, std) = (exp(x), x.exp());
            assert!((ours - std).abs() <= 4e-7 * std, "{x}: {ours} vs {std}");
        }
    }
}
