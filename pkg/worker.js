// The Web Worker that runs wasmrag, so search and generation never block the page.
// Protocol: the page posts {id, type, ...}; the worker answers with {id, type: "result"},
// {id, type: "error", message}, and for `ask` a stream of {type: "token"} before "result";
// {type: "progress"} events report downloads.
import init, { WasmRag } from "./wasm/wasmrag.js";
import { fetchAsset } from "./assets.js";

let rag = null;
let config = null;
let generatorLoading = null;
let askQueue = Promise.resolve();
const cancelled = new Set();

const post = (message, transfer) => self.postMessage(message, transfer ?? []);

/** Yields to the event loop (a macrotask) so cancel messages can arrive between tokens. */
const yieldToEvents = () =>
  new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = resolve;
    channel.port2.postMessage(null);
  });

/** Downloads several assets, reporting progress per file and overall. */
async function fetchAll(id, entries) {
  const state = entries.map(([, spec]) => ({ loaded: 0, total: spec?.bytes ?? 0 }));
  return Promise.all(
    entries.map(([name, spec, strategy], i) =>
      fetchAsset(spec, {
        cacheName: config.cacheName,
        strategy,
        onProgress(loaded, total, fromCache) {
          state[i] = { loaded, total };
          const overall = state.reduce((a, s) => ({ loaded: a.loaded + s.loaded, total: a.total + s.total }), { loaded: 0, total: 0 });
          post({ id, type: "progress", file: name, url: spec?.url ?? name, loaded, total, fromCache, overall });
        },
      }),
    ),
  );
}

let wasmExports = null;
/** `{backend, adapter, dispatches, fallbackReason}` once the generator is loaded. */
let generatorBackend = null;

async function initialise(id, message) {
  config = message;
  const t0 = performance.now();
  wasmExports = await init({ module_or_path: message.wasmUrl });
  const e = message.embedder;
  const [weights, modelConfig, tokenizer] = await fetchAll(id, [
    ["embedder weights", e.weights, "cache-first"],
    ["embedder config", e.config, "cache-first"],
    ["embedder tokenizer", e.tokenizer, "cache-first"],
  ]);
  if (message.documents) {
    const report = (p) => post({ id, type: "progress", file: "indexing", ...p });
    rag = await WasmRag.fromDocumentsAsync(message.documents, weights, modelConfig, tokenizer, message.backend ?? "auto", report);
  } else {
    const [index] = await fetchAll(id, [["index", message.index, "network-first"]]);
    rag = new WasmRag(index, weights, modelConfig, tokenizer);
  }
  return { passages: rag.passageCount, backend: "wasm-simd", indexedOn: message.documents ? rag.embedderBackend : null, loadMs: performance.now() - t0 };
}

async function ensureGenerator(id) {
  if (rag.hasGenerator) return;
  generatorLoading ??= fetchAll(id, [["generator", config.generator, "cache-first"]])
    .then(([gguf]) => rag.loadGeneratorWith(gguf, config.backend ?? "auto"))
    .then((choice) => {
      generatorBackend = choice;
    });
  try {
    await generatorLoading;
  } finally {
    generatorLoading = null;
  }
}

async function ask(id, { question, options }) {
  await ensureGenerator(id);
  const t0 = performance.now();
  const begun = rag.beginAsk(question, options ?? {});
  const retrievalMs = performance.now() - t0;
  post({ id, type: "sources", found: begun.found, sources: begun.sources, extract: begun.extract ?? null, retrievalMs });
  let first = null;
  let pieces = 0;
  for (;;) {
    if (cancelled.has(id)) rag.cancelAsk();
    const piece = await rag.nextTokenAsync();
    if (piece === undefined) break;
    if (piece) {
      first ??= performance.now();
      pieces++;
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
  cancelled.delete(id);
  return answer;
}

const handlers = {
  init: initialise,
  search: (id, { query, k }) => {
    const t0 = performance.now();
    const hits = rag.search(query, k ?? 5);
    return { hits, ms: performance.now() - t0 };
  },
  searchExtract: (id, { query, k }) => {
    const t0 = performance.now();
    const { hits, extract } = rag.searchExtract(query, k ?? 5);
    return { hits, extract, ms: performance.now() - t0 };
  },
  ask: (id, message) => {
    const run = askQueue.then(() => ask(id, message));
    askQueue = run.catch(() => {});
    return run;
  },
  loadGenerator: (id) => ensureGenerator(id).then(() => generatorBackend),
  addDocuments: (id, { documents }) => rag.addDocuments(documents),
  removeDocuments: (id, { urls }) => rag.removeDocuments(urls),
  exportIndex: () => rag.exportIndex(),
  memory: () => ({ wasmBytes: wasmExports.memory.buffer.byteLength }),
};

self.onmessage = async ({ data }) => {
  const { id, type } = data;
  if (type === "cancel") {
    cancelled.add(data.target);
    return;
  }
  try {
    const handler = handlers[type];
    if (!handler) throw new Error(`unknown request ${type}`);
    if (type !== "init" && !rag) throw new Error("wasmrag is not initialised");
    const value = await handler(id, data);
    post({ id, type: "result", value }, value instanceof Uint8Array ? [value.buffer] : []);
  } catch (err) {
    post({ id, type: "error", message: err instanceof Error ? err.message : String(err) });
  }
};
