//! Temperature and top-p sampling, defined so that a GPU kernel can reproduce it exactly
//! (`src/gpu/shaders/sample.wgsl`): every sum runs in one fixed order over 256 strided lanes,
//! `exp` is the libm crate's on every target, the nucleus is found by a search over the
//! weights' bit patterns rather than a sort, and the random number comes from a hash of the
//! seed and the token's position, so no generator state has to pass between CPU and GPU.

/// A seeded draw's settings, the same for the CPU path and the GPU engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    /// Softmax temperature, above 0.
    pub temperature: f32,
    /// Nucleus mass to keep (1 keeps every token).
    pub top_p: f32,
    /// The answer's seed.
    pub seed: u64,
    /// Position of the token being drawn: with the seed it fixes the random number.
    pub position: u32,
}

impl Draw {
    /// The token this draw picks from `logits` (repetition penalty already applied).
    pub fn pick(&self, logits: &[f32]) -> u32 {
        sample(logits, self.temperature, self.top_p, self.seed, self.position)
    }
}

/// Lanes the vocabulary is split into: lane `t` holds tokens `t`, `t + 256`, `t + 512`, …, as
/// one workgroup of the GPU kernel does.
const LANES: usize = 256;

/// A token drawn from `logits` (repetition penalty already applied) at `temperature` (> 0),
/// keeping the smallest set of most likely tokens whose probability reaches `top_p` (1 keeps
/// all), with the uniform number for `seed` and `position`.
fn sample(logits: &[f32], temperature: f32, top_p: f32, seed: u64, position: u32) -> u32 {
    let scaled: Vec<f32> = logits.iter().map(|l| l / temperature).collect();
    let max = scaled.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f32> = scaled.iter().map(|z| libm::expf(z - max)).collect();
    let threshold = if top_p >= 1.0 { 0.0 } else { nucleus_threshold(&weights, top_p) };
    let sums = lane_sums(&weights, threshold);
    let target = uniform(seed, position) * sums.iter().fold(0.0f32, |a, s| a + s);
    let kept = |t: usize| lane(&weights, t).filter(move |&(_, w)| w >= threshold && w > 0.0);
    let mut before = 0.0f32;
    let mut last_lane = None;
    for (t, &sum) in sums.iter().enumerate() {
        if before + sum > target {
            let mut within = 0.0f32;
            let mut pick = None;
            for (i, w) in kept(t) {
                within += w;
                pick = Some(i);
                if before + within > target {
                    break;
                }
            }
            return pick.map_or(0, |i| i as u32);
        }
        if sum > 0.0 {
            last_lane = Some(t);
        }
        before += sum;
    }
    last_lane.and_then(|t| kept(t).last()).map_or(0, |(i, _)| i as u32)
}

/// Lane `t`'s (token, weight) pairs in order.
fn lane(weights: &[f32], t: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
    weights.iter().copied().enumerate().skip(t).step_by(LANES)
}

/// Each lane's sum, in lane order, of its weights at or above `threshold`. Rows of 256 are
/// walked in memory order with one running sum per lane, which adds in the same order; adding
/// 0 for a weight below the threshold changes no sum (they are never -0).
fn lane_sums(weights: &[f32], threshold: f32) -> [f32; LANES] {
    let mut sums = [0.0f32; LANES];
    for row in weights.chunks(LANES) {
        for (sum, &w) in sums.iter_mut().zip(row) {
            *sum += if w >= threshold { w } else { 0.0 };
        }
    }
    sums
}

/// Total weight at or above `threshold`: the lanes' sums, added lane after lane.
fn mass(weights: &[f32], threshold: f32) -> f32 {
    lane_sums(weights, threshold).iter().fold(0.0f32, |a, s| a + s)
}

/// The largest weight w such that the weights at or above w hold at least `top_p` of the
/// total, by bisection over the bit patterns of non-negative floats (which sort as integers).
fn nucleus_threshold(weights: &[f32], top_p: f32) -> f32 {
    let needed = top_p * mass(weights, 0.0);
    let (mut low, mut high) = (0u32, 1.0f32.to_bits());
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if mass(weights, f32::from_bits(middle)) >= needed {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    f32::from_bits(low)
}

/// A uniform number in [0, 1) with 24 random bits, from a hash of `seed` and `position`.
fn uniform(seed: u64, position: u32) -> f32 {
    let h = mix(seed as u32 ^ mix((seed >> 32) as u32 ^ mix(position)));
    (h >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// A 32-bit integer hash with good avalanche (Wellons' "lowbias32" constants).
fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        (0..1000).map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0).collect()
    }

    #[test]
    fn draws_follow_the_probabilities() {
        let l = logits();
        let best = (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap() as u32;
        let draws: Vec<u32> = (0..2000).map(|p| sample(&l, 0.3, 1.0, 1, p)).collect();
        let top = draws.iter().filter(|&&d| d == best).count();
        let p_best = {
            let w: Vec<f64> = l.iter().map(|&x| ((x - l[best as usize]) as f64 / 0.3).exp()).collect();
            1.0 / w.iter().sum::<f64>()
        };
        let share = top as f64 / draws.len() as f64;
        assert!((share - p_best).abs() < 0.05, "best token drawn {share:.3} of the time, probability {p_best:.3}");
        assert!(draws.iter().any(|&d| d != best), "a warm temperature draws other tokens too");
    }

    #[test]
    fn a_small_top_p_keeps_only_the_most_likely_token() {
        let l = logits();
        let best = (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap() as u32;
        assert!((0..200).all(|p| sample(&l, 1.0, 1e-6, 3, p) == best));
    }

    #[test]
    fn the_nucleus_is_the_smallest_set_reaching_top_p() {
        let weights = [0.5f32, 0.3, 0.1, 0.1];
        assert_eq!(nucleus_threshold(&weights, 0.5), 0.5);
        assert_eq!(nucleus_threshold(&weights, 0.7), 0.3);
        assert_eq!(nucleus_threshold(&weights, 0.85), 0.1);
        let draws: std::collections::HashSet<u32> = (0..500).map(|p| sample(&[0.0, -0.5108, -1.6094, -1.6094], 1.0, 0.7, 9, p)).collect();
        assert_eq!(draws, [0, 1].into_iter().collect(), "only the two tokens holding 80%");
    }

    #[test]
    fn the_same_seed_and_position_give_the_same_draw() {
        let l = logits();
        assert_eq!(sample(&l, 0.8, 0.9, 42, 17), sample(&l, 0.8, 0.9, 42, 17));
        let by_seed: std::collections::HashSet<u32> = (0..50).map(|s| sample(&l, 2.0, 1.0, s, 17)).collect();
        assert!(by_seed.len() > 10, "seeds give different draws: {by_seed:?}");
        let u: Vec<f32> = (0..10_000).map(|p| uniform(5, p)).collect();
        assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean = u.iter().map(|&x| x as f64).sum::<f64>() / u.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    }
}
