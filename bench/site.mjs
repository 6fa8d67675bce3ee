// The `site` row: wasmrag's site bundle beside Pagefind on the same built site (the Rust Book's
// mdBook HTML, or two of its pages in the smoke run). Both index the same pages; then, on a
// first visit in a fresh browser profile, each answers the same keyword queries, and the row
// reports build time, bundle size, bytes fetched before the first results (raw and gzip, model
// files and wasmrag's main runtime excluded: they are held back, since keyword results need
// none of them) and the latency of
// the first and later queries. The same pages with a sharded index (`--shards on`, what a site
// past 20,000 passages gets) show what a first search costs when it fetches only what it needs.
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { launch, serve } from "../scripts/chromium.mjs";

const QUERIES = ["ownership", "borrow a value mutably", "hash map", "threads share data", "trait objects"];
const THREE_LINES = '<link rel="stylesheet" href="wasmrag/wasmrag-ui.css">\n<script type="module" src="wasmrag/wasmrag-ui.js"></script>\n';

/** Every file under `dir` with its size and gzip size. */
function sizes(dir, skip = () => false) {
  const files = [];
  const walk = (d) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (!skip(relative(dir, p))) files.push({ path: relative(dir, p), bytes: statSync(p).size, gzip: gzipSync(readFileSync(p), { level: 9 }).length });
    }
  };
  walk(dir);
  return { files: files.length, bytes: files.reduce((s, f) => s + f.bytes, 0), gzip: files.reduce((s, f) => s + f.gzip, 0), list: files };
}

/** The site both tools index: the book's pages (no print or table-of-contents page, no old editions), each with wasmrag's three lines. */
function buildSite(book, dir, smoke) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const pages = smoke ? ["ch04-01-what-is-ownership.html", "ch08-03-hash-maps.html"] : null;
  for (const entry of readdirSync(book)) {
    const from = join(book, entry);
    if (statSync(from).isDirectory()) {
      if (!entry.endsWith("-edition")) cpSync(from, join(dir, entry), { recursive: true });
    } else if (!entry.endsWith(".html")) copyFileSync(from, join(dir, entry));
    else if (!["print.html", "toc.html"].includes(entry) && (!pages || pages.includes(entry))) {
      writeFileSync(join(dir, entry), readFileSync(from, "utf8").replace("</head>", `${THREE_LINES}</head>`).replace('<div class="right-buttons">', '<div class="right-buttons"><wasmrag-search></wasmrag-search>'));
    }
  }
  return readdirSync(dir).filter((f) => f.endsWith(".html")).length;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** What a first visit's keyword results must not need: model files and wasmrag's main runtime. */
const MODELS_AND_MAIN_RUNTIME = /\.(safetensors|gguf)$|\/wasm\/wasmrag_bg\.wasm$/;

/** Runs the queries on a first visit; `search(page, query)` resolves to the milliseconds, timed in the page, until results are shown. */
async function visit(chromium, name, url, site, prefix, folder, prepare, search) {
  const context = await launch(chromium, `bench-site-${name}`);
  try {
    // mdBook's playground asks play.rust-lang.org for its crate list; offline, answer it empty.
    await context.route("https://play.rust-lang.org/**", (route) => route.fulfill({ status: 200, contentType: "application/json", body: '{"crates":[]}' }));
    // Model files and wasmrag's main runtime (the .wasm that runs them, requested with the
    // embedder when the dialog opens) never arrive: keyword results must not need them.
    await context.route(MODELS_AND_MAIN_RUNTIME, () => {});
    const page = await context.newPage();
    // Counted from the page load: what the tool's files fetch before the dialog opens (a
    // prefetched manifest, say) is part of what its first results cost.
    const fetched = new Set();
    context.on("request", (r) => fetched.add(new URL(r.url()).pathname));
    await page.goto(url);
    await prepare(page);
    const times = [];
    let firstBytes = null;
    for (const q of QUERIES) {
      times.push(await search(page, q));
      if (firstBytes === null) {
        const files = [...fetched]
          .filter((p) => p.startsWith(`${prefix}${folder}/`) && !p.includes("/wasmrag/models/") && !MODELS_AND_MAIN_RUNTIME.test(p))
          .map((p) => join(site, decodeURIComponent(p.slice(prefix.length))))
          .filter(existsSync);
        firstBytes = { files: files.length, bytes: files.reduce((s, f) => s + statSync(f).size, 0), gzip: files.reduce((s, f) => s + gzipSync(readFileSync(f), { level: 9 }).length, 0) };
      }
    }
    return { first: times[0], later: median(times.slice(1)), firstBytes };
  } finally {
    await context.close();
  }
}

export async function siteRow({ chromium, repo, out, smoke }) {
  const sysroot = execFileSync("rustc", ["--print", "sysroot"], { encoding: "utf8" }).trim();
  const site = join(out, smoke ? "site-smoke" : "site");
  const pages = buildSite(join(sysroot, "share/doc/rust/html/book"), site, smoke);
  const timed = (cmd, args) => {
    const t0 = performance.now();
    execFileSync(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
    return (performance.now() - t0) / 1000;
  };
  // The embedding cache keeps later runs from re-embedding the book (the first run embeds it all).
  const wasmragBuild = timed(join(repo, "target/release/wasmrag"), ["--models", join(repo, "models"), "index", "--site", site, "--cache", join(out, smoke ? "site-smoke.cache" : "site.cache")]);
  const pagefindBuild = timed(process.execPath, [join(repo, "bench/node_modules/pagefind/lib/runner/bin.cjs"), "--site", site, "--quiet"]);
  // The same pages again, sharded; the cache means nothing is embedded twice.
  const sharded = join(out, smoke ? "site-smoke-sharded" : "site-sharded");
  rmSync(sharded, { recursive: true, force: true });
  cpSync(site, sharded, { recursive: true, filter: (from) => ![join(site, "wasmrag"), join(site, "pagefind")].includes(from) });
  timed(join(repo, "target/release/wasmrag"), ["--models", join(repo, "models"), "index", "--site", sharded, "--shards", "on", "--cache", join(out, smoke ? "site-smoke.cache" : "site.cache")]);
  const shardedSizes = sizes(join(sharded, "wasmrag"), (p) => p.startsWith("models/"));
  const entry = shardedSizes.list.find((f) => f.path === "index/entry.bin");
  const ours = sizes(join(site, "wasmrag"), (p) => p.startsWith("models/"));
  const theirs = sizes(join(site, "pagefind"));
  const index = ours.list.find((f) => f.path === "index.wasmrag");
  const { server, origin } = await serve(["--mount", `/site/=${site}`, "--mount", `/sharded/=${sharded}`]);
  try {
    const url = `${origin}/site/ch04-01-what-is-ownership.html`;
    const ready = (page) => page.waitForFunction(() => document.querySelector(".wasmrag-button"));
    // Timed in the page: open the dialog (the first time this starts the runtime), type, and
    // wait until the listbox shows new results.
    const searchDialog = (page, q) =>
        page.evaluate(async (query) => {
          const ui = document.querySelector("wasmrag-search");
          const list = ui.querySelector(".wasmrag-results");
          const before = list.textContent;
          const t0 = performance.now();
          ui.open();
          const input = ui.querySelector(".wasmrag-input");
          input.value = query;
          input.dispatchEvent(new Event("input"));
          await new Promise((resolve) => {
            const done = () => list.querySelector(".wasmrag-option") && list.textContent !== before && (observer.disconnect(), resolve());
            const observer = new MutationObserver(done);
            observer.observe(list, { childList: true, subtree: true });
          });
          return performance.now() - t0;
        }, q);
    const wasmrag = await visit(chromium, "wasmrag", url, site, "/site/", "wasmrag", ready, searchDialog);
    const wasmragSharded = await visit(chromium, "wasmrag-sharded", `${origin}/sharded/ch04-01-what-is-ownership.html`, sharded, "/sharded/", "wasmrag", ready, searchDialog);
    const pagefind = await visit(
      chromium,
      "pagefind",
      url,
      site,
      "/site/",
      "pagefind",
      () => {},
      // Timed in the page: import Pagefind (the first time), search, and load the first ten results' data.
      (page, q) =>
        page.evaluate(async (query) => {
          const t0 = performance.now();
          window.pf ??= await import("/site/pagefind/pagefind.js");
          const found = await window.pf.search(query);
          await Promise.all(found.results.slice(0, 10).map((r) => r.data()));
          return performance.now() - t0;
        }, q),
    );
    const kb = (b) => `${(b / 1e3).toFixed(0)} kB`;
    console.log(`\nsite: the Rust Book's mdBook HTML (${pages} pages), first visit in a fresh profile, ${QUERIES.length} keyword queries, served from 127.0.0.1`);
    console.log(`wasmrag bundle (models excluded): ${ours.files} files, ${kb(ours.bytes)} raw, ${kb(ours.gzip)} gzip (index ${kb(index.bytes)} raw, ${kb(index.gzip)} gzip); Pagefind: ${theirs.files} files, ${kb(theirs.bytes)} raw, ${kb(theirs.gzip)} gzip`);
    console.log(`wasmrag sharded bundle (models excluded): ${shardedSizes.files} files, ${kb(shardedSizes.bytes)} raw, ${kb(shardedSizes.gzip)} gzip (entry ${kb(entry.bytes)} raw, ${kb(entry.gzip)} gzip)`);
    console.log(`build: wasmrag ${wasmragBuild.toFixed(1)} s (embedding, with its cache), Pagefind ${pagefindBuild.toFixed(1)} s`);
    for (const [name, r] of [["wasmrag (keyword, before any model)", wasmrag], ["wasmrag sharded (keyword)", wasmragSharded], ["Pagefind", pagefind]]) {
      console.log(`${name.padEnd(38)} first results ${r.first.toFixed(0)} ms after fetching ${r.firstBytes.files} files, ${kb(r.firstBytes.bytes)} raw / ${kb(r.firstBytes.gzip)} gzip; later queries ${r.later.toFixed(1)} ms (median)`);
    }
    for (const [name, r] of [["one file", wasmrag], ["sharded", wasmragSharded]]) {
      console.log(
        `ratios (${name}): first-result bytes (gzip) ${(r.firstBytes.gzip / pagefind.firstBytes.gzip).toFixed(1)}× Pagefind's, first-query time ${(r.first / pagefind.first).toFixed(2)}×, later queries ${(r.later / pagefind.later).toFixed(2)}×`,
      );
    }
    const totals = (x) => ({ files: x.files, bytes: x.bytes, gzip: x.gzip });
    return { pages, wasmragBuild, pagefindBuild, ours: totals(ours), sharded: totals(shardedSizes), theirs: totals(theirs), wasmrag, wasmragSharded, pagefind };
  } finally {
    server.kill();
  }
}
