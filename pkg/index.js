// wasmrag for web pages: `createRag` starts a Web Worker that loads the index and models
// (with progress, SHA-256 checks and the Cache API) and answers search and ask requests.
import { defaultModels } from "./models.js";

const absolute = (spec) => {
  if (typeof spec === "string" || spec instanceof URL) return { url: new URL(spec, globalThis.location?.href).href };
  if (spec && typeof spec === "object" && "url" in spec && !(spec instanceof Uint8Array)) {
    return { ...spec, url: new URL(spec.url, globalThis.location?.href).href };
  }
  return spec;
};

/** A running wasmrag instance; see `createRag`. */
export class Rag {
  #worker;
  #next = 1;
  #calls = new Map();
  #onProgress;
  /** `{passages, backend, indexedOn, loadMs}` once ready. */
  info = null;

  constructor(worker, onProgress) {
    this.#worker = worker;
    this.#onProgress = onProgress;
    worker.onmessage = ({ data }) => this.#receive(data);
    worker.onerror = (event) => {
      event.preventDefault?.();
      const error = new Error(`wasmrag worker failed: ${event.message ?? "its script could not be loaded"}`);
      for (const call of this.#calls.values()) call.reject(error);
      this.#calls.clear();
    };
  }

  #receive(data) {
    const call = this.#calls.get(data.id);
    if (data.type === "progress") {
      this.#onProgress?.(data);
      return;
    }
    if (!call) return;
    if (data.type === "result") {
      this.#calls.delete(data.id);
      call.resolve(data.value);
    } else if (data.type === "error") {
      this.#calls.delete(data.id);
      call.reject(new Error(data.message));
    } else {
      call.onEvent?.(data);
    }
  }

  #call(type, payload = {}, onEvent) {
    const id = this.#next++;
    const promise = new Promise((resolve, reject) => this.#calls.set(id, { resolve, reject, onEvent }));
    this.#worker.postMessage({ ...payload, id, type });
    return { id, promise };
  }

  /** @internal */
  async _init(options) {
    this.info = await this.#call("init", options).promise;
    return this;
  }

  /** The `k` passages that best match `query`, best first. */
  async search(query, { k = 5 } = {}) {
    const { hits } = await this.#call("search", { query, k }).promise;
    return hits;
  }

  /**
   * Like `search`, with `extract`: the sentence of the top passages that best answers
   * `query` (or null), with the hit it comes from. Embeds a few dozen sentences more than
   * `search`, so it takes a little longer.
   */
  async searchExtract(query, { k = 5 } = {}) {
    const { hits, extract } = await this.#call("searchExtract", { query, k }).promise;
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
      (answer) => push({ done: true, ...answer }),
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
  loadGenerator() {
    return this.#call("loadGenerator").promise;
  }

  /** Adds `[{url, text, format?}]` to the index; resolves to the reasons any were skipped. */
  addDocuments(documents) {
    return this.#call("addDocuments", { documents }).promise;
  }

  /** Removes every passage of the given page URLs. */
  removeDocuments(urls) {
    return this.#call("removeDocuments", { urls }).promise;
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

  /** Stops the worker; the instance cannot be used afterwards. */
  terminate() {
    this.#worker.terminate();
  }
}

/**
 * Starts wasmrag in a Web Worker.
 * `index` is the URL (or bytes) of an index built with `wasmrag index`; or pass `documents`
 * (`[{url, text, format?}]`) to index in the page. `embedder` and `generator` default to the
 * models shipped in this package; `onProgress` receives download events. `backend` picks where
 * the generator runs: "auto" (WebGPU on a real GPU, else the CPU), "webgpu" (any WebGPU
 * adapter, software ones included) or "cpu"; WebGPU failures fall back to the CPU.
 */
export async function createRag(options = {}) {
  const { index, documents, onProgress, embedder, generator, backend = "auto", cacheName = "wasmrag-v1", worker } = options;
  if (!["auto", "webgpu", "cpu"].includes(backend)) throw new Error(`backend must be "auto", "webgpu" or "cpu", not ${JSON.stringify(backend)}`);
  if (!index && !documents) throw new Error("createRag needs an `index` URL or `documents`");
  const w = worker ?? new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  const e = embedder ?? defaultModels.embedder;
  const rag = new Rag(w, onProgress);
  return rag._init({
    index: index && absolute(index),
    documents,
    embedder: { weights: absolute(e.weights), config: absolute(e.config), tokenizer: absolute(e.tokenizer) },
    generator: absolute(generator ?? defaultModels.generator),
    backend,
    cacheName,
  });
}
