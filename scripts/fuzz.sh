#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted bytes with cargo-fuzz (libFuzzer, nightly), outside CI:
# each target for FUZZ_SECONDS (default 600), one after another, on a working corpus in
# target/fuzz-corpus/<target> (started from the committed one), minimised afterwards. Then the
# committed replay corpus fuzz/corpus/<target>, which `make test` runs through the same checks
# (tests/fuzz_corpus.rs), is refreshed with up to 300 of the inputs of at most 4 kB: small
# enough to keep in git and to replay in seconds. A crash is left in fuzz/artifacts/<target>;
# copy it to fuzz/regressions/<target> once fixed. Prints executions and findings per target.
# Usage: scripts/fuzz.sh [target...] (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-600}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(index shards gguf embedder html markdown tokenizer messages)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
bash scripts/models.sh >/dev/null

# Seeds for an empty corpus: real files of each kind, small.
seed() {
  local dir=target/fuzz-corpus/$1
  mkdir -p "$dir"
  cp -n fuzz/corpus/"$1"/* "$dir"/ 2>/dev/null || true
  [ -z "$(ls -A "$dir")" ] || return 0
  local book
  book="$(bash scripts/rust-book.sh)"
  case $1 in
    index)
      local pages
      pages=$(mktemp -d)
      printf '# Ownership\n\nEach value has an owner.\n\n## Moves {#moves}\n\nA move transfers ownership.\n' > "$pages/own.md"
      cargo run --release --quiet -- --models models index "$pages" --out "$dir/seed.idx" >/dev/null
      head -c 512 "$dir/seed.idx" > "$dir/seed-head" ;;
    shards)
      # A four-passage index split into two partitions, two fragments, its postings chunks and
      # its vectors files, packed as fuzz/checks.rs's `unpack_shards` reads them: whole, the
      # entry alone, the entry with each kind of file, and each of those sealed (length and
      # CRC-32 left to the check).
      local pages folder
      pages=$(mktemp -d)
      folder=$(mktemp -d)
      printf '# Ownership\n\nEach value has an owner.\n\n## Moves {#moves}\n\nA move transfers ownership.\n\n## Borrowing\n\nA reference borrows a value.\n\n## Slices\n\nA slice is a view.\n' > "$pages/own.md"
      cargo run --release --quiet -- --models models index "$pages" --out "$folder/seed.idx" >/dev/null
      cargo run --release --quiet -- --models models shard "$folder/seed.idx" --out "$folder/shards" \
        --partition-passages 2 --probe 1 --postings-bytes 64 --fragment-bytes 40 2>/dev/null
      node - "$folder/shards" "$dir" <<'JS'
const fs = require("node:fs");
const [root, out] = process.argv.slice(2);
const files = ["vectors", "terms", "text", "exact"].flatMap((k) => fs.readdirSync(`${root}/${k}`).sort().map((f) => `${k}/${f}`));
const record = (path, sealed) => {
  const bytes = fs.readFileSync(`${root}/${path}`);
  const body = sealed ? Buffer.concat([bytes.subarray(0, 12), bytes.subarray(20, bytes.length - 4)]) : bytes;
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length);
  return Buffer.concat([Buffer.from([sealed ? 1 : 0, path.length]), Buffer.from(path), len, body]);
};
const pack = (name, paths, sealed) => fs.writeFileSync(`${out}/${name}${sealed ? "-sealed" : ""}`, Buffer.concat(["entry.bin", ...paths].map((p) => record(p, sealed))));
for (const sealed of [false, true]) {
  pack("whole", files, sealed);
  pack("entry", [], sealed);
  for (const kind of ["vectors", "terms", "text", "exact"]) pack(kind, files.filter((f) => f.startsWith(kind)), sealed);
}
JS
      rm -rf "$pages" "$folder" ;;
    gguf)
      local gguf=models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q8_0.gguf
      for n in 64 1024 16384; do head -c $n "$gguf" > "$dir/head-$n"; done ;;
    embedder)
      local int8=models/all-MiniLM-L6-v2/model.q8_0.gguf
      for n in 64 1024 16384; do head -c $n "$int8" > "$dir/head-$n"; done
      head -c 4096 models/all-MiniLM-L6-v2/model.safetensors > "$dir/safetensors-head" ;;
    html)
      for p in ch04-01-what-is-ownership.html ch08-03-hash-maps.html index.html; do head -c 8192 "$book/$p" > "$dir/$p"; done ;;
    markdown)
      head -c 8192 README.md > "$dir/readme.md"
      printf '# Title {#t}\n\n## A *b* `c`\n\n- list\n\n```rust\nfn main() {}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n' > "$dir/syntax.md" ;;
    messages)
      printf '{"sources": 3, "maxTokens": 64, "temperature": 0.7, "topP": 0.9, "seed": 5}' > "$dir/ask.json"
      printf '{"maxTokenz": 8}' > "$dir/misspelt.json"
      printf '[{"url": "a.md", "text": "# A\\n\\nSome text."}, {"url": "b", "text": "<h1>B</h1>", "format": "html"}]' > "$dir/documents.json" ;;
    tokenizer)
      printf 'What is ownership?' > "$dir/ascii"
      printf 'Ünïcödé 日本語 🦀 \xe2\x80\x8b' > "$dir/unicode"
      printf '\x00\x01\xff\xfe' > "$dir/bytes" ;;
  esac
}

report=()
for t in "${targets[@]}"; do
  seed "$t"
  log=target/fuzz-$t.log
  mkdir -p target "fuzz/artifacts/$t"
  status=0
  (cd fuzz && cargo +nightly fuzz run --sanitizer none "$t" "../target/fuzz-corpus/$t" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=6144 -timeout=30 -print_final_stats=1) > "$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  findings=$(find "fuzz/artifacts/$t" -type f | wc -l)
  # Keep the corpus small: only inputs that add coverage.
  (cd fuzz && cargo +nightly fuzz cmin --sanitizer none "$t" "../target/fuzz-corpus/$t" -- -rss_limit_mb=6144) >> "$log" 2>&1 || true
  # Named seeds (the tests look some up by name; libFuzzer names its inputs by SHA-1) are kept
  # whatever their size.
  named=$(mktemp -d)
  find "fuzz/corpus/$t" -type f -regextype posix-extended ! -regex '.*/[0-9a-f]{40}' -exec cp -t "$named" {} + 2>/dev/null || true
  rm -rf "fuzz/corpus/$t" && mkdir -p "fuzz/corpus/$t"
  # Read whole before cutting: `head` closing the pipe early would fail the script (pipefail).
  mapfile -t small < <(find "target/fuzz-corpus/$t" -type f -size -4097c | sort)
  [ ${#small[@]} -eq 0 ] || cp -t "fuzz/corpus/$t" "${small[@]:0:300}"
  cp -t "fuzz/corpus/$t" "$named"/* 2>/dev/null || true
  rm -rf "$named"
  report+=("$t: ${runs:-?} executions in ${seconds} s, $findings finding(s), $(ls "target/fuzz-corpus/$t" | wc -l) corpus inputs, $(ls "fuzz/corpus/$t" | wc -l) kept for replay (exit $status)")
done
printf '%s\n' "${report[@]}"
