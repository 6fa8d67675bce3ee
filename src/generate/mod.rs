//! Generation: a llama-family model from GGUF bytes (default SmolLM2-135M-Instruct) on candle's
//! quantised llama, with greedy or seeded sampling, token-by-token stepping for streaming, a
//! cancel flag, and stops at end-of-turn.

pub mod convert;
mod tokenizer;

pub use crate::sample::Draw;

use crate::gpu::{Adjust, GpuDecoder, GpuError, PREFILL_CHUNK};
use candle_core::quantized::gguf_file::Content;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::{ModelWeights, MAX_SEQ_LEN};
use std::io::Cursor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use thiserror::Error;
use tokenizers::Tokenizer;

/// Why a model could not be loaded or could not generate.
#[derive(Debug, Error, PartialEq)]
#[non_exhaustive]
pub enum GenerateError {
    /// The bytes are not a GGUF file.
    #[error("not a GGUF model file (bad magic bytes)")]
    NotGguf,
    /// The GGUF header or tensor table is damaged or the file is cut short.
    #[error("GGUF model file is corrupt or truncated: {0}")]
    Corrupt(String),
    /// A valid GGUF of a kind wasmrag does not run.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// The tokenizer metadata is unusable.
    #[error("the model's tokenizer metadata is invalid: {0}")]
    Tokenizer(String),
    /// The prompt alone fills the context window.
    #[error("prompt is {tokens} tokens but the context window holds {context}")]
    PromptTooLong {
        /// Tokens in the prompt.
        tokens: usize,
        /// The model's usable context.
        context: usize,
    },
    /// The model failed while running.
    #[error("generation failed: {0}")]
    Compute(String),
    /// The GPU engine failed; [`Generator::step_async`] then continues on the CPU.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A generation was stepped after a newer one started on the same model.
    #[error("this generation was superseded by a newer one on the same model")]
    Superseded,
}

impl GenerateError {
    /// A stable, machine-readable name for this error, the `code` JavaScript callers see.
    pub fn code(&self) -> &'static str {
        match self {
            GenerateError::NotGguf | GenerateError::Corrupt(_) | GenerateError::Unsupported(_) | GenerateError::Tokenizer(_) => "model_invalid",
            GenerateError::PromptTooLong { .. } => "prompt_too_long",
            GenerateError::Compute(_) => "compute",
            GenerateError::Gpu(e) => e.code(),
            GenerateError::Superseded => "superseded",
        }
    }
}

/// A run of this many generated tokens that already occurred earlier in the answer means the
/// model is looping (small models do); generation stops and the repeat is dropped.
const LOOP_WINDOW: usize = 20;

/// The default [`GenerateOptions::copy_bias`], measured on cmu-qa-dev (see BENCHMARKS.md).
pub const DEFAULT_COPY_BIAS: f32 = 3.0;

/// Longest run of answer tokens [`copy_boosts`] looks up in the sources.
const COPY_CONTEXT: usize = 3;

/// Sampling and stopping settings for one generation.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// 0 picks the most likely token every step (greedy, reproducible); above 0 samples.
    pub temperature: f64,
    /// Nucleus sampling: sample only from the smallest set of tokens whose probability sums
    /// to this (used when `temperature > 0`).
    pub top_p: Option<f64>,
    /// Divides the logits of recently seen tokens (1.0 = off); stops small models looping.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    /// Seed for sampling: with the token's position it fixes each draw, so a sampled answer is
    /// the same for the same seed, on the CPU and on the GPU engine.
    pub seed: u64,
    /// Set it from elsewhere to stop generation after the current token.
    pub cancel: CancelFlag,
    /// Keep going past end-of-turn tokens, so benchmarks decode a fixed number of tokens.
    pub ignore_end_of_turn: bool,
    /// Added to the logits of the tokens that continue the answer's last tokens as a source
    /// passage continues them ([`Generator::start_with_sources`]), so a small model copies
    /// facts rather than paraphrasing them into errors (0 = off).
    pub copy_bias: f32,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            temperature: 0.0,
            top_p: None,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 299792458,
            cancel: CancelFlag::default(),
            ignore_end_of_turn: false,
            copy_bias: DEFAULT_COPY_BIAS,
        }
    }
}

/// A shared flag that stops a running generation; clones share the same flag.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// Asks the generation to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelFlag::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model emitted an end-of-turn or end-of-text token.
    EndOfTurn,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The context window is full.
    ContextFull,
    /// The cancel flag was set.
    Cancelled,
    /// The model started repeating itself; the repeated tokens were dropped.
    Repetition,
}

/// A loaded generator model with its tokenizer.
pub struct Generator {
    model: ModelWeights,
    tokenizer: Tokenizer,
    stop_tokens: Vec<u32>,
    context: usize,
    device: Device,
    /// Counts `start` calls; a generation may only step while it is the latest.
    session: u64,
    /// The GPU engine for greedy steps in [`Generator::step_async`], if attached.
    gpu: Option<GpuDecoder>,
    /// Why the GPU engine was dropped.
    gpu_error: Option<GpuError>,
}

impl Generator {
    /// Loads a llama-family GGUF model from its bytes, validating the file first so a damaged
    /// or foreign file gives an error rather than a crash.
    pub fn from_gguf(bytes: &[u8]) -> Result<Generator, GenerateError> {
        let content = read_content(bytes)?;
        validate(&content, bytes.len())?;
        let tokenizer = tokenizer::from_gguf(&content)?;
        let md = &content.metadata;
        let mut stop_tokens: Vec<u32> = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>"].iter().filter_map(|t| tokenizer.token_to_id(t)).collect();
        if let Some(eos) = md.get("tokenizer.ggml.eos_token_id").and_then(|v| v.to_u32().ok()) {
            stop_tokens.push(eos);
        }
        let trained = md.get("llama.context_length").and_then(|v| v.to_u32().ok()).unwrap_or(2048) as usize;
        let context = trained.min(MAX_SEQ_LEN);
        let device = Device::Cpu;
        let mut reader = Cursor::new(bytes);
        let model = ModelWeights::from_gguf(content, &mut reader, &device).map_err(|e| GenerateError::Corrupt(e.to_string()))?;
        Ok(Generator { model, tokenizer, stop_tokens, context, device, session: 0, gpu: None, gpu_error: None })
    }

    /// Tokens the model can attend to (prompt plus answer).
    pub fn context_length(&self) -> usize {
        self.context
    }

    /// Number of tokens `text` encodes to, special tokens recognised.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.encode(text).map(|t| t.len()).unwrap_or(usize::MAX)
    }

    /// Token ids of `text`, with `<|im_start|>`-style control tokens as single ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, GenerateError> {
        self.tokenizer.encode_fast(text, false).map(|e| e.get_ids().to_vec()).map_err(|e| GenerateError::Tokenizer(e.to_string()))
    }

    /// Text of token ids, control tokens dropped.
    pub fn decode(&self, ids: &[u32]) -> Result<String, GenerateError> {
        self.tokenizer.decode(ids, true).map_err(|e| GenerateError::Tokenizer(e.to_string()))
    }

    /// Starts generating after `prompt`; call [`Generator::step`] until it returns `None`.
    /// Starting another generation supersedes this one.
    pub fn start(&mut self, prompt: &str, options: &GenerateOptions) -> Result<Generation, GenerateError> {
        self.start_with_sources(prompt, &[], options)
    }

    /// Like [`Generator::start`], with the source texts the answer should copy from: each step
    /// raises the tokens that continue the answer as a source does by
    /// [`GenerateOptions::copy_bias`].
    pub fn start_with_sources(&mut self, prompt: &str, sources: &[&str], options: &GenerateOptions) -> Result<Generation, GenerateError> {
        let mut copy = Vec::new();
        for text in sources {
            // Encoded with a leading space, as words inside an answer are.
            copy.extend(self.encode(&format!(" {}", text.trim()))?);
            copy.push(SOURCE_BREAK);
        }
        let tokens = self.encode(prompt)?;
        if tokens.is_empty() || tokens.len() >= self.context {
            return Err(GenerateError::PromptTooLong { tokens: tokens.len(), context: self.context });
        }
        self.model.clear_kv_cache();
        self.session += 1;
        Ok(Generation { prompt_len: tokens.len(), tokens, fed: 0, gpu_fed: 0, emitted: 0, stop: None, options: options.clone(), session: self.session, copy })
    }

    /// Generates a whole answer, calling `on_token` with each new piece of text.
    pub fn generate(&mut self, prompt: &str, options: &GenerateOptions, on_token: &mut dyn FnMut(&str)) -> Result<(String, StopReason), GenerateError> {
        let mut generation = self.start(prompt, options)?;
        while let Some(piece) = self.step(&mut generation)? {
            on_token(&piece);
        }
        let reason = generation.stop_reason().unwrap_or(StopReason::MaxTokens);
        Ok((self.text(&generation)?, reason))
    }

    /// Runs one step of `generation` and returns the text it adds (possibly empty while a
    /// multi-byte character is incomplete), or `None` once it has stopped. The first step also
    /// reads the whole prompt. Stepping one token per call lets a browser yield in between.
    /// This always runs on the CPU; [`Generator::step_async`] uses the GPU engine if attached.
    pub fn step(&mut self, generation: &mut Generation) -> Result<Option<String>, GenerateError> {
        if let Some(done) = self.before_step(generation)? {
            return Ok(done);
        }
        let next = self.cpu_next(generation)?;
        self.accept(generation, next)
    }

    /// Like [`Generator::step`], but the forward pass runs on the attached GPU engine
    /// ([`Generator::attach_gpu`]), which also picks the token (greedy or the seeded draw, as
    /// the CPU would) and reads back only its id. If the GPU fails (device lost, out of
    /// memory) the engine is dropped, the error kept in [`Generator::gpu_error`], and the step
    /// finishes on the CPU.
    pub async fn step_async(&mut self, generation: &mut Generation) -> Result<Option<String>, GenerateError> {
        if let Some(done) = self.before_step(generation)? {
            return Ok(done);
        }
        let next = match self.gpu.as_mut() {
            Some(gpu) => match gpu_next(gpu, generation).await {
                Ok(next) => Some(next),
                Err(GenerateError::Gpu(e)) => {
                    self.gpu = None;
                    self.gpu_error = Some(e);
                    generation.fed = 0;
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let next = match next {
            Some(next) => next,
            None => self.cpu_next(generation)?,
        };
        self.accept(generation, next)
    }

    /// Attaches a GPU engine for [`Generator::step_async`]; the CPU model stays loaded as the
    /// fallback.
    pub fn attach_gpu(&mut self, decoder: GpuDecoder) {
        self.gpu = Some(decoder);
        self.gpu_error = None;
    }

    /// Whether a GPU engine is attached (and has not failed).
    pub fn has_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    /// Why the GPU engine was dropped, if it failed during generation.
    pub fn gpu_error(&self) -> Option<&GpuError> {
        self.gpu_error.as_ref()
    }

    /// The checks before each step: superseded, already stopped, cancelled, at the token limit
    /// or the end of the context. `Some` is the step's result without computing a token.
    fn before_step(&mut self, g: &mut Generation) -> Result<Option<Option<String>>, GenerateError> {
        if g.session != self.session {
            return Err(GenerateError::Superseded);
        }
        if g.stop.is_some() {
            return Ok(Some(None));
        }
        let generated = g.tokens.len() - g.prompt_len;
        if g.options.cancel.is_cancelled() {
            return self.finish(g, StopReason::Cancelled).map(Some);
        }
        if generated >= g.options.max_tokens {
            return self.finish(g, StopReason::MaxTokens).map(Some);
        }
        if g.tokens.len() >= self.context {
            return self.finish(g, StopReason::ContextFull).map(Some);
        }
        Ok(None)
    }

    /// The next token on the CPU: candle's forward pass, repetition penalty and sampler.
    fn cpu_next(&mut self, g: &mut Generation) -> Result<u32, GenerateError> {
        let logits = self.forward(g)?;
        sample(g, logits)
    }

    /// Records the sampled token: stops at end of turn or on a loop, else returns the new text.
    fn accept(&mut self, g: &mut Generation, next: u32) -> Result<Option<String>, GenerateError> {
        if self.stop_tokens.contains(&next) && !g.options.ignore_end_of_turn {
            return self.finish(g, StopReason::EndOfTurn);
        }
        g.tokens.push(next);
        if let Some(keep) = repeated_tail(g.generated_tokens(), LOOP_WINDOW) {
            g.tokens.truncate(g.prompt_len + keep);
            return self.finish(g, StopReason::Repetition);
        }
        let text = self.text(g)?;
        if text.ends_with('\u{FFFD}') || !text.is_char_boundary(g.emitted) {
            return Ok(Some(String::new()));
        }
        let piece = text[g.emitted..].to_string();
        g.emitted = text.len();
        Ok(Some(piece))
    }

    /// Feeds every token the model has not seen yet (the prompt, in chunks, on the first
    /// step; the last sampled token after that) and returns the next-token logits.
    fn forward(&mut self, g: &mut Generation) -> Result<Tensor, GenerateError> {
        let compute = |e: candle_core::Error| GenerateError::Compute(e.to_string());
        let mut logits = None;
        while g.fed < g.tokens.len() {
            let end = (g.fed + PREFILL_CHUNK).min(g.tokens.len());
            let input = Tensor::new(&g.tokens[g.fed..end], &self.device).and_then(|t| t.unsqueeze(0)).map_err(compute)?;
            logits = Some(self.model.forward(&input, g.fed).map_err(compute)?);
            g.fed = end;
        }
        let logits = logits.ok_or_else(|| GenerateError::Compute("no new tokens to feed".into()))?;
        logits.squeeze(0).map_err(compute)
    }

    fn finish(&mut self, g: &mut Generation, reason: StopReason) -> Result<Option<String>, GenerateError> {
        g.stop = Some(reason);
        let text = self.text(g)?;
        if g.emitted < text.len() && text.is_char_boundary(g.emitted) {
            let rest = text[g.emitted..].trim_end_matches('\u{FFFD}').to_string();
            g.emitted = text.len();
            if !rest.is_empty() {
                return Ok(Some(rest));
            }
        }
        Ok(None)
    }

    /// The answer `generation` has produced so far.
    pub fn text(&self, generation: &Generation) -> Result<String, GenerateError> {
        self.decode(generation.generated_tokens())
    }
}

/// The state of one generation: prompt and generated tokens, sampler and stop reason.
/// It is stepped by the [`Generator`] that started it ([`Generator::step`]).
pub struct Generation {
    options: GenerateOptions,
    /// Prompt then generated tokens.
    tokens: Vec<u32>,
    prompt_len: usize,
    /// Tokens already given to the CPU model.
    fed: usize,
    /// Tokens already given to the GPU engine.
    gpu_fed: usize,
    /// Bytes of answer text already returned.
    emitted: usize,
    stop: Option<StopReason>,
    session: u64,
    /// Source tokens the answer may copy from, texts separated by [`SOURCE_BREAK`].
    copy: Vec<u32>,
}

impl Generation {
    /// The seeded draw for the next token, or `None` when decoding is greedy.
    fn draw(&self) -> Option<Draw> {
        (self.options.temperature > 0.0).then(|| Draw {
            temperature: self.options.temperature as f32,
            top_p: self.options.top_p.map_or(1.0, |p| p as f32),
            seed: self.options.seed,
            position: self.tokens.len() as u32,
        })
    }

    /// Token ids generated so far.
    pub fn generated_tokens(&self) -> &[u32] {
        &self.tokens[self.prompt_len..]
    }

    /// Tokens in the prompt.
    pub fn prompt_tokens(&self) -> usize {
        self.prompt_len
    }

    /// Why generation stopped, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stop
    }
}

/// Separates source texts in [`Generation::copy`], so no run of tokens spans two of them.
const SOURCE_BREAK: u32 = u32::MAX;

/// The tokens that continue the answer's longest final run (up to [`COPY_CONTEXT`] tokens)
/// found in `sources`, ascending and distinct; none before the answer's first token.
pub(crate) fn copy_boosts(sources: &[u32], answer: &[u32]) -> Vec<u32> {
    for n in (1..=COPY_CONTEXT.min(answer.len())).rev() {
        let tail = &answer[answer.len() - n..];
        let mut next: Vec<u32> = sources.windows(n + 1).filter(|w| &w[..n] == tail && w[n] != SOURCE_BREAK).map(|w| w[n]).collect();
        if !next.is_empty() {
            next.sort_unstable();
            next.dedup();
            return next;
        }
    }
    Vec::new()
}

/// Applies the repetition penalty and the copy bias to next-token `logits` and picks a
/// token: the most likely one (the last on ties, as candle's greedy sampler), or `g`'s seeded
/// draw.
fn sample(g: &mut Generation, logits: Tensor) -> Result<u32, GenerateError> {
    let compute = |e: candle_core::Error| GenerateError::Compute(e.to_string());
    let logits = if g.options.repeat_penalty == 1.0 {
        logits
    } else {
        let start = g.tokens.len().saturating_sub(g.options.repeat_last_n);
        candle_transformers::utils::apply_repeat_penalty(&logits, g.options.repeat_penalty, &g.tokens[start..]).map_err(compute)?
    };
    let boosts = if g.options.copy_bias == 0.0 { Vec::new() } else { copy_boosts(&g.copy, g.generated_tokens()) };
    if boosts.is_empty() {
        return match g.draw() {
            None => logits.argmax(candle_core::D::Minus1).and_then(|t| t.to_scalar::<u32>()).map_err(compute),
            Some(draw) => Ok(draw.pick(&logits.to_vec1::<f32>().map_err(compute)?)),
        };
    }
    let mut values = logits.to_vec1::<f32>().map_err(compute)?;
    for &t in &boosts {
        if let Some(v) = values.get_mut(t as usize) {
            *v += g.options.copy_bias;
        }
    }
    Ok(match g.draw() {
        None => values.iter().enumerate().fold((0, f32::MIN), |best, (i, &v)| if v >= best.1 { (i, v) } else { best }).0 as u32,
        Some(draw) => draw.pick(&values),
    })
}

/// The next token of `g` from the GPU engine, continuing from the tokens it has already seen.
/// Greedy steps and seeded draws both pick on the GPU, so only the token id is read back.
async fn gpu_next(gpu: &mut GpuDecoder, g: &mut Generation) -> Result<u32, GenerateError> {
    if g.gpu_fed == 0 {
        gpu.reset();
    }
    let feed = &g.tokens[g.gpu_fed..];
    let recent = &g.tokens[g.tokens.len().saturating_sub(g.options.repeat_last_n)..];
    let boosts = if g.options.copy_bias == 0.0 { Vec::new() } else { copy_boosts(&g.copy, g.generated_tokens()) };
    let adjust = Adjust { recent, penalty: g.options.repeat_penalty, boosts: &boosts, bias: g.options.copy_bias };
    let next = match g.draw() {
        None => gpu.next_token(feed, &adjust).await?,
        Some(draw) => gpu.next_token_drawn(feed, &adjust, &draw).await?,
    };
    g.gpu_fed = g.tokens.len();
    Ok(next)
}

/// If the last `window` tokens already occur earlier in `tokens`, the length to keep (without
/// that repeat).
fn repeated_tail(tokens: &[u32], window: usize) -> Option<usize> {
    if window == 0 || tokens.len() < 2 * window {
        return None;
    }
    let keep = tokens.len() - window;
    let tail = &tokens[keep..];
    tokens[..keep].windows(window).any(|w| w == tail).then_some(keep)
}

/// Parses the GGUF header and tensor table.
pub(crate) fn read_content(bytes: &[u8]) -> Result<Content, GenerateError> {
    if bytes.len() < 4 || &bytes[..4] != b"GGUF" {
        return Err(GenerateError::NotGguf);
    }
    if zero_alignment(bytes) {
        return Err(GenerateError::Corrupt("general.alignment is 0".into()));
    }
    Content::read(&mut Cursor::new(bytes)).map_err(|e| GenerateError::Corrupt(e.to_string()))
}

/// Whether the file sets `general.alignment` to 0, which candle 0.11's reader divides by (a
/// panic, so a trap in wasm; found by fuzzing). Walks the metadata as GGUF lays it out; a file
/// too malformed to walk is left to candle's reader, which reports it as an error.
fn zero_alignment(bytes: &[u8]) -> bool {
    let mut r = Gguf { bytes, at: 4, v1: false };
    let mut walk = || -> Option<bool> {
        let version = r.u32()?;
        r.v1 = version == 1;
        let (_tensors, kvs) = (r.count()?, r.count()?);
        let mut zero = false;
        for _ in 0..kvs {
            let key = r.string()?;
            let kind = r.u32()?;
            let width = [1, 1, 2, 2, 4, 4].get(kind as usize).copied();
            if key == b"general.alignment" && width.is_some() {
                zero = r.take(width?)?.iter().all(|&b| b == 0);
            } else {
                r.skip_value(kind, 0)?;
            }
        }
        Some(zero)
    };
    walk().unwrap_or(false)
}

/// A cursor over GGUF metadata for [`zero_alignment`].
struct Gguf<'a> {
    bytes: &'a [u8],
    at: usize,
    v1: bool,
}

impl<'a> Gguf<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length or count: u32 in GGUF v1, u64 after.
    fn count(&mut self) -> Option<usize> {
        if self.v1 {
            return self.u32().map(|n| n as usize);
        }
        self.take(8).and_then(|b| usize::try_from(u64::from_le_bytes(b.try_into().ok()?)).ok())
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.count()?;
        self.take(n)
    }

    fn skip_value(&mut self, kind: u32, depth: usize) -> Option<()> {
        match kind {
            0 | 1 | 7 => self.take(1).map(drop),
            2 | 3 => self.take(2).map(drop),
            4..=6 => self.take(4).map(drop),
            10..=12 => self.take(8).map(drop),
            8 => self.string().map(drop),
            9 if depth < 4 => {
                let (inner, n) = (self.u32()?, self.count()?);
                // Every element takes at least a byte, so a count past the end is malformed.
                if n > self.bytes.len() - self.at {
                    return None;
                }
                (0..n).try_for_each(|_| self.skip_value(inner, depth + 1))
            }
            _ => None,
        }
    }
}

/// Checks what candle would otherwise trust: the architecture, the shape parameters it divides
/// by, the tensors it looks up, and that every tensor's bytes lie inside the file.
fn validate(content: &Content, file_len: usize) -> Result<(), GenerateError> {
    let md = &content.metadata;
    let arch = md.get("general.architecture").and_then(|v| v.to_string().ok());
    if arch.map(String::as_str) != Some("llama") {
        return Err(GenerateError::Unsupported(format!(
            "architecture {:?}; wasmrag runs llama-family models (SmolLM2, Llama, TinyLlama)",
            arch.map(String::as_str).unwrap_or("missing")
        )));
    }
    let get = |key: &str| -> Result<usize, GenerateError> {
        md.get(key).and_then(|v| v.to_u32().ok()).map(|v| v as usize).filter(|&v| v > 0).ok_or_else(|| GenerateError::Corrupt(format!("missing or zero {key}")))
    };
    let heads = get("llama.attention.head_count")?;
    let kv_heads = get("llama.attention.head_count_kv")?;
    let embedding = get("llama.embedding_length")?;
    let blocks = get("llama.block_count")?;
    let rope = get("llama.rope.dimension_count")?;
    if embedding % heads != 0 || heads % kv_heads != 0 || rope % 2 != 0 || rope > embedding / heads {
        return Err(GenerateError::Corrupt("inconsistent attention shape parameters".into()));
    }
    let data_len = (file_len as u64).saturating_sub(content.tensor_data_offset);
    for (name, info) in &content.tensor_infos {
        // Products of sizes from the file, so checked (a wrapped size could pass the bound).
        let elements = info.shape.dims().iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let Some(elements) = elements else {
            return Err(GenerateError::Corrupt(format!("tensor {name} has an impossible shape")));
        };
        let block = info.ggml_dtype.block_size();
        if elements % block != 0 {
            return Err(GenerateError::Corrupt(format!("tensor {name} is not whole quantisation blocks")));
        }
        let size = ((elements / block) as u64).checked_mul(info.ggml_dtype.type_size() as u64);
        if size.and_then(|size| info.offset.checked_add(size)).is_none_or(|end| end > data_len) {
            return Err(GenerateError::Corrupt(format!("tensor {name} lies past the end of the file (truncated?)")));
        }
    }
    // Checked one name at a time: the block count comes from the file, so a list of every name
    // could be billions long (found by fuzzing).
    const PER_BLOCK: [&str; 6] = ["attn_q", "attn_k", "attn_v", "attn_output", "attn_norm", "ffn_norm"];
    if blocks.saturating_mul(PER_BLOCK.len()) > content.tensor_infos.len() {
        return Err(GenerateError::Corrupt(format!(
            "missing tensors: {blocks} blocks need {} tensors, the file has {}",
            blocks.saturating_mul(PER_BLOCK.len()),
            content.tensor_infos.len()
        )));
    }
    let per_block = (0..blocks).flat_map(|i| PER_BLOCK.iter().map(move |t| format!("blk.{i}.{t}.weight")));
    let mut required = ["token_embd.weight".to_string(), "output_norm.weight".to_string()].into_iter().chain(per_block);
    match required.find(|t| !content.tensor_infos.contains_key(t)) {
        Some(missing) => Err(GenerateError::Corrupt(format!("missing tensor {missing}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{copy_boosts, repeated_tail, SOURCE_BREAK};

    #[test]
    fn detects_a_repeated_run_only() {
        let looping: Vec<u32> = [1, 2, 3, 4, 9, 1, 2, 3, 4].to_vec();
        assert_eq!(repeated_tail(&looping, 4), Some(5));
        assert_eq!(repeated_tail(&looping, 5), None);
        assert_eq!(repeated_tail(&[1, 2, 3, 4, 5, 6, 7, 8], 4), None);
        assert_eq!(repeated_tail(&[7, 7, 7], 2), None, "too short to hold a run twice");
    }

    #[test]
    fn copy_boosts_follow_the_longest_matching_run() {
        let sources = [5, 6, 7, 5, 6, 8, SOURCE_BREAK, 6, 9, 4];
        assert!(copy_boosts(&sources, &[]).is_empty(), "nothing before the first token");
        // "6" alone is followed by 7, 8 and 9; "5 6" only by 7 and 8.
        assert_eq!(copy_boosts(&sources, &[1, 6]), vec![7, 8, 9]);
        assert_eq!(copy_boosts(&sources, &[5, 6]), vec![7, 8]);
        assert_eq!(copy_boosts(&sources, &[7, 5, 6]), vec![8]);
        // A run longer than the sources hold falls back to its shorter tails.
        assert_eq!(copy_boosts(&sources, &[3, 7, 5, 6]), vec![8]);
        assert!(copy_boosts(&sources, &[8]).is_empty(), "no token crosses a source break");
        assert!(copy_boosts(&sources, &[42]).is_empty());
    }
}
