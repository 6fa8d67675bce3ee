//! Retrieval: hybrid search that fuses dense (HNSW, cosine) and keyword (BM25) candidates, so
//! that both paraphrases and exact names (`Box<T>`, `unwrap_or_else`) are found.

mod snippet;

pub use snippet::{snippet, Snippet};

use crate::index::{Index, IndexError};
use serde::{Deserialize, Serialize};

/// How the dense and BM25 rankings are combined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Fusion {
    /// Reciprocal-rank fusion: `w/(k + rank)` summed over both lists; needs no score calibration.
    Rrf {
        /// Rank offset; 60 is the value from Cormack et al. (2009).
        k: f32,
    },
    /// Convex blend of min-max-normalised scores (the default).
    Blend,
}

/// Settings for one retrieval.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RetrieveOptions {
    /// Results to return.
    pub k: usize,
    /// How the two rankings are fused.
    pub fusion: Fusion,
    /// Weight of the dense ranking; BM25 gets `1 - dense_weight`.
    pub dense_weight: f32,
    /// Candidates taken from each ranking before fusion.
    pub candidates: usize,
}

impl Default for RetrieveOptions {
    /// Blend with dense weight 0.4: the best of 18 fusion settings on SciFact's train split
    /// (`wasmrag eval --split train --sweep`: nDCG@10 0.738, against 0.713 for RRF k=60 at
    /// 0.5, 0.660 dense only and 0.704 BM25 only).
    fn default() -> Self {
        RetrieveOptions { k: 10, fusion: Fusion::Blend, dense_weight: 0.4, candidates: 100 }
    }
}

/// One retrieved passage with the evidence behind its rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Position of the passage in the index.
    pub chunk: u32,
    /// Fused score (higher is better; scale depends on the fusion).
    pub score: f32,
    /// Cosine between query and passage, comparable across queries; used to judge whether
    /// retrieval found anything relevant.
    pub cosine: f32,
    /// BM25 score, if the passage shares a term with the query.
    pub bm25: Option<f32>,
}

/// Searches `index` for a query given both as text (for BM25) and as its embedding.
pub fn retrieve(index: &Index, text: &str, vector: &[f32], options: &RetrieveOptions) -> Result<Vec<Hit>, IndexError> {
    let n = options.candidates.max(options.k);
    let dense = index.dense_search(vector, n)?;
    let sparse = index.bm25_search(text, n);
    Ok(fuse(&dense, &sparse, |chunk| index.cosine(chunk, vector), options))
}

/// Fuses a dense and a BM25 ranking (each best first) into `options.k` hits; `cosine` gives a
/// passage's cosine to the query, for the hits and their tie-break.
pub fn fuse(dense: &[(u32, f32)], sparse: &[(u32, f32)], cosine: impl Fn(u32) -> f32, options: &RetrieveOptions) -> Vec<Hit> {
    let wd = options.dense_weight.clamp(0.0, 1.0);
    let wb = 1.0 - wd;
    let mut fused: Vec<Hit> = Vec::new();
    let entry = |chunk: u32, fused: &mut Vec<Hit>| -> usize {
        match fused.iter().position(|h| h.chunk == chunk) {
            Some(i) => i,
            None => {
                fused.push(Hit { chunk, score: 0.0, cosine: cosine(chunk), bm25: None });
                fused.len() - 1
            }
        }
    };
    match options.fusion {
        Fusion::Rrf { k } => {
            for (rank, &(chunk, _)) in dense.iter().enumerate() {
                let i = entry(chunk, &mut fused);
                fused[i].score += wd / (k + rank as f32 + 1.0);
            }
            for (rank, &(chunk, s)) in sparse.iter().enumerate() {
                let i = entry(chunk, &mut fused);
                fused[i].score += wb / (k + rank as f32 + 1.0);
                fused[i].bm25 = Some(s);
            }
        }
        Fusion::Blend => {
            for (chunk, s) in normalise(dense) {
                let i = entry(chunk, &mut fused);
                fused[i].score += wd * s;
            }
            for ((chunk, s), &(_, raw)) in normalise(sparse).into_iter().zip(sparse) {
                let i = entry(chunk, &mut fused);
                fused[i].score += wb * s;
                fused[i].bm25 = Some(raw);
            }
        }
    }
    fused.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.cosine.total_cmp(&a.cosine)).then(a.chunk.cmp(&b.chunk)));
    fused.truncate(options.k);
    fused
}

/// Min-max normalisation to [0, 1]; a single score or equal scores become 1.
fn normalise(scored: &[(u32, f32)]) -> Vec<(u32, f32)> {
    let max = scored.iter().map(|s| s.1).fold(f32::MIN, f32::max);
    let min = scored.iter().map(|s| s.1).fold(f32::MAX, f32::min);
    let range = max - min;
    scored.iter().map(|&(c, s)| (c, if range > 0.0 { (s - min) / range } else { 1.0 })).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{Chunk, ChunkOptions};
    use crate::index::IndexInfo;

    fn unit(v: &[f32]) -> Vec<f32> {
        crate::embed::normalize(v.to_vec())
    }

    fn index() -> Index {
        let texts = ["apples and pears", "the Box<T> smart pointer", "ownership rules", "pears in syrup"];
        let chunks = texts.iter().map(|t| Chunk { url: "u".into(), title: String::new(), headings: vec![], anchor: None, text: t.to_string() }).collect();
        let vectors = [unit(&[1.0, 0.0, 0.0]), unit(&[0.0, 1.0, 0.0]), unit(&[0.0, 0.0, 1.0]), unit(&[0.9, 0.1, 0.0])];
        let info = IndexInfo { embedder: "t".into(), dim: 3, chunking: ChunkOptions::default() };
        Index::build(info, chunks, &vectors).unwrap()
    }

    #[test]
    fn hybrid_finds_keyword_and_meaning() {
        let index = index();
        // The vector points at "ownership", the words at "Box<T>": fusion returns both on top.
        let hits = retrieve(&index, "Box smart pointer", &unit(&[0.0, 0.2, 1.0]), &RetrieveOptions::default()).unwrap();
        let top: Vec<u32> = hits.iter().take(2).map(|h| h.chunk).collect();
        assert!(top.contains(&1) && top.contains(&2), "{hits:?}");
        let keyword = hits.iter().find(|h| h.chunk == 1).unwrap();
        assert!(keyword.bm25.is_some());
        assert!(hits.iter().find(|h| h.chunk == 2).unwrap().cosine > 0.9);
        assert_eq!(hits.len(), 4);
    }

    #[test]
    fn weights_select_one_ranking() {
        let index = index();
        let q = unit(&[0.0, 0.0, 1.0]);
        for fusion in [Fusion::Rrf { k: 60.0 }, Fusion::Blend] {
            let dense_only = RetrieveOptions { dense_weight: 1.0, fusion, ..Default::default() };
            assert_eq!(retrieve(&index, "pears", &q, &dense_only).unwrap()[0].chunk, 2);
            let bm25_only = RetrieveOptions { dense_weight: 0.0, fusion, k: 2, ..Default::default() };
            let hits = retrieve(&index, "pears", &q, &bm25_only).unwrap();
            assert_eq!(hits.len(), 2);
            assert!(hits.iter().all(|h| h.chunk == 0 || h.chunk == 3), "{hits:?}");
        }
    }
}
