// Vector search side by side on the same real vectors (SciFact sentences embedded with
// all-MiniLM-L6-v2 by `wasmrag embed`): wasmrag's index (int8 + HNSW) and its exact int8 scan,
// voy-search (Rust kd-tree in wasm) and hnswlib-wasm (hnswlib in wasm), against an f32 brute
// force in plain JS that gives the true top 10. Build time, serialized size, query p50/p99 for
// k = 10 and recall@10. Results go to window.benchResult for bench/run.mjs.
import init, { WasmVectorIndex } from "../target/bench-wasm/wasmrag.js";
import * as voyGlue from "./node_modules/voy-search/voy_search_bg.js";
import { loadHnswlib } from "./node_modules/hnswlib-wasm/dist/hnswlib.js";

const params = new URLSearchParams(location.search);
const count = Number(params.get("count") ?? 20000);
const queryCount = Number(params.get("queries") ?? 300);
const K = 10;
const DIM = 384;

const floats = async (url) => new Float32Array(await (await fetch(url)).arrayBuffer());
const all = await floats(params.get("vectors"));
const vectors = all.subarray(0, Math.min(count, all.length / DIM) * DIM);
const queries = (await floats(params.get("queryVectors"))).subarray(0, queryCount * DIM);
const n = vectors.length / DIM;
const row = (data, i) => data.subarray(i * DIM, (i + 1) * DIM);
const queryRows = Array.from({ length: queries.length / DIM }, (_, i) => row(queries, i));

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/** Exact top-k by f32 dot product (the vectors are unit length, so this is cosine). */
function bruteForce(query) {
  const best = [];
  for (let i = 0; i < n; i++) {
    let dot = 0;
    for (let d = 0, o = i * DIM; d < DIM; d++) dot += query[d] * vectors[o + d];
    if (best.length < K || dot > best[best.length - 1][1]) {
      best.push([i, dot]);
      best.sort((a, b) => b[1] - a[1]);
      if (best.length > K) best.pop();
    }
  }
  return best.map(([i]) => i);
}

/** Times `search` on every query; returns latency percentiles and recall@10 against `truth`. */
function measure(name, buildMs, bytes, search, truth) {
  const times = [];
  let hits = 0;
  queryRows.forEach((q, i) => {
    const t0 = performance.now();
    const ids = search(q);
    times.push(performance.now() - t0);
    if (truth) hits += ids.filter((id) => truth[i].includes(id)).length;
  });
  return { name, buildMs, bytes, p50: percentile(times, 50), p99: percentile(times, 99), recall: truth ? hits / (truth.length * K) : 1 };
}

async function voySearch(truth) {
  const { instance } = await WebAssembly.instantiateStreaming(fetch("./node_modules/voy-search/voy_search_bg.wasm"), { "./voy_search_bg.js": voyGlue });
  voyGlue.__wbg_set_wasm(instance.exports);
  const embeddings = Array.from({ length: n }, (_, i) => ({ id: String(i), title: "", url: "", embeddings: Array.from(row(vectors, i)) }));
  const t0 = performance.now();
  const voy = new voyGlue.Voy({ embeddings });
  const buildMs = performance.now() - t0;
  const bytes = new TextEncoder().encode(voy.serialize()).length;
  return measure("voy-search 0.6.3 (kd-tree)", buildMs, bytes, (q) => voy.search(q, K).neighbors.map((h) => Number(h.id)), truth);
}

/** Size of hnswlib's saved index: it writes to an IndexedDB-backed file system; read it back. */
async function storedSize(name) {
  for (const { name: dbName } of await indexedDB.databases()) {
    const db = await new Promise((ok, fail) => Object.assign(indexedDB.open(dbName), { onsuccess: (e) => ok(e.target.result), onerror: fail }));
    for (const store of db.objectStoreNames) {
      const keys = await new Promise((ok) => Object.assign(db.transaction(store).objectStore(store).getAllKeys(), { onsuccess: (e) => ok(e.target.result) }));
      const key = keys.find((k) => String(k).endsWith(name));
      if (key !== undefined) {
        const value = await new Promise((ok) => Object.assign(db.transaction(store).objectStore(store).get(key), { onsuccess: (e) => ok(e.target.result) }));
        return value.contents.byteLength;
      }
    }
  }
  return NaN;
}

async function hnswlib(truth) {
  const lib = await loadHnswlib();
  const t0 = performance.now();
  const index = new lib.HierarchicalNSW("cosine", DIM, "");
  index.initIndex(n, 16, 200, 100);
  index.addPoints(Array.from({ length: n }, (_, i) => row(vectors, i)), Array.from({ length: n }, (_, i) => i), false);
  const buildMs = performance.now() - t0;
  index.setEfSearch(100);
  await index.writeIndex("bench.hnsw");
  await new Promise((done) => lib.EmscriptenFileSystemManager.syncFS(false, done));
  const bytes = await storedSize("bench.hnsw");
  return measure("hnswlib-wasm 0.8.2 (M 16, ef 100)", buildMs, bytes, (q) => index.searchKnn(q, K, undefined).neighbors, truth);
}

try {
  await init();
  const t0 = performance.now();
  const truth = queryRows.map(bruteForce);
  const exactJs = measure("brute force, JS f32", 0, vectors.byteLength, bruteForce, null);
  exactJs.recall = 1;
  const tb = performance.now();
  const ours = new WasmVectorIndex(vectors, DIM);
  const buildMs = performance.now() - tb;
  const bytes = ours.toBytes().length;
  const results = [
    measure("wasmrag HNSW (int8)", buildMs, bytes, (q) => Array.from(ours.search(q, K)), truth),
    measure("wasmrag exact (int8, SIMD)", 0, bytes, (q) => Array.from(ours.exactSearch(q, K)), truth),
    exactJs,
    await voySearch(truth),
    await hnswlib(truth),
  ];
  window.benchResult = { ok: true, vectors: n, queries: queryRows.length, truthMs: performance.now() - t0, results };
} catch (err) {
  window.benchResult = { ok: false, error: String(err?.stack ?? err) };
}
document.getElementById("out").textContent = JSON.stringify(window.benchResult, null, 2);
