// The drop-in site bundle in Debian's headless Chromium, on the Rust Book's own mdBook HTML
// (its theme, sidebar and own search script) served under a base path: `wasmrag index --site`
// writes the bundle, the test inserts the three lines of HTML into each page, and a reader
// opens the dialog with Ctrl-K, gets keyword results while the embedder download is held back,
// then hybrid results, moves with the keyboard, opens a result with its words highlighted, and
// asks. axe-core checks the open dialog. The same pages with a sharded index (`--shards on`)
// show that a search fetches only the files it needs. Screenshots go to target/e2e/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { launch, serve } from "../../scripts/chromium.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const sysroot = execFileSync("rustc", ["--print", "sysroot"], { encoding: "utf8" }).trim();
const book = join(sysroot, "share/doc/rust/html/book");
const outDir = join(repo, "target/e2e");
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const PAGES = ["ch04-01-what-is-ownership.html", "ch04-02-references-and-borrowing.html", "ch08-01-vectors.html", "ch08-03-hash-maps.html", "ch15-01-box.html", "ch16-01-threads.html"];
const THREE_LINES = {
  head: '<link rel="stylesheet" href="wasmrag/wasmrag-ui.css">\n<script type="module" src="wasmrag/wasmrag-ui.js"></script>\n',
  body: "<wasmrag-search></wasmrag-search>",
};

let server;
let context;
let origin;
let site;
/** The same pages with a sharded index (`--shards on`), as a large site's bundle is. */
let shardedSite;
/** The sharded build's embedding cache, so the test can redeploy it quickly. */
let shardedCache;

/** The book's theme, fonts and images with six of its chapters, each given the three lines. */
function buildSite() {
  site = mkdtempSync(join(tmpdir(), "wasmrag-site-"));
  for (const entry of readdirSync(book)) {
    const from = join(book, entry);
    if (statSync(from).isDirectory()) {
      if (!entry.endsWith("-edition")) cpSync(from, join(site, entry), { recursive: true });
    } else if (!entry.endsWith(".html")) copyFileSync(from, join(site, entry));
  }
  for (const page of PAGES) {
    const html = readFileSync(join(book, page), "utf8");
    assert.ok(html.includes("</head>") && html.includes('<div class="right-buttons">'), `${page} is mdBook HTML`);
    writeFileSync(join(site, page), html.replace("</head>", `${THREE_LINES.head}</head>`).replace('<div class="right-buttons">', `<div class="right-buttons">${THREE_LINES.body}`));
  }
  // A copy of one chapter whose dialog keeps the site for offline visits (not indexed twice).
  const vectors = readFileSync(join(site, "ch08-01-vectors.html"), "utf8");
  writeFileSync(join(site, "offline.html"), vectors.replace("<wasmrag-search>", "<wasmrag-search offline>"));
  execFileSync(join(repo, "target/release/wasmrag"), ["--models", join(repo, "models"), "index", "--site", site, "--offline", "--exclude", "offline.html"], { stdio: "inherit" });
  shardedSite = mkdtempSync(join(tmpdir(), "wasmrag-sharded-site-"));
  cpSync(site, shardedSite, { recursive: true, filter: (from) => !from.startsWith(join(site, "wasmrag")) });
  shardedCache = join(mkdtempSync(join(tmpdir(), "wasmrag-sharded-cache-")), "embeddings.cache");
  indexSharded(["offline.html"]);
}

/** (Re)builds the sharded bundle, leaving out the pages matching `exclude`. */
function indexSharded(exclude) {
  // Two passages' vectors per file, as a host that caps files would take it.
  const args = ["--models", join(repo, "models"), "index", "--site", shardedSite, "--shards", "on", "--exact-passages", "2", "--cache", shardedCache];
  execFileSync(join(repo, "target/release/wasmrag"), [...args, ...exclude.flatMap((glob) => ["--exclude", glob])], { stdio: "inherit" });
}

before(async () => {
  mkdirSync(outDir, { recursive: true });
  buildSite();
  ({ server, origin } = await serve(["--mount", `/docs/=${site}`, "--mount", `/big/=${shardedSite}`]));
  context = await siteContext("chromium-site");
});

/** A browser context for the site, with mdBook's playground answered. */
async function siteContext(name) {
  const c = await launch(chromium, name);
  // mdBook's playground asks play.rust-lang.org for its crate list; offline, answer it empty.
  await c.route("https://play.rust-lang.org/**", (route) => route.fulfill({ status: 200, contentType: "application/json", body: '{"crates":[]}' }));
  return c;
}

after(async () => {
  await context?.close();
  server?.kill();
  if (site) rmSync(site, { recursive: true, force: true });
  if (shardedSite) rmSync(shardedSite, { recursive: true, force: true });
  if (shardedCache) rmSync(join(shardedCache, ".."), { recursive: true, force: true });
});

/** Holds back the responses to `pattern` until `release()`; `pending()` says whether one was asked for and not yet sent. */
async function hold(page, pattern) {
  let release;
  const released = new Promise((r) => (release = r));
  let asked = false;
  let sent = false;
  await page.route(pattern, async (route) => {
    asked = true;
    await released;
    sent = true;
    await route.continue();
  });
  return { release, pending: () => asked && !sent, asked: () => asked };
}

/** Holds back the embedder weights (see `hold`). */
const holdEmbedder = (page) => hold(page, "**/all-MiniLM-L6-v2/model.q8_0.gguf");

/** Holds back the main runtime's `.wasm`, the one that runs models (see `hold`). */
const holdMainRuntime = (page) => hold(page, "**/wasm/wasmrag_bg.wasm");

/** The dialog's options as the reader sees them. */
function options(page) {
  return page.$$eval(".wasmrag-option", (os) =>
    os.map((o) => ({ id: o.id, href: o.getAttribute("href"), text: o.textContent, marks: [...o.querySelectorAll("mark")].map((m) => m.textContent), sub: o.classList.contains("wasmrag-sub") })),
  );
}

test("the bundle adds keyword-then-hybrid search, highlights and answers to the Rust Book", { timeout: 900_000 }, async () => {
  const manifest = JSON.parse(readFileSync(join(site, "wasmrag/manifest.json"), "utf8"));
  assert.equal(manifest.format, "wasmrag-bundle");
  assert.ok(manifest.files.some((f) => f.path === "wasmrag-ui.js") && manifest.files.some((f) => f.path === "index.wasmrag"));

  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  const embedder = await holdEmbedder(page);
  const mainRuntime = await holdMainRuntime(page);
  await page.goto(`${origin}/docs/ch08-01-vectors.html`);
  await page.waitForFunction(() => customElements.get("wasmrag-search") && document.querySelector(".wasmrag-button"));
  assert.equal(embedder.asked(), false, "no model byte is requested before the dialog opens");

  // Ctrl-K opens the dialog (mdBook's own search keys stay with mdBook otherwise).
  await page.keyboard.press("Control+k");
  await page.waitForSelector("dialog.wasmrag-dialog[open]");
  assert.equal(await page.evaluate(() => document.activeElement?.classList.contains("wasmrag-input")), true, "focus moves to the search field");
  const opened = Date.now();
  await page.keyboard.type("hash map");
  await page.waitForSelector(".wasmrag-option");
  const firstResultsMs = Date.now() - opened;
  assert.equal(embedder.pending(), true, "keyword results arrived while the embedder download was held back");
  assert.equal(mainRuntime.pending(), true, "keyword results need only the keyword runtime's .wasm");
  const keyword = await options(page);
  assert.ok(keyword.some((o) => o.href.includes("/docs/ch08-03-hash-maps.html")), JSON.stringify(keyword.slice(0, 3)));
  assert.ok(keyword.some((o) => o.sub && o.marks.some((m) => /hash|map/i.test(m))), "sub-results mark the matched words");
  assert.match(await page.textContent(".wasmrag-status"), /Keyword/);
  console.log(`first keyword results ${firstResultsMs} ms after the dialog opened (typing included), embedder still pending`);

  embedder.release();
  mainRuntime.release();
  await page.waitForFunction(() => /Semantic/.test(document.querySelector(".wasmrag-status")?.textContent ?? ""), null, { timeout: 120_000 });
  await page.waitForSelector(".wasmrag-extract .wasmrag-option");
  const hybrid = await options(page);
  assert.ok(hybrid[0].href.startsWith(`${origin}/docs/`), "links resolve under the site's base path");
  assert.equal(await page.$$eval("dialog.wasmrag-dialog script, dialog.wasmrag-dialog img, dialog.wasmrag-dialog iframe", (n) => n.length), 0, "results are text");

  await page.addScriptTag({ path: axePath });
  const axe = await page.evaluate(async () => {
    const r = await window.axe.run(document.querySelector("dialog.wasmrag-dialog"));
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  const serious = axe.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(serious, [], JSON.stringify(axe));
  await page.screenshot({ path: join(outDir, "site-dialog.png") });

  // ↓ moves through the listbox; Enter opens the active result with its words highlighted.
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("ArrowDown");
  const active = await page.evaluate(() => {
    const input = document.querySelector(".wasmrag-input");
    const id = input.getAttribute("aria-activedescendant");
    const o = document.getElementById(id);
    return { id, selected: o?.getAttribute("aria-selected"), href: o?.getAttribute("href") };
  });
  assert.equal(active.id, hybrid[1].id);
  assert.equal(active.selected, "true");
  await Promise.all([page.waitForURL((u) => u.href === active.href), page.keyboard.press("Enter")]);
  await page.waitForSelector("main mark.wasmrag-highlight");
  const highlighted = await page.$$eval("main mark.wasmrag-highlight", (ms) => ms.map((m) => m.textContent.toLowerCase()));
  assert.ok(highlighted.every((m) => m === "hash" || m === "map"), highlighted.join(","));
  await page.screenshot({ path: join(outDir, "site-highlight.png") });

  // Ask streams a grounded answer whose citations link to its sources; Stop ends one early.
  await page.keyboard.press("Control+k");
  await page.waitForSelector("dialog.wasmrag-dialog[open]");
  await page.fill(".wasmrag-input", "How do I create a new hash map?");
  await page.waitForSelector(".wasmrag-ask:not([hidden])");
  await page.click(".wasmrag-ask");
  await page.waitForFunction(() => document.querySelector(".wasmrag-ask")?.textContent === "Ask" && document.querySelectorAll(".wasmrag-source").length > 0, null, { timeout: 600_000 });
  const answer = await page.evaluate(() => ({
    text: document.querySelector(".wasmrag-answer-text").textContent,
    cites: [...document.querySelectorAll(".wasmrag-cite")].map((a) => a.getAttribute("href")),
    sources: [...document.querySelectorAll(".wasmrag-source a")].map((a) => a.getAttribute("href")),
  }));
  assert.ok(answer.text.length > 20, answer.text);
  assert.ok(answer.sources.every((s) => s.startsWith(`${origin}/docs/`)), answer.sources.join(" "));
  assert.ok(answer.cites.every((c) => answer.sources.includes(c)), "every citation links to a listed source");
  await page.screenshot({ path: join(outDir, "site-answer.png") });
  await page.fill(".wasmrag-input", "What does Box<T> do?");
  await page.click(".wasmrag-ask");
  await page.waitForFunction(() => document.querySelector(".wasmrag-ask")?.textContent === "Stop");
  await page.click(".wasmrag-ask");
  await page.waitForFunction(() => document.querySelector(".wasmrag-ask")?.textContent === "Ask", null, { timeout: 120_000 });
  assert.deepEqual(errors, []);
});

test("with --offline, a second visit searches with the network off", { timeout: 600_000 }, async () => {
  assert.ok(statSync(join(site, "wasmrag-sw.js")).size > 0, "--offline writes the service worker at the site's root");
  const offlineContext = await siteContext("chromium-site-offline");
  try {
    const page = await offlineContext.newPage();
    const errors = [];
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${origin}/docs/offline.html`);
    await page.waitForSelector("wasmrag-search[data-offline=ready]", { timeout: 60_000 });
    const searchHashMaps = async () => {
      await page.waitForFunction(() => customElements.get("wasmrag-search") && document.querySelector(".wasmrag-button"));
      await page.keyboard.press("Control+k");
      await page.waitForSelector("dialog.wasmrag-dialog[open]");
      await page.keyboard.type("hash map");
      await page.waitForFunction(() => /Semantic/.test(document.querySelector(".wasmrag-status")?.textContent ?? ""), null, { timeout: 120_000 });
      await page.waitForSelector(".wasmrag-option");
      return options(page);
    };
    const online = await searchHashMaps();
    assert.ok(online.some((o) => o.href.includes("/docs/ch08-03-hash-maps.html")), JSON.stringify(online.slice(0, 3)));

    // Off the network: the page, its theme, the UI and the runtime come from the service
    // worker's cache, the index and the embedder from the runtime's.
    await offlineContext.setOffline(true);
    await page.reload();
    assert.ok(await page.evaluate(() => [...document.styleSheets].some((s) => s.href?.includes("/docs/css/"))), "the page's own styles load offline");
    const offline = await searchHashMaps();
    assert.ok(offline.some((o) => o.href.includes("/docs/ch08-03-hash-maps.html")), JSON.stringify(offline.slice(0, 3)));
    await page.screenshot({ path: join(outDir, "site-offline.png") });
    const unexpected = errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|Failed to fetch/.test(e));
    assert.deepEqual(unexpected, [], "no console errors other than refused network requests");
  } finally {
    await offlineContext.setOffline(false);
    await offlineContext.close();
  }
});

test("a sharded bundle fetches only the files each search needs", { timeout: 600_000 }, async () => {
  const manifest = JSON.parse(readFileSync(join(shardedSite, "wasmrag/manifest.json"), "utf8"));
  assert.equal(manifest.index, null);
  assert.equal(manifest.shards.entry, "index/entry.bin");
  assert.equal(manifest.models.generator, null, "a sharded bundle is searched only, so it carries no generator");
  const texts = readdirSync(join(shardedSite, "wasmrag/index/text")).length;
  assert.ok(texts > 4, `${texts} text fragments`);

  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  const fetched = [];
  page.on("request", (r) => /\/big\/wasmrag\/index[./]/.test(r.url()) && fetched.push(new URL(r.url()).pathname.replace("/big/wasmrag/", "")));
  const embedder = await holdEmbedder(page);
  const mainRuntime = await holdMainRuntime(page);
  await page.goto(`${origin}/big/ch08-01-vectors.html`);
  await page.waitForFunction(() => customElements.get("wasmrag-search") && document.querySelector(".wasmrag-button"));
  await page.keyboard.press("Control+k");
  await page.waitForSelector("dialog.wasmrag-dialog[open]");
  await page.keyboard.type("hash map");
  await page.waitForSelector(".wasmrag-option");
  const keyword = await options(page);
  assert.ok(keyword.some((o) => o.href.includes("/big/ch08-03-hash-maps.html")), JSON.stringify(keyword.slice(0, 3)));
  assert.equal(await page.getAttribute(".wasmrag-results", "data-retrieval"), "keyword");
  assert.equal(embedder.pending(), true, "keyword results before the embedder arrives");
  assert.equal(mainRuntime.pending(), true, "keyword results before the main runtime's .wasm arrives");
  assert.ok(fetched.includes("index/entry.bin") && fetched.some((f) => f.startsWith("index/terms/")), fetched.join(" "));
  assert.ok(!fetched.some((f) => /^index\/(vectors|exact)\//.test(f) || f === "index.wasmrag"), `keywords need no vectors: ${fetched.join(" ")}`);
  const keywordTexts = fetched.filter((f) => f.startsWith("index/text/")).length;
  assert.ok(keywordTexts > 0 && keywordTexts < texts, `${keywordTexts} of ${texts} text fragments fetched`);

  embedder.release();
  mainRuntime.release();
  await page.waitForFunction(() => /Semantic/.test(document.querySelector(".wasmrag-status")?.textContent ?? ""), null, { timeout: 120_000 });
  // The dialog searches again, hybrid: the partitions nearest the query come first.
  for (let waited = 0; !fetched.some((f) => f.startsWith("index/vectors/")); waited += 100) {
    assert.ok(waited < 60_000, `hybrid reads the partitions nearest the query: ${fetched.join(" ")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await page.waitForSelector('.wasmrag-results[data-retrieval="hybrid"] .wasmrag-option');
  const hybrid = await options(page);
  assert.ok(hybrid.some((o) => o.href.includes("/big/ch08-03-hash-maps.html")), JSON.stringify(hybrid.slice(0, 3)));
  assert.ok(fetched.some((f) => f.startsWith("index/exact/")), `hybrid re-scores with int8 vectors: ${fetched.join(" ")}`);
  assert.equal(new Set(fetched).size, fetched.length, `no file is fetched twice: ${fetched.join(" ")}`);
  assert.equal(await page.isHidden(".wasmrag-ask"), true, "no Ask action without a generator");
  await page.screenshot({ path: join(outDir, "site-sharded.png") });

  // The API: a damaged file is refused with its code and nothing is kept, so the same search
  // works once the file is whole again; answers and exports need a one-file index.
  await page.route("**/big/wasmrag/index/text/**", (route) => route.fulfill({ status: 200, contentType: "application/octet-stream", body: "WASMRAGX garbage" }));
  const api = await page.evaluate(async () => {
    const { createRag } = await import("/big/wasmrag/index.js");
    const rag = await createRag({ shards: "/big/wasmrag/index/entry.bin", loadEmbedder: "later" });
    const code = (p) => p.then(() => "none", (e) => e.code);
    const damaged = await code(rag.search("threads spawn", { k: 3 }));
    globalThis.shardedRag = rag;
    // What the runtime's cache kept of the text fragments: none of it the damaged bytes. (The
    // --offline bundle's service worker, at this origin's root, keeps pages under it as they
    // come; the runtime's own files it leaves alone only inside its own bundle.)
    const kept = [];
    const cache = await caches.open("wasmrag-v1");
    for (const request of await cache.keys()) {
      if (request.url.includes("/index/text/")) kept.push(new TextDecoder().decode((await (await cache.match(request)).arrayBuffer()).slice(0, 16)));
    }
    return { damaged, info: rag.info, kept };
  });
  await page.unroute("**/big/wasmrag/index/text/**");
  const after = await page.evaluate(async () => {
    const rag = globalThis.shardedRag;
    const code = (p) => p.then(() => "none", (e) => e.code);
    const hits = await rag.search("threads spawn", { k: 3 });
    await rag.loadEmbedder();
    const hybrid = await rag.search("How do I start a new thread?", { k: 3 });
    const asked = await (async () => {
      try {
        for await (const event of rag.ask("How do I spawn a thread?")) void event;
        return "none";
      } catch (e) {
        return e.code;
      }
    })();
    const exported = await code(rag.exportIndex());
    rag.terminate();
    return { url: hits[0]?.url, retrieval: hits[0]?.retrieval, hybrid: hybrid.map((h) => [h.url, h.retrieval, h.cosine]), asked, exported };
  });
  assert.equal(api.damaged, "index_corrupt");
  assert.ok(!api.kept.includes("WASMRAGX garbage"), `a refused file is not cached: ${api.kept.join(" | ")}`);
  assert.equal(api.info.sharded, true);
  const exact = readdirSync(join(shardedSite, "wasmrag/index/exact")).length;
  assert.equal(exact, Math.ceil(api.info.passages / 2), `${exact} vectors files for ${api.info.passages} passages, two per file`);
  assert.equal(api.info.retrieval, "keyword");
  assert.match(after.url, /ch16-01-threads\.html/);
  assert.equal(after.retrieval, "keyword");
  assert.match(after.hybrid[0][0], /ch16-01-threads\.html/, JSON.stringify(after.hybrid));
  assert.ok(after.hybrid.every(([, retrieval, cosine]) => retrieval === "hybrid" && cosine > 0), JSON.stringify(after.hybrid));
  assert.deepEqual([after.asked, after.exported], ["invalid_state", "invalid_state"]);

  // A redeploy while the page is open: the site is rebuilt without the vectors chapter, so the
  // next search meets a file of the new build. The worker reads the entry again and searches
  // the new build (files of two builds are never mixed; their URLs name the build).
  await page.evaluate(async () => {
    const { createRag } = await import("/big/wasmrag/index.js");
    globalThis.redeployed = await createRag({ shards: "/big/wasmrag/index/entry.bin", loadEmbedder: "later" });
  });
  indexSharded(["offline.html", "ch08-01-vectors.html"]);
  const entriesBefore = fetched.filter((f) => f === "index/entry.bin").length;
  const redeployed = await page.evaluate(async () => {
    const rag = globalThis.redeployed;
    const hits = await rag.search("vectors threads spawn", { k: 10 });
    const again = await rag.search("store values in a vector", { k: 10 });
    // The cached files of the old build are deleted (after the search, not awaited by it).
    let builds = [];
    for (let waited = 0; waited < 10_000; waited += 100) {
      const keys = await (await caches.open("wasmrag-v1")).keys();
      builds = [...new Set(keys.map((r) => new URL(r.url).searchParams.get("build")).filter(Boolean))];
      if (builds.length === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    rag.terminate();
    return { urls: [...hits, ...again].map((h) => h.url), builds };
  });
  assert.equal(fetched.filter((f) => f === "index/entry.bin").length, entriesBefore + 1, "the entry is read again once");
  assert.ok(redeployed.urls.some((u) => /ch16-01-threads\.html/.test(u)), JSON.stringify(redeployed.urls));
  assert.ok(!redeployed.urls.some((u) => /ch08-01-vectors\.html/.test(u)), `the new build has no vectors chapter: ${JSON.stringify(redeployed.urls)}`);
  assert.equal(redeployed.builds.length, 1, `cached shard files of one build only: ${redeployed.builds}`);
  assert.deepEqual(errors, []);
});
