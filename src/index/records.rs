//! The records the one-file index and the sharded index both store, written and read in one
//! place so the two layouts cannot drift apart: the info block, page tables, passages and
//! int8 vectors.

use super::codec::{Reader, Writer};
use super::vector::QVec;
use super::{IndexError, IndexInfo};
use crate::chunk::{Chunk, ChunkOptions};
use std::collections::HashMap;

/// Writes what the index was built with: embedder fingerprint, dimension, chunking.
pub(super) fn write_info(w: &mut Writer, info: &IndexInfo) {
    w.str(&info.embedder);
    w.varint(info.dim as u64);
    w.varint(info.chunking.max_tokens as u64);
    w.varint(info.chunking.overlap_tokens as u64);
    w.varint(info.chunking.max_document_bytes as u64);
}

/// Reads what [`write_info`] wrote, refusing a zero or absurd dimension.
pub(super) fn read_info(r: &mut Reader) -> Result<IndexInfo, IndexError> {
    let embedder = r.str("embedder")?;
    let dim = r.varint("dimension")? as usize;
    if dim == 0 || dim > 1 << 16 {
        return Err(IndexError::Corrupt("dimension"));
    }
    let chunking = ChunkOptions {
        max_tokens: r.varint("chunking")? as usize,
        overlap_tokens: r.varint("chunking")? as usize,
        max_document_bytes: r.varint("chunking")? as usize,
    };
    Ok(IndexInfo { embedder, dim, chunking })
}

/// The distinct pages (url, title) of some passages, in order of first appearance, with each
/// page's number: written once, so passages refer to their page by number.
pub(super) struct Pages<'a> {
    numbers: HashMap<(&'a str, &'a str), usize>,
    list: Vec<(&'a str, &'a str)>,
}

impl<'a> Pages<'a> {
    /// The pages of `chunks`.
    pub(super) fn of(chunks: &'a [Chunk]) -> Pages<'a> {
        let mut pages = Pages { numbers: HashMap::new(), list: Vec::new() };
        for c in chunks {
            pages.numbers.entry((&c.url, &c.title)).or_insert_with(|| {
                pages.list.push((&c.url, &c.title));
                pages.list.len() - 1
            });
        }
        pages
    }

    /// Writes the page table.
    pub(super) fn write(&self, w: &mut Writer) {
        w.varint(self.list.len() as u64);
        for (url, title) in &self.list {
            w.str(url);
            w.str(title);
        }
    }

    /// Writes one passage: its page's number, headings, anchor and text.
    pub(super) fn write_passage(&self, w: &mut Writer, c: &Chunk) {
        w.varint(self.numbers[&(c.url.as_str(), c.title.as_str())] as u64);
        w.varint(c.headings.len() as u64);
        for h in &c.headings {
            w.str(h);
        }
        w.opt_str(c.anchor.as_deref());
        w.str(&c.text);
    }
}

/// Reads a page table written by [`Pages::write`].
pub(super) fn read_pages(r: &mut Reader) -> Result<Vec<(String, String)>, IndexError> {
    let n = r.count(2, "page table")?;
    (0..n).map(|_| Ok((r.str("page url")?, r.str("page title")?))).collect()
}

/// Reads one passage written by [`Pages::write_passage`], its page looked up in `pages`.
pub(super) fn read_passage(r: &mut Reader, pages: &[(String, String)]) -> Result<Chunk, IndexError> {
    let (url, title) = pages[r.index(pages.len(), "page index")?].clone();
    let n_headings = r.count(1, "headings")?;
    let headings = (0..n_headings).map(|_| r.str("heading")).collect::<Result<_, _>>()?;
    let anchor = r.opt_str("anchor")?;
    let text = r.str("passage text")?;
    Ok(Chunk { url, title, headings, anchor, text })
}

/// Writes an int8 vector: its scale, then its values.
pub(super) fn write_vector(w: &mut Writer, v: &QVec) {
    w.f32(v.scale);
    w.raw(&v.values.iter().map(|&x| x as u8).collect::<Vec<_>>());
}

/// Reads an int8 vector of `dim` values written by [`write_vector`], refusing a non-finite
/// scale.
pub(super) fn read_vector(r: &mut Reader, dim: usize) -> Result<QVec, IndexError> {
    let scale = r.f32("vector scale")?;
    if !scale.is_finite() {
        return Err(IndexError::Corrupt("vector scale"));
    }
    let values = r.raw(dim, "vector")?.iter().map(|&b| b as i8).collect();
    Ok(QVec { scale, values })
}
