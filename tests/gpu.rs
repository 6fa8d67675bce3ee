//! The WebGPU engine natively (Vulkan; Mesa's lavapipe in CI) against the CPU path on the real
//! SmolLM2 model cut to its first few blocks (every kernel and shape, a fraction of the work;
//! `make test-full` runs the whole model): fed the same tokens the GPU computes the CPU's
//! logits bit for bit, so greedy decoding gives the same token ids. (In Chromium the kernels take the wasm CPU path's orders
//! and match it bit for bit too: tests/wasm/gpu.rs.) Without any adapter the tests say so and
//! pass, unless WASMRAG_REQUIRE_GPU=1 (the test script installs lavapipe and sets it).

mod common;

use candle_core::quantized::GgmlDType;
use common::{read, with, GENERATOR};
use wasmrag::generate::{convert, Adjust};
use wasmrag::gpu::{Gpu, GpuDecoder, GpuEmbedder, GpuError};
use wasmrag::prompt::chatml;
use wasmrag::{build_index, build_index_async, ChunkOptions, Document, Format, GenerateOptions, Rag};

/// The generator the parity tests run: the real model cut to [`common::CUT_LAYERS`] blocks.
fn model() -> &'static [u8] {
    static MODEL: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| common::cut_generator(common::CUT_LAYERS))
}

fn generator() -> wasmrag::Generator {
    wasmrag::Generator::from_gguf(model()).expect("load the cut generator")
}

fn gpu() -> Option<Gpu> {
    force_candle_avx2();
    match pollster::block_on(Gpu::new(true)) {
        Ok(gpu) => Some(gpu),
        Err(e) if std::env::var_os("WASMRAG_REQUIRE_GPU").is_none() => {
            eprintln!("skipping GPU test: {e}");
            None
        }
        Err(e) => panic!("WASMRAG_REQUIRE_GPU is set but: {e}"),
    }
}

/// Makes candle use its AVX2 Q8_0 kernel, not the VNNI one it picks on CPUs with AVX-512 VNNI
/// (which quantises activations in 256-value blocks, an order the GPU engine does not copy; the
/// browser's wasm path never takes it). Set once, before any test in this binary runs candle.
fn force_candle_avx2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("MISTRALRS_FORCE_AVX2", "1"));
}

/// A greedy answer (default repetition penalty, up to 48 tokens) is the same on both engines,
/// token for token.
#[test]
fn greedy_answers_on_the_gpu_equal_the_cpu_path() {
    let Some(gpu) = gpu() else { return };
    let cpu = generator();
    let mut decoder = pollster::block_on(GpuDecoder::from_gguf(&gpu, model(), cpu.context_length())).unwrap();
    let options = with(GenerateOptions::default(), |o| o.max_tokens = 48);
    for question in ["What is the capital of France?", "Name one planet."] {
        let prompt = chatml("You are a helpful assistant.", question);
        let mut generation = cpu.start(&prompt, &options).unwrap();
        while cpu.step(&mut generation).unwrap().is_some() {}
        let expected = generation.generated_tokens().to_vec();
        assert!(expected.len() >= 5, "{question}: {expected:?}");

        decoder.reset();
        let mut tokens = cpu.encode(&prompt).unwrap();
        let mut feed = tokens.clone();
        let mut got = Vec::new();
        // As many steps as the CPU took: it stops at end of turn or on a repeated run, which a
        // model cut to a few blocks soon falls into.
        loop {
            let recent = &tokens[tokens.len().saturating_sub(options.repeat_last_n)..];
            let next = pollster::block_on(decoder.next_token(&feed, &Adjust { recent, penalty: options.repeat_penalty, ..Adjust::default() })).unwrap();
            if next == 2 || got.len() == expected.len() {
                break;
            }
            got.push(next);
            tokens.push(next);
            feed = vec![next];
        }
        assert_eq!(got, expected, "GPU: {:?}\nCPU: {:?}", cpu.decode(&got), cpu.decode(&expected));
        assert_eq!(decoder.position(), tokens.len());
    }
}

/// With a kept prompt opening the GPU reads it as a chunk of its own, as the CPU does, so the
/// answers stay equal.
#[test]
fn a_kept_prompt_opening_gives_the_cpu_answer_on_the_gpu() {
    let Some(gpu) = gpu() else { return };
    let prompt = common::rag_prompt("What is the capital of France?");
    let options = with(GenerateOptions::default(), |o| o.max_tokens = 12);
    let mut cpu = generator();
    cpu.set_opening(&wasmrag::prompt::opening()).unwrap();
    let (expected, _) = cpu.generate(&prompt, &options, &mut |_| {}).unwrap();

    let mut on_gpu = generator();
    on_gpu.set_opening(&wasmrag::prompt::opening()).unwrap();
    on_gpu.attach_decoder(Box::new(pollster::block_on(GpuDecoder::from_gguf(&gpu, model(), on_gpu.context_length())).unwrap()));
    let mut generation = on_gpu.start(&prompt, &options).unwrap();
    let mut text = String::new();
    while let Some(piece) = pollster::block_on(on_gpu.step_async(&mut generation)).unwrap() {
        text.push_str(&piece);
    }
    assert_eq!(text, expected);
    assert!(on_gpu.accelerator_error().is_none());
}

/// The generator's own stepping on the GPU (as the browser runs it) gives the CPU's answer,
/// greedy or sampled.
#[test]
fn generator_steps_on_the_gpu_and_reports_where_it_ran() {
    let Some(gpu) = gpu() else { return };
    let cpu = generator();
    let prompt = chatml("You are a helpful assistant.", "What is the capital of France?");
    let options = with(GenerateOptions::default(), |o| o.max_tokens = 12);
    let (expected, _) = cpu.generate(&prompt, &options, &mut |_| {}).unwrap();

    let mut on_gpu = generator();
    on_gpu.attach_decoder(Box::new(pollster::block_on(GpuDecoder::from_gguf(&gpu, model(), on_gpu.context_length())).unwrap()));
    assert_eq!(on_gpu.backend(), "webgpu");
    let mut generation = on_gpu.start(&prompt, &options).unwrap();
    let mut text = String::new();
    while let Some(piece) = pollster::block_on(on_gpu.step_async(&mut generation)).unwrap() {
        text.push_str(&piece);
    }
    assert_eq!(text, expected);
    assert!(on_gpu.backend() == "webgpu" && on_gpu.accelerator_error().is_none());

    // A seeded draw is made on the GPU too (only the token id comes back) and picks the CPU's
    // tokens: the logits are equal and the sampler is defined to run alike on both.
    for sampled in [
        with(options.clone(), |o| {
            o.temperature = 0.7;
            o.seed = 7
        }),
        with(options.clone(), |o| {
            o.temperature = 1.2;
            o.top_p = Some(0.9);
            o.seed = 8;
            o.max_tokens = 24
        }),
    ] {
        let (expected, _) = cpu.generate(&prompt, &sampled, &mut |_| {}).unwrap();
        let mut generation = on_gpu.start(&prompt, &sampled).unwrap();
        let mut text = String::new();
        while let Some(piece) = pollster::block_on(on_gpu.step_async(&mut generation)).unwrap() {
            text.push_str(&piece);
        }
        assert_eq!(text, expected, "{sampled:?}");
        assert_ne!(text, cpu.generate(&prompt, &with(sampled.clone(), |o| o.seed = 9), &mut |_| {}).unwrap().0, "another seed, another answer");
    }
    // The copy bias raises the same source continuations on both engines.
    let source = "France's capital is Paris, which Clovis made his seat in 508 and Hugh Capet kept in 987.";
    let copying = with(options.clone(), |o| {
        o.copy_bias = 4.0;
        o.max_tokens = 16
    });
    let mut generation = cpu.start_with_sources(&prompt, &[source], &copying).unwrap();
    let mut expected = String::new();
    while let Some(piece) = cpu.step(&mut generation).unwrap() {
        expected.push_str(&piece);
    }
    let mut generation = on_gpu.start_with_sources(&prompt, &[source], &copying).unwrap();
    let mut text = String::new();
    while let Some(piece) = pollster::block_on(on_gpu.step_async(&mut generation)).unwrap() {
        text.push_str(&piece);
    }
    assert_eq!(text, expected);
    assert!(on_gpu.backend() == "webgpu" && on_gpu.accelerator_error().is_none());
}

/// The GPU decoder is lent to one generation at a time: one started meanwhile decodes on the
/// CPU, both give the CPU's answer, and the decoder is back for the next once the first ends.
#[test]
fn the_gpu_decoder_serves_one_generation_at_a_time() {
    let Some(gpu) = gpu() else { return };
    let prompt = chatml("You are a helpful assistant.", "Name one planet.");
    let options = with(GenerateOptions::default(), |o| o.max_tokens = 8);
    let (expected, _) = generator().generate(&prompt, &options, &mut |_| {}).unwrap();
    let mut shared = generator();
    shared.attach_decoder(Box::new(pollster::block_on(GpuDecoder::from_gguf(&gpu, model(), shared.context_length())).unwrap()));
    let mut both = [shared.start(&prompt, &options).unwrap(), shared.start(&prompt, &options).unwrap()];
    assert_eq!([both[0].backend(), both[1].backend()], ["webgpu", "cpu"]);
    let mut texts = [String::new(), String::new()];
    while both.iter().any(|g| g.stop_reason().is_none()) {
        for (generation, text) in both.iter_mut().zip(&mut texts) {
            text.push_str(&pollster::block_on(shared.step_async(generation)).unwrap().unwrap_or_default());
        }
    }
    assert_eq!(texts, [expected.clone(), expected]);
    assert_eq!(shared.start(&prompt, &options).unwrap().backend(), "webgpu", "handed back when the first stopped");
}

/// The GPU's copy bias adds to the logits of exactly the boosted tokens: a large bias makes a
/// boosted token the pick, a zero bias changes nothing.
#[test]
fn copy_bias_steers_the_gpu_pick() {
    let Some(gpu) = gpu() else { return };
    let ids = generator().encode(&chatml("You are a helpful assistant.", "Name one planet.")).unwrap();
    let mut decoder = pollster::block_on(GpuDecoder::from_gguf(&gpu, model(), 512)).unwrap();
    let mut pick = |boosts: &[u32], bias: f32| {
        decoder.reset();
        pollster::block_on(decoder.next_token(&ids, &Adjust { recent: &ids, penalty: 1.1, boosts, bias })).unwrap()
    };
    let plain = pick(&[], 0.0);
    let wanted = if plain == 42 { 43 } else { 42 };
    assert_eq!(pick(&[wanted], 1000.0), wanted);
    assert_eq!(pick(&[wanted], 0.0), plain);
}

/// Losing the device in the middle of an answer costs nothing but speed: the step that finds it
/// gone keeps the reason, drops the engine, and the answer finishes on the CPU, the same text.
#[test]
fn a_lost_device_mid_answer_finishes_on_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let prompt = chatml("You are a helpful assistant.", "Name one planet.");
    let options = with(GenerateOptions::default(), |o| o.max_tokens = 12);
    let (expected, _) = generator().generate(&prompt, &options, &mut |_| {}).unwrap();

    let mut generator = generator();
    generator.attach_decoder(Box::new(pollster::block_on(GpuDecoder::from_gguf(&gpu, model(), generator.context_length())).unwrap()));
    let mut generation = generator.start(&prompt, &options).unwrap();
    let mut text = String::new();
    for _ in 0..3 {
        text.push_str(&pollster::block_on(generator.step_async(&mut generation)).unwrap().unwrap());
    }
    assert_eq!(generator.backend(), "webgpu", "the first tokens ran on the GPU");
    gpu.destroy();
    while let Some(piece) = pollster::block_on(generator.step_async(&mut generation)).unwrap() {
        text.push_str(&piece);
    }
    assert_eq!(generator.backend(), "cpu");
    assert_eq!(generator.accelerator_error().map(|e| e.code()), Some("gpu_lost"), "{:?}", generator.accelerator_error());
    assert_eq!(text, expected);
}

/// Fed the same tokens, the GPU's logits equal the CPU's bit for bit at every one of 40 steps
/// (the keys stay under 256, where gemm takes its horizontal kernel; the next test passes 256).
/// Feeds each question's prompt, then `steps` greedy tokens, to the CPU and the GPU decoder on
/// the model `bytes`, and asserts their logits are equal at every step.
fn assert_logits_match(gpu: &Gpu, bytes: &[u8], questions: &[&str], steps: usize) {
    let cpu = wasmrag::Generator::from_gguf(bytes).unwrap();
    for question in questions {
        let ids = cpu.encode(&chatml("You are a helpful assistant.", question)).unwrap();
        let mut model = cpu.decoder();
        let mut decoder = pollster::block_on(GpuDecoder::from_gguf(gpu, bytes, 1024)).unwrap();
        let mut cpu_logits = model.logits(&ids).unwrap();
        let mut gpu_logits = pollster::block_on(decoder.next_logits(&ids)).unwrap();
        for step in 0..steps {
            assert!(gpu_logits == cpu_logits, "{question}: logits differ at step {step}");
            let token = (0..cpu_logits.len()).max_by(|&a, &b| cpu_logits[a].total_cmp(&cpu_logits[b])).unwrap() as u32;
            cpu_logits = model.logits(&[token]).unwrap();
            gpu_logits = pollster::block_on(decoder.next_logits(&[token])).unwrap();
        }
    }
}

#[test]
fn gpu_logits_equal_the_cpu_at_every_step() {
    let Some(gpu) = gpu() else { return };
    let questions = ["What happens to a value when its owner goes out of scope?", "How do I read a file in Rust?"];
    assert_logits_match(&gpu, model(), &questions, 12);
}

/// A Q4_0 model (every matrix and the embedding, as users may bring one) runs on the GPU,
/// widened to Q8_0 at load, with the CPU's Q4_0 logits bit for bit.
#[test]
fn q4_0_models_run_on_the_gpu_with_the_cpu_logits() {
    let Some(gpu) = gpu() else { return };
    let q4 = convert::requantize(model(), GgmlDType::Q8_0, GgmlDType::Q4_0).unwrap();
    assert_logits_match(&gpu, &q4, &["Name one planet."], 8);
}

#[test]
fn models_the_gpu_engine_cannot_run_give_typed_errors() {
    let Some(gpu) = gpu() else { return };
    let original = read(common::GENERATOR_ORIGINAL);
    let err = pollster::block_on(GpuDecoder::from_gguf(&gpu, &original, 2048)).unwrap_err();
    assert!(matches!(err, GpuError::Unsupported(ref m) if m.contains("Q4_1")), "{err}");
    let err = pollster::block_on(GpuDecoder::from_gguf(&gpu, b"not a gguf file at all", 2048)).unwrap_err();
    assert!(matches!(err, GpuError::Unsupported(_)), "{err}");
    let mut bytes = read(GENERATOR);
    bytes.truncate(bytes.len() / 2);
    let err = pollster::block_on(GpuDecoder::from_gguf(&gpu, &bytes, 2048)).unwrap_err();
    assert!(matches!(err, GpuError::Unsupported(ref m) if m.contains("outside the file")), "{err}");
}

/// The BERT encoder on the GPU gives the CPU's vectors (cosine ≥ 0.9999) on the real MiniLM,
/// over padded batches of mixed lengths, including one over the 256-token window. CI runs the
/// encoder cut to two of its six layers (the same kernels and shapes); `make test-full` all six.
#[test]
fn embeddings_on_the_gpu_equal_the_cpu_path() {
    let Some(gpu) = gpu() else { return };
    let cpu = common::cut_embedder(2);
    let mut on_gpu = common::cut_embedder(2);
    let weights = read("all-MiniLM-L6-v2/model.safetensors");
    let engine = pollster::block_on(GpuEmbedder::from_weights(&gpu, &weights, on_gpu.bert_shape(), 8, 256)).unwrap();
    // The whole encoder is one recorded graph: several dispatches per layer, one submit.
    assert!(engine.dispatches_per_batch() > 8 * on_gpu.bert_shape().layers, "{}", engine.dispatches_per_batch());
    on_gpu.attach_gpu(engine);
    let long = "ownership borrowing lifetimes ".repeat(120);
    let mut texts =
        vec!["What is ownership?", "Each value in Rust has an owner.", "", "a", long.as_str(), "Le propriétaire d'une valeur — ünïcödé, 日本語, 🦀."];
    let book = "References let you refer to a value without taking ownership of it. ";
    // Eleven texts in batches of at most eight: two batches, each padded.
    let more: Vec<String> = (1..6).map(|n| book.repeat(n)).collect();
    texts.extend(more.iter().map(String::as_str));
    let expected = cpu.embed(&texts).unwrap();
    let got = pollster::block_on(on_gpu.embed_async(&texts)).unwrap();
    assert!(on_gpu.has_gpu(), "{:?}", on_gpu.gpu_error());
    for (i, (g, c)) in got.iter().zip(&expected).enumerate() {
        let cosine: f32 = g.iter().zip(c).map(|(a, b)| a * b).sum();
        assert!(cosine >= 0.9999, "text {i} ({:?}): cosine {cosine}", &texts[i][..texts[i].len().min(40)]);
    }
    let bad = pollster::block_on(GpuEmbedder::from_weights(&gpu, b"not safetensors", on_gpu.bert_shape(), 4, 64)).unwrap_err();
    assert!(matches!(bad, GpuError::Unsupported(_)), "{bad}");
    // The int8 GGUF uploads dequantized (the kernels run in f32): within int8 error of f32.
    let int8 = wasmrag::embed::quantized::quantize(&weights).unwrap();
    let mut on_gpu8 = wasmrag::Embedder::from_bytes(&int8, &common::cut_embedder_config(2), &read("all-MiniLM-L6-v2/tokenizer.json")).unwrap();
    on_gpu8.attach_gpu(pollster::block_on(GpuEmbedder::from_weights(&gpu, &int8, on_gpu8.bert_shape(), 4, 64)).unwrap());
    let got8 = pollster::block_on(on_gpu8.embed_async(&texts[..4])).unwrap();
    assert!(on_gpu8.has_gpu(), "{:?}", on_gpu8.gpu_error());
    for (i, (g, c)) in got8.iter().zip(&expected).enumerate() {
        let cosine: f32 = g.iter().zip(c).map(|(a, b)| a * b).sum();
        assert!(cosine >= 0.99, "int8 text {i}: cosine {cosine} to the f32 CPU vector");
    }
}

/// Bulk indexing on the GPU finds what the CPU-built index finds.
#[test]
fn documents_indexed_on_the_gpu_search_like_the_cpu_index() {
    let Some(gpu) = gpu() else { return };
    let docs = vec![
        Document {
            url: "own.md".into(),
            format: Format::Markdown,
            bytes: b"# Ownership\n\nEach value in Rust has an owner. When the owner goes out of scope, the value is dropped.".to_vec(),
        },
        Document {
            url: "maps.md".into(),
            format: Format::Markdown,
            bytes: b"# Hash maps\n\nA hash map stores keys with their values, like a dictionary.".to_vec(),
        },
    ];
    let cpu = common::embedder();
    let built = build_index(&docs, &cpu, &ChunkOptions::default(), &mut |_| {}).unwrap();
    let mut on_gpu = common::embedder();
    let weights = read("all-MiniLM-L6-v2/model.safetensors");
    on_gpu.attach_gpu(pollster::block_on(GpuEmbedder::from_weights(&gpu, &weights, on_gpu.bert_shape(), 16, 256)).unwrap());
    let built_gpu = pollster::block_on(build_index_async(&docs, &mut on_gpu, &ChunkOptions::default(), &mut |_| {})).unwrap();
    assert!(on_gpu.has_gpu());
    let (cpu_rag, gpu_rag) = (Rag::new(built.index, cpu).unwrap(), Rag::new(built_gpu.index, on_gpu).unwrap());
    for query in ["What happens when the owner goes out of scope?", "How do I store keys with values?"] {
        let (a, b) = (cpu_rag.search(query, 2).unwrap(), gpu_rag.search(query, 2).unwrap());
        assert_eq!(a.iter().map(|h| &h.url).collect::<Vec<_>>(), b.iter().map(|h| &h.url).collect::<Vec<_>>(), "{query}");
    }
}

/// A prompt longer than one 256-token prefill chunk, then single steps, give the CPU's logits
/// bit for bit: every kernel follows the CPU's summation order for the shapes gemm sees.
#[test]
fn gpu_logits_equal_the_cpu_bit_for_bit() {
    let Some(gpu) = gpu() else { return };
    let bytes = model();
    let cpu = generator();
    let prompt = chatml("You are a helpful assistant.", &"Each value in Rust has an owner. ".repeat(30));
    let ids = cpu.encode(&prompt).unwrap();
    assert!(ids.len() > 256, "{} tokens", ids.len());
    // The CPU decoder reads the prompt in two chunks: 256 tokens, then the rest.
    let mut model = cpu.decoder();
    let mut expected = model.logits(&ids).unwrap();
    let mut decoder = pollster::block_on(GpuDecoder::from_gguf(&gpu, bytes, 512)).unwrap();
    let mut got = pollster::block_on(decoder.next_logits(&ids)).unwrap();
    for step in 0..4 {
        assert!(got == expected, "step {step}: logits differ from the CPU's");
        let next = (0..expected.len()).max_by(|&a, &b| expected[a].total_cmp(&expected[b])).unwrap() as u32;
        expected = model.logits(&[next]).unwrap();
        got = pollster::block_on(decoder.next_logits(&[next])).unwrap();
    }
}
