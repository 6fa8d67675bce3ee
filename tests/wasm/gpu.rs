//! The WebGPU engine in headless Chromium (wasm-bindgen-test with Debian's chromedriver and
//! `--enable-unsafe-webgpu`, so SwiftShader's adapter): the WGSL compiles in Chromium, the real
//! SmolLM2 on WebGPU computes the wasm CPU path's logits bit for bit (the kernels follow its
//! rounding), so greedy answers are the same token for token, and `auto` routing declines the
//! software adapter; the BERT encoder on WebGPU gives the CPU's vectors. The generator is cut to
//! its first [`CUT_LAYERS`] blocks (the whole model when built with `WASMRAG_FULL_MODELS` set,
//! as `make test-full` does). Part of tests/wasm.rs's binary, so one build and one browser
//! session serve both.

use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;
use wasmrag::generate::Adjust;
use wasmrag::gpu::{Gpu, GpuDecoder, GpuError};
use wasmrag::prompt::chatml;
use wasmrag::wasm::bench::{WasmEmbedder, WasmGenerator};
use wasmrag::wasm::models::WasmRag;
use wasmrag::{GenerateOptions, Generator};

use crate::browser::fetch;
use crate::cut;

const MODEL: &str = "models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q8_0.gguf";

/// Blocks of the generator kept: eight of thirty, so the logits test still reaches layer 7.
const CUT_LAYERS: usize = 8;

/// The generator the tests run: the real SmolLM2, cut unless `WASMRAG_FULL_MODELS` was set at build time.
async fn generator_gguf() -> Vec<u8> {
    let gguf = fetch(MODEL).await;
    if option_env!("WASMRAG_FULL_MODELS").is_some() {
        return gguf;
    }
    cut::cut_gguf(&gguf, CUT_LAYERS)
}

/// A greedy answer of 32 tokens (default repetition penalty) is the same on both engines.
#[wasm_bindgen_test]
async fn greedy_answer_on_webgpu_equals_the_cpu_path() {
    let gpu = Gpu::new(true).await.expect("Chromium runs with --enable-unsafe-webgpu, so an adapter exists");
    assert!(gpu.adapter().software, "expected SwiftShader here: {:?}", gpu.adapter());
    let gguf = generator_gguf().await;
    let cpu = Generator::from_gguf(&gguf).expect("model");
    let prompt = chatml("You are a helpful assistant.", "What is the capital of France?");
    // A cut model may end its turn early; the comparison runs the whole 32 tokens either way.
    let mut options = GenerateOptions::default();
    (options.max_tokens, options.ignore_end_of_turn) = (32, true);
    let mut generation = cpu.start(&prompt, &options).expect("start");
    while cpu.step(&mut generation).expect("step").is_some() {}
    let expected = generation.generated_tokens().to_vec();
    assert_eq!(expected.len(), 32, "the CPU run stopped early: {:?}", cpu.decode(&expected));

    let mut decoder = GpuDecoder::from_gguf(&gpu, &gguf, 512).await.expect("the model loads onto WebGPU");
    let mut tokens = cpu.encode(&prompt).expect("encode");
    let mut feed = tokens.clone();
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let recent = &tokens[tokens.len().saturating_sub(options.repeat_last_n)..];
        let next = decoder.next_token(&feed, &Adjust { recent, penalty: options.repeat_penalty, ..Adjust::default() }).await.expect("GPU step");
        got.push(next);
        tokens.push(next);
        feed = vec![next];
    }
    assert_eq!(got, expected, "WebGPU {:?} vs CPU {:?}", cpu.decode(&got), cpu.decode(&expected));
}

/// Fed the same tokens, WebGPU gives the CPU decoder's logits bit for bit: after a prompt, and at each
/// of the steps after it. (At layer 7 this prompt has a Q8_0 activation block with values
/// exactly halfway between two integers; it caught SwiftShader rounding 1 / (max / 127)
/// unlike the CPU.)
#[wasm_bindgen_test]
async fn webgpu_logits_equal_the_cpu_bit_for_bit() {
    let gpu = Gpu::new(true).await.expect("an adapter");
    let gguf = generator_gguf().await;
    let cpu = Generator::from_gguf(&gguf).expect("model");
    let ids = cpu.encode(&chatml("You are a helpful assistant.", "What is the capital of France?")).expect("encode");
    let mut model = cpu.decoder();
    let mut expected = model.logits(&ids).expect("prompt on the CPU");
    let mut decoder = GpuDecoder::from_gguf(&gpu, &gguf, 512).await.expect("the model loads onto WebGPU");
    let mut got = decoder.next_logits(&ids).await.expect("prompt");
    for step in 0..6 {
        assert!(got == expected, "step {step} of a {}-token prompt: logits differ from the CPU's", ids.len());
        let next = (0..expected.len()).max_by(|&a, &b| expected[a].total_cmp(&expected[b])).expect("logits") as u32;
        expected = model.logits(&[next]).expect("step on the CPU");
        got = decoder.next_logits(&[next]).await.expect("step");
    }
    assert!(got == expected, "the last step: logits differ from the CPU's");
}

/// A sampled answer (temperature and top-p, seeded) is drawn on WebGPU, reading back only the
/// token ids, and is the CPU path's answer token for token.
#[wasm_bindgen_test]
async fn sampled_answer_on_webgpu_equals_the_cpu_path() {
    let gpu = Gpu::new(true).await.expect("an adapter");
    let gguf = generator_gguf().await;
    let prompt = chatml("You are a helpful assistant.", "Name one planet.");
    let mut options = GenerateOptions::default();
    (options.max_tokens, options.temperature, options.top_p, options.seed) = (8, 1.1, Some(0.9), 11);
    let cpu = Generator::from_gguf(&gguf).expect("model");
    let (expected, _) = cpu.generate(&prompt, &options, &mut |_| {}).expect("cpu answer");
    let mut on_gpu = Generator::from_gguf(&gguf).expect("model");
    on_gpu.attach_decoder(Box::new(GpuDecoder::from_gguf(&gpu, &gguf, 512).await.expect("the model loads onto WebGPU")));
    let mut generation = on_gpu.start(&prompt, &options).expect("start");
    let mut text = String::new();
    while let Some(piece) = on_gpu.step_async(&mut generation).await.expect("step") {
        text.push_str(&piece);
    }
    assert_eq!(on_gpu.backend(), "webgpu", "{:?}", on_gpu.accelerator_error());
    assert_eq!(text, expected);
}

#[wasm_bindgen_test]
async fn auto_declines_a_software_adapter_and_webgpu_forces_it() {
    let refused = Gpu::new(false).await.expect_err("SwiftShader is a fallback adapter");
    assert!(matches!(refused, GpuError::FallbackOnly(_)), "{refused}");

    let gguf = generator_gguf().await;
    let info = |g: &WasmGenerator, key: &str| js_sys::Reflect::get(&g.backend_info(), &JsValue::from_str(key)).expect("field");
    // Loaded as the worker passes it: a Uint8Array in JavaScript memory, read a tensor at a time.
    let gguf = js_sys::Uint8Array::from(gguf.as_slice());
    let auto = WasmGenerator::load(gguf.clone(), "auto".into()).await.map_err(JsValue::from).expect("auto loads");
    assert_eq!(info(&auto, "backend").as_string().as_deref(), Some("cpu"));
    assert!(info(&auto, "fallbackReason").as_string().expect("a reason").contains("software fallback"));

    let forced = WasmGenerator::load(gguf, "webgpu".into()).await.map_err(JsValue::from).expect("webgpu loads");
    assert_eq!(info(&forced, "backend").as_string().as_deref(), Some("webgpu"));
    assert!(info(&forced, "dispatches").as_f64().expect("count") > 100.0);
    forced.start(&chatml("You are a helpful assistant.", "Say hi."), 3, true).map_err(JsValue::from).expect("start");
    let mut text = String::new();
    while let Some(piece) = forced.step_async().await.map_err(JsValue::from).expect("step") {
        text.push_str(&piece);
    }
    assert_eq!(forced.generated_tokens().map_err(JsValue::from).expect("count"), 3, "{text:?}");
}

#[wasm_bindgen_test]
async fn embeddings_on_webgpu_equal_the_cpu_path() {
    let weights = fetch("models/all-MiniLM-L6-v2/model.safetensors").await;
    let config = fetch("models/all-MiniLM-L6-v2/config.json").await;
    let tokenizer = fetch("models/all-MiniLM-L6-v2/tokenizer.json").await;
    let cpu = WasmEmbedder::new(&weights, &config, &tokenizer).map_err(JsValue::from).expect("cpu");
    let gpu = WasmEmbedder::load(weights, config, tokenizer, "webgpu".into()).await.map_err(JsValue::from).expect("webgpu");
    let backend = js_sys::Reflect::get(&gpu.backend_info(), &JsValue::from_str("backend")).expect("field");
    assert_eq!(backend.as_string().as_deref(), Some("webgpu"));
    let texts =
        vec!["What is ownership?".to_string(), "Each value in Rust has an owner, and there can only be one owner at a time.".to_string(), "a".to_string()];
    let expected = cpu.embed(texts.clone()).map_err(JsValue::from).expect("cpu vectors");
    let got = gpu.embed_async(texts).await.map_err(JsValue::from).expect("gpu vectors");
    let dim = 384;
    assert_eq!(got.len(), 3 * dim);
    for i in 0..3 {
        let cosine: f32 = got[i * dim..(i + 1) * dim].iter().zip(&expected[i * dim..(i + 1) * dim]).map(|(a, b)| a * b).sum();
        assert!(cosine >= 0.9999, "text {i}: cosine {cosine}");
    }
}

#[wasm_bindgen_test]
async fn documents_indexed_on_webgpu_search_like_the_cpu_index() {
    let weights = fetch("models/all-MiniLM-L6-v2/model.safetensors").await;
    let config = fetch("models/all-MiniLM-L6-v2/config.json").await;
    let tokenizer = fetch("models/all-MiniLM-L6-v2/tokenizer.json").await;
    let docs = || {
        let list = js_sys::Array::new();
        for (url, text) in [
            ("own.md", "# Ownership\n\nEach value in Rust has an owner. When the owner goes out of scope, the value is dropped."),
            ("maps.md", "# Hash maps\n\nA hash map stores keys with their values, like a dictionary."),
        ] {
            let doc = js_sys::Object::new();
            js_sys::Reflect::set(&doc, &"url".into(), &url.into()).expect("url");
            js_sys::Reflect::set(&doc, &"text".into(), &text.into()).expect("text");
            list.push(&doc);
        }
        JsValue::from(list)
    };
    let cpu = WasmRag::from_documents(docs(), &weights, &config, &tokenizer, None).map_err(JsValue::from).expect("cpu index");
    let gpu = WasmRag::from_documents_async(docs(), weights, config, tokenizer, "webgpu".into(), None).await.map_err(JsValue::from).expect("webgpu index");
    assert_eq!(gpu.embedder_backend(), "webgpu");
    assert_eq!(gpu.passage_count(), cpu.passage_count());
    let top = |rag: &WasmRag, query: &str| {
        let hits = rag.search(query, 1).map_err(JsValue::from).expect("search");
        let first = js_sys::Reflect::get(&hits, &0.into()).expect("hit");
        js_sys::Reflect::get(&first, &"url".into()).expect("url").as_string().expect("string")
    };
    for query in ["What happens when the owner goes out of scope?", "How do I store keys with values?"] {
        assert_eq!(top(&gpu, query), top(&cpu, query), "{query}");
    }
}
