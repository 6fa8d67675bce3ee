/**
 * The stable name of an error, in `WasmragError.code`:
 * - `index_corrupt`: the index file is damaged, truncated or not an index; `index_version`: it
 *   was written by an incompatible version (rebuild it); `index_changed`: a sharded index was
 *   rebuilt while it was read and reading its entry again did not help (reload the page);
 *   `nothing_indexed`: no document gave text.
 * - `model_invalid`: a model file is not a usable embedder or GGUF; `model_mismatch`: the index
 *   was built with another embedder; `no_generator`: none is loaded; `prompt_too_long`.
 * - `network`: a download failed (offline, HTTP error); `integrity`: a file's SHA-256 differs.
 * - `empty_query`; `invalid_option`: a misspelt option or a value of the wrong kind;
 *   `document_too_large`, `document_invalid`: a document given in the page; `callback`: a
 *   callback threw.
 * - `busy`, `invalid_state`: a call at the wrong moment (low-level bindings).
 * - `compute`, `out_of_memory`, `gpu_unavailable`, `gpu_unsupported`, `gpu_lost`, `gpu_error`:
 *   running a model failed (GPU failures during an answer fall back to the CPU instead).
 * - `runtime_crashed`: the WebAssembly instance trapped; calls in flight reject with this and
 *   the runtime restarts with what it had loaded. `terminated`: after `terminate()`.
 * - `aborted`: a `searchExtract` whose `signal` fired before it ran.
 * - `internal`: a bug in wasmrag.
 */
export type ErrorCode =
  | "index_corrupt"
  | "index_version"
  | "index_changed"
  | "nothing_indexed"
  | "model_invalid"
  | "model_mismatch"
  | "no_generator"
  | "prompt_too_long"
  | "network"
  | "integrity"
  | "empty_query"
  | "invalid_option"
  | "document_too_large"
  | "document_invalid"
  | "callback"
  | "busy"
  | "invalid_state"
  | "compute"
  | "out_of_memory"
  | "gpu_unavailable"
  | "gpu_unsupported"
  | "gpu_lost"
  | "gpu_error"
  | "runtime_crashed"
  | "terminated"
  | "aborted"
  | "internal";

/** Every error wasmrag's API rejects with. */
export declare class WasmragError extends Error {
  constructor(code: ErrorCode, message: string);
  readonly name: "WasmragError";
  /** What went wrong, as a stable name to branch on; `message` explains it to a person. */
  code: ErrorCode;
}

/** Every `ErrorCode`, for checks at run time. */
export declare const ERROR_CODES: readonly ErrorCode[];

/** A file to load: a URL, bytes, or a URL with the SHA-256 (hex) and size it must have. */
export type Asset = string | URL | Uint8Array | ArrayBuffer | { url: string | URL; sha256?: string; bytes?: number };

/** The three files of a BERT-family sentence embedder. */
export interface EmbedderAssets {
  weights: Asset;
  config: Asset;
  tokenizer: Asset;
}

/** A document to index in the page; `format` defaults to the URL's extension, else text. */
export interface DocumentInput {
  url: string;
  text: string;
  format?: "markdown" | "html" | "text";
}

/** A download (or cache) progress event. */
export interface ProgressEvent {
  /** Which asset: "index", "embedder weights", "generator", ... or "indexing". */
  file: string;
  url?: string;
  loaded: number;
  total: number;
  /** True when the bytes came from the Cache API. */
  fromCache?: boolean;
  /** Progress over every file of the current load. */
  overall?: { loaded: number; total: number };
}

export interface CreateRagOptions {
  /** URL (or bytes) of an index built with `wasmrag index`. */
  index?: Asset;
  /**
   * URL of a sharded index's entry file (`wasmrag index --site DIR --shards on` writes
   * `wasmrag/index/entry.bin`), instead of `index`: each search fetches only the files it needs
   * beside it. Searched only: `ask`, document changes and `exportIndex` reject with
   * `invalid_state`, and `searchExtract` gives `extract: null`.
   */
  shards?: string | URL | { url: string | URL; sha256?: string; bytes?: number };
  /** Documents to index in the page instead of loading an index. */
  documents?: DocumentInput[];
  /** Embedder files; default: all-MiniLM-L6-v2 shipped in this package. */
  embedder?: EmbedderAssets;
  /** Generator GGUF; default: SmolLM2-135M-Instruct (Q8_0) shipped in this package. Fetched on first `ask`. */
  generator?: Asset;
  onProgress?: (event: ProgressEvent) => void;
  /** Cache API cache for models and the index (default "wasmrag-v1"). */
  cacheName?: string;
  /**
   * The worker to use instead of the package's own (e.g. one built by your bundler): a function
   * returning a new Worker, so the runtime can restart after a crash. A Worker itself also
   * works, but then a crash leaves the instance unusable (`runtime_crashed`).
   */
  worker?: (() => Worker) | Worker;
  /**
   * Where the generator runs, and where `documents` are embedded when indexing in the page:
   * "auto" (default: WebGPU on a real GPU, else the CPU), "webgpu" (any WebGPU adapter,
   * software ones included) or "cpu". Any WebGPU failure falls back to the CPU. Query
   * embedding and search always run on the CPU (WebAssembly SIMD).
   */
  backend?: "auto" | "webgpu" | "cpu";
  /**
   * "now" (default): `createRag` resolves once the embedder is loaded too. "later": it resolves
   * as soon as the index is loaded, searches rank by keywords (BM25) with no model byte
   * downloaded, and `rag.loadEmbedder()` (or the first `ask` or document change) loads the
   * embedder, after which searches are hybrid. Needs `index` or `shards`, not `documents`.
   */
  loadEmbedder?: "now" | "later";
}

/** Where the generator ended up running. */
export interface GeneratorBackend {
  backend: "webgpu" | "cpu";
  /** The WebGPU adapter's name, when on WebGPU. */
  adapter: string | null;
  /** GPU kernel launches per generated token, when on WebGPU. */
  dispatches: number | null;
  /** Why WebGPU was not used, when it was asked for or allowed but could not run. */
  fallbackReason: string | null;
}

/** Excerpt of a passage with the ranges of matched query words. */
export interface Snippet {
  text: string;
  /** `[start, end)` ranges of matched words, in UTF-16 code units (string indices). */
  highlights: [number, number][];
}

export interface SearchHit {
  /** `page#anchor`. */
  url: string;
  title: string;
  headings: string[];
  text: string;
  snippet: Snippet;
  /** Fused retrieval score. */
  score: number;
  /** Cosine between query and passage (0 for keyword results). */
  cosine: number;
  chunk: number;
  /** "keyword" before the embedder is loaded (BM25 alone), then "hybrid". */
  retrieval: "keyword" | "hybrid";
}

export interface Source {
  /** The number the answer cites as `[n]`. */
  n: number;
  url: string;
  title: string;
  headings: string[];
  score: number;
  text: string;
  cited: boolean;
}

/** Options of `ask`; a value outside its range rejects with `invalid_option`. */
export interface AskOptions {
  /** Most passages the evidence is drawn from (default 3; 1 to 32). */
  sources?: number;
  /** Most evidence sentences given to the model (default 1: the extract's sentence, which a small model answers from best; 1 to 32). */
  evidence?: number;
  /** Best-passage cosine under which the answer is "not found" (default 0.30; -1 to 1). */
  minCosine?: number;
  /** Extract score under which the answer is "not found" (calibrated on cmu-qa-dev). */
  minExtract?: number;
  /** Whether a question naming something no passage mentions (a capitalised word after its first: "How do I install Zorblang?") is "not found" (default true). */
  declineUnknownNames?: boolean;
  /** Least share of an answer sentence's words that must occur in the sources or the question for it to be shown (default 0.7; 0 to 1). */
  minSupport?: number;
  /** Raises the tokens that continue the answer as a source does, so the model copies facts (0 turns it off; -100 to 100). */
  copyBias?: number;
  /** Most tokens to generate (default 256; 1 to 4096). */
  maxTokens?: number;
  /** 0 (default) for greedy decoding; 0.01 to 10 samples. */
  temperature?: number;
  /** Nucleus sampling: draw only from the most likely tokens holding this much probability (above 0, at most 1). */
  topP?: number;
  /** Fixes the sampled answer: the same seed gives the same answer, on the CPU or WebGPU. */
  seed?: number;
  /** Divides the logits of recent tokens (default 1.1; 0.01 to 100). */
  repeatPenalty?: number;
  /** Cancels generation; the answer so far is still returned. */
  signal?: AbortSignal;
}

export interface AnswerStats {
  retrievalMs: number;
  timeToFirstTokenMs: number | null;
  tokensPerSecond: number | null;
  cancelled: boolean;
  /** Where this answer was generated. */
  backend: "webgpu" | "cpu";
  /** The WebGPU adapter's name, when generated on WebGPU. */
  adapter: string | null;
  /** Why WebGPU was not used when the generator loaded, if it was allowed but could not run. */
  fallbackReason: string | null;
  /** Why WebGPU was dropped during generation, if it was (the answer finished on the CPU). */
  gpuError: string | null;
  /** What the grounding check did: sentences with facts not in the sources are dropped. */
  grounding: Grounding;
}

/** The grounding check of a generated answer. */
export interface Grounding {
  /** Numbers, dates, quoted phrases, names and identifiers checked against the sources. */
  checked: number;
  /** Sentences dropped (an unsupported fact, a refusal, or a cut-off fragment). */
  dropped: number;
  /** The facts not found in the sources, as the model wrote them. */
  unsupported: string[];
  /** Sentences dropped because too few of their words occur in the sources or the question. */
  offSource: number;
  /** Citation markers removed because they named no source. */
  markersRemoved: number;
  /** Whether nothing grounded was left, so the answer is the extractive one. */
  fellBack: boolean;
}

/** The sentence of the sources that best answers the question, found without the generator. */
export interface Extract {
  text: string;
  /** The number `n` of its source. */
  source: number;
  /** `url#anchor` of its passage. */
  url: string;
  /** Its page title and heading path ("Title: Heading"), shown beside the quote: a "he" or "it" opening the sentence usually means the page's subject. */
  context: string;
  /** `[start, end)` of the sentence in its source's `text`, in UTF-16 code units. */
  start: number;
  end: number;
  score: number;
}

/** A sentence of the answer linked to the source passage it most resembles (attributed after generation). */
export interface Citation {
  /** `[start, end)` of the sentence in `answer`, in UTF-16 code units (string indices). */
  start: number;
  end: number;
  /** The source's number `n`. */
  source: number;
  /** Cosine between the sentence and the source passage. */
  cosine: number;
}

export interface Answer {
  answer: string;
  /** False when retrieval was too weak and no answer was generated. */
  found: boolean;
  sources: Source[];
  citations: Citation[];
  /** Shown first; the answer falls back to it when generation is not grounded. */
  extract: Extract | null;
  promptTokens: number;
  generatedTokens: number;
  stats: AnswerStats;
}

export type AskEvent =
  | { sources: Source[]; found: boolean; extract: Extract | null; retrievalMs: number }
  | { token: string }
  | ({ done: true } & Answer);

export declare class Rag {
  /** Set once ready. */
  info: {
    passages: number;
    /** Where searches run: always "wasm-simd" (query embedding is fastest on the CPU). */
    backend: string;
    /** With `documents`: where their passages were embedded ("webgpu" or "cpu"). */
    indexedOn: "webgpu" | "cpu" | null;
    /** How searches rank now: "keyword" until the embedder is loaded (`loadEmbedder: "later"`), then "hybrid". */
    retrieval: "keyword" | "hybrid";
    /** Present and true when the index is sharded (`shards`). */
    sharded?: boolean;
    loadMs: number;
  } | null;
  /** How many times the runtime crashed (a WebAssembly trap) and was restarted with the same index, documents and generator. */
  restarts: number;
  search(query: string, options?: { k?: number }): Promise<SearchHit[]>;
  /** Loads the embedder if it is not loaded yet; searches are hybrid once it resolves. */
  loadEmbedder(): Promise<{ retrieval: "hybrid" }>;
  /**
   * `search` with the sentence that best answers the query; `extract.source` is its 1-based hit (added last if it ranked below `k`), `start`/`end` index that hit's `text`.
   * It embeds sentences, so it takes longer than `search`: show `search`'s hits first, then this. Aborting `signal` (say, when the visitor types on) drops the call if it has not started, with `aborted`.
   */
  searchExtract(query: string, options?: { k?: number; signal?: AbortSignal }): Promise<{ hits: SearchHit[]; extract: Extract | null }>;
  ask(question: string, options?: AskOptions): AsyncGenerator<AskEvent>;
  loadGenerator(): Promise<GeneratorBackend>;
  addDocuments(documents: DocumentInput[]): Promise<string[]>;
  removeDocuments(urls: string[]): Promise<void>;
  exportIndex(): Promise<Uint8Array>;
  /** The worker's WebAssembly memory in bytes (it only grows, so also the peak so far). */
  memory(): Promise<{ wasmBytes: number }>;
  /** Stops the worker; calls in flight and later calls reject with `terminated`. */
  terminate(): void;
}

/** Starts wasmrag in a Web Worker and loads the index and embedder; rejects with a `WasmragError`. */
export declare function createRag(options: CreateRagOptions): Promise<Rag>;
