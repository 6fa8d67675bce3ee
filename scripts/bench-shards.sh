#!/usr/bin/env bash
# Sharded index beside the one-file index (issue 15): size, entry, bytes and native latency per
# query (a first visit's and later ones in the same session), and hybrid recall@10 against the
# one-file index, over the Rust Book questions in tests/data. Numbers, not pass/fail.
# Usage: scripts/bench-shards.sh [INDEX_FILE] (default: the demo's Rust Book index); PROBES
# lists the partitions read per query to measure (default "16 32 64"), SHARD_ARGS extra options
# for `wasmrag shard`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/models.sh
index="${1:-}"
if [ -z "$index" ]; then
  bash scripts/index-book.sh
  index=www/rust-book.idx
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) if (l.trim()) console.log(JSON.parse(l).question)' \
  tests/data/rust-book-qa.jsonl > "$work/queries.txt"
cat tests/data/off-topic-questions.txt >> "$work/queries.txt"
one_file=$(stat -c %s "$index")
printf '%-28s %10s %10s %12s %12s %10s %8s\n' layout total entry first-query later-query native-ms recall
printf '%-28s %10s %10s %12s %12s %10s %8s\n' "one file" "$one_file" "$one_file" "$one_file" 0 - 1.000
for probe in ${PROBES:-16 32 64}; do
  # shellcheck disable=SC2086 # SHARD_ARGS is a list of options
  ./target/release/wasmrag shard "$index" --out "$work/shards" --probe "$probe" ${SHARD_ARGS:-} 2>/dev/null
  ./target/release/wasmrag search "$work/shards" --queries "$work/queries.txt" --compare "$index" -k 10 > "$work/report.json"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const kb = (b) => Math.round(b).toString();
    console.log([`sharded, probe ${r.probe}`.padEnd(28), kb(r.total_bytes).padStart(10), kb(r.entry_bytes).padStart(10),
      kb(r.first_query_bytes_median).padStart(12), kb(r.session_query_bytes_median).padStart(12),
      r.native_ms_median.toFixed(1).padStart(10), r.recall_at_k.toFixed(3).padStart(8)].join(" "));
    console.error(`  probe ${r.probe}: ${r.files} files; first query max ${kb(r.first_query_bytes_max)} B; ${r.queries} queries read ${kb(r.session_bytes_read)} B in all`);
  ' "$work/report.json"
done
echo "Bytes are raw file sizes (median over the questions); a host that gzips saves more on text and postings."
echo "Pagefind (published): under 300 kB per visitor for a 10,000-page site; no vector search."
