//! Searching a sharded index: the entry is read once; the caller then loads the files a query
//! needs ([`ShardedIndex::needed`]) however it fetches them (the file system natively,
//! `fetch()` in a browser) and searches what is loaded. Loaded files stay, so later queries
//! fetch less. Every file is checked (frame, build, number, every field) before it is kept.

use super::codes::Codebook;
use super::{ShardFile, ShardKind, ENTRY_MAGIC, KINDS, SHARDS_VERSION};
use crate::chunk::Chunk;
use crate::index::bm25::{idf_of, query_terms, term_score, top_k};
use crate::index::codec::{unframe, Reader};
use crate::index::records::{read_info, read_pages, read_passages, read_vectors};
use crate::index::vector::QVec;
use crate::index::{IndexError, IndexInfo};
use crate::retrieve::{fuse, Hit, RetrieveOptions};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Fused places past the top `k` whose dense scores a hybrid search makes exact before it
/// settles its order: the passages near the cut, where a code's error could swap two.
pub const SETTLE: usize = 10;

/// Fusions a hybrid search runs after its first to settle its order, each after making exact
/// the dense scores of the unsure passages the last one ranked near the top.
pub const SETTLE_ROUNDS: usize = 2;

/// A search's next step on a sharded index: its result, or the files to load before asking
/// again.
#[derive(Debug)]
pub enum Step<T> {
    /// The result, from loaded files only.
    Ready(T),
    /// Files to load first, none of them loaded yet.
    Needs(Vec<ShardFile>),
}

/// One term's postings: its document frequency in the whole index and the postings kept.
struct Postings {
    df: u32,
    /// (passage, term frequency, passage length), passages ascending.
    list: Vec<(u32, u32, u32)>,
}

/// One dense partition: its passages, ascending, and their codes, subspace by subspace.
struct Partition {
    ids: Vec<u32>,
    codes: Vec<u8>,
}

/// A sharded index: the entry, and the files loaded so far.
pub struct ShardedIndex {
    build: u32,
    info: IndexInfo,
    passages: usize,
    probe: usize,
    rerank: usize,
    exact_passages: usize,
    avg_length: f32,
    centroids: Vec<QVec>,
    codebook: Codebook,
    first_terms: Vec<String>,
    fragment_starts: Vec<u32>,
    partitions: HashMap<u32, Partition>,
    terms: HashMap<u32, HashMap<String, Postings>>,
    fragments: HashMap<u32, Vec<Chunk>>,
    exact: HashMap<u32, Vec<QVec>>,
    loaded_bytes: usize,
}

impl std::fmt::Debug for ShardedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedIndex").field("info", &self.info).field("passages", &self.passages).field("loaded_bytes", &self.loaded_bytes).finish()
    }
}

impl ShardedIndex {
    /// Reads the entry file, checking it whole; nothing else is loaded yet.
    pub fn open(entry: &[u8]) -> Result<ShardedIndex, IndexError> {
        let mut r = Reader::new(unframe(entry, ENTRY_MAGIC, SHARDS_VERSION)?);
        let build = u32::from_le_bytes(r.raw(4, "build")?.try_into().map_err(|_| IndexError::Corrupt("build"))?);
        let info = read_info(&mut r)?;
        let dim = info.dim;
        let passages = r.varint("passage count")?;
        if passages == 0 || passages > u64::from(u32::MAX) {
            return Err(IndexError::Corrupt("passage count"));
        }
        let probe = r.varint("probe")?.clamp(1, 1 << 16) as usize;
        let rerank = r.varint("rerank")?.min(1 << 16) as usize;
        // More than the passages would make one file of them all; the writer never writes that.
        let exact_passages = r.varint("passages per vectors file")?.min(passages);
        if exact_passages == 0 {
            return Err(IndexError::Corrupt("passages per vectors file"));
        }
        let avg_length = r.f32("average length")?;
        if !(avg_length.is_finite() && avg_length >= 1.0) {
            return Err(IndexError::Corrupt("average length"));
        }
        let n_partitions = r.count(4 + dim, "partition count")?;
        if n_partitions == 0 {
            return Err(IndexError::Corrupt("partition count"));
        }
        let centroids = read_vectors(&mut r, dim, n_partitions)?;
        let codebook = Codebook::read(&mut r, dim)?;
        let n_terms = r.count(1, "term chunk count")?;
        let first_terms: Vec<String> = (0..n_terms).map(|_| r.str("first term")).collect::<Result<_, _>>()?;
        if first_terms.windows(2).any(|w| w[0] >= w[1]) {
            return Err(IndexError::Corrupt("term chunk order"));
        }
        let n_fragments = r.count(1, "fragment count")?;
        let mut fragment_starts = Vec::with_capacity(n_fragments);
        let mut start = 0u64;
        for i in 0..n_fragments {
            let delta = r.varint("fragment start")?;
            if (i == 0) != (delta == 0) {
                return Err(IndexError::Corrupt("fragment start"));
            }
            start = start.saturating_add(delta);
            if start >= passages {
                return Err(IndexError::Corrupt("fragment start"));
            }
            fragment_starts.push(start as u32);
        }
        if fragment_starts.is_empty() || !r.is_done() {
            return Err(IndexError::Corrupt("entry"));
        }
        Ok(ShardedIndex {
            build,
            info,
            passages: passages as usize,
            probe,
            rerank,
            exact_passages: exact_passages as usize,
            avg_length,
            centroids,
            codebook,
            first_terms,
            fragment_starts,
            partitions: HashMap::new(),
            terms: HashMap::new(),
            fragments: HashMap::new(),
            exact: HashMap::new(),
            loaded_bytes: entry.len(),
        })
    }

    /// The build number every file of this index carries (a checksum of the whole index it
    /// was cut from): put in the files' URLs, it keeps caches from pairing two builds' files.
    pub fn build_id(&self) -> u32 {
        self.build
    }

    /// What the index was built with.
    pub fn info(&self) -> &IndexInfo {
        &self.info
    }

    /// Passages in the whole index.
    pub fn len(&self) -> usize {
        self.passages
    }

    /// Whether the index holds no passages (never true for an opened index).
    pub fn is_empty(&self) -> bool {
        self.passages == 0
    }

    /// Dense partitions a query reads (the entry's default until changed).
    pub fn probe(&self) -> usize {
        self.probe
    }

    /// Reads the `probe` nearest partitions per query from now on (at least 1): more is
    /// closer to the unsharded ranking and costs more bytes.
    pub fn set_probe(&mut self, probe: usize) {
        self.probe = probe.clamp(1, self.centroids.len());
    }

    /// Best passages by their codes re-scored with their exact vectors (the entry's default
    /// until changed).
    pub fn rerank(&self) -> usize {
        self.rerank
    }

    /// Re-scores the best `rerank` passages of the dense ranking with their int8 vectors from
    /// now on (0: the codes alone; a hybrid search still fetches its results' vectors, for
    /// their cosines): closer to the unsharded ranking, for the vectors' bytes.
    pub fn set_rerank(&mut self, rerank: usize) {
        self.rerank = rerank;
    }

    /// Bytes of every file read so far, the entry included.
    pub fn loaded_bytes(&self) -> usize {
        self.loaded_bytes
    }

    /// Every file of the index: the paths a bundle must hold beside the entry (an iterator:
    /// an entry's passage count, and so its vectors files, is not bounded by its own bytes).
    pub fn files(&self) -> impl Iterator<Item = ShardFile> + '_ {
        KINDS.into_iter().flat_map(move |kind| (0..self.files_of(kind) as u32).map(move |number| ShardFile { kind, number }))
    }

    fn is_loaded(&self, f: &ShardFile) -> bool {
        match f.kind {
            ShardKind::Vectors => self.partitions.contains_key(&f.number),
            ShardKind::Terms => self.terms.contains_key(&f.number),
            ShardKind::Text => self.fragments.contains_key(&f.number),
            ShardKind::Exact => self.exact.contains_key(&f.number),
        }
    }

    /// The postings chunk that would hold `term`, if any could.
    fn term_chunk(&self, term: &str) -> Option<u32> {
        let after = self.first_terms.partition_point(|t| t.as_str() <= term);
        (after > 0).then(|| after as u32 - 1)
    }

    /// The partitions nearest `vector`, nearest first.
    fn nearest_partitions(&self, vector: &[f32]) -> Vec<u32> {
        let scored = self.centroids.iter().enumerate().map(|(i, c)| (i as u32, c.dot_f32(vector))).collect();
        top_k(scored, self.probe).into_iter().map(|(p, _)| p).collect()
    }

    /// The files a search for `text` (and `vector`, for a hybrid search with `options`) needs
    /// next: postings chunks of its terms and the nearest partitions, then, once those are
    /// loaded, the int8 vectors of the passages to re-score. Those already loaded are left
    /// out; nothing means the search can run (or fails at once, as with a vector of the wrong
    /// dimension).
    pub fn needed(&self, text: &str, vector: Option<&[f32]>, options: &RetrieveOptions) -> Vec<ShardFile> {
        match vector.map(|v| self.hybrid(text, v, options)) {
            Some(Ok(Step::Needs(files))) => files,
            Some(_) => Vec::new(),
            None => self.needed_to_scan(text, None),
        }
    }

    /// The postings chunks of the query's terms and the partitions nearest `vector` that are
    /// not loaded yet.
    pub(crate) fn needed_to_scan(&self, text: &str, vector: Option<&[f32]>) -> Vec<ShardFile> {
        let mut files = BTreeSet::new();
        for term in query_terms(text) {
            if let Some(number) = self.term_chunk(&term) {
                files.insert(ShardFile { kind: ShardKind::Terms, number });
            }
        }
        if let Some(v) = vector.filter(|v| v.len() == self.info.dim) {
            files.extend(self.nearest_partitions(v).into_iter().map(|number| ShardFile { kind: ShardKind::Vectors, number }));
        }
        files.into_iter().filter(|f| !self.is_loaded(f)).collect()
    }

    /// The text fragments holding `passages` that are not loaded yet.
    pub fn needed_passages(&self, passages: &[u32]) -> Vec<ShardFile> {
        self.not_loaded(ShardKind::Text, passages.iter().filter_map(|&p| self.fragment_of(p)))
    }

    /// The files of int8 vectors holding `passages` that are not loaded yet.
    pub fn needed_vectors(&self, passages: &[u32]) -> Vec<ShardFile> {
        self.not_loaded(ShardKind::Exact, passages.iter().filter_map(|&p| self.exact_of(p)))
    }

    /// The files of `kind` numbered `numbers` that are not loaded yet, once each, in order.
    fn not_loaded(&self, kind: ShardKind, numbers: impl Iterator<Item = u32>) -> Vec<ShardFile> {
        let files: BTreeSet<ShardFile> = numbers.map(|number| ShardFile { kind, number }).collect();
        files.into_iter().filter(|f| !self.is_loaded(f)).collect()
    }

    fn exact_of(&self, passage: u32) -> Option<u32> {
        ((passage as usize) < self.passages).then(|| (passage as usize / self.exact_passages) as u32)
    }

    fn fragment_of(&self, passage: u32) -> Option<u32> {
        ((passage as usize) < self.passages).then(|| self.fragment_starts.partition_point(|&s| s <= passage) as u32 - 1)
    }

    /// Checks and keeps the file at `path` (relative to the entry). A file that fails any
    /// check is refused and nothing loaded before is touched.
    pub fn load(&mut self, path: &str, bytes: &[u8]) -> Result<(), IndexError> {
        let file = ShardFile::parse(path).filter(|f| self.files_of(f.kind) > f.number as usize).ok_or_else(|| IndexError::UnknownShard(path.to_string()))?;
        if self.is_loaded(&file) {
            return Ok(());
        }
        let mut r = Reader::new(unframe(bytes, file.kind.magic(), SHARDS_VERSION)?);
        let build = u32::from_le_bytes(r.raw(4, "build")?.try_into().map_err(|_| IndexError::Corrupt("build"))?);
        if build != self.build || r.varint("shard number")? != u64::from(file.number) {
            return Err(IndexError::ForeignShard(path.to_string()));
        }
        match file.kind {
            ShardKind::Vectors => {
                let vectors = self.read_partition(&mut r)?;
                self.partitions.insert(file.number, vectors);
            }
            ShardKind::Terms => {
                let terms = self.read_terms(&mut r)?;
                self.terms.insert(file.number, terms);
            }
            ShardKind::Text => {
                let passages = self.read_fragment(&mut r, file.number)?;
                self.fragments.insert(file.number, passages);
            }
            ShardKind::Exact => {
                let vectors = self.read_exact(&mut r, file.number)?;
                self.exact.insert(file.number, vectors);
            }
        }
        self.loaded_bytes += bytes.len();
        Ok(())
    }

    fn files_of(&self, kind: ShardKind) -> usize {
        match kind {
            ShardKind::Vectors => self.centroids.len(),
            ShardKind::Terms => self.first_terms.len(),
            ShardKind::Text => self.fragment_starts.len(),
            ShardKind::Exact => self.passages.div_ceil(self.exact_passages),
        }
    }

    fn read_partition(&self, r: &mut Reader) -> Result<Partition, IndexError> {
        let n = r.count(1 + self.codebook.subspaces(), "partition size")?;
        let mut ids = Vec::with_capacity(n);
        let mut id = 0u64;
        for i in 0..n {
            let delta = r.varint("passage id")?;
            if i > 0 && delta == 0 {
                return Err(IndexError::Corrupt("passage id"));
            }
            id = id.saturating_add(delta);
            if id >= self.passages as u64 {
                return Err(IndexError::Corrupt("passage id"));
            }
            ids.push(id as u32);
        }
        let columns = r.raw(n * self.codebook.subspaces(), "codes")?;
        self.codebook.check(columns)?;
        if !r.is_done() {
            return Err(IndexError::Corrupt("trailing bytes"));
        }
        let codes = (0..n).flat_map(|i| (0..self.codebook.subspaces()).map(move |s| columns[s * n + i])).collect();
        Ok(Partition { ids, codes })
    }

    fn read_terms(&self, r: &mut Reader) -> Result<HashMap<String, Postings>, IndexError> {
        let n = r.count(3, "term count")?;
        let mut terms = HashMap::with_capacity(n);
        for _ in 0..n {
            let term = r.str("term")?;
            let df = r.varint("document frequency")?;
            let kept = r.count(3, "postings")?;
            if df > self.passages as u64 || (kept as u64) > df {
                return Err(IndexError::Corrupt("document frequency"));
            }
            let mut list = Vec::with_capacity(kept);
            let mut doc = 0u64;
            for i in 0..kept {
                let delta = r.varint("posting")?;
                if i > 0 && delta == 0 {
                    return Err(IndexError::Corrupt("posting"));
                }
                doc = doc.saturating_add(delta);
                if doc >= self.passages as u64 {
                    return Err(IndexError::Corrupt("posting"));
                }
                let tf = u32::try_from(r.varint("term frequency")?).map_err(|_| IndexError::Corrupt("term frequency"))?;
                let len = u32::try_from(r.varint("passage length")?).map_err(|_| IndexError::Corrupt("passage length"))?;
                list.push((doc as u32, tf, len));
            }
            terms.insert(term, Postings { df: df as u32, list });
        }
        if !r.is_done() {
            return Err(IndexError::Corrupt("trailing bytes"));
        }
        Ok(terms)
    }

    fn read_fragment(&self, r: &mut Reader, number: u32) -> Result<Vec<Chunk>, IndexError> {
        let start = self.fragment_starts[number as usize];
        let end = self.fragment_starts.get(number as usize + 1).map_or(self.passages as u64, |&e| u64::from(e));
        if r.varint("fragment start")? != u64::from(start) || r.varint("fragment size")? != end - u64::from(start) {
            return Err(IndexError::Corrupt("fragment range"));
        }
        let pages = read_pages(r)?;
        let n = usize::try_from(end - u64::from(start)).map_err(|_| IndexError::Corrupt("fragment range"))?;
        let chunks = read_passages(r, &pages, n)?;
        if !r.is_done() {
            return Err(IndexError::Corrupt("trailing bytes"));
        }
        Ok(chunks)
    }

    fn read_exact(&self, r: &mut Reader, number: u32) -> Result<Vec<QVec>, IndexError> {
        let start = number as usize * self.exact_passages;
        let vectors = read_vectors(r, self.info.dim, self.exact_passages.min(self.passages - start))?;
        if !r.is_done() {
            return Err(IndexError::Corrupt("trailing bytes"));
        }
        Ok(vectors)
    }

    fn missing(&self, files: Vec<ShardFile>) -> Result<(), IndexError> {
        match files.first() {
            Some(f) => Err(IndexError::MissingShard(f.path())),
            None => Ok(()),
        }
    }

    /// BM25 over the loaded postings of the query's terms, as (passage, score), best first.
    /// Fails with [`IndexError::MissingShard`] if a needed chunk is not loaded.
    pub fn bm25_search(&self, query: &str, k: usize) -> Result<Vec<(u32, f32)>, IndexError> {
        self.missing(self.needed_to_scan(query, None))?;
        let n = self.passages as f32;
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for term in query_terms(query) {
            let Some(postings) = self.term_chunk(&term).and_then(|c| self.terms.get(&c)).and_then(|t| t.get(&term)) else { continue };
            let idf = idf_of(n, postings.df as f32);
            for &(doc, tf, len) in &postings.list {
                *scores.entry(doc).or_default() += term_score(idf, tf, len, self.avg_length);
            }
        }
        Ok(top_k(scores.into_iter().collect(), k))
    }

    /// Nearest passages among the `probe` partitions nearest `query`, best first: the best
    /// `rerank` by their codes with their exact (int8) cosines where their vectors are
    /// loaded, the rest with the cosines the codes give (within a few hundredths).
    pub fn dense_search(&self, query: &[f32], k: usize) -> Result<Vec<(u32, f32)>, IndexError> {
        let coded = self.coded_search(query, k.max(self.rerank))?;
        let best: HashSet<u32> = coded.iter().take(self.rerank).map(|c| c.0).collect();
        Ok(self.rescored(&coded, query, k, &best))
    }

    /// The `k` best of `coded` once the passages in `exact` carry their int8 cosines where
    /// their vectors are loaded.
    fn rescored(&self, coded: &[(u32, f32)], query: &[f32], k: usize, exact: &HashSet<u32>) -> Vec<(u32, f32)> {
        let scored = coded.iter().map(|&(id, score)| match exact.contains(&id).then(|| self.vector(id)) {
            Some(Ok(v)) => (id, v.dot_f32(query)),
            _ => (id, score),
        });
        top_k(scored.collect(), k)
    }

    /// The `k` best passages of the probed partitions by their codes alone.
    fn coded_search(&self, query: &[f32], k: usize) -> Result<Vec<(u32, f32)>, IndexError> {
        if query.len() != self.info.dim {
            return Err(IndexError::Dimension { expected: self.info.dim, found: query.len() });
        }
        let table = self.codebook.table(query);
        let m = self.codebook.subspaces();
        let mut scored = Vec::new();
        for p in self.nearest_partitions(query) {
            let partition = self.partitions.get(&p).ok_or_else(|| IndexError::MissingShard(ShardFile { kind: ShardKind::Vectors, number: p }.path()))?;
            let base = self.centroids[p as usize].dot_f32(query);
            scored.extend(partition.ids.iter().zip(partition.codes.chunks_exact(m)).map(|(&id, code)| (id, base + self.codebook.score(&table, code))));
        }
        Ok(top_k(scored, k))
    }

    /// Hybrid search, fused like [`crate::retrieve::retrieve`] on an unsharded index; fails
    /// with [`IndexError::MissingShard`] while [`ShardedIndex::needed`] names files. A hit's
    /// cosine is its int8 vector's for the passages re-scored, its code's estimate for the
    /// rest, and for a keyword-only hit its vector's if loaded (else 0).
    pub fn retrieve(&self, text: &str, vector: &[f32], options: &RetrieveOptions) -> Result<Vec<Hit>, IndexError> {
        match self.hybrid(text, vector, options)? {
            Step::Ready(hits) => Ok(hits),
            Step::Needs(files) => self.missing(files).map(|()| Vec::new()),
        }
    }

    /// A hybrid search as far as the loaded files take it. The codes rank the probed
    /// partitions' passages; the best `rerank` of them get their exact cosines, and in the
    /// same round those a fusion on the codes' estimates ranks within [`SETTLE`] places of the
    /// top `k` (most of what the settling would ask for, a round of fetches earlier); then, since
    /// the fused order near the cut still rests on the codes' estimates, passages the fusion
    /// ranks within [`SETTLE`] places of the top `k` get theirs too (and keyword-only ones
    /// theirs, which break ties), and it fuses again, up to [`SETTLE_ROUNDS`] times (never
    /// with `rerank` 0: the codes alone). What a step needs and how it ranks depend on the
    /// query alone, not on what earlier queries loaded, so a query ranks the same whatever
    /// came before it.
    pub fn hybrid(&self, text: &str, vector: &[f32], options: &RetrieveOptions) -> Result<Step<Vec<Hit>>, IndexError> {
        if vector.len() != self.info.dim {
            return Err(IndexError::Dimension { expected: self.info.dim, found: vector.len() });
        }
        if options.k == 0 {
            return Ok(Step::Ready(Vec::new()));
        }
        let scan = self.needed_to_scan(text, Some(vector));
        if !scan.is_empty() {
            return Ok(Step::Needs(scan));
        }
        let n = options.candidates.max(options.k);
        let coded = self.coded_search(vector, n.max(self.rerank))?;
        let mut exact: HashSet<u32> = coded.iter().take(self.rerank).map(|c| c.0).collect();
        let sparse = self.bm25_search(text, n)?;
        let wide = RetrieveOptions { k: options.k.saturating_add(SETTLE), ..options.clone() };
        if self.rerank > 0 {
            // What a fusion on the codes' estimates alone ranks near the top is re-scored in the
            // same round as the best by their codes: most of it the settling would ask for next.
            let guess = fuse(&coded[..n.min(coded.len())], &sparse, |_| 0.0, &wide);
            exact.extend(guess.iter().map(|h| h.chunk));
        }
        let mut round = 0;
        loop {
            let needs = self.needed_vectors(&exact.iter().copied().collect::<Vec<_>>());
            if !needs.is_empty() {
                return Ok(Step::Needs(needs));
            }
            let dense = self.rescored(&coded, vector, n, &exact);
            let known: HashMap<u32, f32> = dense.iter().copied().collect();
            // A keyword-only passage's cosine only breaks ties; it is taken once the passage
            // is in `exact`, so the order never depends on what else happens to be loaded.
            let cosine = |c: u32| match known.get(&c) {
                Some(&score) => score,
                None if exact.contains(&c) => self.cosine(c, vector),
                None => 0.0,
            };
            let mut fused = fuse(&dense, &sparse, cosine, &wide);
            let unsure: Vec<u32> = fused.iter().map(|h| h.chunk).filter(|c| !exact.contains(c)).collect();
            if unsure.is_empty() || round == SETTLE_ROUNDS || self.rerank == 0 {
                fused.truncate(options.k);
                for hit in fused.iter_mut().filter(|h| !known.contains_key(&h.chunk)) {
                    hit.cosine = self.cosine(hit.chunk, vector);
                }
                return Ok(Step::Ready(fused));
            }
            exact.extend(unsure);
            round += 1;
        }
    }

    /// Cosine between `query` and passage `id` from its loaded int8 vector, else 0.
    pub fn cosine(&self, id: u32, query: &[f32]) -> f32 {
        self.vector(id).map(|v| v.dot_f32(query)).unwrap_or(0.0)
    }

    /// The int8 vector of passage `id`, as in the one-file index, once its file is loaded
    /// ([`IndexError::MissingShard`] before).
    pub fn vector(&self, id: u32) -> Result<&QVec, IndexError> {
        let number = self.exact_of(id).ok_or(IndexError::Corrupt("passage id"))?;
        let run = self.exact.get(&number).ok_or_else(|| IndexError::MissingShard(ShardFile { kind: ShardKind::Exact, number }.path()))?;
        Ok(&run[id as usize - number as usize * self.exact_passages])
    }

    /// Passage `id`, once its text fragment is loaded ([`IndexError::MissingShard`] before).
    pub fn passage(&self, id: u32) -> Result<&Chunk, IndexError> {
        let number = self.fragment_of(id).ok_or(IndexError::Corrupt("passage id"))?;
        let fragment = self.fragments.get(&number).ok_or_else(|| IndexError::MissingShard(ShardFile { kind: ShardKind::Text, number }.path()))?;
        Ok(&fragment[(id - self.fragment_starts[number as usize]) as usize])
    }

    /// How informative a match on BM25 term `term` is (as [`crate::Index::term_weight`]), if
    /// its postings chunk is loaded; 0 otherwise.
    pub fn term_weight(&self, term: &str) -> f32 {
        self.term_chunk(term).and_then(|c| self.terms.get(&c)).and_then(|t| t.get(term)).map_or(0.0, |p| idf_of(self.passages as f32, p.df as f32))
    }
}
