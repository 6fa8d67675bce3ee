//! Finding the documents to index: walks folders for `.md`, `.html`, `.htm` and `.txt` files,
//! honours `--exclude` globs, and reports unreadable files instead of stopping.

use globset::{Glob, GlobSet, GlobSetBuilder};
use std::path::Path;
use walkdir::WalkDir;
use wasmrag::{Document, Format};

/// Builds the exclusion set from `--exclude` patterns (matched against paths relative to the
/// folder given, e.g. `print.html` or `**/404.html`).
pub fn exclusions(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p)?);
    }
    b.build()
}

/// Reads every document under `roots`; each URL is the path relative to its root, with `/`
/// separators, after `base_url`. Returns the documents and one warning per file skipped.
pub fn collect(roots: &[String], exclude: &GlobSet, base_url: &str) -> (Vec<Document>, Vec<String>) {
    let mut docs = Vec::new();
    let mut warnings = Vec::new();
    for root in roots {
        let root_path = Path::new(root);
        let single_file = root_path.is_file();
        for entry in WalkDir::new(root_path).sort_by_file_name() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    warnings.push(format!("skipped {e}"));
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let path = entry.path();
            let relative = if single_file { path.file_name().map(Path::new).unwrap_or(path) } else { path.strip_prefix(root_path).unwrap_or(path) };
            let url = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            let Some(format) = Format::from_path(&url) else { continue };
            if exclude.is_match(relative) {
                continue;
            }
            match std::fs::read(path) {
                Ok(bytes) => docs.push(Document { url: format!("{base_url}{url}"), format, bytes }),
                Err(e) => warnings.push(format!("skipped {}: {e}", path.display())),
            }
        }
    }
    (docs, warnings)
}
