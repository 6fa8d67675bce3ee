// wasmrag for web pages: `createRag` starts a Web Worker that loads the index and models
// (with progress, SHA-256 checks and the Cache API) and answers search and ask requests.
import { defaultModels } from "./models.js";
import { WasmragError, ERROR_CODES, checkOptions } from "./errors.js";

export { WasmragError, ERROR_CODES };

const SEARCH_OPTIONS = ["k"];
const EXTRACT_OPTIONS = ["k", "signal"];
const CREATE_OPTIONS = ["index", "shards", "documents", "onProgress", "embedder", "generator", "backend", "cacheName", "worker", "loadEmbedder"];

const absolute = (spec) => {
  if (typeof spec === "string" || spec instanceof URL) return { url: new URL(spec, globalThis.location?.href).href };
  if (spec && typeof spec === "object" && "url" in spec && !(spec instanceof Uint8Array)) {
    return { ...spec, url: new URL(spec.url, globalThis.location?.href).href };
  }
  return spec;
};

/** A spawner for a worker the caller made: it can start the runtime once, so not restart it. */
const singleUse = (worker) => {
  let used = false;
  return () => {
    if (used) throw new WasmragError("runtime_crashed", "pass `worker` as a function returning a new Worker so wasmrag can restart after a crash");
    used = true;
    return worker;
  };
};

/** A running wasmrag instance; see `createRag`. */
export class Rag {
  #spawn;
  #worker;
  #next = 1;
  #calls = new Map();
  #onProgress;
  #initOptions = null;
  /** The index changes made since init, replayed into a fresh worker after a crash. */
  #changes = [];
  #generatorLoaded = false;
  /** The last `searchExtract` sent or waiting to be: the next waits for it. */
  #extracts = Promise.resolve();
  #embedderLoaded = false;
  /** While a fresh worker is being started after a crash: settles when it is ready. */
  #restarting = null;
  /** Set when the instance cannot be used: a `WasmragError` every call rejects with. */
  #dead = null;
  /** `{passages, backend, indexedOn, loadMs}` once ready. */
  info = null;
  /** How many times the runtime crashed and was restarted with what it had loaded. */
  restarts = 0;

  constructor(spawn, onProgress) {
    this.#spawn = spawn;
    this.#onProgress = onProgress;
    this.#attach(spawn());
  }

  #attach(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => this.#receive(data);
    worker.onerror = (event) => {
      event.preventDefault?.();
      this.#crashed(`the worker failed: ${event.message ?? "its script could not be loaded"}`);
    };
  }

  #receive(data) {
    if (data.type === "crashed") return this.#crashed(data.message);
    if (data.type === "progress") return this.#onProgress?.(data);
    const call = this.#calls.get(data.id);
    if (!call) return;
    if (data.type === "result") {
      this.#calls.delete(data.id);
      call.resolve(data.value);
    } else if (data.type === "error") {
      this.#calls.delete(data.id);
      call.reject(new WasmragError(data.code ?? "internal", data.message));
    } else {
      call.onEvent?.(data);
    }
  }

  /** Rejects the calls in flight with `code`; the worker is gone. */
  #rejectAll(code, message) {
    const error = new WasmragError(code, message);
    for (const call of this.#calls.values()) call.reject(error);
    this.#calls.clear();
  }

  /**
   * After a trap (or a worker that died): rejects the calls in flight with `runtime_crashed`
   * and starts a fresh worker with the same index, the documents added or removed since, and
   * the generator if it was loaded (models come from the Cache API, so nothing is downloaded
   * again). Calls made meanwhile wait for it.
   */
  #crashed(reason) {
    if (this.#dead) return;
    this.#worker.terminate();
    this.#rejectAll("runtime_crashed", `the wasmrag runtime crashed (${reason}); it is being restarted`);
    // A crash while restarting rejected the restart's own calls too, so it fails and the
    // instance is marked unusable rather than restarting for ever.
    if (this.#restarting) return;
    if (!this.info) {
      this.#dead = new WasmragError("runtime_crashed", `the wasmrag runtime crashed while starting (${reason})`);
      return;
    }
    this.#restarting = this.#restart()
      .then(() => this.restarts++)
      .catch((err) => {
        this.#dead = new WasmragError("runtime_crashed", `the wasmrag runtime crashed and could not be restarted: ${err.message}`);
      })
      .finally(() => (this.#restarting = null));
  }

  async #restart() {
    this.#attach(this.#spawn());
    const send = (type, payload) => this.#send(this.#next++, type, payload, undefined);
    await send("init", this.#initOptions);
    if (this.#embedderLoaded) await send("loadEmbedder");
    for (const { type, payload } of this.#changes) await send(type, payload);
    if (this.#generatorLoaded) await send("loadGenerator");
  }

  #send(id, type, payload, onEvent) {
    const promise = new Promise((resolve, reject) => this.#calls.set(id, { resolve, reject, onEvent }));
    this.#worker.postMessage({ ...payload, id, type });
    return promise;
  }

  #call(type, payload = {}, onEvent) {
    const id = this.#next++;
    if (this.#dead) return { id, promise: Promise.reject(this.#dead) };
    const promise = this.#restarting
      ? this.#restarting.then(() => (this.#dead ? Promise.reject(this.#dead) : this.#send(id, type, payload, onEvent)))
      : this.#send(id, type, payload, onEvent);
    return { id, promise };
  }

  /** Records a successful index change so a restart can replay it. */
  async #change(type, payload) {
    const value = await this.#call(type, payload).promise;
    this.#changes.push({ type, payload });
    this.#hybrid();
    return value;
  }

  /** Notes that the embedder is loaded (the calls that need it load it first). */
  #hybrid() {
    this.#embedderLoaded = true;
    if (this.info) this.info.retrieval = "hybrid";
  }

  /** @internal */
  async _init(options) {
    this.#initOptions = options;
    this.info = await this.#call("init", options).promise;
    return this;
  }

  /** @internal Traps the WebAssembly instance on purpose, to test recovery. */
  _trapForTests() {
    return this.#call("trapForTests").promise;
  }

  /**
   * Downloads the embedder (if not loaded yet) so searches turn from keyword to hybrid; with
   * `loadEmbedder: "later"` call it when the visitor shows intent (e.g. opens the search box).
   * Resolves to `{retrieval: "hybrid"}`.
   */
  async loadEmbedder() {
    const value = await this.#call("loadEmbedder").promise;
    this.#hybrid();
    return value;
  }

  /** The `k` passages that best match `query`, best first; each hit's `retrieval` says whether by keywords or hybrid. */
  async search(query, options = {}) {
    checkOptions(options, SEARCH_OPTIONS, "search options");
    const { k = 5 } = options;
    const { hits } = await this.#call("search", { query, k }).promise;
    return hits;
  }

  /**
   * Like `search`, with `extract`: the sentence of the top passages that best answers
   * `query` (or null), with the hit it comes from. It embeds a dozen sentences more than
   * `search` (half a second in a browser), so show `search`'s hits first, then this. Aborting
   * `signal` (the visitor typed on) drops the call with `aborted` if it has not started yet.
   */
  async searchExtract(query, options = {}) {
    checkOptions(options, EXTRACT_OPTIONS, "search options");
    const { k = 5, signal } = options;
    // One at a time (the worker runs them one by one anyway), so a call aborted while it
    // waits for its turn is never sent.
    const turn = this.#extracts.then(() => {
      if (signal?.aborted) throw new WasmragError("aborted", "the search was aborted before it started");
      return this.#call("searchExtract", { query, k }).promise;
    });
    this.#extracts = turn.catch(() => {});
    const { hits, extract } = await turn;
    return { hits, extract };
  }

  /**
   * Answers `question` from the documents. Yields `{token}` as the answer streams, then
   * `{done: true, answer, found, sources, stats}`. Downloads the generator on first use.
   * Pass `signal` (an AbortSignal) to cancel; the answer so far is still returned.
   */
  async *ask(question, { signal, ...options } = {}) {
    const queue = [];
    let wake = null;
    const push = (event) => {
      queue.push(event);
      wake?.();
    };
    const { id, promise } = this.#call("ask", { question, options }, (event) => {
      if (event.type === "token") push({ token: event.token });
      if (event.type === "sources") push({ sources: event.sources, found: event.found, extract: event.extract, retrievalMs: event.retrievalMs });
    });
    const onAbort = () => this.#worker.postMessage({ type: "cancel", target: id });
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    let finished = false;
    promise.then(
      (answer) => {
        this.#generatorLoaded = true;
        this.#hybrid();
        push({ done: true, ...answer });
      },
      (error) => push({ error }),
    );
    try {
      while (!finished) {
        if (!queue.length) await new Promise((resolve) => (wake = resolve));
        wake = null;
        const event = queue.shift();
        if (event.error) throw event.error;
        finished = Boolean(event.done);
        yield event;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (!finished) onAbort();
    }
  }

  /**
   * Downloads and loads the generator now instead of on the first `ask`; resolves to
   * `{backend: "webgpu" | "cpu", adapter, dispatches, fallbackReason}` (`dispatches`: GPU kernel launches per token).
   */
  async loadGenerator() {
    const backend = await this.#call("loadGenerator").promise;
    this.#generatorLoaded = true;
    return backend;
  }

  /** Adds `[{url, text, format?}]` to the index; resolves to the reasons any were skipped. */
  addDocuments(documents) {
    return this.#change("addDocuments", { documents });
  }

  /** Removes every passage of the given page URLs. */
  removeDocuments(urls) {
    return this.#change("removeDocuments", { urls });
  }

  /** The current index as file bytes (a Uint8Array). */
  exportIndex() {
    return this.#call("exportIndex").promise;
  }

  /**
   * The worker's WebAssembly memory in bytes, `{wasmBytes}`. It only grows, so this is also
   * the peak so far: index, embedder, and generator once loaded.
   */
  memory() {
    return this.#call("memory").promise;
  }

  /** Stops the worker; calls in flight and any made later reject with `terminated`. */
  terminate() {
    this.#worker.terminate();
    this.#dead = new WasmragError("terminated", "this wasmrag instance was terminated");
    this.#rejectAll("terminated", "this wasmrag instance was terminated");
  }
}

/**
 * Starts wasmrag in a Web Worker.
 * `index` is the URL (or bytes) of an index built with `wasmrag index`; or pass `documents`
 * (`[{url, text, format?}]`) to index in the page. `embedder` and `generator` default to the
 * models shipped in this package; `onProgress` receives download events. `backend` picks where
 * the generator runs: "auto" (WebGPU on a real GPU, else the CPU), "webgpu" (any WebGPU
 * adapter, software ones included) or "cpu"; WebGPU failures fall back to the CPU. `worker`
 * replaces the package's worker (e.g. one your bundler built): a function returning a new
 * Worker, so the runtime can be restarted after a crash. Every error is a `WasmragError`
 * with a stable `code`; a misspelt option is `invalid_option`. `loadEmbedder: "later"` resolves as
 * soon as the index is loaded, with keyword search only (no model downloaded) until
 * `rag.loadEmbedder()` or the first call that needs the embedder. `shards` instead of `index`
 * is the URL of a sharded index's entry file (`wasmrag index --site DIR --shards on` writes
 * `wasmrag/index/entry.bin`): each search then fetches only the files it needs beside it.
 * A sharded index is searched only: `ask`, `addDocuments`, `removeDocuments` and
 * `exportIndex` reject with `invalid_state`, and `searchExtract` gives no extract.
 */
export async function createRag(options = {}) {
  checkOptions(options, CREATE_OPTIONS, "createRag options");
  const { index, shards, documents, onProgress, embedder, generator, backend = "auto", cacheName = "wasmrag-v1", worker, loadEmbedder = "now" } = options;
  if (!["now", "later"].includes(loadEmbedder)) throw new WasmragError("invalid_option", `loadEmbedder must be "now" or "later", not ${JSON.stringify(loadEmbedder)}`);
  if (loadEmbedder === "later" && documents) throw new WasmragError("invalid_option", '`loadEmbedder: "later"` needs an `index`: documents are embedded as they are indexed');
  if (!["auto", "webgpu", "cpu"].includes(backend)) throw new WasmragError("invalid_option", `backend must be "auto", "webgpu" or "cpu", not ${JSON.stringify(backend)}`);
  if ([index, shards, documents].filter(Boolean).length !== 1) throw new WasmragError("invalid_option", "createRag needs one of an `index` URL, a `shards` entry URL or `documents`");
  if (shards && !(typeof shards === "string" || shards instanceof URL || (typeof shards === "object" && "url" in shards))) {
    throw new WasmragError("invalid_option", "`shards` must be the URL of the entry file: the other files are fetched beside it");
  }
  const spawn = typeof worker === "function" ? worker : worker ? singleUse(worker) : () => new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  const e = embedder ?? defaultModels.embedder;
  const rag = new Rag(spawn, onProgress);
  const starting = rag._init({
    index: index && absolute(index),
    shards: shards && absolute(shards),
    documents,
    embedder: { weights: absolute(e.weights), config: absolute(e.config), tokenizer: absolute(e.tokenizer) },
    generator: absolute(generator ?? defaultModels.generator),
    backend,
    cacheName,
    loadEmbedder,
  });
  // A failed start leaves no worker behind.
  return starting.catch((err) => {
    rag.terminate();
    throw err;
  });
}
