//! Product-quantised codes for the dense partitions, so a query scans four times as many
//! passages per byte fetched as with int8 vectors. A passage's vector is stored as its residual
//! from its partition's centroid, cut into equal slices ("subspaces"); each slice is the byte
//! that names the nearest of 256 slice centroids learned by k-means over the whole index. A
//! query scores a passage as `q·centroid + Σ table[s][code[s]]`, where the table holds the
//! query's dot product with every slice centroid, built once per query.

use crate::index::codec::{Malformed, Reader, Writer};
use crate::index::IndexError;

/// Slice centroids per subspace: one byte names one.
const CENTROIDS: usize = 256;
/// Rounds of k-means per subspace.
const ROUNDS: usize = 12;
/// Most residuals the slice centroids are trained on.
const TRAIN_POINTS: usize = 32 * 1024;

/// The slice centroids of every subspace, stored as int8 with one scale per subspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Codebook {
    dim: usize,
    subspaces: usize,
    /// Slice centroids in use per subspace (256, or fewer for an index of fewer passages).
    centroids: usize,
    scales: Vec<f32>,
    /// `[subspace][centroid][component]`, `dim / subspaces` components per slice.
    values: Vec<i8>,
}

impl Codebook {
    /// The subspace count for vectors of `dim` components and at most `bytes` per code: the
    /// largest divisor of `dim` not above it (slices of equal length), at least 1.
    pub fn subspaces_for(dim: usize, bytes: usize) -> usize {
        (1..=bytes.clamp(1, dim.max(1))).rev().find(|m| dim.is_multiple_of(*m)).unwrap_or(1)
    }

    /// Learns the slice centroids of `residuals` (vectors of `dim` components) with
    /// `subspaces` slices each (a divisor of `dim`). Deterministic.
    pub fn train(residuals: &[Vec<f32>], dim: usize, subspaces: usize) -> Codebook {
        let width = dim / subspaces;
        let stride = residuals.len().div_ceil(TRAIN_POINTS).max(1);
        let train: Vec<&[f32]> = residuals.iter().step_by(stride).map(Vec::as_slice).collect();
        let centroids = CENTROIDS.min(train.len());
        let mut floats = Vec::with_capacity(subspaces * centroids * width);
        for s in (0..subspaces).filter(|_| centroids > 0) {
            let slices: Vec<&[f32]> = train.iter().map(|r| &r[s * width..(s + 1) * width]).collect();
            floats.extend(kmeans(&slices, centroids).into_iter().flatten());
        }
        let mut scales = vec![1.0; subspaces];
        let mut values = Vec::with_capacity(floats.len());
        for (scale, block) in scales.iter_mut().zip(floats.chunks((centroids * width).max(1))) {
            let max = block.iter().fold(0f32, |m, x| m.max(x.abs()));
            if max > 0.0 && max.is_finite() {
                *scale = max / 127.0;
            }
            values.extend(block.iter().map(|x| (x / *scale).round().clamp(-127.0, 127.0) as i8));
        }
        Codebook { dim, subspaces, centroids, scales, values }
    }

    /// Bytes per code.
    pub fn subspaces(&self) -> usize {
        self.subspaces
    }

    fn width(&self) -> usize {
        self.dim / self.subspaces
    }

    /// The code of `residual`: per subspace, the nearest slice centroid (as stored).
    pub fn encode(&self, residual: &[f32]) -> Vec<u8> {
        let width = self.width();
        (0..self.subspaces)
            .map(|s| {
                let slice = &residual[s * width..(s + 1) * width];
                let mut best = (0usize, f32::MAX);
                for c in 0..self.centroids {
                    let d: f32 = self.slice(s, c).zip(slice).map(|(a, b)| (a - b) * (a - b)).sum();
                    if d < best.1 {
                        best = (c, d);
                    }
                }
                best.0 as u8
            })
            .collect()
    }

    fn slice(&self, s: usize, c: usize) -> impl Iterator<Item = f32> + '_ {
        let width = self.width();
        let start = (s * self.centroids + c) * width;
        self.values[start..start + width].iter().map(move |&v| v as f32 * self.scales[s])
    }

    /// The query's dot product with every slice centroid, `[subspace][centroid]`: scoring a
    /// code is then one lookup per byte.
    pub fn table(&self, query: &[f32]) -> Vec<f32> {
        let width = self.width();
        let mut table = Vec::with_capacity(self.subspaces * self.centroids);
        for s in 0..self.subspaces {
            let q = &query[s * width..(s + 1) * width];
            table.extend((0..self.centroids).map(|c| self.slice(s, c).zip(q).map(|(a, b)| a * b).sum::<f32>()));
        }
        table
    }

    /// The query's dot product with a coded residual (checked by [`Codebook::check`]), from
    /// the query's [`Codebook::table`].
    pub fn score(&self, table: &[f32], code: &[u8]) -> f32 {
        code.iter().enumerate().map(|(s, &c)| table[s * self.centroids + c as usize]).sum()
    }

    /// Writes the codebook: subspaces, centroids per subspace, scales, values.
    pub fn write(&self, w: &mut Writer) {
        w.varint(self.subspaces as u64);
        w.varint(self.centroids as u64);
        for &s in &self.scales {
            w.f32(s);
        }
        w.raw(&self.values.iter().map(|&v| v as u8).collect::<Vec<u8>>());
    }

    /// Reads a codebook written by [`Codebook::write`] for vectors of `dim` components,
    /// checking every field.
    pub fn read(r: &mut Reader, dim: usize) -> Result<Codebook, IndexError> {
        let subspaces = r.varint("subspaces")?;
        if subspaces == 0 || subspaces > dim as u64 || !(dim as u64).is_multiple_of(subspaces) {
            return Err(IndexError::Corrupt("subspaces"));
        }
        let subspaces = subspaces as usize;
        let centroids = r.varint("slice centroids")?;
        if centroids == 0 || centroids > CENTROIDS as u64 {
            return Err(IndexError::Corrupt("slice centroids"));
        }
        let centroids = centroids as usize;
        let mut scales = Vec::with_capacity(subspaces);
        for _ in 0..subspaces {
            let scale = r.f32("codebook scale")?;
            if !(scale.is_finite() && scale > 0.0) {
                return Err(IndexError::Corrupt("codebook scale"));
            }
            scales.push(scale);
        }
        let len = centroids.checked_mul(dim).ok_or(Malformed { what: "codebook" })?;
        let values = r.raw(len, "codebook")?.iter().map(|&v| v as i8).collect();
        Ok(Codebook { dim, subspaces, centroids, scales, values })
    }

    /// Checks that every byte of `codes` names a slice centroid of this codebook.
    pub fn check(&self, codes: &[u8]) -> Result<(), IndexError> {
        match codes.iter().all(|&c| (c as usize) < self.centroids) {
            true => Ok(()),
            false => Err(IndexError::Corrupt("code")),
        }
    }
}

/// `k` centroids of `points` (at most their count) by Lloyd's k-means from evenly spaced
/// seeds; a centroid left with no points keeps its place.
fn kmeans(points: &[&[f32]], k: usize) -> Vec<Vec<f32>> {
    let width = points[0].len();
    let mut centroids: Vec<Vec<f32>> = (0..k).map(|i| points[i * points.len() / k].to_vec()).collect();
    for _ in 0..ROUNDS {
        let mut sums = vec![vec![0f32; width]; k];
        let mut counts = vec![0usize; k];
        for p in points {
            let c = nearest(&centroids, p);
            counts[c] += 1;
            for (s, x) in sums[c].iter_mut().zip(p.iter()) {
                *s += x;
            }
        }
        for ((centroid, sum), &count) in centroids.iter_mut().zip(sums).zip(&counts) {
            if count > 0 {
                *centroid = sum.into_iter().map(|s| s / count as f32).collect();
            }
        }
    }
    centroids
}

fn nearest(centroids: &[Vec<f32>], p: &[f32]) -> usize {
    let mut best = (0, f32::MAX);
    for (c, centroid) in centroids.iter().enumerate() {
        let d: f32 = centroid.iter().zip(p).map(|(a, b)| (a - b) * (a - b)).sum();
        if d < best.1 {
            best = (c, d);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::tests::vectors;

    #[test]
    fn codes_score_close_to_the_exact_dot_product() {
        let points = vectors(2000, 32, 5);
        let book = Codebook::train(&points, 32, Codebook::subspaces_for(32, 16));
        assert_eq!(book.subspaces(), 16);
        let queries = vectors(10, 32, 6);
        let mut error = 0f32;
        for q in &queries {
            let table = book.table(q);
            for p in &points[..200] {
                let exact: f32 = p.iter().zip(q).map(|(a, b)| a * b).sum();
                error += (book.score(&table, &book.encode(p)) - exact).abs();
            }
        }
        // Random unit vectors have dot products around ±0.18; the codes keep them within a third.
        let mean = error / 2000.0;
        assert!(mean < 0.06, "mean error {mean}");

        let mut w = Writer::default();
        book.write(&mut w);
        let read = Codebook::read(&mut Reader::new(&w.bytes), 32).unwrap();
        assert_eq!(read, book);
        assert!(Codebook::read(&mut Reader::new(&w.bytes), 30).is_err(), "16 subspaces do not divide 30 components");
        assert!(Codebook::read(&mut Reader::new(&w.bytes[..w.bytes.len() - 1]), 32).is_err());
        assert_eq!(Codebook::train(&points, 32, 16), book, "deterministic");
    }

    #[test]
    fn subspaces_divide_the_dimension() {
        assert_eq!(Codebook::subspaces_for(384, 96), 96);
        assert_eq!(Codebook::subspaces_for(384, 100), 96);
        assert_eq!(Codebook::subspaces_for(768, 96), 96);
        assert_eq!(Codebook::subspaces_for(7, 96), 7);
        assert_eq!(Codebook::subspaces_for(7, 3), 1);
        assert_eq!(Codebook::subspaces_for(32, 0), 1);
    }

    #[test]
    fn a_small_index_uses_fewer_slice_centroids_and_refuses_bytes_past_them() {
        let points = vectors(40, 8, 7);
        let book = Codebook::train(&points, 8, 4);
        assert_eq!(Codebook::train(&[], 8, 4).centroids, 0, "no passages, no centroids");
        assert_eq!(book.centroids, 40);
        for p in &points {
            let code = book.encode(p);
            assert!(book.check(&code).is_ok());
        }
        assert_eq!(book.check(&[0, 39, 40, 1]), Err(IndexError::Corrupt("code")));
    }
}
