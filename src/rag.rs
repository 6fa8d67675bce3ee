//! The RAG pipeline: build an index from documents, search it, and answer questions from it
//! with cited sources, or say the documents do not contain the answer when retrieval is weak.
//! Everything takes bytes, not paths, so the browser layer wraps it unchanged.

use crate::chunk::{chunk_document, Chunk, ChunkError, ChunkOptions, Document};
use crate::embed::{EmbedError, Embedder, EmbeddingCache, Recent};
use crate::extract::{self, sentences::sentences, Candidate, Extract, ExtractOptions};
use crate::generate::{GenerateError, GenerateOptions, Generation, Generator, StopReason};
use crate::ground::{GroundedStream, Grounding};
use crate::index::{vector::QVec, Index, IndexError, IndexInfo};
use crate::prompt;
use crate::retrieve::{retrieve, snippet, Hit, RetrieveOptions, Snippet};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use thiserror::Error;

/// The answer given when retrieval finds nothing relevant enough.
pub const NOT_FOUND: &str = "The documents do not contain an answer to this question.";

/// Cosine (query vs best passage) under which `ask` answers [`NOT_FOUND`] without generating:
/// a floor for questions far from every page (the extract score below does the calibrated work).
pub const DEFAULT_MIN_COSINE: f32 = 0.30;

/// Extract score (see [`extract::Weights`]) under which `ask` answers [`NOT_FOUND`]: no
/// sentence of the passages answers the question well enough. Calibrated on cmu-qa-dev with
/// `wasmrag eval --answers --sweep` to answer at least 95% of the answerable questions of the
/// tuning half (questions about articles left out of the index are the off-topic ones; see
/// BENCHMARKS.md for both error kinds).
pub const DEFAULT_MIN_EXTRACT: f32 = 0.96;

/// Cosine (answer sentence vs source passage) from which a sentence is attributed to a source.
pub const ATTRIBUTION_MIN_COSINE: f32 = 0.5;

/// Characters in a search result's snippet.
const SNIPPET_CHARS: usize = 240;
/// Sentences dropped by the grounding check, with none shown, after which an answer stops
/// generating and falls back to the extract. Without it the demo's first answer ran to its
/// 256-token limit (about 15 s in Chromium) only to show the extract. One rather than two
/// (2026-12-07): the answers a second sentence rescued held a gold answer less often than the
/// extract does, so giving up at once raised the answers' gold rate (cmu-qa-dev 200: 0.535 →
/// 0.55; Rust Book: 0.530 → 0.553) and cut the median time to the first text by a fifth, while
/// falling back more often (0.39 → 0.465; 0.447 → 0.568).
const GIVE_UP_AFTER: usize = 1;

/// Why a pipeline call failed; wraps the failing stage's error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RagError {
    /// The index could not be built, read or searched.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The embedder failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// The generator failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// The query or question is empty.
    #[error("the query is empty")]
    EmptyQuery,
    /// `ask` was called with no generator loaded.
    #[error("no generator model is loaded; load one before asking questions")]
    NoGenerator,
    /// The index was built by another embedding model than the one loaded.
    #[error("the index was built with embedder {index} but the loaded embedder is {loaded}; load the same model or rebuild the index")]
    EmbedderMismatch {
        /// Fingerprint stored in the index.
        index: String,
        /// Fingerprint of the loaded embedder.
        loaded: String,
    },
    /// No document produced any passage.
    #[error("nothing to index: {0} document(s) given, none produced text (skipped: {1})")]
    NothingIndexed(usize, usize),
}

impl RagError {
    /// A stable, machine-readable name for this error (the failing stage's code where it
    /// wraps one), the `code` JavaScript callers see.
    pub fn code(&self) -> &'static str {
        match self {
            RagError::Index(e) => e.code(),
            RagError::Embed(e) => e.code(),
            RagError::Generate(e) => e.code(),
            RagError::EmptyQuery => "empty_query",
            RagError::NoGenerator => "no_generator",
            RagError::EmbedderMismatch { .. } => "model_mismatch",
            RagError::NothingIndexed(..) => "nothing_indexed",
        }
    }
}

/// A search result ready to show: where it is, what it says, and why it ranked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchHit {
    /// `url#anchor` of the passage.
    pub url: String,
    /// Page title.
    pub title: String,
    /// Headings above the passage.
    pub headings: Vec<String>,
    /// Full passage text.
    pub text: String,
    /// Excerpt with the matched words' ranges.
    pub snippet: Snippet,
    /// Fused retrieval score.
    pub score: f32,
    /// Cosine between query and passage (0 for keyword results, which have no embedding).
    pub cosine: f32,
    /// Position of the passage in the index.
    pub chunk: u32,
    /// How the passage was found.
    pub retrieval: Retrieval,
}

/// How a search ranked its results: by keywords alone (before the embedder is loaded), or
/// hybrid (embedding cosine fused with keywords).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Retrieval {
    /// BM25 over titles, headings and text only.
    Keyword,
    /// Embedding search fused with BM25.
    Hybrid,
}

/// The `k` passages of `index` that best match `query` by keywords (BM25) alone: what a page
/// can show as soon as the index is loaded, before any model is downloaded.
pub fn keyword_search(index: &Index, query: &str, k: usize) -> Result<Vec<SearchHit>, RagError> {
    if query.trim().is_empty() {
        return Err(RagError::EmptyQuery);
    }
    Ok(index
        .bm25_search(query, k)
        .into_iter()
        .map(|(chunk, score)| hit(index, &Hit { chunk, score, cosine: 0.0, bm25: Some(score) }, query, Retrieval::Keyword))
        .collect())
}

/// A retrieval hit as a result to show, its text copied and its snippet cut for `query`.
fn hit(index: &Index, h: &Hit, query: &str, retrieval: Retrieval) -> SearchHit {
    search_hit(&index.chunks()[h.chunk as usize], h, query, retrieval)
}

/// Passage `c`, ranked as `h` says, as a result to show for `query`.
pub(crate) fn search_hit(c: &Chunk, h: &Hit, query: &str, retrieval: Retrieval) -> SearchHit {
    SearchHit {
        url: c.link(),
        title: c.title.clone(),
        headings: c.headings.clone(),
        text: c.text.clone(),
        snippet: snippet(&c.text, query, SNIPPET_CHARS),
        score: h.score,
        cosine: h.cosine,
        chunk: h.chunk,
        retrieval,
    }
}

/// Search results with the extractive answer drawn from them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResults {
    /// The passages, best first; when the extract comes from a passage ranked below `k`, that
    /// passage is added last so the extract's `source` always names a hit.
    pub hits: Vec<SearchHit>,
    /// The sentence that best answers the query, if any passage has a prose sentence.
    pub extract: Option<Extract>,
}

/// A source shown with an answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    /// Its number in the prompt, as cited (`[n]`).
    pub n: usize,
    /// `url#anchor`.
    pub url: String,
    /// Page title.
    pub title: String,
    /// Headings above the passage.
    pub headings: Vec<String>,
    /// Retrieval score.
    pub score: f32,
    /// The passage text.
    pub text: String,
    /// Whether the answer cites it.
    pub cited: bool,
}

/// An answer with the sources it was grounded on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    /// The generated answer, or [`NOT_FOUND`].
    pub answer: String,
    /// Sources given to the model (or, when nothing was found, the nearest passages).
    pub sources: Vec<Source>,
    /// False when retrieval was too weak and no answer was generated.
    pub found: bool,
    /// Prompt length in tokens (0 when nothing was generated).
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Sentences of the answer linked to the source each most resembles.
    pub citations: Vec<Citation>,
    /// The sentence of the sources that best answers the question (its `source` numbers
    /// [`Answer::sources`]); shown before generation and used when generation is not grounded.
    pub extract: Option<Extract>,
    /// What the grounding check did to the generated answer.
    pub grounding: Grounding,
    /// Why generation ended, if it ran.
    #[serde(skip)]
    pub stop: Option<StopReason>,
}

/// A sentence of the answer linked to the source passage it most resembles. Small models
/// rarely write `[n]` themselves, so citations are attributed after generation by comparing
/// each sentence's embedding with the sources' (cosine at least [`ATTRIBUTION_MIN_COSINE`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    /// Start of the sentence in the answer (byte offset).
    pub start: usize,
    /// End of the sentence in the answer (byte offset, exclusive).
    pub end: usize,
    /// The number of the source.
    pub source: usize,
    /// Cosine between the sentence and the source passage.
    pub cosine: f32,
}

/// Settings for [`Rag::ask`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AskOptions {
    /// Most passages the evidence is drawn from (fewer if they do not fit).
    pub sources: usize,
    /// Most evidence sentences in the prompt (each quoted as the extract is). One by default:
    /// the extract's sentence. On 200 cmu-qa-dev questions the generated answer held a gold
    /// answer for 0.535 of them from that sentence alone, and for 0.415 from the best four
    /// with the sentences around them, which the model often copied instead (BENCHMARKS.md);
    /// the prompt is also half as long, so the first token comes sooner.
    pub evidence: usize,
    /// Below this best-passage cosine the answer is [`NOT_FOUND`].
    pub min_cosine: f32,
    /// Below this extract score the answer is [`NOT_FOUND`].
    pub min_extract: f32,
    /// Whether a question naming something no passage mentions (a capitalised word after its
    /// first, see [`extract::unknown_name`]) is [`NOT_FOUND`]: the documents are not about it.
    pub decline_unknown_names: bool,
    /// Most tokens of prompt; the rest of the context is left for the answer.
    pub prompt_tokens: usize,
    /// Least share of an answer sentence's words found in the sources or the question for it
    /// to be shown (see [`crate::ground::Checker::support`]).
    pub min_support: f32,
    /// How the extract and the evidence are chosen.
    pub extract: ExtractOptions,
    /// Retrieval settings (its `k` is replaced by `sources`).
    pub retrieve: RetrieveOptions,
    /// Sampling, length and cancellation.
    pub generate: GenerateOptions,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            sources: 3,
            evidence: 1,
            min_cosine: DEFAULT_MIN_COSINE,
            min_extract: DEFAULT_MIN_EXTRACT,
            decline_unknown_names: true,
            prompt_tokens: 300,
            min_support: crate::ground::DEFAULT_MIN_SUPPORT,
            extract: ExtractOptions::default(),
            retrieve: RetrieveOptions::default(),
            generate: GenerateOptions::default(),
        }
    }
}

/// What happened while building an index, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Documents were split: how many passages came out.
    Chunked {
        /// Passages made.
        chunks: usize,
    },
    /// Passages embedded so far out of the total.
    Embedded {
        /// Done.
        done: usize,
        /// Total.
        total: usize,
    },
    /// Building the BM25 postings and, for a large index, the HNSW graph.
    Indexing,
}

/// The outcome of indexing documents: the index and the documents that were skipped.
#[derive(Debug)]
pub struct Built {
    /// The new index.
    pub index: Index,
    /// Documents that could not be read, with why.
    pub skipped: Vec<ChunkError>,
}

/// Passages made from documents, their vectors, and the documents that were skipped.
struct Embedded {
    chunks: Vec<crate::chunk::Chunk>,
    vectors: Vec<Vec<f32>>,
    skipped: Vec<ChunkError>,
}

/// Splits and embeds documents into passages with their vectors; unreadable documents are
/// reported, not fatal.
/// Passages of `docs` and the texts to embed for them; documents that fail are kept in
/// `skipped`.
fn chunk_documents(
    docs: &[Document],
    embedder: &Embedder,
    options: &ChunkOptions,
    progress: &mut dyn FnMut(Progress),
) -> (Vec<crate::chunk::Chunk>, Vec<String>, Vec<ChunkError>) {
    let count = |t: &str| embedder.count_tokens(t);
    let mut chunks = Vec::new();
    let mut skipped = Vec::new();
    for doc in docs {
        match chunk_document(doc, options, &count) {
            Ok(c) => chunks.extend(c),
            Err(e) => skipped.push(e),
        }
    }
    progress(Progress::Chunked { chunks: chunks.len() });
    let texts = chunks.iter().map(|c| c.embedding_text()).collect();
    (chunks, texts, skipped)
}

fn embed_documents(docs: &[Document], embedder: &Embedder, options: &ChunkOptions, progress: &mut dyn FnMut(Progress)) -> Result<Embedded, RagError> {
    let (chunks, texts, skipped) = chunk_documents(docs, embedder, options, progress);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let total = refs.len();
    let vectors = embedder.embed_with_progress(&refs, &mut |done| progress(Progress::Embedded { done, total }))?;
    Ok(Embedded { chunks, vectors, skipped })
}

/// Builds an index over `docs`; fails only when no document yields any passage.
pub fn build_index(docs: &[Document], embedder: &Embedder, options: &ChunkOptions, progress: &mut dyn FnMut(Progress)) -> Result<Built, RagError> {
    build_index_cached(docs, embedder, options, &mut EmbeddingCache::new(embedder.fingerprint(), embedder.dim()), progress)
}

/// Like [`build_index`], taking the vectors of passages embedded before from `cache` and
/// embedding only the others (then added to it): a rebuild after editing one page embeds that
/// page's passages alone. Save the cache with [`EmbeddingCache::to_bytes`] afterwards.
pub fn build_index_cached(
    docs: &[Document],
    embedder: &Embedder,
    options: &ChunkOptions,
    cache: &mut EmbeddingCache,
    progress: &mut dyn FnMut(Progress),
) -> Result<Built, RagError> {
    let (chunks, texts, skipped) = chunk_documents(docs, embedder, options, progress);
    let mut vectors: Vec<Option<Vec<f32>>> = texts.iter().map(|t| cache.get(t)).collect();
    let missing: Vec<usize> = (0..texts.len()).filter(|&i| vectors[i].is_none()).collect();
    let (total, cached) = (texts.len(), texts.len() - missing.len());
    let refs: Vec<&str> = missing.iter().map(|&i| texts[i].as_str()).collect();
    progress(Progress::Embedded { done: cached, total });
    let fresh = embedder.embed_with_progress(&refs, &mut |done| progress(Progress::Embedded { done: cached + done, total }))?;
    for (&i, v) in missing.iter().zip(fresh) {
        cache.insert(&texts[i], v.clone());
        vectors[i] = Some(v);
    }
    cache.hits += cached;
    cache.misses += missing.len();
    let vectors = vectors.into_iter().map(Option::unwrap_or_default).collect();
    finish_index(docs, embedder, options, Embedded { chunks, vectors, skipped }, progress)
}

/// Embeds share `part` (0-based) of `parts` of the passages of `docs` into `cache`, taking
/// what it already holds: one machine's job in a build split across machines (passages are
/// assigned by [`EmbeddingCache::in_part`]). Merge the parts with [`EmbeddingCache::absorb`] and
/// build with [`build_index_cached`], which then embeds nothing. Returns the share's size.
pub fn embed_part(
    docs: &[Document],
    embedder: &Embedder,
    options: &ChunkOptions,
    part: usize,
    parts: usize,
    cache: &mut EmbeddingCache,
    progress: &mut dyn FnMut(Progress),
) -> Result<usize, RagError> {
    let (_, texts, _) = chunk_documents(docs, embedder, options, progress);
    let mine: Vec<&str> = texts.iter().map(String::as_str).filter(|t| EmbeddingCache::in_part(t, part, parts)).collect();
    let missing: Vec<&str> = mine.iter().copied().filter(|t| cache.get(t).is_none()).collect();
    let fresh = embedder.embed_with_progress(&missing, &mut |done| progress(Progress::Embedded { done, total: missing.len() }))?;
    for (t, v) in missing.iter().zip(fresh) {
        cache.insert(t, v);
    }
    cache.hits += mine.len() - missing.len();
    cache.misses += missing.len();
    Ok(mine.len())
}

/// Like [`build_index`], embedding on the embedder's GPU engine when one is attached
/// ([`Embedder::embed_async`]): the bulk-indexing path in a browser with a real GPU.
pub async fn build_index_async(
    docs: &[Document],
    embedder: &mut Embedder,
    options: &ChunkOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Built, RagError> {
    let (chunks, texts, skipped) = chunk_documents(docs, embedder, options, progress);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = embedder.embed_async(&refs).await?;
    progress(Progress::Embedded { done: refs.len(), total: refs.len() });
    finish_index(docs, embedder, options, Embedded { chunks, vectors, skipped }, progress)
}

fn finish_index(
    docs: &[Document],
    embedder: &Embedder,
    options: &ChunkOptions,
    embedded: Embedded,
    progress: &mut dyn FnMut(Progress),
) -> Result<Built, RagError> {
    let Embedded { chunks, vectors, skipped } = embedded;
    if chunks.is_empty() {
        return Err(RagError::NothingIndexed(docs.len(), skipped.len()));
    }
    progress(Progress::Indexing);
    let info = IndexInfo { embedder: embedder.fingerprint().to_string(), dim: embedder.dim(), chunking: options.clone() };
    let index = Index::build(info, chunks, &vectors)?;
    Ok(Built { index, skipped })
}

/// A loaded index with its embedder and, once needed, a generator.
pub struct Rag {
    index: Index,
    embedder: Embedder,
    /// Shared with the answers in progress, each of which owns its own decoder.
    generator: Option<Arc<Generator>>,
    /// Recent queries and candidate sentences, embedded once for a search and its answer.
    recent: Recent,
}

/// Fails with [`RagError::EmbedderMismatch`] unless `embedder` is the model the index with
/// `info` was built with: vectors of another model would rank by noise.
pub(crate) fn check_embedder(info: &IndexInfo, embedder: &Embedder) -> Result<(), RagError> {
    if info.embedder != embedder.fingerprint() || info.dim != embedder.dim() {
        return Err(RagError::EmbedderMismatch {
            index: format!("{} ({} dims)", info.embedder, info.dim),
            loaded: format!("{} ({} dims)", embedder.fingerprint(), embedder.dim()),
        });
    }
    Ok(())
}

impl Rag {
    /// Pairs an index with the embedder it was built with.
    pub fn new(index: Index, embedder: Embedder) -> Result<Rag, RagError> {
        check_embedder(index.info(), &embedder)?;
        Ok(Rag { index, embedder, generator: None, recent: Recent::default() })
    }

    /// Adds the generator that `ask` needs; search never needs it. Answers already under way
    /// finish on the generator they started with. The prompts' shared opening
    /// ([`prompt::opening`]) is read here, once (about 60 tokens of prefill), and kept for
    /// every answer.
    // On wasm32 the WebGPU decoder makes the generator neither `Send` nor `Sync`; there is one
    // thread there, and natively, where threads exist, the generator is both.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub fn set_generator(&mut self, mut generator: Generator) -> Result<(), RagError> {
        generator.set_opening(&prompt::opening())?;
        self.generator = Some(Arc::new(generator));
        Ok(())
    }

    /// Whether a generator is loaded.
    pub fn has_generator(&self) -> bool {
        self.generator.is_some()
    }

    /// The index being searched.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The embedder.
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// Adds documents (replacing earlier versions of the same URLs) and returns what was
    /// skipped; on error the index is unchanged.
    pub fn add_documents(&mut self, docs: &[Document]) -> Result<Vec<ChunkError>, RagError> {
        let options = self.index.info().chunking.clone();
        let Embedded { chunks, vectors, skipped } = embed_documents(docs, &self.embedder, &options, &mut |_| {})?;
        let urls: Vec<&str> = docs.iter().map(|d| d.url.as_str()).collect();
        self.index = self.index.with_changes(&urls, chunks, &vectors)?;
        Ok(skipped)
    }

    /// Removes every passage of the given pages; on error (e.g. nothing would remain) the
    /// index is unchanged.
    pub fn remove_documents(&mut self, urls: &[&str]) -> Result<(), RagError> {
        self.index = self.index.with_changes(urls, vec![], &[])?;
        Ok(())
    }

    /// Embeds `query` and retrieves with the given options; an empty query is an error.
    fn retrieve(&self, query: &str, options: &RetrieveOptions) -> Result<Vec<crate::retrieve::Hit>, RagError> {
        if query.trim().is_empty() {
            return Err(RagError::EmptyQuery);
        }
        let vector = self.embed_short(&[query])?.remove(0);
        Ok(retrieve(&self.index, query, &vector, options)?)
    }

    /// The `k` passages that best match `query`, best first.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<SearchHit>, RagError> {
        self.search_with(query, &RetrieveOptions { k, ..RetrieveOptions::default() })
    }

    /// [`Rag::search`] with full retrieval options.
    pub fn search_with(&self, query: &str, options: &RetrieveOptions) -> Result<Vec<SearchHit>, RagError> {
        let hits = self.retrieve(query, options)?;
        Ok(hits.iter().map(|h| self.hit(h, query)).collect())
    }

    fn hit(&self, h: &Hit, query: &str) -> SearchHit {
        hit(&self.index, h, query, Retrieval::Hybrid)
    }

    /// The `k` best passages for `query` and the sentence among the top
    /// [`ExtractOptions::passages`] that best answers it: what a search-only page shows.
    pub fn search_extract(&self, query: &str, k: usize, options: &ExtractOptions) -> Result<SearchResults, RagError> {
        let (hits, candidates) = self.candidates(query, k.max(options.passages), options, &RetrieveOptions::default())?;
        let mut extract = extract::best(&self.index, &candidates, &options.weights);
        let mut shown: Vec<SearchHit> = hits.iter().take(k).map(|h| self.hit(h, query)).collect();
        if let Some(e) = &mut extract {
            if e.source > k {
                shown.push(self.hit(&hits[e.source - 1], query));
                e.source = shown.len();
            }
        }
        Ok(SearchResults { hits: shown, extract })
    }

    /// Retrieves `k` passages for `question` and scores their sentences as answers (see
    /// [`extract::candidates`]); the parts of [`Rag::search_extract`] and [`Rag::ask`], public
    /// so evaluations can tune the weights without embedding twice.
    pub fn candidates(&self, question: &str, k: usize, options: &ExtractOptions, retrieval: &RetrieveOptions) -> Result<(Vec<Hit>, Vec<Candidate>), RagError> {
        if question.trim().is_empty() {
            return Err(RagError::EmptyQuery);
        }
        let vector = self.embed_short(&[question])?.remove(0);
        let hits = retrieve(&self.index, question, &vector, &RetrieveOptions { k, ..retrieval.clone() })?;
        let candidates = extract::candidates(&self.index, &|texts| self.embed_short(texts), question, &vector, &hits, options)?;
        Ok((hits, candidates))
    }

    /// Embeds queries and sentences, reusing the vectors of those embedded recently: a search
    /// and then an answer to the same question embed it and its candidate sentences once.
    fn embed_short(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.recent.embed(&self.embedder, texts)
    }

    /// Retrieves passages for `question`, ranks their sentences best first, and says whether
    /// they are relevant enough to answer from: some passage has cosine at least
    /// `options.min_cosine`, the best sentence scores at least `options.min_extract`, and no
    /// name in the question is unknown to the index (unless `options.decline_unknown_names` is off).
    fn gather(&self, question: &str, options: &AskOptions) -> Result<(Vec<Hit>, Vec<Candidate>, bool), RagError> {
        let passages = options.extract.passages.max(options.sources).max(1);
        let (hits, mut candidates) = self.candidates(question, passages, &options.extract, &options.retrieve)?;
        let weights = &options.extract.weights;
        extract::rank(&mut candidates, weights);
        let best_cosine = hits.iter().map(|h| h.cosine).fold(f32::MIN, f32::max);
        let best_extract = candidates.first().map_or(f32::MIN, |c| c.score(weights));
        let named = !options.decline_unknown_names || extract::unknown_name(&self.index, question).is_none();
        let relevant = !hits.is_empty() && best_cosine >= options.min_cosine && best_extract >= options.min_extract && named;
        Ok((hits, candidates, relevant))
    }

    /// Whether [`Rag::ask`] would answer `question` rather than say [`NOT_FOUND`] (the
    /// generator aside: a prompt too small for any evidence also gives not found). Needs no
    /// generator, so search-only pages and evaluations can use the same gate.
    pub fn would_answer(&self, question: &str, options: &AskOptions) -> Result<bool, RagError> {
        Ok(self.gather(question, options)?.2)
    }

    /// Answers `question` from the documents, streaming the answer through `on_token`.
    pub fn ask(&self, question: &str, options: &AskOptions, on_token: &mut dyn FnMut(&str)) -> Result<Answer, RagError> {
        let mut pending = self.begin_ask(question, options)?;
        while let Some(piece) = pending.step()? {
            on_token(&piece);
        }
        self.finish(pending)
    }

    /// Retrieves passages for `question`, picks the extract and the evidence and, when they
    /// are relevant enough, starts generating from the evidence; then call
    /// [`PendingAnswer::step`] until it returns `None` and [`Rag::finish`]. Split up this way so
    /// a browser can stream tokens and react to a cancel between them. The answer owns copies
    /// of its sources and its own decoder, so neither index changes nor searches meanwhile can
    /// alter it, and stepping it needs no access to the `Rag`.
    pub fn begin_ask(&self, question: &str, options: &AskOptions) -> Result<PendingAnswer, RagError> {
        let generator = self.generator.clone().ok_or(RagError::NoGenerator)?;
        let (hits, candidates, relevant) = self.gather(question, options)?;
        let weights = &options.extract.weights;
        if !relevant {
            let nearest = hits.iter().take(options.sources.max(1)).map(|h| (h.chunk, h.score)).collect::<Vec<_>>();
            return Ok(PendingAnswer::not_found(self.sources(&nearest)));
        }
        let evidence = extract::evidence(&self.index, &candidates, weights, options.evidence, options.sources.max(1));
        let blocks: Vec<prompt::Block> = evidence
            .iter()
            .map(|e| {
                let c = &self.index.chunks()[e.chunk as usize];
                prompt::Block { context: crate::chunk::context_line(&c.title, &c.headings), text: e.text(&c.text) }
            })
            .collect();
        let budget = options.prompt_tokens.min(generator.context_length().saturating_sub(options.generate.max_tokens));
        let prompt = prompt::build(question, &blocks, budget, &|t| generator.count_tokens(t));
        if prompt.sources == 0 {
            let nearest = hits.iter().take(options.sources.max(1)).map(|h| (h.chunk, h.score)).collect::<Vec<_>>();
            return Ok(PendingAnswer::not_found(self.sources(&nearest)));
        }
        let copy: Vec<&str> = blocks.iter().take(prompt.sources).map(|b| b.text.as_str()).collect();
        let generation = generator.start_with_sources(&prompt.text, &copy, &options.generate)?;
        let used: Vec<(u32, f32)> = evidence.iter().take(prompt.sources).map(|e| (e.chunk, hits[e.rank].score)).collect();
        let sources = self.sources(&used);
        // The extract is the best candidate, so its passage is source 1 unless it was cut.
        let top = candidates.first().map(|c| c.chunk);
        let extract = extract::best(&self.index, candidates.get(..1).unwrap_or(&[]), weights).and_then(|mut e| {
            e.source = used.iter().position(|&(c, _)| Some(c) == top)? + 1;
            Some(e)
        });
        let mut texts: Vec<&str> = Vec::new();
        for &(chunk, _) in &used {
            let c = &self.index.chunks()[chunk as usize];
            texts.extend([c.text.as_str(), c.title.as_str()]);
            texts.extend(c.headings.iter().map(String::as_str));
        }
        let contexts: Vec<&str> = blocks.iter().take(prompt.sources).map(|b| b.context.as_str()).collect();
        let stream = GroundedStream::new(&texts, question, sources.len(), options.min_support).with_contexts(&contexts);
        Ok(PendingAnswer {
            sources,
            vectors: used.iter().filter_map(|&(c, _)| self.index.vector(c).cloned()).collect(),
            generation: Some((generator, generation)),
            notice_sent: false,
            extract,
            stream,
            shown: String::new(),
            closed: false,
        })
    }

    /// The passages `(chunk, score)` as numbered sources, texts copied.
    fn sources(&self, passages: &[(u32, f32)]) -> Vec<Source> {
        passages
            .iter()
            .enumerate()
            .map(|(i, &(chunk, score))| {
                let c = &self.index.chunks()[chunk as usize];
                Source { n: i + 1, url: c.link(), title: c.title.clone(), headings: c.headings.clone(), score, text: c.text.clone(), cited: false }
            })
            .collect()
    }

    /// The loaded generator.
    pub fn generator(&self) -> Option<&Generator> {
        self.generator.as_deref()
    }

    /// The finished answer with its sources, those the answer cites marked. The answer is
    /// what passed the grounding check, or the extract when nothing did.
    pub fn finish(&self, pending: PendingAnswer) -> Result<Answer, RagError> {
        let PendingAnswer { mut sources, vectors, generation, extract, mut stream, shown, .. } = pending;
        let Some((_, generation)) = generation else {
            return Ok(Answer {
                answer: NOT_FOUND.to_string(),
                sources,
                found: false,
                prompt_tokens: 0,
                generated_tokens: 0,
                citations: vec![],
                extract: None,
                grounding: Grounding::default(),
                stop: None,
            });
        };
        let answer = shown.trim().to_string();
        let found = !answer.is_empty();
        let answer = if found { answer } else { NOT_FOUND.to_string() };
        let written = prompt::citations(&answer, sources.len());
        let citations = if found { self.attribute(&answer, &vectors)? } else { vec![] };
        for s in &mut sources {
            s.cited = written.contains(&s.n) || citations.iter().any(|c| c.source == s.n);
        }
        Ok(Answer {
            answer,
            sources,
            found,
            prompt_tokens: generation.prompt_tokens(),
            generated_tokens: generation.generated_tokens().len(),
            citations,
            extract,
            grounding: stream.report().clone(),
            stop: generation.stop_reason(),
        })
    }

    /// Links each sentence of `answer` to the source passage (vector `sources[n - 1]`) it most
    /// resembles, when the resemblance reaches [`ATTRIBUTION_MIN_COSINE`].
    fn attribute(&self, answer: &str, sources: &[QVec]) -> Result<Vec<Citation>, RagError> {
        let spans: Vec<(usize, usize)> = sentences(answer).into_iter().filter(|&(a, b)| answer[a..b].split_whitespace().count() >= 4).collect();
        if spans.is_empty() || sources.is_empty() {
            return Ok(vec![]);
        }
        let texts: Vec<&str> = spans.iter().map(|&(a, b)| &answer[a..b]).collect();
        let vectors = self.embedder.embed(&texts)?;
        Ok(spans
            .iter()
            .zip(&vectors)
            .filter_map(|(&(start, end), v)| {
                let (i, cosine) = sources.iter().enumerate().map(|(i, s)| (i, s.dot_f32(v))).max_by(|a, b| a.1.total_cmp(&b.1))?;
                (cosine >= ATTRIBUTION_MIN_COSINE).then_some(Citation { start, end, source: i + 1, cosine })
            })
            .collect())
    }
}

/// An answer being generated: its sources are known, its text arrives through
/// [`PendingAnswer::step`], sentence by sentence, once each has passed the grounding check. It
/// owns everything stepping needs (the generator's weights shared, its own decoder and KV
/// cache, copies of the sources), so the index stays free for searches and changes meanwhile.
pub struct PendingAnswer {
    /// Copies of the source passages, so index changes cannot alter the answer.
    sources: Vec<Source>,
    /// Copies of the sources' passage vectors, in source order, for attributing sentences
    /// after generation even if the index changed meanwhile.
    vectors: Vec<QVec>,
    /// The generator and this answer's generation on it; `None` when retrieval was too weak
    /// and the answer is [`NOT_FOUND`].
    generation: Option<(Arc<Generator>, Generation)>,
    notice_sent: bool,
    extract: Option<Extract>,
    stream: GroundedStream,
    /// The answer text given out so far.
    shown: String,
    /// Whether the stream has been flushed (the last piece given out).
    closed: bool,
}

impl PendingAnswer {
    fn not_found(sources: Vec<Source>) -> PendingAnswer {
        PendingAnswer {
            sources,
            vectors: vec![],
            generation: None,
            notice_sent: false,
            extract: None,
            stream: GroundedStream::new(&[], "", 0, 0.0),
            shown: String::new(),
            closed: false,
        }
    }

    /// The extractive answer (its `source` numbers [`PendingAnswer::sources`]); `None` when
    /// nothing was found.
    pub fn extract(&self) -> Option<&Extract> {
        self.extract.as_ref()
    }

    /// Passes a generated piece (or the end, `None`) through the grounding check: returns
    /// the grounded text that is ready, and at the end the rest, or the extract when no
    /// sentence passed.
    fn ground(&mut self, piece: Option<String>) -> Option<String> {
        let out = match piece {
            Some(p) => Some(self.stream.push(&p)),
            None if self.closed => None,
            None => {
                self.closed = true;
                let mut rest = self.stream.finish();
                if !self.stream.emitted() {
                    if let Some(e) = &self.extract {
                        self.stream.report().fell_back = true;
                        rest = format!("{} [{}]", e.text, e.source);
                    }
                }
                Some(rest).filter(|r| !r.is_empty())
            }
        };
        if let Some(text) = &out {
            self.shown.push_str(text);
        }
        out
    }

    /// The sources the answer is grounded on (the nearest passages when nothing was found).
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Whether retrieval found relevant passages, so an answer is being generated.
    pub fn found(&self) -> bool {
        self.generation.is_some()
    }

    /// Produces the next piece of the answer on the CPU, or `None` when it is complete.
    pub fn step(&mut self) -> Result<Option<String>, RagError> {
        if self.closed {
            return Ok(None);
        }
        let piece = match &mut self.generation {
            None => return Ok(self.notice()),
            Some((generator, generation)) => generator.step(generation)?,
        };
        Ok(self.ground_or_give_up(piece))
    }

    /// [`PendingAnswer::step`] on the generator's accelerated decoder (WebGPU) when this
    /// answer holds it, else on the CPU.
    pub async fn step_async(&mut self) -> Result<Option<String>, RagError> {
        if self.closed {
            return Ok(None);
        }
        let piece = match &mut self.generation {
            None => return Ok(self.notice()),
            Some((generator, generation)) => generator.step_async(generation).await?,
        };
        Ok(self.ground_or_give_up(piece))
    }

    /// [`PendingAnswer::ground`], then, when [`GIVE_UP_AFTER`] sentences have been dropped and
    /// none shown, stops generating and closes the answer (with the extract): the model is
    /// not answering from the sources, and the reader should not wait for it to finish.
    fn ground_or_give_up(&mut self, piece: Option<String>) -> Option<String> {
        let out = self.ground(piece);
        if self.closed || self.stream.emitted() || self.stream.report().dropped < GIVE_UP_AFTER {
            return out;
        }
        if let Some((generator, generation)) = &mut self.generation {
            generator.stop(generation, StopReason::Ungrounded);
        }
        match (out, self.ground(None)) {
            (Some(a), Some(b)) => Some(a + &b),
            (a, b) => a.or(b),
        }
    }

    /// The not-found notice, once, for an answer with nothing to generate from.
    fn notice(&mut self) -> Option<String> {
        if self.notice_sent {
            return None;
        }
        self.notice_sent = true;
        Some(NOT_FOUND.to_string())
    }
}
