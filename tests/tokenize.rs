//! Our tokenizers (src/tokenize) against Hugging Face's `tokenizers`, the oracle, set up as the
//! embedder and the generator used it before: the same ids (and attention masks, truncation)
//! for BERT WordPiece, the same ids and decoded text for byte-level BPE, on the Rust Book's
//! passages and pages, the evaluation corpora, hand-made edge cases, every Unicode scalar
//! value, and random strings. Run with `cargo test --release --features oracle --test tokenize`.
#![cfg(feature = "oracle")]

mod common;

use candle_core::quantized::gguf_file::{self, Content, Value};
use common::{book_dir, models, read};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer, TruncationParams};
use wasmrag::chunk::chunk_document;
use wasmrag::tokenize::{ByteLevelBpe, WordPiece};
use wasmrag::{ChunkOptions, Document, Format};

const MAX_TOKENS: usize = wasmrag::embed::MAX_TOKENS;

/// The embedder's tokenizer as `Embedder` set it up with `tokenizers`: truncated at the
/// window, no padding; and its copy without truncation, for counting.
struct HfBert {
    window: Tokenizer,
    counter: Tokenizer,
}

fn hf_bert(json: &[u8]) -> HfBert {
    let mut window = Tokenizer::from_bytes(json).expect("tokenizers reads it");
    window.with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() })).unwrap();
    window.with_padding(None);
    let mut counter = window.clone();
    counter.with_truncation(None).unwrap();
    HfBert { window, counter }
}

/// The generator's tokenizer as `generate::tokenizer::from_gguf` built it with `tokenizers`.
fn hf_bpe(content: &Content) -> Tokenizer {
    let md = &content.metadata;
    let strings = |key: &str| -> Vec<String> {
        match md.get(key) {
            Some(Value::Array(items)) => items.iter().map(|i| i.to_string().unwrap().clone()).collect(),
            _ => panic!("{key}"),
        }
    };
    let tokens = strings("tokenizer.ggml.tokens");
    let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let merges = strings("tokenizer.ggml.merges").iter().map(|m| m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).unwrap()).collect();
    let bpe = BPE::builder().vocab_and_merges(vocab, merges).build().unwrap();
    let mut tokenizer = Tokenizer::new(bpe);
    let byte_level = ByteLevel::new(false, true, true);
    let pre = md.get("tokenizer.ggml.pre").and_then(|v| v.to_string().ok());
    let pre_tokenizer: PreTokenizerWrapper =
        if pre.map(String::as_str) == Some("smollm") { Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into() } else { byte_level.into() };
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    if let Some(Value::Array(types)) = md.get("tokenizer.ggml.token_type") {
        let special: Vec<AddedToken> =
            types.iter().zip(&tokens).filter(|(t, _)| matches!(t.to_i32(), Ok(3 | 4))).map(|(_, tok)| AddedToken::from(tok.clone(), true)).collect();
        tokenizer.add_special_tokens(special).unwrap();
    }
    tokenizer
}

fn generator_content() -> Content {
    let path = models().join(common::GENERATOR);
    let mut file = std::fs::File::open(&path).expect("generator GGUF");
    gguf_file::Content::read(&mut file).expect("GGUF header")
}

/// Both BPE tokenizers of the real generator: the oracle and ours.
fn bpe_pair() -> (Tokenizer, ByteLevelBpe) {
    let content = generator_content();
    (hf_bpe(&content), wasmrag::generate::tokenizer::from_gguf(&content).expect("ours"))
}

/// Both WordPiece tokenizers of `json`.
fn bert_pair(json: &[u8]) -> (HfBert, WordPiece) {
    (hf_bert(json), WordPiece::from_json(json).expect("ours reads it"))
}

/// What was compared, for the report each test prints.
#[derive(Default)]
struct Tally {
    texts: usize,
    tokens: usize,
}

/// Checks one text through both BERT tokenizers: embedding ids (with `[CLS]`/`[SEP]`,
/// truncated) and attention mask, and counting ids (neither).
fn check_bert(hf: &HfBert, ours: &WordPiece, text: &str, tally: &mut Tally) {
    let theirs = hf.window.encode_fast(text, true).unwrap();
    let mine = ours.encode(text, true, Some(MAX_TOKENS));
    assert_eq!(mine, theirs.get_ids(), "embedding ids of {text:?}");
    assert!(theirs.get_attention_mask().iter().all(|&m| m == 1) && theirs.get_attention_mask().len() == mine.len(), "mask of {text:?}");
    let theirs = hf.counter.encode_fast(text, false).unwrap();
    let mine = ours.encode(text, false, None);
    assert_eq!(mine, theirs.get_ids(), "counting ids of {text:?}");
    assert_eq!(ours.count(text), theirs.len());
    tally.texts += 1;
    tally.tokens += mine.len();
}

/// Checks one text through both BPE tokenizers: ids, and the decoded text with and without
/// special tokens.
fn check_bpe(hf: &Tokenizer, ours: &ByteLevelBpe, text: &str, tally: &mut Tally) -> Vec<u32> {
    let theirs = hf.encode_fast(text, false).unwrap();
    let mine = ours.encode(text);
    assert_eq!(mine, theirs.get_ids(), "BPE ids of {text:?}");
    for skip in [true, false] {
        assert_eq!(ours.decode(&mine, skip), hf.decode(&mine, skip).unwrap(), "decoding {text:?} (skip specials: {skip})");
    }
    tally.texts += 1;
    tally.tokens += mine.len();
    mine
}

/// Streaming: the generator decodes the answer so far after every token; every prefix (up
/// to `max` of them, spread out) must decode the same, half-characters included.
fn check_prefixes(hf: &Tokenizer, ours: &ByteLevelBpe, ids: &[u32], max: usize) {
    let step = ids.len().div_ceil(max.max(1)).max(1);
    for end in (0..=ids.len()).step_by(step) {
        assert_eq!(ours.decode(&ids[..end], true), hf.decode(&ids[..end], true).unwrap(), "prefix {end} of {ids:?}");
    }
}

/// The text passages of the Rust Book as the site's index has them (pages as
/// scripts/index-book.sh indexes them), and the raw HTML of every top-level page.
fn book_texts(count: &dyn Fn(&str) -> usize) -> (Vec<String>, Vec<String>) {
    let dir = book_dir();
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "html")).collect();
    pages.sort();
    let (mut passages, mut raw) = (Vec::new(), Vec::new());
    for page in &pages {
        let bytes = std::fs::read(page).unwrap();
        raw.push(String::from_utf8_lossy(&bytes).into_owned());
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        if name == "print.html" || name == "toc.html" {
            continue;
        }
        let doc = Document { url: name, format: Format::Html, bytes };
        for chunk in chunk_document(&doc, &ChunkOptions::default(), count).unwrap_or_default() {
            passages.push(chunk.title);
            passages.extend(chunk.headings);
            passages.push(chunk.text);
        }
    }
    assert!(passages.len() > 2000, "{} passages", passages.len());
    (passages, raw)
}

/// Titles and texts of the first `limit` documents of a corpus.jsonl beside the repository.
fn corpus(name: &str, limit: usize) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval").join(name).join("corpus.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for line in text.lines().take(limit) {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in ["title", "text"] {
            if let Some(s) = doc.get(key).and_then(|v| v.as_str()) {
                out.push(s.to_string());
            }
        }
    }
    out
}

/// Hand-made inputs at the edges of the rules.
fn edge_cases() -> Vec<String> {
    let mut cases: Vec<String> = [
        "",
        " ",
        "   ",
        "a",
        "Hello, world!",
        "Héllo Wörld ÀÉÎÕÜ àéîõü ÇçÑñ ß ẞ Ǆǅǆ ﬁ ﬂ Ω Å K",
        "e\u{301}\u{302}\u{303} o\u{308}\u{304} a\u{0328}\u{0301} q\u{0307}\u{0323} \u{301}lonely marks\u{301}",
        "İstanbul ıi ΣΑΣ σας ς Ⅻ ⅻ ǅ",
        "日本語のテキストと中文文本，以及한국어 텍스트。㐀𠀀𪜀𫝀𫠠𬺰 豈 丽",
        "emoji 😀👍🏽👨‍👩‍👧‍👦🏳️‍🌈 ❤️ ✈︎ 🦀🇫🇷 #️⃣",
        "عربي: مرحبا بالعالم ١٢٣ ٤٥٦ — हिन्दी: नमस्ते दुनिया १२३ — ไทย สวัสดี ๑๒๓",
        "control\u{0}chars\u{1}\u{7}\u{8}\u{b}\u{c}\u{1b}[0m\u{7f}\u{80}\u{85}\u{9f}",
        "replacement \u{FFFD}\u{FFFD} char, BOM \u{FEFF}here",
        "zero\u{200B}width\u{200C}non\u{200D}joiner\u{2060}word\u{00AD}soft\u{180E}mongolian",
        "spaces:\t\n\r\u{b}\u{c} \u{85}\u{a0}\u{1680}\u{2000}\u{2001}\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\u{2007}\u{2008}\u{2009}\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}end",
        "a\u{2028}b\u{2029}c\u{3000}\u{3000}d\u{a0}\u{a0}e \u{a0}f\u{a0} g",
        "trailing spaces   ",
        "   leading spaces",
        "tabs\t\tand\n\n\nnewlines\r\n\r\nend\n",
        "[SEP] [CLS][SEP][MASK] [PAD]x[UNK]y [sep] [ SEP ] [[SEP]] [SEP",
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<|endoftext|><|im_end|x <|im_start|><|im_start|>",
        "<repo_name>x<file_sep>y<|im_start|> <jupyter_code>",
        "12345 3.14159 1,000,000 0x1F 2024-11-30 v1.2.3 ½ ² ³ ¼ ① Ⅷ 𝟘𝟙𝟚 ٣٤ १२",
        "99999999999999999999999999999999999999999999999999",
        "it's don't we're they've I'm you'll he'd IT'S Don'T 's 't 're ''s '''' ' ll",
        "contractions'sxyz 's's's'''s",
        "x'",
        "punctuation!!! ??? ... --- ___ *** &&& ||| ::: ;;; @@@ ### $$$ %%% ^^^ ``` ~~~ ((( ))) [[[ ]]] {{{ }}} <<< >>> === +++",
        "fn main() { println!(\"{}\", x.iter().map(|y| y * 2).collect::<Vec<_>>()); } // comment",
        "\u{E000}private\u{F8FF} \u{F0000} \u{10FFFD} unassigned \u{378}\u{E0001}\u{E007F} tags",
        "new letters: 𞓐𞓑 (Nag Mundari) 𑼀𑼁 (Kawi) 𖵀 𐵐 — math 𝐀𝐁𝐂 𝔄 ℌ",
        "superscripts x² y³ H₂O",
        "\u{1F3FB}\u{FE0F}\u{20E3}\u{E0020}",
        "ǰ ΐ ΰ և ẖ ẗ ẘ ẙ ẚ ŉ",
        "ＦＵＬＬＷＩＤＴＨ ｈａｌｆ ｶﾀｶﾅ",
        "a\u{300}\u{316}\u{301}\u{317}b\u{1D165}\u{1D16D}c",
    ]
    .map(String::from)
    .to_vec();
    cases.push(format!("{} {} {}", "a".repeat(99), "b".repeat(100), "c".repeat(101)));
    cases.push(format!("{} {}", "é".repeat(100), "é".repeat(101)));
    cases.push("supercalifragilisticexpialidocious".repeat(4));
    cases.push("x ".repeat(400));
    cases.push("word, ".repeat(300));
    cases.push(" ".repeat(1000));
    cases.push("\n".repeat(50) + "x");
    cases.push("-".repeat(500));
    cases.push("1".repeat(600));
    cases.push("日".repeat(300));
    cases.push("[SEP]".repeat(300));
    cases.push("🦀".repeat(200));
    cases
}

/// A deterministic stream of numbers (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random strings over a mixed alphabet: letters of many scripts, digits, punctuation, every
/// kind of whitespace, controls, marks, emoji parts, special tokens and contractions.
fn random_texts(seed: u64, count: usize) -> Vec<String> {
    const PARTS: &[&str] = &[
        "a",
        "b",
        "e",
        "z",
        "A",
        "Z",
        "th",
        "the",
        "ing",
        "re",
        "ve",
        "ll",
        "s",
        "t",
        "m",
        "d",
        "0",
        "1",
        "7",
        "9",
        "42",
        " ",
        " ",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\u{b}",
        "\u{c}",
        "\u{85}",
        "\u{a0}",
        "\u{2003}",
        "\u{3000}",
        "\u{2028}",
        "'",
        "'",
        "\"",
        ".",
        ",",
        "!",
        "?",
        "-",
        "_",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "<",
        ">",
        "|",
        "#",
        "$",
        "%",
        "&",
        "*",
        "/",
        "\\",
        "@",
        "^",
        "`",
        "~",
        ":",
        ";",
        "=",
        "+",
        "é",
        "É",
        "e\u{301}",
        "\u{301}",
        "\u{308}",
        "\u{327}",
        "ñ",
        "ß",
        "İ",
        "ı",
        "Σ",
        "ς",
        "ω",
        "Ж",
        "ж",
        "日",
        "本",
        "語",
        "한",
        "글",
        "カ",
        "な",
        "ｶ",
        "中",
        "𠀀",
        "😀",
        "👍",
        "🏽",
        "\u{200d}",
        "\u{fe0f}",
        "🇫",
        "🇷",
        "🦀",
        "ع",
        "ر",
        "ب",
        "ي",
        "١",
        "٢",
        "ह",
        "ि",
        "न",
        "्",
        "द",
        "ी",
        "१",
        "ไ",
        "ท",
        "ย",
        "๑",
        "\u{0}",
        "\u{1}",
        "\u{7f}",
        "\u{9f}",
        "\u{ad}",
        "\u{200b}",
        "\u{200c}",
        "\u{2060}",
        "\u{feff}",
        "\u{fffd}",
        "\u{e000}",
        "\u{378}",
        "\u{e0001}",
        "½",
        "²",
        "Ⅻ",
        "①",
        "𝟙",
        "[SEP]",
        "[CLS]",
        "[MASK]",
        "[PAD]",
        "[UNK]",
        "[",
        "SEP]",
        "<|im_start|>",
        "<|im_end|>",
        "<|endoftext|>",
        "<|im_",
        "'s",
        "'t",
        "'re",
        "'ll",
        "n't",
        "...",
        "--",
        "—",
        "–",
        "“",
        "”",
        "‘",
        "’",
        "«",
        "»",
        "¿",
        "¡",
        "€",
        "£",
        "¥",
        "©",
        "®",
        "™",
        "°",
        "±",
        "×",
        "÷",
        "→",
        "∀",
        "∑",
        "√",
        "∞",
        "≠",
        "≤",
    ];
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| {
            let len = rng.below(60);
            (0..len).map(|_| PARTS[rng.below(PARTS.len())]).collect()
        })
        .collect()
}

/// Every Unicode scalar value, many per text, in a few surroundings (alone, inside a word,
/// doubled, after a space, before a digit, after an accent).
fn every_char_texts() -> Vec<String> {
    let chars: Vec<char> = (0..=0x10FFFFu32).filter_map(char::from_u32).collect();
    let mut texts = Vec::new();
    for group in chars.chunks(48) {
        let mut a = String::new();
        let mut b = String::new();
        for &c in group {
            a.push(c);
            a.push(' ');
            b.push_str(&format!("x{c}y {c}{c}1 e\u{301}{c}\n"));
        }
        texts.push(a);
        texts.push(b);
    }
    texts
}

fn minilm() -> Vec<u8> {
    read("all-MiniLM-L6-v2/tokenizer.json")
}

#[test]
fn bert_matches_on_edge_cases_random_strings_and_every_char() {
    let (hf, ours) = bert_pair(&minilm());
    let mut tally = Tally::default();
    for text in edge_cases().iter().chain(&random_texts(1, 20_000)) {
        check_bert(&hf, &ours, text, &mut tally);
    }
    let edges = tally.tokens;
    for text in every_char_texts() {
        check_bert(&hf, &ours, &text, &mut tally);
    }
    println!("BERT: {} texts, {} tokens equal ({edges} in edge cases and random strings)", tally.texts, tally.tokens);
}

#[test]
fn bpe_matches_on_edge_cases_random_strings_and_every_char() {
    let (hf, ours) = bpe_pair();
    let mut tally = Tally::default();
    for text in edge_cases().iter().chain(&random_texts(2, 20_000)) {
        let ids = check_bpe(&hf, &ours, text, &mut tally);
        check_prefixes(&hf, &ours, &ids, 10_000);
    }
    let edges = tally.tokens;
    for text in every_char_texts() {
        check_bpe(&hf, &ours, &text, &mut tally);
    }
    // Any ids at all, unknown ones and cut characters included.
    let mut rng = Rng(3);
    let vocab = hf.get_vocab_size(true) as u64;
    for _ in 0..20_000 {
        let ids: Vec<u32> = (0..rng.below(20)).map(|_| (rng.next() % (vocab + 10)) as u32).collect();
        for skip in [true, false] {
            assert_eq!(ours.decode(&ids, skip), hf.decode(&ids, skip).unwrap(), "decoding {ids:?}");
        }
    }
    println!("BPE: {} texts, {} tokens equal ({edges} in edge cases and random strings); 20000 random id lists decode equal", tally.texts, tally.tokens);
}

#[test]
fn both_match_on_the_rust_book_and_the_eval_corpora() {
    let (hf_bert, bert) = bert_pair(&minilm());
    let (hf_bpe, bpe) = bpe_pair();
    let (passages, pages) = book_texts(&|t| bert.count(t));
    let sets = [
        ("Rust Book passages", passages),
        ("Rust Book pages (HTML)", pages),
        ("cmu-qa-dev", corpus("cmu-qa-dev", usize::MAX)),
        ("scifact (first 3000 documents)", corpus("scifact", 3000)),
    ];
    for (name, texts) in &sets {
        let (mut b, mut g) = (Tally::default(), Tally::default());
        for text in texts {
            check_bert(&hf_bert, &bert, text, &mut b);
            let ids = check_bpe(&hf_bpe, &bpe, text, &mut g);
            if ids.len() < 2000 {
                check_prefixes(&hf_bpe, &bpe, &ids, 50);
            }
        }
        println!("{name}: {} texts; BERT {} tokens equal, BPE {} tokens equal", b.texts, b.tokens, g.tokens);
    }
    // Batches as the embedder encodes them.
    let texts: Vec<&str> = sets[0].1.iter().take(64).map(String::as_str).collect();
    let batch = hf_bert.window.encode_batch_fast(texts.clone(), true).unwrap();
    for (text, enc) in texts.iter().zip(&batch) {
        assert_eq!(bert.encode(text, true, Some(MAX_TOKENS)), enc.get_ids());
    }
}

/// Variants of the MiniLM file: other BERT encoders' settings.
#[test]
fn bert_variants_match() {
    let base: serde_json::Value = serde_json::from_slice(&minilm()).unwrap();
    let variant = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = base.clone();
        edit(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let normalizer = |clean: bool, chinese: bool, strip: serde_json::Value, lower: bool| serde_json::json!({"type": "BertNormalizer", "clean_text": clean, "handle_chinese_chars": chinese, "strip_accents": strip, "lowercase": lower});
    let mut files = Vec::new();
    for strip in [serde_json::Value::Null, true.into(), false.into()] {
        for lower in [true, false] {
            let n = normalizer(true, true, strip.clone(), lower);
            files.push(variant(&|v| v["normalizer"] = n.clone()));
        }
    }
    let n = normalizer(false, false, serde_json::Value::Null, true);
    files.push(variant(&|v| v["normalizer"] = n.clone()));
    let seq = serde_json::json!({"type": "Sequence", "normalizers": [normalizer(true, true, false.into(), false), {"type": "NFD"}, {"type": "StripAccents"}, {"type": "Lowercase"}]});
    files.push(variant(&|v| v["normalizer"] = seq.clone()));
    files.push(variant(&|v| v["normalizer"] = serde_json::Value::Null));
    files.push(variant(&|v| v["post_processor"] = serde_json::json!({"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]})));
    files.push(variant(&|v| v["post_processor"] = serde_json::Value::Null));
    files.push(variant(&|v| {
        v["added_tokens"].as_array_mut().unwrap().push(
            serde_json::json!({"id": 30522, "content": "Rust", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false}),
        );
        v["added_tokens"].as_array_mut().unwrap().push(
            serde_json::json!({"id": 30523, "content": "<new>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}),
        );
    }));
    files.push(variant(&|v| v["model"]["max_input_chars_per_word"] = 8.into()));
    let mut texts = edge_cases();
    texts.extend(random_texts(4, 3000));
    texts.extend(["The Rust <new>programming language; rust, RUST, rusty".to_string(), "Ünïcödé ÀÉÎ İ".to_string()]);
    for file in &files {
        let (hf, ours) = bert_pair(file);
        let mut tally = Tally::default();
        for text in &texts {
            check_bert(&hf, &ours, text, &mut tally);
        }
    }
    println!("{} BERT variants x {} texts equal", files.len(), texts.len());
}

/// A measurement, not a check: tokenizing speed beside `tokenizers` (best of 3), printed. Run
/// with `--ignored --nocapture`.
#[test]
#[ignore = "a speed comparison that prints, not a check"]
fn speed_on_the_rust_book() {
    let (hf_bert, bert) = bert_pair(&minilm());
    let (hf_bpe, bpe) = bpe_pair();
    let (passages, _) = book_texts(&|t| bert.count(t));
    let time = |encode: &dyn Fn(&str)| {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            passages.iter().for_each(|t| encode(t));
            best = best.min(start.elapsed());
        }
        best
    };
    let bytes: usize = passages.iter().map(String::len).sum();
    let rows = [
        (
            "BERT, as embedded (window)",
            time(&|t| drop(black_box(hf_bert.window.encode_fast(t, true).unwrap()))),
            time(&|t| drop(black_box(bert.encode(t, true, Some(MAX_TOKENS))))),
        ),
        ("BERT, counted (whole text)", time(&|t| drop(black_box(hf_bert.counter.encode_fast(t, false).unwrap()))), time(&|t| _ = black_box(bert.count(t)))),
        ("BPE, encoded", time(&|t| drop(black_box(hf_bpe.encode_fast(t, false).unwrap()))), time(&|t| drop(black_box(bpe.encode(t))))),
    ];
    println!("{} Rust Book passages, {:.1} MB, best of 3, one thread:", passages.len(), bytes as f64 / 1e6);
    for (name, theirs, ours) in rows {
        println!(
            "  {name}: tokenizers {:.0} ms, ours {:.0} ms ({:.1}x)",
            theirs.as_secs_f64() * 1e3,
            ours.as_secs_f64() * 1e3,
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    }
}
