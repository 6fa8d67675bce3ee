// The Web Worker that runs wasmrag, so search and generation never block the page.
// Protocol: the page posts {id, type, ...}; the worker answers with {id, type: "result"},
// {id, type: "error", code, message}, and for `ask` a stream of {type: "token"} before
// "result"; {type: "progress"} events report downloads. After a WebAssembly trap it posts
// {type: "crashed"} and answers every later call with `runtime_crashed`: the page then
// starts a fresh worker.
//
// Calls run in one queue, in the order they arrive. Searches are the exception: they wait only
// for the calls before them that change the index (init, addDocuments, removeDocuments), so a
// search can run while an answer streams. That is safe because each call into wasm is
// synchronous (a sharded search awaits only its downloads, between calls), and an answer holds
// no borrow of the index between its tokens (its sources and their vectors are copies).
//
// With `loadEmbedder: "later"`, init loads only the index and searches rank by keywords until
// `loadEmbedder` (or the first call that needs the embedder) has loaded it; searches made while
// it downloads do not wait for it. Until then the worker runs the keyword runtime
// (wasm/wasmrag_keyword.js, a small .wasm with the index classes only); loading the embedder
// fetches the main runtime (wasm/wasmrag.js), which opens the index again beside the models.
//
// With `shards` (a sharded index's entry file), init reads only the entry; each search then
// fetches the files it needs beside it, in parallel, round by round (WasmShardedIndex.search),
// and keeps them for later searches. Such an index is searched only. The files' URLs carry the
// entry's build number, so no cache pairs files of two builds; a file of a newer build (the site
// was redeployed meanwhile) makes the worker read the entry again and search once more.
import initKeywordRuntime, * as keywordRuntime from "./wasm/wasmrag_keyword.js";
import { fetchAsset } from "./assets.js";
import { WasmragError } from "./errors.js";

let rag = null;
/** The index for keyword search until the embedder is loaded (with `loadEmbedder: "later"`). */
let keywords = null;
/** The sharded index, with `shards`; its files load as searches need them. */
let sharded = null;
/**
 * What embeds the sharded index's queries once the embedder is loaded: the sharded index itself
 * when the main runtime opened it, else a second instance of it there, beside the keyword
 * runtime's (which keeps searching, with the files it has loaded).
 */
let shardEmbedder = null;
/** Downloads of shard files under way, by path, so two searches fetch a file once. */
const shardLoads = new Map();
/** The entry being read again after `index_changed`, so overlapping searches read it once. */
let reopening = null;
/** The index file (one-file index) or entry (sharded) as fetched, while the keyword runtime holds it. */
let indexFile = null;
let config = null;
/** The main runtime's module once loaded (its classes load models), and the keyword runtime's. */
let mainModule = null;
let keywordModule = null;
/** Each loaded runtime's exports, for their memory. */
const wasmExports = [];
/** `{backend, adapter, dispatches, fallbackReason}` once the generator is loaded. */
let generatorBackend = null;
/** Set after a trap: the instance's memory may be inconsistent, so nothing runs any more. */
let crashed = null;
const cancelled = new Set();
/** The end of the queue: every call but a search waits for all calls before it. */
let tail = Promise.resolve();
/** The last queued call that changes what searches see. */
let lastWrite = Promise.resolve();

const post = (message, transfer) => self.postMessage(message, transfer ?? []);

/** Yields to the event loop (a macrotask) so cancel messages can arrive between tokens. */
const yieldToEvents = () =>
  new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = resolve;
    channel.port2.postMessage(null);
  });

/**
 * Downloads several assets, reporting progress per file and overall. Each entry is
 * `[name, spec, strategy, accept?]`; `accept` reads a file before it is cached (fetchAsset).
 */
async function fetchAll(id, entries) {
  const state = entries.map(([, spec]) => ({ loaded: 0, total: spec?.bytes ?? 0 }));
  return Promise.all(
    entries.map(([name, spec, strategy, accept], i) =>
      fetchAsset(spec, {
        cacheName: config.cacheName,
        strategy,
        accept,
        onProgress(loaded, total, fromCache) {
          state[i] = { loaded, total };
          const overall = state.reduce((a, s) => ({ loaded: a.loaded + s.loaded, total: a.total + s.total }), { loaded: 0, total: 0 });
          post({ id, type: "progress", file: name, url: spec?.url ?? name, loaded, total, fromCache, overall });
        },
      }),
    ),
  );
}

/** Loads and instantiates the main runtime once; resolves to its module. */
let mainLoad = null;
function loadMainRuntime() {
  mainLoad ??= import("./wasm/wasmrag.js").then(async (module) => {
    wasmExports.push(await module.default());
    mainModule = module;
    return module;
  });
  return mainLoad;
}

/** Instantiates the keyword runtime; resolves to its module. */
async function loadKeywordRuntime() {
  wasmExports.push(await initKeywordRuntime());
  keywordModule = keywordRuntime;
  return keywordRuntime;
}

async function initialise(id, message) {
  if (rag || keywords || sharded) throw new WasmragError("invalid_state", "wasmrag is already initialised");
  config = message;
  const t0 = performance.now();
  const later = message.loadEmbedder === "later";
  // The index and the embedder download while the wasm compiles, since none needs another;
  // a failed download is reported once init has settled. An index searched by keywords first,
  // and a sharded index's entry, are read before they are cached, so a bad one is never kept.
  const runtime = later ? loadKeywordRuntime() : loadMainRuntime();
  runtime.catch(() => {});
  const open = message.shards ? (m, b) => new m.WasmShardedIndex(b) : later ? (m, b) => new m.WasmKeywordIndex(b) : null;
  const accept = open
    ? async (bytes) => {
        const index = open(await runtime, bytes);
        if (later) indexFile = bytes;
        return index;
      }
    : undefined;
  const indexBytes = message.documents ? null : fetchAll(id, [["index", message.shards ?? message.index, "network-first", accept]]);
  indexBytes?.catch(() => {});
  const embedderBytes = later ? null : fetchEmbedder(id);
  embedderBytes?.catch(() => {});
  const { WasmRag } = await runtime;
  if (message.shards) {
    [sharded] = await indexBytes;
    forgetOtherBuilds();
    if (embedderBytes) {
      sharded.loadEmbedder(...(await embedderBytes));
      shardEmbedder = sharded;
    }
    const retrieval = shardEmbedder ? "hybrid" : "keyword";
    return { passages: sharded.passageCount, backend: "wasm-simd", indexedOn: null, retrieval, sharded: true, loadMs: performance.now() - t0 };
  }
  if (later) {
    [keywords] = await indexBytes;
    return { passages: keywords.passageCount, backend: "wasm-simd", indexedOn: null, retrieval: "keyword", loadMs: performance.now() - t0 };
  }
  const [weights, modelConfig, tokenizer] = await embedderBytes;
  if (message.documents) {
    const report = (p) => post({ id, type: "progress", file: "indexing", ...p });
    rag = await WasmRag.fromDocumentsAsync(message.documents, weights, modelConfig, tokenizer, message.backend ?? "auto", report);
  } else {
    const [index] = await indexBytes;
    rag = new WasmRag(index, weights, modelConfig, tokenizer);
  }
  return { passages: rag.passageCount, backend: "wasm-simd", indexedOn: message.documents ? rag.embedderBackend : null, retrieval: "hybrid", loadMs: performance.now() - t0 };
}

const fetchEmbedder = (id) => {
  const e = config.embedder;
  return fetchAll(id, [
    ["embedder weights", e.weights, "cache-first"],
    ["embedder config", e.config, "cache-first"],
    ["embedder tokenizer", e.tokenizer, "cache-first"],
  ]);
};

/**
 * Loads the embedder unless it is loaded, turning searches hybrid. A one-file index the
 * keyword runtime holds is opened again in the main runtime from the file it was read from; a
 * sharded index stays where it is, and the main runtime embeds its queries.
 */
async function ensureEmbedder(id) {
  if (rag || shardEmbedder) return { retrieval: "hybrid" };
  const [[weights, modelConfig, tokenizer], { WasmRag, WasmShardedIndex }] = await Promise.all([fetchEmbedder(id), loadMainRuntime()]);
  if (sharded) {
    const embedder = new WasmShardedIndex(indexFile);
    try {
      embedder.loadEmbedder(weights, modelConfig, tokenizer);
    } catch (err) {
      embedder.free();
      throw err;
    }
    [shardEmbedder, indexFile] = [embedder, null];
    return { retrieval: "hybrid" };
  }
  rag = new WasmRag(indexFile, weights, modelConfig, tokenizer);
  keywords.free();
  [keywords, indexFile] = [null, null];
  return { retrieval: "hybrid" };
}

/** Refuses what a sharded index cannot do: it holds no generator's context and is never rewritten. */
function oneFileOnly(what) {
  if (sharded) throw new WasmragError("invalid_state", `${what} needs a one-file index; a sharded index is searched only`);
}

/** Fetches and loads one file of the sharded index (once, however many searches ask). */
function loadShard(path) {
  const url = new URL(path, config.shards.url);
  url.searchParams.set("build", sharded.build.toString(16));
  const key = url.href;
  if (!shardLoads.has(key)) {
    const accept = (bytes) => sharded.load(path, bytes);
    const loading = fetchAsset({ url: key }, { cacheName: config.cacheName, strategy: "network-first", onProgress() {}, accept }).finally(() =>
      shardLoads.delete(key),
    );
    shardLoads.set(key, loading);
  }
  return shardLoads.get(key);
}

/**
 * Reads the entry again after a file of another build turned up; resolves to whether the
 * build changed (then the index starts afresh from the new entry, keeping its embedder).
 * The manifest's SHA-256 is the old entry's, so the new one is checked by its own CRC only.
 */
function reopenShards() {
  // The embedder's instance first: it refuses a build made with another model, and then
  // nothing changes.
  const accept = (bytes) => {
    if (shardEmbedder && shardEmbedder !== sharded) shardEmbedder.reopen(bytes);
    const changed = sharded.reopen(bytes);
    if (changed && indexFile) indexFile = bytes;
    return changed;
  };
  reopening ??= fetchAsset({ url: config.shards.url }, { cacheName: config.cacheName, strategy: "network-first", onProgress() {}, accept, revalidate: true })
    .then((changed) => (changed && forgetOtherBuilds(), changed))
    .finally(() => {
      reopening = null;
    });
  return reopening;
}

/** Deletes the cached files of other builds of the sharded index, which a redeploy leaves behind. */
async function forgetOtherBuilds() {
  try {
    const cache = await caches.open(config.cacheName);
    const folder = new URL(".", config.shards.url).href;
    const build = sharded.build.toString(16);
    for (const request of await cache.keys()) {
      const url = new URL(request.url);
      if (url.href.startsWith(folder) && url.searchParams.has("build") && url.searchParams.get("build") !== build) await cache.delete(request);
    }
  } catch {
    // No Cache API here, or it failed: the old files only take space.
  }
}

/** A search of the sharded index: rounds until every file it needs is loaded. */
async function shardedSearch(query, k) {
  const vector = shardEmbedder?.embed(query);
  for (let retried = false; ; ) {
    try {
      for (;;) {
        const round = sharded.search(query, k, vector);
        if (round.hits) return round.hits;
        await Promise.all(round.needed.map(loadShard));
      }
    } catch (err) {
      // A redeploy shows as a file of another build, or as one that is gone (404): read the
      // entry again, once, and search the new build; if the build is the same, the error stands.
      const redeployed = err?.code === "index_changed" || err?.code === "network";
      if (retried || !redeployed || !(await reopenShards().catch(() => false))) throw err;
      retried = true;
    }
  }
}

/** Loads the generator unless it is loaded; calls are queued, so this never runs twice at once. */
async function ensureGenerator(id) {
  oneFileOnly("an answer");
  if (rag.hasGenerator) return generatorBackend;
  const [gguf] = await fetchAll(id, [["generator", config.generator, "cache-first"]]);
  generatorBackend = await rag.loadGeneratorWith(gguf, config.backend ?? "auto");
  return generatorBackend;
}

async function ask(id, { question, options }) {
  oneFileOnly("an answer");
  await ensureEmbedder(id);
  await ensureGenerator(id);
  const t0 = performance.now();
  const begun = rag.beginAsk(question, options ?? {});
  const retrievalMs = performance.now() - t0;
  post({ id, type: "sources", found: begun.found, sources: begun.sources, extract: begun.extract ?? null, retrievalMs });
  let first = null;
  for (;;) {
    if (cancelled.has(id)) rag.cancelAsk();
    const piece = await rag.nextTokenAsync();
    if (piece === undefined) break;
    if (piece) {
      first ??= performance.now();
      post({ id, type: "token", token: piece });
    }
    await yieldToEvents();
  }
  const end = performance.now();
  const answer = rag.finishAsk();
  const decodeSeconds = first === null ? 0 : (end - first) / 1000;
  answer.stats = {
    retrievalMs,
    timeToFirstTokenMs: first === null ? null : first - t0,
    tokensPerSecond: decodeSeconds > 0 ? Math.max(answer.generatedTokens - 1, 0) / decodeSeconds : null,
    cancelled: cancelled.has(id),
    backend: rag.generatorBackend,
    adapter: rag.generatorBackend === "webgpu" ? generatorBackend?.adapter ?? null : null,
    fallbackReason: generatorBackend?.fallbackReason ?? null,
    gpuError: rag.gpuError ?? null,
    grounding: answer.grounding,
  };
  return answer;
}

/** Calls that only read: they may overlap an answer being generated. */
const reads = {
  search: async (id, { query, k }) => {
    const t0 = performance.now();
    const hits = sharded ? await shardedSearch(query, k ?? 5) : (rag ?? keywords).search(query, k ?? 5);
    return { hits, ms: performance.now() - t0 };
  },
  // Before the embedder is loaded there is no extract: it ranks sentences by embedding.
  // A sharded index has none either: its sentences are ranked from a one-file index's passages.
  searchExtract: async (id, { query, k }) => {
    const t0 = performance.now();
    if (sharded) return { hits: await shardedSearch(query, k ?? 5), extract: null, ms: performance.now() - t0 };
    const { hits, extract } = rag ? rag.searchExtract(query, k ?? 5) : { hits: keywords.search(query, k ?? 5), extract: null };
    return { hits, extract, ms: performance.now() - t0 };
  },
  memory: () => ({ wasmBytes: wasmExports.reduce((sum, e) => sum + e.memory.buffer.byteLength, 0) }),
  // Not queued, so a test can trap the instance in the middle of an answer.
  trapForTests: () => (mainModule ?? keywordModule).__trapForTests(),
};

/** Calls that change the index: searches queued after them wait for them. */
const writes = {
  init: initialise,
  addDocuments: (id, { documents }) => (oneFileOnly("addDocuments"), ensureEmbedder(id).then(() => rag.addDocuments(documents))),
  removeDocuments: (id, { urls }) => (oneFileOnly("removeDocuments"), ensureEmbedder(id).then(() => rag.removeDocuments(urls))),
};

/** The other calls, each run alone. Searches during `loadEmbedder` rank by keywords until it ends. */
const exclusive = {
  ask,
  loadEmbedder: (id) => ensureEmbedder(id),
  loadGenerator: (id) => ensureGenerator(id),
  exportIndex: () => (oneFileOnly("exportIndex"), (rag ?? keywords).exportIndex()),
};

/** Puts a call in the queue; resolves to its value. */
function schedule(type, job) {
  if (type in reads) return lastWrite.then(job);
  const run = tail.then(job);
  tail = run.catch(() => {});
  if (type in writes) lastWrite = tail;
  return run;
}

/** The error as the page receives it; a trap marks the instance dead. */
function describe(err) {
  if (err instanceof WebAssembly.RuntimeError && !crashed) {
    crashed = err.message;
    post({ type: "crashed", message: err.message });
  }
  if (crashed) return { code: "runtime_crashed", message: `the wasmrag runtime crashed (${crashed})` };
  const message = err instanceof Error ? err.message : String(err);
  return { code: typeof err?.code === "string" ? err.code : "internal", message };
}

self.onmessage = async ({ data }) => {
  const { id, type } = data;
  if (type === "cancel") {
    cancelled.add(data.target);
    return;
  }
  try {
    const handler = reads[type] ?? writes[type] ?? exclusive[type];
    if (!handler) throw new WasmragError("invalid_option", `unknown request ${type}`);
    const value = await schedule(type, () => {
      if (crashed) throw new WasmragError("runtime_crashed", `the wasmrag runtime crashed (${crashed})`);
      if (type !== "init" && !rag && !keywords && !sharded) throw new WasmragError("invalid_state", "wasmrag is not initialised");
      return handler(id, data);
    });
    post({ id, type: "result", value }, value instanceof Uint8Array ? [value.buffer] : []);
  } catch (err) {
    post({ id, type: "error", ...describe(err) });
  } finally {
    cancelled.delete(id);
  }
};
