//! The embedder on the real all-MiniLM-L6-v2, checked against sentence-transformers.

mod common;

use common::{cosine, embedder, read};
use wasmrag::{EmbedError, Embedder};

#[derive(serde::Deserialize)]
struct Reference {
    max_seq_length: usize,
    sentences: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/minilm_reference.json");
    serde_json::from_slice(&std::fs::read(path).expect("reference file")).expect("reference json")
}

#[test]
fn matches_sentence_transformers() {
    let r = reference();
    assert_eq!(r.max_seq_length, wasmrag::embed::MAX_TOKENS);
    let e = embedder();
    assert_eq!(e.dim(), 384);
    let texts: Vec<&str> = r.sentences.iter().map(String::as_str).collect();
    let batched = e.embed(&texts).unwrap();
    for (i, (ours, theirs)) in batched.iter().zip(&r.vectors).enumerate() {
        let c = cosine(ours, theirs);
        assert!(c >= 0.9999, "sentence {i} {:?}: cosine {c}", &r.sentences[i]);
        let norm: f32 = ours.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
    // One at a time (no padding) gives the same vectors as the padded batch.
    for (text, v) in texts.iter().zip(&batched) {
        assert!(cosine(&e.embed_one(text).unwrap(), v) >= 0.99999);
    }
}

#[test]
fn long_texts_are_truncated_like_sentence_transformers() {
    let r = reference();
    let long = r.sentences.last().unwrap();
    let e = embedder();
    assert!(e.count_tokens(long) > 256, "the reference's long sentence must exceed the window");
    let longer = format!("{long} and then a completely different ending about cooking pasta");
    // Words past the window change nothing.
    assert!(cosine(&e.embed_one(long).unwrap(), &e.embed_one(&longer).unwrap()) > 0.99999);
}

#[test]
fn meaning_beats_wording() {
    let e = embedder();
    let v = e.embed(&["How do I read a file?", "Opening and reading the contents of a file", "The capital of France"]).unwrap();
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.2);
}

#[test]
fn wrong_files_give_typed_errors() {
    let weights = read("all-MiniLM-L6-v2/model.safetensors");
    let config = read("all-MiniLM-L6-v2/config.json");
    let tokenizer = read("all-MiniLM-L6-v2/tokenizer.json");
    let err = |r: Result<Embedder, EmbedError>| r.err().expect("must fail");
    assert!(matches!(err(Embedder::from_bytes(b"not safetensors", &config, &tokenizer)), EmbedError::Weights(_)));
    assert!(matches!(err(Embedder::from_bytes(&weights[..1000], &config, &tokenizer)), EmbedError::Weights(_)));
    assert!(matches!(err(Embedder::from_bytes(&weights, b"{}", &tokenizer)), EmbedError::Config(_)));
    assert!(matches!(err(Embedder::from_bytes(&weights, &config, b"{\"not\": 1}")), EmbedError::Tokenizer(_)));
    let zero_heads = String::from_utf8(config.clone()).unwrap().replace("\"num_attention_heads\": 12", "\"num_attention_heads\": 0");
    assert!(matches!(err(Embedder::from_bytes(&weights, zero_heads.as_bytes(), &tokenizer)), EmbedError::Config(_)));
    let wider = String::from_utf8(config).unwrap().replace("\"hidden_size\": 384", "\"hidden_size\": 768");
    assert!(matches!(err(Embedder::from_bytes(&weights, wider.as_bytes(), &tokenizer)), EmbedError::Weights(_)));
    // The GGUF generator is not an embedder.
    let gguf = read(common::GENERATOR);
    assert!(matches!(err(Embedder::from_bytes(&gguf, &read("all-MiniLM-L6-v2/config.json"), &tokenizer)), EmbedError::Weights(_)));
}

#[test]
fn fingerprint_identifies_the_model() {
    let a = embedder();
    assert_eq!(a.fingerprint(), embedder().fingerprint());
    assert_eq!(a.fingerprint().len(), 16);
}

#[test]
fn the_int8_model_matches_sentence_transformers_at_a_quarter_of_the_size() {
    let r = reference();
    let weights = read("all-MiniLM-L6-v2/model.safetensors");
    let int8 = wasmrag::embed::quantized::quantize(&weights).unwrap();
    let ratio = int8.len() as f64 / weights.len() as f64;
    assert!(ratio < 0.28, "int8 file is {} bytes, {ratio:.3} of f32", int8.len());
    let e = Embedder::from_bytes(&int8, &read("all-MiniLM-L6-v2/config.json"), &read("all-MiniLM-L6-v2/tokenizer.json")).unwrap();
    assert_eq!(e.fingerprint(), embedder().fingerprint(), "the same model: indexes work with either");
    let texts: Vec<&str> = r.sentences.iter().map(String::as_str).collect();
    let vectors = e.embed(&texts).unwrap();
    let cosines: Vec<f32> = vectors.iter().zip(&r.vectors).map(|(a, b)| cosine(a, b)).collect();
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    let min = cosines.iter().copied().fold(f32::MAX, f32::min);
    eprintln!("int8 against sentence-transformers: mean cosine {mean:.5}, min {min:.5}, {} bytes", int8.len());
    assert!(mean >= 0.995 && min >= 0.99, "mean {mean}, min {min}");
    // A damaged file is a typed error, not a panic.
    assert!(matches!(
        Embedder::from_bytes(&int8[..int8.len() / 2], &read("all-MiniLM-L6-v2/config.json"), &read("all-MiniLM-L6-v2/tokenizer.json")),
        Err(EmbedError::Weights(_))
    ));
    // Read through a reader (as a page reads it from JavaScript memory, tensor by tensor), the
    // same model gives the same vectors, and a cut file the same error.
    let through = |bytes: &[u8]| {
        Embedder::from_reader(
            &mut std::io::Cursor::new(bytes),
            bytes.len() as u64,
            &read("all-MiniLM-L6-v2/config.json"),
            &read("all-MiniLM-L6-v2/tokenizer.json"),
        )
    };
    assert_eq!(through(&int8).unwrap().embed(&texts).unwrap(), vectors);
    assert!(matches!(through(&int8[..int8.len() / 2]), Err(EmbedError::Weights(_))));
    assert!(matches!(through(&int8[..3]), Err(EmbedError::Weights(_))), "too short for the magic: read as safetensors, refused");
}

/// Recent embeddings are reused: texts seen before come back as they were embedded, new ones
/// are embedded alongside, and order and duplicates are kept.
#[test]
fn recent_embeddings_are_reused_in_order() {
    let e = embedder();
    let recent = wasmrag::embed::Recent::default();
    let first = recent.embed(&e, &["What is ownership?", "Each value has an owner."]).unwrap();
    let second = recent.embed(&e, &["A move transfers ownership.", "What is ownership?", "A move transfers ownership."]).unwrap();
    assert_eq!(second.len(), 3);
    assert_eq!(second[1], first[0], "a kept vector comes back unchanged");
    assert_eq!(second[0], second[2]);
    let alone = e.embed_one("A move transfers ownership.").unwrap();
    assert!(cosine(&second[0], &alone) > 0.9999);
    assert!(cosine(&first[1], &e.embed_one("Each value has an owner.").unwrap()) > 0.9999);
}
