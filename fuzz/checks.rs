//! What each fuzz target checks, shared by the targets (fuzz/fuzz_targets) and by the replay of
//! the saved corpus in `make test` (tests/fuzz_corpus.rs): typed errors or sound results for
//! any input, never a panic. Each target uses one of these, hence the allowance.
#![allow(dead_code)]

use wasmrag::chunk::chunk_document;
use wasmrag::index::{Index, FORMAT_VERSION, MAGIC};
use wasmrag::{ChunkOptions, Document, Embedder, Format, Generator};

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

/// The default embedder from the repository's `models/` (or `WASMRAG_MODELS`), for [`tokenizer`].
pub fn load_embedder() -> Embedder {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = here.ancestors().find(|d| d.join("Cargo.lock").exists() && d.join("src/lib.rs").exists()).unwrap_or(here);
    let dir = std::env::var("WASMRAG_MODELS").unwrap_or_else(|_| repo.join("models").display().to_string());
    let read = |f: &str| std::fs::read(format!("{dir}/all-MiniLM-L6-v2/{f}")).unwrap_or_else(|e| panic!("{dir}/all-MiniLM-L6-v2/{f}: {e}; run `make models`"));
    Embedder::from_bytes(&read("model.safetensors"), &read("config.json"), &read("tokenizer.json")).expect("embedder")
}
