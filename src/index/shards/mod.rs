//! The sharded index: the same passages, vectors and BM25 postings as an [`Index`] file, split
//! so a browser fetches only what one query needs. A small entry file holds the index's info,
//! the partition centroids, the codebook of the partitions' product-quantised codes, the first
//! term of every postings chunk and the first passage of every text fragment; a query then
//! reads the few dense partitions nearest its vector and the postings chunks of its terms,
//! then the int8 vectors of the passages its codes rank best (to re-score them) and of those
//! the fusion ranks near the cut (the same), and the text fragments of the results it shows.
//!
//! Every file has the index's frame (magic, version, length, CRC-32) and the build number of
//! its entry, so files of two builds are never mixed. Paths are relative to the entry:
//! [`ENTRY_FILE`], `vectors/N.bin`, `terms/N.bin`, `text/N.bin`, `exact/N.bin`.

mod codes;
mod partition;
mod read;
mod write;

pub use read::{ShardedIndex, Step, SETTLE, SETTLE_ROUNDS};
pub use write::write_shards;

/// The entry file's name inside a sharded index's folder.
pub const ENTRY_FILE: &str = "entry.bin";
/// The format version of every sharded index file (2: passages and vectors column by column;
/// 3: partitions hold product-quantised codes, the entry their codebook; 4: the int8 vectors
/// in files of their own, out of the text fragments).
pub const SHARDS_VERSION: u32 = 4;
const ENTRY_MAGIC: &[u8; 8] = b"WASMRAGE";
const PARTITION_MAGIC: &[u8; 8] = b"WASMRAGV";
const POSTINGS_MAGIC: &[u8; 8] = b"WASMRAGT";
const FRAGMENT_MAGIC: &[u8; 8] = b"WASMRAGX";
const EXACT_MAGIC: &[u8; 8] = b"WASMRAGQ";

/// How an index is split; every size is a target, not a hard limit (one passage or one term's
/// postings are never split).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ShardOptions {
    /// Mean passages per dense partition.
    pub partition_passages: usize,
    /// Bytes per passage in a partition's codes (the largest divisor of the vectors'
    /// dimension not above it): more scores closer to the exact cosine, fewer scans more
    /// passages per byte fetched.
    pub code_bytes: usize,
    /// Partitions a query reads by default (the nearest centroids).
    pub probe: usize,
    /// Best passages by their codes whose cosine is then taken from their int8 vectors
    /// before the dense ranking is fused: it undoes most of the codes' error where the
    /// ranking is decided, for the vectors' bytes.
    pub rerank: usize,
    /// Consecutive passages per file of int8 vectors: a passage re-scored costs the file
    /// that holds it, so few per file waste few bytes (and make many small files).
    pub exact_passages: usize,
    /// Encoded bytes per postings chunk.
    pub postings_bytes: usize,
    /// Postings kept per term: a term in more passages keeps those where it weighs most
    /// (its document frequency, and so its weight, stay exact).
    pub max_postings: usize,
    /// Text bytes per fragment.
    pub fragment_bytes: usize,
}

impl Default for ShardOptions {
    /// Chosen on the Rust mdBooks (17,442 passages) and the Rust Book questions: a first query
    /// reads a median 275 kB with hybrid recall@10 0.952 against the exact one-file search
    /// (probe 54: 243 kB, 0.946; 72: 301 kB, 0.957). Int8 vectors one passage per file: the
    /// passages re-scored cost 400 bytes each, not a 1.9 kB text fragment (two per file:
    /// 290 kB for the same recall, a third fewer files); re-scoring 60 rather than 40 gained
    /// nothing.
    /// Codes of 96 bytes re-scored at the top scan the most passages per byte (192-byte codes
    /// without re-scoring reach 0.912 at 302 kB, int8 vectors 0.887 at 303 kB; 64-byte codes
    /// at probe 84 and 48-byte ones at probe 100 give the same recall for the same bytes);
    /// fragments of 1 kB cut 43 kB per query against 4 kB; keeping 8,192 postings per term
    /// rather than 4,096 gains 0.005 for 5 kB, and pruning at 1,024 cost 0.09 recall
    /// (BENCHMARKS.md, "Sharded index").
    fn default() -> Self {
        ShardOptions {
            partition_passages: 32,
            code_bytes: 96,
            probe: 64,
            rerank: 40,
            exact_passages: 1,
            postings_bytes: 4096,
            max_postings: 8192,
            fragment_bytes: 1024,
        }
    }
}

/// The kind of a file of a sharded index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ShardKind {
    /// Product-quantised codes of one dense partition.
    Vectors,
    /// BM25 postings of one range of terms.
    Terms,
    /// Text, headings and links of a run of consecutive passages.
    Text,
    /// Int8 vectors of a run of consecutive passages, to re-score them exactly.
    Exact,
}

/// Every kind, in the order [`ShardedIndex::files`] lists them.
const KINDS: [ShardKind; 4] = [ShardKind::Vectors, ShardKind::Terms, ShardKind::Text, ShardKind::Exact];

impl ShardKind {
    fn folder(self) -> &'static str {
        match self {
            ShardKind::Vectors => "vectors",
            ShardKind::Terms => "terms",
            ShardKind::Exact => "exact",
            ShardKind::Text => "text",
        }
    }

    fn magic(self) -> &'static [u8; 8] {
        match self {
            ShardKind::Vectors => PARTITION_MAGIC,
            ShardKind::Terms => POSTINGS_MAGIC,
            ShardKind::Exact => EXACT_MAGIC,
            ShardKind::Text => FRAGMENT_MAGIC,
        }
    }
}

/// One file of a sharded index other than the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardFile {
    /// What it holds.
    pub kind: ShardKind,
    /// Its number among the files of its kind.
    pub number: u32,
}

impl ShardFile {
    /// Its path relative to the entry file, e.g. `vectors/12.bin`.
    pub fn path(&self) -> String {
        format!("{}/{}.bin", self.kind.folder(), self.number)
    }

    /// The file a path names, if it is one of the four kinds.
    pub fn parse(path: &str) -> Option<ShardFile> {
        let (folder, name) = path.split_once('/')?;
        let kind = KINDS.into_iter().find(|k| k.folder() == folder)?;
        let digits = name.strip_suffix(".bin")?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || (digits.len() > 1 && digits.starts_with('0')) {
            return None;
        }
        Some(ShardFile { kind, number: digits.parse().ok()? })
    }
}

#[cfg(test)]
mod tests;
