//! The `wasmrag` command line, run as a user would, on real pages and the real models.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use wasmrag::Index;

fn wasmrag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmrag")).arg("--models").arg(common::models()).args(args).output().expect("run wasmrag")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn site(dir: &Path) {
    let book = common::book_dir();
    for page in ["ch04-01-what-is-ownership.html", "ch08-03-hash-maps.html"] {
        std::fs::copy(book.join(page), dir.join(page)).unwrap();
    }
    std::fs::create_dir(dir.join("notes")).unwrap();
    std::fs::write(dir.join("notes/cake.md"), "# Cake\n\nMix flour, sugar and eggs, then bake for 30 minutes.").unwrap();
    std::fs::write(dir.join("notes/latin1.txt"), b"caf\xe9 au lait").unwrap();
    std::fs::write(dir.join("notes/binary.txt"), [0u8, 1, 2, 3]).unwrap();
    std::fs::write(dir.join("huge.html"), vec![b'a'; 50 * 1024 * 1024]).unwrap();
    std::fs::write(dir.join("print.html"), "<p>excluded</p>").unwrap();
    std::fs::write(dir.join("image.png"), [137u8, 80, 78, 71]).unwrap();
}

#[test]
fn index_search_and_ask_a_folder() {
    let tmp = tempdir("site");
    site(&tmp);
    let idx = tmp.join("site.idx");
    let out = wasmrag(&["index", tmp.to_str().unwrap(), "--out", idx.to_str().unwrap(), "--exclude", "print.html"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    for skipped in ["latin1.txt", "binary.txt", "huge.html"] {
        assert!(err.lines().any(|l| l.starts_with("warning: skipped") && l.contains(skipped)), "{skipped} not reported: {err}");
    }
    assert!(err.contains("bytes/passage"), "{err}");

    let out = wasmrag(&["search", idx.to_str().unwrap(), "how do hash maps store keys?", "-k", "2", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hits = &found["hits"];
    assert!((2..=3).contains(&hits.as_array().unwrap().len()), "k hits, and the extract's if it ranked lower: {found}");
    assert!(hits[0]["url"].as_str().unwrap().starts_with("ch08-03-hash-maps.html#"));
    // The extract is a sentence of the hit it names, at the byte range it gives.
    let extract = &found["extract"];
    let passage = hits[extract["source"].as_u64().unwrap() as usize - 1]["text"].as_str().unwrap();
    let (start, end) = (extract["start"].as_u64().unwrap() as usize, extract["end"].as_u64().unwrap() as usize);
    assert_eq!(&passage[start..end], extract["text"].as_str().unwrap());
    let all: String = String::from_utf8_lossy(&out.stdout).into();
    assert!(!all.contains("excluded"));

    let out = wasmrag(&["search", idx.to_str().unwrap(), "baking a cake"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // The answering sentence is quoted first, then the ranked hits.
    assert!(text.starts_with("> Mix flour") && text.contains("\n1. Cake"), "{text}");

    let out = wasmrag(&["ask", idx.to_str().unwrap(), "What is ownership?", "--json", "--max-tokens", "40"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!answer["answer"].as_str().unwrap().is_empty());
    let source = &answer["sources"][0];
    assert!(source["url"].as_str().unwrap().starts_with("ch04-01-what-is-ownership.html#"), "{answer}");
    for key in ["title", "score", "text"] {
        assert!(!source[key].is_null(), "{key} missing: {answer}");
    }
    assert!(answer["extract"]["text"].as_str().is_some_and(|t| !t.is_empty()), "{answer}");
    assert!(answer["grounding"]["checked"].is_u64(), "{answer}");

    let out = wasmrag(&["ask", idx.to_str().unwrap(), "What is ownership?", "--max-tokens", "20"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Sources:\n  [1]") && text.contains("ch04-01-what-is-ownership.html#"), "{text}");
    assert!(stderr(&out).contains("tok/s"));
}

#[test]
fn bad_input_fails_with_a_message() {
    let tmp = tempdir("bad");
    let idx = tmp.join("x.idx");
    let empty = tmp.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let check = |args: &[&str], expect: &str| {
        let out = wasmrag(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert!(err.starts_with("error: ") && err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    check(&["index", empty.to_str().unwrap(), "--out", idx.to_str().unwrap()], "no .md, .html, .htm or .txt files");
    check(&["index", tmp.join("missing").to_str().unwrap(), "--out", idx.to_str().unwrap()], "no such file or folder");
    std::fs::write(empty.join("blank.md"), "\n\n").unwrap();
    check(&["index", empty.to_str().unwrap(), "--out", idx.to_str().unwrap()], "nothing to index");
    assert!(!idx.exists(), "no index is written on failure");

    std::fs::write(&idx, b"garbage").unwrap();
    check(&["search", idx.to_str().unwrap(), "q"], "not a wasmrag index");
    check(&["search", tmp.join("nope.idx").to_str().unwrap(), "q"], "nope.idx");

    std::fs::write(empty.join("page.md"), "# Page\n\nSome real text about indexes.").unwrap();
    let out = wasmrag(&["index", empty.to_str().unwrap(), "--out", idx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut bytes = std::fs::read(&idx).unwrap();
    check(&["search", idx.to_str().unwrap(), "   "], "query is empty");
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    std::fs::write(&idx, &bytes).unwrap();
    check(&["search", idx.to_str().unwrap(), "q"], "checksum");
    std::fs::write(&idx, &bytes[..n - 3]).unwrap();
    check(&["search", idx.to_str().unwrap(), "q"], "truncated");
}

#[test]
fn eval_scores_a_beir_folder() {
    let dir = tempdir("beir");
    std::fs::create_dir(dir.join("qrels")).unwrap();
    let docs = [
        ("d1", "Hash maps", "A HashMap stores values by key and looks them up quickly."),
        ("d2", "Threads", "Spawn a thread to run code at the same time as the main thread."),
        ("d3", "Ownership", "Each value has an owner; when the owner goes out of scope the value is dropped."),
        ("d4", "Cooking", "Bake the cake for thirty minutes at 180 degrees."),
    ];
    let corpus: Vec<String> = docs.iter().map(|(id, t, x)| serde_json::json!({"_id": id, "title": t, "text": x}).to_string()).collect();
    std::fs::write(dir.join("corpus.jsonl"), corpus.join("\n")).unwrap();
    let queries = [("q1", "how do I look up a value by its key"), ("q2", "running code concurrently"), ("q3", "what happens when a variable leaves scope")];
    let lines: Vec<String> = queries.iter().map(|(id, t)| serde_json::json!({"_id": id, "text": t}).to_string()).collect();
    std::fs::write(dir.join("queries.jsonl"), lines.join("\n")).unwrap();
    std::fs::write(dir.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n").unwrap();
    let idx = dir.join("beir.idx");
    let run = || wasmrag(&["eval", dir.to_str().unwrap(), "--json", "--index", idx.to_str().unwrap()]);
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["queries"], 3);
    assert_eq!(report["documents"], 4);
    assert_eq!(report["passages"], 4, "one passage per document");
    for mode in ["dense", "bm25", "hybrid"] {
        let m = &report["modes"][mode];
        for metric in ["ndcg_at_10", "recall_at_10", "recall_at_100"] {
            let v = m[metric].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{mode} {metric} = {v}");
        }
    }
    assert_eq!(report["modes"]["dense"]["ndcg_at_10"], 1.0, "each query's document is the nearest: {report}");
    assert_eq!(report["modes"]["hybrid"]["recall_at_10"], 1.0);
    assert!(idx.exists(), "the corpus index is saved for the next run");
    let again: serde_json::Value = serde_json::from_slice(&run().stdout).unwrap();
    assert_eq!(again["modes"], report["modes"], "a reused index gives the same scores");
    let bad = wasmrag(&["eval", dir.to_str().unwrap(), "--split", "train"]);
    assert!(!bad.status.success() && stderr(&bad).contains("train.tsv"), "{}", stderr(&bad));
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wasmrag-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// "embedding cache F: H passages from it, M embedded" from `index --cache`.
fn cache_counts(err: &str) -> (usize, usize) {
    let line = err.lines().find(|l| l.starts_with("embedding cache")).unwrap_or_else(|| panic!("no cache line: {err}"));
    let numbers: Vec<usize> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    (numbers[numbers.len() - 2], numbers[numbers.len() - 1])
}

#[test]
fn a_rebuild_with_the_cache_embeds_only_the_edited_page() {
    let tmp = tempdir("cache");
    let pages = tmp.join("pages");
    std::fs::create_dir(&pages).unwrap();
    let book = common::book_dir();
    std::fs::copy(book.join("ch15-01-box.html"), pages.join("ch15-01-box.html")).unwrap();
    std::fs::write(pages.join("faq.md"), "# FAQ\n\nThe mascot is a crab named Ferris.").unwrap();
    let (idx, cache) = (tmp.join("site.idx"), tmp.join("site.cache"));
    let build = |out: &Path, cache: Option<&Path>| {
        let mut args = vec!["index", pages.to_str().unwrap(), "--out", out.to_str().unwrap()];
        if let Some(c) = cache {
            args.extend(["--cache", c.to_str().unwrap()]);
        }
        let o = wasmrag(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    let (hits, first) = cache_counts(&build(&idx, Some(&cache)));
    assert_eq!(hits, 0);
    std::fs::write(pages.join("faq.md"), "# FAQ\n\nThe mascot is a crab named Ferris.\n\n## Colour\n\nFerris is orange.").unwrap();
    let (hits, misses) = cache_counts(&build(&idx, Some(&cache)));
    assert_eq!(hits + misses, first + 1, "one passage more");
    assert!(misses <= 2, "only the edited page's passages are embedded: {misses}");
    // The same index as a clean build of the edited pages, up to float rounding: a passage's
    // vector depends in its last bits on its batch mates (their padding), which differ when only
    // some passages are embedded, so the int8 vectors may differ by a step (cosine error ~1e-3).
    let clean = tmp.join("clean.idx");
    build(&clean, None);
    let (cached, clean) = (Index::from_bytes(&std::fs::read(&idx).unwrap()).unwrap(), Index::from_bytes(&std::fs::read(&clean).unwrap()).unwrap());
    assert_eq!(cached.chunks(), clean.chunks(), "the same passages in the same order");
    for c in 0..cached.len() as u32 {
        let (a, b) = (cached.vector(c).unwrap().dequantize(), clean.vector(c).unwrap().dequantize());
        let cosine: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!(cosine > 0.995, "passage {c}: cosine {cosine} between the cached and the clean vector");
    }
    // A damaged cache is reported and ignored.
    std::fs::write(&cache, b"WRAGEMBC garbage").unwrap();
    let err = build(&idx, Some(&cache));
    assert!(err.contains("warning:") && err.contains("embedding every passage"), "{err}");
    assert_eq!(cache_counts(&err).0, 0);
}

#[test]
fn a_build_split_into_parts_merges_into_the_same_index_embedding_nothing_twice() {
    let tmp = tempdir("parts");
    let pages = tmp.join("pages");
    std::fs::create_dir(&pages).unwrap();
    let book = common::book_dir();
    for page in ["ch15-01-box.html", "ch08-01-vectors.html"] {
        std::fs::copy(book.join(page), pages.join(page)).unwrap();
    }
    let run = |args: &[&str]| {
        let o = wasmrag(args);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    let p = |name: &str| tmp.join(name).to_str().unwrap().to_string();
    let counts = |err: &str| -> (usize, usize) {
        let line = err.lines().find(|l| l.starts_with("part ")).unwrap_or_else(|| panic!("no part line: {err}"));
        let n: Vec<usize> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|x| x.parse().ok()).collect();
        (n[2], n[3])
    };
    let (a, a_embedded) = counts(&run(&["index", pages.to_str().unwrap(), "--part", "1/2", "--out", &p("1.part")]));
    let (b, b_embedded) = counts(&run(&["index", pages.to_str().unwrap(), "--part", "2/2", "--out", &p("2.part")]));
    assert_eq!((a, b), (a_embedded, b_embedded), "each part embeds its own share");
    assert!(a > 0 && b > 0, "both parts get passages: {a} and {b}");
    let merged = run(&["merge", &p("1.part"), &p("2.part"), "--docs", pages.to_str().unwrap(), "--out", &p("merged.idx")]);
    assert!(merged.contains(&format!("merged 2 parts: {} passages from them, 0 embedded", a + b)), "{merged}");
    run(&["index", pages.to_str().unwrap(), "--out", &p("clean.idx")]);
    let (merged, clean) =
        (Index::from_bytes(&std::fs::read(p("merged.idx")).unwrap()).unwrap(), Index::from_bytes(&std::fs::read(p("clean.idx")).unwrap()).unwrap());
    assert_eq!(merged.chunks(), clean.chunks());
    for c in 0..merged.len() as u32 {
        let (x, y) = (merged.vector(c).unwrap().dequantize(), clean.vector(c).unwrap().dequantize());
        let cosine: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        assert!(cosine > 0.995, "passage {c}: cosine {cosine}");
    }
    // A missing part is embedded and said so; a bad --part is refused.
    let partial = run(&["merge", &p("1.part"), "--docs", pages.to_str().unwrap(), "--out", &p("partial.idx")]);
    assert!(partial.contains(&format!("warning: {b} passages were in no part")), "{partial}");
    let bad = wasmrag(&["index", pages.to_str().unwrap(), "--part", "3/2", "--out", &p("x.part")]);
    assert!(!bad.status.success() && stderr(&bad).contains("--part wants I/N"), "{}", stderr(&bad));
}

#[test]
fn perplexity_compares_generator_files_on_a_page() {
    let models = common::models();
    let page = common::book_dir().join("ch04-01-what-is-ownership.html");
    let (q8, q41) = (models.join(common::GENERATOR), models.join(common::GENERATOR_ORIGINAL));
    let out = wasmrag(&["perplexity", q8.to_str().unwrap(), q41.to_str().unwrap(), "--text", page.to_str().unwrap(), "--tokens", "64", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["top1_agreement"], 1.0, "the first file is the reference");
    assert_eq!(rows[1]["bytes"].as_u64(), Some(std::fs::metadata(&q41).unwrap().len()));
    for r in rows {
        assert_eq!(r["tokens"], 63);
        let ppl = r["perplexity"].as_f64().unwrap();
        assert!(ppl > 1.0 && ppl < 100.0, "{r}");
    }
    // Q8_0 holds the published Q4_1 weights almost exactly: near-equal perplexity, most top tokens shared.
    let (a, b) = (rows[0]["perplexity"].as_f64().unwrap(), rows[1]["perplexity"].as_f64().unwrap());
    assert!((a / b - 1.0).abs() < 0.05, "{a} vs {b}");
    assert!(rows[1]["top1_agreement"].as_f64().unwrap() > 0.85, "{}", rows[1]);
}

#[test]
fn a_sharded_folder_is_searched_reading_only_what_each_query_needs() {
    let tmp = tempdir("shards");
    let pages = tmp.join("pages");
    std::fs::create_dir(&pages).unwrap();
    let book = common::book_dir();
    for page in ["ch04-01-what-is-ownership.html", "ch08-03-hash-maps.html", "ch15-01-box.html", "ch16-01-threads.html"] {
        std::fs::copy(book.join(page), pages.join(page)).unwrap();
    }
    let idx = tmp.join("site.idx");
    let out = wasmrag(&["index", pages.to_str().unwrap(), "--out", idx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Forced small shards, so even four pages make many files.
    let dir = tmp.join("shards");
    let shard = |probe: &str| {
        let o = wasmrag(&[
            "shard",
            idx.to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
            "--partition-passages",
            "8",
            "--probe",
            probe,
            "--postings-bytes",
            "1024",
            "--fragment-bytes",
            "2048",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    shard("2");
    let files = |sub: &str| std::fs::read_dir(dir.join(sub)).unwrap().count();
    assert!(files("vectors") >= 4 && files("terms") >= 4 && files("text") >= 4, "{} {} {}", files("vectors"), files("terms"), files("text"));
    assert!(files("exact") > files("text"), "one passage's vector per file: {} {}", files("exact"), files("text"));

    let query = "how do hash maps store keys?";
    let whole: serde_json::Value = serde_json::from_slice(&wasmrag(&["search", idx.to_str().unwrap(), query, "-k", "3", "--json"]).stdout).unwrap();
    let out = wasmrag(&["search", dir.to_str().unwrap(), query, "-k", "3", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["hits"][0]["url"], whole["hits"][0]["url"], "{found}");
    assert!(found["hits"][0]["snippet"]["text"].as_str().is_some_and(|s| !s.is_empty()));
    let read: Vec<&str> = found["files_read"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert_eq!(read.iter().filter(|f| f.starts_with("vectors/")).count(), 2, "{read:?}");
    assert!(["terms/", "text/", "exact/"].iter().all(|k| read.iter().any(|f| f.starts_with(k))), "{read:?}");
    let total: u64 = walk_bytes(&dir);
    assert!(found["bytes_read"].as_u64().unwrap() < total / 2, "{} of {total}", found["bytes_read"]);

    // Reading every partition gives the whole index's ranking.
    let queries = tmp.join("queries.txt");
    std::fs::write(&queries, "What is ownership?\nBox<T> on the heap\nspawn a thread\nhash map entry API\n").unwrap();
    let out =
        wasmrag(&["search", dir.to_str().unwrap(), "--queries", queries.to_str().unwrap(), "--compare", idx.to_str().unwrap(), "-k", "5", "--probe", "1000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["queries"], 4);
    assert!(report["recall_at_k"].as_f64().unwrap() >= 0.95, "{report}");
    assert!(report["session_bytes_read"].as_f64().unwrap() <= total as f64, "{report}");

    // A damaged shard is refused with the index's error; a rebuild replaces the folder whole.
    let victim = dir.join("text/0.bin");
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let out = wasmrag(&["search", dir.to_str().unwrap(), "ownership", "--probe", "1000", "-k", "50"]);
    assert!(!out.status.success() && stderr(&out).contains("checksum"), "{}", stderr(&out));
    shard("2");
    let out = wasmrag(&["search", dir.to_str().unwrap(), "ownership", "--probe", "1000", "-k", "50"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn walk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).map(|p| if p.is_dir() { walk_bytes(&p) } else { p.metadata().unwrap().len() }).sum()
}
