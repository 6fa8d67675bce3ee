//! What each fuzz target checks, shared by the targets (fuzz/fuzz_targets) and by the replay of
//! the saved corpus in `make test` (tests/fuzz_corpus.rs): typed errors or sound results for
//! any input, never a panic. Each target uses one of these, hence the allowance.
#![allow(dead_code)]

use wasmrag::chunk::chunk_document;
use wasmrag::index::{Index, FORMAT_VERSION, MAGIC};
use wasmrag::messages::{check_fields, AskMessage, DocumentMessage, ASK_FIELDS, DOCUMENT_FIELDS, MAX_SOURCES};
use wasmrag::sample::Draw;
use wasmrag::{CancelFlag, ChunkOptions, Document, Embedder, Format, Generator};

/// `body` in a valid index envelope (magic, version, length, CRC-32), so inputs get past the
/// checksum to the decoder's field checks.
fn sealed(body: &[u8]) -> Vec<u8> {
    let mut file = MAGIC.to_vec();
    file.extend(FORMAT_VERSION.to_le_bytes());
    file.extend((body.len() as u64).to_le_bytes());
    file.extend(body);
    let crc = crc32fast::hash(&file);
    file.extend(crc.to_le_bytes());
    file
}

/// The index decoder, on the bytes and on the bytes sealed; a decoded index must search and
/// survive re-encoding.
pub fn index(data: &[u8]) {
    for bytes in [data.to_vec(), sealed(data)] {
        if let Ok(index) = Index::from_bytes(&bytes) {
            let _ = index.bm25_search("the owner of a value", 5);
            let _ = index.dense_search(&vec![0.05; index.info().dim], 5);
            assert_eq!(Index::from_bytes(&index.to_bytes()).map(|i| i.len()), Ok(index.len()));
        }
    }
}

/// Loading a generator through candle's GGUF reader and our checks.
pub fn gguf(data: &[u8]) {
    if let Ok(generator) = Generator::from_gguf(data) {
        let _ = generator.count_tokens("What is ownership?");
    }
}

/// A chunker on the bytes as a document of `format`: skipped with a typed error, or passages
/// with text and the page's URL.
pub fn chunk(data: &[u8], format: Format) {
    let doc = Document { url: "page".into(), format, bytes: data.to_vec() };
    let words = |t: &str| t.split_whitespace().count();
    if let Ok(chunks) = chunk_document(&doc, &ChunkOptions::default(), &words) {
        for c in chunks {
            assert!(!c.text.trim().is_empty(), "an empty passage");
            assert!(c.url.starts_with("page"), "{}", c.url);
        }
    }
}

/// The worker's request decoding on any JSON: as `ask` options (names checked as the wasm
/// boundary checks them, then values) and as documents. Accepted options are in range and a
/// draw with their sampling settings picks a real token; accepted documents chunk.
pub fn messages(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let names = |allowed| value.as_object().is_none_or(|o| check_fields("request", o.keys().map(String::as_str), allowed).is_ok());
    if let Ok(message) = serde_json::from_value::<AskMessage>(value.clone()) {
        assert!(names(ASK_FIELDS), "serde took a field the name check refuses: {value}");
        if let Ok(options) = message.into_options(CancelFlag::default()) {
            assert!((1..=MAX_SOURCES).contains(&options.sources), "{}", options.sources);
            let g = &options.generate;
            if g.temperature > 0.0 {
                let draw = Draw { temperature: g.temperature as f32, top_p: g.top_p.map_or(1.0, |p| p as f32), seed: g.seed, position: 7 };
                let logits: Vec<f32> = (0..300).map(|i| ((i * 37) % 101) as f32 / 7.0 - 5.0).collect();
                assert!((draw.pick(&logits) as usize) < logits.len(), "{draw:?}");
            }
        }
    }
    let docs = match &value {
        serde_json::Value::Array(items) => items.clone(),
        one => vec![one.clone()],
    };
    for item in docs {
        if let Ok(doc) = serde_json::from_value::<DocumentMessage>(item.clone()) {
            assert!(item.as_object().is_none_or(|o| check_fields("document", o.keys().map(String::as_str), DOCUMENT_FIELDS).is_ok()));
            if let Ok(doc) = doc.into_document() {
                let words = |t: &str| t.split_whitespace().count();
                let _ = chunk_document(&doc, &ChunkOptions::default(), &words);
            }
        }
    }
}

/// The embedder's tokenizer on any text (the bytes, lossily): counted, and short texts embedded
/// to a vector of the model's width (the model runs, so only where odd characters are dense).
pub fn tokenizer(embedder: &Embedder, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = embedder.count_tokens(&text);
    if data.len() <= 24 {
        let v = embedder.embed_one(&text).expect("any text embeds");
        assert_eq!(v.len(), embedder.dim());
    }
}

/// The int8 embedder's loading (our GGUF checks, then candle's reader; bytes without the GGUF
/// magic go to the safetensors reader) on any bytes, with the real config and tokenizer: a
/// typed error, or an embedder whose vectors, if it computes any, have the model's width.
pub fn embedder(files: &EmbedderFiles, data: &[u8]) {
    if let Ok(e) = Embedder::from_bytes(data, &files.config, &files.tokenizer) {
        if let Ok(v) = e.embed_one("Each value has an owner.") {
            assert_eq!(v.len(), e.dim());
        }
    }
}

/// The default embedder's files from the repository's `models/` (or `WASMRAG_MODELS`).
pub struct EmbedderFiles {
    /// `model.safetensors`.
    pub weights: Vec<u8>,
    /// `config.json`.
    pub config: Vec<u8>,
    /// `tokenizer.json`.
    pub tokenizer: Vec<u8>,
}

/// Reads [`EmbedderFiles`]; panics with a hint when the models are not set up.
pub fn embedder_files() -> EmbedderFiles {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = here.ancestors().find(|d| d.join("Cargo.lock").exists() && d.join("src/lib.rs").exists()).unwrap_or(here);
    let dir = std::env::var("WASMRAG_MODELS").unwrap_or_else(|_| repo.join("models").display().to_string());
    let read = |f: &str| std::fs::read(format!("{dir}/all-MiniLM-L6-v2/{f}")).unwrap_or_else(|e| panic!("{dir}/all-MiniLM-L6-v2/{f}: {e}; run `make models`"));
    EmbedderFiles { weights: read("model.safetensors"), config: read("config.json"), tokenizer: read("tokenizer.json") }
}

/// The default embedder, for [`tokenizer`].
pub fn load_embedder() -> Embedder {
    let f = embedder_files();
    Embedder::from_bytes(&f.weights, &f.config, &f.tokenizer).expect("embedder")
}
