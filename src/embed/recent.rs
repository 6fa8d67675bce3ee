//! Recent embeddings of short texts (queries and the candidate sentences of their results), so a
//! page that searches and then asks the same question embeds the question and its candidate
//! sentences once: the answer's first token comes that much sooner. Bounded: emptied when full.
//! A kept vector may come from a batch of other texts than a fresh one would; padding makes the
//! two differ by rounding only.

use super::{EmbedError, Embedder};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Texts kept at most; a question's search and answer need about twenty.
const CAPACITY: usize = 512;
/// Longer texts are embedded but not kept (queries and sentences are far shorter).
const LONGEST: usize = 2048;

/// Vectors of recently embedded texts, for one embedder.
#[derive(Debug, Default)]
pub struct Recent {
    vectors: Mutex<HashMap<String, Vec<f32>>>,
}

impl Recent {
    /// The vectors of `texts` in order, embedding (in one call) only those not kept.
    pub fn embed(&self, embedder: &Embedder, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out: Vec<Option<Vec<f32>>> = {
            let vectors = self.lock();
            texts.iter().map(|t| vectors.get(*t).cloned()).collect()
        };
        let missing: Vec<&str> = texts.iter().zip(&out).filter(|(_, v)| v.is_none()).map(|(t, _)| *t).collect();
        if !missing.is_empty() {
            let fresh = embedder.embed(&missing)?;
            if fresh.len() != missing.len() {
                return Err(EmbedError::Compute(format!("{} vectors for {} texts", fresh.len(), missing.len())));
            }
            let mut vectors = self.lock();
            if vectors.len() + fresh.len() > CAPACITY {
                vectors.clear();
            }
            for (text, v) in missing.iter().zip(&fresh).filter(|(t, _)| t.len() <= LONGEST) {
                vectors.insert(text.to_string(), v.clone());
            }
            for (slot, v) in out.iter_mut().filter(|v| v.is_none()).zip(fresh) {
                *slot = Some(v);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<f32>>> {
        self.vectors.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
