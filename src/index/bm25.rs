//! BM25 keyword scoring over passages: lower-cased, stop-worded, Snowball-stemmed terms, with
//! the parameters (k1 = 0.9, b = 0.4) that Anserini uses for BEIR.

use rust_stemmers::{Algorithm, Stemmer};
use std::collections::HashMap;

/// Term-frequency saturation.
const K1: f32 = 0.9;
/// Length normalisation.
const B: f32 = 0.4;

/// Common English words that carry no topic.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// Splits text into the terms BM25 indexes: alphanumeric runs, lower-cased, stop words
/// removed, stemmed (so "borrowing" and "borrowed" meet at "borrow").
pub fn terms(text: &str) -> Vec<String> {
    let stemmer = Stemmer::create(Algorithm::English);
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .map(|w| stemmer.stem(&w).into_owned())
        .collect()
}

/// An inverted index with per-passage lengths.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bm25 {
    /// Term → its postings: (passage, term frequency), passages ascending.
    pub(crate) postings: HashMap<String, Vec<(u32, u32)>>,
    /// Number of terms in each passage.
    pub(crate) lengths: Vec<u32>,
}

impl Bm25 {
    /// Indexes passages given as their searchable text.
    pub fn build<S: AsRef<str>>(texts: &[S]) -> Bm25 {
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut lengths = Vec::with_capacity(texts.len());
        for (doc, text) in texts.iter().enumerate() {
            let terms = terms(text.as_ref());
            lengths.push(terms.len() as u32);
            let mut counts: HashMap<String, u32> = HashMap::new();
            for t in terms {
                *counts.entry(t).or_default() += 1;
            }
            for (t, tf) in counts {
                postings.entry(t).or_default().push((doc as u32, tf));
            }
        }
        Bm25 { postings, lengths }
    }

    /// Mean passage length in terms (at least 1), the length BM25 normalises against.
    pub(crate) fn average_length(&self) -> f32 {
        let n = self.lengths.len() as f32;
        (self.lengths.iter().map(|&l| l as f32).sum::<f32>() / n).max(1.0)
    }

    /// How much a match on `term` (an output of [`terms`]) tells: its inverse document
    /// frequency, or 0 when no passage holds it.
    pub fn idf(&self, term: &str) -> f32 {
        self.postings.get(term).map_or(0.0, |list| idf_of(self.lengths.len() as f32, list.len() as f32))
    }

    /// Whether some passage holds `term` or a term at most `edits` edits from it (a letter
    /// added, dropped, changed, or two neighbours swapped), so a misspelt word still matches.
    pub fn has_term_near(&self, term: &str, edits: usize) -> bool {
        if self.postings.contains_key(term) {
            return true;
        }
        let wanted: Vec<char> = term.chars().collect();
        edits > 0 && self.postings.keys().any(|k| k.chars().count().abs_diff(wanted.len()) <= edits && edit_distance(&wanted, k) <= edits)
    }

    /// The `k` best passages for `query` as (passage, score), best first; passages that share
    /// no term with the query are not returned.
    pub fn search(&self, query: &str, k: usize) -> Vec<(u32, f32)> {
        let n = self.lengths.len() as f32;
        if n == 0.0 || k == 0 {
            return Vec::new();
        }
        let avg = self.average_length();
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for term in &query_terms(query) {
            let Some(list) = self.postings.get(term) else { continue };
            let idf = idf_of(n, list.len() as f32);
            for &(doc, tf) in list {
                let len = self.lengths.get(doc as usize).copied().unwrap_or(0);
                *scores.entry(doc).or_default() += term_score(idf, tf, len, avg);
            }
        }
        top_k(scores.into_iter().collect(), k)
    }
}

/// The distinct terms of a query, sorted: each counts once, in the same order everywhere.
pub(crate) fn query_terms(query: &str) -> Vec<String> {
    let mut terms = terms(query);
    terms.sort();
    terms.dedup();
    terms
}

/// Inverse document frequency of `n` passages with `df` holding the term (BM25's, always
/// positive).
pub(crate) fn idf_of(n: f32, df: f32) -> f32 {
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// One term's BM25 contribution to a passage of `len` terms that holds it `tf` times.
pub(crate) fn term_score(idf: f32, tf: u32, len: u32, avg: f32) -> f32 {
    let tf = tf as f32;
    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len as f32 / avg))
}

/// The `k` highest-scoring entries, best first, ties broken by lower id for stable output.
pub fn top_k(mut scored: Vec<(u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    let by_score = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if scored.len() > k {
        scored.select_nth_unstable_by(k, by_score);
        scored.truncate(k);
    }
    scored.sort_by(by_score);
    scored
}

/// Edits (insertions, deletions, substitutions, swaps of neighbours) that turn `a` into `b`:
/// the optimal string alignment distance.
fn edit_distance(a: &[char], b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // Three rows of the table: two back, one back, and the one being filled.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let change = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + change);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        std::mem::swap(&mut before, &mut last);
        std::mem::swap(&mut last, &mut row);
    }
    last[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_terms_are_near_known_ones() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(edit_distance(&chars("netwon"), "newton"), 1, "a swap of neighbours is one edit");
        assert_eq!(edit_distance(&chars("havard"), "harvard"), 1);
        assert_eq!(edit_distance(&chars("kitten"), "sitting"), 3);
        assert_eq!(edit_distance(&chars(""), "abc"), 3);
        let index = Bm25::build(&["Isaac Newton studied at Cambridge"]);
        assert!(index.has_term_near("netwon", 1));
        assert!(!index.has_term_near("netwon", 0));
        assert!(!index.has_term_near("coolidg", 2));
    }

    #[test]
    fn terms_are_stemmed_and_stop_worded() {
        assert_eq!(terms("The Borrowing of references"), vec!["borrow", "refer"]);
        assert_eq!(terms("String::from(\"hi\")"), vec!["string", "hi"]);
    }

    #[test]
    fn rare_matching_terms_rank_first() {
        let docs = ["ownership rules in rust", "the borrow checker checks borrowed references", "rust rust rust", "unrelated cooking recipe"];
        let index = Bm25::build(&docs);
        let hits = index.search("how does borrowing work", 10);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].0, 1);
        let hits = index.search("rust ownership", 10);
        assert_eq!(hits[0].0, 0, "{hits:?}");
        assert_eq!(hits.len(), 2);
        assert!(index.search("zebra", 10).is_empty());
        assert!(index.search("", 10).is_empty());
        assert!(index.idf("borrow") > index.idf("rust"));
        assert_eq!(index.idf("zebra"), 0.0);
    }

    #[test]
    fn top_k_orders_and_truncates() {
        let v = vec![(0, 0.5), (1, 2.0), (2, 1.0), (3, 2.0)];
        assert_eq!(top_k(v, 3), vec![(1, 2.0), (3, 2.0), (2, 1.0)]);
    }
}
