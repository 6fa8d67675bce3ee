// wasmrag's optional service worker for a static site: `wasmrag index --site DIR --offline`
// puts it at the site's root (a service worker controls only pages under its own folder), and
// `<wasmrag-search offline>` registers it. It keeps the pages read and the wasmrag runtime, so a
// second visit works with the network off: the page, its styles and scripts, the search dialog,
// keyword and semantic results and answers. Network first: online, every request goes to the
// server and the kept copy is refreshed, so a new build of the site is seen at once. The models
// and the index (one file, or a sharded index's files) are kept by the runtime itself (Cache
// API, checked before they are kept) and pass through.
const CACHE = "wasmrag-site-v1";
const BUNDLE = new URL("wasmrag/", self.registration.scope);

/** Requests this worker leaves to the runtime's own cache (or to the network). */
function passesThrough(request) {
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return true;
  const under = (folder) => url.href.startsWith(new URL(folder, BUNDLE).href);
  // The models, the one-file index, and a sharded index's files (under index/).
  return under("models/") || under("index/") || url.pathname.endsWith(".wasmrag");
}

/** Keeps the responses to `urls` that the network gives; a URL that fails is left out. */
async function keep(urls) {
  const cache = await caches.open(CACHE);
  await Promise.all(
    urls.map(async (url) => {
      try {
        const response = await fetch(url, { cache: "no-cache" });
        if (response.ok) await cache.put(url, response);
      } catch {
        // Offline or gone: nothing to keep.
      }
    }),
  );
}

// The runtime's files, from the bundle's manifest (models and index aside).
self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      try {
        const manifest = await (await fetch(new URL("manifest.json", BUNDLE), { cache: "no-cache" })).json();
        const files = manifest.files.map((f) => new URL(f.path, BUNDLE).href).filter((url) => !passesThrough(new Request(url)));
        await keep([new URL("manifest.json", BUNDLE).href, ...files]);
      } catch {
        // No manifest: pages and files are kept as they are fetched.
      }
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// A page loaded before this worker ran sends what it loaded (its URL and resources) to keep.
self.addEventListener("message", (event) => {
  if (event.data?.type !== "wasmrag-keep" || !Array.isArray(event.data.urls)) return;
  const urls = event.data.urls.filter((u) => typeof u === "string" && !passesThrough(new Request(u)));
  event.waitUntil(keep(urls).then(() => event.source?.postMessage({ type: "wasmrag-kept", count: urls.length })));
});

self.addEventListener("fetch", (event) => {
  if (passesThrough(event.request)) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(event.request);
        if (response.ok) await cache.put(event.request, response.clone());
        return response;
      } catch (err) {
        // A page opened from a result carries the words to highlight in its query.
        const cached = (await cache.match(event.request)) ?? (event.request.mode === "navigate" ? await cache.match(event.request, { ignoreSearch: true }) : undefined);
        if (cached) return cached;
        throw err;
      }
    })(),
  );
});
