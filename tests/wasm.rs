//! The wasm bindings in headless Chromium (wasm-bindgen-test with Debian's chromedriver),
//! on the real models served from 127.0.0.1 by scripts/test-wasm.sh: the same index and
//! query give the native CLI's result, bad bytes give JS Errors, answers stream. The WebGPU
//! engine's tests are the `gpu` module (tests/wasm/gpu.rs), in this binary to save a build.
#![cfg(target_arch = "wasm32")]

use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use wasmrag::wasm::models::WasmRag;

mod browser;
#[path = "common/cut.rs"]
mod cut;
#[path = "wasm/gpu.rs"]
mod gpu;

use browser::fetch;

wasm_bindgen_test_configure!(run_in_browser);

struct Models {
    weights: Vec<u8>,
    config: Vec<u8>,
    tokenizer: Vec<u8>,
}

async fn models() -> Models {
    Models {
        weights: fetch("models/all-MiniLM-L6-v2/model.safetensors").await,
        config: fetch("models/all-MiniLM-L6-v2/config.json").await,
        tokenizer: fetch("models/all-MiniLM-L6-v2/tokenizer.json").await,
    }
}

async fn rag(m: &Models) -> WasmRag {
    let index = fetch("target/wasm-fixture/fixture.idx").await;
    WasmRag::new(&index, &bytes(&m.weights), &m.config, &m.tokenizer).map_err(JsValue::from).expect("load")
}

/// Bytes as a JavaScript `Uint8Array`, as the worker passes model files.
fn bytes(b: &[u8]) -> js_sys::Uint8Array {
    js_sys::Uint8Array::from(b)
}

/// A JS value as page code writes it: plain objects, not `Map`s.
fn js(value: serde_json::Value) -> JsValue {
    use serde::Serialize;
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).expect("to js")
}

/// A failed call's JS `Error` as "code: message".
fn message<T>(result: Result<T, wasmrag::wasm::Failure>) -> String {
    let error: js_sys::Error = JsValue::from(result.err().expect("must fail")).dyn_into().expect("a JS Error");
    let code = js_sys::Reflect::get(&error, &"code".into()).expect("code").as_string().expect("a string code");
    format!("{code}: {}", String::from(error.message()))
}

#[derive(Deserialize, Debug)]
struct Hit {
    url: String,
    score: f32,
    cosine: f32,
}

#[wasm_bindgen_test]
async fn search_matches_the_native_cli() {
    let m = models().await;
    let rag = rag(&m).await;
    #[derive(Deserialize)]
    struct Expected {
        hits: Vec<Hit>,
    }
    let expected: Expected = serde_json::from_slice(&fetch("target/wasm-fixture/expected.json").await).expect("expected json");
    let expected = &expected.hits[..5.min(expected.hits.len())];
    let hits: Vec<Hit> = serde_wasm_bindgen::from_value(rag.search("What is ownership?", 5).map_err(JsValue::from).expect("search")).expect("hits");
    assert_eq!(hits.len(), expected.len());
    for (ours, native) in hits.iter().zip(expected) {
        assert_eq!(ours.url, native.url);
        assert!((ours.score - native.score).abs() < 1e-5, "{ours:?} vs {native:?}");
        assert!((ours.cosine - native.cosine).abs() < 1e-3, "{ours:?} vs {native:?}");
    }
    // The extract is a sentence of the hit it names, its range in UTF-16 code units.
    let found: serde_json::Value =
        serde_wasm_bindgen::from_value(rag.search_extract("What is ownership?", 3).map_err(JsValue::from).expect("searchExtract")).expect("json");
    let extract = &found["extract"];
    let hit = &found["hits"][extract["source"].as_u64().expect("source") as usize - 1];
    let units: Vec<u16> = hit["text"].as_str().expect("text").encode_utf16().collect();
    let (start, end) = (extract["start"].as_u64().unwrap() as usize, extract["end"].as_u64().unwrap() as usize);
    assert_eq!(String::from_utf16(&units[start..end]).unwrap(), extract["text"].as_str().unwrap());
    assert!(extract["text"].as_str().unwrap().to_lowercase().contains("ownership"), "{extract}");
}

/// The int8 embedder (the package's default) in WebAssembly: the cosines the native CLI gets
/// with it (the browser runs the SIMD kernels, natively the scalar ones: the linear layers agree
/// bit for bit, the attention's f32 matmuls do not, hence 1e-3), and the same top results as
/// the f32 model the fixture index was built with, cosines within int8 error.
#[wasm_bindgen_test]
async fn the_int8_embedder_searches_like_the_f32_one() {
    let m = models().await;
    let index = fetch("target/wasm-fixture/fixture.idx").await;
    let int8 = fetch("models/all-MiniLM-L6-v2/model.q8_0.gguf").await;
    let f32_rag = rag(&m).await;
    let int8_rag = WasmRag::new(&index, &bytes(&int8), &m.config, &m.tokenizer).map_err(JsValue::from).expect("load int8");
    let native: serde_json::Value = serde_json::from_slice(&fetch("target/wasm-fixture/expected-int8.json").await).expect("expected json");
    let native: Vec<Hit> = serde_json::from_value(native["hits"].clone()).expect("hits");
    let ours: Vec<Hit> = serde_wasm_bindgen::from_value(int8_rag.search("What is ownership?", 5).map_err(JsValue::from).expect("search")).expect("hits");
    assert_eq!(ours.len(), native.len().min(5));
    for (ours, native) in ours.iter().zip(&native) {
        assert_eq!(ours.url, native.url);
        assert!((ours.cosine - native.cosine).abs() < 1e-3, "{ours:?} vs {native:?}");
    }
    for query in ["What is ownership?", "How do I borrow a value mutably?"] {
        let a: Vec<Hit> = serde_wasm_bindgen::from_value(f32_rag.search(query, 3).map_err(JsValue::from).expect("search")).expect("hits");
        let b: Vec<Hit> = serde_wasm_bindgen::from_value(int8_rag.search(query, 3).map_err(JsValue::from).expect("search")).expect("hits");
        assert_eq!(a[0].url, b[0].url, "{query}");
        for (x, y) in a.iter().zip(&b).filter(|(x, y)| x.url == y.url) {
            assert!((x.cosine - y.cosine).abs() < 0.02, "{query}: {x:?} vs {y:?}");
        }
    }
}

#[wasm_bindgen_test]
async fn bad_bytes_give_js_errors() {
    let m = models().await;
    assert!(message(WasmRag::new(b"garbage", &bytes(&m.weights), &m.config, &m.tokenizer)).starts_with("index_corrupt: not a wasmrag index"));
    let index = fetch("target/wasm-fixture/fixture.idx").await;
    let mut truncated = index.clone();
    truncated.truncate(index.len() - 100);
    assert!(message(WasmRag::new(&truncated, &bytes(&m.weights), &m.config, &m.tokenizer)).starts_with("index_corrupt: index file is truncated"));
    assert!(message(WasmRag::new(&index, &bytes(b"nope"), &m.config, &m.tokenizer)).starts_with("model_invalid: embedder weights"));
    let mut rag = rag(&m).await;
    assert!(message(rag.load_generator(b"not a model")).starts_with("model_invalid: not a GGUF"));
    assert!(message(rag.load_generator(&m.weights)).contains("not a GGUF"));
    assert!(message(rag.search("  ", 3)).starts_with("empty_query: the query is empty"));
    assert!(message(rag.begin_ask("What is ownership?", JsValue::UNDEFINED)).starts_with("no_generator: no generator"));
    let misspelt = message(rag.begin_ask("What is ownership?", js(serde_json::json!({ "maxTokenz": 8 }))));
    assert!(misspelt.starts_with("invalid_option: ") && misspelt.contains("unknown field") && misspelt.contains("maxTokenz"), "{misspelt}");
    let out_of_range = message(rag.begin_ask("What is ownership?", js(serde_json::json!({ "sources": 1e9 }))));
    assert!(out_of_range.starts_with("invalid_option: ") && out_of_range.contains("`sources` must be between 1 and"), "{out_of_range}");
    assert!(message(rag.next_token()).starts_with("invalid_state: no answer in progress"));
    assert!(message(rag.add_documents(JsValue::from_str("nope"))).starts_with("invalid_option: invalid documents"));
    // The instance still works after every error.
    assert!(rag.search("ownership", 1).is_ok());
}

#[wasm_bindgen_test]
async fn documents_added_in_the_page_survive_export() {
    let m = models().await;
    let mut rag = rag(&m).await;
    let before = rag.passage_count();
    let docs = js(serde_json::json!([
        {"url": "faq.md", "text": "# FAQ\n\n## Mascot {#mascot}\n\nThe mascot is a striped zebra named Ferrisa."}
    ]));
    rag.add_documents(docs).map_err(JsValue::from).expect("add");
    assert_eq!(rag.passage_count(), before + 1);
    let exported = rag.export_index();
    let reloaded = WasmRag::new(&exported, &bytes(&m.weights), &m.config, &m.tokenizer).map_err(JsValue::from).expect("reload");
    let hits: Vec<Hit> =
        serde_wasm_bindgen::from_value(reloaded.search("what animal is the mascot?", 1).map_err(JsValue::from).expect("search")).expect("hits");
    assert_eq!(hits[0].url, "faq.md#mascot");
}

#[wasm_bindgen_test]
async fn ask_streams_through_a_callback_and_cancels() {
    let m = models().await;
    let mut rag = rag(&m).await;
    rag.load_generator(&fetch("models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q8_0.gguf").await).map_err(JsValue::from).expect("generator");
    let pieces = js_sys::Array::new();
    let sink = pieces.clone();
    let on_token = wasm_bindgen::closure::Closure::<dyn FnMut(String) -> bool>::new(move |piece: String| {
        sink.push(&JsValue::from_str(&piece));
        sink.length() < 5
    });
    let options = js(serde_json::json!({"maxTokens": 40, "sources": 2}));
    let answer = rag.ask("What are the ownership rules?", options, on_token.as_ref().unchecked_ref()).map_err(JsValue::from).expect("ask");
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        answer: String,
        found: bool,
        generated_tokens: usize,
        sources: Vec<Source>,
    }
    #[derive(Deserialize)]
    struct Source {
        url: String,
    }
    let answer: Answer = serde_wasm_bindgen::from_value(answer).expect("answer");
    assert!(answer.found);
    // Returning false cancels after that token; the grounded rest of the answer (or the
    // extract it falls back to) can still follow in up to two pieces.
    assert!((5..=7).contains(&pieces.length()), "{} pieces", pieces.length());
    assert!(answer.generated_tokens <= 6, "{}", answer.generated_tokens);
    let streamed: String = pieces.iter().filter_map(|p| p.as_string()).collect();
    assert_eq!(streamed.trim(), answer.answer);
    assert!(answer.sources[0].url.starts_with("ch04-01-what-is-ownership.html#"));
    assert!(answer.sources.len() <= 2);
}

/// A reproducible source of values: `random(n, scale)` gives `n` of them in `±scale / 2`
/// (xorshift from `seed`), for the kernels' bit-for-bit tests.
fn random_values(mut state: u64) -> impl FnMut(usize, f32) -> Vec<f32> {
    move |n, scale| {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
            })
            .collect()
    }
}

/// Our Q8_0 matmul for the generator gives candle's products bit for bit (the WebGPU decoder
/// follows candle's order), for a decode row, a prefill of an odd number of tokens, and a
/// row count that leaves outputs after the last group of four; its table rows are candle's.
#[wasm_bindgen_test]
fn q8_matmul_equals_candles_bit_for_bit() {
    use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
    use candle_core::{Device, Module, Tensor};
    use wasmrag::generate::q8::Q8Matrix;
    let mut random = random_values(0x2545f4914f6cdd1d);
    let (outputs, inputs) = (19, 96);
    let weights = Tensor::from_vec(random(outputs * inputs, 0.2), (outputs, inputs), &Device::Cpu).unwrap();
    let quantized = QTensor::quantize(&weights, GgmlDType::Q8_0).unwrap();
    let ours = Q8Matrix::from_qtensor(&quantized).unwrap().expect("a Q8_0 matrix");
    let candle = QMatMul::from_qtensor(quantized).unwrap();
    for tokens in [1, 2, 5] {
        // Values with halves after scaling (zeros, repeats) test the rounding too.
        let mut x = random(tokens * inputs, 8.0);
        x[3] = 0.0;
        x[inputs - 1] = x[inputs - 2];
        let x = Tensor::from_vec(x, (1, tokens, inputs), &Device::Cpu).unwrap();
        let expected = candle.forward(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let got = ours.forward(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{tokens} tokens");
    }
    let table = QTensor::quantize(&weights, GgmlDType::Q8_0).unwrap();
    let ids = Tensor::new(&[[3u32, 0, 18]], &Device::Cpu).unwrap();
    let expected = table.embedding(&ids).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(ours.rows(&[3, 0, 18]).unwrap(), expected);
    assert!(ours.rows(&[19]).is_err(), "a token past the table is an error");
}

/// Our Q4_1 matmul (the format SmolLM2 is published in) gives candle's products bit for bit:
/// whole groups of four rows and the rows after them, a tile of two tokens and one alone.
#[wasm_bindgen_test]
fn q4_1_matmul_equals_candles_bit_for_bit() {
    use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
    use candle_core::{Device, Module, Tensor};
    use wasmrag::generate::q4::Q4Matrix;
    let mut random = random_values(0x9e3779b97f4a7c15);
    let (outputs, inputs) = (19, 128);
    let weights = Tensor::from_vec(random(outputs * inputs, 0.2), (outputs, inputs), &Device::Cpu).unwrap();
    let quantized = QTensor::quantize(&weights, GgmlDType::Q4_1).unwrap();
    let ours = Q4Matrix::from_qtensor(&quantized).unwrap().expect("a Q4_1 matrix");
    let candle = QMatMul::from_qtensor(quantized).unwrap();
    let q8 = QTensor::quantize(&weights, GgmlDType::Q8_0).unwrap();
    assert!(Q4Matrix::from_qtensor(&q8).unwrap().is_none(), "not a Q4_1 matrix");
    for tokens in [1, 2, 5] {
        // Values with halves after scaling (zeros, repeats) test the rounding too; large ones
        // make block sums past 2048, which f16 cannot hold exactly.
        let mut x = random(tokens * inputs, 8.0);
        x[3] = 0.0;
        x[inputs - 1] = x[inputs - 2];
        for v in &mut x[32..64] {
            *v = v.abs() + 3.0;
        }
        let x = Tensor::from_vec(x, (1, tokens, inputs), &Device::Cpu).unwrap();
        let expected = candle.forward(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let got = ours.forward(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{tokens} tokens");
    }
}
