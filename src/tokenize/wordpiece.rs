//! The embedder's tokenizer: BERT WordPiece as Hugging Face writes it in `tokenizer.json`
//! (all-MiniLM-L6-v2 and the other BERT sentence encoders, cased or not). The steps are
//! `tokenizers`' own: added tokens (`[CLS]`, `[SEP]`, …) are found whole in the raw text, the
//! rest is normalized ([`super::bert`]), split into words, and each word is cut greedily into
//! the longest vocabulary pieces (`##`-prefixed inside a word), or is `[UNK]` as a whole; the
//! post-processor's template adds `[CLS] … [SEP]` around the truncated ids.

use super::bert::{words, Normalizer};
use super::special::{Piece, SpecialTokens};
use super::{FastMap, TokenizeError};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The parts of `tokenizer.json` the encoder reads; `truncation`, `padding` and `decoder` are
/// ignored (the caller truncates, and nothing decodes embedder ids).
#[derive(Deserialize)]
struct File {
    version: Option<String>,
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
    #[serde(default)]
    normalizer: Value,
    #[serde(default)]
    pre_tokenizer: Value,
    #[serde(default)]
    post_processor: Value,
    model: Model,
}

/// An entry of `added_tokens`.
#[derive(Deserialize)]
struct AddedToken {
    content: String,
    #[serde(default)]
    single_word: bool,
    #[serde(default)]
    lstrip: bool,
    #[serde(default)]
    rstrip: bool,
    #[serde(default = "yes")]
    normalized: bool,
}

fn yes() -> bool {
    true
}

/// The `model` object: a WordPiece vocabulary and its settings.
#[derive(Deserialize)]
struct Model {
    #[serde(rename = "type")]
    kind: Option<String>,
    unk_token: String,
    continuing_subword_prefix: String,
    max_input_chars_per_word: usize,
    vocab: FastMap<Box<str>, u32>,
}

/// A BERT WordPiece tokenizer read from a `tokenizer.json`.
#[derive(Debug, Clone)]
pub struct WordPiece {
    normalizer: Normalizer,
    /// Every vocabulary entry, for the first piece of a word.
    vocab: FastMap<Box<str>, u32>,
    /// The entries that start with the continuing prefix (`##`), keyed without it, for the
    /// pieces after the first.
    continuing: FastMap<Box<str>, u32>,
    /// Longest key of `vocab` and of `continuing`, in bytes: no piece can be longer.
    longest: usize,
    longest_continuing: usize,
    /// The id of the unknown token, given to a word that cannot be cut into pieces.
    unk: u32,
    /// Words of more characters are unknown without trying.
    max_chars: usize,
    /// Added tokens matched in the raw text (`normalized: false`, as BERT's specials are).
    raw_specials: SpecialTokens,
    /// Added tokens matched in the normalized text (`normalized: true`).
    normalized_specials: SpecialTokens,
    /// Ids the post-processor puts before and after the text's (`[CLS]` and `[SEP]`).
    prefix: Vec<u32>,
    suffix: Vec<u32>,
}

impl WordPiece {
    /// Reads a `tokenizer.json` of the BERT WordPiece family: model `WordPiece`, pre-tokenizer
    /// `BertPreTokenizer`, normalizer `BertNormalizer` (or `Lowercase`/`NFD`/`StripAccents`, in
    /// a `Sequence` or not, or none), post-processor `TemplateProcessing`, `BertProcessing` or
    /// none. Anything else, or a file that contradicts itself, is an error, never a panic.
    pub fn from_json(bytes: &[u8]) -> Result<Self, TokenizeError> {
        let file: File = serde_json::from_slice(bytes).map_err(|e| TokenizeError::new(format!("not a tokenizer.json: {e}")))?;
        if let Some(v) = file.version.as_deref().filter(|v| *v != "1.0") {
            return Err(TokenizeError::new(format!("tokenizer.json version {v:?}; wasmrag reads version 1.0")));
        }
        let model = file.model;
        if let Some(kind) = model.kind.as_deref().filter(|k| *k != "WordPiece") {
            return Err(TokenizeError::new(format!("tokenizer model {kind:?}; wasmrag's embedder reads WordPiece (BERT) tokenizers")));
        }
        match file.pre_tokenizer.get("type").and_then(Value::as_str) {
            Some("BertPreTokenizer") => {}
            other => return Err(TokenizeError::new(format!("pre-tokenizer {other:?}; wasmrag reads BERT tokenizers (BertPreTokenizer)"))),
        }
        let normalizer = Normalizer::from_json(&file.normalizer)?;
        let unk = *model
            .vocab
            .get(model.unk_token.as_str())
            .ok_or_else(|| TokenizeError::new(format!("the unknown token {:?} is not in the vocabulary", model.unk_token)))?;
        let prefix_len = model.continuing_subword_prefix.len();
        let continuing: FastMap<Box<str>, u32> =
            model.vocab.iter().filter(|(t, _)| t.starts_with(model.continuing_subword_prefix.as_str())).map(|(t, &id)| (t[prefix_len..].into(), id)).collect();
        let (raw_specials, normalized_specials) = added_tokens(file.added_tokens, &model.vocab, &normalizer)?;
        let (prefix, suffix) = template(&file.post_processor)?;
        Ok(WordPiece {
            normalizer,
            longest: model.vocab.keys().map(|k| k.len()).max().unwrap_or(0),
            longest_continuing: continuing.keys().map(|k| k.len()).max().unwrap_or(0),
            vocab: model.vocab,
            continuing,
            unk,
            max_chars: model.max_input_chars_per_word,
            raw_specials,
            normalized_specials,
            prefix,
            suffix,
        })
    }

    /// Token ids of `text`. With `add_special_tokens`, the template's ids (`[CLS]`, `[SEP]`)
    /// are added around the text's; `max_length` caps the total (special tokens included) by
    /// keeping the first ids of the text, like `tokenizers`' default truncation.
    pub fn encode(&self, text: &str, add_special_tokens: bool, max_length: Option<usize>) -> Vec<u32> {
        let added = if add_special_tokens { self.prefix.len() + self.suffix.len() } else { 0 };
        let limit = max_length.map_or(usize::MAX, |m| m.saturating_sub(added));
        let mut ids = Vec::with_capacity((text.len() / 4 + added + 2).min(limit.saturating_add(added)));
        if add_special_tokens {
            ids.extend_from_slice(&self.prefix);
        }
        let start = ids.len();
        let (mut normalized, mut scratch) = (String::new(), String::new());
        self.raw_specials.split(text, |piece| {
            if ids.len() - start >= limit {
                return;
            }
            match piece {
                Piece::Token(id) => ids.push(id),
                Piece::Text(raw) => {
                    self.normalizer.normalize(raw, &mut normalized, &mut scratch);
                    self.normalized_specials.split(&normalized, |piece| match piece {
                        Piece::Token(id) => ids.push(id),
                        Piece::Text(text) => words(text, |word| {
                            if ids.len() - start < limit {
                                self.word(word, &mut ids);
                            }
                        }),
                    });
                }
            }
        });
        ids.truncate(start.saturating_add(limit));
        if add_special_tokens {
            ids.extend_from_slice(&self.suffix);
        }
        ids
    }

    /// Number of tokens of `text` without the template's special tokens and without a cap.
    pub fn count(&self, text: &str) -> usize {
        self.encode(text, false, None).len()
    }

    /// Appends the pieces of one word: at each place the longest vocabulary entry that
    /// starts there (continuing entries after the first), or the unknown token for the whole
    /// word when some place has none.
    fn word(&self, word: &str, ids: &mut Vec<u32>) {
        if word.len() > self.max_chars && word.chars().count() > self.max_chars {
            ids.push(self.unk);
            return;
        }
        let mark = ids.len();
        let mut start = 0;
        while start < word.len() {
            let (map, longest) = if start == 0 { (&self.vocab, self.longest) } else { (&self.continuing, self.longest_continuing) };
            let mut end = (start + longest).min(word.len());
            while !word.is_char_boundary(end) {
                end -= 1;
            }
            loop {
                if end <= start {
                    ids.truncate(mark);
                    ids.push(self.unk);
                    return;
                }
                if let Some(&id) = map.get(&word[start..end]) {
                    ids.push(id);
                    start = end;
                    break;
                }
                end -= 1;
                while !word.is_char_boundary(end) {
                    end -= 1;
                }
            }
        }
    }
}

/// The matchers for the added tokens, raw and normalized, with the ids `tokenizers` gives
/// them: the vocabulary's id for a token in it, else the next ids after the vocabulary, in
/// the file's order (the file's own `id` fields are not read). A later entry with the same
/// text replaces an earlier one's settings.
fn added_tokens(tokens: Vec<AddedToken>, vocab: &FastMap<Box<str>, u32>, normalizer: &Normalizer) -> Result<(SpecialTokens, SpecialTokens), TokenizeError> {
    let mut next = u32::try_from(vocab.len()).map_err(|_| TokenizeError::new("vocabulary too large"))?;
    let mut ids: FastMap<String, u32> = FastMap::default();
    let mut by_id: BTreeMap<u32, AddedToken> = BTreeMap::new();
    for token in tokens {
        if token.content.is_empty() {
            continue;
        }
        if token.single_word || token.lstrip || token.rstrip {
            return Err(TokenizeError::new(format!("added token {:?} uses single_word/lstrip/rstrip, which wasmrag does not read", token.content)));
        }
        let id = match ids.get(&token.content).or_else(|| vocab.get(token.content.as_str())) {
            Some(&id) => id,
            None => {
                let id = next;
                next = next.checked_add(1).ok_or_else(|| TokenizeError::new("too many added tokens"))?;
                id
            }
        };
        ids.insert(token.content.clone(), id);
        by_id.insert(id, token);
    }
    let (mut raw, mut normalized) = (Vec::new(), Vec::new());
    let (mut text, mut scratch) = (String::new(), String::new());
    for (id, token) in by_id {
        if token.normalized {
            normalizer.normalize(&token.content, &mut text, &mut scratch);
            if text.is_empty() || normalized.iter().any(|(t, _)| *t == text) {
                return Err(TokenizeError::new(format!("added token {:?} normalizes to an empty or repeated text", token.content)));
            }
            normalized.push((text.clone(), id));
        } else {
            raw.push((token.content, id));
        }
    }
    let (raw, normalized) = (SpecialTokens::new(raw), SpecialTokens::new(normalized));
    debug_assert!(raw.texts().all(|t| !t.is_empty()));
    Ok((raw, normalized))
}

/// The ids the post-processor adds before and after a single text's.
fn template(v: &Value) -> Result<(Vec<u32>, Vec<u32>), TokenizeError> {
    let bad = |m: &str| TokenizeError::new(format!("post-processor: {m}"));
    let id_of = |pair: Option<&Value>| -> Result<u32, TokenizeError> {
        pair.and_then(|p| p.get(1)).and_then(Value::as_u64).and_then(|id| u32::try_from(id).ok()).ok_or_else(|| bad("BertProcessing needs [token, id] pairs"))
    };
    match v.get("type").and_then(Value::as_str) {
        None if v.is_null() => Ok((Vec::new(), Vec::new())),
        Some("BertProcessing") => Ok((vec![id_of(v.get("cls"))?], vec![id_of(v.get("sep"))?])),
        Some("TemplateProcessing") => {
            let pieces = v.get("single").and_then(Value::as_array).ok_or_else(|| bad("TemplateProcessing needs a single template"))?;
            let specials = v.get("special_tokens");
            let (mut before, mut after, mut seen) = (Vec::new(), Vec::new(), false);
            for piece in pieces {
                if let Some(seq) = piece.get("Sequence") {
                    if seen || seq.get("id").and_then(Value::as_str) != Some("A") {
                        return Err(bad("the single template must hold sequence A once"));
                    }
                    seen = true;
                } else if let Some(name) = piece.get("SpecialToken").and_then(|s| s.get("id")).and_then(Value::as_str) {
                    let ids = specials
                        .and_then(|s| s.get(name))
                        .and_then(|s| s.get("ids"))
                        .and_then(Value::as_array)
                        .ok_or_else(|| bad(&format!("special token {name:?} has no ids")))?;
                    for id in ids {
                        let id = id.as_u64().and_then(|id| u32::try_from(id).ok()).ok_or_else(|| bad("a special token id is not a number"))?;
                        if seen { &mut after } else { &mut before }.push(id);
                    }
                } else {
                    return Err(bad("unknown template piece"));
                }
            }
            if !seen {
                return Err(bad("the single template must hold sequence A once"));
            }
            Ok((before, after))
        }
        other => Err(bad(&format!("{other:?} is not supported; wasmrag reads BERT tokenizers (TemplateProcessing, BertProcessing)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::WordPiece;

    /// A small BERT tokenizer.json: lowercasing, `[CLS] $A [SEP]`.
    fn toy(post: &str, extra_added: &str) -> String {
        format!(
            r###"{{"version": "1.0", "added_tokens": [
                {{"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}},
                {{"id": 1, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}},
                {{"id": 2, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}}{extra_added}],
            "normalizer": {{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true}},
            "pre_tokenizer": {{"type": "BertPreTokenizer"}},
            "post_processor": {post},
            "model": {{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 10,
                "vocab": {{"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "un": 3, "##aff": 4, "##able": 5, "aff": 6, ",": 7, "a": 8, "##b": 9}}}}}}"###
        )
    }

    const TEMPLATE: &str = r#"{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
        "pair": [], "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [2], "tokens": ["[SEP]"]}}}"#;

    #[test]
    fn cuts_words_into_longest_pieces() {
        let wp = WordPiece::from_json(toy(TEMPLATE, "").as_bytes()).unwrap();
        assert_eq!(wp.encode("UnAffable, Ünaff[SEP]x", true, None), [1, 3, 4, 5, 7, 3, 4, 2, 0, 2]);
        // Ten characters are cut; eleven are unknown without trying.
        assert_eq!(wp.encode("abbbbbbbbb abbbbbbbbbb", false, None), [8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0]);
        assert_eq!(wp.encode("unaffable unaffable", true, Some(5)), [1, 3, 4, 5, 2]);
        assert_eq!(wp.encode("unaffable", true, Some(1)), [1, 2]);
        assert_eq!(wp.encode("", true, Some(256)), [1, 2]);
        assert_eq!(wp.count("unaffable [CLS]"), 4);
        let bert = WordPiece::from_json(toy(r#"{"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]}"#, "").as_bytes()).unwrap();
        assert_eq!(bert.encode("a", true, None), [1, 8, 2]);
        let bare = WordPiece::from_json(toy("null", "").as_bytes()).unwrap();
        assert_eq!(bare.encode("a", true, None), [8]);
    }

    #[test]
    fn normalized_added_tokens_match_after_normalizing() {
        let extra = r#", {"id": 99, "content": "NEW", "normalized": true}"#;
        let wp = WordPiece::from_json(toy(TEMPLATE, extra).as_bytes()).unwrap();
        assert_eq!(wp.encode("aNewb new", false, None), [8, 10, 0, 10]);
    }

    #[test]
    fn refuses_other_tokenizers() {
        let broken = [
            toy(TEMPLATE, "").replace("WordPiece\", \"unk", "BPE\", \"unk"),
            toy(TEMPLATE, "").replace("BertPreTokenizer", "Whitespace"),
            toy(TEMPLATE, "").replace("\"unk_token\": \"[UNK]\"", "\"unk_token\": \"<unk>\""),
            toy(r#"{"type": "RobertaProcessing"}"#, ""),
            toy(TEMPLATE, r#", {"id": 99, "content": "[MASK]", "lstrip": true, "normalized": false}"#),
            toy(TEMPLATE.replace("\"[SEP]\": {", "\"[X]\": {").as_str(), ""),
            "{\"not\": 1}".to_string(),
            "not json".to_string(),
        ];
        for file in broken {
            assert!(WordPiece::from_json(file.as_bytes()).is_err(), "{file}");
        }
    }
}
