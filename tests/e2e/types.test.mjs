// The package's declared API against its code: index.d.ts compiles under `tsc --strict` with a
// typed usage file, and the error codes are the same three times over: the `ErrorCode` union in
// index.d.ts, `ERROR_CODES` in pkg/errors.js, and the codes the Rust layers and the worker raise.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ERROR_CODES } from "../../pkg/errors.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const here = fileURLToPath(new URL(".", import.meta.url));

test("index.d.ts compiles with a typed usage of the package", () => {
  const tsc = join(here, "node_modules/typescript/bin/tsc");
  const args = ["--strict", "--noEmit", "--target", "es2022", "--module", "es2022", "--moduleResolution", "bundler", "--lib", "es2022,dom", join(here, "types/usage.ts")];
  try {
    execFileSync(process.execPath, [tsc, ...args], { encoding: "utf8" });
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`);
  }
});

test("the error codes agree across index.d.ts, errors.js and the code that raises them", () => {
  const dts = readFileSync(join(repo, "pkg/index.d.ts"), "utf8");
  const union = dts.match(/export type ErrorCode =([^;]*);/)[1];
  const declared = [...union.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
  assert.deepEqual([...declared].sort(), [...ERROR_CODES].sort(), "ErrorCode and ERROR_CODES list the same names");
  for (const code of ERROR_CODES) assert.match(dts, new RegExp("`" + code + "`"), `index.d.ts documents ${code}`);

  // Every code literal the Rust layers return from `code()` or the bindings raise.
  const rustFiles = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? rustFiles(join(dir, e.name)) : e.name.endsWith(".rs") ? [join(dir, e.name)] : []));
  const raised = new Set();
  for (const file of rustFiles(join(repo, "src"))) {
    const source = readFileSync(file, "utf8");
    for (const body of source.matchAll(/pub fn code\(&self\) -> &'static str \{([\s\S]*?)\n    \}/g)) {
      for (const m of body[1].matchAll(/=> "([a-z_]+)"/g)) raised.add(m[1]);
    }
    for (const m of source.matchAll(/Failure::new\("([a-z_]+)"/g)) raised.add(m[1]);
  }
  for (const file of ["pkg/index.js", "pkg/worker.js", "pkg/assets.js", "pkg/errors.js"]) {
    const source = readFileSync(join(repo, file), "utf8");
    for (const m of source.matchAll(/WasmragError\("([a-z_]+)"/g)) raised.add(m[1]);
    for (const m of source.matchAll(/code: "([a-z_]+)"/g)) raised.add(m[1]);
    for (const m of source.matchAll(/#rejectAll\("([a-z_]+)"/g)) raised.add(m[1]);
  }
  assert.ok(raised.size >= 15, `found the raised codes: ${[...raised]}`);
  const unknown = [...raised].filter((c) => !ERROR_CODES.includes(c));
  assert.deepEqual(unknown, [], "every raised code is declared");
});
