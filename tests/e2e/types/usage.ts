// A page's use of the package as its types describe it; `tsc --strict` must accept this file
// (tests/e2e/types.test.mjs). Never run: it checks that index.d.ts is usable and complete.
import { createRag, WasmragError, ERROR_CODES, type ErrorCode, type Answer, type Extract, type SearchHit } from "../../../pkg/index.js";
import { WasmragSearch, DEFAULT_STRINGS, HIGHLIGHT_PARAM, highlightPage } from "../../../pkg/wasmrag-ui.js";

export async function page(): Promise<void> {
  const rag = await createRag({
    index: { url: "/site.idx", sha256: "ab".repeat(32), bytes: 1024 },
    backend: "auto",
    onProgress: (e) => console.log(e.file, e.loaded, e.total, e.overall?.loaded, e.fromCache),
    worker: () => new Worker("/worker.js", { type: "module" }),
    loadEmbedder: "later",
  });
  const mode: "keyword" | "hybrid" | undefined = rag.info?.retrieval;
  await rag.loadEmbedder();
  const hits: SearchHit[] = await rag.search("query", { k: 3 });
  const first: number = hits[0].snippet.highlights[0][0];
  console.log(mode, hits[0].retrieval === "keyword");
  const { extract }: { extract: Extract | null } = await rag.searchExtract("query");
  const controller = new AbortController();
  let answer: Answer | null = null;
  for await (const event of rag.ask("question?", { sources: 2, maxTokens: 64, copyBias: 3, minSupport: 0.7, signal: controller.signal })) {
    if ("token" in event) console.log(event.token);
    else if ("done" in event) answer = event;
    else console.log(event.sources.length, event.found, event.extract?.context);
  }
  console.log(first, extract?.start, answer?.stats.grounding.fellBack, answer?.citations[0]?.source, rag.restarts, rag.info?.passages);
  const skipped: string[] = await rag.addDocuments([{ url: "/a.md", text: "# A", format: "markdown" }]);
  await rag.removeDocuments(["/a.md"]);
  const bytes: Uint8Array = await rag.exportIndex();
  const { backend } = await rag.loadGenerator();
  console.log(skipped, bytes.length, backend, (await rag.memory()).wasmBytes);
  rag.terminate();
}

export function handle(error: unknown): string {
  if (error instanceof WasmragError) {
    const code: ErrorCode = error.code;
    switch (code) {
      case "network":
      case "integrity":
        return "download failed";
      case "runtime_crashed":
        return "restarted";
      default:
        return ERROR_CODES.includes(code) ? error.message : "unknown";
    }
  }
  return String(error);
}

// The search UI's element, as a page script would drive it.
export function searchUi(): void {
  const el = document.querySelector("wasmrag-search");
  if (el instanceof WasmragSearch) {
    el.strings = { button: "Suchen", noResults: "Keine Treffer für „{query}“" };
    el.open();
  }
  const marked: number = highlightPage(document.body);
  console.log(DEFAULT_STRINGS.ask, HIGHLIGHT_PARAM, marked);
}
