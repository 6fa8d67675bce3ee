//! Our own tokenizers for the two model families wasmrag runs, written to give exactly the ids
//! Hugging Face's `tokenizers` crate gives for the same files, without its weight: that crate
//! and the regex engines it pulls cost about 500 kB of the browser's `.wasm` and over a minute
//! of a CI core per build.
//!
//! - [`wordpiece::WordPiece`]: the embedder's BERT WordPiece tokenizer, read from a
//!   `tokenizer.json` (BERT normalizer, BERT pre-tokenizer, `[CLS] … [SEP]` template).
//! - [`bpe::ByteLevelBpe`]: the generator's byte-level BPE (GPT-2 style), built from a GGUF's
//!   vocabulary and merges.
//!
//! Both match literal special tokens (`[SEP]`, `<|im_start|>`) whole in the input first, as
//! `tokenizers` does with its added vocabulary ([`special`]). The Unicode tables are the ones
//! `tokenizers` itself reads, so the two agree on every character: `unicode_categories` and
//! `unicode-normalization-alignments` (Unicode 9) in the BERT normalizer and pre-tokenizer,
//! the general categories of Unicode 16 (as its regex engine has them) in the GPT-2 split.

mod bert;
pub mod bpe;
mod gpt2;
mod special;
pub mod wordpiece;

pub use bpe::ByteLevelBpe;
pub use wordpiece::WordPiece;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use thiserror::Error;

/// Why a tokenizer could not be built: a file of a kind we do not read, or one that
/// contradicts itself (a merge of tokens missing from the vocabulary, say).
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{0}")]
pub struct TokenizeError(pub String);

impl TokenizeError {
    /// An error with this message.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        TokenizeError(message.into())
    }
}

/// A hash map with [`FastHasher`]: vocabulary and merge look-ups are the tokenizers' hot path,
/// and their keys come from model files, not from visitors, so a keyed hash buys nothing.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A multiply-and-rotate hash over machine words (the Fx design): a few cycles per key where
/// the standard SipHash takes tens.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher {
    hash: u64,
}

/// An odd constant with well-mixed bits, from the digits of π.
const SEED: u64 = 0x243f_6a88_85a3_08d3;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}
