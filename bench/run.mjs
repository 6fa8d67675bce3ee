// Runs the browser benchmarks in Debian's headless Chromium and prints wasmrag beside its peers.
// Usage: node bench/run.mjs [--only generation,embedding,search,startup,shards,site] [--runs 3] [--decode 128]
//                           [--isolate] [--smoke]        (after `make wasm`)
//   --isolate serves with COOP/COEP so peers that can use threads (wllama, onnxruntime-web) do;
//   --smoke is a tiny run of every row (short prompt, few passages and vectors, one run) that
//   the test suite uses so the benchmarks cannot rot.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { launch, serve } from "../scripts/chromium.mjs";
import { shardsRow } from "./shards.mjs";
import { siteRow } from "./site.mjs";

const repo = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const smoke = args.includes("--smoke");
const runs = smoke ? 1 : Number(option("--runs", "3"));
const decode = smoke ? 8 : Number(option("--decode", "128"));
const isolate = args.includes("--isolate");
const only = option("--only", "generation,embedding,search,startup,shards,site").split(",");
const sentences = smoke ? 300 : 20000;
const out = join(repo, "target/bench");
mkdirSync(out, { recursive: true });
// Real text for the embedding and search rows: SciFact from the shared folder beside the checkout.
let scifact = process.env.WASMRAG_SCIFACT ?? join(repo, "../shared/eval/scifact");
let corpusName = "SciFact";
if (!existsSync(join(scifact, "corpus.jsonl"))) {
  if (!smoke) throw new Error(`SciFact not found in ${scifact}: set WASMRAG_SCIFACT to a BEIR SciFact folder`);
  scifact = bookAsBeir();
  corpusName = "Rust Book";
  process.env.WASMRAG_SCIFACT = scifact;
}

/** The smoke run on a machine without SciFact: Rust Book paragraphs in SciFact's BEIR layout
 * (the tiny run needs real text, not SciFact itself). Returns the folder. */
function bookAsBeir() {
  const sysroot = execFileSync("rustc", ["--print", "sysroot"], { encoding: "utf8" }).trim();
  const book = join(sysroot, "share/doc/rust/html/book");
  const dir = join(out, "book-beir");
  mkdirSync(join(dir, "qrels"), { recursive: true });
  const docs = readdirSync(book).filter((f) => /^ch\d\d-\d\d-.*\.html$/.test(f)).sort().flatMap((file) => {
    const html = readFileSync(join(book, file), "utf8");
    const main = html.slice(html.indexOf("<main>"), html.indexOf("</main>"));
    return main.split(/<\/p>/).map((p) => p.replace(/<[^>]+>/g, " ").replace(/&[a-z#0-9]+;/g, " ").replace(/\s+/g, " ").trim()).filter((t) => t.split(" ").length >= 12);
  });
  writeFileSync(join(dir, "corpus.jsonl"), docs.map((text, i) => JSON.stringify({ _id: `d${i}`, title: "", text })).join("\n") + "\n");
  const queries = ["What is ownership?", "How do I borrow a value mutably?", "What is a vector?", "How do threads share data?"];
  writeFileSync(join(dir, "queries.jsonl"), queries.map((text, i) => JSON.stringify({ _id: `q${i}`, text })).join("\n") + "\n");
  writeFileSync(join(dir, "qrels/test.tsv"), "query-id\tcorpus-id\tscore\n" + queries.map((_, i) => `q${i}\td${i}\t1`).join("\n") + "\n");
  console.log(`SciFact not found: the smoke run uses ${docs.length} Rust Book paragraphs (${dir})`);
  return dir;
}

const line = (cells, widths) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(" ");
const ms = (x) => `${x.toFixed(x < 10 ? 2 : 0)} ms`;

/** A RAG-sized prompt (~600 tokens): the start of the Rust Book's ownership chapter as sources. */
function writePrompt() {
  const sysroot = execFileSync("rustc", ["--print", "sysroot"], { encoding: "utf8" }).trim();
  const html = readFileSync(join(sysroot, "share/doc/rust/html/book/ch04-01-what-is-ownership.html"), "utf8");
  const main = html.slice(html.indexOf("<main>"), html.indexOf("</main>"));
  const words = main.replace(/<[^>]+>/g, " ").replace(/&[a-z#0-9]+;/g, " ").split(/\s+/).filter(Boolean).slice(0, smoke ? 40 : 430);
  const prompt = `<|im_start|>system\nYou are a helpful assistant. Answer the question using only the numbered sources.<|im_end|>\n<|im_start|>user\nSources:\n\n[1] What is Ownership?\n${words.join(" ")}\n\nQuestion: What is ownership?<|im_end|>\n<|im_start|>assistant\n`;
  writeFileSync(join(out, "prompt.txt"), prompt);
}

/** 100 passages of ~128 tokens: SciFact abstracts cut to their first 96 words. */
function writePassages() {
  const docs = readFileSync(join(scifact, "corpus.jsonl"), "utf8").split("\n").filter(Boolean).slice(0, smoke ? 8 : 100);
  const passages = docs.map((l) => JSON.parse(l).text.split(/\s+/).slice(0, 96).join(" "));
  writeFileSync(join(out, "passages.json"), JSON.stringify(passages));
}

async function runPage(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => window.benchResult, null, { timeout: 1_800_000 });
  const result = await page.evaluate(() => window.benchResult);
  if (!result.ok) throw new Error(`${url}: ${result.error}`);
  return result;
}

/** The generator encodings the default was chosen from (the published Q4_1, and
 * `wasmrag models --variants`), each beside the shipped Q8_0 on the same prompt: wasm speed
 * (quality: `wasmrag perplexity`). */
async function encodings(page, base, shipped) {
  const dir = "models/SmolLM2-135M-Instruct";
  const variants = ["SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct.Q4_0.gguf", "SmolLM2-135M-Instruct.Q4_0-all.gguf"];
  const files = variants.filter((f) => existsSync(join(repo, dir, f)));
  if (files.length < variants.length) console.log("\ngenerator encodings: run `wasmrag models --variants` for the Q4_0 rows");
  if (!files.length) return;
  console.log(`\ngenerator encodings in wasm (1 thread), beside the shipped Q8_0, median of ${runs} runs`);
  const w = [38, 8, 14, 13, 10, 10];
  console.log(line(["file", "MB", "prefill tok/s", "decode tok/s", "prefill x", "decode x"], w));
  const mb = (f) => (statSync(join(repo, dir, f)).size / 1e6).toFixed(1);
  console.log(line(["SmolLM2-135M-Instruct.Q8_0.gguf", mb("SmolLM2-135M-Instruct.Q8_0.gguf"), shipped.prefill.toFixed(1), shipped.decode.toFixed(1), "1.00", "1.00"], w));
  for (const f of files) {
    const r = (await runPage(page, `${base}/bench/generation.html?model=/${dir}/${f}&prompt=/target/bench/prompt.txt&runs=${runs}&decode=${decode}&peers=0`)).results[0];
    console.log(line([f, mb(f), r.prefill.toFixed(1), r.decode.toFixed(1), (r.prefill / shipped.prefill).toFixed(2), (r.decode / shipped.decode).toFixed(2)], w));
  }
}

/** The demo's index file, www/rust-book.idx, or in the smoke run www/smoke.idx (one page, built if missing); null if missing. */
function demoIndex() {
  const index = join(repo, "www", smoke ? "smoke.idx" : "rust-book.idx");
  if (smoke && !existsSync(index)) {
    const sysroot = execFileSync("rustc", ["--print", "sysroot"], { encoding: "utf8" }).trim();
    const page = join(sysroot, "share/doc/rust/html/book/ch04-01-what-is-ownership.html");
    execFileSync(join(repo, "target/release/wasmrag"), ["--models", join(repo, "models"), "index", page, "--out", index], { stdio: "inherit" });
  }
  return existsSync(index) ? index : null;
}

const rows = {
  async generation(page, base) {
    writePrompt();
    const model = "/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q8_0.gguf";
    const result = await runPage(page, `${base}/bench/generation.html?model=${model}&prompt=/target/bench/prompt.txt&runs=${runs}&decode=${decode}&gpuDecode=${smoke ? 2 : 8}`);
    console.log(`\ngeneration: SmolLM2-135M-Instruct Q8_0, greedy, ${decode} tokens, median of ${runs} runs`);
    const w = [18, 6, 14, 12, 13, 8];
    console.log(line(["engine", "prompt", "prefill tok/s", "first token", "decode tok/s", "load"], w));
    for (const r of result.results) console.log(line([r.name, r.promptTokens, r.prefill.toFixed(1), ms(r.ttftMs), r.decode.toFixed(1), ms(r.loadMs)], w));
    const [ours, peer] = result.results;
    console.log(`wasmrag / wllama (1 thread): prefill ${(ours.prefill / peer.prefill).toFixed(2)}x, decode ${(ours.decode / peer.decode).toFixed(2)}x`);
    if (result.gpu.length) {
      console.log(`\ngeneration on WebGPU vs CPU: short prompt, greedy, one run (a software adapter here proves the path, not the speed)`);
      const g = [16, 26, 6, 14, 13, 11, 16];
      console.log(line(["engine", "adapter", "prompt", "prefill tok/s", "decode tok/s", "dispatches", "read-back B/tok"], g));
      for (const r of result.gpu) {
        if (r.skipped) console.log(`${r.name}: skipped (${r.skipped})`);
        else console.log(line([r.name, r.adapter.slice(0, 26), r.promptTokens, r.prefill.toFixed(2), r.decode.toFixed(2), r.dispatchesPerToken, r.readBackBytesPerToken], g));
      }
      const [cpu, webgpu] = result.gpu;
      if (!webgpu.skipped) console.log(`same tokens on both: ${JSON.stringify(cpu.tokens) === JSON.stringify(webgpu.tokens)}`);
    }
    await encodings(page, base, ours);
    return result;
  },

  async embedding(page, base) {
    execFileSync("bash", [join(repo, "bench/prepare.sh"), String(sentences)], { stdio: "inherit" });
    writePassages();
    const results = [];
    let gpu = [];
    for (const threads of isolate && !smoke ? [1, 2] : [1]) {
      const r = await runPage(page, `${base}/bench/embedding.html?passages=/target/bench/passages.json&runs=${runs}&threads=${threads}&gpuPassages=${smoke ? 1 : 4}`);
      results.push(...r.results.filter((x) => threads === 1 || !x.name.startsWith("wasmrag")));
      results.sort((a, b) => Number(a.name.startsWith("transformers")) - Number(b.name.startsWith("transformers")));
      if (threads === 1) gpu = r.gpu;
    }
    console.log(`\nembedding: all-MiniLM-L6-v2 (same safetensors), ${smoke ? 8 : 100} passages of ~128 tokens, median of ${runs} runs`);
    const w = [28, 12, 14, 16, 17, 12, 8];
    console.log(line(["engine", "min cosine", "cos >256 tok", "batch 1 pass/s", "batch 16 pass/s", "query", "load"], w));
    for (const r of results) console.log(line([r.name, r.minCosine.toFixed(6), r.overLongCosine.toFixed(6), r.batch1.toFixed(1), r.batch16.toFixed(1), ms(r.queryMs), ms(r.loadMs)], w));
    // Each of ours beside its like, on one thread: f32 against fp32, int8 against q8.
    for (const [mine, theirs] of [["wasmrag", "transformers.js 1 thread"], ["wasmrag int8", "transformers.js q8 1 thread"]]) {
      const [ours, peer] = [results.find((r) => r.name === mine), results.find((r) => r.name === theirs)];
      if (!ours || !peer) continue;
      console.log(`${mine} / ${theirs}: batch 1 ${(ours.batch1 / peer.batch1).toFixed(2)}x, batch 16 ${(ours.batch16 / peer.batch16).toFixed(2)}x, query latency ${(peer.queryMs / ours.queryMs).toFixed(2)}x faster`);
    }
    if (gpu.length) {
      console.log(`\nembedding on WebGPU vs CPU: ${smoke ? 1 : 4} passages in one batch (a software adapter here proves the path, not the speed)`);
      const g = [16, 26, 10, 18, 11];
      console.log(line(["engine", "adapter", "passages/s", "dispatches/batch", "min cosine"], g));
      for (const r of gpu) {
        if (r.skipped) console.log(`${r.name}: skipped (${r.skipped})`);
        else console.log(line([r.name, r.adapter.slice(0, 26), r.passagesPerSecond.toFixed(2), r.dispatches, r.minCosine.toFixed(6)], g));
      }
    }
    return { results, gpu };
  },

  async search(page, base) {
    execFileSync("bash", [join(repo, "bench/prepare.sh"), String(sentences)], { stdio: "inherit" });
    const result = await runPage(page, `${base}/bench/search.html?vectors=/target/bench/scifact-${sentences}.f32&queryVectors=/target/bench/scifact-queries.f32&queries=${smoke ? 20 : 300}`);
    console.log(`\nvector search: ${result.vectors} ${corpusName} sentences (MiniLM, 384 dims), ${result.queries} ${corpusName} test queries, k = 10`);
    const w = [34, 10, 12, 10, 10, 10];
    console.log(line(["engine", "build", "size", "p50", "p99", "recall@10"], w));
    for (const r of result.results) console.log(line([r.name, r.buildMs ? ms(r.buildMs) : "—", `${(r.bytes / 1e6).toFixed(2)} MB`, ms(r.p50), ms(r.p99), r.recall.toFixed(4)], w));
    const [ours, exact, , voy, hnsw] = result.results;
    console.log(`wasmrag HNSW p50: ${(exact.p50 / ours.p50).toFixed(1)}x faster than its exact scan, ${(voy.p50 / ours.p50).toFixed(1)}x voy-search, ${(hnsw.p50 / ours.p50).toFixed(2)}x hnswlib-wasm; size ${(ours.bytes / hnsw.bytes).toFixed(2)}x hnswlib's`);
    return result;
  },

  /** Demo page: time from navigation to the first search result, models cached, and memory. */
  async startup(page, base) {
    const index = demoIndex();
    if (!index) {
      console.log(`\nstartup: skipped, www/${smoke ? "smoke.idx" : "rust-book.idx"} missing (make demo builds www/rust-book.idx)`);
      return null;
    }
    const url = `${base}/www/?index=./${basename(index)}`;
    const firstResult = async () => {
      const t0 = Date.now();
      await page.goto(url);
      await page.waitForSelector("body[data-ready=true]", { timeout: 300_000 });
      const ready = Date.now() - t0;
      await page.fill("#query", "How do I borrow a value mutably?");
      await page.click("#search-button");
      await page.waitForFunction(() => document.querySelector("#status-text").textContent.endsWith("results"));
      const firstResult = Date.now() - t0;
      await page.waitForFunction(() => document.body.dataset.extract !== "pending");
      return { ready, firstResult, extract: Date.now() - t0 };
    };
    const cold = await firstResult();
    const warm = [];
    for (let r = 0; r < runs; r++) warm.push(await firstResult());
    const median = (k) => [...warm].map((x) => x[k]).sort((a, b) => a - b)[Math.floor(warm.length / 2)];
    const memory = async () => {
      await page.waitForSelector("body[data-wasm-memory]");
      const wasmBytes = Number(await page.$eval("body", (b) => b.dataset.wasmMemory));
      const js = await page.evaluate(() => (crossOriginIsolated ? performance.measureUserAgentSpecificMemory() : null));
      return { wasmBytes, jsBytes: js?.bytes ?? NaN };
    };
    const afterSearch = await memory();
    await page.fill("#query", "What is ownership?");
    await page.click("#ask-button");
    await page.waitForFunction(() => ["done", "error"].includes(document.querySelector("#answer-section").dataset.state), null, { timeout: 600_000 });
    const afterAnswer = await memory();
    const wasm = readFileSync(join(repo, "pkg/wasm/wasmrag_bg.wasm"));
    const gzip = execFileSync("gzip", ["-9c"], { input: wasm, maxBuffer: 64 << 20 }).length;
    const glue = ["pkg/wasm/wasmrag.js", "pkg/index.js", "pkg/worker.js", "pkg/assets.js", "pkg/errors.js"].map((f) => readFileSync(join(repo, f)));
    const glueGzip = execFileSync("gzip", ["-9c"], { input: Buffer.concat(glue) }).length;
    const result = { cold, warmReadyMs: median("ready"), warmFirstResultMs: median("firstResult"), warmExtractMs: median("extract"), afterSearch, afterAnswer, wasm: wasm.length, gzip, glue: glue.reduce((s, b) => s + b.length, 0), glueGzip };
    console.log(`\nstartup and size: demo on www/${basename(index)}, headless Chromium`);
    console.log(`.wasm ${wasm.length.toLocaleString()} B raw, ${gzip.toLocaleString()} B gzip; JS glue + wrapper ${result.glue.toLocaleString()} B raw, ${glueGzip.toLocaleString()} B gzip`);
    console.log(`page load to first search result: ${cold.firstResult} ms first visit (models downloaded), ${result.warmFirstResultMs} ms with models cached (ready after ${result.warmReadyMs} ms, its extract after ${result.warmExtractMs} ms), median of ${runs}`);
    const mem = (m) => `wasm ${(m.wasmBytes / 1e6).toFixed(0)} MB` + (Number.isFinite(m.jsBytes) ? ` + JS ${(m.jsBytes / 1e6).toFixed(0)} MB` : " (JS heaps not reported)");
    console.log(`peak memory (worker's wasm memory, which only grows; JS heaps by measureUserAgentSpecificMemory): ${mem(afterSearch)} after a search, ${mem(afterAnswer)} after an answer`);
    return result;
  },

  /** A sharded index in the page: hybrid query latency with and without its fetches. */
  async shards(page, base) {
    const index = process.env.WASMRAG_SHARDS_INDEX || demoIndex();
    if (!index || !existsSync(index)) {
      console.log(`\nshards: skipped, ${index || "the demo's index"} missing (make demo builds www/rust-book.idx)`);
      return null;
    }
    return shardsRow({ page, base, repo, out, smoke, index });
  },

  site() {
    return siteRow({ chromium, repo, out, smoke });
  },
};

const { server, origin: base } = await serve(isolate ? ["--isolate"] : []);
const context = await launch(chromium, "bench", ["--enable-blink-features=ForceEagerMeasureMemory", "--enable-unsafe-webgpu"]);
try {
  const page = await context.newPage();
  console.log(`headless Chromium ${context.browser()?.version() ?? ""}${isolate ? ", COOP/COEP" : ""}${smoke ? ", smoke run" : ""}`);
  const results = {};
  for (const name of only) {
    if (!rows[name]) throw new Error(`unknown row ${name} (generation, embedding, search, startup, shards, site)`);
    results[name] = await rows[name](page, base);
  }
  writeFileSync(join(out, smoke ? "smoke.json" : "results.json"), JSON.stringify(results, null, 2));
} finally {
  await context.close();
  server.kill();
}
