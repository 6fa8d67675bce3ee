//! `wasmrag shard` and `wasmrag search` on a sharded folder: splits an index file into the
//! files of a sharded index, and searches one the way a browser does, reading from disk only
//! the files each query needs and counting them, so the bytes per query can be measured.

use crate::CliError;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;
use wasmrag::index::shards::{write_shards, ShardFile, ShardOptions, ShardedIndex, ENTRY_FILE};
use wasmrag::retrieve::retrieve;
use wasmrag::sharded::{self, Round};
use wasmrag::{Embedder, Index, RetrieveOptions, SearchHit};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io { path: path.to_path_buf(), source }
}

/// Writes the sharded form of `index` into `dir`: assembled in a folder beside it and renamed
/// into place, so a failed run leaves the previous folder whole. Returns (files, bytes, entry bytes).
pub fn write_folder(index: &Index, dir: &Path, options: &ShardOptions) -> Result<(usize, usize, usize), CliError> {
    let files = write_shards(index, options);
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let old = dir.with_file_name(format!(".{name}.old-{}", std::process::id()));
    for (path, bytes) in &files {
        let file = temp.join(path);
        std::fs::create_dir_all(file.parent().unwrap_or(&temp)).map_err(io(&temp))?;
        std::fs::write(&file, bytes).map_err(io(&file))?;
    }
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(io(dir))?;
    }
    std::fs::rename(&temp, dir).map_err(io(dir))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok((files.len(), files.iter().map(|f| f.1.len()).sum(), files[0].1.len()))
}

/// A sharded index read from a folder, with a log of the files read.
pub struct Folder {
    dir: PathBuf,
    /// The index, with the files loaded so far.
    pub index: ShardedIndex,
    /// Paths read after the entry, in order.
    pub read: Vec<String>,
}

impl Folder {
    /// Opens the folder's entry file.
    pub fn open(dir: &Path) -> Result<Folder, CliError> {
        let entry = dir.join(ENTRY_FILE);
        let bytes = std::fs::read(&entry).map_err(io(&entry))?;
        Ok(Folder { dir: dir.to_path_buf(), index: ShardedIndex::open(&bytes)?, read: Vec::new() })
    }

    fn load(&mut self, files: Vec<ShardFile>) -> Result<(), CliError> {
        for f in files {
            let path = f.path();
            let file = self.dir.join(&path);
            let bytes = std::fs::read(&file).map_err(io(&file))?;
            self.index.load(&path, &bytes)?;
            self.read.push(path);
        }
        Ok(())
    }

    /// The `k` best passages for `query`, hybrid, reading what they need round by round as
    /// a browser does ([`wasmrag::sharded::search`]).
    pub fn search(&mut self, embedder: &Embedder, query: &str, k: usize) -> Result<Vec<SearchHit>, CliError> {
        let vector = embedder.embed_one(query)?;
        loop {
            match sharded::search(&self.index, query, Some(&vector), k)? {
                Round::Found(hits) => return Ok(hits),
                Round::Needs(files) => self.load(files)?,
            }
        }
    }
}

fn options(k: usize) -> RetrieveOptions {
    let mut options = RetrieveOptions::default();
    options.k = k;
    options
}

fn file_bytes(dir: &Path, paths: &[String]) -> Result<usize, CliError> {
    paths.iter().map(|p| std::fs::metadata(dir.join(p)).map(|m| m.len() as usize).map_err(io(&dir.join(p)))).sum()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// `search DIR --queries FILE [--compare INDEX]`: runs every query in turn on one sharded
/// index (as one visitor's session does) and reports bytes read per query, first and later,
/// the native latency, and, given the unsharded index, hybrid recall@k against it.
pub fn measure(dir: &Path, queries: &[String], compare: Option<&Index>, embedder: &Embedder, k: usize, probe: Option<usize>) -> Result<Value, CliError> {
    let open = || -> Result<Folder, CliError> {
        let mut folder = Folder::open(dir)?;
        if let Some(p) = probe {
            folder.index.set_probe(p);
        }
        Ok(folder)
    };
    let mut folder = open()?;
    let entry = std::fs::metadata(dir.join(ENTRY_FILE)).map_err(io(dir))?.len();
    let (mut per_query, mut cold, mut millis, mut recalls) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for query in queries {
        let before = folder.read.len();
        let start = Instant::now();
        let hits = folder.search(embedder, query, k)?;
        millis.push(start.elapsed().as_secs_f64() * 1000.0);
        let read = folder.read[before..].to_vec();
        per_query.push(file_bytes(dir, &read)? as f64);
        // What the same query costs a visitor who has loaded only the entry.
        let mut fresh = open()?;
        fresh.search(embedder, query, k)?;
        cold.push(file_bytes(dir, &fresh.read)? as f64);
        if let Some(whole) = compare {
            let vector = embedder.embed_one(query)?;
            let truth = retrieve(whole, query, &vector, &options(k))?;
            let found = truth.iter().filter(|t| hits.iter().any(|h| h.chunk == t.chunk)).count();
            recalls.push(found as f64 / truth.len().max(1) as f64);
        }
    }
    let all: usize = folder.index.files().map(|f| std::fs::metadata(dir.join(f.path())).map(|m| m.len() as usize).unwrap_or(0)).sum();
    Ok(json!({
        "queries": queries.len(),
        "passages": folder.index.len(),
        "files": folder.index.files().count() + 1,
        "total_bytes": all as u64 + entry,
        "entry_bytes": entry,
        "probe": folder.index.probe(),
        "rerank": folder.index.rerank(),
        "first_query_bytes_median": median(cold.clone()),
        "first_query_bytes_max": cold.iter().copied().fold(0.0, f64::max),
        "session_query_bytes_median": median(per_query.clone()),
        "session_bytes_read": per_query.iter().sum::<f64>(),
        "native_ms_median": median(millis),
        "recall_at_k": if recalls.is_empty() { Value::Null } else { json!(recalls.iter().sum::<f64>() / recalls.len() as f64) },
        "k": k,
    }))
}
