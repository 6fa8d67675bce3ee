//! Int8 vectors: a unit-length embedding stored as 384 signed bytes and one scale, a quarter of
//! f32's size with a cosine error around 1e-3, and dot products that compilers vectorise.

use instant_distance::Point;
use serde::{Deserialize, Serialize};

/// A quantised vector: `values[i] * scale` approximates the original component `i`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QVec {
    /// Multiplier that maps the int8 values back to floats.
    pub scale: f32,
    /// The quantised components.
    pub values: Vec<i8>,
}

impl QVec {
    /// Quantises with a per-vector scale so the largest component maps to ±127; a vector
    /// with any non-finite component becomes zero (it matches nothing rather than everything).
    pub fn quantize(v: &[f32]) -> QVec {
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        if max == 0.0 || v.iter().any(|x| !x.is_finite()) {
            return QVec { scale: 0.0, values: vec![0; v.len()] };
        }
        let scale = max / 127.0;
        let values = v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect();
        QVec { scale, values }
    }

    /// Dot product of two quantised vectors (cosine, for unit vectors).
    pub fn dot(&self, other: &QVec) -> f32 {
        dot_i8(&self.values, &other.values) as f32 * self.scale * other.scale
    }

    /// Dot product with a float query, which is more exact than quantising the query too.
    pub fn dot_f32(&self, query: &[f32]) -> f32 {
        dot_i8_f32(&self.values, query) * self.scale
    }

    /// The float vector this approximates.
    pub fn dequantize(&self) -> Vec<f32> {
        self.values.iter().map(|&q| q as f32 * self.scale).collect()
    }
}

impl Point for QVec {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - self.dot(other)
    }
}

/// Integer dot product; integer sums are associative, so LLVM vectorises this loop (SSE/AVX
/// natively, simd128 on wasm) without any help.
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

/// Mixed int8 × f32 dot product with eight independent accumulators, so the float additions
/// can run in SIMD lanes (one accumulator would serialise every add).
pub fn dot_i8_f32(a: &[i8], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len().min(b.len()) / 8;
    for (qa, qb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for lane in 0..8 {
            acc[lane] += qa[lane] as f32 * qb[lane];
        }
    }
    let tail: f32 = a[chunks * 8..].iter().zip(&b[chunks * 8..]).map(|(&x, y)| x as f32 * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Float dot product with eight accumulators, for the same reason as [`dot_i8_f32`].
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len().min(b.len()) / 8;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for lane in 0..8 {
            acc[lane] += x[lane] * y[lane];
        }
    }
    let tail: f32 = a[chunks * 8..].iter().zip(&b[chunks * 8..]).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_dot_is_close_to_float_dot() {
        let a: Vec<f32> = (0..384).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let b: Vec<f32> = (0..384).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
        let (a, b) = (crate::embed::normalize(a), crate::embed::normalize(b));
        let exact = dot_f32(&a, &b);
        let (qa, qb) = (QVec::quantize(&a), QVec::quantize(&b));
        assert!((qa.dot(&qb) - exact).abs() < 5e-3, "{} vs {exact}", qa.dot(&qb));
        assert!((qa.dot_f32(&b) - exact).abs() < 5e-3);
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((exact - naive).abs() < 1e-5);
        assert!((qa.distance(&qa)).abs() < 1e-2);
    }

    #[test]
    fn zero_and_non_finite_vectors_quantize_to_zero() {
        assert_eq!(QVec::quantize(&[0.0, 0.0]).dot_f32(&[1.0, 1.0]), 0.0);
        assert_eq!(QVec::quantize(&[f32::NAN, 1.0]).scale, 0.0);
    }
}
