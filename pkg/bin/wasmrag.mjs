#!/usr/bin/env node
// `npx wasmrag …`: runs the native wasmrag CLI from the platform package npm installed beside
// this one (@wasmrag/cli-<platform>-<arch>, an optional dependency), with the runtime, UI and
// models of this package, so `npx wasmrag index --site public` needs no Rust toolchain.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const platform = `${process.platform}-${process.arch}`;
const name = `@wasmrag/cli-${platform}`;
let binary;
try {
  binary = join(dirname(createRequire(import.meta.url).resolve(`${name}/package.json`)), "wasmrag");
} catch {
  console.error(`wasmrag: no native CLI for ${platform} (${name} is not installed). Packages exist for linux-x64; elsewhere build it with \`cargo install --path .\` from the repository.`);
  process.exit(1);
}
const args = process.argv.slice(2);
const given = (flag) => args.some((a) => a === flag || a.startsWith(`${flag}=`));
const extra = [];
if (!given("--models")) extra.push("--models", join(here, "models"));
if (args[0] === "index" && given("--site") && !given("--runtime")) extra.push("--runtime", here);
const run = spawnSync(binary, [...args, ...extra], { stdio: "inherit" });
if (run.error) {
  console.error(`wasmrag: could not run ${binary}: ${run.error.message}`);
  process.exit(1);
}
process.exit(run.status ?? 1);
