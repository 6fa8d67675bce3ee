//! The generator's tokenizer: byte-level BPE as GPT-2 defined it and llama.cpp's GGUF files
//! carry it (SmolLM2's `tokenizer.ggml.tokens` and `merges`). Special tokens are found whole
//! first; the rest is optionally split into single digits, then into GPT-2 pieces
//! ([`super::gpt2`]); each piece's bytes start as one token each, and the merge of lowest
//! rank among neighbours is applied (leftmost first on ties) until none applies. Decoding maps
//! the byte alphabet back to bytes. This is exactly what `tokenizers` computes for the same
//! vocabulary and merges.

use super::gpt2::{self, byte_char, char_byte};
use super::special::{Piece, SpecialTokens};
use super::{FastMap, TokenizeError};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// No id: an absent token, the end of a list.
const NONE: u32 = u32::MAX;

/// A byte-level BPE tokenizer (vocabulary, ranked merges, special tokens).
#[derive(Debug, Clone)]
pub struct ByteLevelBpe {
    /// Token text (in the byte alphabet) to id; of two equal texts the later id wins.
    vocab: FastMap<Box<str>, u32>,
    /// The id of each byte as a one-character token, or [`NONE`] (then the byte is dropped).
    byte_ids: [u32; 256],
    /// Pair of ids (`left << 32 | right`) to its merge: `rank << 32 | merged id`.
    merges: FastMap<u64, u64>,
    /// The bytes every id decodes to: `bytes[spans[id].0..spans[id].1]`; `(NONE, NONE)` for
    /// an id that has no text (decoding drops it).
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
    /// Whether each id is a special token, dropped when decoding skips them.
    special: Vec<bool>,
    /// The special tokens, matched whole before anything else.
    specials: SpecialTokens,
    /// Split numbers into single digits before the GPT-2 split (SmolLM2's pre-tokenizer).
    split_digits: bool,
}

/// Scratch space for one encode: the symbols of a piece and the queue of their merges.
#[derive(Default)]
struct Work {
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Reverse<u64>>,
}

/// A token in a piece being merged, linked to its neighbours (indices, or [`NONE`]).
#[derive(Clone, Copy)]
struct Symbol {
    /// The token, or [`NONE`] once merged into its left neighbour.
    id: u32,
    prev: u32,
    next: u32,
}

impl ByteLevelBpe {
    /// Builds the tokenizer from the vocabulary (`tokens[i]` is id `i`), the merges in rank
    /// order (best first), the special tokens matched whole, and whether to split numbers into
    /// single digits first. Fails if a merge names a token, or makes one, that is not in the
    /// vocabulary, or a special token is not in it.
    pub fn new(tokens: &[String], merges: &[(&str, &str)], special: &[&str], split_digits: bool) -> Result<Self, TokenizeError> {
        let count = u32::try_from(tokens.len()).ok().filter(|&n| n < NONE).ok_or_else(|| TokenizeError::new("vocabulary too large"))?;
        let mut vocab: FastMap<Box<str>, u32> = FastMap::default();
        vocab.reserve(tokens.len());
        for (id, token) in (0..count).zip(tokens) {
            vocab.insert(token.as_str().into(), id);
        }
        let mut byte_ids = [NONE; 256];
        let mut buf = [0u8; 4];
        for (b, id) in (0..=255u8).zip(byte_ids.iter_mut()) {
            *id = vocab.get(&*byte_char(b).encode_utf8(&mut buf)).copied().unwrap_or(NONE);
        }
        let mut merge_map: FastMap<u64, u64> = FastMap::default();
        merge_map.reserve(merges.len());
        let mut joined = String::new();
        for (rank, (a, b)) in merges.iter().enumerate() {
            let id = |t: &str| vocab.get(t).copied().ok_or_else(|| TokenizeError::new(format!("merge token {t:?} is not in the vocabulary")));
            let rank = u32::try_from(rank).map_err(|_| TokenizeError::new("too many merges"))?;
            joined.clear();
            joined.push_str(a);
            joined.push_str(b);
            let (left, right, merged) = (id(a)?, id(b)?, id(&joined)?);
            merge_map.insert(u64::from(left) << 32 | u64::from(right), u64::from(rank) << 32 | u64::from(merged));
        }
        let mut bytes = Vec::new();
        let mut spans = vec![(NONE, NONE); tokens.len()];
        for (token, &id) in &vocab {
            let start = bytes.len();
            let mapped: Option<Vec<u8>> = token.chars().map(char_byte).collect();
            match mapped {
                Some(mapped) => bytes.extend_from_slice(&mapped),
                None => bytes.extend_from_slice(token.as_bytes()),
            }
            let span = |n: usize| u32::try_from(n).map_err(|_| TokenizeError::new("vocabulary too large"));
            spans[id as usize] = (span(start)?, span(bytes.len())?);
        }
        let mut is_special = vec![false; tokens.len()];
        let mut found = Vec::new();
        for &text in special.iter().filter(|t| !t.is_empty()) {
            let id = *vocab.get(text).ok_or_else(|| TokenizeError::new(format!("special token {text:?} is not in the vocabulary")))?;
            is_special[id as usize] = true;
            found.push((text.to_string(), id));
        }
        Ok(ByteLevelBpe { vocab, byte_ids, merges: merge_map, bytes, spans, special: is_special, specials: SpecialTokens::new(found), split_digits })
    }

    /// The id of a token, given its text in the byte alphabet (`<|im_end|>`, `Ġthe`).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// Token ids of `text`, special tokens as single ids.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 1);
        let mut work = Work::default();
        self.specials.split(text, |piece| match piece {
            Piece::Token(id) => ids.push(id),
            Piece::Text(text) if self.split_digits => digits(text, |part| gpt2::split(part, |word| self.word(word.as_bytes(), &mut work, &mut ids))),
            Piece::Text(text) => gpt2::split(text, |word| self.word(word.as_bytes(), &mut work, &mut ids)),
        });
        ids
    }

    /// The text of `ids`: their bytes joined, invalid UTF-8 replaced by U+FFFD. Unknown ids
    /// are dropped, and special tokens too with `skip_special_tokens`.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> String {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let Some(&(start, end)) = self.spans.get(id as usize) else { continue };
            if start == NONE || (skip_special_tokens && self.special[id as usize]) {
                continue;
            }
            out.extend_from_slice(&self.bytes[start as usize..end as usize]);
        }
        match String::from_utf8(out) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// The merge of the pair `left`, `right`: `rank << 32 | merged id`.
    #[inline]
    fn merge(&self, left: u32, right: u32) -> Option<u64> {
        self.merges.get(&(u64::from(left) << 32 | u64::from(right))).copied()
    }

    /// Appends the tokens of one piece: its bytes as tokens, then the best-ranked merge among
    /// neighbours (leftmost of equals) again and again until none applies.
    fn word(&self, bytes: &[u8], work: &mut Work, ids: &mut Vec<u32>) {
        let symbols = &mut work.symbols;
        symbols.clear();
        for &b in bytes {
            let id = self.byte_ids[usize::from(b)];
            if id != NONE {
                let at = symbols.len() as u32;
                symbols.push(Symbol { id, prev: if at == 0 { NONE } else { at - 1 }, next: at + 1 });
            }
        }
        let Some(last) = symbols.last_mut() else { return };
        last.next = NONE;
        if symbols.len() == 1 {
            ids.push(symbols[0].id);
            return;
        }
        let queue = &mut work.queue;
        queue.clear();
        let key = |merge: u64, at: u32| Reverse(merge & !0xFFFF_FFFF | u64::from(at));
        for at in 0..symbols.len() - 1 {
            if let Some(m) = self.merge(symbols[at].id, symbols[at + 1].id) {
                queue.push(key(m, at as u32));
            }
        }
        while let Some(Reverse(top)) = queue.pop() {
            let at = (top & 0xFFFF_FFFF) as usize;
            let left = symbols[at];
            if left.id == NONE || left.next == NONE {
                continue;
            }
            let right = symbols[left.next as usize];
            // The pair at `at` may have changed since this entry was queued.
            let Some(m) = self.merge(left.id, right.id).filter(|m| m >> 32 == top >> 32) else { continue };
            let merged = m as u32;
            symbols[at].id = merged;
            symbols[at].next = right.next;
            symbols[left.next as usize].id = NONE;
            if right.next != NONE {
                symbols[right.next as usize].prev = at as u32;
                if let Some(m) = self.merge(merged, symbols[right.next as usize].id) {
                    queue.push(key(m, at as u32));
                }
            }
            if left.prev != NONE {
                if let Some(m) = self.merge(symbols[left.prev as usize].id, merged) {
                    queue.push(key(m, left.prev));
                }
            }
        }
        // The first symbol is never merged away (merges keep the left one).
        let mut at = 0;
        loop {
            ids.push(symbols[at].id);
            match symbols[at].next {
                NONE => break,
                next => at = next as usize,
            }
        }
    }
}

/// Calls `each` with the parts of `text`: every numeric character (`char::is_numeric`) alone,
/// and the stretches between them.
fn digits<'a>(text: &'a str, mut each: impl FnMut(&'a str)) {
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c.is_numeric() {
            if start < i {
                each(&text[start..i]);
            }
            start = i + c.len_utf8();
            each(&text[i..start]);
        }
    }
    if start < text.len() {
        each(&text[start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::ByteLevelBpe;
    use crate::tokenize::gpt2::byte_char;

    /// Every byte, then a few merged tokens and a special one.
    fn toy(split_digits: bool) -> ByteLevelBpe {
        let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
        tokens.extend(["Ġt", "he", "Ġthe", "<|end|>", "aa", "12"].map(String::from));
        let merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("a", "a"), ("1", "2")];
        ByteLevelBpe::new(&tokens, &merges, &["<|end|>"], split_digits).unwrap()
    }

    #[test]
    fn merges_by_rank_then_leftmost() {
        let bpe = toy(false);
        let the = 256 + 2;
        assert_eq!(bpe.encode(" the<|end|>"), [the, 259]);
        assert_eq!(bpe.encode("aaa"), [260, u32::from(b'a')]);
        assert_eq!(bpe.encode("12"), [261]);
        assert_eq!(toy(true).encode("12"), [u32::from(b'1'), u32::from(b'2')]);
        assert_eq!(bpe.encode(""), Vec::<u32>::new());
    }

    #[test]
    fn decodes_bytes_and_skips_specials() {
        let bpe = toy(false);
        let text = "héllo\n the<|end|> 🦀";
        let ids = bpe.encode(text);
        assert_eq!(bpe.decode(&ids, false), text);
        assert_eq!(bpe.decode(&ids, true), "héllo\n the 🦀");
        assert_eq!(bpe.decode(&[0xC3, 9999], true), "\u{FFFD}");
        assert_eq!(bpe.token_to_id("<|end|>"), Some(259));
    }

    #[test]
    fn refuses_merges_outside_the_vocabulary() {
        let tokens: Vec<String> = ["a", "b"].map(String::from).to_vec();
        assert!(ByteLevelBpe::new(&tokens, &[("a", "b")], &[], false).is_err());
        assert!(ByteLevelBpe::new(&tokens, &[("a", "c")], &[], false).is_err());
        assert!(ByteLevelBpe::new(&tokens, &[], &["<s>"], false).is_err());
    }
}
