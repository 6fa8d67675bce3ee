//! Generation: a llama-family model from GGUF bytes (default SmolLM2-135M-Instruct) on our
//! quantised llama, with greedy or seeded sampling, token-by-token stepping for streaming, a
//! cancel flag, and stops at end-of-turn. Each [`Generation`] owns its [`Decoder`]s (the CPU's,
//! and the accelerated one while it is lent), so the [`Generator`] is shared read-only.

pub mod convert;
mod decoder;
mod llama;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod q4;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod q8;
pub mod score;
pub mod tokenizer;

pub use crate::sample::Draw;
pub use decoder::{Adjust, CpuDecoder, Decoder, MaybeSend, NextToken, PREFILL_CHUNK};

use crate::tokenize::ByteLevelBpe;
use candle_core::quantized::gguf_file::Content;
use candle_core::Device;
use llama::{Llama, MAX_SEQ_LEN};
use std::io::{Cursor, Read, Seek};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use thiserror::Error;

/// Why a model could not be loaded or could not generate.
#[derive(Debug, Clone, Error, PartialEq)]
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
    /// The accelerated decoder (the WebGPU engine) failed; [`Generator::step_async`] then
    /// continues on the CPU.
    #[error("{message}")]
    Accelerator {
        /// The engine's own error code (`gpu_lost`, `gpu_out_of_memory`, ...).
        code: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl GenerateError {
    /// A stable, machine-readable name for this error, the `code` JavaScript callers see.
    pub fn code(&self) -> &'static str {
        match self {
            GenerateError::NotGguf | GenerateError::Corrupt(_) | GenerateError::Unsupported(_) | GenerateError::Tokenizer(_) => "model_invalid",
            GenerateError::PromptTooLong { .. } => "prompt_too_long",
            GenerateError::Compute(_) => "compute",
            GenerateError::Accelerator { code, .. } => code,
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
#[non_exhaustive]
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
    /// The caller stopped it: the answer so far was of no use (see [`Generator::stop`]).
    Ungrounded,
}

/// A loaded generator model with its tokenizer. Generating needs only shared access: each
/// [`Generation`] owns its decoder, so several can run at once and none can disturb another.
pub struct Generator {
    /// The CPU decoder every generation clones (sharing the weights); never stepped itself.
    model: CpuDecoder,
    tokenizer: ByteLevelBpe,
    stop_tokens: Vec<u32>,
    context: usize,
    /// The attached accelerated decoder, lent to one generation at a time.
    accelerator: Arc<Mutex<Accelerator>>,
    /// The opening most prompts share, already read (see [`Generator::set_opening`]).
    opening: Option<Opening>,
}

/// A prompt opening many prompts share (a system message and the template around it), with a
/// CPU decoder that has read it. A generation whose prompt opens with these tokens starts from
/// a copy of that KV cache instead of reading them again.
struct Opening {
    tokens: Vec<u32>,
    decoder: CpuDecoder,
}

/// The generator's accelerated decoder (the WebGPU engine), while it is not lent out.
#[derive(Default)]
struct Accelerator {
    decoder: Option<Box<dyn Decoder>>,
    /// The attached decoder's backend, kept while it is lent; `None` once it failed.
    backend: Option<&'static str>,
    /// Why the accelerated decoder was dropped.
    error: Option<GenerateError>,
}

/// Locks a slot of the generator; a panic elsewhere while it was held leaves it usable.
fn lock<T>(slot: &Mutex<T>) -> MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The accelerated decoder while a generation uses it: handed back when the generation is
/// dropped, or dropped with the reason kept when it fails.
struct Lease {
    slot: Arc<Mutex<Accelerator>>,
    decoder: Option<Box<dyn Decoder>>,
    /// Tokens of the generation already fed to it.
    fed: usize,
}

impl Lease {
    /// Drops the failed decoder and records why, so the generator reports it.
    fn fail(&mut self, error: GenerateError) {
        self.decoder = None;
        let mut slot = lock(&self.slot);
        slot.backend = None;
        slot.error = Some(error);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(mut decoder) = self.decoder.take() {
            decoder.reset();
            lock(&self.slot).decoder = Some(decoder);
        }
    }
}

impl Generator {
    /// Loads a llama-family GGUF model from its bytes, validating the file first so a damaged
    /// or foreign file gives an error rather than a crash.
    pub fn from_gguf(bytes: &[u8]) -> Result<Generator, GenerateError> {
        let content = read_content(bytes)?;
        Generator::load(content, &mut Cursor::new(bytes), bytes.len())
    }

    /// Like [`Generator::from_gguf`], reading the `len`-byte file through `reader`: only its
    /// header and then one tensor at a time are held, so a page loads a model straight from
    /// JavaScript memory with one copy of the weights in wasm memory, not two.
    pub fn from_reader<R: Read + Seek>(reader: &mut R, len: u64) -> Result<Generator, GenerateError> {
        let len = usize::try_from(len).map_err(|_| GenerateError::Corrupt("file too large".into()))?;
        if !crate::gguf::is_gguf_through(reader, len).map_err(GenerateError::Corrupt)? {
            return Err(GenerateError::NotGguf);
        }
        let content = crate::gguf::read_through(reader, len).map_err(GenerateError::Corrupt)?;
        Generator::load(content, reader, len)
    }

    /// Validates a parsed header and reads the weights it describes through `reader`.
    fn load<R: Read + Seek>(content: Content, reader: &mut R, len: usize) -> Result<Generator, GenerateError> {
        validate(&content, len)?;
        let tokenizer = tokenizer::from_gguf(&content)?;
        let md = &content.metadata;
        let mut stop_tokens: Vec<u32> = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>"].iter().filter_map(|t| tokenizer.token_to_id(t)).collect();
        if let Some(eos) = md.get("tokenizer.ggml.eos_token_id").and_then(|v| v.to_u32().ok()) {
            stop_tokens.push(eos);
        }
        let trained = md.get("llama.context_length").and_then(|v| v.to_u32().ok()).unwrap_or(2048) as usize;
        let context = trained.min(MAX_SEQ_LEN);
        let model = Llama::from_gguf(&content, reader, &Device::Cpu).map_err(|e| GenerateError::Corrupt(e.to_string()))?;
        Ok(Generator { model: CpuDecoder::new(model), tokenizer, stop_tokens, context, accelerator: Arc::default(), opening: None })
    }

    /// A CPU decoder on this model's weights (shared) with an empty KV cache of its own.
    pub fn decoder(&self) -> CpuDecoder {
        let mut decoder = self.model.clone();
        decoder.reset();
        decoder
    }

    /// Reads the opening that most prompts will share (for a RAG prompt, the system message
    /// up to the evidence) and keeps its KV cache: a generation whose prompt opens with it
    /// starts from a copy and reads only the rest, so its first token comes sooner. Every
    /// decoder reads such a prompt in the same chunks (the opening, then the rest), so the CPU
    /// and the GPU still give the same answer.
    pub fn set_opening(&mut self, text: &str) -> Result<(), GenerateError> {
        let tokens = self.encode(text)?;
        self.opening = None;
        if !tokens.is_empty() {
            let mut decoder = self.model.clone();
            decoder.forward(&tokens)?;
            self.opening = Some(Opening { tokens, decoder });
        }
        Ok(())
    }

    /// How many tokens of `prompt` the kept opening covers: all of it when the prompt opens
    /// with it (and goes on), else 0.
    fn opening_len(&self, prompt: &[u32]) -> usize {
        self.opening.as_ref().filter(|o| prompt.len() > o.tokens.len() && prompt.starts_with(&o.tokens)).map_or(0, |o| o.tokens.len())
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
        Ok(self.tokenizer.encode(text))
    }

    /// Text of token ids, control tokens dropped.
    pub fn decode(&self, ids: &[u32]) -> Result<String, GenerateError> {
        Ok(self.tokenizer.decode(ids, true))
    }

    /// Starts generating after `prompt`; call [`Generator::step`] until it returns `None`.
    pub fn start(&self, prompt: &str, options: &GenerateOptions) -> Result<Generation, GenerateError> {
        self.start_with_sources(prompt, &[], options)
    }

    /// Like [`Generator::start`], with the source texts the answer should copy from: each step
    /// raises the tokens that continue the answer as a source does by
    /// [`GenerateOptions::copy_bias`]. The generation takes the accelerated decoder if one is
    /// attached and free.
    pub fn start_with_sources(&self, prompt: &str, sources: &[&str], options: &GenerateOptions) -> Result<Generation, GenerateError> {
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
        let opening = self.opening_len(&tokens);
        let decoder = lock(&self.accelerator).decoder.take();
        let lease = decoder.map(|decoder| Lease { slot: self.accelerator.clone(), decoder: Some(decoder), fed: 0 });
        // A copy of the kept opening costs what a fresh decoder costs (the tensors are shared),
        // so the CPU starts from it even when the accelerated decoder runs this generation and
        // the CPU only takes over on a failure.
        let (cpu, fed) = match &self.opening {
            Some(o) if opening > 0 => (o.decoder.clone(), opening),
            _ => (self.model.clone(), 0),
        };
        Ok(Generation { prompt_len: tokens.len(), tokens, opening, cpu, fed, lease, emitted: 0, stop: None, options: options.clone(), copy })
    }

    /// Generates a whole answer, calling `on_token` with each new piece of text.
    pub fn generate(&self, prompt: &str, options: &GenerateOptions, on_token: &mut dyn FnMut(&str)) -> Result<(String, StopReason), GenerateError> {
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
    /// This always runs on the CPU; [`Generator::step_async`] uses the accelerated decoder.
    pub fn step(&self, generation: &mut Generation) -> Result<Option<String>, GenerateError> {
        if let Some(done) = self.before_step(generation)? {
            return Ok(done);
        }
        let next = generation.cpu_next()?;
        self.accept(generation, next)
    }

    /// Like [`Generator::step`], but on the generation's accelerated decoder (the WebGPU
    /// engine, [`Generator::attach_decoder`]), which also picks the token (greedy or the seeded
    /// draw, as the CPU would). If it fails (device lost, out of memory) it is dropped, the
    /// reason kept in [`Generator::accelerator_error`], and the step finishes on the CPU.
    pub async fn step_async(&self, generation: &mut Generation) -> Result<Option<String>, GenerateError> {
        if let Some(done) = self.before_step(generation)? {
            return Ok(done);
        }
        let next = match generation.accelerated_next().await {
            Some(next) => next?,
            None => generation.cpu_next()?,
        };
        self.accept(generation, next)
    }

    /// Attaches an accelerated decoder (the WebGPU engine) for [`Generator::step_async`]; the
    /// CPU model stays loaded as the fallback.
    pub fn attach_decoder(&mut self, decoder: Box<dyn Decoder>) {
        let mut slot = lock(&self.accelerator);
        slot.backend = Some(decoder.backend());
        slot.decoder = Some(decoder);
        slot.error = None;
    }

    /// Where [`Generator::step_async`] decodes: the attached decoder's backend (`"webgpu"`)
    /// unless it failed, else `"cpu"`.
    pub fn backend(&self) -> &'static str {
        lock(&self.accelerator).backend.unwrap_or("cpu")
    }

    /// Why the accelerated decoder was dropped, if it failed during generation.
    pub fn accelerator_error(&self) -> Option<GenerateError> {
        lock(&self.accelerator).error.clone()
    }

    /// The checks before each step: already stopped, cancelled, at the token limit or the end
    /// of the context. `Some` is the step's result without computing a token.
    fn before_step(&self, g: &mut Generation) -> Result<Option<Option<String>>, GenerateError> {
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

    /// Records the sampled token: stops at end of turn or on a loop, else returns the new text.
    fn accept(&self, g: &mut Generation, next: u32) -> Result<Option<String>, GenerateError> {
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

    /// Ends `g` early for `reason`, giving back the accelerated decoder it holds; later steps
    /// return `None`. For a caller that has seen enough, such as an answer whose sentences all
    /// fail the grounding check.
    pub fn stop(&self, g: &mut Generation, reason: StopReason) {
        g.stop = Some(reason);
        g.lease = None;
    }

    fn finish(&self, g: &mut Generation, reason: StopReason) -> Result<Option<String>, GenerateError> {
        g.stop = Some(reason);
        g.lease = None;
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

/// The state of one generation: prompt and generated tokens, its decoders and stop reason.
/// It is stepped by the [`Generator`] that started it ([`Generator::step`]).
pub struct Generation {
    options: GenerateOptions,
    /// Prompt then generated tokens.
    tokens: Vec<u32>,
    prompt_len: usize,
    /// Prompt tokens that are the generator's kept opening (0 if none): the CPU decoder starts
    /// after them, and the accelerated one reads them as a chunk of their own first.
    opening: usize,
    /// This generation's CPU decoder, with its own KV cache.
    cpu: CpuDecoder,
    /// Tokens already given to the CPU decoder.
    fed: usize,
    /// The accelerated decoder, while this generation holds it and it works.
    lease: Option<Lease>,
    /// Bytes of answer text already returned.
    emitted: usize,
    stop: Option<StopReason>,
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

    /// The copy-bias boosts for the next token.
    fn boosts(&self) -> Vec<u32> {
        if self.options.copy_bias == 0.0 {
            Vec::new()
        } else {
            copy_boosts(&self.copy, self.generated_tokens())
        }
    }

    /// The next token on this generation's CPU decoder, fed what it has not seen yet.
    fn cpu_next(&mut self) -> Result<u32, GenerateError> {
        let boosts = self.boosts();
        let recent = &self.tokens[self.tokens.len().saturating_sub(self.options.repeat_last_n)..];
        let adjust = Adjust { recent, penalty: self.options.repeat_penalty, boosts: &boosts, bias: self.options.copy_bias };
        let draw = self.draw();
        let next = self.cpu.next(&self.tokens[self.fed..], &adjust, draw)?;
        self.fed = self.tokens.len();
        Ok(next)
    }

    /// The next token on the accelerated decoder, or `None` when this generation has none
    /// (any more). An engine failure drops it, and the CPU takes over.
    async fn accelerated_next(&mut self) -> Option<Result<u32, GenerateError>> {
        let boosts = self.boosts();
        let draw = self.draw();
        let lease = self.lease.as_mut()?;
        let decoder = lease.decoder.as_mut()?;
        let recent = &self.tokens[self.tokens.len().saturating_sub(self.options.repeat_last_n)..];
        let adjust = Adjust { recent, penalty: self.options.repeat_penalty, boosts: &boosts, bias: self.options.copy_bias };
        // The opening first, as a chunk of its own, as every decoder reads it.
        let mut result = Ok(0);
        if lease.fed < self.opening {
            result = decoder.step(&self.tokens[lease.fed..self.opening], adjust, draw).await;
            if result.is_ok() {
                lease.fed = self.opening;
            }
        }
        if result.is_ok() {
            result = decoder.step(&self.tokens[lease.fed..], adjust, draw).await;
        }
        match result {
            Ok(next) => {
                lease.fed = self.tokens.len();
                Some(Ok(next))
            }
            Err(e @ GenerateError::Accelerator { .. }) => {
                lease.fail(e);
                self.lease = None;
                None
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// Where [`Generator::step_async`] decodes this generation: the lent accelerated decoder's
    /// backend while it holds a working one, else `"cpu"`.
    pub fn backend(&self) -> &'static str {
        self.lease.as_ref().and_then(|l| l.decoder.as_ref()).map_or("cpu", |d| d.backend())
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
    if !crate::gguf::is_gguf(bytes) {
        return Err(GenerateError::NotGguf);
    }
    crate::gguf::read(bytes).map_err(GenerateError::Corrupt)
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
    crate::gguf::check_bounds(content, file_len).map_err(GenerateError::Corrupt)?;
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
