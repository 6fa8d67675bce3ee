// Embedding side by side: wasmrag (candle, wasm SIMD) and transformers.js (onnxruntime-web wasm)
// running all-MiniLM-L6-v2 from the same safetensors (transformers.js through the ONNX graph
// bench/make_onnx.py builds). Both are first checked against sentence-transformers' vectors
// (tests/data/minilm_reference.json); then passages/s at batch 1 and 16 and one-query latency.
// Where the page has WebGPU, wasmrag's GPU encoder is also run against its CPU path.
// Results go to window.benchResult for bench/run.mjs.
import init, { WasmEmbedder } from "../target/bench-wasm/wasmrag.js";
import { env, pipeline } from "@huggingface/transformers";

const params = new URLSearchParams(location.search);
const runs = Number(params.get("runs") ?? 3);
const threads = Number(params.get("threads") ?? 1);
const passages = await (await fetch(params.get("passages"))).json();
const reference = await (await fetch("/tests/data/minilm_reference.json")).json();
const QUERY = "How does the immune system respond to viral infection?";
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);

/** Cosines between an engine's vectors and sentence-transformers' on the reference texts. */
async function check(embedOne) {
  const cosines = [];
  for (const [i, text] of reference.sentences.entries()) cosines.push(dot(await embedOne(text), reference.vectors[i]));
  return cosines;
}

/** The reference texts longer than the model's 256-token window (truncated by each engine). */
const overLong = reference.sentences.map((s) => s.split(/\s+/).length > 200);

/** Median passages/s over `runs`, embedding every passage in batches of `batch`. */
async function throughput(embedBatch, batch) {
  const rates = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (let i = 0; i < passages.length; i += batch) await embedBatch(passages.slice(i, i + batch));
    rates.push(passages.length / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

async function queryLatency(embedOne) {
  const times = [];
  for (let r = 0; r < 10 * runs; r++) {
    const t0 = performance.now();
    await embedOne(QUERY);
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function measure(name, loadMs, embedOne, embedBatch) {
  // The model must match on texts that fit; truncating longer ones is tokenizer policy and is
  // reported apart (transformers.js cuts the final [SEP] off such texts).
  const cosines = await check(embedOne);
  const minCosine = Math.min(...cosines.filter((_, i) => !overLong[i]));
  const overLongCosine = Math.min(...cosines.filter((_, i) => overLong[i]));
  // f32 weights must be the same model (cosine ≥ 0.9999); quantized ones are only checked to
  // be that model at all (≥ 0.9): how close they come is reported, not required (transformers.js's
  // q8 file, one uint8 scale per tensor, comes to 0.95–0.99).
  const floor = name.includes("int8") || name.includes("q8") ? 0.9 : 0.9999;
  if (minCosine < floor) throw new Error(`${name}: cosines ${cosines.map((c) => c.toFixed(6))} against sentence-transformers, not the same model`);
  await embedBatch(passages.slice(0, 4));
  return {
    name,
    loadMs,
    minCosine,
    overLongCosine,
    batch1: await throughput(embedBatch, 1),
    batch16: await throughput(embedBatch, 16),
    queryMs: await queryLatency(embedOne),
  };
}

/** wasmrag's CPU path on the f32 weights or the int8 GGUF that `wasmrag models` derives. */
async function wasmrag(weightsFile = "model.safetensors", name = "wasmrag") {
  await init();
  const file = async (name) => new Uint8Array(await (await fetch(`/models/all-MiniLM-L6-v2/${name}`)).arrayBuffer());
  const [weights, config, tokenizer] = await Promise.all([weightsFile, "config.json", "tokenizer.json"].map(file));
  const t0 = performance.now();
  const embedder = new WasmEmbedder(weights, config, tokenizer);
  const loadMs = performance.now() - t0;
  const embedBatch = async (texts) => (texts.length === 1 ? embedder.embedOne(texts[0]) : embedder.embed(texts));
  return measure(name, loadMs, async (text) => Array.from(embedder.embedOne(text)), embedBatch);
}

/** transformers.js on its bundled onnxruntime-web, fp32 or its default wasm dtype q8. */
async function transformers(dtype = "fp32") {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = "/target/bench/models/";
  env.backends.onnx.wasm.wasmPaths = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url).href;
  env.backends.onnx.wasm.numThreads = threads;
  const t0 = performance.now();
  const extract = await pipeline("feature-extraction", "all-MiniLM-L6-v2", { dtype, device: "wasm" });
  const loadMs = performance.now() - t0;
  const embedBatch = (texts) => extract(texts, { pooling: "mean", normalize: true });
  const embedOne = async (text) => Array.from((await embedBatch([text])).data);
  return measure(`transformers.js${dtype === "fp32" ? "" : ` ${dtype}`} ${threads} thread${threads > 1 ? "s" : ""}`, loadMs, embedOne, embedBatch);
}

/** wasmrag's WebGPU encoder against its CPU path on the first `count` passages, one batch. */
async function webgpu(count) {
  const file = async (name) => new Uint8Array(await (await fetch(`/models/all-MiniLM-L6-v2/${name}`)).arrayBuffer());
  const [weights, config, tokenizer] = await Promise.all(["model.safetensors", "config.json", "tokenizer.json"].map(file));
  const texts = passages.slice(0, count);
  const rows = [];
  let cpuVectors = null;
  for (const backend of ["cpu", "webgpu"]) {
    const embedder = await WasmEmbedder.load(weights, config, tokenizer, backend);
    const info = embedder.backendInfo;
    if (info.backend !== backend) return [{ name: `wasmrag ${backend}`, skipped: info.fallbackReason }];
    const t0 = performance.now();
    const vectors = await embedder.embedAsync(texts);
    const seconds = (performance.now() - t0) / 1000;
    cpuVectors ??= vectors;
    let minCosine = 1;
    for (let i = 0; i < texts.length; i++) minCosine = Math.min(minCosine, dot(vectors.subarray(i * 384, (i + 1) * 384), cpuVectors.subarray(i * 384, (i + 1) * 384)));
    rows.push({ name: `wasmrag ${backend}`, adapter: info.adapter ?? "WebAssembly SIMD", passagesPerSecond: texts.length / seconds, dispatches: info.dispatches ?? 0, minCosine });
  }
  return rows;
}

try {
  const results = [await wasmrag(), await transformers(), await wasmrag("model.q8_0.gguf", "wasmrag int8"), await transformers("q8")];
  const gpu = navigator.gpu && threads === 1 ? await webgpu(Number(params.get("gpuPassages") ?? 4)) : [];
  const tokens = passages.map((p) => p.split(/\s+/).length);
  window.benchResult = { ok: true, passages: passages.length, meanWords: tokens.reduce((a, b) => a + b, 0) / tokens.length, results, gpu };
} catch (err) {
  window.benchResult = { ok: false, error: String(err?.stack ?? err) };
}
document.getElementById("out").textContent = JSON.stringify(window.benchResult, null, 2);
