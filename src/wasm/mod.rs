//! The WebAssembly boundary: conversions between JavaScript values and the plain Rust API of
//! [`crate::rag`], nothing more. Every error becomes a JS `Error` carrying the typed message;
//! a panic hook reports any panic to the console before the module traps.
//!
//! The package ships two builds of it. Without features it is the keyword runtime: the
//! index classes ([`WasmKeywordIndex`], [`WasmShardedIndex`]) and nothing that loads a model,
//! so a page's first results wait for a small `.wasm` (the linker drops candle, the tokenizers
//! and wgpu, which nothing exported reaches). The `models` feature adds [`models`], the classes
//! that load the embedder and the generator. The classes only the browser benchmarks use are in
//! `bench`, built with the `bench` feature.

#[cfg(feature = "bench")]
pub mod bench;
#[cfg(feature = "models")]
pub mod models;

use crate::index::shards::ShardedIndex;
use crate::Index;
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&JsValue::from_str(&format!("wasmrag panicked: {info}")));
    }));
}

/// An error as JavaScript receives it: an `Error` whose `code` is a stable name
/// (`index_corrupt`, `model_invalid`, `invalid_option`, ...) and whose message explains it.
pub struct Failure {
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }
}

impl From<Failure> for JsValue {
    fn from(f: Failure) -> JsValue {
        let error = js_sys::Error::new(&f.message);
        let _ = js_sys::Reflect::set(&error, &"code".into(), &f.code.into());
        error.into()
    }
}

/// The typed errors of the pipeline's layers, each with its stable code.
trait Coded: std::fmt::Display {
    fn code(&self) -> &'static str;
}

macro_rules! coded {
    ($($t:ty),*) => {$(
        impl Coded for $t {
            fn code(&self) -> &'static str {
                <$t>::code(self)
            }
        }
    )*};
}
coded!(
    crate::RagError,
    crate::IndexError,
    crate::EmbedError,
    crate::GenerateError,
    crate::gpu::GpuError,
    crate::chunk::ChunkError,
    crate::messages::MessageError
);

fn js_error(e: impl Coded) -> Failure {
    Failure::new(e.code(), e.to_string())
}

fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, Failure> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| Failure::new("internal", e.to_string()))
}

/// A byte offset into `text` as a UTF-16 offset, the unit JavaScript strings index by.
fn utf16(text: &str, byte: usize) -> usize {
    text.get(..byte).map_or(0, |s| s.encode_utf16().count())
}

/// The hits' snippet highlight ranges in UTF-16 code units.
fn highlights_utf16(hits: &mut [crate::SearchHit]) {
    for hit in hits {
        let text = &hit.snippet.text;
        hit.snippet.highlights = hit.snippet.highlights.iter().map(|&(a, b)| (utf16(text, a), utf16(text, b))).collect();
    }
}

/// An index searched by keywords (BM25) alone: what a page shows before the embedder arrives.
#[wasm_bindgen]
pub struct WasmKeywordIndex {
    index: Index,
}

#[wasm_bindgen]
impl WasmKeywordIndex {
    /// Loads an index file; no model is needed.
    #[wasm_bindgen(constructor)]
    pub fn new(index: &[u8]) -> Result<WasmKeywordIndex, Failure> {
        Ok(WasmKeywordIndex { index: Index::from_bytes(index).map_err(js_error)? })
    }

    /// The `k` best passages by keywords, shaped as `WasmRag.search`'s (with `retrieval: "keyword"`).
    pub fn search(&self, query: &str, k: usize) -> Result<JsValue, Failure> {
        let mut hits = crate::keyword_search(&self.index, query, k).map_err(js_error)?;
        highlights_utf16(&mut hits);
        to_js(&hits)
    }

    /// Number of passages in the index.
    #[wasm_bindgen(getter, js_name = passageCount)]
    pub fn passage_count(&self) -> usize {
        self.index.len()
    }

    /// The index as file bytes.
    #[wasm_bindgen(js_name = exportIndex)]
    pub fn export_index(&self) -> Vec<u8> {
        self.index.to_bytes()
    }
}

/// A sharded index (a bundle's `index/` folder) for JavaScript, searched in rounds: `search`
/// answers `{hits}` once every file it needs is loaded, else `{needed: [path]}`, paths relative
/// to the entry file for the page to fetch, `load`, and search again
/// ([`crate::sharded::search`]). Hybrid once `loadEmbedder` has run, by keywords before.
#[wasm_bindgen]
pub struct WasmShardedIndex {
    index: ShardedIndex,
    /// The query embedder, in the build with models ([`models`]).
    #[cfg(feature = "models")]
    embedder: Option<crate::Embedder>,
}

/// One round of a sharded search as JavaScript receives it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShardRound {
    hits: Option<Vec<crate::SearchHit>>,
    needed: Vec<String>,
}

#[wasm_bindgen]
impl WasmShardedIndex {
    /// Reads the entry file (`entry.bin`); the other files are loaded as searches need them.
    #[wasm_bindgen(constructor)]
    pub fn new(entry: &[u8]) -> Result<WasmShardedIndex, Failure> {
        Ok(WasmShardedIndex {
            index: ShardedIndex::open(entry).map_err(js_error)?,
            #[cfg(feature = "models")]
            embedder: None,
        })
    }

    /// Reads the entry again (after `index_changed`); true if it is another build's, which then
    /// replaces this one: the files loaded so far are dropped and the embedder is kept
    /// (`model_mismatch` if the new build was made with another, and then nothing changes).
    pub fn reopen(&mut self, entry: &[u8]) -> Result<bool, Failure> {
        let index = ShardedIndex::open(entry).map_err(js_error)?;
        if index.build_id() == self.index.build_id() {
            return Ok(false);
        }
        #[cfg(feature = "models")]
        if let Some(embedder) = &self.embedder {
            crate::rag::check_embedder(index.info(), embedder).map_err(js_error)?;
        }
        self.index = index;
        Ok(true)
    }

    /// The build number every file of the index carries, to put in their URLs so that no
    /// cache pairs the files of two builds.
    #[wasm_bindgen(getter)]
    pub fn build(&self) -> u32 {
        self.index.build_id()
    }

    /// Checks and keeps one file of the index (`vectors/3.bin`, ...); a bad one is refused
    /// with `index_corrupt` and nothing loaded before is touched.
    pub fn load(&mut self, path: &str, bytes: &[u8]) -> Result<(), Failure> {
        self.index.load(path, bytes).map_err(js_error)
    }

    /// One round of a search for the `k` best passages: `{hits, needed: []}` with hits shaped
    /// as `WasmRag.search`'s, or `{hits: null, needed}`. Hybrid given `vector` (from `embed`).
    pub fn search(&self, query: &str, k: usize, vector: Option<Vec<f32>>) -> Result<JsValue, Failure> {
        match crate::sharded::search(&self.index, query, vector.as_deref(), k).map_err(js_error)? {
            crate::sharded::Round::Found(mut hits) => {
                highlights_utf16(&mut hits);
                to_js(&ShardRound { hits: Some(hits), needed: Vec::new() })
            }
            crate::sharded::Round::Needs(files) => to_js(&ShardRound { hits: None, needed: files.iter().map(|f| f.path()).collect() }),
        }
    }

    /// Number of passages in the index.
    #[wasm_bindgen(getter, js_name = passageCount)]
    pub fn passage_count(&self) -> usize {
        self.index.len()
    }

    /// Bytes of every file loaded so far, the entry included.
    #[wasm_bindgen(getter, js_name = loadedBytes)]
    pub fn loaded_bytes(&self) -> usize {
        self.index.loaded_bytes()
    }
}

/// Panics on purpose, trapping the WebAssembly instance: the test hook with which the worker's
/// recovery after a trap is checked. Nothing in the package calls it.
#[wasm_bindgen(js_name = __trapForTests)]
pub fn trap_for_tests() {
    panic!("trap requested by a test");
}
