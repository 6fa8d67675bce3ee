//! Snippets: the part of a passage that best shows why it matched, with the matched words'
//! byte ranges so a page can mark them (as text, never as HTML).

use crate::index::bm25::terms;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// An excerpt of a passage and where the query's words occur in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snippet {
    /// The excerpt, with `…` where the passage was cut.
    pub text: String,
    /// Byte ranges `[start, end)` of matched words within `text`.
    pub highlights: Vec<(usize, usize)>,
}

/// Picks the window of at most `max_chars` characters of `text` holding the most query terms
/// (matched by stem, like BM25) and marks them.
pub fn snippet(text: &str, query: &str, max_chars: usize) -> Snippet {
    let wanted: HashSet<String> = terms(query).into_iter().collect();
    let mut words: Vec<(usize, usize, bool)> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let hit = terms(&text[s..i]).iter().any(|t| wanted.contains(t));
                words.push((s, i, hit));
                start = None;
            }
            _ => {}
        }
    }
    if words.is_empty() {
        return Snippet { text: truncate(text, max_chars).to_string(), highlights: vec![] };
    }
    // Slide a window over word starts; keep the one with the most hits.
    let mut best = (0usize, 0usize);
    let mut end = 0;
    let mut hits = 0;
    for first in 0..words.len() {
        while end < words.len() && char_len(text, words[first].0, words[end].1) <= max_chars {
            hits += usize::from(words[end].2);
            end += 1;
        }
        if hits > best.1 {
            best = (first, hits);
        }
        if end > first {
            hits -= usize::from(words[first].2);
        } else {
            end = first + 1;
        }
    }
    let from = if best.1 == 0 { 0 } else { words[best.0].0 };
    let from = if char_len(text, 0, from) < max_chars / 4 { 0 } else { from };
    let body = truncate(&text[from..], max_chars);
    let to = from + body.len();
    let prefix = if from > 0 { "…" } else { "" };
    let suffix = if to < text.len() { "…" } else { "" };
    let shift = prefix.len();
    let highlights = words.iter().filter(|w| w.2 && w.0 >= from && w.1 <= to).map(|w| (w.0 - from + shift, w.1 - from + shift)).collect();
    Snippet { text: format!("{prefix}{body}{suffix}"), highlights }
}

fn char_len(text: &str, from: usize, to: usize) -> usize {
    text[from..to].chars().count()
}

/// The longest prefix of at most `max_chars` characters, cut at a word boundary when possible.
fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        None => text,
        Some((cut, next)) if next.is_whitespace() || !next.is_alphanumeric() => text[..cut].trim_end(),
        Some((cut, _)) => {
            let head = &text[..cut];
            match head.rfind(char::is_whitespace) {
                Some(space) if space > cut / 2 => head[..space].trim_end(),
                _ => head,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_matched_words_by_stem() {
        let s = snippet("Borrowing lets code use a value without owning it.", "borrowed values", 200);
        assert_eq!(s.text, "Borrowing lets code use a value without owning it.");
        let marked: Vec<&str> = s.highlights.iter().map(|&(a, b)| &s.text[a..b]).collect();
        assert_eq!(marked, vec!["Borrowing", "value"]);
    }

    #[test]
    fn windows_long_text_around_matches() {
        let text = format!("{} the borrow checker rejects this {}", "filler ".repeat(100), "tail ".repeat(100));
        let s = snippet(&text, "borrow checker", 60);
        assert!(s.text.starts_with('…') && s.text.ends_with('…'), "{}", s.text);
        assert!(s.text.contains("borrow checker"));
        assert!(s.text.chars().count() <= 62);
        let marked: Vec<&str> = s.highlights.iter().map(|&(a, b)| &s.text[a..b]).collect();
        assert_eq!(marked, vec!["borrow", "checker"]);
    }

    #[test]
    fn no_match_gives_the_start() {
        let s = snippet("ünïcödé text here and more words", "zebra", 10);
        assert_eq!(s.text, "ünïcödé…");
        assert!(s.highlights.is_empty());
        assert_eq!(snippet("", "x", 10).text, "");
    }
}
