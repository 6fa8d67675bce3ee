//! The bindings only the browser benchmarks (bench/) and the WebGPU tests use: the generator,
//! the embedder and the vector index each on its own. Built with the `bench` feature, so the
//! package's `.wasm` leaves them out.

use super::models::{choose_backend, choose_embedder_backend, embedder, generator_from_js, invalid};
use super::{js_error, to_js, Failure};
use crate::generate::GenerateOptions;
use crate::{DenseLayout, Embedder, Generator, Index};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

fn busy() -> Failure {
    Failure::new("busy", "a generation step is still running; await it first")
}

/// A generator on its own, for plain text generation (and benchmarks) without retrieval.
#[wasm_bindgen]
pub struct WasmGenerator {
    generator: Generator,
    generation: RefCell<Option<crate::generate::Generation>>,
    choice: Option<JsValue>,
}

#[wasm_bindgen]
impl WasmGenerator {
    /// Loads a llama-family GGUF model from its bytes, on the CPU.
    #[wasm_bindgen(constructor)]
    pub fn new(gguf: &[u8]) -> Result<WasmGenerator, Failure> {
        let generator = Generator::from_gguf(gguf).map_err(js_error)?;
        Ok(WasmGenerator { generator, generation: RefCell::new(None), choice: None })
    }

    /// Loads a model on the given backend (`"cpu"`, `"webgpu"` or `"auto"`, as
    /// `WasmRag.loadGeneratorWith`); `backendInfo` then tells which one it got.
    pub async fn load(gguf: js_sys::Uint8Array, backend: String) -> Result<WasmGenerator, Failure> {
        let mut generator = generator_from_js(&gguf)?;
        let choice = to_js(&choose_backend(&mut generator, &gguf, &backend).await?)?;
        Ok(WasmGenerator { generator, generation: RefCell::new(None), choice: Some(choice) })
    }

    /// `{backend, adapter, dispatches, fallbackReason}` for a generator made by `load` (`dispatches`: kernel launches per token).
    #[wasm_bindgen(getter, js_name = backendInfo)]
    pub fn backend_info(&self) -> JsValue {
        self.choice.clone().unwrap_or(JsValue::UNDEFINED)
    }

    /// Starts generating after `prompt` (greedy); returns the prompt's length in tokens.
    /// `ignoreEndOfTurn` keeps going to `maxTokens`, for benchmarks.
    pub fn start(&self, prompt: &str, max_tokens: usize, ignore_end_of_turn: bool) -> Result<usize, Failure> {
        let options = GenerateOptions { max_tokens, ignore_end_of_turn, ..GenerateOptions::default() };
        let mut slot = self.generation.try_borrow_mut().map_err(|_| busy())?;
        // The old generation goes first, handing back the accelerated decoder for this one.
        *slot = None;
        let generation = self.generator.start(prompt, &options).map_err(js_error)?;
        let tokens = generation.prompt_tokens();
        *slot = Some(generation);
        Ok(tokens)
    }

    /// The next piece of text (the first call also reads the prompt), or `undefined` at the
    /// end; on the CPU.
    pub fn step(&self) -> Result<Option<String>, Failure> {
        let mut generation = self.generation.try_borrow_mut().map_err(|_| busy())?;
        let generation = generation.as_mut().ok_or_else(|| Failure::new("invalid_state", "call start first"))?;
        self.generator.step(generation).map_err(js_error)
    }

    /// Like `step`, on the backend `load` chose.
    // The borrow is held across the GPU wait on purpose: every other method takes it with
    // `try_borrow*` and reports "still running" instead of panicking.
    #[allow(clippy::await_holding_refcell_ref)]
    #[wasm_bindgen(js_name = stepAsync)]
    pub async fn step_async(&self) -> Result<Option<String>, Failure> {
        let mut generation = self.generation.try_borrow_mut().map_err(|_| busy())?;
        let generation = generation.as_mut().ok_or_else(|| Failure::new("invalid_state", "call start first"))?;
        self.generator.step_async(generation).await.map_err(js_error)
    }

    /// Token ids generated so far by the current generation.
    #[wasm_bindgen(getter)]
    pub fn tokens(&self) -> Result<Vec<u32>, Failure> {
        let generation = self.generation.try_borrow().map_err(|_| busy())?;
        Ok(generation.as_ref().map_or_else(Vec::new, |g| g.generated_tokens().to_vec()))
    }

    /// Tokens generated so far by the current generation.
    #[wasm_bindgen(getter, js_name = generatedTokens)]
    pub fn generated_tokens(&self) -> Result<usize, Failure> {
        let generation = self.generation.try_borrow().map_err(|_| busy())?;
        Ok(generation.as_ref().map_or(0, |g| g.generated_tokens().len()))
    }
}

/// The embedder on its own: texts in, unit vectors out (flattened, `dim` floats per text).
#[wasm_bindgen]
pub struct WasmEmbedder {
    embedder: RefCell<Embedder>,
    choice: Option<JsValue>,
}

#[wasm_bindgen]
impl WasmEmbedder {
    /// Loads a BERT-family embedder from its safetensors, config.json and tokenizer.json bytes,
    /// on the CPU.
    #[wasm_bindgen(constructor)]
    pub fn new(weights: &[u8], config: &[u8], tokenizer: &[u8]) -> Result<WasmEmbedder, Failure> {
        Ok(WasmEmbedder { embedder: RefCell::new(embedder(weights, config, tokenizer)?), choice: None })
    }

    /// Loads an embedder on the given backend (`"cpu"`, `"webgpu"` or `"auto"`) for
    /// `embedAsync`; `backendInfo` then tells which one it got.
    pub async fn load(weights: Vec<u8>, config: Vec<u8>, tokenizer: Vec<u8>, backend: String) -> Result<WasmEmbedder, Failure> {
        let mut model = embedder(&weights, &config, &tokenizer)?;
        let choice = to_js(&choose_embedder_backend(&mut model, &weights, &backend).await?)?;
        Ok(WasmEmbedder { embedder: RefCell::new(model), choice: Some(choice) })
    }

    /// `{backend, adapter, dispatches, fallbackReason}` for an embedder made by `load`.
    #[wasm_bindgen(getter, js_name = backendInfo)]
    pub fn backend_info(&self) -> JsValue {
        self.choice.clone().unwrap_or(JsValue::UNDEFINED)
    }

    /// Length of each vector.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> Result<usize, Failure> {
        Ok(self.embedder.try_borrow().map_err(|_| busy())?.dim())
    }

    /// Embeds `texts` in batches of similar length on the CPU; returns `texts.length * dim` floats.
    pub fn embed(&self, texts: Vec<String>) -> Result<Vec<f32>, Failure> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(self.embedder.try_borrow().map_err(|_| busy())?.embed(&refs).map_err(js_error)?.concat())
    }

    /// Like `embed`, on the backend `load` chose (one GPU submit per batch on WebGPU).
    // Held across the GPU wait on purpose; the other methods use `try_borrow` (see stepAsync).
    #[allow(clippy::await_holding_refcell_ref)]
    #[wasm_bindgen(js_name = embedAsync)]
    pub async fn embed_async(&self, texts: Vec<String>) -> Result<Vec<f32>, Failure> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut embedder = self.embedder.try_borrow_mut().map_err(|_| busy())?;
        Ok(embedder.embed_async(&refs).await.map_err(js_error)?.concat())
    }

    /// Embeds one text on its own (one forward pass on the CPU, no batching), e.g. a query.
    #[wasm_bindgen(js_name = embedOne)]
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>, Failure> {
        self.embedder.try_borrow().map_err(|_| busy())?.embed_one(text).map_err(js_error)
    }
}

/// A vector-only index (int8 vectors + HNSW graph) over the caller's own unit vectors.
#[wasm_bindgen]
pub struct WasmVectorIndex {
    index: Index,
}

#[wasm_bindgen]
impl WasmVectorIndex {
    /// Builds the HNSW index from `vectors`, `dim` floats per vector one after another (the
    /// bench compares graph searches; `exactSearch` scans).
    #[wasm_bindgen(constructor)]
    pub fn new(vectors: &[f32], dim: usize) -> Result<WasmVectorIndex, Failure> {
        if dim == 0 || !vectors.len().is_multiple_of(dim) {
            return Err(invalid(format!("{} floats are not a whole number of {dim}-long vectors", vectors.len())));
        }
        let rows: Vec<Vec<f32>> = vectors.chunks(dim).map(<[f32]>::to_vec).collect();
        Ok(WasmVectorIndex { index: Index::from_vectors(dim, &rows, DenseLayout::Graph).map_err(js_error)? })
    }

    /// Loads an index written by `toBytes`.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<WasmVectorIndex, Failure> {
        Ok(WasmVectorIndex { index: Index::from_bytes(bytes).map_err(js_error)? })
    }

    /// Numbers of the `k` nearest vectors by the HNSW graph (a scan for a flat index read by
    /// `fromBytes`), nearest first.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<u32>, Failure> {
        Ok(self.index.dense_search(query, k).map_err(js_error)?.into_iter().map(|(id, _)| id).collect())
    }

    /// Numbers of the `k` nearest vectors by brute force over every vector, nearest first.
    #[wasm_bindgen(js_name = exactSearch)]
    pub fn exact_search(&self, query: &[f32], k: usize) -> Result<Vec<u32>, Failure> {
        Ok(self.index.exact_search(query, k).map_err(js_error)?.into_iter().map(|(id, _)| id).collect())
    }

    /// The serialized index (magic, version, checksum included).
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.index.to_bytes()
    }
}
