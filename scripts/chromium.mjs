// How every browser test and benchmark starts Debian's Chromium and the static server:
// headless, offline except for 127.0.0.1, no background traffic, a fresh user-data-dir, so no
// tool ever downloads its own browser. playwright-core's `chromium` is passed in because the
// tests and the benchmarks each install their own copy.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const CHROMIUM = "/usr/bin/chromium";

const repo = fileURLToPath(new URL("..", import.meta.url));

/** The command-line flags, plus `extra` (e.g. "--enable-unsafe-webgpu"). */
export function chromiumArgs(extra = []) {
  return [
    "--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ...extra,
  ];
}

/**
 * Starts `scripts/serve.mjs` on a free port of 127.0.0.1 with `args` (e.g. `["--book", dir]`);
 * resolves to `{ server, origin, url }` once it listens (`url` is the demo page).
 */
export function serve(args = []) {
  const server = spawn(process.execPath, [join(repo, "scripts/serve.mjs"), "--port", "0", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    server.stdout.once("data", (d) => {
      const url = String(d).match(/http:\/\/\S+/)[0];
      resolve({ server, origin: new URL(url).origin, url });
    });
    server.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
}

/**
 * Launches Debian's Chromium through playwright-core's `chromium` with a fresh profile named
 * after `name`, extra flags and extra context options (e.g. `{ serviceWorkers: "block" }`).
 * The profile (which holds the Cache API's copies of the models, about 1 GB) is deleted by
 * `context.close()`.
 */
export async function launch(chromium, name, extra = [], options = {}) {
  const profile = mkdtempSync(join(tmpdir(), `wasmrag-${name}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: chromiumArgs(extra),
    ...options,
  });
  // Deleted once `close()` has shut the browser down ("close" events come while it still writes).
  const close = context.close.bind(context);
  context.close = async (...args) => {
    await close(...args);
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch (err) {
      console.warn(`could not delete the Chromium profile ${profile}: ${err.message}`);
    }
  };
  return context;
}
