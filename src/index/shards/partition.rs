//! Dense partitions for the sharded index: spherical k-means over the passage vectors, so a
//! query reads only the few partitions whose centroids are nearest to it. Deterministic (the
//! same vectors always give the same partitions), and capped in size so no partition, and no
//! query, is much heavier than the rest.

use super::super::vector::{dot_f32, QVec};

/// Rounds of assignment and update; the partitions barely move after this many.
const ROUNDS: usize = 10;
/// Most points the centroids are trained on; the rest are only assigned.
const TRAIN_POINTS: usize = 64 * 1024;
/// A partition holds at most this many times the mean size.
const CAP: f32 = 1.5;

/// The result: unit centroids and, for every point, the partition it belongs to.
pub struct Partitions {
    /// One unit vector per partition.
    pub centroids: Vec<Vec<f32>>,
    /// Partition of each point, in point order.
    pub assignment: Vec<u32>,
}

/// Splits `vectors` into `k` partitions of similar vectors (at most the point count).
pub fn partition(vectors: &[QVec], k: usize) -> Partitions {
    let points: Vec<Vec<f32>> = vectors.iter().map(QVec::dequantize).collect();
    let k = k.clamp(1, points.len().max(1));
    if points.is_empty() {
        return Partitions { centroids: Vec::new(), assignment: Vec::new() };
    }
    let stride = points.len().div_ceil(TRAIN_POINTS);
    let train: Vec<&[f32]> = points.iter().step_by(stride).map(Vec::as_slice).collect();
    // Evenly spaced seeds: points are in page order, so these come from across the site.
    let mut centroids: Vec<Vec<f32>> = (0..k).map(|i| train[i * train.len() / k].to_vec()).collect();
    for _ in 0..ROUNDS {
        let nearest: Vec<(u32, f32)> = train.iter().map(|p| nearest(&centroids, p)).collect();
        let dim = centroids[0].len();
        let mut sums = vec![vec![0f32; dim]; k];
        let mut counts = vec![0usize; k];
        for (p, &(c, _)) in train.iter().zip(&nearest) {
            counts[c as usize] += 1;
            for (s, x) in sums[c as usize].iter_mut().zip(p.iter()) {
                *s += x;
            }
        }
        // An empty partition restarts at the point its centroid fits worst.
        let mut worst: Vec<usize> = (0..train.len()).collect();
        worst.sort_by(|&a, &b| nearest[a].1.total_cmp(&nearest[b].1).then(a.cmp(&b)));
        let mut reseeds = worst.into_iter();
        for (c, sum) in sums.into_iter().enumerate() {
            centroids[c] = match counts[c] {
                0 => reseeds.next().map_or_else(|| centroids[c].clone(), |p| train[p].to_vec()),
                _ => crate::embed::normalize(sum),
            };
        }
    }
    let assignment = capped_assignment(&centroids, &points);
    Partitions { centroids, assignment }
}

/// The centroid with the highest dot product with `p`, and that dot product.
fn nearest(centroids: &[Vec<f32>], p: &[f32]) -> (u32, f32) {
    let mut best = (0, f32::MIN);
    for (c, centroid) in centroids.iter().enumerate() {
        let d = dot_f32(centroid, p);
        if d > best.1 {
            best = (c as u32, d);
        }
    }
    best
}

/// Assigns every point to its nearest centroid, except that a partition over [`CAP`] times the
/// mean size keeps only its best-fitting points and sends the rest to their nearest partition
/// with room.
fn capped_assignment(centroids: &[Vec<f32>], points: &[Vec<f32>]) -> Vec<u32> {
    let k = centroids.len();
    let cap = ((points.len() as f32 / k as f32) * CAP).ceil().max(1.0) as usize;
    let nearest: Vec<(u32, f32)> = points.iter().map(|p| nearest(centroids, p)).collect();
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| nearest[b].1.total_cmp(&nearest[a].1).then(a.cmp(&b)));
    let mut sizes = vec![0usize; k];
    let mut assignment = vec![0u32; points.len()];
    for p in order {
        let mut c = nearest[p].0 as usize;
        if sizes[c] >= cap {
            let mut ranked: Vec<(usize, f32)> = centroids.iter().enumerate().map(|(c, centroid)| (c, dot_f32(centroid, &points[p]))).collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            c = ranked.into_iter().map(|(c, _)| c).find(|&c| sizes[c] < cap).unwrap_or(c);
        }
        sizes[c] += 1;
        assignment[p] = c as u32;
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_are_found_and_capped() {
        // Three tight clusters of 40 points around the axes, plus one of 120 around a fourth.
        let dim = 8;
        let mut vectors = Vec::new();
        for (axis, n) in [(0, 40), (1, 40), (2, 40), (3, 120)] {
            for i in 0..n {
                let mut v = vec![0.01 * (i % 5) as f32; dim];
                v[axis] = 1.0;
                vectors.push(QVec::quantize(&crate::embed::normalize(v)));
            }
        }
        let parts = partition(&vectors, 4);
        assert_eq!(parts.centroids.len(), 4);
        assert_eq!(parts.assignment.len(), 240);
        let mut sizes = [0usize; 4];
        for &a in &parts.assignment {
            sizes[a as usize] += 1;
        }
        assert!(sizes.iter().all(|&s| s <= 90), "{sizes:?}");
        // The small clusters stay whole: each of their points shares its partition with its cluster.
        for cluster in 0..3 {
            let first = parts.assignment[cluster * 40];
            assert!(parts.assignment[cluster * 40..cluster * 40 + 40].iter().all(|&a| a == first), "{:?}", parts.assignment);
        }
        assert_eq!(partition(&vectors, 4).assignment, parts.assignment, "deterministic");
        assert_eq!(partition(&vectors[..3], 10).centroids.len(), 3);
    }
}
