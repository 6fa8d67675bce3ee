//! The index: passages, their int8 vectors, BM25 postings over the text and, for large
//! indexes, an HNSW graph over the vectors, in one compact binary file with magic bytes, a
//! format version and a CRC-32.
//!
//! File layout: `MAGIC` (8 bytes) · version (u32 LE) · body length (u64 LE) · body · CRC-32 of
//! everything before it (u32 LE). The body holds, in order: the info, the page table, the
//! passages, the vectors, the dense layout (a varint: 0 flat, 1 an HNSW graph follows) with its
//! graph, and the BM25 postings (terms with their document frequencies, then every posting's
//! passage delta, then every term frequency; passage lengths are the sums of these). Passages
//! and vectors are stored column by column (see `records`), which gzip compresses better.

pub mod bm25;
mod codec;
mod graph;
mod records;
pub mod shards;
pub mod vector;

use crate::chunk::{Chunk, ChunkOptions};
use bm25::{top_k, Bm25};
use codec::{frame, unframe, Malformed, Reader, Writer};
use graph::Graph;
use instant_distance::{Builder, HnswMap, Search};
use std::collections::HashMap;
use thiserror::Error;
use vector::QVec;

/// The first bytes of every index file.
pub const MAGIC: &[u8; 8] = b"WASMRAGI";
/// The format version this build writes and reads (2: the graph became optional and the
/// parts column by column).
pub const FORMAT_VERSION: u32 = 2;
/// Up to this many passages an index is searched by scanning every vector and stores no graph.
/// A scan of 20,000 int8 vectors takes a few milliseconds, is exact, and saves the graph's
/// bytes (a sixth of the Rust Book's index after gzip) and its build and load time.
pub const FLAT_MAX_PASSAGES: usize = 20_000;
/// Seed for HNSW level assignment, so the same passages give the same graph.
const HNSW_SEED: u64 = 0x5eed;
/// The file's dense-layout tag for [`DenseLayout::Flat`].
const LAYOUT_FLAT: u64 = 0;
/// The file's dense-layout tag for [`DenseLayout::Graph`].
const LAYOUT_GRAPH: u64 = 1;

/// Why an index could not be built or read. Reading never modifies anything, so a bad file
/// leaves the index already loaded untouched.
#[derive(Debug, Error, PartialEq)]
#[non_exhaustive]
pub enum IndexError {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a wasmrag index (the file does not start with the index magic bytes)")]
    NotAnIndex,
    /// The file was written in a format version this build cannot read.
    #[error("incompatible index format version {found} (this build reads version {supported}); rebuild the index with this version of wasmrag")]
    Incompatible {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The file is shorter or longer than its header says.
    #[error("index file is truncated or padded: expected {expected} bytes, got {actual}")]
    Truncated {
        /// Size the header promises.
        expected: u64,
        /// Size received.
        actual: u64,
    },
    /// The checksum does not match: the bytes were damaged.
    #[error("index checksum mismatch: the file is corrupt")]
    Checksum,
    /// The checksum matched but a field is invalid (a writer bug or a crafted file).
    #[error("index is corrupt: invalid {0}")]
    Corrupt(&'static str),
    /// A search needs a file of a sharded index that has not been loaded yet.
    #[error("the sharded index's file {0} is needed but not loaded")]
    MissingShard(String),
    /// A file given to a sharded index is not one of its files.
    #[error("{0} is not a file of this sharded index")]
    UnknownShard(String),
    /// A file of a sharded index belongs to another build of it (the site was rebuilt since
    /// the entry was read, or a stale cache); `index_changed`, so a caller can read the entry
    /// again and retry.
    #[error("{0} belongs to another build of the sharded index; reload the index")]
    ForeignShard(String),
    /// There are no passages to index.
    #[error("nothing to index: the documents produced no text passages")]
    Empty,
    /// Passages and vectors differ in number.
    #[error("{chunks} passages but {vectors} vectors")]
    CountMismatch {
        /// Passages given.
        chunks: usize,
        /// Vectors given.
        vectors: usize,
    },
    /// A vector's length differs from the index's dimension.
    #[error("vector has {found} dimensions but the index uses {expected}")]
    Dimension {
        /// The index's dimension.
        expected: usize,
        /// The vector's.
        found: usize,
    },
}

impl IndexError {
    /// A stable, machine-readable name for this error (`index_corrupt`, `index_version`, ...),
    /// the `code` JavaScript callers see.
    pub fn code(&self) -> &'static str {
        match self {
            IndexError::NotAnIndex | IndexError::Truncated { .. } | IndexError::Checksum | IndexError::Corrupt(_) | IndexError::UnknownShard(_) => {
                "index_corrupt"
            }
            IndexError::ForeignShard(_) => "index_changed",
            IndexError::Incompatible { .. } => "index_version",
            IndexError::MissingShard(_) => "invalid_state",
            IndexError::Empty => "nothing_indexed",
            IndexError::CountMismatch { .. } | IndexError::Dimension { .. } => "model_mismatch",
        }
    }
}

impl From<Malformed> for IndexError {
    fn from(m: Malformed) -> Self {
        IndexError::Corrupt(m.what)
    }
}

/// What the index was built with; needed to embed queries and add documents consistently.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexInfo {
    /// Fingerprint of the embedder that made the vectors (see `Embedder::fingerprint`).
    pub embedder: String,
    /// Vector length.
    pub dim: usize,
    /// How documents were split.
    pub chunking: ChunkOptions,
}

/// Bytes taken by each part of the serialized index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeReport {
    /// Passages in the index.
    pub chunks: usize,
    /// Page table and passage text.
    pub text: usize,
    /// Int8 vectors and scales.
    pub vectors: usize,
    /// Dense layout tag and HNSW graph (one byte for a flat index).
    pub graph: usize,
    /// BM25 postings.
    pub bm25: usize,
    /// Whole file, header and footer included.
    pub total: usize,
}

/// How an index finds the nearest vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseLayout {
    /// Every vector is scanned: exact, and nothing is stored beside the vectors.
    Flat,
    /// An HNSW graph is searched: approximate, faster on large indexes, and stored in the file.
    Graph,
}

impl DenseLayout {
    /// The layout an index of `passages` passages gets: flat up to [`FLAT_MAX_PASSAGES`].
    pub fn for_passages(passages: usize) -> DenseLayout {
        if passages <= FLAT_MAX_PASSAGES {
            DenseLayout::Flat
        } else {
            DenseLayout::Graph
        }
    }
}

/// The HNSW graph of a [`DenseLayout::Graph`] index, in its stored and its searchable form.
struct Hnsw {
    graph: Graph,
    map: HnswMap<QVec, u32>,
}

/// A searchable hybrid index over passages.
pub struct Index {
    info: IndexInfo,
    chunks: Vec<Chunk>,
    vectors: Vec<QVec>,
    hnsw: Option<Hnsw>,
    bm25: Bm25,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("info", &self.info).field("chunks", &self.chunks.len()).finish()
    }
}

impl Index {
    /// Builds an index from passages and their embeddings (same order, unit length), with the
    /// dense layout [`DenseLayout::for_passages`] picks.
    pub fn build(info: IndexInfo, chunks: Vec<Chunk>, vectors: &[Vec<f32>]) -> Result<Index, IndexError> {
        let layout = DenseLayout::for_passages(chunks.len());
        Self::build_with_layout(info, chunks, vectors, layout)
    }

    /// Builds an index with the given dense layout, e.g. a graph for a mid-sized index that is
    /// searched often.
    pub fn build_with_layout(info: IndexInfo, chunks: Vec<Chunk>, vectors: &[Vec<f32>], layout: DenseLayout) -> Result<Index, IndexError> {
        if chunks.len() != vectors.len() {
            return Err(IndexError::CountMismatch { chunks: chunks.len(), vectors: vectors.len() });
        }
        if let Some(v) = vectors.iter().find(|v| v.len() != info.dim) {
            return Err(IndexError::Dimension { expected: info.dim, found: v.len() });
        }
        let vectors = vectors.iter().map(|v| QVec::quantize(v)).collect();
        Self::from_parts(info, chunks, vectors, layout)
    }

    /// An index over bare unit vectors with no text (passage `i` is named `"i"`), for callers
    /// who bring their own embeddings and only need nearest-neighbour search, in the dense
    /// layout they choose.
    pub fn from_vectors(dim: usize, vectors: &[Vec<f32>], layout: DenseLayout) -> Result<Index, IndexError> {
        let info = IndexInfo { embedder: "external".into(), dim, chunking: ChunkOptions::default() };
        let chunks =
            (0..vectors.len()).map(|i| Chunk { url: i.to_string(), title: String::new(), headings: Vec::new(), anchor: None, text: String::new() }).collect();
        Self::build_with_layout(info, chunks, vectors, layout)
    }

    fn from_parts(info: IndexInfo, chunks: Vec<Chunk>, vectors: Vec<QVec>, layout: DenseLayout) -> Result<Index, IndexError> {
        if chunks.is_empty() {
            return Err(IndexError::Empty);
        }
        let hnsw = match layout {
            DenseLayout::Flat => None,
            DenseLayout::Graph => {
                let values: Vec<u32> = (0..chunks.len() as u32).collect();
                let map = Builder::default().seed(HNSW_SEED).build(vectors.clone(), values);
                Some(Hnsw { graph: Graph::from_hnsw(&map)?, map })
            }
        };
        let bm25 = Bm25::build(&chunks.iter().map(searchable_text).collect::<Vec<_>>());
        Ok(Index { info, chunks, vectors, hnsw, bm25 })
    }

    /// A new index with every passage from the pages in `remove_urls` dropped and the given
    /// passages added, its dense layout picked anew for its size; `self` is left as it was, so
    /// a failure loses nothing.
    pub fn with_changes(&self, remove_urls: &[&str], add_chunks: Vec<Chunk>, add_vectors: &[Vec<f32>]) -> Result<Index, IndexError> {
        if add_chunks.len() != add_vectors.len() {
            return Err(IndexError::CountMismatch { chunks: add_chunks.len(), vectors: add_vectors.len() });
        }
        if let Some(v) = add_vectors.iter().find(|v| v.len() != self.info.dim) {
            return Err(IndexError::Dimension { expected: self.info.dim, found: v.len() });
        }
        let keep = |c: &Chunk| !remove_urls.contains(&c.url.as_str());
        let (mut chunks, mut vectors): (Vec<Chunk>, Vec<QVec>) =
            self.chunks.iter().zip(&self.vectors).filter(|(c, _)| keep(c)).map(|(c, v)| (c.clone(), v.clone())).unzip();
        chunks.extend(add_chunks);
        vectors.extend(add_vectors.iter().map(|v| QVec::quantize(v)));
        let layout = DenseLayout::for_passages(chunks.len());
        Self::from_parts(self.info.clone(), chunks, vectors, layout)
    }

    /// What the index was built with.
    pub fn info(&self) -> &IndexInfo {
        &self.info
    }

    /// All passages, in index order (search results refer to these positions).
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// Number of passages.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether the index holds no passages (never true for a built or loaded index).
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// How this index finds the nearest vectors.
    pub fn dense_layout(&self) -> DenseLayout {
        if self.hnsw.is_some() {
            DenseLayout::Graph
        } else {
            DenseLayout::Flat
        }
    }

    /// Nearest passages by cosine, as (passage, cosine), best first: exact on a flat index,
    /// approximate through the HNSW graph otherwise. Scores use the float query against the
    /// int8 vectors.
    pub fn dense_search(&self, query: &[f32], k: usize) -> Result<Vec<(u32, f32)>, IndexError> {
        let Some(hnsw) = &self.hnsw else { return self.exact_search(query, k) };
        self.check_dim(query)?;
        let q = QVec::quantize(query);
        let mut search = Search::default();
        let found: Vec<(u32, f32)> = hnsw.map.search(&q, &mut search).map(|item| (*item.value, self.vectors[*item.value as usize].dot_f32(query))).collect();
        Ok(top_k(found, k))
    }

    /// Exact nearest passages by brute force over every vector; the reference for HNSW recall.
    pub fn exact_search(&self, query: &[f32], k: usize) -> Result<Vec<(u32, f32)>, IndexError> {
        self.check_dim(query)?;
        let scored = self.vectors.iter().enumerate().map(|(i, v)| (i as u32, v.dot_f32(query))).collect();
        Ok(top_k(scored, k))
    }

    /// The stored vector of passage `chunk`, e.g. to keep with an answer while the index changes.
    pub fn vector(&self, chunk: u32) -> Option<&vector::QVec> {
        self.vectors.get(chunk as usize)
    }

    /// Cosine between `query` and passage `chunk`.
    pub fn cosine(&self, chunk: u32, query: &[f32]) -> f32 {
        self.vectors.get(chunk as usize).map_or(0.0, |v| v.dot_f32(query))
    }

    /// BM25 keyword search over title, headings and text, as (passage, score), best first.
    pub fn bm25_search(&self, query: &str, k: usize) -> Vec<(u32, f32)> {
        self.bm25.search(query, k)
    }

    /// How informative a match on BM25 term `term` is (its inverse document frequency; 0 when
    /// no passage holds it), for weighting query words when picking sentences.
    pub fn term_weight(&self, term: &str) -> f32 {
        self.bm25.idf(term)
    }

    /// Whether some passage holds BM25 term `term` or one at most `edits` edits from it.
    pub fn has_term_near(&self, term: &str, edits: usize) -> bool {
        self.bm25.has_term_near(term, edits)
    }

    fn check_dim(&self, query: &[f32]) -> Result<(), IndexError> {
        if query.len() != self.info.dim {
            return Err(IndexError::Dimension { expected: self.info.dim, found: query.len() });
        }
        Ok(())
    }

    /// Serializes the index into its file format.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode().0
    }

    /// Bytes per part of the serialized index.
    pub fn size_report(&self) -> SizeReport {
        self.encode().1
    }

    fn encode(&self) -> (Vec<u8>, SizeReport) {
        let mut w = Writer::default();
        records::write_info(&mut w, &self.info);

        let start = w.bytes.len();
        let pages = records::Pages::of(&self.chunks);
        pages.write(&mut w);
        w.varint(self.chunks.len() as u64);
        pages.write_passages(&mut w, self.chunks.iter());
        let text = w.bytes.len() - start;

        let start = w.bytes.len();
        records::write_vectors(&mut w, self.info.dim, self.vectors.iter());
        let vectors = w.bytes.len() - start;

        let start = w.bytes.len();
        match &self.hnsw {
            None => w.varint(LAYOUT_FLAT),
            Some(hnsw) => {
                w.varint(LAYOUT_GRAPH);
                hnsw.graph.write(&mut w);
            }
        }
        let graph = w.bytes.len() - start;

        let start = w.bytes.len();
        let mut terms: Vec<(&String, &Vec<(u32, u32)>)> = self.bm25.postings.iter().collect();
        terms.sort_by(|a, b| a.0.cmp(b.0));
        w.varint(terms.len() as u64);
        for (term, list) in &terms {
            w.str(term);
            w.varint(list.len() as u64);
        }
        for (_, list) in &terms {
            let mut prev = 0;
            for &(doc, _) in list.iter() {
                w.varint((doc - prev) as u64);
                prev = doc;
            }
        }
        for (_, list) in &terms {
            for &(_, tf) in list.iter() {
                w.varint(tf as u64);
            }
        }
        let bm25 = w.bytes.len() - start;

        let bytes = frame(MAGIC, FORMAT_VERSION, &w.bytes);
        let report = SizeReport { chunks: self.chunks.len(), text, vectors, graph, bm25, total: bytes.len() };
        (bytes, report)
    }

    /// Reads an index file, checking magic, version, length and checksum before anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<Index, IndexError> {
        Self::decode(unframe(bytes, MAGIC, FORMAT_VERSION)?)
    }

    fn decode(body: &[u8]) -> Result<Index, IndexError> {
        let mut r = Reader::new(body);
        let info = records::read_info(&mut r)?;
        let pages = records::read_pages(&mut r)?;
        let n = r.count(4, "passage count")?;
        if n == 0 {
            return Err(IndexError::Corrupt("passage count"));
        }
        let chunks = records::read_passages(&mut r, &pages, n)?;
        let vectors = records::read_vectors(&mut r, info.dim, n)?;
        let graph = match r.varint("dense layout")? {
            LAYOUT_FLAT => None,
            LAYOUT_GRAPH => Some(Graph::read(&mut r, n)?),
            _ => return Err(IndexError::Corrupt("dense layout")),
        };
        let n_terms = r.count(3, "term count")?;
        let mut terms = Vec::with_capacity(n_terms);
        for _ in 0..n_terms {
            let term = r.str("term")?;
            if terms.last().is_some_and(|(last, _): &(String, usize)| *last >= term) {
                return Err(IndexError::Corrupt("term order"));
            }
            let df = r.count(2, "postings")?;
            if df == 0 {
                return Err(IndexError::Corrupt("postings"));
            }
            terms.push((term, df));
        }
        let mut postings = HashMap::with_capacity(n_terms);
        let mut docs = Vec::with_capacity(terms.len());
        for &(_, df) in &terms {
            let mut list = Vec::with_capacity(df);
            let mut doc = 0u64;
            for i in 0..df {
                let delta = r.varint("posting")?;
                if i > 0 && delta == 0 {
                    return Err(IndexError::Corrupt("posting"));
                }
                doc = doc.saturating_add(delta);
                if doc >= n as u64 {
                    return Err(IndexError::Corrupt("posting"));
                }
                list.push(doc as u32);
            }
            docs.push(list);
        }
        // A passage's length is its number of terms, so the sum of its term frequencies.
        let mut lengths = vec![0u32; n];
        for ((term, _), list) in terms.into_iter().zip(docs) {
            let mut with_tf = Vec::with_capacity(list.len());
            for doc in list {
                let tf = r.varint("term frequency")?;
                let tf = u32::try_from(tf).ok().filter(|&t| t > 0).ok_or(IndexError::Corrupt("term frequency"))?;
                lengths[doc as usize] = lengths[doc as usize].checked_add(tf).ok_or(IndexError::Corrupt("term frequency"))?;
                with_tf.push((doc, tf));
            }
            postings.insert(term, with_tf);
        }
        if !r.is_done() {
            return Err(IndexError::Corrupt("trailing bytes"));
        }
        let hnsw = match graph {
            None => None,
            Some(graph) => Some(Hnsw { map: graph.to_hnsw(&vectors)?, graph }),
        };
        Ok(Index { info, chunks, vectors, hnsw, bm25: Bm25 { postings, lengths } })
    }
}

/// The text BM25 indexes for a passage: title, headings and body, like BEIR's title + text.
fn searchable_text(c: &Chunk) -> String {
    format!("{} {} {}", c.title, c.headings.join(" "), c.text)
}

#[cfg(test)]
pub(crate) mod tests;
