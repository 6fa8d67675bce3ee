//! `wasmrag perplexity`: how much a generator encoding loses against another on real text, the
//! numbers the shipped encoding is chosen by (BENCHMARKS.md, "Generator encodings").

use super::{read, CliError};
use std::path::{Path, PathBuf};
use std::time::Instant;
use wasmrag::generate::score::{agreement, perplexity, TokenScore};
use wasmrag::{ChunkOptions, Document, Format, Generator};

/// The text of the files, as the indexer reads them (HTML and Markdown reduced to their words),
/// passages joined by blank lines.
fn text_of(files: &[PathBuf], generator: &Generator) -> Result<String, CliError> {
    let mut parts = Vec::new();
    for path in files {
        let url = path.display().to_string();
        let format = Format::from_path(&url).ok_or_else(|| CliError::Usage(format!("{url}: not .md, .html or .txt")))?;
        let doc = Document { url, format, bytes: read(path)? };
        let chunks =
            wasmrag::chunk::chunk_document(&doc, &ChunkOptions::default(), &|t| generator.count_tokens(t)).map_err(|e| CliError::Usage(e.to_string()))?;
        parts.extend(chunks.into_iter().map(|c| c.text));
    }
    Ok(parts.join("\n\n"))
}

/// Scores every generator on the same tokens (the first one's tokenizer; the files must share
/// a vocabulary) and prints a row per file.
pub fn run(generators: &[PathBuf], files: &[PathBuf], tokens: usize, json: bool) -> Result<(), CliError> {
    let mut rows = Vec::new();
    let mut reference: Option<Vec<TokenScore>> = None;
    let mut ids = Vec::new();
    for path in generators {
        let bytes = read(path)?;
        let generator = Generator::from_gguf(&bytes)?;
        if ids.is_empty() {
            ids = generator.encode(&text_of(files, &generator)?)?;
            ids.truncate(tokens);
            if ids.len() < 2 {
                return Err(CliError::Usage("the text has fewer than two tokens".into()));
            }
        }
        let start = Instant::now();
        let scores = generator.score(&ids)?;
        let seconds = start.elapsed().as_secs_f64();
        let agree = reference.as_ref().map_or(1.0, |r| agreement(r, &scores));
        rows.push(serde_json::json!({
            "file": path.display().to_string(),
            "bytes": bytes.len(),
            "tokens": scores.len(),
            "perplexity": perplexity(&scores),
            "top1_agreement": agree,
            "native_tokens_per_second": scores.len() as f64 / seconds,
        }));
        reference.get_or_insert(scores);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows).map_err(|e| CliError::Usage(e.to_string()))?);
        return Ok(());
    }
    println!("{:<48} {:>11} {:>11} {:>10} {:>9}", "generator", "MB", "perplexity", "agreement", "tok/s");
    let base = rows[0]["perplexity"].as_f64().unwrap_or(f64::NAN);
    for r in &rows {
        let name = Path::new(r["file"].as_str().unwrap_or("")).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let ppl = r["perplexity"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<48} {:>11.1} {:>6.3} {:+4.1}% {:>10.3} {:>9.1}",
            name,
            r["bytes"].as_f64().unwrap_or(0.0) / 1e6,
            ppl,
            (ppl / base - 1.0) * 100.0,
            r["top1_agreement"].as_f64().unwrap_or(f64::NAN),
            r["native_tokens_per_second"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}
