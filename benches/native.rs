//! Native speed of each pipeline stage on the real models, each beside its baseline, as
//! medians of repeated runs. Run with `make bench-native` (after `make models`).

use std::time::Instant;
use wasmrag::generate::GenerateOptions;
use wasmrag::prompt::chatml;
use wasmrag::{Document, Embedder, Format, Generator};

const RUNS: usize = 5;

/// A k-nearest search over the index, timed against another.
type SearchFn<'a> = &'a dyn Fn(&[f32]) -> Vec<(u32, f32)>;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn read(rel: &str) -> Vec<u8> {
    let dir = std::env::var("WASMRAG_MODELS").unwrap_or_else(|_| "models".into());
    std::fs::read(format!("{dir}/{rel}")).unwrap_or_else(|e| panic!("{dir}/{rel}: {e} (run `make models`)"))
}

fn book_page(name: &str) -> Document {
    let out = std::process::Command::new("rustc").args(["--print", "sysroot"]).output().expect("rustc");
    let root = String::from_utf8(out.stdout).expect("utf8");
    let path = format!("{}/share/doc/rust/html/book/{name}", root.trim());
    Document { url: name.into(), format: Format::Html, bytes: std::fs::read(&path).expect(&path) }
}

/// Prefill tok/s, time to first token (ms) and decode tok/s for one model, greedy or with a
/// seeded temperature/top-p draw.
fn generation(gguf: &[u8], prompt: &str, decode_tokens: usize, sampled: bool) -> (usize, f64, f64, f64) {
    let g = Generator::from_gguf(gguf).expect("model");
    let mut options = GenerateOptions::default();
    (options.max_tokens, options.ignore_end_of_turn) = (decode_tokens + 1, true);
    if sampled {
        options.temperature = 0.7;
        options.top_p = Some(0.9);
    }
    let (mut prefill, mut ttft, mut decode) = (vec![], vec![], vec![]);
    let mut prompt_tokens = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let mut generation = g.start(prompt, &options).expect("start");
        g.step(&mut generation).expect("first token");
        let first = start.elapsed().as_secs_f64();
        prompt_tokens = generation.prompt_tokens();
        let t = Instant::now();
        while g.step(&mut generation).expect("token").is_some() {}
        let n = generation.generated_tokens().len() - 1;
        decode.push(n as f64 / t.elapsed().as_secs_f64());
        prefill.push(prompt_tokens as f64 / first);
        ttft.push(first * 1000.0);
    }
    (prompt_tokens, median(prefill), median(ttft), median(decode))
}

fn main() {
    let embedder =
        Embedder::from_bytes(&read("all-MiniLM-L6-v2/model.safetensors"), &read("all-MiniLM-L6-v2/config.json"), &read("all-MiniLM-L6-v2/tokenizer.json"))
            .expect("embedder");

    // Passages of the Rust Book, cut to ~128 tokens as the embedding benchmark asks.
    let pages = ["ch04-01-what-is-ownership.html", "ch08-01-vectors.html", "ch10-02-traits.html", "ch15-01-box.html"];
    let mut options = wasmrag::ChunkOptions::default();
    options.max_tokens = 128;
    let count = |t: &str| embedder.count_tokens(t);
    let passages: Vec<String> = pages
        .iter()
        .flat_map(|p| wasmrag::chunk::chunk_document(&book_page(p), &options, &count).expect("chunk"))
        .map(|c| c.embedding_text())
        .take(100)
        .collect();
    let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
    let mean_tokens = refs.iter().map(|t| count(t)).sum::<usize>() as f64 / refs.len() as f64;
    println!("wasmrag native benchmark — medians of {RUNS} runs, {} threads", std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!();
    println!("embedding: {} passages, {mean_tokens:.0} tokens on average", refs.len());
    let batch16 = median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                embedder.embed(&refs).expect("embed");
                refs.len() as f64 / t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let batch1 = median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                for r in &refs[..20] {
                    embedder.embed_one(r).expect("embed");
                }
                20.0 / t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let query = median(
        (0..RUNS * 4)
            .map(|_| {
                let t = Instant::now();
                embedder.embed_one("how do I borrow a value mutably?").expect("embed");
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    );
    println!("  {:<34} {:>10.1} passages/s", "batch 16 (sorted by length)", batch16);
    println!("  {:<34} {:>10.1} passages/s   ({:.2}x batch 1)", "batch 1 (baseline)", batch1, batch16 / batch1);
    println!("  {:<34} {:>10.1} ms", "one short query", query);

    // Vector search on the Rust Book index from `make demo` (real MiniLM vectors of real text):
    // HNSW against exact brute force over the same int8 vectors.
    let book_index = std::env::var("WASMRAG_BENCH_INDEX").unwrap_or_else(|_| "www/rust-book.idx".into());
    println!();
    match std::fs::read(&book_index) {
        Err(_) => println!("vector search: skipped ({book_index} missing: run `make demo` first)"),
        Ok(bytes) => {
            let t = Instant::now();
            let index = wasmrag::Index::from_bytes(&bytes).expect("index");
            let load_ms = t.elapsed().as_secs_f64() * 1000.0;
            let questions = [
                "What is ownership?",
                "How do I borrow a value mutably?",
                "How do I read a file?",
                "What is a trait object?",
                "How do closures capture variables?",
                "What does the ? operator do?",
                "How do I create a new vector?",
                "What is a lifetime?",
                "How do I spawn a thread?",
                "How do I handle errors with Result?",
                "What is Cargo?",
                "How do I write tests?",
                "What is a smart pointer?",
                "How do iterators work?",
                "How do I define an enum?",
                "What is shadowing?",
                "How do I publish a crate?",
                "What is a slice?",
                "How do macros work?",
                "What does unsafe allow?",
            ];
            let queries = embedder.embed(&questions).expect("embed");
            let time_queries = |f: SearchFn| {
                median(
                    (0..RUNS)
                        .map(|_| {
                            let t = Instant::now();
                            for q in &queries {
                                f(q);
                            }
                            t.elapsed().as_secs_f64() * 1e6 / queries.len() as f64
                        })
                        .collect(),
                )
            };
            let hnsw_us = time_queries(&|q| index.dense_search(q, 10).expect("search"));
            let exact_us = time_queries(&|q| index.exact_search(q, 10).expect("search"));
            let recall = queries
                .iter()
                .map(|q| {
                    let exact: Vec<u32> = index.exact_search(q, 10).expect("search").iter().map(|h| h.0).collect();
                    index.dense_search(q, 10).expect("search").iter().filter(|h| exact.contains(&h.0)).count()
                })
                .sum::<usize>() as f64
                / (queries.len() * 10) as f64;
            let r = index.size_report();
            println!(
                "vector search: Rust Book index, {} passages, {} bytes ({:.0} bytes/passage), loaded in {load_ms:.0} ms",
                index.len(),
                r.total,
                r.total as f64 / r.chunks as f64
            );
            println!("  {:<34} {:>10.0} µs/query   recall@10 {recall:.3} vs exact", "HNSW", hnsw_us);
            println!("  {:<34} {:>10.0} µs/query   ({:.1}x the HNSW time)", "exact brute force (baseline)", exact_us, exact_us / hnsw_us);
        }
    }

    // Generation: the shipped Q8_0 against the published Q4_1 on a RAG-sized prompt.
    let sources: String = passages.iter().take(5).enumerate().map(|(i, p)| format!("[{}] {p}\n\n", i + 1)).collect();
    let prompt = chatml(wasmrag::prompt::SYSTEM, &format!("Sources:\n\n{sources}Question: What is ownership?"));
    println!();
    println!("generation: SmolLM2-135M-Instruct, greedy, 128 decoded tokens");
    let rows = [
        ("Q8_0 (shipped)", "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q8_0.gguf"),
        ("Q4_1 (published, baseline)", "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"),
    ];
    let mut results = Vec::new();
    for (name, file) in rows {
        let (n, prefill, ttft, decode) = generation(&read(file), &prompt, 128, false);
        println!("  {name:<34} prefill {prefill:>6.1} tok/s ({n} tokens, first token {ttft:>5.0} ms)   decode {decode:>5.1} tok/s");
        results.push((prefill, decode));
    }
    println!("  shipped vs published: prefill {:.2}x, decode {:.2}x", results[0].0 / results[1].0, results[0].1 / results[1].1);
    let (_, _, _, sampled) = generation(&read(rows[0].1), &prompt, 128, true);
    println!("  {:<34} decode {sampled:>5.1} tok/s   ({:.2}x greedy)", "Q8_0, temperature 0.7, top-p 0.9", sampled / results[0].1);
}
