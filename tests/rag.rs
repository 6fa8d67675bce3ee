//! The whole pipeline on real Rust Book pages with the real models: index, search, ask.

mod common;

use common::{book_documents, embedder, generator, with};
use std::sync::OnceLock;
use wasmrag::rag::NOT_FOUND;
use wasmrag::{AskOptions, ChunkOptions, Document, Format, Index, Rag, RagError};

/// The index bytes, built once for all tests in this file.
fn index_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut stages = Vec::new();
        let built = wasmrag::build_index(&book_documents(), &embedder(), &ChunkOptions::default(), &mut |p| stages.push(p)).unwrap();
        assert!(built.skipped.is_empty());
        assert!(matches!(stages.last(), Some(wasmrag::Progress::Indexing)));
        built.index.to_bytes()
    })
}

fn rag() -> Rag {
    Rag::new(Index::from_bytes(index_bytes()).unwrap(), embedder()).unwrap()
}

fn top_page(rag: &Rag, query: &str) -> String {
    let hits = rag.search(query, 3).unwrap();
    hits[0].url.split('#').next().unwrap().to_string()
}

#[test]
fn search_finds_the_right_chapter() {
    let rag = rag();
    assert_eq!(top_page(&rag, "What is ownership?"), "ch04-01-what-is-ownership.html");
    assert_eq!(top_page(&rag, "How do I store values by key and look them up?"), "ch08-03-hash-maps.html");
    assert_eq!(top_page(&rag, "putting data on the heap with a smart pointer"), "ch15-01-box.html");
    assert_eq!(top_page(&rag, "run code in parallel with spawn"), "ch16-01-threads.html");
    assert_eq!(top_page(&rag, "can I have two mutable references at once?"), "ch04-02-references-and-borrowing.html");
    let hits = rag.search("HashMap entry or_insert", 5).unwrap();
    assert!(hits[0].url.starts_with("ch08-03-hash-maps.html#"), "{}", hits[0].url);
    let h = &hits[0];
    assert!(!h.snippet.highlights.is_empty());
    for &(a, b) in &h.snippet.highlights {
        assert!(h.snippet.text.is_char_boundary(a) && h.snippet.text.is_char_boundary(b));
    }
    assert_eq!(h.title, "Storing Keys with Associated Values in Hash Maps - The Rust Programming Language");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn empty_query_and_missing_generator_are_errors() {
    let rag = rag();
    assert!(matches!(rag.search("   ", 3), Err(RagError::EmptyQuery)));
    assert!(matches!(rag.ask("What is ownership?", &AskOptions::default(), &mut |_| {}), Err(RagError::NoGenerator)));
}

#[test]
fn ask_answers_from_the_sources_and_streams() {
    let mut rag = rag();
    rag.set_generator(generator()).unwrap();
    let options = with(AskOptions::default(), |o| o.generate.max_tokens = 60);
    let mut streamed = String::new();
    let answer = rag.ask("What are the ownership rules in Rust?", &options, &mut |t| streamed.push_str(t)).unwrap();
    assert!(answer.found);
    assert_eq!(streamed.trim(), answer.answer);
    assert!(answer.answer.len() > 20, "{}", answer.answer);
    assert!(answer.answer.to_lowercase().contains("owner"), "{}", answer.answer);
    assert!(answer.sources[0].url.starts_with("ch04-01-what-is-ownership.html#"), "{:?}", answer.sources[0].url);
    assert!((1..=3).contains(&answer.sources.len()));
    assert!(answer.prompt_tokens > 100 && answer.generated_tokens > 0);
    // Sentences are attributed to the sources they resemble, and those sources marked cited.
    assert!(!answer.citations.is_empty(), "{answer:?}");
    for c in &answer.citations {
        let sentence = answer.answer.get(c.start..c.end).expect("citation ranges are char boundaries");
        assert!(sentence.split_whitespace().count() >= 4, "{sentence:?}");
        assert!(c.cosine >= wasmrag::rag::ATTRIBUTION_MIN_COSINE);
        assert!(answer.sources.iter().any(|s| s.n == c.source && s.cited));
    }
}

#[test]
fn off_topic_questions_are_not_answered() {
    let mut rag = rag();
    rag.set_generator(generator()).unwrap();
    let mut streamed = String::new();
    let answer = rag.ask("What is the best recipe for chocolate cake?", &AskOptions::default(), &mut |t| streamed.push_str(t)).unwrap();
    assert!(!answer.found);
    assert_eq!(answer.answer, NOT_FOUND);
    assert_eq!(streamed, NOT_FOUND);
    assert!(!answer.sources.is_empty(), "the nearest passages are still returned");
    assert_eq!(answer.generated_tokens, 0);
}

#[test]
fn a_question_naming_what_no_page_mentions_is_declined() {
    let rag = rag();
    let options = AskOptions::default();
    assert!(rag.would_answer("How does ownership work in Rust?", &options).unwrap());
    assert!(!rag.would_answer("How does ownership work in Zorblang?", &options).unwrap(), "no page names Zorblang");
    assert_eq!(wasmrag::extract::unknown_name(rag.index(), "How does ownership work in Zorblang?"), Some("Zorblang"));
    let mut keep = options.clone();
    keep.decline_unknown_names = false;
    assert!(rag.would_answer("How does ownership work in Zorblang?", &keep).unwrap(), "the same question passes the other checks");
}

#[test]
fn index_from_another_embedder_is_refused() {
    let index = Index::from_bytes(index_bytes()).unwrap();
    let other = wasmrag::index::IndexInfo { embedder: "0123456789abcdef".into(), ..index.info().clone() };
    let foreign = Index::build(other, index.chunks().to_vec(), &vec![vec![0.05; 384]; index.len()]).unwrap();
    assert!(matches!(Rag::new(foreign, embedder()), Err(RagError::EmbedderMismatch { .. })));
}

#[test]
fn documents_can_be_added_and_removed() {
    let mut rag = rag();
    let before = rag.index().len();
    let page = Document {
        url: "faq.md".into(),
        format: Format::Markdown,
        bytes: b"# FAQ\n\n## Zebras {#zebras}\n\nThe wasmrag mascot is a striped zebra named Ferrisa.".to_vec(),
    };
    let bad = Document { url: "bad.txt".into(), format: Format::Text, bytes: vec![0, 159, 146, 150] };
    let skipped = rag.add_documents(&[page, bad]).unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(rag.index().len(), before + 1);
    assert_eq!(rag.search("what animal is the mascot?", 1).unwrap()[0].url, "faq.md#zebras");
    // The updated index survives export and reload.
    let reloaded = Rag::new(Index::from_bytes(&rag.index().to_bytes()).unwrap(), embedder()).unwrap();
    assert_eq!(reloaded.search("what animal is the mascot?", 1).unwrap()[0].url, "faq.md#zebras");
    rag.remove_documents(&["faq.md"]).unwrap();
    assert_eq!(rag.index().len(), before);
    let all: Vec<String> = rag.index().chunks().iter().map(|c| c.url.clone()).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    assert!(rag.remove_documents(&all).is_err());
    assert_eq!(rag.index().len(), before, "a failed change keeps the index");
}

#[test]
fn nothing_to_index_is_an_error() {
    let empty = Document { url: "empty.md".into(), format: Format::Markdown, bytes: b"\n\n".to_vec() };
    let binary = Document { url: "x.txt".into(), format: Format::Text, bytes: vec![0; 10] };
    let err = wasmrag::build_index(&[empty, binary], &embedder(), &ChunkOptions::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, RagError::NothingIndexed(2, 1)), "{err}");
}

/// The gold Rust Book questions (tests/data/rust-book-qa.jsonl) whose page is in this index.
fn gold_questions() -> Vec<(String, Vec<String>, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rust-book-qa.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| common::BOOK_PAGES.contains(&v["doc_id"].as_str().unwrap()))
        .map(|v| {
            let answers = v["answers"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_lowercase()).collect();
            (v["question"].as_str().unwrap().to_string(), answers, v["doc_id"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn search_returns_an_extract_that_answers_gold_questions() {
    let rag = rag();
    let questions = gold_questions();
    assert!(questions.len() >= 5, "{}", questions.len());
    let mut answered = 0;
    for (question, answers, _) in &questions {
        let found = rag.search_extract(question, 5, &wasmrag::ExtractOptions::default()).unwrap();
        let extract = found.extract.expect("an extract");
        let hit = &found.hits[extract.source - 1];
        assert_eq!(hit.url, extract.url);
        assert_eq!(&hit.text[extract.start..extract.end], extract.text);
        if answers.iter().any(|a| extract.text.to_lowercase().contains(a.as_str())) {
            answered += 1;
        }
    }
    eprintln!("extract holds a gold answer for {answered} of {} questions", questions.len());
    assert!(answered * 10 >= questions.len() * 7, "{answered} of {}", questions.len());
}

#[test]
fn answers_are_grounded_and_cite_only_real_sources() {
    let mut rag = rag();
    rag.set_generator(generator()).unwrap();
    let options = with(AskOptions::default(), |o| o.generate.max_tokens = 48);
    let answer = rag.ask("What happens to a value when its owner goes out of scope?", &options, &mut |_| {}).unwrap();
    assert!(answer.found, "{answer:?}");
    assert!(answer.prompt_tokens <= 300, "{}", answer.prompt_tokens);
    let extract = answer.extract.as_ref().expect("an extract");
    assert!((1..=answer.sources.len()).contains(&extract.source));
    for n in wasmrag::prompt::citations(&answer.answer, 99) {
        assert!((1..=answer.sources.len()).contains(&n), "[{n}] in {:?}", answer.answer);
    }
    if answer.grounding.fell_back {
        assert!(answer.answer.starts_with(&extract.text), "{answer:?}");
    }
    eprintln!("answer {:?}, grounding {:?}", answer.answer, answer.grounding);
}

/// An answer whose sentences keep failing the check stops generating after two and shows the
/// extract, rather than running to its token limit: here no sentence can pass (a support
/// above 1 is impossible), so whatever the model writes, it stops at its second sentence.
#[test]
fn an_answer_that_grounds_nothing_stops_early() {
    let mut rag = rag();
    rag.set_generator(generator()).unwrap();
    let options = with(AskOptions::default(), |o| {
        o.generate.max_tokens = 256;
        o.min_support = 1.5;
    });
    let answer = rag.ask("What are the ownership rules in Rust?", &options, &mut |_| {}).unwrap();
    let extract = answer.extract.as_ref().expect("an extract");
    assert_eq!(answer.stop, Some(wasmrag::StopReason::Ungrounded), "{answer:?}");
    assert!(answer.grounding.fell_back && answer.grounding.dropped >= 2, "{:?}", answer.grounding);
    assert!(answer.generated_tokens < 256, "{}", answer.generated_tokens);
    assert_eq!(answer.answer, format!("{} [{}]", extract.text, extract.source));
}

/// Runs a whole answer, calling `between` on the pipeline after the answer has begun.
fn answer_with(rag: &mut Rag, question: &str, between: impl FnOnce(&mut Rag)) -> wasmrag::Answer {
    let options = with(AskOptions::default(), |o| o.generate.max_tokens = 40);
    let mut pending = rag.begin_ask(question, &options).unwrap();
    between(rag);
    while pending.step().unwrap().is_some() {}
    rag.finish(pending).unwrap()
}

#[test]
fn an_answer_keeps_its_sources_while_the_index_changes() {
    let mut rag = rag();
    rag.set_generator(generator()).unwrap();
    let question = "What are the ownership rules in Rust?";
    let alone = answer_with(&mut rag, question, |_| {});
    let changed = answer_with(&mut rag, question, |rag| rag.remove_documents(&["ch04-01-what-is-ownership.html"]).unwrap());
    assert!(alone.found && !alone.citations.is_empty(), "{alone:?}");
    assert!(rag.search("ownership rules", 5).unwrap().iter().all(|h| !h.url.starts_with("ch04-01-")), "the page is gone");
    // Same sources, same text, and the citations still point at the passages the answer used.
    assert_eq!(changed.sources.iter().map(|s| (&s.url, &s.text)).collect::<Vec<_>>(), alone.sources.iter().map(|s| (&s.url, &s.text)).collect::<Vec<_>>());
    assert_eq!(changed.answer, alone.answer);
    // The answer owns its decoder: another answer and a new generator meanwhile change nothing.
    let mut rag = self::rag();
    rag.set_generator(generator()).unwrap();
    let busy = answer_with(&mut rag, question, |rag| {
        let options = with(AskOptions::default(), |o| o.generate.max_tokens = 8);
        rag.ask("How do I store keys with values?", &options, &mut |_| {}).unwrap();
        rag.set_generator(generator()).unwrap();
    });
    assert_eq!(busy.answer, alone.answer);
    assert_eq!(
        changed.citations.iter().map(|c| (c.start, c.end, c.source)).collect::<Vec<_>>(),
        alone.citations.iter().map(|c| (c.start, c.end, c.source)).collect::<Vec<_>>()
    );
}

#[test]
fn keyword_search_needs_no_embedder() {
    let index = Index::from_bytes(index_bytes()).unwrap();
    let hits = wasmrag::keyword_search(&index, "HashMap entry or_insert", 3).unwrap();
    assert!(hits[0].url.starts_with("ch08-03-hash-maps.html#"), "{}", hits[0].url);
    assert!(hits.iter().all(|h| h.retrieval == wasmrag::Retrieval::Keyword && h.cosine == 0.0));
    assert!(!hits[0].snippet.highlights.is_empty(), "matched words are marked");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(matches!(wasmrag::keyword_search(&index, " ", 3), Err(RagError::EmptyQuery)));
    assert!(rag().search("HashMap entry or_insert", 3).unwrap().iter().all(|h| h.retrieval == wasmrag::Retrieval::Hybrid));
}
