// Runs the browser benchmarks in Debian's headless Chromium and prints wasmrag beside its peers.
// Usage: node bench/run.mjs [--runs 3] [--decode 128] [--isolate] [--smoke]   (after `make wasm`)
//   --isolate serves with COOP/COEP so wllama can also run on 2 threads;
//   --smoke is a tiny run (short prompt, 8 tokens, 1 run) that the test suite uses so this cannot rot.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const smoke = args.includes("--smoke");
const runs = smoke ? "1" : option("--runs", "3");
const decode = smoke ? "8" : option("--decode", "128");
const isolate = args.includes("--isolate");
const out = join(repo, "target/bench");
mkdirSync(out, { recursive: true });

// A RAG-sized prompt (~600 tokens): the start of the Rust Book's ownership chapter as sources.
const sysroot = execFileSync("rustc", ["--print", "sysroot"], { encoding: "utf8" }).trim();
const html = readFileSync(join(sysroot, "share/doc/rust/html/book/ch04-01-what-is-ownership.html"), "utf8");
const main = html.slice(html.indexOf("<main>"), html.indexOf("</main>"));
const words = main.replace(/<[^>]+>/g, " ").replace(/&[a-z#0-9]+;/g, " ").split(/\s+/).filter(Boolean).slice(0, smoke ? 40 : 430);
const prompt = `<|im_start|>system\nYou are a helpful assistant. Answer the question using only the numbered sources.<|im_end|>\n<|im_start|>user\nSources:\n\n[1] What is Ownership?\n${words.join(" ")}\n\nQuestion: What is ownership?<|im_end|>\n<|im_start|>assistant\n`;
writeFileSync(join(out, "prompt.txt"), prompt);

const server = spawn(process.execPath, [join(repo, "scripts/serve.mjs"), "--port", "0", ...(isolate ? ["--isolate"] : [])], { stdio: ["ignore", "pipe", "inherit"] });
const base = await new Promise((resolve) => server.stdout.once("data", (d) => resolve(String(d).match(/http:\/\/[^/]+/)[0])));
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "wasmrag-bench-")), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"],
});
try {
  const page = await context.newPage();
  const model = "/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q8_0.gguf";
  await page.goto(`${base}/bench/generation.html?model=${model}&prompt=/target/bench/prompt.txt&runs=${runs}&decode=${decode}`);
  await page.waitForFunction(() => window.benchResult, null, { timeout: 1_200_000 });
  const result = await page.evaluate(() => window.benchResult);
  if (!result.ok) throw new Error(result.error);
  writeFileSync(join(out, "generation.json"), JSON.stringify(result, null, 2));
  const chromiumVersion = context.browser()?.version() ?? "";
  console.log(`generation: SmolLM2-135M-Instruct Q8_0, greedy, ${decode} tokens, median of ${runs} runs, headless Chromium ${chromiumVersion}`);
  console.log(`${"engine".padEnd(18)} ${"prompt".padStart(6)} ${"prefill tok/s".padStart(14)} ${"first token".padStart(12)} ${"decode tok/s".padStart(13)} ${"load".padStart(8)}`);
  for (const r of result.results) {
    console.log(`${r.name.padEnd(18)} ${String(r.promptTokens).padStart(6)} ${r.prefill.toFixed(1).padStart(14)} ${(r.ttftMs.toFixed(0) + " ms").padStart(12)} ${r.decode.toFixed(1).padStart(13)} ${(r.loadMs.toFixed(0) + " ms").padStart(8)}`);
  }
  const [ours, peer] = result.results;
  console.log(`wasmrag / wllama (1 thread): prefill ${(ours.prefill / peer.prefill).toFixed(2)}x, decode ${(ours.decode / peer.decode).toFixed(2)}x`);
} finally {
  await context.close();
  server.kill();
}
