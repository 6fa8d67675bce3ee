// The browser runtime under stress, in Debian's headless Chromium: error codes, calls that race
// each other in the worker, and recovery after a WebAssembly trap. Documents are indexed in the
// page (small made-up pages), and answers are short, so the real models run but briefly.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { launch, serve } from "../../scripts/chromium.mjs";

const DOCS = [
  {
    url: "/docs/lighthouse.md",
    text: "# The Brightwater Lighthouse\n\nThe Brightwater Lighthouse was built in 1874 on the northern cliffs of Carrow Bay. Its lamp could be seen from 22 nautical miles away. The keeper, Martha Finch, kept the light burning for 41 years.\n\n## Visiting\n\nThe lighthouse is open to visitors from April to October. Tickets cost 6 pounds for adults.\n",
  },
  {
    url: "/docs/bread.md",
    text: "# Sourdough bread\n\nSourdough bread is leavened by a starter of wild yeast and lactic acid bacteria instead of baker's yeast. A starter is fed with equal weights of flour and water every day. The dough usually rises for 4 to 12 hours before it is baked at about 230 degrees Celsius.\n",
  },
  {
    url: "/docs/volcano.md",
    text: "# Mount Tarven\n\nMount Tarven is a stratovolcano 3,120 metres high. Its last eruption was in 1902, when ash fell on villages 40 kilometres away. Scientists watch it with seismometers placed around the crater.\n",
  },
];
const BEES = {
  url: "/docs/bees.md",
  text: "# Honey bees\n\nA honey bee colony has one queen, thousands of female workers and a few hundred male drones. Worker bees tell each other the direction of flowers with the waggle dance. A strong colony can make 25 kilograms of surplus honey in a year.\n",
};
const SHORT = { maxTokens: 24, sources: 1 };

let server;
let context;
let baseUrl;

before(async () => {
  ({ server, origin: baseUrl } = await serve());
  context = await launch(chromium, "chromium-runtime");
});

after(async () => {
  await context?.close();
  server?.kill();
});

/** A bare page with the package loaded as `window.wasmrag` and helpers for the tests. */
async function openPage() {
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${baseUrl}/tests/e2e/runtime.html`);
  await page.waitForSelector("body[data-ready=true]", { state: "attached" });
  await page.evaluate(() => {
    /** Settles `promise` to `{value}` or `{error: {name, code, message}}`, for assertions in Node. */
    window.settle = (promise) =>
      promise.then(
        (value) => ({ value }),
        (e) => ({ error: { name: e?.name, code: e?.code, message: e?.message, isWasmragError: e instanceof window.wasmrag.WasmragError } }),
      );
    /** Runs `rag.ask` to its end: `{sources, tokens, answer}`; `onSources` runs when the sources arrive. */
    window.collect = async (rag, question, options, onSources) => {
      const out = { tokens: 0, events: [] };
      for await (const event of rag.ask(question, options)) {
        if (event.sources) {
          out.sources = event.sources;
          onSources?.();
        }
        if (event.token !== undefined) out.tokens++;
        if (event.done) out.answer = event;
      }
      return out;
    };
  });
  return { page, errors };
}

/** Starts a rag over `DOCS` in the page as `window.rag`, recording progress events in `window.progress`. */
const start = (page, extra = {}) =>
  page.evaluate(
    async ({ docs, extra }) => {
      window.progress = [];
      window.rag = await window.wasmrag.createRag({ documents: docs, backend: "cpu", onProgress: (e) => window.progress.push(e), ...extra });
      return window.rag.info;
    },
    { docs: DOCS, extra },
  );

test("every error is a WasmragError with a stable code", { timeout: 300_000 }, async () => {
  const { page, errors } = await openPage();
  await start(page);
  const results = await page.evaluate(async () => {
    const { createRag, ERROR_CODES } = window.wasmrag;
    const rag = window.rag;
    const garbage = new Uint8Array(256).fill(7);
    const results = {
      misspeltCreate: await settle(createRag({ documents: [], backnd: "cpu" })),
      badBackend: await settle(createRag({ documents: [], backend: "gpu" })),
      misspeltSearch: await settle(rag.search("bread", { kk: 3 })),
      emptyQuery: await settle(rag.search("   ")),
      misspeltAsk: await settle(collect(rag, "When was the lighthouse built?", { maxToken: 5 })),
      corruptIndex: await settle(createRag({ index: garbage })),
      missingIndex: await settle(createRag({ index: "/no/such/index.idx" })),
      integrity: await settle(createRag({ index: { url: "/tests/e2e/runtime.html", sha256: "0".repeat(64) } })),
      badDocumentFormat: await settle(rag.addDocuments([{ url: "/x", text: "some text", format: "pdf" }])),
      badGenerator: await settle(createRag({ documents: [{ url: "/a.md", text: "# A\n\nSome words about apples and pears." }], generator: garbage, backend: "cpu" }).then(async (r) => {
          try {
            return await collect(r, "What about apples?", {});
          } finally {
            r.terminate();
          }
        }),
      ),
    };
    return { results, codes: ERROR_CODES };
  });
  const expected = {
    misspeltCreate: "invalid_option",
    badBackend: "invalid_option",
    misspeltSearch: "invalid_option",
    emptyQuery: "empty_query",
    misspeltAsk: "invalid_option",
    corruptIndex: "index_corrupt",
    missingIndex: "network",
    integrity: "integrity",
    badDocumentFormat: "invalid_option",
    badGenerator: "model_invalid",
  };
  for (const [name, code] of Object.entries(expected)) {
    const { error } = results.results[name];
    assert.ok(error, `${name} fails`);
    assert.equal(error.code, code, `${name}: ${error.message}`);
    assert.equal(error.name, "WasmragError", name);
    assert.ok(error.isWasmragError, name);
    assert.ok(results.codes.includes(error.code), name);
    assert.ok(error.message.length > 10, `${name} explains itself: ${error.message}`);
  }
  assert.match(results.results.misspeltAsk.error.message, /maxToken/);
  // Chromium logs the missing index's 404 itself; nothing else is logged.
  assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), []);
  await page.close();
});

test("calls that race each other in the worker stay correct", { timeout: 600_000 }, async () => {
  const { page, errors } = await openPage();
  await start(page);
  const r = await page.evaluate(
    async ({ bees, short }) => {
      const rag = window.rag;
      await rag.loadGenerator();
      const out = {};

      // A search made while an answer streams is answered before the answer ends.
      let searchedAt = null;
      let searchHits = null;
      const answer = await collect(rag, "When was the Brightwater Lighthouse built?", short, () => {
        rag.search("sourdough starter flour and water", { k: 2 }).then((hits) => {
          searchedAt = performance.now();
          searchHits = hits;
        });
      });
      out.searchBeforeEnd = searchedAt !== null;
      out.searchHit = searchHits?.[0]?.url;
      out.searchAlone = (await rag.search("sourdough starter flour and water", { k: 2 }))[0].url;
      out.firstAnswer = answer.answer;

      // Two answers at once: each gets its own sources.
      const [a, b] = await Promise.all([
        collect(rag, "When was the Brightwater Lighthouse built?", short),
        collect(rag, "When did Mount Tarven last erupt?", short),
      ]);
      out.twoAnswers = [a.answer.sources[0].url, b.answer.sources[0].url];

      // Index changes made while an answer streams wait for it, so its sources and citations
      // are those it began with; the changes then apply in order.
      let added = null;
      let removed = null;
      let searchAfterAdd = null;
      const changed = await collect(rag, "How high is Mount Tarven?", short, () => {
        added = rag.addDocuments([bees]);
        removed = rag.removeDocuments(["/docs/volcano.md"]);
        searchAfterAdd = rag.search("waggle dance of worker bees", { k: 1 });
      });
      out.changedSources = changed.answer.sources.map((s) => ({ url: s.url, text: s.text }));
      out.changedSourcesEvent = changed.sources.map((s) => ({ url: s.url, text: s.text }));
      out.changedCitations = changed.answer.citations.map((c) => c.source);
      out.changedCount = changed.answer.sources.length;
      out.added = await added;
      await removed;
      out.searchAfterAdd = (await searchAfterAdd)[0].url;
      out.volcanoGone = (await rag.search("stratovolcano eruption ash", { k: 5 })).every((h) => h.url.split("#")[0] !== "/docs/volcano.md");

      // loadGenerator while an answer streams neither downloads nor replaces the generator.
      const before = window.progress.filter((e) => e.file === "generator").length;
      let loaded = null;
      await collect(rag, "How much honey can a colony make?", short, () => {
        loaded = rag.loadGenerator();
      });
      out.loadedBackend = (await loaded).backend;
      out.generatorEvents = window.progress.filter((e) => e.file === "generator").length - before;

      // The index exported while an answer streams is the index after the changes.
      const [, bytes] = await Promise.all([collect(rag, "How much do tickets cost?", short), rag.exportIndex()]);
      out.exported = bytes.length;
      return out;
    },
    { bees: BEES, short: SHORT },
  );
  assert.ok(r.searchBeforeEnd, "the search resolved while the answer was still streaming");
  assert.equal(r.searchHit, r.searchAlone, "and found what it finds alone");
  assert.match(r.searchHit, /^\/docs\/bread\.md/);
  assert.ok(r.firstAnswer.found, JSON.stringify(r.firstAnswer.answer));
  assert.match(r.twoAnswers[0], /^\/docs\/lighthouse\.md/);
  assert.match(r.twoAnswers[1], /^\/docs\/volcano\.md/);
  assert.deepEqual(r.changedSources, r.changedSourcesEvent, "the answer's sources are those it started with");
  assert.match(r.changedSources[0].url, /^\/docs\/volcano\.md/);
  assert.ok(r.changedCitations.every((n) => n >= 1 && n <= r.changedCount), `citations name sources: ${r.changedCitations}`);
  assert.deepEqual(r.added, []);
  assert.match(r.searchAfterAdd, /^\/docs\/bees\.md/, "a search made after addDocuments sees the new page");
  assert.ok(r.volcanoGone, "a removed page is gone");
  assert.equal(r.loadedBackend, "cpu");
  assert.equal(r.generatorEvents, 0, "no second generator download");
  assert.ok(r.exported > 1000);
  assert.deepEqual(errors, []);
  await page.close();
});

test("keyword results come before any model byte, then searches turn hybrid", { timeout: 300_000 }, async () => {
  const { page, errors } = await openPage();
  await start(page);
  const r = await page.evaluate(async () => {
    const bytes = await window.rag.exportIndex();
    window.rag.terminate();
    const files = [];
    let duringDownload = null;
    let rag = null;
    const onProgress = (e) => {
      files.push(e.file);
      // The first bytes of the embedder have arrived; most are still on their way.
      if (e.file === "embedder weights" && !duringDownload) duringDownload = rag.search("lighthouse keeper", { k: 2 });
    };
    const t0 = performance.now();
    rag = await window.wasmrag.createRag({ index: bytes, loadEmbedder: "later", onProgress, cacheName: `later-${Date.now()}` });
    const readyMs = performance.now() - t0;
    const t1 = performance.now();
    const keyword = await rag.search("Who kept the lighthouse burning?", { k: 2 });
    const firstMs = performance.now() - t1;
    const extractBefore = await rag.searchExtract("Who kept the lighthouse burning?", { k: 2 });
    const before = { retrieval: rag.info.retrieval, modelFiles: files.filter((f) => f.startsWith("embedder")).length };
    const loaded = await rag.loadEmbedder();
    const during = await duringDownload;
    const hybrid = await rag.search("Who kept the lighthouse burning?", { k: 2 });
    // A visitor typing on: an extract aborted while an earlier one runs is dropped unstarted.
    const code = (call) => call.then(() => "ran", (e) => e.code);
    const typing = new AbortController();
    const running = rag.searchExtract("When was the Brightwater Lighthouse built?", { k: 2 });
    const stale = code(rag.searchExtract("Who kept", { k: 2, signal: typing.signal }));
    typing.abort();
    const latest = await rag.searchExtract("Who kept the lighthouse burning?", { k: 2 });
    const out = {
      stale: await stale,
      afterAbort: await code(rag.searchExtract("Who kept", { signal: typing.signal })),
      running: (await running).extract?.url,
      latest: latest.extract?.url,
      readyMs,
      firstMs,
      before,
      keyword: keyword.map((h) => [h.url, h.retrieval, h.cosine]),
      extractBefore: extractBefore.extract,
      during: during?.map((h) => h.retrieval),
      loaded,
      after: rag.info.retrieval,
      hybrid: hybrid.map((h) => [h.url, h.retrieval, h.cosine]),
    };
    rag.terminate();
    return out;
  });
  console.log(`keyword-first: ready ${r.readyMs.toFixed(0)} ms, first keyword results ${r.firstMs.toFixed(0)} ms`);
  assert.deepEqual(r.before, { retrieval: "keyword", modelFiles: 0 }, "no model file before loadEmbedder");
  assert.match(r.keyword[0][0], /^\/docs\/lighthouse\.md/);
  assert.ok(r.keyword.every(([, retrieval, cosine]) => retrieval === "keyword" && cosine === 0));
  assert.equal(r.extractBefore, null, "no extract without the embedder");
  assert.deepEqual(r.during, ["keyword", "keyword"], "a search made while the embedder downloads does not wait for it");
  assert.deepEqual(r.loaded, { retrieval: "hybrid" });
  assert.equal(r.after, "hybrid");
  assert.match(r.hybrid[0][0], /^\/docs\/lighthouse\.md/);
  assert.ok(r.hybrid.every(([, retrieval, cosine]) => retrieval === "hybrid" && cosine > 0));
  assert.equal(r.stale, "aborted", "an extract aborted before it started rejects with aborted");
  assert.equal(r.afterAbort, "aborted", "an already aborted signal rejects at once");
  assert.match(r.running ?? "", /^\/docs\/lighthouse\.md/, "the extract already running still answers");
  assert.match(r.latest ?? "", /^\/docs\/lighthouse\.md/, "the newest extract answers");
  assert.deepEqual(errors, []);
  await page.close();
});

test("after a trap the runtime restarts with everything it had loaded", { timeout: 600_000 }, async () => {
  const { page, errors } = await openPage();
  await start(page);
  const r = await page.evaluate(
    async ({ bees, short }) => {
      const rag = window.rag;
      await rag.addDocuments([bees]);
      await rag.removeDocuments(["/docs/bread.md"]);
      await rag.loadGenerator();
      const out = {};
      // Trap in the middle of an answer: the answer and a queued call reject.
      let trap = null;
      let queued = null;
      out.inFlight = await settle(
        collect(rag, "When was the Brightwater Lighthouse built?", short, () => {
          trap = settle(rag._trapForTests());
          queued = settle(rag.exportIndex());
        }),
      );
      out.trap = await trap;
      out.queued = await queued;
      // The next calls wait for the fresh instance, which has the same pages and generator.
      out.bees = (await rag.search("waggle dance of worker bees", { k: 1 }))[0].url;
      out.breadGone = (await rag.search("sourdough starter", { k: 5 })).every((h) => h.url.split("#")[0] !== "/docs/bread.md");
      out.restarts = rag.restarts;
      const generatorEvents = window.progress.filter((e) => e.file === "generator");
      const again = await collect(rag, "How high is Mount Tarven?", short);
      out.answered = again.answer.found;
      out.generatorFromCache = window.progress.filter((e) => e.file === "generator").slice(generatorEvents.length);
      // terminate() rejects what is in flight and everything after.
      const pending = settle(rag.search("lighthouse keeper", { k: 1 }));
      rag.terminate();
      out.terminatedPending = await pending;
      out.terminatedLater = await settle(rag.search("lighthouse keeper", { k: 1 }));
      return out;
    },
    { bees: BEES, short: SHORT },
  );
  assert.equal(r.inFlight.error?.code, "runtime_crashed", JSON.stringify(r.inFlight));
  assert.equal(r.trap.error?.code, "runtime_crashed");
  assert.equal(r.queued.error?.code, "runtime_crashed");
  assert.match(r.bees, /^\/docs\/bees\.md/, "a page added before the crash is still there");
  assert.ok(r.breadGone, "a page removed before the crash stays removed");
  assert.equal(r.restarts, 1);
  assert.ok(r.answered);
  assert.equal(r.generatorFromCache.length, 0, "the generator was restored before the call, with no download of its own");
  assert.equal(r.terminatedPending.error?.code, "terminated");
  assert.equal(r.terminatedLater.error?.code, "terminated");
  // The panic hook reports the trap on the console; nothing else is logged as an error.
  assert.ok(errors.some((e) => /wasmrag panicked: .*trap requested by a test/s.test(e)), errors.join("\n"));
  assert.deepEqual(errors.filter((e) => !/wasmrag panicked|RuntimeError|unreachable/.test(e)), []);
  await page.close();
});
