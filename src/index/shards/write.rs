//! Writing a sharded index from a built [`Index`]: partitions by k-means, postings chunks by
//! term range, int8 vectors and text fragments by passage order, and the entry that maps
//! queries to them.

use super::codes::Codebook;
use super::partition::partition;
use super::{ShardFile, ShardKind, ShardOptions, ENTRY_FILE, ENTRY_MAGIC, SHARDS_VERSION};
use crate::index::bm25::{idf_of, term_score};
use crate::index::codec::{frame, Writer};
use crate::index::records::{write_info, write_vectors, Pages};
use crate::index::vector::QVec;
use crate::index::Index;

/// Splits `index` into the files of a sharded index, as (path relative to the entry, bytes),
/// the entry first. The same index and options always give the same bytes.
pub fn write_shards(index: &Index, options: &ShardOptions) -> Vec<(String, Vec<u8>)> {
    // The index file's own checksum names the build (a CRC over bytes that end in their CRC
    // is the same for every file, so the footer is left out).
    let bytes = index.to_bytes();
    let build = crc32fast::hash(&bytes[..bytes.len() - 4]);
    let n = index.chunks.len();
    let mut files = Vec::new();
    let mut file = |kind: ShardKind, number: usize, body: Writer| {
        files.push((ShardFile { kind, number: number as u32 }.path(), frame(kind.magic(), SHARDS_VERSION, &body.bytes)));
    };

    let parts = partition(&index.vectors, n.div_ceil(options.partition_passages.max(1)));
    // Residuals are taken from the centroids as stored, the ones a reader scores with.
    let centroids: Vec<QVec> = parts.centroids.iter().map(|c| QVec::quantize(c)).collect();
    let stored: Vec<Vec<f32>> = centroids.iter().map(QVec::dequantize).collect();
    let residuals: Vec<Vec<f32>> =
        index.vectors.iter().zip(&parts.assignment).map(|(v, &p)| v.dequantize().iter().zip(&stored[p as usize]).map(|(x, c)| x - c).collect()).collect();
    let codebook = Codebook::train(&residuals, index.info.dim, Codebook::subspaces_for(index.info.dim, options.code_bytes));
    let mut members = vec![Vec::new(); centroids.len()];
    for (passage, &p) in parts.assignment.iter().enumerate() {
        members[p as usize].push(passage as u32);
    }
    for (number, ids) in members.iter().enumerate() {
        let mut w = header(build, number);
        w.varint(ids.len() as u64);
        let mut prev = 0;
        for &id in ids {
            w.varint(u64::from(id - prev));
            prev = id;
        }
        let codes: Vec<Vec<u8>> = ids.iter().map(|&id| codebook.encode(&residuals[id as usize])).collect();
        // Subspace by subspace, like the int8 vectors' columns.
        for s in 0..codebook.subspaces() {
            w.raw(&codes.iter().map(|c| c[s]).collect::<Vec<u8>>());
        }
        file(ShardKind::Vectors, number, w);
    }

    let n_f = n as f32;
    let avg = index.bm25.average_length();
    let mut terms: Vec<(&String, &Vec<(u32, u32)>)> = index.bm25.postings.iter().collect();
    terms.sort_by(|a, b| a.0.cmp(b.0));
    let mut first_terms = Vec::new();
    let mut chunk = Writer::default();
    let mut in_chunk = 0usize;
    for (i, (term, list)) in terms.iter().enumerate() {
        if in_chunk == 0 {
            first_terms.push((*term).clone());
        }
        let idf = idf_of(n_f, list.len() as f32);
        let kept = pruned(list, options.max_postings, |&(doc, tf)| term_score(idf, tf, index.bm25.lengths[doc as usize], avg));
        chunk.str(term);
        chunk.varint(list.len() as u64);
        chunk.varint(kept.len() as u64);
        let mut prev = 0;
        for (doc, tf) in kept {
            chunk.varint(u64::from(doc - prev));
            chunk.varint(u64::from(tf));
            chunk.varint(u64::from(index.bm25.lengths[doc as usize]));
            prev = doc;
        }
        in_chunk += 1;
        if chunk.bytes.len() >= options.postings_bytes || i + 1 == terms.len() {
            let mut w = header(build, first_terms.len() - 1);
            w.varint(in_chunk as u64);
            w.raw(&std::mem::take(&mut chunk).bytes);
            file(ShardKind::Terms, first_terms.len() - 1, w);
            in_chunk = 0;
        }
    }

    let mut fragment_starts = Vec::new();
    let mut start = 0;
    while start < n {
        let mut end = start;
        let mut bytes = 0;
        while end < n && (end == start || bytes + index.chunks[end].text.len() <= options.fragment_bytes) {
            bytes += index.chunks[end].text.len();
            end += 1;
        }
        let number = fragment_starts.len();
        fragment_starts.push(start);
        let mut w = header(build, number);
        w.varint(start as u64);
        w.varint((end - start) as u64);
        let chunks = &index.chunks[start..end];
        let pages = Pages::of(chunks);
        pages.write(&mut w);
        pages.write_passages(&mut w, chunks.iter());
        file(ShardKind::Text, number, w);
        start = end;
    }

    let exact_passages = options.exact_passages.clamp(1, n.max(1));
    for (number, run) in index.vectors.chunks(exact_passages).enumerate() {
        let mut w = header(build, number);
        write_vectors(&mut w, index.info.dim, run.iter());
        file(ShardKind::Exact, number, w);
    }

    let mut w = Writer::default();
    w.raw(&build.to_le_bytes());
    write_info(&mut w, &index.info);
    w.varint(n as u64);
    w.varint(options.probe.max(1) as u64);
    w.varint(options.rerank as u64);
    w.varint(exact_passages as u64);
    w.f32(avg);
    w.varint(centroids.len() as u64);
    write_vectors(&mut w, index.info.dim, centroids.iter());
    codebook.write(&mut w);
    w.varint(first_terms.len() as u64);
    for t in &first_terms {
        w.str(t);
    }
    w.varint(fragment_starts.len() as u64);
    let mut prev = 0;
    for &s in &fragment_starts {
        w.varint((s - prev) as u64);
        prev = s;
    }
    files.insert(0, (ENTRY_FILE.to_string(), frame(ENTRY_MAGIC, SHARDS_VERSION, &w.bytes)));
    files
}

/// The body's opening fields every shard shares: the build it belongs to and its number.
fn header(build: u32, number: usize) -> Writer {
    let mut w = Writer::default();
    w.raw(&build.to_le_bytes());
    w.varint(number as u64);
    w
}

/// At most `max` postings of `list`: those that weigh most (ties to the lower passage), in
/// passage order.
fn pruned(list: &[(u32, u32)], max: usize, weight: impl Fn(&(u32, u32)) -> f32) -> Vec<(u32, u32)> {
    if list.len() <= max {
        return list.to_vec();
    }
    let mut ranked: Vec<(f32, (u32, u32))> = list.iter().map(|p| (weight(p), *p)).collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1 .0.cmp(&b.1 .0)));
    let mut kept: Vec<(u32, u32)> = ranked.into_iter().take(max).map(|(_, p)| p).collect();
    kept.sort_unstable();
    kept
}
