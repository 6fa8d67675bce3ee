// The `shards` row: a sharded index searched in headless Chromium as a site's visitor searches
// it, the package's worker fetching each file from 127.0.0.1 when a query first needs it. For
// every question it times a hybrid search twice in one session: the first time (the fetches of
// the files no earlier question loaded, plus the work) and again (every file loaded: the
// query's embedding and the search rounds alone, which issue 15 wants within 50 ms). The index
// is the Rust Book's (www/rust-book.idx, or a one-page index in the smoke run), or the index
// file WASMRAG_SHARDS_INDEX names (e.g. the mdBooks'), sharded with the default options.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

/** The Rust Book questions of the tests and the off-topic ones, as the native bench-shards.sh asks them. */
function questions(repo) {
  const book = readFileSync(join(repo, "tests/data/rust-book-qa.jsonl"), "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l).question);
  const offTopic = readFileSync(join(repo, "tests/data/off-topic-questions.txt"), "utf8").split("\n").map((q) => q.trim()).filter(Boolean);
  return [...book, ...offTopic];
}

export async function shardsRow({ page, base, repo, out, smoke, index }) {
  const shards = join(out, "shards");
  rmSync(shards, { recursive: true, force: true });
  execFileSync(join(repo, "target/release/wasmrag"), ["shard", index, "--out", shards], { stdio: ["ignore", "ignore", "inherit"] });
  const queries = questions(repo).slice(0, smoke ? 4 : undefined);
  let requests = 0;
  const count = (r) => r.url().includes("/target/bench/shards/") && (requests += 1);
  page.context().on("request", count);
  try {
    await page.goto(`${base}/tests/e2e/runtime.html`);
    await page.waitForSelector("body[data-ready]", { state: "attached" });
    const result = await page.evaluate(async (queries) => {
      const t0 = performance.now();
      const rag = await window.wasmrag.createRag({ shards: "/target/bench/shards/entry.bin", loadEmbedder: "now" });
      const openMs = performance.now() - t0;
      const rows = [];
      try {
        for (const q of queries) {
          const a = performance.now();
          const first = await rag.search(q, { k: 10 });
          const b = performance.now();
          const again = await rag.search(q, { k: 10 });
          const c = performance.now();
          if (first.map((h) => h.chunk).join() !== again.map((h) => h.chunk).join()) throw new Error(`"${q}" ranked differently the second time`);
          rows.push({ first: b - a, again: c - b, hybrid: first.every((h) => h.retrieval === "hybrid") });
        }
      } finally {
        rag.terminate();
      }
      return { openMs, rows };
    }, queries);
    const first = result.rows.map((r) => r.first);
    const again = result.rows.map((r) => r.again);
    const row = {
      index,
      queries: queries.length,
      hybrid: result.rows.filter((r) => r.hybrid).length,
      openMs: result.openMs,
      firstP50: percentile(first, 0.5),
      firstP90: percentile(first, 0.9),
      againP50: percentile(again, 0.5),
      againP90: percentile(again, 0.9),
      requests,
    };
    console.log(`\nsharded index in headless Chromium: ${index} sharded with the defaults, ${row.queries} questions (${row.hybrid} hybrid), k = 10`);
    console.log(`entry and embedder loaded in ${row.openMs.toFixed(0)} ms; ${requests} requests for index files in all`);
    console.log(`first time (its fetches from 127.0.0.1 included): p50 ${row.firstP50.toFixed(1)} ms, p90 ${row.firstP90.toFixed(1)} ms`);
    console.log(`again, every file loaded (embedding + search): p50 ${row.againP50.toFixed(1)} ms, p90 ${row.againP90.toFixed(1)} ms`);
    return row;
  } finally {
    page.context().off("request", count);
  }
}
