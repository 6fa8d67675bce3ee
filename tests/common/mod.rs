//! Shared helpers for the integration tests, which run on the real default models.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod cut;
use wasmrag::{Document, Embedder, Format, Generator};

/// The models folder set up by `wasmrag models` (`make models`); tests fail, not skip,
/// without it.
pub fn models() -> PathBuf {
    let dir = std::env::var_os("WASMRAG_MODELS").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"));
    assert!(dir.join("all-MiniLM-L6-v2/model.safetensors").exists(), "models not found in {}: run `make models` first", dir.display());
    dir
}

/// `base` changed by `set`: how tests fill a few fields of the `#[non_exhaustive]` options.
pub fn with<T>(mut base: T, set: impl FnOnce(&mut T)) -> T {
    set(&mut base);
    base
}

pub fn read(rel: &str) -> Vec<u8> {
    let path = models().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn embedder() -> Embedder {
    Embedder::from_bytes(&read("all-MiniLM-L6-v2/model.safetensors"), &read("all-MiniLM-L6-v2/config.json"), &read("all-MiniLM-L6-v2/tokenizer.json"))
        .expect("load embedder")
}

/// The real MiniLM with its config cut to its first `layers` encoder layers (both loaders read
/// only the layers the config names), for tests that compare two engines vector for vector:
/// every kernel and shape at a fraction of the work. With `WASMRAG_FULL_MODELS` set
/// (`make test-full`) it is the whole model.
pub fn cut_embedder(layers: usize) -> Embedder {
    let config = cut_embedder_config(layers);
    Embedder::from_bytes(&read("all-MiniLM-L6-v2/model.safetensors"), &config, &read("all-MiniLM-L6-v2/tokenizer.json")).expect("load cut embedder")
}

/// The MiniLM config [`cut_embedder`] loads: `num_hidden_layers` set to `layers`, unless
/// `WASMRAG_FULL_MODELS` asks for the whole model.
pub fn cut_embedder_config(layers: usize) -> Vec<u8> {
    let bytes = read("all-MiniLM-L6-v2/config.json");
    if std::env::var_os("WASMRAG_FULL_MODELS").is_some() {
        return bytes;
    }
    let mut config: serde_json::Value = serde_json::from_slice(&bytes).expect("config.json");
    config["num_hidden_layers"] = layers.into();
    serde_json::to_vec(&config).expect("config json")
}

pub const GENERATOR: &str = "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q8_0.gguf";
pub const GENERATOR_ORIGINAL: &str = "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

pub fn generator() -> Generator {
    Generator::from_gguf(&read(GENERATOR)).expect("load generator")
}

/// A RAG prompt as `Rag::ask` builds it (system message, numbered evidence, question), over
/// one piece of evidence about Paris.
pub fn rag_prompt(question: &str) -> String {
    let evidence = [wasmrag::prompt::Block { context: "Paris".into(), text: "Paris is the capital and largest city of France.".into() }];
    wasmrag::prompt::build(question, &evidence, 10_000, &|t| t.split_whitespace().count()).text
}

/// Blocks kept by [`cut_generator`]: every kernel still runs, on a seventh of the layers.
pub const CUT_LAYERS: usize = 4;

/// The real SmolLM2 GGUF cut to its first `layers` transformer blocks (embedding, norms and
/// output head kept, tensors unchanged), for tests that compare two engines token for token:
/// the same kernels and shapes at a fraction of the work. With `WASMRAG_FULL_MODELS` set
/// (`make test-full`) it is the whole model.
pub fn cut_generator(layers: usize) -> Vec<u8> {
    let bytes = read(GENERATOR);
    if std::env::var_os("WASMRAG_FULL_MODELS").is_some() {
        return bytes;
    }
    cut::cut_gguf(&bytes, layers)
}

/// The Rust Book as installed by rustup's rust-docs component: real documents nobody here wrote.
pub fn book_dir() -> PathBuf {
    let out = std::process::Command::new("rustc").args(["--print", "sysroot"]).output().expect("rustc");
    let sysroot = String::from_utf8(out.stdout).expect("utf8").trim().to_string();
    let dir = PathBuf::from(sysroot).join("share/doc/rust/html/book");
    assert!(dir.join("ch04-01-what-is-ownership.html").exists(), "Rust Book not found at {}", dir.display());
    dir
}

/// A few chapters of the Rust Book, enough for distinct topics and quick to embed.
pub const BOOK_PAGES: &[&str] =
    &["ch04-01-what-is-ownership.html", "ch04-02-references-and-borrowing.html", "ch08-03-hash-maps.html", "ch15-01-box.html", "ch16-01-threads.html"];

pub fn book_documents() -> Vec<Document> {
    let dir = book_dir();
    BOOK_PAGES.iter().map(|p| Document { url: p.to_string(), format: Format::Html, bytes: std::fs::read(dir.join(p)).expect("read page") }).collect()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}
