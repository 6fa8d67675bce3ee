// Keeps the demo's own files (page, scripts, wasm) so a reload works with the network off.
// Models and the index are cached by wasmrag itself (Cache API), so they are passed through.
const CACHE = "wasmrag-demo-shell-v1";
const SHELL = [
  "./", "./index.html", "./app.js", "./style.css",
  "./pkg/index.js", "./pkg/worker.js", "./pkg/assets.js", "./pkg/errors.js", "./pkg/models.js",
  "./pkg/wasm/wasmrag_keyword.js", "./pkg/wasm/wasmrag_keyword_bg.wasm", "./pkg/wasm/wasmrag.js", "./pkg/wasm/wasmrag_bg.wasm",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const passThrough = event.request.method !== "GET" || url.origin !== location.origin
    || url.pathname.includes("/pkg/models/") || url.pathname.endsWith(".idx") || url.pathname.startsWith("/book/");
  if (passThrough) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(event.request);
      if (response.ok) await cache.put(event.request, response.clone());
      return response;
    } catch (err) {
      const cached = await cache.match(event.request, { ignoreSearch: true });
      if (cached) return cached;
      throw err;
    }
  })());
});
