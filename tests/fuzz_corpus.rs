//! Replays the fuzzers' saved corpus (fuzz/corpus/<target>) and every finding kept as a
//! regression input (fuzz/regressions/<target>) through the same checks as the fuzz targets,
//! so `make test` guards what fuzzing found without a nightly toolchain.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;
use wasmrag::Format;

/// Every input saved for `target`, with its file name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut found = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
        for e in entries.flatten() {
            found.push((e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read input")));
        }
    }
    assert!(found.len() >= 5, "fuzz/corpus/{target} holds the saved corpus; found {} inputs", found.len());
    found
}

fn replay(target: &str, check: impl Fn(&[u8])) {
    for (name, data) in inputs(target) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data))).is_err() {
            panic!("fuzz input {target}/{name} fails its check");
        }
    }
}

#[test]
fn index_corpus() {
    replay("index", checks::index);
}

#[test]
fn shards_corpus() {
    replay("shards", checks::shards);
    // The seeds reach past the frames: the whole index, packed plain or sealed, loads and searches.
    for seed in ["whole", "whole-sealed"] {
        let data = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/shards").join(seed)).expect("seed");
        let files = checks::unpack_shards(&data);
        let mut index = wasmrag::index::shards::ShardedIndex::open(&files[0].1).expect(seed);
        assert_eq!(files.len(), 1 + index.files().count(), "{seed}");
        for (path, bytes) in &files[1..] {
            index.load(path, bytes).expect(path);
        }
        let hits = index.bm25_search("a move transfers ownership", 3).expect(seed);
        assert!(!hits.is_empty() && index.passage(hits[0].0).is_ok(), "{seed}");
    }
}

#[test]
fn gguf_corpus() {
    replay("gguf", checks::gguf);
}

#[test]
fn html_corpus() {
    replay("html", |d| checks::chunk(d, Format::Html));
}

#[test]
fn markdown_corpus() {
    replay("markdown", |d| checks::chunk(d, Format::Markdown));
}

#[test]
fn tokenizer_corpus() {
    let embedder = checks::load_embedder();
    replay("tokenizer", |d| checks::tokenizer(&embedder, d));
}

#[test]
fn messages_corpus() {
    replay("messages", checks::messages);
}

#[test]
fn embedder_corpus() {
    let files = checks::embedder_files();
    replay("embedder", |d| checks::embedder(&files, d));
}
