use super::codec::{FOOTER_LEN, HEADER_LEN};
use super::*;

/// Deterministic pseudo-random unit vectors, so tests need no model.
pub(crate) fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    (0..n).map(|_| crate::embed::normalize((0..dim).map(|_| next()).collect())).collect()
}

pub(crate) fn chunks(n: usize) -> Vec<Chunk> {
    (0..n)
        .map(|i| Chunk {
            url: format!("page{}.html", i / 4),
            title: format!("Page {}", i / 4),
            headings: vec![format!("Section {i}")],
            anchor: Some(format!("s{i}")),
            text: format!("passage number {i} talks about topic{} and borrowing", i % 7),
        })
        .collect()
}

pub(crate) fn info(dim: usize) -> IndexInfo {
    IndexInfo { embedder: "test".into(), dim, chunking: ChunkOptions::default() }
}

fn sample(n: usize) -> (Index, Vec<Vec<f32>>) {
    let v = vectors(n, 32, 7);
    (Index::build(info(32), chunks(n), &v).unwrap(), v)
}

fn sample_with_graph(n: usize) -> (Index, Vec<Vec<f32>>) {
    let v = vectors(n, 32, 7);
    (Index::build_with_layout(info(32), chunks(n), &v, DenseLayout::Graph).unwrap(), v)
}

#[test]
fn round_trip_keeps_passages_and_results() {
    for (index, v) in [sample(300), sample_with_graph(300)] {
        let bytes = index.to_bytes();
        let back = Index::from_bytes(&bytes).unwrap();
        assert_eq!(back.chunks(), index.chunks());
        assert_eq!(back.info(), index.info());
        assert_eq!(back.dense_layout(), index.dense_layout());
        assert_eq!(back.hnsw.as_ref().map(|h| &h.graph), index.hnsw.as_ref().map(|h| &h.graph));
        for q in vectors(20, 32, 99) {
            assert_eq!(back.dense_search(&q, 10).unwrap(), index.dense_search(&q, 10).unwrap());
        }
        assert_eq!(back.bm25_search("topic3 borrowing", 10), index.bm25_search("topic3 borrowing", 10));
        assert_eq!(back.bm25.lengths, index.bm25.lengths, "lengths are the sums of the stored term frequencies");
        assert_eq!(back.vectors, index.vectors);
        assert_eq!(back.to_bytes(), bytes);
        let exact = back.exact_search(&v[5], 1).unwrap();
        assert_eq!(exact[0].0, 5);
        assert!((exact[0].1 - 1.0).abs() < 1e-2);
    }
}

#[test]
fn small_indexes_are_flat_exact_and_store_no_graph() {
    assert_eq!(DenseLayout::for_passages(FLAT_MAX_PASSAGES), DenseLayout::Flat);
    assert_eq!(DenseLayout::for_passages(FLAT_MAX_PASSAGES + 1), DenseLayout::Graph);
    let (flat, _) = sample(300);
    let (graph, _) = sample_with_graph(300);
    assert_eq!(flat.dense_layout(), DenseLayout::Flat);
    for q in vectors(20, 32, 5) {
        assert_eq!(flat.dense_search(&q, 10).unwrap(), flat.exact_search(&q, 10).unwrap());
    }
    assert_eq!(flat.size_report().graph, 1);
    assert!(graph.size_report().graph > 300 * 10, "{:?}", graph.size_report());
    assert_eq!(graph.size_report().total - flat.size_report().total, graph.size_report().graph - 1);
    // Removing pages picks the layout anew for the smaller index.
    let urls: Vec<String> = (0..40).map(|p| format!("page{p}.html")).collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    assert_eq!(graph.with_changes(&urls, vec![], &[]).unwrap().dense_layout(), DenseLayout::Flat);
}

#[test]
fn an_unknown_dense_layout_is_corrupt() {
    let (index, _) = sample(20);
    let mut bytes = index.to_bytes();
    let r = index.size_report();
    // The layout tag is the byte after the vectors, which are followed by the BM25 postings.
    let tag = bytes.len() - FOOTER_LEN - r.bm25 - 1;
    assert_eq!(bytes[tag], 0);
    bytes[tag] = 7;
    assert_eq!(Index::from_bytes(&reseal(bytes)).unwrap_err(), IndexError::Corrupt("dense layout"));
}

#[test]
fn hnsw_recall_against_exact_search() {
    let (index, _) = sample_with_graph(2000);
    let queries = vectors(50, 32, 1234);
    let mut hits = 0;
    for q in &queries {
        let exact: Vec<u32> = index.exact_search(q, 10).unwrap().iter().map(|h| h.0).collect();
        let approx = index.dense_search(q, 10).unwrap();
        hits += approx.iter().filter(|h| exact.contains(&h.0)).count();
    }
    let recall = hits as f32 / (queries.len() * 10) as f32;
    assert!(recall >= 0.9, "recall@10 = {recall}");
}

#[test]
fn size_report_adds_up() {
    let (index, _) = sample(100);
    let r = index.size_report();
    assert_eq!(r.total, index.to_bytes().len());
    assert!(r.text + r.vectors + r.graph + r.bm25 < r.total);
    assert_eq!(r.vectors, 100 * (32 + 4));
    assert_eq!(r.chunks, 100);
}

#[test]
fn header_errors_are_typed() {
    let (index, _) = sample(20);
    let bytes = index.to_bytes();
    assert_eq!(Index::from_bytes(b"GGUF....").unwrap_err(), IndexError::NotAnIndex);
    assert_eq!(Index::from_bytes(&[]).unwrap_err(), IndexError::NotAnIndex);

    for older_or_newer in [1, 3] {
        let mut other = bytes.clone();
        other[8] = older_or_newer;
        assert_eq!(Index::from_bytes(&other).unwrap_err(), IndexError::Incompatible { found: older_or_newer as u32, supported: 2 });
    }

    let cut = &bytes[..bytes.len() - 10];
    assert!(matches!(Index::from_bytes(cut).unwrap_err(), IndexError::Truncated { .. }));

    let mut flipped = bytes.clone();
    let mid = bytes.len() / 2;
    flipped[mid] ^= 0x40;
    assert_eq!(Index::from_bytes(&flipped).unwrap_err(), IndexError::Checksum);
}

/// Re-seals a damaged body with a valid checksum, as a crafted file would be.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = bytes.len() - FOOTER_LEN;
    let crc = crc32fast::hash(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

#[test]
fn crafted_bodies_never_panic() {
    for (index, _) in [sample(40), sample_with_graph(40)] {
        let bytes = index.to_bytes();
        let mut errors = 0;
        for pos in HEADER_LEN..bytes.len() - FOOTER_LEN {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[pos] ^= flip;
                if Index::from_bytes(&reseal(b)).is_err() {
                    errors += 1;
                }
            }
        }
        assert!(errors > 0);
        for len in 0..bytes.len() {
            assert!(Index::from_bytes(&bytes[..len]).is_err());
        }
    }
}

#[test]
fn build_errors_are_typed() {
    assert_eq!(Index::build(info(32), vec![], &[]).unwrap_err(), IndexError::Empty);
    assert_eq!(Index::build(info(32), chunks(2), &vectors(1, 32, 1)).unwrap_err(), IndexError::CountMismatch { chunks: 2, vectors: 1 });
    assert_eq!(Index::build(info(32), chunks(1), &vectors(1, 16, 1)).unwrap_err(), IndexError::Dimension { expected: 32, found: 16 });
    let (index, _) = sample(10);
    assert_eq!(index.dense_search(&[1.0; 8], 3).unwrap_err(), IndexError::Dimension { expected: 32, found: 8 });
}

#[test]
fn changes_make_a_new_index_and_keep_the_old() {
    let (index, v) = sample(40);
    let extra = chunks(41).pop().unwrap();
    let extra_vec = vectors(1, 32, 4242);
    let changed = index.with_changes(&["page0.html"], vec![extra.clone()], &extra_vec).unwrap();
    assert_eq!(changed.len(), 40 - 4 + 1);
    assert!(changed.chunks().iter().all(|c| c.url != "page0.html"));
    assert_eq!(changed.exact_search(&extra_vec[0], 1).unwrap()[0].0 as usize, changed.len() - 1);
    assert_eq!(index.len(), 40);
    assert_eq!(index.exact_search(&v[0], 1).unwrap()[0].0, 0);
    assert!(index.with_changes(&[], vec![extra], &[]).is_err());
    let all: Vec<&str> = index.chunks().iter().map(|c| c.url.as_str()).collect();
    assert_eq!(index.with_changes(&all, vec![], &[]).unwrap_err(), IndexError::Empty);
}

#[test]
fn vector_only_index_finds_each_vector_and_round_trips() {
    let v = vectors(200, 32, 21);
    let index = Index::from_vectors(32, &v, DenseLayout::Graph).unwrap();
    assert_eq!(index.len(), 200);
    assert_eq!(index.info().embedder, "external");
    for i in [0, 57, 199] {
        assert_eq!(index.dense_search(&v[i], 1).unwrap()[0].0, i as u32);
        assert_eq!(index.chunks()[i].url, i.to_string());
    }
    let back = Index::from_bytes(&index.to_bytes()).unwrap();
    assert_eq!(back.exact_search(&v[9], 3).unwrap(), index.exact_search(&v[9], 3).unwrap());
    assert!(matches!(Index::from_vectors(32, &[], DenseLayout::Flat), Err(IndexError::Empty)));
    assert!(matches!(Index::from_vectors(16, &v, DenseLayout::Flat), Err(IndexError::Dimension { expected: 16, found: 32 })));
}
