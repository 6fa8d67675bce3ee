//! Extraction: the sentence of the retrieved passages that best answers a question, and the
//! evidence a generator reads. It needs no generator, so a page shows it as soon as search
//! returns, and it is what an answer falls back to when generation is not grounded.
//!
//! Each sentence of the best passages is scored from what the pipeline already has: its
//! cosine to the question with the embedder, the share of the question's BM25 term weight it
//! holds (alone and with its page title and headings), its passage's rank, and whether it holds
//! the kind of answer the question asks for (a year for "when", a number for "how many").

pub mod cues;
pub mod sentences;

use crate::embed::EmbedError;
use crate::index::bm25::terms;
use crate::index::Index;
use crate::retrieve::Hit;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub use cues::Kind;
pub use sentences::sentences;

/// The answer sentence found in a passage, with where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extract {
    /// The sentence, with the one before it when it opens with a pronoun pointing there.
    pub text: String,
    /// 1-based position of its passage among the results (search) or the sources (ask).
    pub source: usize,
    /// `url#anchor` of its passage.
    pub url: String,
    /// Its passage's page title and heading path, e.g. `Millard Fillmore: Early life`: what a
    /// "he" or "it" opening the sentence most often refers to, so pages show it beside the quote.
    pub context: String,
    /// Byte range `[start, end)` of [`Extract::text`] inside the passage text.
    pub start: usize,
    /// End of the range (exclusive).
    pub end: usize,
    /// Its score (higher is better; see [`Weights`]).
    pub score: f32,
}

/// How the features of a sentence add up to its score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// Cosine between the question and the sentence.
    pub cosine: f32,
    /// Share of the question's term weight that the sentence holds.
    pub lexical: f32,
    /// Share held by the sentence together with its page title and headings.
    pub context: f32,
    /// `1 / (1 + rank)` of the sentence's passage.
    pub rank: f32,
    /// 1 when the sentence holds the kind of answer the question asks for.
    pub kind: f32,
}

impl Default for Weights {
    /// Tuned on the tuning half of cmu-qa-dev with `wasmrag eval --answers --sweep` (see
    /// BENCHMARKS.md): the sentence's own term share adds nothing once its share with the
    /// headings is counted.
    fn default() -> Self {
        Weights { cosine: 0.5, lexical: 0.0, context: 0.5, rank: 0.15, kind: 0.3 }
    }
}

/// Settings for extraction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExtractOptions {
    /// How many of the top passages sentences are drawn from; more than a prompt holds,
    /// because the answering passage often ranks below the first few.
    pub passages: usize,
    /// How many sentences, chosen by the cheap features, are embedded and fully scored.
    pub embed: usize,
    /// How the features are weighed.
    pub weights: Weights,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions { passages: 8, embed: 16, weights: Weights::default() }
    }
}

/// One candidate sentence and its features.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Rank (0-based) of its passage among the hits.
    pub rank: usize,
    /// Its passage's position in the index.
    pub chunk: u32,
    /// Byte range of the sentence in the passage text.
    pub start: usize,
    /// End of the range (exclusive).
    pub end: usize,
    /// Cosine between question and sentence.
    pub cosine: f32,
    /// Share of the question's term weight in the sentence.
    pub lexical: f32,
    /// Share in the sentence, its title and its headings.
    pub context: f32,
    /// Whether it holds an answer of the asked kind.
    pub kind: bool,
}

impl Candidate {
    /// Its score under `w`.
    pub fn score(&self, w: &Weights) -> f32 {
        w.cosine * self.cosine + w.lexical * self.lexical + w.context * self.context + w.rank / (1.0 + self.rank as f32) + if self.kind { w.kind } else { 0.0 }
    }
}

/// Whether a sentence reads as prose worth quoting: at least three words, mostly letters
/// (not a code line or a table row).
fn is_prose(sentence: &str) -> bool {
    let total = sentence.chars().filter(|c| !c.is_whitespace()).count().max(1);
    let letters = sentence.chars().filter(|c| c.is_alphabetic()).count();
    sentences::word_count(sentence) >= 3 && letters * 10 >= total * 7
}

/// The question's terms with their weights (terms no passage holds carry no weight).
fn weighted_terms(index: &Index, question: &str) -> Vec<(String, f32)> {
    let mut seen = HashSet::new();
    terms(question)
        .into_iter()
        .filter(|t| seen.insert(t.clone()))
        .map(|t| {
            let w = index.term_weight(&t);
            (t, w)
        })
        .filter(|(_, w)| *w > 0.0)
        .collect()
}

/// The first name in `question` (see [`cues::names`]) that no passage of `index` mentions, not
/// even misspelt (one edit in a name of five to seven letters, two in a longer one): the
/// documents cannot be about it, so they cannot answer the question.
pub fn unknown_name<'q>(index: &Index, question: &'q str) -> Option<&'q str> {
    let edits = |term: &str| match term.chars().count() {
        0..=4 => 0,
        5..=7 => 1,
        _ => 2,
    };
    cues::names(question).into_iter().find(|name| {
        let name_terms = terms(name);
        !name_terms.is_empty() && name_terms.iter().all(|t| !index.has_term_near(t, edits(t)))
    })
}

/// Share of the total weight of `wanted` that the term set `have` holds.
fn share(wanted: &[(String, f32)], have: &HashSet<String>) -> f32 {
    let total: f32 = wanted.iter().map(|(_, w)| w).sum();
    if total <= 0.0 {
        return 0.0;
    }
    wanted.iter().filter(|(t, _)| have.contains(t)).map(|(_, w)| w).sum::<f32>() / total
}

/// Embeds texts, one vector each in order (the embedder, or a memo in front of it).
pub type EmbedTexts<'a> = dyn Fn(&[&str]) -> Result<Vec<Vec<f32>>, EmbedError> + 'a;

/// Scores the sentences of the first `options.passages` hits for `question` (embedded as
/// `question_vector`). The `options.embed` most promising by the cheap features are embedded
/// with `embed` and returned with every feature; the rest are dropped.
pub fn candidates(
    index: &Index,
    embed: &EmbedTexts,
    question: &str,
    question_vector: &[f32],
    hits: &[Hit],
    options: &ExtractOptions,
) -> Result<Vec<Candidate>, EmbedError> {
    let wanted = weighted_terms(index, question);
    let kind = cues::kind(question);
    let mut found = Vec::new();
    for (rank, hit) in hits.iter().take(options.passages).enumerate() {
        let Some(chunk) = index.chunks().get(hit.chunk as usize) else { continue };
        let heading_terms: HashSet<String> = terms(&format!("{} {}", chunk.title, chunk.headings.join(" "))).into_iter().collect();
        for (start, end) in sentences(&chunk.text) {
            let sentence = &chunk.text[start..end];
            if !is_prose(sentence) {
                continue;
            }
            let have: HashSet<String> = terms(sentence).into_iter().collect();
            let with_context: HashSet<String> = have.union(&heading_terms).cloned().collect();
            found.push(Candidate {
                rank,
                chunk: hit.chunk,
                start,
                end,
                cosine: 0.0,
                lexical: share(&wanted, &have),
                context: share(&wanted, &with_context),
                kind: cues::answers_kind(kind, sentence, question),
            });
        }
    }
    // Keep the most promising by everything but the cosine, then embed those.
    let w = &options.weights;
    found.sort_by(|a, b| best_first(a, b, |c| c.score(w)));
    found.truncate(options.embed);
    let texts: Vec<&str> = found.iter().map(|c| &index.chunks()[c.chunk as usize].text[c.start..c.end]).collect();
    let vectors = embed(&texts)?;
    for (c, v) in found.iter_mut().zip(&vectors) {
        c.cosine = v.iter().zip(question_vector).map(|(a, b)| a * b).sum();
    }
    Ok(found)
}

/// The order candidates are ranked in: higher `score` first, then the earlier passage, then
/// the earlier sentence.
pub fn best_first(a: &Candidate, b: &Candidate, score: impl Fn(&Candidate) -> f32) -> std::cmp::Ordering {
    score(b).total_cmp(&score(a)).then(a.rank.cmp(&b.rank)).then(a.start.cmp(&b.start))
}

/// Sorts candidates best first under `weights` (ties: earlier passage, earlier sentence).
pub fn rank(candidates: &mut [Candidate], weights: &Weights) {
    candidates.sort_by(|a, b| best_first(a, b, |c| c.score(weights)));
}

/// Words that open a sentence leaning on the one before it ("They asked a local what the
/// creatures were called.", "These let them filter water…").
const ANAPHORS: &[&str] = &["he", "she", "it", "they", "these", "this", "those", "its", "his", "her", "their", "such"];

/// Whether `sentence` opens with one of [`ANAPHORS`].
fn leans_back(sentence: &str) -> bool {
    let first = sentence.split(|c: char| !c.is_alphabetic()).find(|w| !w.is_empty()).unwrap_or("");
    ANAPHORS.contains(&first.to_lowercase().as_str())
}

/// The range quoted for the sentence `[start, end)` of `passage`: the sentence, with the one
/// before it when it opens with a pronoun that points there, so the quote names its subject.
/// On cmu-qa-dev this lifts the extract's gold rate by about three points (BENCHMARKS.md).
pub fn quoted_range(passage: &str, start: usize, end: usize) -> (usize, usize) {
    if !leans_back(&passage[start..end]) {
        return (start, end);
    }
    let before = sentences(passage).into_iter().take_while(|&(_, e)| e <= start).last();
    match before {
        Some((a, b)) if is_prose(&passage[a..b]) => (a, end),
        _ => (start, end),
    }
}

/// The best candidate as an [`Extract`], its source numbered by its passage's rank.
pub fn best(index: &Index, candidates: &[Candidate], weights: &Weights) -> Option<Extract> {
    let c = candidates.iter().min_by(|a, b| best_first(a, b, |c| c.score(weights)))?;
    let chunk = &index.chunks()[c.chunk as usize];
    let (start, end) = quoted_range(&chunk.text, c.start, c.end);
    Some(Extract {
        text: chunk.text[start..end].to_string(),
        source: c.rank + 1,
        url: chunk.link(),
        context: crate::chunk::context_line(&chunk.title, &chunk.headings),
        start,
        end,
        score: c.score(weights),
    })
}

/// Sentences of one passage chosen as evidence for the prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The passage's position in the index.
    pub chunk: u32,
    /// Rank of the passage among the hits.
    pub rank: usize,
    /// Byte ranges of the chosen sentences as quoted ([`quoted_range`]), merged, in passage order.
    pub ranges: Vec<(usize, usize)>,
    /// The best score of its sentences.
    pub score: f32,
}

impl Evidence {
    /// The evidence text: its ranges joined, `…` where sentences were skipped.
    pub fn text(&self, passage: &str) -> String {
        let mut out = String::new();
        for (i, &(a, b)) in self.ranges.iter().enumerate() {
            if i > 0 {
                out.push_str(" … ");
            }
            out.push_str(&passage[a..b]);
        }
        out
    }
}

/// Picks evidence for a prompt from ranked candidates (best first): up to `sentences` of them
/// from at most `passages` passages, each quoted as the extract is (with the sentence before
/// it when it opens with a pronoun), grouped by passage, passages ordered by their best
/// sentence. No other neighbours: given the sentences around the answer, a small generator
/// often copies those instead (see [`crate::rag::AskOptions::evidence`]).
pub fn evidence(index: &Index, ranked: &[Candidate], weights: &Weights, sentences_wanted: usize, passages: usize) -> Vec<Evidence> {
    let mut out: Vec<Evidence> = Vec::new();
    let mut taken = 0;
    for c in ranked {
        if taken == sentences_wanted {
            break;
        }
        let slot = match out.iter().position(|e| e.chunk == c.chunk) {
            Some(i) => i,
            None if out.len() < passages => {
                out.push(Evidence { chunk: c.chunk, rank: c.rank, ranges: vec![], score: c.score(weights) });
                out.len() - 1
            }
            None => continue,
        };
        let text = &index.chunks()[c.chunk as usize].text;
        out[slot].ranges.push(quoted_range(text, c.start, c.end));
        taken += 1;
    }
    for e in &mut out {
        e.ranges.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for &(a, b) in &e.ranges {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        e.ranges = merged;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(passage: &str, sentence: &str) -> String {
        let start = passage.find(sentence).unwrap();
        let (a, b) = quoted_range(passage, start, start + sentence.len());
        passage[a..b].to_string()
    }

    #[test]
    fn a_sentence_opening_with_a_pronoun_is_quoted_with_the_one_before() {
        let p = "Koalas live in trees. Cook and Banks were exploring when they met the animal. They asked a local what the creatures were called.";
        assert_eq!(
            quote(p, "They asked a local what the creatures were called."),
            "Cook and Banks were exploring when they met the animal. They asked a local what the creatures were called."
        );
        assert_eq!(quote(p, "Cook and Banks were exploring when they met the animal."), "Cook and Banks were exploring when they met the animal.");
        // The first sentence has nothing before it; a code line before is no antecedent.
        assert_eq!(quote("It is a tree. More text here.", "It is a tree."), "It is a tree.");
        let code = "let x = vec![1, 2];\nThis creates a vector of two values.";
        assert_eq!(quote(code, "This creates a vector of two values."), "This creates a vector of two values.");
        assert!(!leans_back("Theirs is not a word we list."));
    }
}
