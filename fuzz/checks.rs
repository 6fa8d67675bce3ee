//! What each fuzz target checks, shared by the targets (fuzz/fuzz_targets) and by the replay of
//! the saved corpus in `make test` (tests/fuzz_corpus.rs): typed errors or sound results for
//! any input, never a panic. Each target uses one of these, hence the allowance.
#![allow(dead_code)]

use wasmrag::chunk::chunk_document;
use wasmrag::index::shards::ShardedIndex;
use wasmrag::index::{Index, FORMAT_VERSION, MAGIC};
use wasmrag::messages::{check_fields, AskMessage, DocumentMessage, ASK_FIELDS, DOCUMENT_FIELDS, MAX_SOURCES};
use wasmrag::sample::Draw;
use wasmrag::sharded::Round;
use wasmrag::RetrieveOptions;
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

/// The files of a sharded index packed in one input: records of a flag byte, a path (one byte
/// of length, then the path), a body (four bytes of length, little-endian, then the body). The
/// first record is the entry. A record whose flag is odd is sealed: its first 12 bytes (magic
/// and version) are kept and the rest gets a valid length and CRC-32, so inputs reach the
/// field checks. A cut record ends the list.
pub fn unpack_shards(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut rest = data;
    while let [flag, path_len, tail @ ..] = rest {
        let Some((path, tail)) = tail.split_at_checked(*path_len as usize) else { break };
        let Some((len, tail)) = tail.split_first_chunk::<4>() else { break };
        let Some((body, tail)) = tail.split_at_checked((u32::from_le_bytes(*len) as usize).min(tail.len())) else { break };
        let body = if flag % 2 == 1 && body.len() >= 12 {
            let mut file = body[..12].to_vec();
            file.extend((body.len() as u64 - 12).to_le_bytes());
            file.extend(&body[12..]);
            let crc = crc32fast::hash(&file);
            file.extend(crc.to_le_bytes());
            file
        } else {
            body.to_vec()
        };
        files.push((String::from_utf8_lossy(path).into_owned(), body));
        rest = tail;
    }
    files
}

/// The sharded index reader: an entry, then any files loaded into it; whatever was accepted
/// must search (keyword, dense, hybrid, and in rounds) and give the passages of its hits or a
/// typed error.
pub fn shards(data: &[u8]) {
    let files = unpack_shards(data);
    let Some(((_, entry), rest)) = files.split_first() else { return };
    let Ok(mut index) = ShardedIndex::open(entry) else { return };
    let query = "the owner of a value";
    let vector = vec![0.05; index.info().dim];
    let _ = index.needed(query, Some(&vector), &RetrieveOptions::default());
    for (path, bytes) in rest {
        let _ = index.load(path, bytes);
    }
    let mut ids: Vec<u32> = index.bm25_search(query, 5).unwrap_or_default().into_iter().map(|(id, _)| id).collect();
    ids.extend(index.dense_search(&vector, 5).unwrap_or_default().into_iter().map(|(id, _)| id));
    if let Ok(hits) = index.retrieve(query, &vector, &RetrieveOptions::default()) {
        ids.extend(hits.iter().map(|h| h.chunk));
    }
    let _ = index.needed_passages(&ids);
    let _ = index.needed_vectors(&ids);
    for id in ids {
        assert!((id as usize) < index.len(), "hit {id} of {}", index.len());
        let _ = index.passage(id);
        let _ = index.vector(id);
        let _ = index.cosine(id, &vector);
    }
    // A round as the browser runs it, keyword and hybrid: results, or files still to load.
    for v in [None, Some(&vector[..])] {
        match wasmrag::sharded::search(&index, query, v, 5) {
            Ok(Round::Found(hits)) => assert!(hits.len() <= 5, "{} hits for k = 5", hits.len()),
            Ok(Round::Needs(files)) => assert!(!files.is_empty(), "a round that needs files names one"),
            Err(_) => {}
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
