//! `wasmrag index --site DIR`: writes a site's search bundle, `DIR/wasmrag/`: the index, the
//! browser runtime and its UI, the models (or the URLs of a shared copy), and `manifest.json`
//! listing every file with its size and SHA-256 (a sharded index's files beyond its entry are
//! only counted: each carries its own CRC-32 and build number, and a large site has thousands,
//! which the page would read before its first search). The bundle is assembled in a temporary folder
//! beside it and renamed into place, so a failed run never leaves half a bundle and never
//! destroys the previous one. Every URL in it is relative (pages to the site root, files to the
//! manifest), so the site works under any base path.

use crate::models::{sha256_file, EMBEDDER_CONFIG, EMBEDDER_INT8, EMBEDDER_TOKENIZER, GENERATOR};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Name of the bundle folder inside the site.
pub const BUNDLE_DIR: &str = "wasmrag";

/// The index file's name inside the bundle.
pub const INDEX_FILE: &str = "index.wasmrag";

/// The folder of a sharded index inside the bundle.
pub const SHARDS_DIR: &str = "index";

/// Prefix of the temporary folders a run assembles the bundle in (skipped when walking a site).
const TEMP_PREFIX: &str = ".wasmrag-";

/// Version of the manifest's layout; the UI refuses versions it does not know.
pub const MANIFEST_VERSION: u32 = 1;

/// Files of the npm package the bundle carries, relative to the package folder: the two
/// runtimes (the keyword one serves the first results, the main one loads the models).
pub const RUNTIME_FILES: &[&str] = &[
    "index.js",
    "worker.js",
    "assets.js",
    "errors.js",
    "models.js",
    "wasm/wasmrag_keyword.js",
    "wasm/wasmrag_keyword_bg.wasm",
    "wasm/wasmrag.js",
    "wasm/wasmrag_bg.wasm",
    "wasmrag-ui.js",
    "wasmrag-ui.css",
];

/// The optional service worker (`--offline`), in the npm package and at the site's root: a
/// service worker controls only the pages under its own folder, so it cannot live in the
/// bundle's.
pub const SERVICE_WORKER: &str = "wasmrag-sw.js";

/// Globs (relative to the site) a site walk must leave out: the bundle, unfinished ones, and
/// the text and Markdown files a built site carries beside its pages (licenses, robots.txt,
/// sources): a site is searched by its HTML, as a visitor reads it.
pub fn exclusions() -> Vec<String> {
    vec![format!("{BUNDLE_DIR}/**"), format!("{TEMP_PREFIX}*/**"), "**/*.txt".into(), "**/*.md".into()]
}

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The browser runtime (the npm package's files) is not where it was looked for.
    #[error("{path} is missing: build the browser runtime first (make wasm) or pass --runtime with the npm package's folder")]
    MissingRuntime {
        /// The file looked for.
        path: PathBuf,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io { path: path.to_path_buf(), source }
}

/// Where the models of the bundle come from.
#[derive(Clone, Copy)]
pub enum Models<'a> {
    /// Copy them from this models folder into the bundle.
    Copy(&'a Path),
    /// Point at a shared copy under this URL (same layout as the models folder); sizes and
    /// hashes are still taken from the local folder so the browser can check what it fetches.
    Url(&'a Path, &'a str),
}

/// What goes into a bundle.
#[derive(Clone, Copy)]
pub struct Bundle<'a> {
    /// The site's folder; the bundle is written to `site/wasmrag/`.
    pub site: &'a Path,
    /// The npm package's folder, holding [`RUNTIME_FILES`].
    pub runtime: &'a Path,
    /// The models.
    pub models: Models<'a>,
    /// Whether to include the generator (answers); without it the bundle only searches.
    pub generator: bool,
    /// The index.
    pub index: IndexFiles<'a>,
    /// Whether to put the service worker that keeps pages and runtime for offline visits
    /// ([`SERVICE_WORKER`]) at the site's root, for `<wasmrag-search offline>` to register.
    pub offline: bool,
}

/// The index `path` names: a bundle folder's index (its one file, or its sharded folder), else
/// `path` itself; so `search` runs on a bundle as the page does.
pub fn index_path(path: &Path) -> PathBuf {
    let (one, sharded) = (path.join(INDEX_FILE), path.join(SHARDS_DIR));
    if path.join("manifest.json").is_file() && one.is_file() {
        one
    } else if path.join("manifest.json").is_file() && sharded.is_dir() {
        sharded
    } else {
        path.to_path_buf()
    }
}

/// The index as the bundle holds it.
#[derive(Clone, Copy)]
pub enum IndexFiles<'a> {
    /// One file, [`INDEX_FILE`]: what the page downloads whole before its first search.
    One(&'a [u8]),
    /// A sharded index's files (paths relative to its entry, the entry first), in [`SHARDS_DIR`]:
    /// the page reads the entry, then what each search needs.
    Sharded(&'a [(String, Vec<u8>)]),
}

/// One file written into the bundle, for the manifest.
fn entry(dir: &Path, rel: &str) -> Result<Value, BundleError> {
    let path = dir.join(rel);
    let bytes = std::fs::metadata(&path).map_err(io(&path))?.len();
    let sha256 = sha256_file(&path).map_err(|e| BundleError::Io { path: path.clone(), source: std::io::Error::other(e.to_string()) })?;
    Ok(json!({ "path": rel, "bytes": bytes, "sha256": sha256 }))
}

/// How a file enters the bundle.
#[derive(Clone, Copy)]
enum Placing {
    /// A copy of its own, for the small runtime files a site's build may rewrite in place
    /// (a minifier, a base-path fix-up) without touching the package they came from.
    Copy,
    /// A hard link where the file system allows one, else a copy: models are large, pinned by
    /// SHA-256 and never edited.
    Link,
}

/// Puts `from` at `to` as `how` says.
fn place(from: &Path, to: &Path, how: Placing) -> Result<(), BundleError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    if matches!(how, Placing::Copy) || std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).map_err(io(from))?;
    }
    Ok(())
}

impl Bundle<'_> {
    /// Writes the bundle and returns its folder and the manifest written.
    pub fn write(&self) -> Result<(PathBuf, Value), BundleError> {
        let worker = self.offline.then_some(SERVICE_WORKER);
        for rel in RUNTIME_FILES.iter().copied().chain(worker) {
            let path = self.runtime.join(rel);
            if !path.is_file() {
                return Err(BundleError::MissingRuntime { path });
            }
        }
        let temp = self.site.join(format!("{TEMP_PREFIX}{}", std::process::id()));
        let result = self.assemble(&temp);
        match result {
            Ok(manifest) => {
                let target = self.site.join(BUNDLE_DIR);
                let old = self.site.join(format!("{TEMP_PREFIX}old-{}", std::process::id()));
                let had_old = target.exists();
                if had_old {
                    std::fs::rename(&target, &old).map_err(io(&target))?;
                }
                if let Err(e) = std::fs::rename(&temp, &target) {
                    if had_old {
                        let _ = std::fs::rename(&old, &target);
                    }
                    let _ = std::fs::remove_dir_all(&temp);
                    return Err(io(&target)(e));
                }
                if had_old {
                    std::fs::remove_dir_all(&old).map_err(io(&old))?;
                }
                if let Some(name) = worker {
                    // Beside the site's pages, written aside and renamed over the old one.
                    let (from, to, temp) = (self.runtime.join(name), self.site.join(name), self.site.join(format!("{TEMP_PREFIX}{name}")));
                    std::fs::copy(&from, &temp).map_err(io(&from))?;
                    std::fs::rename(&temp, &to).map_err(io(&to))?;
                }
                Ok((target, manifest))
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&temp);
                Err(e)
            }
        }
    }

    /// Writes every file into `dir` and the manifest last.
    fn assemble(&self, dir: &Path) -> Result<Value, BundleError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut files = Vec::new();
        for rel in RUNTIME_FILES {
            place(&self.runtime.join(rel), &dir.join(rel), Placing::Copy)?;
            files.push(entry(dir, rel)?);
        }
        let (index, shards) = match self.index {
            IndexFiles::One(bytes) => {
                let path = dir.join(INDEX_FILE);
                std::fs::write(&path, bytes).map_err(io(&path))?;
                files.push(entry(dir, INDEX_FILE)?);
                (json!(INDEX_FILE), Value::Null)
            }
            IndexFiles::Sharded(parts) => {
                for (rel, bytes) in parts {
                    let path = dir.join(SHARDS_DIR).join(rel);
                    std::fs::create_dir_all(path.parent().unwrap_or(dir)).map_err(io(&path))?;
                    std::fs::write(&path, bytes).map_err(io(&path))?;
                }
                let entry_rel = format!("{SHARDS_DIR}/{}", parts.first().map_or("", |p| p.0.as_str()));
                files.push(entry(dir, &entry_rel)?);
                let bytes: usize = parts.iter().map(|p| p.1.len()).sum();
                (Value::Null, json!({ "entry": entry_rel, "files": parts.len(), "bytes": bytes }))
            }
        };
        let mut wanted = vec![EMBEDDER_INT8, EMBEDDER_CONFIG, EMBEDDER_TOKENIZER];
        if self.generator {
            wanted.push(GENERATOR);
        }
        let mut assets = serde_json::Map::new();
        for rel in wanted {
            let (folder, url) = match &self.models {
                Models::Copy(folder) => (*folder, format!("models/{rel}")),
                Models::Url(folder, base) => (*folder, format!("{}/{rel}", base.trim_end_matches('/'))),
            };
            let source = folder.join(rel);
            if !source.is_file() {
                return Err(io(&source)(std::io::Error::new(std::io::ErrorKind::NotFound, "model file missing (run wasmrag models)")));
            }
            let mut asset = entry(folder, rel)?;
            if let Models::Copy(_) = self.models {
                let to = format!("models/{rel}");
                place(&source, &dir.join(&to), Placing::Link)?;
                files.push(json!({ "path": to, "bytes": asset["bytes"], "sha256": asset["sha256"] }));
            }
            asset.as_object_mut().map(|o| o.remove("path"));
            asset["url"] = json!(url);
            assets.insert(rel.to_string(), asset);
        }
        let take = |rel: &str| assets.get(rel).cloned().unwrap_or(Value::Null);
        let manifest = json!({
            "format": "wasmrag-bundle",
            "version": MANIFEST_VERSION,
            "writer": concat!("wasmrag ", env!("CARGO_PKG_VERSION")),
            "index": index,
            "shards": shards,
            "models": {
                "embedder": { "weights": take(EMBEDDER_INT8), "config": take(EMBEDDER_CONFIG), "tokenizer": take(EMBEDDER_TOKENIZER) },
                "generator": take(GENERATOR),
            },
            "files": files,
        });
        let path = dir.join("manifest.json");
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| io(&path)(std::io::Error::other(e)))?;
        std::fs::write(&path, text + "\n").map_err(io(&path))?;
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(dir: &Path, rels: &[&str]) {
        for rel in rels {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, format!("contents of {rel}")).unwrap();
        }
    }

    fn setup() -> (PathBuf, PathBuf, PathBuf) {
        let root = std::env::temp_dir().join(format!("wasmrag-bundle-test-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&root);
        let (site, runtime, models) = (root.join("site"), root.join("pkg"), root.join("models"));
        fake(&site, &["index.html"]);
        fake(&runtime, RUNTIME_FILES);
        fake(&models, &[EMBEDDER_INT8, EMBEDDER_CONFIG, EMBEDDER_TOKENIZER, GENERATOR]);
        (site, runtime, models)
    }

    #[test]
    fn writes_every_file_with_its_hash_and_relative_urls() {
        let (site, runtime, models) = setup();
        let b =
            Bundle { site: &site, runtime: &runtime, models: Models::Copy(&models), generator: true, index: IndexFiles::One(b"index bytes"), offline: false };
        let (dir, manifest) = b.write().unwrap();
        assert_eq!(dir, site.join("wasmrag"));
        let files = manifest["files"].as_array().unwrap();
        assert_eq!(files.len(), RUNTIME_FILES.len() + 1 + 4);
        for f in files {
            let path = dir.join(f["path"].as_str().unwrap());
            assert_eq!(std::fs::metadata(&path).unwrap().len(), f["bytes"].as_u64().unwrap());
            assert_eq!(sha256_file(&path).unwrap(), f["sha256"].as_str().unwrap());
        }
        assert_eq!(std::fs::read(dir.join(INDEX_FILE)).unwrap(), b"index bytes");
        assert_eq!(manifest["models"]["generator"]["url"], "models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q8_0.gguf");
        let on_disk: Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(on_disk, manifest);
    }

    #[test]
    fn shared_models_are_urls_and_search_only_has_no_generator() {
        let (site, runtime, models) = setup();
        let b = Bundle {
            site: &site,
            runtime: &runtime,
            models: Models::Url(&models, "https://cdn.example/m/"),
            generator: false,
            index: IndexFiles::One(b"i"),
            offline: false,
        };
        let (dir, manifest) = b.write().unwrap();
        assert_eq!(manifest["models"]["embedder"]["weights"]["url"], "https://cdn.example/m/all-MiniLM-L6-v2/model.q8_0.gguf");
        assert_eq!(manifest["models"]["embedder"]["weights"]["bytes"], format!("contents of {EMBEDDER_INT8}").len());
        assert!(manifest["models"]["generator"].is_null());
        assert!(!dir.join("models").exists());
    }

    #[test]
    fn a_sharded_index_lists_its_entry_and_counts_the_other_files() {
        let (site, runtime, models) = setup();
        let parts = vec![("entry.bin".to_string(), b"entry".to_vec()), ("text/0.bin".to_string(), b"text zero".to_vec())];
        let b = Bundle { site: &site, runtime: &runtime, models: Models::Copy(&models), generator: false, index: IndexFiles::Sharded(&parts), offline: false };
        let (dir, manifest) = b.write().unwrap();
        assert_eq!(std::fs::read(dir.join("index/text/0.bin")).unwrap(), b"text zero");
        assert!(!dir.join(INDEX_FILE).exists() && manifest["index"].is_null());
        assert_eq!(manifest["shards"], json!({ "entry": "index/entry.bin", "files": 2, "bytes": 14 }));
        let listed: Vec<&str> = manifest["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
        assert!(listed.contains(&"index/entry.bin") && !listed.contains(&"index/text/0.bin"), "{listed:?}");
    }

    #[test]
    fn a_failed_run_keeps_the_previous_bundle_and_leaves_no_temporary_folder() {
        let (site, runtime, models) = setup();
        let good = Bundle { site: &site, runtime: &runtime, models: Models::Copy(&models), generator: true, index: IndexFiles::One(b"first"), offline: false };
        good.write().unwrap();
        std::fs::remove_file(models.join(GENERATOR)).unwrap();
        let bad = Bundle { index: IndexFiles::One(b"second"), ..good };
        assert!(matches!(bad.write(), Err(BundleError::Io { .. })));
        assert_eq!(std::fs::read(site.join("wasmrag").join(INDEX_FILE)).unwrap(), b"first");
        let leftovers: Vec<_> =
            std::fs::read_dir(&site).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX)).collect();
        assert!(leftovers.is_empty());
        std::fs::remove_file(runtime.join("wasm/wasmrag_bg.wasm")).unwrap();
        assert!(matches!(good.write(), Err(BundleError::MissingRuntime { .. })));
    }

    #[test]
    fn rewriting_a_bundled_runtime_file_in_place_leaves_the_package_alone() {
        let (site, runtime, models) = setup();
        let b = Bundle { site: &site, runtime: &runtime, models: Models::Copy(&models), generator: true, index: IndexFiles::One(b"i"), offline: false };
        let (dir, _) = b.write().unwrap();
        for rel in RUNTIME_FILES {
            std::fs::OpenOptions::new().write(true).truncate(true).open(dir.join(rel)).unwrap();
            assert_eq!(std::fs::read_to_string(runtime.join(rel)).unwrap(), format!("contents of {rel}"), "{rel}");
        }
    }

    #[test]
    fn offline_puts_the_service_worker_at_the_site_root() {
        let (site, runtime, models) = setup();
        let plain = Bundle { site: &site, runtime: &runtime, models: Models::Copy(&models), generator: true, index: IndexFiles::One(b"i"), offline: false };
        plain.write().unwrap();
        assert!(!site.join(SERVICE_WORKER).exists(), "only with --offline");
        let offline = Bundle { offline: true, ..plain };
        assert!(matches!(offline.write(), Err(BundleError::MissingRuntime { .. })), "the package lacks it");
        fake(&runtime, &[SERVICE_WORKER]);
        let (dir, manifest) = offline.write().unwrap();
        assert_eq!(std::fs::read(site.join(SERVICE_WORKER)).unwrap(), std::fs::read(runtime.join(SERVICE_WORKER)).unwrap());
        assert!(!dir.join(SERVICE_WORKER).exists() && manifest["files"].as_array().unwrap().iter().all(|f| f["path"] != SERVICE_WORKER));
    }
}
