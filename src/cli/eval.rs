//! `wasmrag eval`: retrieval quality on a BEIR-format folder (`corpus.jsonl`, `queries.jsonl`,
//! `qrels/<split>.tsv`). Indexes the corpus with the normal pipeline and scores dense-only,
//! BM25-only and hybrid rankings with nDCG@10, Recall@10 and Recall@100, so users can measure
//! their own site's questions and we can compare with published numbers.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use wasmrag::index::{DenseLayout, Index};
use wasmrag::retrieve::{retrieve, Fusion, RetrieveOptions};
use wasmrag::{Document, Embedder, Format};

/// Why an evaluation folder could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file is missing or unreadable.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not what BEIR's format says.
    #[error("{path}:{line}: {message}")]
    Format {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Nothing to evaluate.
    #[error("no judged queries: {0}")]
    Empty(String),
}

/// A BEIR data set: documents, the queries of one split, and their relevance judgements.
pub struct Beir {
    /// One document per corpus entry; its URL is the corpus id.
    pub documents: Vec<Document>,
    /// Query id → text, for queries that have judgements.
    pub queries: Vec<(String, String)>,
    /// Query id → (document id → relevance grade).
    pub qrels: HashMap<String, HashMap<String, u32>>,
}

fn read(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.display().to_string(), source })
}

fn jsonl(path: &Path) -> Result<Vec<serde_json::Value>, EvalError> {
    read(path)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| EvalError::Format { path: path.display().to_string(), line: i + 1, message: e.to_string() }))
        .collect()
}

fn field(v: &serde_json::Value, key: &str, path: &Path, line: usize) -> Result<String, EvalError> {
    match &v[key] {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Null if key != "_id" => Ok(String::new()),
        _ => Err(EvalError::Format { path: path.display().to_string(), line, message: format!("missing \"{key}\"") }),
    }
}

impl Beir {
    /// Reads a BEIR folder with the judgements of `split` (e.g. `test` or `train`).
    pub fn load(dir: &Path, split: &str) -> Result<Beir, EvalError> {
        let corpus_path = dir.join("corpus.jsonl");
        let mut documents = Vec::new();
        for (i, v) in jsonl(&corpus_path)?.iter().enumerate() {
            let id = field(v, "_id", &corpus_path, i + 1)?;
            let title = field(v, "title", &corpus_path, i + 1)?;
            let text = field(v, "text", &corpus_path, i + 1)?;
            let body = if title.is_empty() { text } else { format!("# {title}\n\n{text}") };
            documents.push(Document { url: id, format: Format::Markdown, bytes: body.into_bytes() });
        }
        let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
        let mut qrels: HashMap<String, HashMap<String, u32>> = HashMap::new();
        for (i, line) in read(&qrels_path)?.lines().enumerate() {
            let cols: Vec<&str> = line.split('\t').collect();
            if i == 0 && cols.first() == Some(&"query-id") || line.trim().is_empty() {
                continue;
            }
            let [q, d, score] = cols[..] else {
                return Err(EvalError::Format { path: qrels_path.display().to_string(), line: i + 1, message: "expected query-id, corpus-id, score".into() });
            };
            let score: u32 = score.trim().parse().map_err(|_| EvalError::Format {
                path: qrels_path.display().to_string(),
                line: i + 1,
                message: format!("score {score:?} is not a whole number"),
            })?;
            qrels.entry(q.to_string()).or_default().insert(d.to_string(), score);
        }
        let queries_path = dir.join("queries.jsonl");
        let mut queries = Vec::new();
        for (i, v) in jsonl(&queries_path)?.iter().enumerate() {
            let id = field(v, "_id", &queries_path, i + 1)?;
            if qrels.contains_key(&id) {
                queries.push((id, field(v, "text", &queries_path, i + 1)?));
            }
        }
        if queries.is_empty() {
            return Err(EvalError::Empty(format!("no query in queries.jsonl has judgements in {}", qrels_path.display())));
        }
        Ok(Beir { documents, queries, qrels })
    }
}

/// Mean retrieval metrics over the judged queries.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// Normalised discounted cumulative gain of the top 10.
    pub ndcg_at_10: f64,
    /// Share of relevant documents found in the top 10.
    pub recall_at_10: f64,
    /// Share of relevant documents found in the top 100.
    pub recall_at_100: f64,
}

/// Scores ranked document ids against judgements (trec_eval's definitions: linear gain,
/// log2 discount, recall over all relevant documents).
pub fn score(rankings: &[(String, Vec<String>)], qrels: &HashMap<String, HashMap<String, u32>>) -> Metrics {
    let mut sum = Metrics { ndcg_at_10: 0.0, recall_at_10: 0.0, recall_at_100: 0.0 };
    for (qid, ranking) in rankings {
        let judged = &qrels[qid];
        let gain = |d: &String| judged.get(d).copied().unwrap_or(0) as f64;
        let dcg: f64 = ranking.iter().take(10).enumerate().map(|(i, d)| gain(d) / (i as f64 + 2.0).log2()).sum();
        let mut ideal: Vec<f64> = judged.values().map(|&g| g as f64).collect();
        ideal.sort_by(|a, b| b.total_cmp(a));
        let idcg: f64 = ideal.iter().take(10).enumerate().map(|(i, g)| g / (i as f64 + 2.0).log2()).sum();
        let relevant = judged.values().filter(|&&g| g > 0).count().max(1) as f64;
        let found = |k: usize| ranking.iter().take(k).filter(|d| gain(d) > 0.0).count() as f64 / relevant;
        sum.ndcg_at_10 += if idcg > 0.0 { dcg / idcg } else { 0.0 };
        sum.recall_at_10 += found(10);
        sum.recall_at_100 += found(100);
    }
    let n = rankings.len().max(1) as f64;
    Metrics { ndcg_at_10: sum.ndcg_at_10 / n, recall_at_10: sum.recall_at_10 / n, recall_at_100: sum.recall_at_100 / n }
}

/// Ranks documents for every query with the given retrieval settings; a document's rank is
/// that of its best passage.
pub fn rank(index: &Index, queries: &[(String, String)], vectors: &[Vec<f32>], options: &RetrieveOptions) -> Vec<(String, Vec<String>)> {
    queries
        .iter()
        .zip(vectors)
        .map(|((qid, text), v)| {
            let hits = retrieve(index, text, v, options).unwrap_or_default();
            let mut seen = HashSet::new();
            let docs = hits.iter().map(|h| index.chunks()[h.chunk as usize].url.clone()).filter(|d| seen.insert(d.clone())).collect();
            (qid.clone(), docs)
        })
        .collect()
}

/// The three rankings reported: dense only, BM25 only, and the given hybrid.
pub fn modes(hybrid: &RetrieveOptions) -> [(&'static str, RetrieveOptions); 3] {
    let mut base = hybrid.clone();
    (base.k, base.candidates) = (100, 100);
    let weighted = |w: f32| {
        let mut o = base.clone();
        o.dense_weight = w;
        o
    };
    [("dense", weighted(1.0)), ("bm25", weighted(0.0)), ("hybrid", base.clone())]
}

/// Share of the exact top-10 neighbours that HNSW returns, over the queries; `None` for a flat
/// index, whose dense search is the exact one.
pub fn hnsw_recall(index: &Index, vectors: &[Vec<f32>]) -> Option<f64> {
    if index.dense_layout() == DenseLayout::Flat {
        return None;
    }
    let mut found = 0;
    let mut total = 0;
    for v in vectors {
        let exact: HashSet<u32> = index.exact_search(v, 10).unwrap_or_default().iter().map(|h| h.0).collect();
        found += index.dense_search(v, 10).unwrap_or_default().iter().filter(|h| exact.contains(&h.0)).count();
        total += exact.len();
    }
    Some(found as f64 / total.max(1) as f64)
}

/// Fusion settings tried by `--sweep`, for tuning on a training split.
pub fn sweep_grid() -> Vec<RetrieveOptions> {
    let mut grid = Vec::new();
    for w in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
        for fusion in [Fusion::Rrf { k: 60.0 }, Fusion::Rrf { k: 20.0 }, Fusion::Blend] {
            let mut o = RetrieveOptions::default();
            (o.k, o.candidates, o.fusion, o.dense_weight) = (100, 100, fusion, w);
            grid.push(o);
        }
    }
    grid
}

/// Embeds the query texts.
pub fn embed_queries(embedder: &Embedder, queries: &[(String, String)]) -> Result<Vec<Vec<f32>>, wasmrag::EmbedError> {
    let texts: Vec<&str> = queries.iter().map(|(_, t)| t.as_str()).collect();
    embedder.embed(&texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qrels(pairs: &[(&str, &str, u32)]) -> HashMap<String, HashMap<String, u32>> {
        let mut q: HashMap<String, HashMap<String, u32>> = HashMap::new();
        for (a, b, g) in pairs {
            q.entry(a.to_string()).or_default().insert(b.to_string(), *g);
        }
        q
    }

    fn ranking(q: &str, docs: &[&str]) -> (String, Vec<String>) {
        (q.to_string(), docs.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn perfect_and_empty_rankings() {
        let judged = qrels(&[("q", "a", 1), ("q", "b", 1)]);
        let perfect = score(&[ranking("q", &["a", "b", "c"])], &judged);
        assert_eq!(perfect, Metrics { ndcg_at_10: 1.0, recall_at_10: 1.0, recall_at_100: 1.0 });
        let none = score(&[ranking("q", &["x", "y"])], &judged);
        assert_eq!(none, Metrics { ndcg_at_10: 0.0, recall_at_10: 0.0, recall_at_100: 0.0 });
    }

    #[test]
    fn ndcg_discounts_by_rank() {
        let judged = qrels(&[("q", "a", 1)]);
        // Relevant document at rank 2: 1/log2(3) over the ideal 1/log2(2).
        let m = score(&[ranking("q", &["x", "a"])], &judged);
        assert!((m.ndcg_at_10 - 1.0 / 3f64.log2()).abs() < 1e-12);
        // Rank 11 counts for recall@100 only.
        let late: Vec<String> = (0..10).map(|i| format!("x{i}")).chain(["a".to_string()]).collect();
        let m = score(&[("q".to_string(), late)], &judged);
        assert_eq!((m.ndcg_at_10, m.recall_at_10, m.recall_at_100), (0.0, 0.0, 1.0));
    }

    #[test]
    fn averages_over_queries() {
        let judged = qrels(&[("q1", "a", 1), ("q2", "b", 1)]);
        let m = score(&[ranking("q1", &["a"]), ranking("q2", &["z"])], &judged);
        assert_eq!(m.recall_at_10, 0.5);
    }

    #[test]
    fn reads_beir_folders_and_reports_bad_lines() {
        let dir = std::env::temp_dir().join(format!("wasmrag-beir-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("qrels")).unwrap();
        std::fs::write(dir.join("corpus.jsonl"), "{\"_id\": \"d1\", \"title\": \"T\", \"text\": \"body\"}\n{\"_id\": 7, \"text\": \"no title\"}\n").unwrap();
        std::fs::write(dir.join("queries.jsonl"), "{\"_id\": \"q1\", \"text\": \"what?\"}\n{\"_id\": \"q2\", \"text\": \"unjudged\"}\n").unwrap();
        std::fs::write(dir.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\td1\t1\n").unwrap();
        let beir = Beir::load(&dir, "test").unwrap();
        assert_eq!(beir.documents.len(), 2);
        assert_eq!(beir.documents[1].url, "7");
        assert_eq!(beir.documents[0].bytes, b"# T\n\nbody");
        assert_eq!(beir.queries, vec![("q1".to_string(), "what?".to_string())]);
        assert!(matches!(Beir::load(&dir, "train"), Err(EvalError::Io { .. })));
        std::fs::write(dir.join("qrels/test.tsv"), "q1\td1\tx\n").unwrap();
        assert!(matches!(Beir::load(&dir, "test"), Err(EvalError::Format { line: 1, .. })));
        std::fs::write(dir.join("qrels/test.tsv"), "q9\td1\t1\n").unwrap();
        assert!(matches!(Beir::load(&dir, "test"), Err(EvalError::Empty(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
