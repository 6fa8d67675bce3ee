//! The WebAssembly boundary: conversions between JavaScript values and the plain Rust API of
//! [`crate::rag`], nothing more. Every error becomes a JS `Error` carrying the typed message;
//! a panic hook reports any panic to the console before the module traps.

use crate::chunk::{ChunkError, ChunkOptions, Document, Format};
use crate::generate::{CancelFlag, GenerateOptions};
use crate::rag::{AskOptions, PendingAnswer, Progress, Rag, DEFAULT_MIN_COSINE};
use crate::{Embedder, Generator, Index};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&JsValue::from_str(&format!("wasmrag panicked: {info}")));
    }));
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(js_error)
}

fn from_js<T: for<'de> Deserialize<'de>>(value: JsValue, what: &str) -> Result<T, JsError> {
    serde_wasm_bindgen::from_value(value).map_err(|e| JsError::new(&format!("invalid {what}: {e}")))
}

/// `ask` options as JavaScript passes them; every field is optional.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct AskOptionsJs {
    sources: Option<usize>,
    min_cosine: Option<f32>,
    max_tokens: Option<usize>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    seed: Option<u64>,
    repeat_penalty: Option<f32>,
}

impl AskOptionsJs {
    fn into_options(self, cancel: CancelFlag) -> AskOptions {
        let d = AskOptions::default();
        let g = GenerateOptions::default();
        AskOptions {
            sources: self.sources.unwrap_or(d.sources),
            min_cosine: self.min_cosine.unwrap_or(DEFAULT_MIN_COSINE),
            generate: GenerateOptions {
                max_tokens: self.max_tokens.unwrap_or(g.max_tokens),
                temperature: self.temperature.unwrap_or(g.temperature),
                top_p: self.top_p.or(g.top_p),
                seed: self.seed.unwrap_or(g.seed),
                repeat_penalty: self.repeat_penalty.unwrap_or(g.repeat_penalty),
                cancel,
                ..g
            },
            ..d
        }
    }
}

/// A document as JavaScript passes it: `{url, text, format?}`; the format defaults to the
/// URL's extension, else plain text.
#[derive(Deserialize)]
struct DocumentJs {
    url: String,
    text: String,
    format: Option<String>,
}

fn documents(value: JsValue) -> Result<Vec<Document>, JsError> {
    let docs: Vec<DocumentJs> = from_js(value, "documents (expected [{url, text, format?}])")?;
    docs.into_iter()
        .map(|d| {
            let format = match d.format.as_deref() {
                Some("markdown" | "md") => Format::Markdown,
                Some("html") => Format::Html,
                Some("text" | "txt") => Format::Text,
                Some(other) => return Err(JsError::new(&format!("unknown document format {other:?} (use markdown, html or text)"))),
                None => Format::from_path(&d.url).unwrap_or(Format::Text),
            };
            Ok(Document { url: d.url, format, bytes: d.text.into_bytes() })
        })
        .collect()
}

/// A byte offset into `text` as a UTF-16 offset, the unit JavaScript strings index by.
fn utf16(text: &str, byte: usize) -> usize {
    text.get(..byte).map_or(0, |s| s.encode_utf16().count())
}

fn skipped(errors: &[ChunkError]) -> Vec<String> {
    errors.iter().map(|e| e.to_string()).collect()
}

fn embedder(weights: &[u8], config: &[u8], tokenizer: &[u8]) -> Result<Embedder, JsError> {
    Embedder::from_bytes(weights, config, tokenizer).map_err(js_error)
}

/// The pipeline for JavaScript: an index with its embedder, and a generator once loaded.
#[wasm_bindgen]
pub struct WasmRag {
    rag: Rag,
    pending: Option<PendingAnswer>,
    cancel: CancelFlag,
}

#[wasm_bindgen]
impl WasmRag {
    /// Loads an index file and the embedder it was built with (safetensors, config.json,
    /// tokenizer.json bytes).
    #[wasm_bindgen(constructor)]
    pub fn new(index: &[u8], weights: &[u8], config: &[u8], tokenizer: &[u8]) -> Result<WasmRag, JsError> {
        let index = Index::from_bytes(index).map_err(js_error)?;
        let rag = Rag::new(index, embedder(weights, config, tokenizer)?).map_err(js_error)?;
        Ok(WasmRag { rag, pending: None, cancel: CancelFlag::default() })
    }

    /// Builds an index in the page from `[{url, text, format?}]`; `progress` (optional) is
    /// called with `{stage, done, total}`.
    #[wasm_bindgen(js_name = fromDocuments)]
    pub fn from_documents(
        docs: JsValue,
        weights: &[u8],
        config: &[u8],
        tokenizer: &[u8],
        progress: Option<js_sys::Function>,
    ) -> Result<WasmRag, JsError> {
        let docs = documents(docs)?;
        let embedder = embedder(weights, config, tokenizer)?;
        let mut report = |p: Progress| {
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
        };
        let built = crate::build_index(&docs, &embedder, &ChunkOptions::default(), &mut report).map_err(js_error)?;
        let rag = Rag::new(built.index, embedder).map_err(js_error)?;
        Ok(WasmRag { rag, pending: None, cancel: CancelFlag::default() })
    }

    /// Loads the generator from GGUF bytes; only `ask` needs it.
    #[wasm_bindgen(js_name = loadGenerator)]
    pub fn load_generator(&mut self, gguf: &[u8]) -> Result<(), JsError> {
        self.pending = None;
        self.rag.set_generator(Generator::from_gguf(gguf).map_err(js_error)?);
        Ok(())
    }

    /// Whether a generator is loaded.
    #[wasm_bindgen(getter, js_name = hasGenerator)]
    pub fn has_generator(&self) -> bool {
        self.rag.has_generator()
    }

    /// Number of passages in the index.
    #[wasm_bindgen(getter, js_name = passageCount)]
    pub fn passage_count(&self) -> usize {
        self.rag.index().len()
    }

    /// The `k` best passages: `[{url, title, headings, text, snippet: {text, highlights}, score, cosine, chunk}]`;
    /// highlight ranges are in UTF-16 code units, as JavaScript strings index.
    pub fn search(&self, query: &str, k: usize) -> Result<JsValue, JsError> {
        let mut hits = self.rag.search(query, k).map_err(js_error)?;
        for hit in &mut hits {
            let text = &hit.snippet.text;
            hit.snippet.highlights = hit.snippet.highlights.iter().map(|&(a, b)| (utf16(text, a), utf16(text, b))).collect();
        }
        to_js(&hits)
    }

    /// Retrieves sources and starts an answer; returns `{found, sources}`. Then call
    /// `nextToken()` until it returns `undefined`, then `finishAsk()`.
    #[wasm_bindgen(js_name = beginAsk)]
    pub fn begin_ask(&mut self, question: &str, options: JsValue) -> Result<JsValue, JsError> {
        let options: AskOptionsJs = if options.is_undefined() || options.is_null() { AskOptionsJs::default() } else { from_js(options, "ask options")? };
        self.pending = None;
        self.cancel = CancelFlag::default();
        let pending = self.rag.begin_ask(question, &options.into_options(self.cancel.clone())).map_err(js_error)?;
        #[derive(Serialize)]
        struct Begun<'a> {
            found: bool,
            sources: &'a [crate::Source],
        }
        let begun = to_js(&Begun { found: pending.found(), sources: pending.sources() })?;
        self.pending = Some(pending);
        Ok(begun)
    }

    /// The next piece of the answer (possibly empty), or `undefined` when it is complete.
    #[wasm_bindgen(js_name = nextToken)]
    pub fn next_token(&mut self) -> Result<Option<String>, JsError> {
        let pending = self.pending.as_mut().ok_or_else(|| JsError::new("no answer in progress; call beginAsk first"))?;
        self.rag.step(pending).map_err(js_error)
    }

    /// Stops the answer in progress after the current token.
    #[wasm_bindgen(js_name = cancelAsk)]
    pub fn cancel_ask(&self) {
        self.cancel.cancel();
    }

    /// The finished answer: `{answer, found, sources: [{n, url, title, headings, score, text, cited}],
    /// citations: [{start, end, source, cosine}], promptTokens, generatedTokens}`; citation
    /// ranges are in UTF-16 code units.
    #[wasm_bindgen(js_name = finishAsk)]
    pub fn finish_ask(&mut self) -> Result<JsValue, JsError> {
        let pending = self.pending.take().ok_or_else(|| JsError::new("no answer in progress; call beginAsk first"))?;
        let mut answer = self.rag.finish(pending).map_err(js_error)?;
        for c in &mut answer.citations {
            (c.start, c.end) = (utf16(&answer.answer, c.start), utf16(&answer.answer, c.end));
        }
        to_js(&answer)
    }

    /// The whole answer in one call, calling `onToken(piece)` for each piece; returning
    /// `false` from it cancels.
    pub fn ask(&mut self, question: &str, options: JsValue, on_token: &js_sys::Function) -> Result<JsValue, JsError> {
        self.begin_ask(question, options)?;
        while let Some(piece) = self.next_token()? {
            let keep_going = on_token.call1(&JsValue::NULL, &JsValue::from_str(&piece)).map_err(|e| {
                JsError::new(&format!("onToken threw: {}", e.as_string().unwrap_or_else(|| format!("{e:?}"))))
            })?;
            if keep_going == JsValue::FALSE {
                self.cancel_ask();
            }
        }
        self.finish_ask()
    }

    /// Adds `[{url, text, format?}]` (replacing pages with the same URL); returns the reasons
    /// documents were skipped. On error the index is unchanged.
    #[wasm_bindgen(js_name = addDocuments)]
    pub fn add_documents(&mut self, docs: JsValue) -> Result<JsValue, JsError> {
        let docs = documents(docs)?;
        let skipped_docs = self.rag.add_documents(&docs).map_err(js_error)?;
        to_js(&skipped(&skipped_docs))
    }

    /// Removes every passage of the given page URLs. On error the index is unchanged.
    #[wasm_bindgen(js_name = removeDocuments)]
    pub fn remove_documents(&mut self, urls: Vec<String>) -> Result<(), JsError> {
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        self.rag.remove_documents(&urls).map_err(js_error)
    }

    /// The current index as file bytes, e.g. to store after client-side changes.
    #[wasm_bindgen(js_name = exportIndex)]
    pub fn export_index(&self) -> Vec<u8> {
        self.rag.index().to_bytes()
    }
}

/// A generator on its own, for plain text generation (and benchmarks) without retrieval.
#[wasm_bindgen]
pub struct WasmGenerator {
    generator: Generator,
    generation: Option<crate::generate::Generation>,
}

#[wasm_bindgen]
impl WasmGenerator {
    /// Loads a llama-family GGUF model from its bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(gguf: &[u8]) -> Result<WasmGenerator, JsError> {
        Ok(WasmGenerator { generator: Generator::from_gguf(gguf).map_err(js_error)?, generation: None })
    }

    /// Starts generating after `prompt` (greedy); returns the prompt's length in tokens.
    /// `ignoreEndOfTurn` keeps going to `maxTokens`, for benchmarks.
    pub fn start(&mut self, prompt: &str, max_tokens: usize, ignore_end_of_turn: bool) -> Result<usize, JsError> {
        let options = GenerateOptions { max_tokens, ignore_end_of_turn, ..GenerateOptions::default() };
        let generation = self.generator.start(prompt, &options).map_err(js_error)?;
        let tokens = generation.prompt_tokens();
        self.generation = Some(generation);
        Ok(tokens)
    }

    /// The next piece of text (the first call also reads the prompt), or `undefined` at the end.
    pub fn step(&mut self) -> Result<Option<String>, JsError> {
        let generation = self.generation.as_mut().ok_or_else(|| JsError::new("call start first"))?;
        self.generator.step(generation).map_err(js_error)
    }

    /// Tokens generated so far by the current generation.
    #[wasm_bindgen(getter, js_name = generatedTokens)]
    pub fn generated_tokens(&self) -> usize {
        self.generation.as_ref().map_or(0, |g| g.generated_tokens().len())
    }
}
