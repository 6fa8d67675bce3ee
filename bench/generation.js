// Generation side by side in one page: wasmrag (candle, wasm SIMD, one thread) and wllama
// (llama.cpp in wasm) on the same GGUF file and prompt, greedy, a fixed number of tokens; then,
// where the page has WebGPU, wasmrag's WebGPU engine against its CPU path on a short prompt
// (software adapters are far too slow for the long one). Results go to window.benchResult.
import init, { WasmGenerator } from "../target/bench-wasm/wasmrag.js";
import { Wllama } from "./node_modules/@wllama/wllama/esm/index.js";

const params = new URLSearchParams(location.search);
const model = params.get("model");
const runs = Number(params.get("runs") ?? 3);
const decode = Number(params.get("decode") ?? 128);
const prompt = await (await fetch(params.get("prompt"))).text();
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const summary = (name, loadMs, rows) => ({
  name,
  loadMs,
  promptTokens: rows[0].promptTokens,
  prefill: median(rows.map((r) => r.prefill)),
  ttftMs: median(rows.map((r) => r.ttft)),
  decode: median(rows.map((r) => r.decode)),
  decodedTokens: rows[0].decoded,
});

async function wasmrag() {
  await init();
  const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
  const t0 = performance.now();
  const g = new WasmGenerator(bytes);
  const loadMs = performance.now() - t0;
  const rows = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    const promptTokens = g.start(prompt, decode + 1, true);
    g.step();
    const first = performance.now();
    while (g.step() !== undefined);
    const end = performance.now();
    const decoded = g.generatedTokens - 1;
    rows.push({ promptTokens, prefill: promptTokens / ((first - start) / 1000), ttft: first - start, decode: decoded / ((end - first) / 1000), decoded });
  }
  return summary("wasmrag", loadMs, rows);
}

async function wllama(threads) {
  const wasm = new URL("./node_modules/@wllama/wllama/esm/wasm/wllama.wasm", import.meta.url).href;
  const w = new Wllama({ default: wasm }, { suppressNativeLog: true });
  const t0 = performance.now();
  await w.loadModelFromUrl(model, { n_threads: threads, n_ctx: 2048 });
  const loadMs = performance.now() - t0;
  const rows = [];
  for (let r = 0; r < runs; r++) {
    const res = await w.createCompletion({ prompt, max_tokens: decode, temperature: 0, ignore_eos: true, cache_prompt: false });
    const t = res.timings;
    if (t.cache_n > 0) throw new Error(`wllama reused ${t.cache_n} cached prompt tokens`);
    rows.push({ promptTokens: t.prompt_n, prefill: t.prompt_per_second, ttft: t.prompt_ms + t.predicted_per_token_ms, decode: t.predicted_per_second, decoded: t.predicted_n });
  }
  await w.exit();
  return summary(`wllama ${threads} thread${threads > 1 ? "s" : ""}`, loadMs, rows);
}

/** One greedy run of `WasmGenerator.load(bytes, backend)` on `text`, stepping asynchronously. */
async function wasmragOn(backend, text, tokens) {
  const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
  const t0 = performance.now();
  const g = await WasmGenerator.load(bytes, backend);
  const loadMs = performance.now() - t0;
  const info = g.backendInfo;
  if (info.backend !== backend) return { name: `wasmrag ${backend}`, skipped: info.fallbackReason };
  const start = performance.now();
  const promptTokens = g.start(text, tokens + 1, true);
  await g.stepAsync();
  const first = performance.now();
  while ((await g.stepAsync()) !== undefined);
  const end = performance.now();
  const decoded = g.generatedTokens - 1;
  return {
    name: `wasmrag ${backend}`,
    adapter: info.adapter ?? "WebAssembly SIMD",
    dispatchesPerToken: info.dispatches ?? 0,
    readBackBytesPerToken: backend === "webgpu" ? 4 : 0,
    loadMs,
    promptTokens,
    prefill: promptTokens / ((first - start) / 1000),
    ttftMs: first - start,
    decode: decoded / ((end - first) / 1000),
    decodedTokens: decoded,
    tokens: Array.from(g.tokens),
  };
}

try {
  // peers=0: only wasmrag on this file (the generator-encodings rows).
  const peers = params.get("peers") !== "0";
  const results = [await wasmrag()];
  if (peers) results.push(await wllama(1));
  if (peers && crossOriginIsolated) results.push(await wllama(2));
  const gpu = [];
  if (peers && navigator.gpu) {
    const short = "<|im_start|>user\nWhat is ownership in Rust?<|im_end|>\n<|im_start|>assistant\n";
    const gpuDecode = Number(params.get("gpuDecode") ?? 8);
    gpu.push(await wasmragOn("cpu", short, gpuDecode), await wasmragOn("webgpu", short, gpuDecode));
  }
  window.benchResult = { ok: true, results, gpu, crossOriginIsolated };
} catch (err) {
  window.benchResult = { ok: false, error: String(err?.stack ?? err) };
}
document.getElementById("out").textContent = JSON.stringify(window.benchResult, null, 2);
