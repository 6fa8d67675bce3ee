// The npm package as a user gets it: `npm pack` of pkg/, installed from the tarball into a
// fresh Vite app (tests/vite-app, Vite pinned by its lockfile), `vite build` under a base path,
// served from 127.0.0.1 and opened in Debian's headless Chromium, where it indexes two
// documents with the default models the package ships and searches them. And `npx wasmrag
// index --site` from the installed tarballs (the package and its linux-x64 platform package)
// with no Rust toolchain on the PATH.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { launch, serve } from "../../scripts/chromium.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const npm = (args, cwd) => execFileSync("npm", [...args, "--no-audit", "--no-fund", "--ignore-scripts"], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });

let server;
let context;
let origin;
let tarball;
let dist;
let work;
let platformTarball;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "wasmrag-package-"));
  const packed = JSON.parse(npm(["pack", join(repo, "pkg"), "--pack-destination", work, "--json"], repo));
  platformTarball = join(work, JSON.parse(npm(["pack", join(repo, "pkg/platform/linux-x64"), "--pack-destination", work, "--json"], repo))[0].filename);
  tarball = { file: join(work, packed[0].filename), files: packed[0].files.map((f) => f.path), size: packed[0].size, unpacked: packed[0].unpackedSize };
  const app = join(work, "app");
  cpSync(join(repo, "tests/vite-app"), app, { recursive: true, filter: (src) => !src.includes("node_modules") && !src.includes("dist") });
  npm(["ci"], app);
  npm(["install", "--no-save", tarball.file], app);
  execFileSync(process.execPath, [join(app, "node_modules/vite/bin/vite.js"), "build", "--logLevel", "warn"], { cwd: app, stdio: "inherit" });
  dist = join(app, "dist");
  ({ server, origin } = await serve(["--mount", `/app/=${dist}`]));
  context = await launch(chromium, "chromium-package");
});

after(async () => {
  await context?.close();
  server?.kill();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the packed tarball holds the runtime, the UI, the types and the models", () => {
  for (const f of ["index.js", "index.d.ts", "worker.js", "assets.js", "errors.js", "models.js", "wasmrag-ui.js", "wasmrag-ui.d.ts", "wasmrag-ui.css", "wasmrag-sw.js", "wasm/wasmrag_keyword.js", "wasm/wasmrag_keyword_bg.wasm", "wasm/wasmrag.js", "wasm/wasmrag_bg.wasm", "package.json"]) {
    assert.ok(tarball.files.includes(f), `${f} is packed`);
  }
  assert.ok(tarball.files.some((f) => f.endsWith(".gguf")) && tarball.files.some((f) => f.endsWith("all-MiniLM-L6-v2/model.q8_0.gguf")) && !tarball.files.some((f) => f.endsWith(".safetensors")), "the default models are packed, the embedder in int8 only");
  console.log(`npm package: ${(tarball.size / 1e6).toFixed(1)} MB packed, ${(tarball.unpacked / 1e6).toFixed(1)} MB unpacked, ${tarball.files.length} files`);
});

test("a Vite app built with the installed package indexes and searches in Chromium", { timeout: 300_000 }, async () => {
  const assets = readdirSync(join(dist, "assets"));
  assert.ok(assets.some((a) => a.endsWith(".wasm")) && assets.some((a) => a.startsWith("worker")), `vite emitted the wasm and the worker: ${assets.join(" ")}`);
  assert.ok(existsSync(join(dist, "index.html")) && statSync(join(dist, "index.html")).size > 0);
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("response", (r) => r.status() >= 400 && errors.push(`HTTP ${r.status()} ${r.url()}`));
  await page.goto(`${origin}/app/`);
  await page.waitForFunction(() => document.getElementById("status").textContent !== "loading", null, { timeout: 240_000 });
  assert.equal(await page.textContent("#status"), "done");
  const results = await page.$$eval("#results li", (lis) => lis.map((li) => li.textContent));
  assert.equal(results[0], "/lighthouse.md#the-lighthouse hybrid", results.join(" | "));
  assert.deepEqual(errors, []);
});

test("npx wasmrag index --site writes the bundle without a Rust toolchain", { timeout: 300_000 }, () => {
  const project = join(work, "site-project");
  const site = join(project, "public");
  mkdirSync(join(site, "guide"), { recursive: true });
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "site-project", private: true }));
  writeFileSync(join(site, "index.html"), "<html><head><title>Home</title></head><body><main><h1>Welcome</h1><p>This site documents the Brightwater Lighthouse, built in 1874.</p></main></body></html>");
  writeFileSync(join(site, "guide/visiting.html"), "<html><head><title>Visiting</title></head><body><main><h1 id='visiting'>Visiting</h1><p>The lighthouse is open from April to October.</p></main></body></html>");
  npm(["install", tarball.file, platformTarball], project);
  const path = `${dirname(process.execPath)}:/usr/bin:/bin`;
  assert.throws(() => execFileSync("cargo", ["--version"], { env: { ...process.env, PATH: path }, stdio: "ignore" }), "no cargo on this PATH");
  execFileSync("npx", ["--no-install", "wasmrag", "index", "--site", "public"], { cwd: project, env: { ...process.env, PATH: path }, stdio: "inherit" });
  const manifest = JSON.parse(readFileSync(join(site, "wasmrag/manifest.json"), "utf8"));
  assert.equal(manifest.format, "wasmrag-bundle");
  for (const f of manifest.files) assert.equal(statSync(join(site, "wasmrag", f.path)).size, f.bytes, f.path);
  assert.ok(manifest.files.some((f) => f.path === "wasmrag-ui.js"));
});
