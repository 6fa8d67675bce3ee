// The demo page: search the Rust Book and stream answers with citations. Every piece of
// document or model text is inserted with textContent / text nodes, never as HTML.
import { createRag } from "./pkg/index.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const indexUrl = params.get("index") ?? "./rust-book.idx";
/** Where answers are generated: "auto" (default), "webgpu" or "cpu" (`?backend=`). */
const backend = params.get("backend") ?? "auto";
/** Answer options from the URL, for trying settings without editing code (`?sources=1&evidence=2&maxTokens=24`);
 * anything but a positive whole number is ignored. */
const askOptions = Object.fromEntries(
  ["sources", "evidence", "maxTokens"].map((name) => [name, Number(params.get(name))]).filter(([, n]) => Number.isInteger(n) && n > 0),
);
let rag = null;
let controller = null;

const mb = (n) => (n / 1e6).toFixed(1);
const ms = (n) => (n == null ? "—" : `${Math.round(n)} ms`);

function status(text, isError = false) {
  $("status-text").textContent = text;
  $("status-text").className = isError ? "error" : "";
}

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

/** The snippet as text nodes with <mark> around the matched ranges (UTF-16 indices). */
function highlighted(snippet) {
  const parts = [];
  let at = 0;
  for (const [start, end] of snippet.highlights) {
    if (start < at) continue;
    parts.push(snippet.text.slice(at, start), el("mark", { textContent: snippet.text.slice(start, end) }));
    at = end;
  }
  parts.push(snippet.text.slice(at));
  return parts;
}

function pathOf(hit) {
  const title = hit.title.replace(/ - The Rust Programming Language$/, "");
  const rest = hit.headings.filter((h) => h !== title);
  return [title, ...rest].join(" › ");
}

function showResults(hits) {
  $("results-section").hidden = false;
  $("results").replaceChildren(
    ...hits.map((hit) =>
      el("li", {}, [
        el("a", { href: `/book/${hit.url}`, textContent: pathOf(hit), className: "result-link" }),
        el("div", { className: "path", textContent: hit.url }),
        el("p", { className: "snippet" }, highlighted(hit.snippet)),
      ]),
    ),
  );
}

/** Text with each valid written [n] turned into a link to source n. */
function linkWritten(text, sources) {
  const nodes = [];
  let at = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const n = Number(match[1]);
    if (!sources.some((s) => s.n === n)) continue;
    nodes.push(text.slice(at, match.index), el("a", { href: `#source-${n}`, className: "cite", textContent: match[0] }));
    at = match.index + match[0].length;
  }
  nodes.push(text.slice(at));
  return nodes;
}

/** The answer with written [n] linked and an attributed [n] after each sentence that resembles source n. */
function renderAnswer(text, sources, citations) {
  const nodes = [];
  let at = 0;
  for (const c of [...citations].sort((a, b) => a.end - b.end)) {
    if (c.end < at) continue;
    const sentence = text.slice(at, c.end);
    nodes.push(...linkWritten(sentence, sources));
    at = c.end;
    // A sentence that already cites this source in writing gets no second marker.
    const marker = `[${c.source}]`;
    if (sentence.trimEnd().endsWith(marker) || text.slice(c.end).trimStart().startsWith(marker)) continue;
    nodes.push(el("a", {
      href: `#source-${c.source}`,
      className: "cite attributed",
      textContent: `[${c.source}]`,
      title: `This sentence resembles source ${c.source} (cosine ${c.cosine.toFixed(2)})`,
    }));
  }
  nodes.push(...linkWritten(text.slice(at), sources));
  $("answer").replaceChildren(...nodes);
}

/** Characters of passage shown on each side of the extract. */
const AROUND = 160;

/**
 * The extractive answer, shown as soon as the passages are known: its page and heading, then
 * the sentence marked inside its passage (a window around it), and a link to its source.
 * `passages` are the hits or sources, `extract.source` numbering them from 1. Text only.
 */
function showExtract(id, extract, passages) {
  const passage = extract && passages[extract.source - 1]?.text;
  if (!extract || passage === undefined) {
    $(id).replaceChildren();
    return;
  }
  const from = Math.max(0, extract.start - AROUND);
  const to = Math.min(passage.length, extract.end + AROUND);
  $(id).replaceChildren(
    el("span", { className: "path", textContent: `${extract.context} ` }),
    `${from > 0 ? "…" : ""}${passage.slice(from, extract.start)}`,
    el("mark", { textContent: passage.slice(extract.start, extract.end) }),
    `${passage.slice(extract.end, to)}${to < passage.length ? "…" : ""} `,
    el("a", { href: `#source-${extract.source}`, className: "cite", textContent: `[${extract.source}]` }),
  );
}

function showSources(sources) {
  $("sources").replaceChildren(
    ...sources.map((s) =>
      el("li", { id: `source-${s.n}`, value: s.n }, [
        el("a", { href: `/book/${s.url}`, textContent: pathOf(s), className: "source-link" }),
        el("span", { className: "path", textContent: ` ${s.url}${s.cited ? " · cited" : ""}` }),
      ]),
    ),
  );
}

function busy(on) {
  for (const id of ["query", "search-button", "ask-button"]) $(id).disabled = on;
  $("stop-button").hidden = !on;
}

/** Shows where search and answers run; the reason when WebGPU was wanted but not used. */
function showBackend(stats) {
  const answers = stats.backend === "webgpu" ? `WebGPU (${stats.adapter})` : "CPU (WebAssembly SIMD)";
  $("backend").textContent = `search: CPU (WebAssembly SIMD) · answers: ${answers}`;
  $("backend").title = stats.gpuError ?? stats.fallbackReason ?? "";
  document.body.dataset.generatorBackend = stats.backend;
}

/** Shows the worker's WebAssembly memory (its peak: wasm memory never shrinks). */
async function showMemory() {
  const { wasmBytes } = await rag.memory();
  $("memory").textContent = `${mb(wasmBytes)} MB`;
  document.body.dataset.wasmMemory = String(wasmBytes);
}

/** The extract of the search on screen, aborted when a newer search starts. */
let extracting = null;

async function search(event) {
  event.preventDefault();
  const query = $("query").value.trim();
  if (!query) return;
  extracting?.abort();
  const current = (extracting = new AbortController());
  const t0 = performance.now();
  try {
    // The hits first; the extract (sentences embedded, half a second) follows. Until the
    // embedder is loaded, searches rank by keywords alone and have no extract.
    const keyword = rag.info.retrieval === "keyword";
    const hits = await rag.search(query, { k: 8 });
    $("retrieval-ms").textContent = ms(performance.now() - t0);
    $("answer-section").hidden = true;
    showResults(hits);
    showExtract("results-extract", null, hits);
    status(keyword ? `${hits.length} keyword results` : `${hits.length} results`);
    if (!keyword) {
      document.body.dataset.extract = "pending";
      const found = await rag.searchExtract(query, { k: 8, signal: current.signal });
      if (current.signal.aborted) return;
      showResults(found.hits);
      showExtract("results-extract", found.extract, found.hits);
      document.body.dataset.extract = found.extract ? "shown" : "none";
    }
    await showMemory();
  } catch (err) {
    if (err.code !== "aborted") status(err.message, true);
  }
}

async function ask() {
  const question = $("query").value.trim();
  if (!question) return;
  busy(true);
  controller = new AbortController();
  $("answer-section").hidden = false;
  $("results-section").hidden = true;
  $("answer").replaceChildren();
  $("extract").replaceChildren();
  $("sources").replaceChildren();
  $("answer-section").dataset.state = "streaming";
  let text = "";
  try {
    if (!rag.generatorReady) status("Loading the answer model…");
    for await (const event of rag.ask(question, { ...askOptions, signal: controller.signal })) {
      if (event.done) {
        renderAnswer(event.answer, event.sources, event.citations);
        showSources(event.sources);
        $("ttft").textContent = ms(event.stats.timeToFirstTokenMs);
        showBackend(event.stats);
        $("speed").textContent = event.stats.tokensPerSecond == null ? "—" : `${event.stats.tokensPerSecond.toFixed(1)} tok/s`;
        status(event.stats.cancelled ? "Stopped" : event.found ? "Answered" : "The documents do not contain an answer");
      } else if (event.token !== undefined) {
        text += event.token;
        $("answer").textContent = text;
      } else if (event.sources) {
        rag.generatorReady = true;
        status(event.found ? "Answering…" : "Nothing relevant found");
        showSources(event.sources);
        showExtract("extract", event.extract, event.sources);
        $("retrieval-ms").textContent = ms(event.retrievalMs);
      }
    }
    await showMemory();
    $("answer-section").dataset.state = "done";
  } catch (err) {
    status(err.message, true);
    $("answer-section").dataset.state = "error";
  } finally {
    busy(false);
  }
}

function onProgress(p) {
  const overall = p.overall ?? p;
  if (overall.total) $("progress").value = overall.loaded / overall.total;
  const source = p.fromCache ? " (from cache)" : "";
  status(p.file === "indexing" ? `Indexing: ${p.stage} ${p.done}/${p.total}` : `Loading ${p.file}: ${mb(p.loaded)} / ${mb(p.total)} MB${source}`);
}

async function main() {
  if ("serviceWorker" in navigator) {
    await navigator.serviceWorker.register("./sw.js").catch((err) => console.warn("offline support unavailable:", err.message));
  }
  // Keyword search is ready as soon as the index is loaded; the embedder follows.
  const t0 = performance.now();
  try {
    rag = await createRag({ index: indexUrl, onProgress, backend, loadEmbedder: "later" });
  } catch (err) {
    status(`Could not start: ${err.message}`, true);
    return;
  }
  $("backend").textContent = rag.info.backend === "wasm-simd" ? "CPU (WebAssembly SIMD)" : rag.info.backend;
  $("passages").textContent = rag.info.passages.toLocaleString("en");
  document.body.dataset.keywordReady = "true";
  busy(false);
  $("query").focus();
  status(`Keyword search ready in ${ms(performance.now() - t0)}; loading the embedding model…`);
  try {
    await rag.loadEmbedder();
  } catch (err) {
    status(`Semantic search unavailable (keyword results only): ${err.message}`, true);
    return;
  }
  $("progress").value = 1;
  status(`Ready in ${ms(performance.now() - t0)}: search, or ask a question`);
  document.body.dataset.ready = "true";
}

$("query-form").addEventListener("submit", search);
$("ask-button").addEventListener("click", ask);
$("stop-button").addEventListener("click", () => controller?.abort());
main();
