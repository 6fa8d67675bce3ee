//! An embedding cache for incremental index builds: passage vectors keyed by the SHA-256 of the
//! text embedded, for one embedder (its fingerprint), so a rebuild after editing a page embeds
//! only that page's passages. File layout: `CACHE_MAGIC` · version (u32 LE) · fingerprint
//! (u32 LE length + UTF-8) · dim (u32 LE) · count (u64 LE) · count × (16-byte key, dim × f32 LE) ·
//! CRC-32 of everything before it.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use thiserror::Error;

/// The first bytes of every cache file.
pub const CACHE_MAGIC: &[u8; 8] = b"WRAGEMBC";
/// The cache format this build reads and writes.
pub const CACHE_VERSION: u32 = 1;

/// Why a cache file could not be read; a build then starts from an empty cache.
#[derive(Debug, Error, PartialEq)]
#[non_exhaustive]
pub enum CacheError {
    /// The bytes are not a cache of this version, or are damaged or cut short.
    #[error("embedding cache is corrupt or from another version: {0}")]
    Corrupt(&'static str),
}

impl CacheError {
    /// A stable, machine-readable name for this error.
    pub fn code(&self) -> &'static str {
        "cache_corrupt"
    }
}

type Key = [u8; 16];

/// Vectors of passages embedded before, for one embedder; records which were used so a saved
/// cache keeps only what the latest build needed.
#[derive(Debug, Default)]
pub struct EmbeddingCache {
    fingerprint: String,
    dim: usize,
    vectors: HashMap<Key, Vec<f32>>,
    used: HashMap<Key, Vec<f32>>,
    /// Passages found in the cache during this build.
    pub hits: usize,
    /// Passages embedded because they were not.
    pub misses: usize,
}

fn key(text: &str) -> Key {
    let digest = Sha256::digest(text.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&digest[..16]);
    k
}

impl EmbeddingCache {
    /// An empty cache for the embedder with this fingerprint and vector width.
    pub fn new(fingerprint: &str, dim: usize) -> EmbeddingCache {
        EmbeddingCache { fingerprint: fingerprint.to_string(), dim, ..EmbeddingCache::default() }
    }

    /// Reads a cache file for the given embedder; a cache written for another embedder is empty
    /// (its vectors would be wrong), not an error.
    pub fn from_bytes(bytes: &[u8], fingerprint: &str, dim: usize) -> Result<EmbeddingCache, CacheError> {
        let mut cache = EmbeddingCache::new(fingerprint, dim);
        if bytes.len() < CACHE_MAGIC.len() + 4 + 4 || &bytes[..8] != CACHE_MAGIC {
            return Err(CacheError::Corrupt("magic"));
        }
        let (content, footer) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(content) != u32::from_le_bytes(footer.try_into().map_err(|_| CacheError::Corrupt("checksum"))?) {
            return Err(CacheError::Corrupt("checksum"));
        }
        let mut r = Reader { bytes: &content[8..] };
        if r.u32()? != CACHE_VERSION {
            return Err(CacheError::Corrupt("version"));
        }
        let len = r.u32()? as usize;
        let stored = std::str::from_utf8(r.take(len)?).map_err(|_| CacheError::Corrupt("fingerprint"))?;
        let stored_dim = r.u32()? as usize;
        let count = r.u64()?;
        if stored != fingerprint || stored_dim != dim {
            return Ok(cache);
        }
        let entry = 16 + 4 * dim;
        if count.checked_mul(entry as u64) != Some(r.bytes.len() as u64) {
            return Err(CacheError::Corrupt("entry count"));
        }
        for chunk in r.bytes.chunks_exact(entry) {
            let k: Key = chunk[..16].try_into().map_err(|_| CacheError::Corrupt("key"))?;
            let v = chunk[16..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            cache.vectors.insert(k, v);
        }
        Ok(cache)
    }

    /// The cached vector for a passage's embedding text, recorded as used.
    pub fn get(&mut self, text: &str) -> Option<Vec<f32>> {
        let k = key(text);
        let v = self.vectors.get(&k).or_else(|| self.used.get(&k))?.clone();
        self.used.insert(k, v.clone());
        Some(v)
    }

    /// How many vectors the cache holds.
    pub fn len(&self) -> usize {
        self.vectors.len() + self.used.keys().filter(|k| !self.vectors.contains_key(*k)).count()
    }

    /// Whether it holds no vector (also what a file written for another embedder reads as).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds every vector of `other` (e.g. a part of a build split across machines).
    pub fn absorb(&mut self, other: EmbeddingCache) {
        self.vectors.extend(other.vectors);
        self.vectors.extend(other.used);
    }

    /// Whether the passage with embedding text `text` belongs to share `part` (0-based) of
    /// `parts`: decided by its key, so every machine of a split build agrees without talking.
    pub fn in_part(text: &str, part: usize, parts: usize) -> bool {
        let k = key(text);
        let n = u64::from_le_bytes(k[..8].try_into().unwrap_or_default());
        parts > 0 && n % parts as u64 == part as u64
    }

    /// Stores a freshly embedded passage's vector.
    pub fn insert(&mut self, text: &str, vector: Vec<f32>) {
        self.used.insert(key(text), vector);
    }

    /// The cache file of the vectors this build used, sorted by key so equal builds write equal
    /// bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = CACHE_MAGIC.to_vec();
        out.extend(CACHE_VERSION.to_le_bytes());
        out.extend((self.fingerprint.len() as u32).to_le_bytes());
        out.extend(self.fingerprint.as_bytes());
        out.extend((self.dim as u32).to_le_bytes());
        let mut entries: Vec<(&Key, &Vec<f32>)> = self.used.iter().filter(|(_, v)| v.len() == self.dim).collect();
        entries.sort_by_key(|(k, _)| **k);
        out.extend((entries.len() as u64).to_le_bytes());
        for (k, v) in entries {
            out.extend(k);
            out.extend(v.iter().flat_map(|x| x.to_le_bytes()));
        }
        let crc = crc32fast::hash(&out);
        out.extend(crc.to_le_bytes());
        out
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CacheError> {
        if self.bytes.len() < n {
            return Err(CacheError::Corrupt("truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, CacheError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| CacheError::Corrupt("truncated"))?))
    }

    fn u64(&mut self) -> Result<u64, CacheError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| CacheError::Corrupt("truncated"))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_only_what_was_used() {
        let mut cache = EmbeddingCache::new("model-a", 2);
        cache.insert("first passage", vec![0.6, 0.8]);
        cache.insert("second passage", vec![1.0, 0.0]);
        let bytes = cache.to_bytes();
        let mut again = EmbeddingCache::from_bytes(&bytes, "model-a", 2).unwrap();
        assert_eq!(again.get("first passage"), Some(vec![0.6, 0.8]));
        assert_eq!(again.get("third passage"), None);
        // Only the first passage was used by this "build", so only it is saved.
        let pruned = EmbeddingCache::from_bytes(&again.to_bytes(), "model-a", 2).unwrap();
        assert_eq!(pruned.vectors.len(), 1);
        assert_eq!(
            bytes,
            EmbeddingCache::from_bytes(&bytes, "model-a", 2)
                .map(|mut c| {
                    c.get("second passage");
                    c.get("first passage");
                    c.to_bytes()
                })
                .unwrap(),
            "same vectors, same bytes"
        );
    }

    #[test]
    fn another_embedder_starts_empty_and_damage_is_an_error() {
        let mut cache = EmbeddingCache::new("model-a", 2);
        cache.insert("text", vec![0.0, 1.0]);
        let bytes = cache.to_bytes();
        assert_eq!(EmbeddingCache::from_bytes(&bytes, "model-b", 2).unwrap().vectors.len(), 0);
        let mut damaged = bytes.clone();
        damaged[30] ^= 1;
        assert_eq!(EmbeddingCache::from_bytes(&damaged, "model-a", 2).unwrap_err(), CacheError::Corrupt("checksum"));
        assert!(EmbeddingCache::from_bytes(&bytes[..bytes.len() - 9], "model-a", 2).is_err());
        assert!(EmbeddingCache::from_bytes(b"nope", "model-a", 2).is_err());
    }
}
