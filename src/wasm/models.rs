//! The classes that load models, in the `models` build of the `.wasm` only: the pipeline
//! ([`WasmRag`]) and the sharded index's query embedder. The keyword runtime (the build
//! without this module) serves a page's first results before any of it is fetched.

use super::{highlights_utf16, js_error, to_js, utf16, Failure, WasmShardedIndex};
use crate::chunk::{ChunkError, ChunkOptions, Document};
use crate::generate::CancelFlag;
use crate::gpu::{Gpu, GpuDecoder, GpuEmbedder, GpuError};
use crate::messages::{check_fields, AskMessage, DocumentMessage, ASK_FIELDS};
use crate::rag::{AskOptions, PendingAnswer, Progress, Rag};
use crate::{Embedder, Generator, Index};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

fn from_js<T: for<'de> Deserialize<'de>>(value: JsValue, what: &str) -> Result<T, Failure> {
    serde_wasm_bindgen::from_value(value).map_err(|e| invalid(format!("invalid {what}: {e}")))
}

pub(super) fn invalid(message: String) -> Failure {
    Failure::new("invalid_option", message)
}

/// `ask` options from JavaScript, every name and value checked ([`crate::messages`]).
fn ask_options(value: JsValue, cancel: CancelFlag) -> Result<AskOptions, Failure> {
    if value.is_undefined() || value.is_null() {
        return AskMessage::default().into_options(cancel).map_err(js_error);
    }
    if let Some(object) = value.dyn_ref::<js_sys::Object>() {
        let keys: Vec<String> = js_sys::Object::keys(object).iter().map(|k| k.as_string().unwrap_or_default()).collect();
        check_fields("ask options", keys.iter().map(String::as_str), ASK_FIELDS).map_err(js_error)?;
    }
    from_js::<AskMessage>(value, "ask options")?.into_options(cancel).map_err(js_error)
}

/// Documents from JavaScript: `[{url, text, format?}]`.
fn documents(value: JsValue) -> Result<Vec<Document>, Failure> {
    let docs: Vec<DocumentMessage> = from_js(value, "documents (expected [{url, text, format?}])")?;
    docs.into_iter().map(|d| d.into_document().map_err(js_error)).collect()
}

/// Index into the sources of an extract's 1-based `source`.
fn e_source(e: &crate::Extract) -> usize {
    e.source.saturating_sub(1)
}

/// An extract with its range in `passage` given in UTF-16 code units.
fn extract_utf16(mut e: crate::Extract, passage: Option<&str>) -> crate::Extract {
    if let Some(text) = passage {
        (e.start, e.end) = (utf16(text, e.start), utf16(text, e.end));
    }
    e
}

fn skipped(errors: &[ChunkError]) -> Vec<String> {
    errors.iter().map(|e| e.to_string()).collect()
}

pub(super) fn embedder(weights: &[u8], config: &[u8], tokenizer: &[u8]) -> Result<Embedder, Failure> {
    Embedder::from_bytes(weights, config, tokenizer).map_err(js_error)
}

/// Loads the embedder from weights in JavaScript memory, an int8 GGUF read one tensor at a time.
fn embedder_from_js(weights: &js_sys::Uint8Array, config: &[u8], tokenizer: &[u8]) -> Result<Embedder, Failure> {
    let mut reader = JsBytes { array: weights.clone(), at: 0 };
    Embedder::from_reader(&mut reader, u64::from(weights.length()), config, tokenizer).map_err(js_error)
}

/// The pipeline for JavaScript: an index with its embedder, and a generator once loaded.
#[wasm_bindgen]
pub struct WasmRag {
    rag: RefCell<Rag>,
    pending: RefCell<Option<PendingAnswer>>,
    cancel: CancelFlag,
    embedder_backend: &'static str,
}

#[wasm_bindgen]
impl WasmRag {
    /// Loads an index file and the embedder it was built with (safetensors, config.json,
    /// tokenizer.json bytes).
    #[wasm_bindgen(constructor)]
    pub fn new(index: &[u8], weights: &js_sys::Uint8Array, config: &[u8], tokenizer: &[u8]) -> Result<WasmRag, Failure> {
        let index = Index::from_bytes(index).map_err(js_error)?;
        let rag = Rag::new(index, embedder_from_js(weights, config, tokenizer)?).map_err(js_error)?;
        Ok(WasmRag::from_rag(rag))
    }

    /// Builds an index in the page from `[{url, text, format?}]`; `progress` (optional) is
    /// called with `{stage, done, total}`.
    #[wasm_bindgen(js_name = fromDocuments)]
    pub fn from_documents(docs: JsValue, weights: &[u8], config: &[u8], tokenizer: &[u8], progress: Option<js_sys::Function>) -> Result<WasmRag, Failure> {
        let docs = documents(docs)?;
        let embedder = embedder(weights, config, tokenizer)?;
        let mut report = progress_reporter(progress);
        let built = crate::build_index(&docs, &embedder, &ChunkOptions::default(), &mut report).map_err(js_error)?;
        let rag = Rag::new(built.index, embedder).map_err(js_error)?;
        Ok(WasmRag::from_rag(rag))
    }

    /// Like `fromDocuments`, embedding the passages on the backend `backend` picks
    /// (`"auto"`: WebGPU only on a real GPU; `"webgpu"`; `"cpu"`), for bulk indexing in the
    /// page. Queries are always embedded on the CPU. Resolves to the instance; `progress` is
    /// called as in `fromDocuments`, and `embedderBackend` tells where the passages were embedded.
    #[wasm_bindgen(js_name = fromDocumentsAsync)]
    pub async fn from_documents_async(
        docs: JsValue,
        weights: Vec<u8>,
        config: Vec<u8>,
        tokenizer: Vec<u8>,
        backend: String,
        progress: Option<js_sys::Function>,
    ) -> Result<WasmRag, Failure> {
        let docs = documents(docs)?;
        let mut model = embedder(&weights, &config, &tokenizer)?;
        let choice = choose_embedder_backend(&mut model, &weights, &backend).await?;
        let mut report = progress_reporter(progress);
        let built = crate::build_index_async(&docs, &mut model, &ChunkOptions::default(), &mut report).await.map_err(js_error)?;
        let on_gpu = model.has_gpu();
        let mut rag = WasmRag::from_rag(Rag::new(built.index, model).map_err(js_error)?);
        rag.embedder_backend = if on_gpu { choice.backend } else { "cpu" };
        Ok(rag)
    }

    /// Where the passages of `fromDocumentsAsync` were embedded: `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter, js_name = embedderBackend)]
    pub fn embedder_backend(&self) -> String {
        self.embedder_backend.to_string()
    }

    /// Loads the generator from GGUF bytes on the CPU; only `ask` needs it.
    #[wasm_bindgen(js_name = loadGenerator)]
    pub fn load_generator(&mut self, gguf: &[u8]) -> Result<(), Failure> {
        *self.pending.get_mut() = None;
        self.rag.get_mut().set_generator(Generator::from_gguf(gguf).map_err(js_error)?).map_err(js_error)?;
        Ok(())
    }

    /// Loads the generator and picks its backend: `"cpu"`, `"webgpu"` (any adapter, software
    /// ones included) or `"auto"` (WebGPU only on a real GPU). Resolves to `{backend, adapter,
    /// fallbackReason}`; if WebGPU cannot run the model the CPU is used and the call succeeds.
    /// The file is read from JavaScript memory one tensor at a time, so wasm memory holds the
    /// weights once (the WebGPU engine copies the file in only when it gets an adapter).
    #[wasm_bindgen(js_name = loadGeneratorWith)]
    pub async fn load_generator_with(&self, gguf: js_sys::Uint8Array, backend: String) -> Result<JsValue, Failure> {
        let mut generator = generator_from_js(&gguf)?;
        let choice = choose_backend(&mut generator, &gguf, &backend).await?;
        *self.pending.borrow_mut() = None;
        self.rag.borrow_mut().set_generator(generator).map_err(js_error)?;
        to_js(&choice)
    }

    /// Whether a generator is loaded.
    #[wasm_bindgen(getter, js_name = hasGenerator)]
    pub fn has_generator(&self) -> bool {
        self.rag.borrow().has_generator()
    }

    /// Number of passages in the index.
    #[wasm_bindgen(getter, js_name = passageCount)]
    pub fn passage_count(&self) -> usize {
        self.rag.borrow().index().len()
    }

    /// The `k` best passages: `[{url, title, headings, text, snippet: {text, highlights}, score, cosine, chunk}]`;
    /// highlight ranges are in UTF-16 code units, as JavaScript strings index.
    pub fn search(&self, query: &str, k: usize) -> Result<JsValue, Failure> {
        let mut hits = self.rag.borrow().search(query, k).map_err(js_error)?;
        highlights_utf16(&mut hits);
        to_js(&hits)
    }

    /// Like `search`, with the sentence that best answers `query`: `{hits, extract}`, where
    /// `extract` is `{text, source, url, context, start, end, score}` or null, `source` the
    /// 1-based hit it comes from and `[start, end)` its range in that hit's `text` (UTF-16).
    #[wasm_bindgen(js_name = searchExtract)]
    pub fn search_extract(&self, query: &str, k: usize) -> Result<JsValue, Failure> {
        let mut found = self.rag.borrow().search_extract(query, k, &crate::ExtractOptions::default()).map_err(js_error)?;
        highlights_utf16(&mut found.hits);
        let passage = |e: &crate::Extract| found.hits.get(e_source(e)).map(|h| h.text.clone());
        found.extract = found.extract.take().map(|e| {
            let text = passage(&e);
            extract_utf16(e, text.as_deref())
        });
        to_js(&found)
    }

    /// Retrieves sources and starts an answer; returns `{found, sources}`. Then call
    /// `nextToken()` until it returns `undefined`, then `finishAsk()`.
    #[wasm_bindgen(js_name = beginAsk)]
    pub fn begin_ask(&mut self, question: &str, options: JsValue) -> Result<JsValue, Failure> {
        let options = ask_options(options, CancelFlag::default())?;
        *self.pending.get_mut() = None;
        self.cancel = options.generate.cancel.clone();
        let pending = self.rag.get_mut().begin_ask(question, &options).map_err(js_error)?;
        #[derive(Serialize)]
        struct Begun<'a> {
            found: bool,
            sources: &'a [crate::Source],
            extract: Option<crate::Extract>,
        }
        let extract = pending.extract().cloned().map(|e| {
            let passage = pending.sources().get(e_source(&e)).map(|s| s.text.as_str());
            extract_utf16(e, passage)
        });
        let begun = to_js(&Begun { found: pending.found(), sources: pending.sources(), extract })?;
        *self.pending.get_mut() = Some(pending);
        Ok(begun)
    }

    /// The next piece of the answer (possibly empty), or `undefined` when it is complete.
    /// Always on the CPU; `nextTokenAsync` uses WebGPU when it was chosen.
    #[wasm_bindgen(js_name = nextToken)]
    pub fn next_token(&mut self) -> Result<Option<String>, Failure> {
        self.pending.get_mut().as_mut().ok_or_else(no_answer)?.step().map_err(js_error)
    }

    /// Resolves to the next piece of the answer, or `undefined` when it is complete; runs on
    /// the backend `loadGeneratorWith` chose. The answer owns its decoder and sources, so
    /// searches, index changes and a new generator may all come while it waits for the GPU.
    #[wasm_bindgen(js_name = nextTokenAsync)]
    pub async fn next_token_async(&self) -> Result<Option<String>, Failure> {
        let mut pending = self.pending.borrow_mut().take().ok_or_else(no_answer)?;
        let result = pending.step_async().await;
        *self.pending.borrow_mut() = Some(pending);
        result.map_err(js_error)
    }

    /// `"webgpu"` while the generator runs on WebGPU, else `"cpu"` (also after a GPU failure,
    /// whose reason is then in `gpuError`).
    #[wasm_bindgen(getter, js_name = generatorBackend)]
    pub fn generator_backend(&self) -> String {
        self.rag.borrow().generator().map_or("cpu", Generator::backend).to_string()
    }

    /// Why the WebGPU engine was dropped during generation, if it was.
    #[wasm_bindgen(getter, js_name = gpuError)]
    pub fn gpu_error(&self) -> Option<String> {
        self.rag.borrow().generator().and_then(Generator::accelerator_error).map(|e| e.to_string())
    }

    /// Stops the answer in progress after the current token.
    #[wasm_bindgen(js_name = cancelAsk)]
    pub fn cancel_ask(&self) {
        self.cancel.cancel();
    }

    /// The finished answer: `{answer, found, sources: [{n, url, title, headings, score, text, cited}],
    /// citations: [{start, end, source, cosine}], extract: {text, source, url, start, end, score},
    /// grounding: {checked, dropped, unsupported, markersRemoved, fellBack}, promptTokens,
    /// generatedTokens}`; citation and extract ranges are in UTF-16 code units.
    #[wasm_bindgen(js_name = finishAsk)]
    pub fn finish_ask(&mut self) -> Result<JsValue, Failure> {
        let pending = self.pending.get_mut().take().ok_or_else(no_answer)?;
        let mut answer = self.rag.get_mut().finish(pending).map_err(js_error)?;
        for c in &mut answer.citations {
            (c.start, c.end) = (utf16(&answer.answer, c.start), utf16(&answer.answer, c.end));
        }
        answer.extract = answer.extract.take().map(|e| {
            let text = answer.sources.get(e_source(&e)).map(|s| s.text.clone());
            extract_utf16(e, text.as_deref())
        });
        to_js(&answer)
    }

    /// The whole answer in one call, calling `onToken(piece)` for each piece; returning
    /// `false` from it cancels.
    pub fn ask(&mut self, question: &str, options: JsValue, on_token: &js_sys::Function) -> Result<JsValue, Failure> {
        self.begin_ask(question, options)?;
        while let Some(piece) = self.next_token()? {
            let keep_going = on_token
                .call1(&JsValue::NULL, &JsValue::from_str(&piece))
                .map_err(|e| Failure::new("callback", format!("onToken threw: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")))))?;
            if keep_going == JsValue::FALSE {
                self.cancel_ask();
            }
        }
        self.finish_ask()
    }

    /// Adds `[{url, text, format?}]` (replacing pages with the same URL); returns the reasons
    /// documents were skipped. On error the index is unchanged.
    #[wasm_bindgen(js_name = addDocuments)]
    pub fn add_documents(&mut self, docs: JsValue) -> Result<JsValue, Failure> {
        let docs = documents(docs)?;
        let skipped_docs = self.rag.get_mut().add_documents(&docs).map_err(js_error)?;
        to_js(&skipped(&skipped_docs))
    }

    /// Removes every passage of the given page URLs. On error the index is unchanged.
    #[wasm_bindgen(js_name = removeDocuments)]
    pub fn remove_documents(&mut self, urls: Vec<String>) -> Result<(), Failure> {
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        self.rag.get_mut().remove_documents(&urls).map_err(js_error)
    }

    /// The current index as file bytes, e.g. to store after client-side changes.
    #[wasm_bindgen(js_name = exportIndex)]
    pub fn export_index(&self) -> Vec<u8> {
        self.rag.borrow().index().to_bytes()
    }
}

impl WasmRag {
    fn from_rag(rag: Rag) -> WasmRag {
        WasmRag { rag: RefCell::new(rag), pending: RefCell::new(None), cancel: CancelFlag::default(), embedder_backend: "cpu" }
    }
}

/// Calls `progress` (if given) with `{stage, done, total}` for each indexing step.
fn progress_reporter(progress: Option<js_sys::Function>) -> impl FnMut(Progress) {
    move |p: Progress| {
        let Some(f) = &progress else { return };
        let (stage, done, total) = match p {
            Progress::Chunked { chunks } => ("chunked", chunks, chunks),
            Progress::Embedded { done, total } => ("embedding", done, total),
            Progress::Indexing => ("indexing", 0, 0),
        };
        let event = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&event, &"stage".into(), &stage.into());
        let _ = js_sys::Reflect::set(&event, &"done".into(), &(done as f64).into());
        let _ = js_sys::Reflect::set(&event, &"total".into(), &(total as f64).into());
        let _ = f.call1(&JsValue::NULL, &event);
    }
}

fn no_answer() -> Failure {
    Failure::new("invalid_state", "no answer in progress; call beginAsk first")
}

/// The backend a model ended up on, as `loadGeneratorWith` and `WasmEmbedder.load` report it;
/// `dispatches` counts kernel launches per token (generator) or per batch (embedder).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BackendChoice {
    backend: &'static str,
    adapter: Option<String>,
    dispatches: Option<usize>,
    fallback_reason: Option<String>,
}

impl BackendChoice {
    fn cpu(why: Option<GpuError>) -> BackendChoice {
        BackendChoice { backend: "cpu", adapter: None, dispatches: None, fallback_reason: why.map(|e| e.to_string()) }
    }

    fn webgpu(adapter: String, dispatches: usize) -> BackendChoice {
        BackendChoice { backend: "webgpu", adapter: Some(adapter), dispatches: Some(dispatches), fallback_reason: None }
    }
}

/// Where a model may run, as JavaScript names it: the whole backend policy.
#[derive(Clone, Copy)]
enum Backend {
    /// WebGPU only on a real GPU adapter (a software one is slower than the CPU), else the CPU.
    Auto,
    /// Any WebGPU adapter, software ones included.
    WebGpu,
    /// Never WebGPU.
    Cpu,
}

impl Backend {
    fn parse(name: &str) -> Result<Backend, Failure> {
        match name {
            "auto" => Ok(Backend::Auto),
            "webgpu" => Ok(Backend::WebGpu),
            "cpu" => Ok(Backend::Cpu),
            other => Err(invalid(format!("unknown backend {other:?} (use \"auto\", \"webgpu\" or \"cpu\")"))),
        }
    }

    /// Builds a GPU engine with `load` on the device this backend allows: `Ok((adapter,
    /// engine))`, or `Err` with the reason the CPU is used (`None` when the CPU was asked for).
    async fn engine<E>(self, load: impl AsyncFnOnce(&Gpu) -> Result<E, GpuError>) -> Result<(String, E), Option<GpuError>> {
        let allow_software = match self {
            Backend::Cpu => return Err(None),
            Backend::WebGpu => true,
            Backend::Auto => false,
        };
        let gpu = Gpu::new(allow_software).await?;
        let engine = load(&gpu).await?;
        Ok((gpu.adapter().name.clone(), engine))
    }
}

/// Loads a generator from a GGUF file in JavaScript memory, read one tensor at a time.
pub(super) fn generator_from_js(gguf: &js_sys::Uint8Array) -> Result<Generator, Failure> {
    let mut reader = JsBytes { array: gguf.clone(), at: 0 };
    Generator::from_reader(&mut reader, u64::from(gguf.length())).map_err(js_error)
}

/// A JavaScript `Uint8Array` read in pieces, for [`Generator::from_reader`] and
/// [`Embedder::from_reader`].
struct JsBytes {
    array: js_sys::Uint8Array,
    at: u64,
}

impl std::io::Read for JsBytes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let len = u64::from(self.array.length());
        let n = (len.saturating_sub(self.at)).min(buf.len() as u64) as usize;
        if n > 0 {
            let start = self.at as u32;
            self.array.subarray(start, start + n as u32).copy_to(&mut buf[..n]);
            self.at += n as u64;
        }
        Ok(n)
    }
}

impl std::io::Seek for JsBytes {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let len = i128::from(self.array.length());
        let at = match to {
            std::io::SeekFrom::Start(n) => i128::from(n),
            std::io::SeekFrom::End(d) => len + i128::from(d),
            std::io::SeekFrom::Current(d) => i128::from(self.at) + i128::from(d),
        };
        self.at = u64::try_from(at).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.at)
    }
}

/// Attaches a WebGPU engine to `generator` when `backend` asks for one and it can run; any
/// GPU failure leaves the generator on the CPU with the reason reported.
pub(super) async fn choose_backend(generator: &mut Generator, gguf: &js_sys::Uint8Array, backend: &str) -> Result<BackendChoice, Failure> {
    let context = generator.context_length();
    Ok(match Backend::parse(backend)?.engine(async |gpu| GpuDecoder::from_gguf(gpu, &gguf.to_vec(), context).await).await {
        Ok((adapter, decoder)) => {
            let dispatches = decoder.dispatches_per_token();
            generator.attach_decoder(Box::new(decoder));
            BackendChoice::webgpu(adapter, dispatches)
        }
        Err(why) => BackendChoice::cpu(why),
    })
}

/// Attaches a WebGPU engine to `embedder` when `backend` asks for one and it can run.
pub(super) async fn choose_embedder_backend(embedder: &mut Embedder, weights: &[u8], backend: &str) -> Result<BackendChoice, Failure> {
    let shape = embedder.bert_shape();
    let load = async |gpu: &Gpu| GpuEmbedder::from_weights(gpu, weights, shape, crate::embed::BATCH_SIZE, crate::embed::MAX_TOKENS).await;
    Ok(match Backend::parse(backend)?.engine(load).await {
        Ok((adapter, engine)) => {
            let dispatches = engine.dispatches_per_batch();
            embedder.attach_gpu(engine);
            BackendChoice::webgpu(adapter, dispatches)
        }
        Err(why) => BackendChoice::cpu(why),
    })
}

#[wasm_bindgen]
impl WasmShardedIndex {
    /// Loads the embedder the index was built with (`model_mismatch` for another), so that
    /// `embed` works and searches given its vector turn hybrid.
    #[wasm_bindgen(js_name = loadEmbedder)]
    pub fn load_embedder(&mut self, weights: &js_sys::Uint8Array, config: &[u8], tokenizer: &[u8]) -> Result<(), Failure> {
        let embedder = embedder_from_js(weights, config, tokenizer)?;
        crate::rag::check_embedder(self.index.info(), &embedder).map_err(js_error)?;
        self.embedder = Some(embedder);
        Ok(())
    }

    /// The query's embedding, to pass to every round of its search.
    pub fn embed(&self, query: &str) -> Result<Vec<f32>, Failure> {
        let embedder = self.embedder.as_ref().ok_or_else(|| Failure::new("invalid_state", "no embedder is loaded; call loadEmbedder first"))?;
        embedder.embed_one(query).map_err(js_error)
    }
}
