// Fetching model and index files for the worker: download with progress, SHA-256 check, and
// the Cache API so a second visit works with the network off.
import { WasmragError } from "./errors.js";

/** Lower-case hex SHA-256 of bytes. */
export async function sha256(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Caches opened so far, by name: opening one per file serialises a sharded search's fetches.
 * (A page that deletes the cache itself while a worker lives leaves this one writing to the
 * deleted cache: its copies are then lost, not wrong.)
 */
const opened = new Map();

/** The cache `name`, or null where there is none (no Cache API, storage blocked, a failed open: tried again next time). */
function openCache(name) {
  if (!opened.has(name)) {
    const opening = (async () => {
      try {
        return typeof caches === "undefined" ? null : await caches.open(name);
      } catch {
        opened.delete(name);
        return null;
      }
    })();
    opened.set(name, opening);
  }
  return opened.get(name);
}

async function download(url, expected, onProgress, revalidate) {
  let response;
  try {
    response = await fetch(url, revalidate ? { cache: "no-cache" } : undefined);
  } catch (err) {
    throw new WasmragError("network", `${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!response.ok) throw new WasmragError("network", `${url}: HTTP ${response.status}`);
  const total = Number(response.headers.get("content-length")) || expected || 0;
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onProgress(bytes.length, bytes.length);
    return bytes;
  }
  const reader = response.body.getReader();
  const parts = [];
  let loaded = 0;
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (err) {
      throw new WasmragError("network", `${url}: the download broke off: ${err instanceof Error ? err.message : String(err)}`);
    }
    const { done, value } = chunk;
    if (done) break;
    parts.push(value);
    loaded += value.length;
    onProgress(loaded, Math.max(total, loaded));
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const p of parts) {
    bytes.set(p, offset);
    offset += p.length;
  }
  return bytes;
}

/**
 * Returns the bytes of an asset given as bytes, a URL string, or `{url, sha256?, bytes?}`.
 * `strategy` is "cache-first" for immutable, hash-pinned files (models) and "network-first"
 * for files that may change at the same URL (the index), which fall back to the cache offline.
 * `accept`, if given, reads the bytes (throwing if they are bad) before they are kept, so a
 * damaged file never reaches the cache, and fetchAsset resolves to what it returns; a kept copy
 * it refuses is deleted. `revalidate` asks the server even when the browser's HTTP cache
 * holds the file.
 */
export async function fetchAsset(spec, { cacheName, strategy, onProgress, accept = (bytes) => bytes, revalidate = false }) {
  if (spec instanceof Uint8Array) return accept(spec);
  if (spec instanceof ArrayBuffer) return accept(new Uint8Array(spec));
  const { url, sha256: expected, bytes: size } = typeof spec === "string" ? { url: spec } : spec;
  const cache = await openCache(cacheName);
  const verify = async (bytes) => !expected || (await sha256(bytes)) === expected;
  // The kept copy, read by `accept`; null if there is none, or if it is damaged or refused
  // (then it is deleted), unless `refusal` is asked for: then accept's error is thrown.
  const cached = async (refusal) => {
    const hit = cache && (await cache.match(url));
    if (!hit) return null;
    const bytes = new Uint8Array(await hit.arrayBuffer());
    if (await verify(bytes)) {
      try {
        const value = await accept(bytes);
        onProgress(bytes.length, bytes.length, true);
        return { value };
      } catch (err) {
        await cache.delete(url);
        if (refusal) throw err;
        return null;
      }
    }
    await cache.delete(url);
    return null;
  };
  if (strategy === "cache-first") {
    const hit = await cached(false);
    if (hit) return hit.value;
  }
  let bytes;
  try {
    bytes = await download(url, size, (loaded, total) => onProgress(loaded, total, false), revalidate);
  } catch (err) {
    const fallback = strategy === "network-first" ? await cached(true) : null;
    if (fallback) return fallback.value;
    throw err;
  }
  if (expected) {
    const actual = await sha256(bytes);
    if (actual !== expected) throw new WasmragError("integrity", `${url}: SHA-256 mismatch (expected ${expected}, got ${actual})`);
  }
  const value = await accept(bytes);
  // Kept for offline visits; a failed write costs only the offline copy. The index (network
  // first) is needed at once for the first results, so its write is not waited for; a model's
  // is, so its copy in the write is let go before the model is read into wasm memory.
  const kept = cache?.put(url, new Response(bytes, { headers: { "content-type": "application/octet-stream" } })).catch(() => {});
  if (strategy === "cache-first") await kept;
  return value;
}
