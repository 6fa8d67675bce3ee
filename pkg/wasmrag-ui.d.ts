/** The texts `<wasmrag-search>` shows; any of them can be replaced (translations). */
export interface WasmragStrings {
  button: string;
  shortcut: string;
  dialogLabel: string;
  placeholder: string;
  close: string;
  /** `{percent}` is replaced by the download's progress. */
  loadingModel: string;
  keyword: string;
  hybrid: string;
  /** `{query}` is replaced by the query. */
  noResults: string;
  /** `{message}` is replaced by the error's message. */
  failed: string;
  extract: string;
  ask: string;
  /** `{query}` is replaced by the question. */
  askLabel: string;
  stop: string;
  /** `{percent}` is replaced by the download's progress. */
  loadingGenerator: string;
  thinking: string;
  notFound: string;
  fellBack: string;
  sources: string;
  results: string;
}

/** The default (English) strings. */
export declare const DEFAULT_STRINGS: Readonly<WasmragStrings>;

/** The URL parameter carrying the searched words to the page a result opens. */
export declare const HIGHLIGHT_PARAM: "wasmrag-highlight";

/**
 * `<wasmrag-search>`: a search button and dialog over the bundle beside this script (written by
 * `wasmrag index --site`). Attributes: `load-embedder` ("open", the default, "idle" or "now"),
 * `results` (how many, default 10), `no-ask` (search only), `strings` (JSON, as `strings`),
 * `offline` (registers the service worker `wasmrag index --site DIR --offline` puts at the
 * site's root, so a second visit works with the network off; `data-offline="ready"` once the
 * page is kept).
 */
export declare class WasmragSearch extends HTMLElement {
  /** Replaces some or all of the UI's strings. */
  strings: Partial<WasmragStrings>;
  /** Opens the dialog, as `/` and Ctrl/⌘-K do. */
  open(): void;
  /** Closes the dialog and stops an answer being written. */
  close(): void;
}

/** Marks the words a search result was opened with on this page; returns how many were marked. */
export declare function highlightPage(root?: Element): number;

declare global {
  interface HTMLElementTagNameMap {
    "wasmrag-search": WasmragSearch;
  }
}
