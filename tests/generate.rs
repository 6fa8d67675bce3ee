//! The generator on the real SmolLM2-135M-Instruct (converted to Q8_0 by `wasmrag models`).

mod common;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use common::{generator, rag_prompt, read, with};
use wasmrag::generate::{convert, score};
use wasmrag::prompt::{chatml, opening};
use wasmrag::{GenerateError, GenerateOptions, Generator, StopReason};

fn greedy(max_tokens: usize) -> GenerateOptions {
    with(GenerateOptions::default(), |o| o.max_tokens = max_tokens)
}

#[test]
fn tokenizer_from_gguf_round_trips_and_keeps_control_tokens() {
    let g = generator();
    let ids = g.encode("<|im_start|>user\nHi<|im_end|>").unwrap();
    assert_eq!(ids.first(), Some(&1), "<|im_start|> is one id: {ids:?}");
    assert_eq!(ids.last(), Some(&2), "<|im_end|> is one id: {ids:?}");
    for text in ["Hello, world! fn main() { println!(\"{}\", 12345); }", "  leading spaces\n\ttabs and ünïcödé — 日本語 🦀", "The year 2024 had 366 days."]
    {
        let ids = g.encode(text).unwrap();
        assert_eq!(g.decode(&ids).unwrap(), text);
    }
    // SmolLM2 splits numbers into single digits.
    assert_eq!(g.encode("12345").unwrap().len(), 5);
    assert!(g.context_length() >= 2048);
}

#[test]
fn greedy_generation_knows_facts_and_stops_at_end_of_turn() {
    let g = generator();
    let prompt = chatml("You are a helpful assistant.", "What is the capital of France?");
    let mut streamed = String::new();
    let (text, reason) = g.generate(&prompt, &greedy(80), &mut |t| streamed.push_str(t)).unwrap();
    assert!(text.contains("Paris"), "{text}");
    assert_eq!(streamed.trim(), text.trim());
    assert_eq!(reason, StopReason::EndOfTurn);
    // Greedy decoding is deterministic.
    let (again, _) = g.generate(&prompt, &greedy(80), &mut |_| {}).unwrap();
    assert_eq!(again, text);
}

#[test]
fn max_tokens_cancel_and_sampling() {
    let g = generator();
    let prompt = chatml("You are a helpful assistant.", "Write a long story about a robot.");
    let mut generation = g.start(&prompt, &greedy(12)).unwrap();
    while g.step(&mut generation).unwrap().is_some() {}
    assert_eq!(generation.generated_tokens().len(), 12);
    assert_eq!(generation.stop_reason(), Some(StopReason::MaxTokens));
    assert_eq!(g.step(&mut generation), Ok(None), "a stopped generation stays stopped");

    // Each generation owns its decoder: two stepped in turn give what each gives alone.
    let other = chatml("You are a helpful assistant.", "What is the capital of France?");
    let alone = [g.generate(&prompt, &greedy(12), &mut |_| {}).unwrap().0, g.generate(&other, &greedy(12), &mut |_| {}).unwrap().0];
    let mut both = [g.start(&prompt, &greedy(12)).unwrap(), g.start(&other, &greedy(12)).unwrap()];
    while both.iter().any(|b| b.stop_reason().is_none()) {
        for generation in &mut both {
            g.step(generation).unwrap();
        }
    }
    assert_eq!([g.text(&both[0]).unwrap(), g.text(&both[1]).unwrap()], alone);

    let options = greedy(200);
    let cancel = options.cancel.clone();
    let mut pieces = 0;
    let (_, reason) = g
        .generate(&prompt, &options, &mut |_| {
            pieces += 1;
            if pieces == 5 {
                cancel.cancel();
            }
        })
        .unwrap();
    assert_eq!(reason, StopReason::Cancelled);
    assert!(pieces <= 6, "{pieces}");

    let sampled = |seed| {
        with(GenerateOptions::default(), |o| {
            o.temperature = 0.9;
            o.top_p = Some(0.95);
            o.seed = seed;
            o.max_tokens = 24
        })
    };
    let a = g.generate(&prompt, &sampled(1), &mut |_| {}).unwrap().0;
    let b = g.generate(&prompt, &sampled(1), &mut |_| {}).unwrap().0;
    let c = g.generate(&prompt, &sampled(2), &mut |_| {}).unwrap().0;
    assert_eq!(a, b, "same seed, same text");
    assert_ne!(a, c, "another seed, another text");
}

/// The kept prompt opening: a RAG prompt's tokens open with the opening's own tokens (so every
/// answer reuses its KV cache), each generation starts from its own copy of the cache, and the
/// answer is the one a generator without it gives: reading the opening as a chunk of its own
/// changes the logits by rounding only, so the first tokens agree (a wrong cache would differ
/// from the first token; rounding may tip a near tie much later). A prompt that opens
/// otherwise is read whole.
#[test]
fn a_kept_prompt_opening_gives_the_same_answer() {
    let plain = generator();
    let mut g = generator();
    g.set_opening(&opening()).unwrap();
    let prompt = rag_prompt("What is the capital of France?");
    assert!(g.encode(&prompt).unwrap().starts_with(&g.encode(&opening()).unwrap()), "the opening's tokens are the prompt's first tokens");
    let other = chatml("You are a helpful assistant.", "What is the capital of France?");
    let tokens = |g: &Generator, p: &str| {
        let mut generation = g.start(p, &greedy(24)).unwrap();
        while g.step(&mut generation).unwrap().is_some() {}
        generation.generated_tokens().to_vec()
    };
    for p in [&prompt, &other] {
        let expected = tokens(&plain, p);
        let first = tokens(&g, p);
        assert_eq!(first, tokens(&g, p), "each generation starts from its own copy of the cache");
        assert_eq!(first[..12], expected[..12], "{:?}\n{:?}", g.decode(&first), g.decode(&expected));
    }
    assert_eq!(tokens(&g, &other), tokens(&plain, &other), "a prompt without the opening is read as before");
    assert!(g.decode(&tokens(&g, &prompt)).unwrap().contains("Paris"));
}

#[test]
fn converted_model_matches_the_published_one() {
    let published = read(common::GENERATOR_ORIGINAL);
    let mut original = Generator::from_gguf(&published).unwrap();
    let mut converted = generator();
    let prompt = chatml("You are a helpful assistant.", "Explain what a variable is in programming.");
    let ids = |g: &mut Generator| {
        let mut generation = g.start(&prompt, &greedy(24)).unwrap();
        while g.step(&mut generation).unwrap().is_some() {}
        generation.generated_tokens().to_vec()
    };
    let (a, b) = (ids(&mut original), ids(&mut converted));
    // Re-quantising moves each weight by under 1/256 of its block's range, so greedy decoding
    // follows the published model until a near-tie (15 tokens on this prompt when measured);
    // a broken conversion diverges at the first token or two.
    let same = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    assert!(same >= 12, "greedy tokens diverge after {same}: {a:?} vs {b:?}");
}

#[test]
fn requantize_converts_only_the_source_type() {
    let published = read(common::GENERATOR_ORIGINAL);
    let out = convert::requantize(&published, GgmlDType::Q4_1, GgmlDType::Q8_0).unwrap();
    let content = gguf_file::Content::read(&mut std::io::Cursor::new(&out)).unwrap();
    let types: std::collections::HashSet<GgmlDType> = content.tensor_infos.values().map(|t| t.ggml_dtype).collect();
    assert!(!types.contains(&GgmlDType::Q4_1), "{types:?}");
    assert!(types.contains(&GgmlDType::Q8_0));
    assert_eq!(content.metadata["wasmrag.requantized_from"].to_string().unwrap(), "Q4_1");
    assert!(content.metadata.contains_key("tokenizer.ggml.merges"));
    assert_eq!(out, read(common::GENERATOR), "conversion is deterministic and matches the set-up's output");
}

fn err(bytes: &[u8]) -> GenerateError {
    Generator::from_gguf(bytes).err().expect("must fail")
}

/// A small GGUF with the given metadata and one tensor, written with candle's writer.
fn tiny_gguf(metadata: &[(&str, Value)]) -> Vec<u8> {
    let t = QTensor::quantize(&Tensor::zeros((2, 32), candle_core::DType::F32, &Device::Cpu).unwrap(), GgmlDType::Q8_0).unwrap();
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &md, &[("token_embd.weight", &t)]).unwrap();
    out.into_inner()
}

#[test]
fn bad_model_files_give_typed_errors() {
    let real = read(common::GENERATOR);
    assert_eq!(err(b"definitely not a model"), GenerateError::NotGguf);
    assert_eq!(err(&[]), GenerateError::NotGguf);
    assert!(matches!(err(&real[..real.len() / 2]), GenerateError::Corrupt(_)), "truncated in the tensor data");
    assert!(matches!(err(&real[..4096]), GenerateError::Corrupt(_)), "truncated in the header");
    assert!(matches!(err(&read("all-MiniLM-L6-v2/model.safetensors")), GenerateError::NotGguf));

    let bert = tiny_gguf(&[("general.architecture", Value::String("bert".into()))]);
    assert!(matches!(err(&bert), GenerateError::Unsupported(m) if m.contains("bert")));
    let llama = |extra: Vec<(&'static str, Value)>| {
        let mut md = vec![
            ("general.architecture", Value::String("llama".into())),
            ("llama.attention.head_count", Value::U32(9)),
            ("llama.attention.head_count_kv", Value::U32(3)),
            ("llama.embedding_length", Value::U32(576)),
            ("llama.block_count", Value::U32(1)),
            ("llama.rope.dimension_count", Value::U32(64)),
        ];
        md.extend(extra);
        tiny_gguf(&md)
    };
    assert!(matches!(err(&llama(vec![])), GenerateError::Corrupt(m) if m.contains("missing tensor")));
    let zero = tiny_gguf(&[("general.architecture", Value::String("llama".into())), ("llama.attention.head_count", Value::U32(0))]);
    assert!(matches!(err(&zero), GenerateError::Corrupt(_)));
    let odd = llama(vec![("llama.attention.head_count_kv", Value::U32(4))]);
    assert!(matches!(err(&odd), GenerateError::Corrupt(_)));
    // Found by fuzzing: a huge block count once built a list of every tensor name to look up.
    let blocks = llama(vec![("llama.block_count", Value::U32(u32::MAX))]);
    assert!(matches!(err(&blocks), GenerateError::Corrupt(m) if m.contains("missing tensors")));
    // Found by fuzzing: candle's reader divides by general.alignment.
    for zero in [Value::U32(0), Value::U8(0), Value::I16(0)] {
        let aligned = llama(vec![("general.alignment", zero)]);
        assert!(matches!(err(&aligned), GenerateError::Corrupt(m) if m.contains("alignment")));
    }
    assert!(matches!(err(&llama(vec![("general.alignment", Value::U32(32))])), GenerateError::Corrupt(m) if m.contains("missing tensor")));
}

#[test]
fn prompt_longer_than_the_context_is_refused() {
    let g = generator();
    let huge = "word ".repeat(g.context_length() + 10);
    assert!(matches!(g.start(&huge, &greedy(4)).err(), Some(GenerateError::PromptTooLong { .. })));
    assert!(matches!(g.start("", &greedy(4)).err(), Some(GenerateError::PromptTooLong { tokens: 0, .. })));
}

#[test]
fn scoring_follows_greedy_decoding_and_prefers_real_text() {
    let g = generator();
    let prompt = chatml("You are a helpful assistant.", "What is the capital of France?");
    // Plain greedy: no repetition penalty, which scoring does not apply.
    let mut generation = g.start(&prompt, &with(greedy(10), |o| o.repeat_penalty = 1.0)).unwrap();
    while g.step(&mut generation).unwrap().is_some() {}
    let written = generation.generated_tokens().to_vec();
    let mut tokens = g.encode(&prompt).unwrap();
    let prompt_len = tokens.len();
    tokens.extend(&written);
    let scores = g.score(&tokens).unwrap();
    assert_eq!(scores.len(), tokens.len() - 1);
    // The top token after each prefix is what greedy decoding wrote there.
    let tops: Vec<u32> = scores[prompt_len - 1..].iter().map(|s| s.top).collect();
    assert_eq!(tops, written);
    assert!(scores.iter().all(|s| s.logprob <= 0.0 && s.logprob.is_finite()));
    // A sentence is likelier than its words shuffled.
    let sentence = "Ownership is a set of rules that govern how a Rust program manages memory.";
    let shuffled = "memory rules manages Rust govern a program Ownership how set that of is a.";
    let ppl = |text: &str| score::perplexity(&g.score(&g.encode(text).unwrap()).unwrap());
    assert!(ppl(sentence) * 4.0 < ppl(shuffled), "{} vs {}", ppl(sentence), ppl(shuffled));
    assert_eq!(score::agreement(&scores, &scores), 1.0);
}

#[test]
fn loading_through_a_reader_equals_loading_from_bytes() {
    let bytes = read(common::GENERATOR);
    let from_bytes = generator();
    let mut cursor = std::io::Cursor::new(&bytes);
    let from_reader = Generator::from_reader(&mut cursor, bytes.len() as u64).unwrap();
    let prompt = chatml("You are a helpful assistant.", "Name one planet.");
    let answer = |g: &Generator| g.generate(&prompt, &greedy(12), &mut |_| {}).unwrap().0;
    assert_eq!(answer(&from_reader), answer(&from_bytes));
    // A file cut inside its header or its tensors gives the errors from_gguf gives.
    for cut in [1 << 20, bytes.len() / 2] {
        let short = &bytes[..cut];
        let err = Generator::from_reader(&mut std::io::Cursor::new(short), cut as u64).err().expect("a cut file is refused");
        assert_eq!(err.code(), Generator::from_gguf(short).err().expect("refused").code(), "cut at {cut}: {err}");
    }
}

/// Our llama pass (the token table looked up quantised, not copied to f32) computes what
/// candle-transformers' `quantized_llama` computes, bit for bit: the same log-probability for
/// every token read one at a time, and the same greedy tokens after a prompt read in one pass
/// (the masked path).
#[cfg(feature = "oracle")]
#[test]
fn the_llama_pass_equals_candles() {
    use candle_transformers::models::quantized_llama::ModelWeights;
    let bytes = read(common::GENERATOR);
    let g = generator();
    let load = || {
        let mut cursor = std::io::Cursor::new(&bytes);
        let content = candle_core::quantized::gguf_file::Content::read(&mut cursor).unwrap();
        ModelWeights::from_gguf(content, &mut cursor, &candle_core::Device::Cpu).unwrap()
    };
    let forward = |model: &mut ModelWeights, tokens: &[u32], at: usize| {
        let input = candle_core::Tensor::new(tokens, &candle_core::Device::Cpu).unwrap().unsqueeze(0).unwrap();
        model.forward(&input, at).unwrap().squeeze(0).unwrap()
    };
    let text = g.encode("Ownership is a set of rules that govern how a Rust program manages memory.").unwrap();
    let mut candle = load();
    let theirs: Vec<f32> = text
        .windows(2)
        .enumerate()
        .map(|(i, pair)| {
            let logprobs = candle_nn::ops::log_softmax(&forward(&mut candle, &pair[..1], i), candle_core::D::Minus1).unwrap();
            logprobs.to_vec1::<f32>().unwrap()[pair[1] as usize]
        })
        .collect();
    let ours: Vec<f32> = g.score(&text).unwrap().iter().map(|s| s.logprob).collect();
    assert_eq!(ours, theirs);

    let question = chatml("You are a helpful assistant.", "Name three planets.");
    let prompt = g.encode(&question).unwrap();
    let mut candle = load();
    let mut theirs = vec![forward(&mut candle, &prompt, 0).argmax(0).unwrap().to_scalar::<u32>().unwrap()];
    while theirs.len() < 16 {
        let at = prompt.len() + theirs.len() - 1;
        let next = forward(&mut candle, &theirs[theirs.len() - 1..], at).argmax(0).unwrap().to_scalar::<u32>().unwrap();
        theirs.push(next);
    }
    let mut generation = g.start(&question, &with(greedy(16), |o| o.repeat_penalty = 1.0)).unwrap();
    while g.step(&mut generation).unwrap().is_some() {}
    let ours = generation.generated_tokens();
    assert_eq!(ours, &theirs[..ours.len()], "{:?}", g.decode(ours));
    assert!(ours.len() >= 8, "the answer is not cut short: {:?}", g.decode(ours));
}
