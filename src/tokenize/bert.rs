//! BERT's text clean-up and word splitting, the steps before WordPiece: the normalizer
//! (`BertNormalizer`: drop control characters, turn whitespace into spaces, space out CJK
//! ideographs, strip accents, lowercase) and the pre-tokenizer (`BertPreTokenizer`: split on
//! whitespace, every punctuation character a word of its own).
//!
//! The character classes come from the tables `tokenizers` reads (`unicode_categories`, and
//! `unicode-normalization-alignments` for NFD, both of Unicode 9) and from the standard
//! library (whitespace, lowercase), so every character is treated as it is there.

use super::TokenizeError;
use serde_json::Value;
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;

/// One pass of a normalizer over the whole text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Drops NUL, U+FFFD and control characters (Cc, Cf, Co, except tab, newline and carriage
    /// return) and turns whitespace into a space.
    Clean,
    /// Puts a space on each side of a CJK ideograph, so each is a word.
    Chinese,
    /// Canonical decomposition (NFD) with non-spacing marks (Mn) dropped: BERT's accent strip.
    StripNonspacing,
    /// Canonical decomposition (the `NFD` normalizer).
    Nfd,
    /// Drops combining marks (Mn, Mc, Me; the `StripAccents` normalizer).
    StripMarks,
    /// Each character's lowercase mapping (character by character: a final sigma stays σ).
    Lowercase,
}

/// The normalizer of a BERT `tokenizer.json`: the passes it makes, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Normalizer {
    steps: Vec<Step>,
}

/// A value of a `tokenizer.json` object, refusing anything but a boolean.
fn flag(v: &Value, name: &str) -> Result<bool, TokenizeError> {
    v.get(name).and_then(Value::as_bool).ok_or_else(|| TokenizeError::new(format!("BertNormalizer needs a boolean {name}")))
}

impl Normalizer {
    /// Reads the `normalizer` of a `tokenizer.json`: `BertNormalizer`, `Lowercase`, `NFD`,
    /// `StripAccents`, a `Sequence` of these, or none (`null`). Anything else is refused.
    pub(crate) fn from_json(v: &Value) -> Result<Self, TokenizeError> {
        let mut steps = Vec::new();
        push_steps(v, &mut steps, 0)?;
        Ok(Normalizer { steps })
    }

    /// Writes `text` normalized into `out` (cleared first); `scratch` is working space.
    pub(crate) fn normalize(&self, text: &str, out: &mut String, scratch: &mut String) {
        out.clear();
        out.push_str(text);
        for &step in &self.steps {
            scratch.clear();
            if apply(step, out, scratch) {
                std::mem::swap(out, scratch);
            }
        }
    }
}

/// Appends the passes of normalizer `v` to `steps`.
fn push_steps(v: &Value, steps: &mut Vec<Step>, depth: usize) -> Result<(), TokenizeError> {
    if v.is_null() {
        return Ok(());
    }
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("?");
    match kind {
        "BertNormalizer" => {
            let lowercase = flag(v, "lowercase")?;
            let strip = match v.get("strip_accents") {
                None | Some(Value::Null) => lowercase,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(TokenizeError::new("BertNormalizer's strip_accents must be a boolean or null")),
            };
            if flag(v, "clean_text")? {
                steps.push(Step::Clean);
            }
            if flag(v, "handle_chinese_chars")? {
                steps.push(Step::Chinese);
            }
            if strip {
                steps.push(Step::StripNonspacing);
            }
            if lowercase {
                steps.push(Step::Lowercase);
            }
        }
        "Lowercase" => steps.push(Step::Lowercase),
        "NFD" => steps.push(Step::Nfd),
        "StripAccents" => steps.push(Step::StripMarks),
        "Sequence" if depth < 8 => {
            let list = v.get("normalizers").and_then(Value::as_array).ok_or_else(|| TokenizeError::new("a Sequence normalizer needs a normalizers list"))?;
            for item in list {
                push_steps(item, steps, depth + 1)?;
            }
        }
        other => {
            return Err(TokenizeError::new(format!(
                "normalizer {other:?} is not supported: wasmrag reads BERT WordPiece tokenizers (BertNormalizer, Lowercase, NFD, StripAccents)"
            )))
        }
    }
    Ok(())
}

/// Runs one pass from `src` into `dst`; false when it would leave the text as it is (then
/// `dst` is untouched and `src` is the result).
fn apply(step: Step, src: &str, dst: &mut String) -> bool {
    let ascii = src.is_ascii();
    match step {
        Step::Clean => {
            if ascii && !src.bytes().any(|b| b.is_ascii_control()) {
                return false;
            }
            dst.extend(src.chars().filter(|&c| !(c == '\0' || c == '\u{FFFD}' || is_control(c))).map(|c| if is_whitespace(c) { ' ' } else { c }));
        }
        Step::Chinese => {
            if ascii || !src.chars().any(is_chinese) {
                return false;
            }
            for c in src.chars() {
                if is_chinese(c) {
                    dst.push(' ');
                    dst.push(c);
                    dst.push(' ');
                } else {
                    dst.push(c);
                }
            }
        }
        // ASCII has no decompositions and no marks.
        Step::StripNonspacing if ascii => return false,
        Step::StripNonspacing => dst.extend(src.nfd().map(|(c, _)| c).filter(|c| !c.is_mark_nonspacing())),
        Step::Nfd if ascii => return false,
        Step::Nfd => dst.extend(src.nfd().map(|(c, _)| c)),
        Step::StripMarks if ascii => return false,
        Step::StripMarks => dst.extend(src.chars().filter(|&c| !unicode_normalization_alignments::char::is_combining_mark(c))),
        Step::Lowercase if ascii => {
            if !src.bytes().any(|b| b.is_ascii_uppercase()) {
                return false;
            }
            dst.extend(src.chars().map(|c| c.to_ascii_lowercase()));
        }
        Step::Lowercase => dst.extend(src.chars().flat_map(char::to_lowercase)),
    }
    true
}

/// Whitespace for the clean-up: tab, newline and carriage return (control characters that
/// are not removed) and every White_Space character.
fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// Control characters the clean-up removes: Cc, Cf and Co in `unicode_categories`' tables,
/// except tab, newline and carriage return.
fn is_control(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r');
    }
    c.is_other()
}

/// The CJK ideograph blocks BERT spaces out (Unified Ideographs, Extensions A to F and the
/// compatibility blocks); Hangul, kana and the rest are left as they are.
fn is_chinese(c: char) -> bool {
    matches!(
        u32::from(c),
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F | 0x2B740..=0x2B81F | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F
    )
}

/// Punctuation for the pre-tokenizer: ASCII punctuation (symbols such as `$` and `^`
/// included) and the Unicode punctuation categories (Pc, Pd, Ps, Pe, Pi, Pf, Po).
fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_punctuation()
    } else {
        c.is_punctuation()
    }
}

/// Calls `each` with the words of normalized `text` (BERT's pre-tokenizer): whitespace
/// separates words and is dropped, and each punctuation character is a word of its own.
pub(crate) fn words<'a>(text: &'a str, mut each: impl FnMut(&'a str)) {
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                each(&text[s..i]);
            }
        } else if is_punctuation(c) {
            if let Some(s) = start.take() {
                each(&text[s..i]);
            }
            each(&text[i..i + c.len_utf8()]);
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        each(&text[s..]);
    }
}

#[cfg(test)]
mod tests {
    use super::{words, Normalizer};

    fn bert(lowercase: bool, strip: Option<bool>) -> Normalizer {
        let json =
            serde_json::json!({"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": strip, "lowercase": lowercase});
        Normalizer::from_json(&json).unwrap()
    }

    fn normalize(n: &Normalizer, text: &str) -> String {
        let (mut out, mut scratch) = (String::new(), String::new());
        n.normalize(text, &mut out, &mut scratch);
        out
    }

    #[test]
    fn cleans_spaces_out_strips_and_lowercases() {
        let n = bert(true, None);
        assert_eq!(normalize(&n, "Héllo\tWörld\u{0}\u{200B}\u{FFFD}\u{7}!"), "hello world!");
        assert_eq!(normalize(&n, "日本語 ΣΑΣ İ"), " 日  本  語  σασ i");
        assert_eq!(normalize(&n, "\u{A0}a\u{2003}b\u{85}c"), " a bc");
        let cased = bert(false, None);
        assert_eq!(normalize(&cased, "Héllo"), "Héllo");
        assert_eq!(normalize(&bert(false, Some(true)), "Héllo"), "Hello");
        assert_eq!(normalize(&bert(true, Some(false)), "Héllo İ"), "héllo i\u{307}");
    }

    #[test]
    fn refuses_other_normalizers() {
        assert!(Normalizer::from_json(&serde_json::json!({"type": "NFKC"})).is_err());
        assert!(Normalizer::from_json(&serde_json::json!({"type": "BertNormalizer", "lowercase": true})).is_err());
        let seq = serde_json::json!({"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"}, {"type": "Lowercase"}]});
        assert_eq!(normalize(&Normalizer::from_json(&seq).unwrap(), "Ça"), "ca");
    }

    #[test]
    fn splits_words_and_punctuation() {
        let mut out = Vec::new();
        words("  don't  stop--now¿ $5 ", |w| out.push(w));
        assert_eq!(out, ["don", "'", "t", "stop", "-", "-", "now", "¿", "$", "5"]);
    }
}
