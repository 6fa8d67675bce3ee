// A static file server for the demo and the browser tests, bound to 127.0.0.1 only.
// Serves the repository root (so /www/ and /pkg/ resolve), the Rust Book under /book/ when
// --book is given, any folder under a path of its own with --mount /PATH/=DIR (repeatable: a
// built site under a base path), with Content-Length for download progress and no caching by
// the browser.
// Usage: node scripts/serve.mjs [--port 8080] [--book DIR] [--mount /docs/=DIR] [--isolate]
//   --isolate adds COOP/COEP headers (cross-origin isolation), which wasmrag does not need.
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const mounts = args.flatMap((a, i) => (a === "--mount" ? [args[i + 1]] : [])).map((m) => {
  const [prefix, dir] = m.split("=");
  if (!prefix.startsWith("/") || !prefix.endsWith("/") || !dir) throw new Error(`--mount wants /PATH/=DIR, not ${m}`);
  return [prefix, resolve(dir)];
});
if (option("--book")) mounts.push(["/book/", resolve(option("--book"))]);
const isolate = args.includes("--isolate");
const port = Number(option("--port", process.env.PORT ?? "8080"));

const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
};

function locate(pathname) {
  const mount = mounts.find(([prefix]) => pathname.startsWith(prefix));
  const [base, rest] = mount ? [mount[1], pathname.slice(mount[0].length)] : [root, pathname];
  const file = resolve(join(base, decodeURIComponent(rest)));
  if (file !== base && !file.startsWith(base + sep)) return null;
  try {
    const stat = statSync(file);
    if (stat.isDirectory()) return locate(pathname.replace(/\/?$/, "/") + "index.html");
    return { file, stat };
  } catch {
    return null;
  }
}

const server = createServer((req, res) => {
  const { pathname } = new URL(req.url, "http://127.0.0.1");
  const headers = { "cache-control": "no-cache", "access-control-allow-origin": "*" };
  if (isolate) {
    headers["cross-origin-opener-policy"] = "same-origin";
    headers["cross-origin-embedder-policy"] = "require-corp";
  }
  if (pathname === "/") {
    res.writeHead(302, { ...headers, location: "/www/" }).end();
    return;
  }
  const found = req.method === "GET" || req.method === "HEAD" ? locate(pathname) : null;
  if (!found) {
    res.writeHead(404, { ...headers, "content-type": "text/plain" }).end("not found\n");
    return;
  }
  res.writeHead(200, {
    ...headers,
    "content-type": types[extname(found.file)] ?? "application/octet-stream",
    "content-length": found.stat.size,
  });
  if (req.method === "HEAD") res.end();
  else createReadStream(found.file).pipe(res);
});

server.listen(port, "127.0.0.1", () => {
  console.log(`serving http://127.0.0.1:${server.address().port}/www/`);
});
