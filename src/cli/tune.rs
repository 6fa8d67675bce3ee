//! `wasmrag eval --answers --sweep`: tunes the extract's weights and the not-found gate on a
//! QA set. Every question's candidate sentences are scored once with all their features; the
//! grid then only re-weighs them, so a sweep costs one embedding pass. Questions are split by
//! article into a tuning half and a checking half, and the figures of both are reported.

use wasmrag::extract::{best_first, Candidate, Weights};

/// One question's candidates and what the not-found gate looks at.
#[derive(Debug, Clone)]
pub struct Question {
    /// Candidate sentences with whether each contains a gold answer.
    pub candidates: Vec<(Candidate, bool)>,
    /// Cosine of the best retrieved passage.
    pub best_cosine: f32,
    /// Whether its article is in the index (else it is off-topic).
    pub answerable: bool,
    /// Whether it belongs to the tuning half.
    pub tune: bool,
    /// Whether it names something no passage mentions ([`wasmrag::extract::unknown_name`]).
    pub unknown_name: bool,
}

/// Score of `c` under `w` without the cosine: what candidates are pre-selected by before the
/// best `embed` of them are embedded.
fn cheap(c: &Candidate, w: &Weights) -> f32 {
    c.score(w) - w.cosine * c.cosine
}

/// The candidate the pipeline would pick: the `embed` best by the cheap features, then the best
/// of those by the full score (both in [`best_first`] order).
pub fn pick<'a>(candidates: &'a [(Candidate, bool)], w: &Weights, embed: usize) -> Option<&'a (Candidate, bool)> {
    let mut pre: Vec<&(Candidate, bool)> = candidates.iter().collect();
    pre.sort_by(|a, b| best_first(&a.0, &b.0, |c| cheap(c, w)));
    pre.truncate(embed);
    pre.into_iter().min_by(|a, b| best_first(&a.0, &b.0, |c| c.score(w)))
}

/// Share of the answerable questions of one half whose picked sentence contains a gold answer.
pub fn extract_rate(questions: &[Question], w: &Weights, embed: usize, tune: bool) -> f64 {
    let half: Vec<&Question> = questions.iter().filter(|q| q.answerable && q.tune == tune).collect();
    let hits = half.iter().filter(|q| pick(&q.candidates, w, embed).is_some_and(|(_, gold)| *gold)).count();
    hits as f64 / half.len().max(1) as f64
}

/// Share of the answerable questions of one half with a gold sentence among all candidates:
/// the ceiling any weighing can reach.
pub fn ceiling(questions: &[Question], tune: bool) -> f64 {
    let half: Vec<&Question> = questions.iter().filter(|q| q.answerable && q.tune == tune).collect();
    half.iter().filter(|q| q.candidates.iter().any(|(_, g)| *g)).count() as f64 / half.len().max(1) as f64
}

/// The weights tried: every combination of a few values per feature.
pub fn grid() -> Vec<Weights> {
    let mut out = Vec::new();
    for cosine in [0.5, 1.0, 2.0] {
        for lexical in [0.0, 0.5, 1.0, 2.0] {
            for context in [0.0, 0.25, 0.5, 1.0] {
                for rank in [0.0, 0.15, 0.3, 0.6] {
                    for kind in [0.0, 0.15, 0.3, 0.6] {
                        out.push(Weights { cosine, lexical, context, rank, kind });
                    }
                }
            }
        }
    }
    out
}

/// The best weights and pre-selection size on the tuning half, with its rate there.
pub fn best_weights(questions: &[Question], embeds: &[usize]) -> (Weights, usize, f64) {
    let mut best = (Weights::default(), embeds[0], f64::MIN);
    for &embed in embeds {
        for w in grid() {
            let rate = extract_rate(questions, &w, embed, true);
            if rate > best.2 + 1e-12 {
                best = (w, embed, rate);
            }
        }
    }
    best
}

/// A not-found gate: below either threshold the question is declined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    /// Least best-passage cosine.
    pub min_cosine: f32,
    /// Least score of the picked sentence.
    pub min_extract: f32,
    /// Whether a question naming something no passage mentions is declined.
    pub unknown_names: bool,
}

/// (answered rate on answerable questions, not-found rate on off-topic ones) of one half.
pub fn gate_rates(questions: &[Question], w: &Weights, embed: usize, gate: &Gate, tune: bool) -> (f64, f64) {
    let passes = |q: &Question| {
        q.best_cosine >= gate.min_cosine
            && pick(&q.candidates, w, embed).is_some_and(|(c, _)| c.score(w) >= gate.min_extract)
            && !(gate.unknown_names && q.unknown_name)
    };
    let (mut answerable, mut answered, mut off, mut declined) = (0, 0, 0, 0);
    for q in questions.iter().filter(|q| q.tune == tune) {
        if q.answerable {
            answerable += 1;
            answered += usize::from(passes(q));
        } else {
            off += 1;
            declined += usize::from(!passes(q));
        }
    }
    (answered as f64 / answerable.max(1) as f64, declined as f64 / off.max(1) as f64)
}

/// The gate that declines the most off-topic questions of the tuning half while still
/// answering at least `answered` of its answerable ones. Thresholds are tried at every observed
/// value, so the search is exact for each feature alone and for pairs on a coarse grid, each
/// with and without the unknown-name rule.
pub fn best_gate(questions: &[Question], w: &Weights, embed: usize, answered: f64) -> Gate {
    let tune: Vec<&Question> = questions.iter().filter(|q| q.tune && q.answerable).collect();
    let mut cosines: Vec<f32> = tune.iter().map(|q| q.best_cosine).collect();
    let mut extracts: Vec<f32> = tune.iter().filter_map(|q| pick(&q.candidates, w, embed).map(|(c, _)| c.score(w))).collect();
    for v in [&mut cosines, &mut extracts] {
        v.sort_by(f32::total_cmp);
        v.dedup();
    }
    let coarse = |v: &[f32]| -> Vec<f32> {
        let step = (v.len() / 40).max(1);
        std::iter::once(f32::MIN).chain(v.iter().step_by(step).copied()).collect()
    };
    let mut best = (Gate { min_cosine: f32::MIN, min_extract: f32::MIN, unknown_names: false }, -1.0);
    for unknown_names in [false, true] {
        for &min_cosine in &coarse(&cosines) {
            for &min_extract in &coarse(&extracts) {
                let gate = Gate { min_cosine, min_extract, unknown_names };
                let (a, d) = gate_rates(questions, w, embed, &gate, true);
                if a >= answered && d > best.1 {
                    best = (gate, d);
                }
            }
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(rank: usize, start: usize, cosine: f32, lexical: f32) -> Candidate {
        Candidate { rank, chunk: 0, start, end: start + 1, cosine, lexical, context: lexical, kind: false }
    }

    fn question(answerable: bool, tune: bool, best_cosine: f32, cands: Vec<(Candidate, bool)>) -> Question {
        Question { candidates: cands, best_cosine, answerable, tune, unknown_name: false }
    }

    #[test]
    fn picks_within_the_preselection_and_tunes_towards_gold() {
        let w = Weights { cosine: 1.0, lexical: 1.0, context: 0.0, rank: 0.0, kind: 0.0 };
        // Highest full score, but last by the cheap features.
        let cands = vec![(cand(0, 0, 0.9, 0.1), false), (cand(0, 10, 0.1, 0.5), true), (cand(1, 0, 0.1, 0.4), false)];
        assert_eq!(pick(&cands, &w, 3).map(|(c, _)| c.start), Some(0));
        assert_eq!(pick(&cands, &w, 2).map(|(c, _)| c.start), Some(10));
        let qs = vec![question(true, true, 0.5, cands.clone())];
        let (tuned, _, rate) = best_weights(&qs, &[3]);
        assert_eq!(rate, 1.0);
        assert!(pick(&cands, &tuned, 3).is_some_and(|(_, gold)| *gold), "{tuned:?}");
        assert_eq!(extract_rate(&qs, &w, 3, true), 0.0, "the untuned weights pick the wrong sentence");
        assert_eq!(ceiling(&qs, true), 1.0);
        assert_eq!(ceiling(&qs, false), 0.0);
    }

    #[test]
    fn gate_declines_off_topic_while_keeping_answerable() {
        let w = Weights { cosine: 1.0, lexical: 0.0, context: 0.0, rank: 0.0, kind: 0.0 };
        let qs = vec![
            question(true, true, 0.6, vec![(cand(0, 0, 0.6, 0.0), true)]),
            question(true, true, 0.5, vec![(cand(0, 0, 0.5, 0.0), true)]),
            question(false, true, 0.2, vec![(cand(0, 0, 0.2, 0.0), false)]),
            question(false, true, 0.55, vec![(cand(0, 0, 0.55, 0.0), false)]),
        ];
        let gate = best_gate(&qs, &w, 8, 1.0);
        assert_eq!(gate_rates(&qs, &w, 8, &gate, true), (1.0, 0.5));
        let loose = Gate { min_cosine: f32::MIN, min_extract: f32::MIN, unknown_names: false };
        assert_eq!(gate_rates(&qs, &w, 8, &loose, true), (1.0, 0.0));
        // The off-topic question no threshold separates names something the index lacks.
        let mut named = qs.clone();
        named[3].unknown_name = true;
        let gate = best_gate(&named, &w, 8, 1.0);
        assert!(gate.unknown_names);
        assert_eq!(gate_rates(&named, &w, 8, &gate, true), (1.0, 1.0));
    }
}
