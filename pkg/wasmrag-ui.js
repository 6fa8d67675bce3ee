// <wasmrag-search>: a search button and dialog for any static site, over the bundle that
// `wasmrag index --site DIR` writes beside this file. Keyword results come as soon as the
// index is loaded (no model byte needed); the page reads the bundle's 3 kB manifest when idle,
// a pointer on the button (or focus on it) starts the keyword runtime, the embedder is fetched
// when the dialog first opens (or on idle), and results are re-ranked as hybrid once it is ready. The extractive answer
// shows on top; Ask streams a grounded answer with numbered citations. Every string is
// replaceable, every text is inserted as text, and the dialog follows the ARIA combobox and
// listbox patterns. The same script marks the searched words on the page a result opens.
import { createRag } from "./index.js";

/** The texts the UI shows; replace any of them with `element.strings = {...}` or a `strings` attribute (JSON). */
export const DEFAULT_STRINGS = {
  button: "Search",
  shortcut: "Ctrl K",
  dialogLabel: "Search this site",
  placeholder: "Search the docs",
  close: "Close",
  loadingModel: "Keyword results; loading the semantic model… {percent}%",
  keyword: "Keyword results",
  hybrid: "Semantic and keyword results",
  noResults: "No results for “{query}”.",
  failed: "Search failed: {message}",
  extract: "Best match",
  ask: "Ask",
  askLabel: "Ask about “{query}”",
  stop: "Stop",
  loadingGenerator: "Loading the answer model… {percent}%",
  thinking: "Reading the sources…",
  notFound: "The documents do not contain an answer to this question.",
  fellBack: "The generated answer was not supported by the sources; this is the best matching sentence.",
  sources: "Sources",
  results: "Results",
};

/** Name of the URL parameter that carries the searched words to the page a result opens. */
export const HIGHLIGHT_PARAM = "wasmrag-highlight";

/** How long the typing must pause before the extract (the costlier part of a search) is asked for. */
const EXTRACT_PAUSE_MS = 150;

const bundle = new URL("./", import.meta.url);
let instance = null;

/** Replaces `{name}` in `text` with `values.name`. */
function format(text, values) {
  return text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

/** An element with a class and, optionally, text (always as text) and attributes. */
function el(tag, className, text, attrs = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** Appends `text` to `parent` with the UTF-16 `ranges` wrapped in <mark>. */
function marked(parent, text, ranges) {
  let at = 0;
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (start < at) continue;
    parent.append(text.slice(at, start), el("mark", null, text.slice(start, end)));
    at = end;
  }
  parent.append(text.slice(at));
  return parent;
}

/** The words of a query worth highlighting on the opened page. */
function queryWords(query) {
  return [...new Set(query.toLowerCase().split(/[^\p{L}\p{N}_]+/u).filter((w) => w.length > 1))];
}

let manifestRead = null;

/** The bundle's manifest, read once (3 kB; the page reads it when idle, before any dialog opens). */
function readManifest() {
  if (!manifestRead) {
    const read = fetch(new URL("manifest.json", bundle)).then((response) => {
      if (!response.ok) throw new Error(`manifest.json: HTTP ${response.status}`);
      return response.json();
    });
    manifestRead = read;
    // A failed read is tried again by the next caller.
    read.catch(() => manifestRead === read && (manifestRead = null));
  }
  return manifestRead;
}

/** Reads the bundle's manifest and starts the runtime with keyword search only. */
async function start(onProgress) {
  const manifest = await readManifest();
  if (manifest.format !== "wasmrag-bundle" || manifest.version !== 1) throw new Error("manifest.json is not a wasmrag bundle this version can read; rebuild it");
  const asset = (a) => a && { url: new URL(a.url, bundle).href, sha256: a.sha256, bytes: a.bytes };
  const { embedder, generator } = manifest.models;
  const listed = (path) => asset({ ...manifest.files.find((f) => f.path === path), url: path });
  // A sharded index (a large site) is searched only: it has no answers.
  const sharded = Boolean(manifest.shards);
  const rag = await createRag({
    ...(sharded ? { shards: listed(manifest.shards.entry) } : { index: listed(manifest.index) }),
    embedder: { weights: asset(embedder.weights), config: asset(embedder.config), tokenizer: asset(embedder.tokenizer) },
    generator: asset(generator) ?? undefined,
    loadEmbedder: "later",
    onProgress,
  });
  return { rag, canAsk: Boolean(generator) && !sharded };
}

/** The shared runtime of the page (one per page, whatever the number of search elements). */
function runtime() {
  if (!instance) {
    const listeners = new Set();
    const started = start((event) => listeners.forEach((f) => f(event)));
    // A failed start (manifest or index unreachable) is reported by whoever waits for it, if
    // anyone (a pointer on the button only warms up), and the next call starts afresh.
    started.catch(() => instance?.started === started && (instance = null));
    let embedder = null;
    instance = {
      listeners,
      started,
      /** Loads the embedder once (again after a failure); resolves when searches are hybrid. */
      embedder() {
        if (!embedder) {
          const loading = started.then(({ rag }) => rag.loadEmbedder());
          embedder = loading;
          loading.catch(() => embedder === loading && (embedder = null));
        }
        return embedder;
      },
    };
  }
  return instance;
}

let nextId = 0;

/** `<wasmrag-search>`: attributes `load-embedder` ("open", the default, "idle" or "now"), `results` (default 10), `no-ask`, `strings` (JSON). */
export class WasmragSearch extends HTMLElement {
  #strings = { ...DEFAULT_STRINGS };
  #id = `wasmrag-${++nextId}`;
  #dialog;
  #input;
  #list;
  #status;
  #answer;
  #askButton;
  #options = [];
  /** The extract of the newest search, aborted when the visitor types on. */
  #extracting = null;
  #active = -1;
  #query = "";
  #generation = 0;
  #asking = null;
  #hybrid = false;
  #canAsk = false;
  #warmed = false;
  #onKey = (e) => this.#shortcut(e);

  /** Replaces some or all of the UI's strings (see `DEFAULT_STRINGS`). */
  set strings(values) {
    this.#strings = { ...DEFAULT_STRINGS, ...values };
    if (this.isConnected) this.#render();
  }

  get strings() {
    return { ...this.#strings };
  }

  connectedCallback() {
    const attr = this.getAttribute("strings");
    if (attr) this.#strings = { ...this.#strings, ...JSON.parse(attr) };
    this.#render();
    window.addEventListener("keydown", this.#onKey, true);
    const when = this.getAttribute("load-embedder") ?? "open";
    if (when === "now") this.#warm();
    (window.requestIdleCallback ?? setTimeout)(() => (when === "idle" ? this.#warm() : readManifest().catch(() => {})));
    if (this.hasAttribute("offline")) this.#keepOffline();
  }

  /**
   * With the `offline` attribute: registers the service worker that `wasmrag index --site DIR
   * --offline` puts at the site's root, and hands it what this page loaded before it ran, so
   * a second visit works with the network off. Sets `data-offline="ready"` once it is kept.
   */
  async #keepOffline() {
    if (!("serviceWorker" in navigator)) return;
    const root = new URL("../", bundle);
    try {
      await navigator.serviceWorker.register(new URL("wasmrag-sw.js", root), { scope: root.pathname });
      const { active } = await navigator.serviceWorker.ready;
      navigator.serviceWorker.addEventListener("message", ({ data }) => {
        if (data?.type === "wasmrag-kept") this.dataset.offline = "ready";
      });
      navigator.serviceWorker.startMessages();
      const loaded = performance.getEntriesByType("resource").map((e) => e.name);
      active?.postMessage({ type: "wasmrag-keep", urls: [location.href, ...loaded].filter((u) => u.startsWith(root.href)) });
    } catch (err) {
      console.warn(`wasmrag: no offline support (${err.message})`);
    }
  }

  disconnectedCallback() {
    window.removeEventListener("keydown", this.#onKey, true);
  }

  /** Opens the dialog (as `/` and Ctrl/⌘-K do). */
  open() {
    if (!this.#dialog.open) this.#dialog.showModal();
    this.#input.focus();
    this.#input.select();
    this.#warm();
  }

  /** Closes the dialog and stops an answer being written. */
  close() {
    this.#asking?.abort();
    if (this.#dialog.open) this.#dialog.close();
  }

  #render() {
    const s = this.#strings;
    this.replaceChildren();
    const button = el("button", "wasmrag-button", null, { type: "button", "aria-haspopup": "dialog", "aria-keyshortcuts": "Control+K Meta+K /" });
    button.append(el("span", "wasmrag-button-label", s.button), el("kbd", "wasmrag-kbd", s.shortcut));
    button.addEventListener("click", () => this.open());
    // A pointer on the button or focus on it starts the keyword runtime (no model), so the
    // dialog that follows has results sooner; the embedder still waits for the dialog.
    for (const intent of ["pointerenter", "focus"]) button.addEventListener(intent, () => runtime(), { once: true });
    const dialog = el("dialog", "wasmrag-dialog", null, { "aria-label": s.dialogLabel });
    const bar = el("div", "wasmrag-bar");
    const listId = `${this.#id}-list`;
    const input = el("input", "wasmrag-input", null, {
      type: "search",
      role: "combobox",
      "aria-autocomplete": "list",
      "aria-expanded": "false",
      "aria-controls": listId,
      "aria-label": s.placeholder,
      placeholder: s.placeholder,
      autocomplete: "off",
      spellcheck: "false",
    });
    const close = el("button", "wasmrag-close", s.close, { type: "button" });
    close.addEventListener("click", () => this.close());
    bar.append(input, close);
    const status = el("p", "wasmrag-status", null, { role: "status", "aria-live": "polite" });
    const answer = el("section", "wasmrag-answer", null, { "aria-live": "polite", hidden: "" });
    const askButton = el("button", "wasmrag-ask", s.ask, { type: "button", hidden: "" });
    askButton.addEventListener("click", () => (this.#asking ? this.#asking.abort() : this.#ask()));
    const list = el("div", "wasmrag-results", null, { id: listId, role: "listbox", "aria-label": s.results });
    dialog.append(bar, status, askButton, answer, list);
    dialog.addEventListener("close", () => this.#asking?.abort());
    dialog.addEventListener("click", (e) => e.target === dialog && this.close());
    input.addEventListener("input", () => this.#search(input.value));
    input.addEventListener("keydown", (e) => this.#navigate(e));
    this.append(button, dialog);
    this.#dialog = dialog;
    this.#input = input;
    this.#list = list;
    this.#status = status;
    this.#answer = answer;
    this.#askButton = askButton;
  }

  /** `/` (outside text fields) and Ctrl/⌘-K open the dialog, before the page's own handlers. */
  #shortcut(e) {
    const typing = e.target instanceof HTMLElement && (e.target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName));
    const k = (e.key === "k" || e.key === "K") && (e.ctrlKey || e.metaKey);
    if (k || (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey)) {
      e.preventDefault();
      e.stopPropagation();
      this.open();
    }
  }

  /** Says that loading failed; the dialog's next opening tries again. */
  #failed(err) {
    this.#warmed = false;
    this.#say(format(this.#strings.failed, { message: err.message }));
  }

  /** Starts the runtime and the embedder download; results turn hybrid when it is ready. */
  #warm() {
    if (this.#warmed) return;
    this.#warmed = true;
    const rt = runtime();
    rt.listeners.add(this.#progress);
    rt.started.then(
      ({ canAsk }) => {
        this.#canAsk = canAsk && !this.hasAttribute("no-ask");
        if (!this.#hybrid) this.#say(this.#strings.keyword);
        this.#askButtonState();
      },
      (err) => this.#failed(err),
    );
    rt.embedder().then(
      () => {
        this.#hybrid = true;
        this.#say(this.#strings.hybrid);
        if (this.#query) this.#search(this.#query);
      },
      (err) => this.#failed(err),
    );
  }


  #progress = (event) => {
    const overall = event.overall ?? event;
    const percent = overall.total ? Math.floor((100 * overall.loaded) / overall.total) : 0;
    if (/embedder|tokenizer|config/.test(event.file) && !this.#hybrid) this.#say(format(this.#strings.loadingModel, { percent }));
    if (event.file === "generator" && this.#asking) this.#say(percent < 100 ? format(this.#strings.loadingGenerator, { percent }) : this.#strings.thinking);
  };

  #say(text) {
    this.#status.textContent = text;
  }

  #askButtonState() {
    const b = this.#askButton;
    b.hidden = !this.#canAsk || !this.#query.trim();
    b.textContent = this.#asking ? this.#strings.stop : this.#strings.ask;
    b.setAttribute("aria-label", this.#asking ? this.#strings.stop : format(this.#strings.askLabel, { query: this.#query.trim() }));
  }

  async #search(query) {
    this.#query = query;
    const generation = ++this.#generation;
    this.#extracting?.abort();
    this.#askButtonState();
    if (!query.trim()) return this.#show([], query);
    const { rag } = await runtime().started;
    const k = Number(this.getAttribute("results") ?? 10);
    try {
      const hits = await rag.search(query, { k });
      if (generation !== this.#generation) return;
      this.#show(hits, query);
      // A sharded index has no extract (see createRag's `shards`).
      if (!this.#hybrid || !hits.length || rag.info?.sharded) return;
      // The extract embeds sentences (half a second): it waits for a pause in the typing and
      // is dropped if the visitor types on.
      const extracting = (this.#extracting = new AbortController());
      await new Promise((resolve) => setTimeout(resolve, EXTRACT_PAUSE_MS));
      if (extracting.signal.aborted) return;
      const { extract } = await rag.searchExtract(query, { k, signal: extracting.signal });
      if (generation === this.#generation && extract) this.#showExtract(extract, query);
    } catch (err) {
      if (generation === this.#generation && err.code !== "aborted") this.#say(format(this.#strings.failed, { message: err.message }));
    }
  }

  /** Where a hit's `url` (relative to the site root) points, carrying the words to highlight. */
  #link(url, query) {
    const target = new URL(url, new URL("../", bundle));
    const words = queryWords(query);
    if (words.length) target.searchParams.set(HIGHLIGHT_PARAM, words.join(" "));
    return target.href;
  }

  /** A result the arrow keys move through. */
  #option(href, id, build) {
    const a = el("a", "wasmrag-option", null, { href, role: "option", id, "aria-selected": "false", tabindex: "-1" });
    build(a);
    return a;
  }

  /** Renders the results grouped by page, sub-results per heading. */
  #show(hits, query) {
    const s = this.#strings;
    this.#list.replaceChildren();
    // How the results shown were ranked ("keyword" or "hybrid"), for styles and tests.
    this.#list.dataset.retrieval = hits[0]?.retrieval ?? "";
    this.#options = [];
    this.#active = -1;
    this.#input.removeAttribute("aria-activedescendant");
    this.#input.setAttribute("aria-expanded", String(hits.length > 0));
    if (!this.#asking) this.#answer.hidden = true;
    if (query.trim() && !hits.length) this.#list.append(el("p", "wasmrag-empty", format(s.noResults, { query })));
    const option = (href, build) => {
      const a = this.#option(href, `${this.#id}-o${this.#options.length}`, build);
      this.#options.push(a);
      return a;
    };
    const pages = new Map();
    for (const hit of hits) {
      const page = hit.url.split("#")[0];
      if (!pages.has(page)) pages.set(page, []);
      pages.get(page).push(hit);
    }
    let g = 0;
    for (const [page, group] of pages) {
      const labelId = `${this.#id}-g${g++}`;
      const box = el("div", "wasmrag-page", null, { role: "group", "aria-labelledby": labelId });
      box.append(
        option(this.#link(page, query), (a) => {
          a.classList.add("wasmrag-page-title");
          a.id = labelId;
          a.textContent = group[0].title || page;
        }),
      );
      for (const hit of group) {
        box.append(
          option(this.#link(hit.url, query), (a) => {
            a.classList.add("wasmrag-sub");
            // The page's own title heads the group, so a sub-result names only the headings below it.
            const path = hit.headings.length > 1 ? hit.headings.slice(1) : hit.headings;
            a.append(el("span", "wasmrag-heading", path.join(" › ") || hit.title || page));
            a.append(marked(el("span", "wasmrag-snippet"), hit.snippet.text, hit.snippet.highlights));
          }),
        );
      }
      this.#list.append(box);
    }
    if (hits.length) this.#say(this.#hybrid ? s.hybrid : s.keyword);
  }

  /** Puts the extract above the results shown, keeping the option the visitor is on. */
  #showExtract(extract, query) {
    const s = this.#strings;
    const box = el("div", "wasmrag-extract", null, { role: "group", "aria-label": s.extract });
    const a = this.#option(this.#link(extract.url, query), `${this.#id}-x${this.#generation}`, (a) => {
      a.append(el("span", "wasmrag-extract-label", s.extract), el("span", "wasmrag-extract-text", extract.text), el("span", "wasmrag-extract-context", extract.context));
    });
    box.append(a);
    this.#list.prepend(box);
    this.#options.unshift(a);
    if (this.#active >= 0) this.#active++;
  }

  #select(i) {
    this.#options[this.#active]?.setAttribute("aria-selected", "false");
    this.#active = i;
    const o = this.#options[i];
    if (!o) return this.#input.removeAttribute("aria-activedescendant");
    o.setAttribute("aria-selected", "true");
    this.#input.setAttribute("aria-activedescendant", o.id);
    o.scrollIntoView({ block: "nearest" });
  }

  /** ↑/↓ move through the results, Enter opens one (Esc closes the dialog natively). */
  #navigate(e) {
    const n = this.#options.length;
    if (e.key === "ArrowDown" && n) {
      e.preventDefault();
      this.#select((this.#active + 1) % n);
    } else if (e.key === "ArrowUp" && n) {
      e.preventDefault();
      this.#select((this.#active - 1 + n) % n);
    } else if (e.key === "Enter") {
      e.preventDefault();
      const o = this.#options[Math.max(this.#active, 0)];
      if (o) window.location.assign(o.href);
    }
  }

  /** Streams a grounded answer to the query, with numbered citations linking to the sources. */
  async #ask() {
    const s = this.#strings;
    const query = this.#query.trim();
    if (!query) return;
    const controller = new AbortController();
    this.#asking = controller;
    this.#askButtonState();
    const answer = this.#answer;
    answer.hidden = false;
    const text = el("p", "wasmrag-answer-text");
    const sourceList = el("ol", "wasmrag-sources", null, { "aria-label": s.sources });
    answer.replaceChildren(text, sourceList);
    this.#say(s.thinking);
    let sources = [];
    try {
      const { rag } = await runtime().started;
      for await (const event of rag.ask(query, { signal: controller.signal })) {
        if (event.sources) {
          sources = event.sources;
          this.#renderSources(sourceList, sources, query);
          if (!event.found) text.textContent = s.notFound;
        } else if (event.token) {
          text.append(event.token);
        } else if (event.done) {
          this.#renderAnswer(text, event, query);
          this.#renderSources(sourceList, event.sources, query);
          this.#say(event.stats?.grounding?.fellBack ? s.fellBack : this.#hybrid ? s.hybrid : s.keyword);
        }
      }
    } catch (err) {
      this.#say(format(s.failed, { message: err.message }));
    } finally {
      if (this.#asking === controller) this.#asking = null;
      this.#askButtonState();
    }
  }

  #renderSources(list, sources, query) {
    list.replaceChildren(
      ...sources.map((src) => {
        const li = el("li", "wasmrag-source", null, { id: `${this.#id}-s${src.n}` });
        li.append(el("a", null, [src.title, ...src.headings].filter(Boolean).join(" › ") || src.url, { href: this.#link(src.url, query) }));
        return li;
      }),
    );
  }

  /** The final answer as text, its `[n]` markers as links to source n. */
  #renderAnswer(node, answer, query) {
    node.replaceChildren();
    const text = answer.found ? answer.answer : this.#strings.notFound;
    const byN = new Map(answer.sources.map((src) => [src.n, src]));
    let at = 0;
    for (const m of text.matchAll(/\[(\d+)\]/g)) {
      const src = byN.get(Number(m[1]));
      if (!src) continue;
      node.append(text.slice(at, m.index), el("a", "wasmrag-cite", `[${src.n}]`, { href: this.#link(src.url, query), "aria-label": `${this.#strings.sources} ${src.n}: ${src.title}` }));
      at = m.index + m[0].length;
    }
    node.append(text.slice(at));
  }
}

/** Marks the words a search result was opened with (the `wasmrag-highlight` parameter) on this page. */
export function highlightPage(root = document.querySelector("main") ?? document.body) {
  const words = new URLSearchParams(window.location.search).get(HIGHLIGHT_PARAM);
  if (!words || !root) return 0;
  const escaped = words
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (!escaped.length) return 0;
  const pattern = new RegExp(`(${escaped.join("|")})`, "giu");
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => (n.parentElement?.closest("script,style,noscript,textarea,wasmrag-search,mark") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  let count = 0;
  for (const node of nodes) {
    const parts = node.data.split(pattern);
    if (parts.length < 2) continue;
    const frag = document.createDocumentFragment();
    parts.forEach((part, i) => {
      if (i % 2) {
        frag.append(el("mark", "wasmrag-highlight", part));
        count++;
      } else if (part) frag.append(part);
    });
    node.replaceWith(frag);
  }
  return count;
}

if (!customElements.get("wasmrag-search")) customElements.define("wasmrag-search", WasmragSearch);
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => highlightPage(), { once: true });
else highlightPage();
