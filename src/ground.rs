//! Grounding: every fact a generated answer states must be in its sources. A sentence whose
//! numbers, dates, quoted phrases, names or code identifiers do not occur in the sources (after
//! normalisation) is dropped before it reaches the reader, citation markers outside `1..=N` are
//! removed, and an answer with nothing left falls back to the extractive answer.

use crate::extract::sentences::sentences;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// What the check did to one answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grounding {
    /// Facts (numbers, dates, quotes, names, identifiers) checked against the sources.
    pub checked: usize,
    /// Sentences dropped because a fact in them is not in the sources.
    pub dropped: usize,
    /// The facts that were not found, as written in the answer.
    pub unsupported: Vec<String>,
    /// Sentences dropped because too few of their words occur in the sources or the question
    /// (see [`DEFAULT_MIN_SUPPORT`]): wording the model made up, with no name or number in it.
    pub off_source: usize,
    /// Citation markers removed because they named no source.
    pub markers_removed: usize,
    /// Whether nothing grounded was left, so the answer is the extractive one.
    pub fell_back: bool,
}

/// The default least share of a sentence's words (stemmed, stop words left out) that must
/// occur in the sources or the question for it to be shown; measured on cmu-qa-dev (see
/// BENCHMARKS.md).
pub const DEFAULT_MIN_SUPPORT: f32 = 0.7;

/// Number words mapped to digits on both sides, so "four bytes" supports "4 bytes".
const NUMBER_WORDS: &[(&str, &str)] = &[
    ("zero", "0"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("eleven", "11"),
    ("twelve", "12"),
    ("thirteen", "13"),
    ("fourteen", "14"),
    ("fifteen", "15"),
    ("sixteen", "16"),
    ("seventeen", "17"),
    ("eighteen", "18"),
    ("nineteen", "19"),
    ("twenty", "20"),
    ("thirty", "30"),
    ("forty", "40"),
    ("fifty", "50"),
    ("hundred", "100"),
    ("thousand", "1000"),
];

/// Lower-cases, straightens quotes and dashes, drops thousands separators and maps number
/// words to digits, so the same fact written two ways compares equal.
pub fn normalise(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let c = match c {
            '\u{2018}' | '\u{2019}' | '\u{201B}' | '`' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' => '"',
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            '\u{00A0}' => ' ',
            ',' if i > 0 && chars[i - 1].is_ascii_digit() && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit()) => continue,
            c => c,
        };
        s.extend(c.to_lowercase());
    }
    let words: Vec<String> = s
        .split(' ')
        .map(|w| {
            let core = w.trim_matches(|c: char| !c.is_alphanumeric());
            match NUMBER_WORDS.iter().find(|(word, _)| *word == core) {
                Some((word, digits)) => w.replacen(word, digits, 1),
                None => w.to_string(),
            }
        })
        .collect();
    words.join(" ")
}

/// The kinds of checkable fact.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fact {
    /// Digits (a number, year or date part), normalised.
    Number(String),
    /// A quoted phrase or a code span, normalised.
    Phrase(String),
    /// A capitalised word or identifier, normalised.
    Word(String),
}

/// The facts stated in one answer sentence, each with the text it was read from.
fn facts(sentence: &str) -> Vec<(Fact, String)> {
    let mut out = Vec::new();
    // Quoted phrases and code spans.
    for quote in ['"', '\u{201C}', '`'] {
        let close = if quote == '\u{201C}' { '\u{201D}' } else { quote };
        let mut rest = sentence;
        while let Some(open) = rest.find(quote) {
            let after = &rest[open + quote.len_utf8()..];
            let Some(end) = after.find(close) else { break };
            let phrase = after[..end].trim();
            if !phrase.is_empty() {
                out.push((Fact::Phrase(normalise(phrase)), phrase.to_string()));
            }
            rest = &after[end + close.len_utf8()..];
        }
    }
    let raw: Vec<&str> = sentence.split_whitespace().collect();
    for (i, token) in raw.iter().enumerate() {
        let word = token.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
        if word.is_empty() {
            continue;
        }
        if word.chars().any(|c| c.is_ascii_digit()) {
            let digits = normalise(word).trim_end_matches(|c: char| !c.is_alphanumeric()).to_string();
            out.push((Fact::Number(digits), word.to_string()));
            continue;
        }
        let first_upper = word.chars().next().is_some_and(char::is_uppercase);
        let inner_upper = word.chars().skip(1).any(char::is_uppercase);
        let identifier = word.contains('_') || token.contains("::") || token.ends_with("()");
        // A capital opening a sentence says nothing; inside one it marks a name.
        let opener = i == 0 || raw[i - 1].ends_with(['.', ':', '!', '?']);
        if identifier || inner_upper || (first_upper && !opener) {
            let name = word.trim_end_matches("'s").trim_end_matches('\'');
            out.push((Fact::Word(normalise(name)), name.to_string()));
        }
    }
    let mut seen = HashSet::new();
    out.retain(|(_, raw)| seen.insert(raw.clone()));
    out
}

/// The normalised source texts to check against.
pub struct Checker {
    text: String,
    words: HashSet<String>,
    /// Search terms (stemmed, no stop words) of the sources and the question.
    terms: HashSet<String>,
}

impl Checker {
    /// Prepares the check for answers drawn from `sources` (passage texts, titles, headings)
    /// to `question`.
    pub fn new(sources: &[&str], question: &str) -> Checker {
        let terms = sources.iter().chain([&question]).flat_map(|s| crate::index::bm25::terms(s)).collect();
        let text = sources.iter().map(|s| normalise(s)).collect::<Vec<_>>().join("\n");
        let words = text
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '-' || c == '\''))
            .flat_map(|w| {
                let w = w.trim_matches(|c: char| !c.is_alphanumeric());
                // Also index the parts of dotted, hyphenated and possessive words.
                std::iter::once(w.to_string()).chain(w.split(['.', '-', '\'']).map(str::to_string))
            })
            .filter(|w| !w.is_empty())
            .collect();
        Checker { text, words, terms }
    }

    /// Share of the distinct search terms of `sentence` that occur in the sources or the
    /// question (1 when it has none).
    pub fn support(&self, sentence: &str) -> f32 {
        let terms: HashSet<String> = crate::index::bm25::terms(&clean_markers(sentence, 0).0).into_iter().collect();
        if terms.is_empty() {
            return 1.0;
        }
        terms.iter().filter(|t| self.terms.contains(*t)).count() as f32 / terms.len() as f32
    }

    fn supports(&self, fact: &Fact) -> bool {
        match fact {
            // "1865-1870" is supported by "1865 … 1870"; "3.5" needs "3.5".
            Fact::Number(n) => self.words.contains(n) || n.split('-').all(|p| p.is_empty() || self.words.contains(p)),
            Fact::Word(w) if w.chars().all(|c| c.is_alphanumeric() || c == '_') => self.words.contains(w),
            // Identifiers with punctuation (`String::from`) must appear as written.
            Fact::Word(p) | Fact::Phrase(p) => self.text.contains(p.as_str()),
        }
    }

    /// The facts in `sentence` the sources do not hold (as written), and how many were checked.
    /// Citation markers are not facts and are ignored.
    pub fn unsupported(&self, sentence: &str) -> (Vec<String>, usize) {
        let found = facts(&clean_markers(sentence, 0).0);
        let checked = found.len();
        let missing = found.into_iter().filter(|(f, _)| !self.supports(f)).map(|(_, raw)| raw).collect();
        (missing, checked)
    }
}

/// `sentence` with every citation marker (`[2]`, `[1, 3]`) that names a source outside
/// `1..=sources` removed (valid numbers in the same brackets are kept), and how many numbers
/// were removed.
pub fn clean_markers(sentence: &str, sources: usize) -> (String, usize) {
    let mut out = String::with_capacity(sentence.len());
    let mut removed = 0;
    let mut rest = sentence;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| open + c) else { break };
        let inner = &rest[open + 1..close];
        let numbers: Option<Vec<usize>> = inner.split(',').map(|p| p.trim().parse().ok()).collect();
        out.push_str(&rest[..open]);
        match numbers {
            Some(numbers) if !numbers.is_empty() => {
                let valid: Vec<String> = numbers.iter().filter(|n| (1..=sources).contains(*n)).map(|n| n.to_string()).collect();
                removed += numbers.len() - valid.len();
                if valid.is_empty() {
                    if out.ends_with(' ') {
                        out.pop();
                    }
                } else {
                    out.push_str(&format!("[{}]", valid.join(", ")));
                }
            }
            _ => out.push_str(&rest[open..=close]),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    (out, removed)
}

/// Phrases by which a small model says it has no answer: not a fact, so such a sentence is
/// dropped and, when nothing else is left, the extractive answer is shown instead.
const DECLINES: &[&str] = &[
    "do not contain",
    "does not contain",
    "don't contain",
    "doesn't contain",
    "not mentioned",
    "no information",
    "not provided",
    "cannot answer",
    "can't answer",
    "not specified",
];

/// Openings by which a small model announces its answer ("The answer is: …"), and the
/// `Evidence:` label, bracketed marker or `(title)` it copies from the prompt's evidence
/// layout: not part of the answer, so they are cut from the front of a sentence.
const OPENERS: &[&str] = &["the answer to this question is", "the answer to the question is", "the answer is", "answer:", "evidence:"];

/// `sentence` without a leading [`OPENERS`] phrase, `[n]` marker or parenthesis, its first
/// letter then upper-cased.
pub fn strip_opener(sentence: &str) -> String {
    let mut rest = sentence.trim_start();
    loop {
        let before = rest;
        // The openers are ASCII, so a byte-length prefix of `rest` compares without lower-casing.
        if let Some(o) = OPENERS.iter().find(|o| rest.get(..o.len()).is_some_and(|p| p.eq_ignore_ascii_case(o))) {
            rest = rest[o.len()..].trim_start_matches([':', ',', ' ']);
        }
        for (open, close) in [('[', ']'), ('(', ')')] {
            if rest.starts_with(open) {
                if let Some(end) = rest.find(close) {
                    rest = rest[end + 1..].trim_start();
                }
            }
        }
        if rest == before {
            break;
        }
    }
    let mut chars = rest.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What separates a context line's parts: page title, site, heading path.
const SEPARATORS: [&str; 3] = [": ", " > ", " - "];

/// `text` from its first word on: leading whitespace, opening parentheses and `[n]` markers
/// skipped.
fn skip_layout(text: &str) -> &str {
    let mut rest = text;
    loop {
        let before = rest;
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(inner) = rest.strip_prefix('[') {
            let digits = inner.len() - inner.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0 && inner[digits..].starts_with(']') {
                rest = &inner[digits + 1..];
            }
        }
        if rest == before {
            return rest;
        }
    }
}

/// Whether `sentence` is a fragment rather than a statement: under four words with no closing
/// stop (a copied label or code line that a line break ended, or an answer cut at its token
/// limit), or a lead-in ending with a colon, which announces what follows (a list, code) and
/// says nothing itself. "In 1832 [1]." is a statement; "data: T," and "Here's how to compile
/// it:" are not.
fn is_fragment(sentence: &str) -> bool {
    let end = sentence.trim_end_matches(|c: char| c == ']' || c == '[' || c.is_ascii_digit() || c.is_whitespace());
    end.ends_with(':') || (!end.ends_with(['.', '!', '?', '"', ')']) && end.split_whitespace().count() < 4)
}

/// Checks a generated answer as it streams: complete sentences pass through
/// [`GroundedStream::push`] once their facts are found in the sources; the rest are dropped.
pub struct GroundedStream {
    checker: Checker,
    sources: usize,
    min_support: f32,
    buffer: String,
    emitted: bool,
    report: Grounding,
    /// The evidence blocks' context lines in ASCII lower case ([`GroundedStream::with_contexts`]).
    contexts: Vec<String>,
    /// Whether the answer's opening has been compared with `contexts`.
    opening_checked: bool,
    /// Whether a copied context line was cut and the sentence it opened is still to come.
    after_cut: bool,
}

impl GroundedStream {
    /// A stream answering `question`, checked against `sources` (texts), whose citations may
    /// name `1..=count`; a sentence needs `min_support` of its words in the sources or the
    /// question ([`Checker::support`]).
    pub fn new(sources: &[&str], question: &str, count: usize, min_support: f32) -> GroundedStream {
        GroundedStream {
            checker: Checker::new(sources, question),
            sources: count,
            min_support,
            buffer: String::new(),
            emitted: false,
            report: Grounding::default(),
            contexts: Vec::new(),
            opening_checked: false,
            after_cut: false,
        }
    }

    /// The stream, told the context lines its prompt gave the evidence under (page title and
    /// heading path, `Page - Site: Heading > Subheading`). A small model sometimes opens its
    /// answer by copying one, or its end from some word on ("Site: Heading > Subheading"),
    /// before the sentence it quotes; that copy is layout, not answer, so it is cut.
    pub fn with_contexts(mut self, contexts: &[&str]) -> GroundedStream {
        // Kept in ASCII lower case: a model copying a heading may change its case, and ASCII
        // case folding keeps byte offsets.
        self.contexts = contexts.iter().map(|c| c.trim().to_ascii_lowercase()).filter(|c| !c.is_empty()).collect();
        self
    }

    /// Cuts a copied context line from the front of the answer, once: the longest piece of a
    /// context line, from one of its words to one of its separators ([`SEPARATORS`]) or its
    /// end, that the answer opens with and that holds a separator and two words, so a
    /// heading's words alone, which an answer may well open with, are kept. False while the text so far could still grow into
    /// such a copy (unless `ended`): the stream then waits for more.
    fn cut_copied_context(&mut self, ended: bool) -> bool {
        if self.opening_checked || self.contexts.is_empty() {
            return true;
        }
        let start = self.buffer.len() - skip_layout(&self.buffer).len();
        let rest = self.buffer[start..].to_ascii_lowercase();
        let mut cut = 0;
        let mut growing = false;
        for context in &self.contexts {
            let starts = std::iter::once(0).chain(context.match_indices(' ').map(|(i, _)| i + 1));
            let ends: Vec<usize> = SEPARATORS.iter().flat_map(|s| context.match_indices(s).map(|(i, _)| i + s.len())).chain([context.len()]).collect();
            for start in starts {
                for piece in ends.iter().filter(|&&end| end > start).map(|&end| &context[start..end]) {
                    if !SEPARATORS.iter().any(|s| piece.contains(s.trim_end())) || piece.split_whitespace().count() < 2 {
                        continue;
                    }
                    if rest.starts_with(piece) {
                        cut = cut.max(piece.len());
                    } else if piece.starts_with(rest.as_str()) {
                        growing = true;
                    }
                }
            }
        }
        if growing && !ended {
            return false;
        }
        if cut > 0 {
            let after = &self.buffer[start + cut..];
            let end = self.buffer.len() - after.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ')' | ':' | '>' | '-')).len();
            self.buffer.drain(..end);
            self.after_cut = true;
        }
        self.opening_checked = true;
        true
    }

    /// Whether `sentence` is nothing but three or more words of a context line ("The Rust
    /// Programming Language.", a heading path left unclosed): a title restated, not an answer.
    /// Shorter ones may be the answer itself, named in a heading ("Arc<T>.").
    fn is_context_piece(&self, sentence: &str) -> bool {
        let core = skip_layout(sentence).trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '.' | '!' | '?' | ')' | ']' | ':') || c.is_ascii_digit());
        let core = core.to_ascii_lowercase();
        core.split_whitespace().count() >= 3 && self.contexts.iter().any(|c| c.contains(&core))
    }

    /// Adds generated text; returns the part that is now complete and grounded (maybe empty).
    pub fn push(&mut self, piece: &str) -> String {
        self.buffer.push_str(piece);
        if !self.cut_copied_context(false) {
            return String::new();
        }
        let spans = sentences(&self.buffer);
        // The last sentence may still be growing, unless a line break closes it.
        let complete = if self.buffer.ends_with('\n') { spans.len() } else { spans.len().saturating_sub(1) };
        if complete == 0 {
            return String::new();
        }
        let cut = spans.get(complete).map_or(self.buffer.len(), |s| s.0);
        let done = self.buffer[..cut].to_string();
        self.buffer.drain(..cut);
        self.release(&done, &spans[..complete])
    }

    /// Ends the stream; returns what is left of the answer that is grounded. A last fragment
    /// of under four words with no closing stop (generation cut at its token limit) is dropped.
    pub fn finish(&mut self) -> String {
        self.cut_copied_context(true);
        let rest = std::mem::take(&mut self.buffer);
        let mut spans = sentences(&rest);
        if spans.last().is_some_and(|&(a, b)| is_fragment(&rest[a..b])) {
            spans.pop();
            self.report.dropped += 1;
        }
        self.release(&rest, &spans)
    }

    /// Whether any sentence reached the reader.
    pub fn emitted(&self) -> bool {
        self.emitted
    }

    /// What the check did so far; `fell_back` is set by the caller that falls back.
    pub fn report(&mut self) -> &mut Grounding {
        &mut self.report
    }

    fn release(&mut self, text: &str, spans: &[(usize, usize)]) -> String {
        let mut out = String::new();
        let mut previous_end = 0;
        for &(a, b) in spans {
            let gap = &text[previous_end..a];
            previous_end = b;
            let (sentence, removed) = clean_markers(&text[a..b], self.sources);
            let sentence = if self.emitted { sentence } else { strip_opener(&sentence) };
            self.report.markers_removed += removed;
            // What is left of a sentence that opened with a copied context line, if under four
            // words ("Process."), is the end of a heading, not a statement.
            if std::mem::take(&mut self.after_cut) && sentence.split_whitespace().count() < 4 {
                self.report.dropped += 1;
                continue;
            }
            if self.is_context_piece(&sentence) {
                self.report.dropped += 1;
                continue;
            }
            let lower = sentence.to_lowercase();
            // A declined answer says nothing; a code fence is layout copied from a source (the
            // reader sees an answer as text), not a statement.
            if DECLINES.iter().any(|d| lower.contains(d)) || sentence.contains("```") {
                self.report.dropped += 1;
                continue;
            }
            let (missing, checked) = self.checker.unsupported(&sentence);
            self.report.checked += checked;
            if !missing.is_empty() {
                self.report.dropped += 1;
                self.report.unsupported.extend(missing);
                continue;
            }
            if self.checker.support(&sentence) < self.min_support {
                self.report.dropped += 1;
                self.report.off_source += 1;
                continue;
            }
            if !sentence.chars().any(char::is_alphanumeric) {
                continue;
            }
            if is_fragment(&sentence) {
                self.report.dropped += 1;
                continue;
            }
            if self.emitted {
                out.push_str(if gap.contains('\n') { "\n" } else { " " });
            }
            out.push_str(&sentence);
            self.emitted = true;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "An agency builds an MVP in 4 weeks. Over 100 species live there, first described in 1945. \
The term \"Londonistan\" was coined by Melanie Phillips. Call `String::from` to make a String; a char takes four bytes.";

    fn check(answer: &str) -> Vec<String> {
        Checker::new(&[SOURCE], "").unsupported(answer).0
    }

    #[test]
    fn rejects_invented_numbers_names_and_quotes() {
        assert_eq!(check("The agency builds an MVP in 2 weeks."), vec!["2"]);
        assert_eq!(check("About 76 species live there."), vec!["76"]);
        assert_eq!(check("They were first described in 2008."), vec!["2008"]);
        assert_eq!(check("The term Ladylandism was coined."), vec!["Ladylandism"]);
        assert_eq!(check("It was called \"Londonistan city\"."), vec!["Londonistan city"]);
        assert_eq!(check("Use `str::to_owned` here."), vec!["str::to_owned"]);
        assert_eq!(check("Sources: [2] 012_8b7e9d3c5f6aabcb."), vec!["012_8b7e9d3c5f6aabcb"]);
    }

    #[test]
    fn accepts_facts_written_another_way() {
        assert!(check("An agency builds an MVP in four weeks.").is_empty());
        assert!(check("Over 100 species were described in 1945 by scientists.").is_empty());
        assert!(check("Melanie Phillips coined \u{201C}Londonistan\u{201D}.").is_empty());
        assert!(check("A char takes 4 bytes; call `String::from`.").is_empty());
        assert!(check("However, the agency is fast.").is_empty());
        let (_, checked) = Checker::new(&[SOURCE], "").unsupported("In 1945, Melanie Phillips counted 100.");
        assert_eq!(checked, 4);
        assert!(check("There were 1,000 of them.").contains(&"1,000".to_string()));
        assert!(Checker::new(&["about 1000 of them"], "").unsupported("There were 1,000 of them.").0.is_empty());
    }

    #[test]
    fn removes_markers_that_name_no_source() {
        assert_eq!(clean_markers("It takes 4 weeks [1].", 3), ("It takes 4 weeks [1].".to_string(), 0));
        assert_eq!(clean_markers("It takes 4 weeks [9].", 3), ("It takes 4 weeks.".to_string(), 1));
        assert_eq!(clean_markers("See [2, 7] and [x].", 3), ("See [2] and [x].".to_string(), 1));
        assert_eq!(clean_markers("[0] none", 3), (" none".to_string(), 1));
    }

    #[test]
    fn stream_passes_grounded_sentences_and_drops_the_rest() {
        let mut stream = GroundedStream::new(&[SOURCE], "", 3, DEFAULT_MIN_SUPPORT);
        let mut shown = String::new();
        for piece in ["An agency builds", " an MVP in 4 weeks [1]", ". It takes 2 weeks [9]. A char", " takes four bytes [3]."] {
            shown.push_str(&stream.push(piece));
        }
        shown.push_str(&stream.finish());
        assert_eq!(shown, "An agency builds an MVP in 4 weeks [1]. A char takes four bytes [3].");
        let report = stream.report().clone();
        assert_eq!(report.dropped, 1);
        assert_eq!(report.unsupported, vec!["2"]);
        assert_eq!(report.markers_removed, 1);
        assert!(!shown.contains("[9]"));
    }

    #[test]
    fn a_copied_context_line_is_cut_from_the_answer() {
        let source = "This command creates an executable file in target/debug/hello_cargo.";
        let context = "Hello, Cargo! - The Rust Programming Language: Hello, Cargo! > Building and Running a Cargo Project";
        let answer = |pieces: &[&str]| {
            let mut stream = GroundedStream::new(&[source], "Where does cargo build put the executable?", 1, DEFAULT_MIN_SUPPORT).with_contexts(&[context]);
            let shown: String = pieces.iter().map(|p| stream.push(p)).collect();
            shown + &stream.finish()
        };
        let expected = "This command creates an executable file in target/debug/hello_cargo.";
        // The line's end from a word on, streamed in pieces that split it, its "!" included.
        assert_eq!(
            answer(&[
                "The Rust Programming Language: Hello, Car",
                "go! > Building and Running a Cargo",
                " Project This command creates an executable file in target/debug/hello_cargo."
            ]),
            expected
        );
        assert_eq!(answer(&["(Hello, Cargo! > Building and Running a Cargo Project) ", expected]), expected, "the heading path alone, in parentheses");
        assert_eq!(answer(&[context, " ", expected]), expected, "the whole line");
        assert_eq!(answer(&[expected]), expected, "an answer without the copy is unchanged");
        assert_eq!(answer(&["Hello, Cargo! > Building and Running a Cargo Project process. ", expected]), expected, "a heading's leftover is no statement");
        assert_eq!(answer(&["[1] (hello, cargo! > building and running a cargo project) ", expected]), expected, "after a marker, in another case");
        assert_eq!(answer(&["The Rust Programming Language: [1] ", expected]), expected, "a piece up to a separator");
        assert_eq!(answer(&["The Rust Programming Language. ", expected]), expected, "a title restated is no statement");
        assert_eq!(answer(&["(Hello, Cargo! - The Rust Programming Language: Hello"]), "", "nor an unclosed copy of the line");
        let mut named = GroundedStream::new(&["Cargo is Rust's build system."], "", 1, DEFAULT_MIN_SUPPORT).with_contexts(&["Hello, Cargo! - The Book: Cargo"]);
        assert_eq!(named.push("Cargo. ") + &named.finish(), "Cargo.", "a word of a heading may be the answer");
        // A heading's words without a separator may be how an answer opens: kept.
        let mut heading =
            GroundedStream::new(&["Building and Running a Cargo Project takes two commands."], "", 1, DEFAULT_MIN_SUPPORT).with_contexts(&[context]);
        let shown = heading.push("Building and Running a Cargo Project takes two commands.") + &heading.finish();
        assert_eq!(shown, "Building and Running a Cargo Project takes two commands.");
    }

    #[test]
    fn stream_drops_declines_and_reports_nothing_left() {
        let mut stream = GroundedStream::new(&[SOURCE], "", 1, DEFAULT_MIN_SUPPORT);
        let shown = stream.push("The documents do not contain an answer.") + &stream.finish();
        assert!(shown.is_empty());
        assert!(!stream.emitted());
        assert_eq!(stream.report().dropped, 1);
        let mut cut = GroundedStream::new(&[SOURCE], "", 1, DEFAULT_MIN_SUPPORT);
        let shown = cut.push("A char takes four bytes. However") + &cut.finish();
        assert_eq!(shown, "A char takes four bytes.");
        // A fragment of a copied code block is no statement, though its words are the source's.
        let code = "A Point holds data of type T.\n```rust\nstruct Point<T> { data: T, }\n```";
        let mut fenced = GroundedStream::new(&[code], "What is a Point?", 1, DEFAULT_MIN_SUPPORT);
        let shown = fenced.push("```rust data: T,\n") + &fenced.finish();
        assert!(shown.is_empty() && !fenced.emitted(), "{shown}");
        assert_eq!(fenced.report().dropped, 1);
        let mut short = GroundedStream::new(&[code], "What is a Point?", 1, DEFAULT_MIN_SUPPORT);
        let shown = short.push("data: T,\nA Point holds data of type T [1].\n") + &short.finish();
        assert_eq!(shown, "A Point holds data of type T [1].", "a fragment a line break ended is dropped");
        assert!(!is_fragment("In 1832 [1].") && !is_fragment("Paris.") && is_fragment("data: T,") && is_fragment("However"));
        assert!(is_fragment("Here's how to compile it with optimizations:") && is_fragment("The rules are: [1]"));
    }

    #[test]
    fn drops_sentences_worded_away_from_the_sources() {
        let source = "Most otters have fish as the primary item in their diet, supplemented by frogs and crabs.";
        let checker = Checker::new(&[source], "What do otters eat?");
        // Every word is in the source or the question, in another form.
        assert_eq!(checker.support("Otters eat fish, frogs and crabs [1]."), 1.0);
        // Two of four terms (otter, eat) are; salmon and trout are made up.
        assert_eq!(checker.support("Otters eat salmon and trout."), 0.5);
        assert_eq!(checker.support("[1]"), 1.0);
        let mut stream = GroundedStream::new(&[source], "What do otters eat?", 1, DEFAULT_MIN_SUPPORT);
        let shown = stream.push("Otters mostly eat fish [1]. They also eat salmon and trout. ") + &stream.finish();
        assert_eq!(shown, "Otters mostly eat fish [1].");
        assert_eq!((stream.report().dropped, stream.report().off_source), (1, 1));
        assert!(stream.report().unsupported.is_empty(), "no name or number was wrong");
    }

    #[test]
    fn cuts_announcements_and_copied_layout_from_the_front() {
        assert_eq!(strip_opener("The answer is: 13 species."), "13 species.");
        assert_eq!(strip_opener("The answer to this question is: [1] (Otter) otters eat fish."), "Otters eat fish.");
        assert_eq!(strip_opener("Otters (Lutrinae) eat fish [1]."), "Otters (Lutrinae) eat fish [1].");
        assert_eq!(strip_opener("The answer is:."), ".");
        assert_eq!(strip_opener("Evidence: [1] (Millard Fillmore) In 1846, he founded it."), "In 1846, he founded it.");
        assert_eq!(strip_opener("İs the answer ünïcödé?"), "İs the answer ünïcödé?");
        let mut stream = GroundedStream::new(&[SOURCE], "", 1, DEFAULT_MIN_SUPPORT);
        let shown = stream.push("The answer is: an agency builds an MVP in 4 weeks. ") + &stream.finish();
        assert_eq!(shown, "An agency builds an MVP in 4 weeks.");
    }
}
