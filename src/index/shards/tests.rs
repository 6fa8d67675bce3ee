use super::*;
use crate::index::tests::{chunks, info, vectors};
use crate::index::{Index, IndexError};
use crate::retrieve::{retrieve, RetrieveOptions};
use std::collections::HashMap;

/// Unit vectors in `clusters` tight groups (a cluster's centre plus small noise), in cluster
/// order like the passages of consecutive pages.
fn clustered(n: usize, dim: usize, clusters: usize) -> Vec<Vec<f32>> {
    let centres = vectors(clusters, dim, 11);
    let noise = vectors(n, dim, 12);
    (0..n)
        .map(|i| {
            let c = &centres[i * clusters / n];
            crate::embed::normalize(c.iter().zip(&noise[i]).map(|(a, b)| a + 0.35 * b).collect())
        })
        .collect()
}

fn sample(n: usize, options: &ShardOptions) -> (Index, ShardedIndex, Vec<(String, Vec<u8>)>) {
    let index = Index::build(info(32), chunks(n), &clustered(n, 32, 40)).unwrap();
    let files = write_shards(&index, options);
    assert_eq!(files[0].0, ENTRY_FILE);
    let sharded = ShardedIndex::open(&files[0].1).unwrap();
    (index, sharded, files)
}

fn load_all(sharded: &mut ShardedIndex, files: &[(String, Vec<u8>)]) {
    for (path, bytes) in &files[1..] {
        sharded.load(path, bytes).unwrap();
    }
}

fn small() -> ShardOptions {
    ShardOptions {
        partition_passages: 50,
        code_bytes: 16,
        probe: 3,
        rerank: 0,
        exact_passages: 3,
        postings_bytes: 512,
        max_postings: 10_000,
        fragment_bytes: 600,
    }
}

#[test]
fn every_part_of_the_index_survives_sharding() {
    let (index, mut sharded, files) = sample(1000, &small());
    assert_eq!(sharded.len(), 1000);
    assert_eq!(sharded.info(), index.info());
    let paths: Vec<String> = sharded.files().map(|f| f.path()).collect();
    assert_eq!(paths, files[1..].iter().map(|f| f.0.clone()).collect::<Vec<_>>());
    assert_eq!(paths.iter().filter(|p| p.starts_with("vectors/")).count(), 20);
    assert!(paths.iter().filter(|p| p.starts_with("terms/")).count() > 1);
    assert!(paths.iter().filter(|p| p.starts_with("text/")).count() > 10);
    assert_eq!(paths.iter().filter(|p| p.starts_with("exact/")).count(), 334, "1,000 passages, 3 per file");
    assert!(paths.iter().all(|p| ShardFile::parse(p).map(|f| f.path()).as_ref() == Some(p)));
    assert_eq!(write_shards(&index, &small()), files, "the same index gives the same bytes");

    load_all(&mut sharded, &files);
    for (id, c) in index.chunks().iter().enumerate() {
        assert_eq!(sharded.passage(id as u32).unwrap(), c);
        assert_eq!(sharded.vector(id as u32).ok(), index.vector(id as u32));
    }
    for q in ["topic3 borrowing", "passage number 517", "topic0 topic6 zebra"] {
        assert_eq!(sharded.bm25_search(q, 20).unwrap(), index.bm25_search(q, 20), "{q}");
        for t in crate::index::bm25::terms(q) {
            assert_eq!(sharded.term_weight(&t), index.term_weight(&t));
        }
    }
    // Reading every partition, the codes find the exact search's passages with cosines close
    // to the int8 vectors' own.
    sharded.set_probe(usize::MAX);
    let mut found = 0;
    for q in clustered(20, 32, 7) {
        let coded = sharded.dense_search(&q, 10).unwrap();
        let exact = index.exact_search(&q, 10).unwrap();
        found += exact.iter().filter(|(id, _)| coded.iter().any(|(c, _)| c == id)).count();
        for (id, cosine) in coded {
            let truth = index.vector(id).unwrap().dot_f32(&q);
            assert!((cosine - truth).abs() < 0.05, "passage {id}: {cosine} against {truth}");
        }
    }
    assert!(found >= 160, "{found} of 200 exact neighbours found");
    assert_eq!(sharded.loaded_bytes(), files.iter().map(|f| f.1.len()).sum::<usize>());
}

#[test]
fn more_passages_per_vectors_file_than_the_index_holds_makes_one_file() {
    let (index, mut sharded, files) = sample(10, &ShardOptions { exact_passages: 64, ..small() });
    assert_eq!(sharded.files().filter(|f| f.kind == ShardKind::Exact).map(|f| f.path()).collect::<Vec<_>>(), ["exact/0.bin"]);
    load_all(&mut sharded, &files);
    for id in 0..10 {
        assert_eq!(sharded.vector(id).ok(), index.vector(id));
    }
}

#[test]
fn a_query_reads_only_what_it_needs_and_ranks_like_the_whole_index() {
    let (index, mut sharded, files) = sample(2000, &ShardOptions { rerank: 10, ..small() });
    let total: usize = files.iter().map(|f| f.1.len()).sum();
    let bytes: HashMap<&str, &[u8]> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let queries = clustered(40, 32, 13);
    let mut overlap = 0;
    for (i, q) in queries.iter().enumerate() {
        let text = format!("topic{} passage {}", i % 7, i * 37);
        let before = sharded.loaded_bytes();
        let options = RetrieveOptions { k: 10, ..RetrieveOptions::default() };
        assert!(matches!(sharded.retrieve(&text, q, &options), Err(IndexError::MissingShard(_))) || sharded.needed(&text, Some(q), &options).is_empty());
        // Rounds: the postings and nearest partitions, then the int8 vectors of the passages
        // to re-score (the best by their codes, then those fused near the cut, once per
        // settling fusion); a round never mixes the two, and text waits for the results.
        for round in 0.. {
            let needed = sharded.needed(&text, Some(q), &options);
            if needed.is_empty() {
                break;
            }
            let vectors = needed.iter().filter(|f| f.kind == ShardKind::Exact).count();
            assert!(round <= SETTLE_ROUNDS + 1 && (vectors == 0 || vectors == needed.len()), "round {round}: {needed:?}");
            assert!(needed.iter().all(|f| f.kind != ShardKind::Text), "round {round}: {needed:?}");
            assert!(needed.iter().filter(|f| f.kind == ShardKind::Vectors).count() <= 3);
            for f in &needed {
                sharded.load(&f.path(), bytes[f.path().as_str()]).unwrap();
            }
        }
        let hits = sharded.retrieve(&text, q, &options).unwrap();
        assert_eq!(hits.len(), 10);
        let ids: Vec<u32> = hits.iter().map(|h| h.chunk).collect();
        for f in sharded.needed_passages(&ids) {
            sharded.load(&f.path(), bytes[f.path().as_str()]).unwrap();
        }
        assert!(sharded.needed_passages(&ids).is_empty());
        assert!(ids.iter().all(|&id| sharded.passage(id).is_ok()));
        if i == 0 {
            assert!(sharded.loaded_bytes() - before < total / 4, "{} of {total}", sharded.loaded_bytes() - before);
        }
        let whole: Vec<u32> = retrieve(&index, &text, q, &options).unwrap().iter().map(|h| h.chunk).collect();
        overlap += ids.iter().filter(|id| whole.contains(id)).count();
    }
    let recall = overlap as f32 / (10 * queries.len()) as f32;
    assert!(recall >= 0.9, "hybrid recall@10 against the whole index: {recall}");
}

#[test]
fn the_best_passages_by_their_codes_are_rescored_with_their_vectors() {
    let (index, mut sharded, files) = sample(1000, &ShardOptions { rerank: 8, ..small() });
    assert_eq!(sharded.rerank(), 8);
    let bytes: HashMap<&str, &[u8]> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let q = &clustered(3, 32, 21)[1];
    // First the postings and partitions, then the vectors of the 8 best by their codes and of
    // those a fusion on the codes alone ranks near the top.
    let first = sharded.needed("topic1", Some(q), &RetrieveOptions::default());
    assert!(!first.is_empty() && first.iter().all(|f| f.kind == ShardKind::Vectors || f.kind == ShardKind::Terms), "{first:?}");
    for f in &first {
        sharded.load(&f.path(), bytes[f.path().as_str()]).unwrap();
    }
    let second = sharded.needed("topic1", Some(q), &RetrieveOptions::default());
    assert!(second.iter().all(|f| f.kind == ShardKind::Exact), "{second:?}");
    let coded = sharded.dense_search(q, 20).unwrap();
    let best: Vec<u32> = coded.iter().take(8).map(|h| h.0).collect();
    assert!(sharded.needed_vectors(&best).iter().all(|f| second.contains(f)), "{second:?}");
    let o = RetrieveOptions::default();
    let n = o.candidates.max(o.k);
    let wide = RetrieveOptions { k: o.k + SETTLE, ..o.clone() };
    let guess = crate::retrieve::fuse(&sharded.dense_search(q, n).unwrap(), &sharded.bm25_search("topic1", n).unwrap(), |_| 0.0, &wide);
    let near_top: Vec<u32> = guess.iter().map(|h| h.chunk).collect();
    assert!(sharded.needed_vectors(&near_top).iter().all(|f| second.contains(f)), "{second:?}");
    assert!(second.len() > best.len(), "more than the best by their codes: {second:?}");
    for f in &second {
        sharded.load(&f.path(), bytes[f.path().as_str()]).unwrap();
    }
    let settle = sharded.needed("topic1", Some(q), &RetrieveOptions::default());
    assert!(settle.iter().all(|f| f.kind == ShardKind::Exact), "{settle:?}");
    let rescored = sharded.dense_search(q, 20).unwrap();
    // The 8 best by their codes now carry their int8 cosines, the rest the codes' estimates.
    let exact = |id: u32| index.vector(id).unwrap().dot_f32(q);
    let best: Vec<u32> = coded.iter().take(8).map(|h| h.0).collect();
    for (id, score) in &rescored {
        match best.contains(id) {
            true => assert_eq!(*score, exact(*id)),
            false => assert_eq!(Some(score), coded.iter().find(|h| h.0 == *id).map(|h| &h.1)),
        }
    }
    assert!(rescored.windows(2).all(|w| w[0].1 >= w[1].1));
    sharded.set_rerank(0);
    assert_eq!(sharded.dense_search(q, 20).unwrap(), coded, "without re-scoring, the codes alone");
}

#[test]
fn passages_fused_near_the_cut_are_ranked_by_their_exact_cosines() {
    // Coarse codes and few re-scored by them: the codes alone misplace passages near the cut.
    let (index, mut sharded, files) = sample(2000, &ShardOptions { code_bytes: 4, rerank: 3, ..small() });
    load_all(&mut sharded, &files);
    sharded.set_probe(usize::MAX);
    let options = RetrieveOptions { k: 10, ..RetrieveOptions::default() };
    let (mut settled, mut coded) = (0, 0);
    for (i, q) in clustered(40, 32, 29).iter().enumerate() {
        let text = format!("topic{} passage {}", i % 7, i * 53);
        let whole: Vec<u32> = retrieve(&index, &text, q, &options).unwrap().iter().map(|h| h.chunk).collect();
        sharded.set_rerank(3);
        let hits = sharded.retrieve(&text, q, &options).unwrap();
        for h in &hits {
            assert_eq!(h.cosine, index.vector(h.chunk).unwrap().dot_f32(q), "query {i}, passage {}", h.chunk);
        }
        settled += hits.iter().filter(|h| whole.contains(&h.chunk)).count();
        sharded.set_rerank(0);
        coded += sharded.retrieve(&text, q, &options).unwrap().iter().filter(|h| whole.contains(&h.chunk)).count();
    }
    let q = &clustered(1, 32, 29)[0];
    assert!(sharded.retrieve("topic1", q, &RetrieveOptions { k: 0, ..options.clone() }).unwrap().is_empty());
    let all = sharded.retrieve("topic1", q, &RetrieveOptions { k: usize::MAX, ..options.clone() }).unwrap();
    assert!(all.len() >= 100 && all.windows(2).all(|w| w[0].score >= w[1].score), "{}", all.len());
    assert!(settled >= 340 && settled >= coded + 100, "recall@10 over 400: {settled} settled, {coded} by the codes alone");
}

#[test]
fn frequent_terms_keep_their_heaviest_postings_and_exact_weight() {
    let options = ShardOptions { max_postings: 30, ..small() };
    let (index, mut sharded, files) = sample(600, &options);
    load_all(&mut sharded, &files);
    // "borrowing" is in every passage: 30 postings are kept, its weight stays the whole index's.
    assert_eq!(sharded.term_weight("borrow"), index.term_weight("borrow"));
    let kept = sharded.bm25_search("borrowing", 1000).unwrap();
    assert_eq!(kept.len(), 30);
    let whole = index.bm25_search("borrowing", 30);
    assert_eq!(kept, whole, "the kept postings are the best-scoring ones");
}

#[test]
fn damaged_stale_and_misplaced_files_are_refused() {
    let (_, mut sharded, files) = sample(300, &small());
    let entry = &files[0].1;
    let mut flipped = entry.clone();
    flipped[40] ^= 1;
    assert_eq!(ShardedIndex::open(&flipped).unwrap_err(), IndexError::Checksum);
    assert!(matches!(ShardedIndex::open(&entry[..entry.len() - 1]), Err(IndexError::Truncated { .. })));
    let mut newer = entry.clone();
    newer[8] = 5;
    assert!(matches!(ShardedIndex::open(&newer), Err(IndexError::Incompatible { found: 5, supported: 4 })));
    assert_eq!(ShardedIndex::open(&files[1].1).unwrap_err(), IndexError::NotAnIndex);
    assert_eq!(ShardedIndex::open(b"").unwrap_err(), IndexError::NotAnIndex);

    let (terms0, terms1) = (&files.iter().find(|f| f.0 == "terms/0.bin").unwrap().1, "terms/1.bin");
    assert_eq!(sharded.load(terms1, terms0).unwrap_err(), IndexError::ForeignShard(terms1.into()));
    assert_eq!(sharded.load("vectors/0.bin", terms0).unwrap_err(), IndexError::NotAnIndex);
    for path in ["vectors/999.bin", "terms/01.bin", "../entry.bin", "text/x.bin", "vectors/0"] {
        assert_eq!(sharded.load(path, terms0).unwrap_err(), IndexError::UnknownShard(path.into()), "{path}");
    }
    let other = Index::build(info(32), chunks(301), &clustered(301, 32, 40)).unwrap();
    let stale = write_shards(&other, &small());
    assert_eq!(
        sharded.load("terms/0.bin", &stale.iter().find(|f| f.0 == "terms/0.bin").unwrap().1).unwrap_err(),
        IndexError::ForeignShard("terms/0.bin".into())
    );
    let mut cut = files[1].1.clone();
    cut.truncate(cut.len() - 3);
    assert!(matches!(sharded.load(&files[1].0, &cut), Err(IndexError::Truncated { .. })));
    assert_eq!(sharded.loaded_bytes(), entry.len(), "nothing refused was kept");
    assert_eq!(sharded.passage(0).unwrap_err().code(), "invalid_state");
    assert_eq!(sharded.vector(0).unwrap_err().code(), "invalid_state");
    assert_eq!(sharded.load("exact/100.bin", terms0).unwrap_err(), IndexError::UnknownShard("exact/100.bin".into()), "300 passages, 3 per file");
    // A vectors file loaded under another number is refused.
    let exact99 = &files.iter().find(|f| f.0 == "exact/99.bin").unwrap().1;
    assert_eq!(sharded.load("exact/98.bin", exact99).unwrap_err(), IndexError::ForeignShard("exact/98.bin".into()));
    sharded.load("terms/0.bin", terms0).unwrap();
    assert_eq!(sharded.loaded_bytes(), entry.len() + terms0.len());
}
