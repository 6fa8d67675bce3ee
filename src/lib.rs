//! wasmrag: retrieval-augmented generation that runs entirely in the browser.
//!
//! The pipeline, one module per stage: [`chunk`] pages into passages, [`embed`] them with a
//! sentence encoder, store them in a hybrid [`index`] (HNSW + BM25), [`retrieve`] the best
//! passages for a query, [`extract`] the sentence that best answers it and the evidence for a
//! grounded [`prompt`], [`generate`] an answer with a small quantised llama model, and
//! [`ground`] it: every fact it states must be in the sources. [`rag`] ties the stages together
//! behind a bytes-in, results-out API that the native CLI and the WebAssembly bindings both
//! wrap; [`sharded`] searches an index split into files fetched per query. [`gpu`] runs the generator and
//! the encoder on WebGPU (or Vulkan natively) where a GPU is available, with candle on the CPU
//! as the fallback.

pub mod chunk;
pub mod embed;
pub mod extract;
pub mod generate;
pub mod gguf;
pub mod gpu;
pub mod ground;
pub mod index;
pub mod messages;
pub mod prompt;
pub mod rag;
pub mod retrieve;
pub mod sample;
pub mod sharded;
pub mod tokenize;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use chunk::{Chunk, ChunkError, ChunkOptions, Document, Format};
pub use embed::{EmbedError, Embedder, EmbeddingCache};
pub use extract::{Extract, ExtractOptions};
pub use generate::{CancelFlag, GenerateError, GenerateOptions, Generator, StopReason};
pub use ground::Grounding;
pub use index::{DenseLayout, Index, IndexError, SizeReport};
pub use rag::{
    build_index, build_index_async, build_index_cached, embed_part, keyword_search, Answer, AskOptions, Built, Citation, PendingAnswer, Progress, Rag,
    RagError, Retrieval, SearchHit, SearchResults, Source,
};
pub use retrieve::{Fusion, RetrieveOptions};
