//! Searching a sharded index in rounds: a round either finds the results or names the files it
//! still needs, which the caller fetches however it can (from disk natively, with `fetch()` in
//! a browser) and loads before the next round. A round that needs files names only files not
//! loaded yet, so a search ends after a few rounds: usually the query's postings chunks and
//! partitions first, then the int8 vectors of the passages its codes rank best and of those a
//! fusion on the codes' estimates ranks near the top (to re-score them), then, rarely, those of
//! the passages the fusion then ranks near the cut whose dense scores are still the codes'
//! estimates (at most two such rounds), then the text fragments of its results.

use crate::index::shards::{ShardFile, ShardedIndex, Step};
use crate::index::IndexError;
use crate::rag::{search_hit, RagError, Retrieval, SearchHit};
use crate::retrieve::{Hit, RetrieveOptions};

/// What one round of [`search`] came to.
#[derive(Debug)]
pub enum Round {
    /// The results, best first.
    Found(Vec<SearchHit>),
    /// The files to load before the next round, none of them loaded yet.
    Needs(Vec<ShardFile>),
}

/// One round of a search for the `k` passages that best match `query`: hybrid given the
/// query's embedding `vector` (fused as on a one-file index, over the partitions nearest it),
/// by keywords alone without it, as [`crate::keyword_search`] ranks.
pub fn search(index: &ShardedIndex, query: &str, vector: Option<&[f32]>, k: usize) -> Result<Round, RagError> {
    if query.trim().is_empty() {
        return Err(RagError::EmptyQuery);
    }
    let (ranked, retrieval) = match vector {
        Some(v) => match index.hybrid(query, v, &RetrieveOptions { k, ..RetrieveOptions::default() })? {
            Step::Ready(hits) => (hits, Retrieval::Hybrid),
            Step::Needs(files) => return Ok(Round::Needs(files)),
        },
        None => {
            let needed = index.needed_to_scan(query, None);
            if !needed.is_empty() {
                return Ok(Round::Needs(needed));
            }
            let ranked = index.bm25_search(query, k)?.into_iter().map(|(chunk, score)| Hit { chunk, score, cosine: 0.0, bm25: Some(score) });
            (ranked.collect(), Retrieval::Keyword)
        }
    };
    let ids: Vec<u32> = ranked.iter().map(|h| h.chunk).collect();
    let mut needed = index.needed_passages(&ids);
    if vector.is_some() {
        needed.extend(index.needed_vectors(&ids));
    }
    if !needed.is_empty() {
        return Ok(Round::Needs(needed));
    }
    // The partitions' codes only approximate a cosine; the int8 vectors give it as a one-file
    // index would.
    let hits = ranked
        .iter()
        .map(|h| {
            let cosine = match vector {
                Some(v) => index.vector(h.chunk)?.dot_f32(v),
                None => h.cosine,
            };
            Ok(search_hit(index.passage(h.chunk)?, &Hit { cosine, ..h.clone() }, query, retrieval))
        })
        .collect::<Result<_, IndexError>>()?;
    Ok(Round::Found(hits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::shards::{write_shards, ShardKind, ShardOptions};
    use crate::index::tests::{chunks, info, vectors};
    use crate::index::Index;
    use crate::retrieve::retrieve;
    use std::collections::HashMap;

    /// Runs `search` to the end, loading what each round asks for; returns the hits and the
    /// kinds of file each round asked for.
    fn run(sharded: &mut ShardedIndex, files: &HashMap<String, Vec<u8>>, query: &str, vector: Option<&[f32]>) -> (Vec<SearchHit>, Vec<Vec<ShardKind>>) {
        let mut rounds = Vec::new();
        loop {
            match search(sharded, query, vector, 5).unwrap() {
                Round::Found(hits) => return (hits, rounds),
                Round::Needs(needed) => {
                    assert!(rounds.len() < 6, "a search that never ends: {rounds:?}");
                    for f in &needed {
                        sharded.load(&f.path(), &files[&f.path()]).unwrap();
                    }
                    rounds.push(needed.iter().map(|f| f.kind).collect());
                }
            }
        }
    }

    #[test]
    fn rounds_fetch_what_the_query_needs_and_rank_as_the_whole_index() {
        let v = vectors(200, 32, 3);
        let index = Index::build(info(32), chunks(200), &v).unwrap();
        let options = ShardOptions {
            partition_passages: 20,
            code_bytes: 32,
            probe: 3,
            rerank: 5,
            exact_passages: 2,
            postings_bytes: 256,
            max_postings: 10_000,
            fragment_bytes: 500,
        };
        let files: HashMap<String, Vec<u8>> = write_shards(&index, &options).into_iter().collect();
        let entry = &files[crate::index::shards::ENTRY_FILE];

        // Keywords: the postings of the query's terms, then the text of the results.
        let mut sharded = ShardedIndex::open(entry).unwrap();
        let (hits, rounds) = run(&mut sharded, &files, "topic3 borrowing", None);
        assert_eq!(rounds.len(), 2, "{rounds:?}");
        assert!(rounds[0].iter().all(|k| *k == ShardKind::Terms) && rounds[1].iter().all(|k| *k == ShardKind::Text), "{rounds:?}");
        let whole = crate::keyword_search(&index, "topic3 borrowing", 5).unwrap();
        assert_eq!(
            hits.iter().map(|h| (&h.url, h.chunk, &h.snippet)).collect::<Vec<_>>(),
            whole.iter().map(|h| (&h.url, h.chunk, &h.snippet)).collect::<Vec<_>>()
        );
        assert!(hits.iter().all(|h| h.retrieval == Retrieval::Keyword));

        // Hybrid over every partition: the one-file index's ranking; the query's files are
        // fetched once, so the same query again needs nothing more.
        sharded.set_probe(1000);
        let query = &v[17];
        let (hits, rounds) = run(&mut sharded, &files, "passage number 17", Some(query));
        assert!(rounds[0].contains(&ShardKind::Vectors), "{rounds:?}");
        let last = rounds.len() - 1;
        assert!(
            rounds[1..last].iter().flatten().all(|k| *k == ShardKind::Exact) && rounds[last].contains(&ShardKind::Text),
            "the best by their codes, those fused near the cut, then the results: {rounds:?}"
        );
        let truth = retrieve(&index, "passage number 17", query, &RetrieveOptions { k: 5, ..RetrieveOptions::default() }).unwrap();
        assert_eq!(hits.iter().map(|h| h.chunk).collect::<Vec<_>>(), truth.iter().map(|h| h.chunk).collect::<Vec<_>>());
        assert_eq!(hits[0].chunk, 17);
        assert!(hits.iter().all(|h| h.retrieval == Retrieval::Hybrid));
        assert!(matches!(search(&sharded, "passage number 17", Some(query), 5).unwrap(), Round::Found(_)));

        assert!(matches!(search(&sharded, "  ", None, 5), Err(RagError::EmptyQuery)));
        let wrong = vec![0.1; 7];
        assert!(matches!(search(&sharded, "topic3", Some(&wrong), 5), Err(RagError::Index(IndexError::Dimension { .. }))));
    }
}
