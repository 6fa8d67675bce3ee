// Writes the texts the vector-search benchmark embeds: the first 20,000 sentences (of 5+ words)
// of SciFact's abstracts, one per line, and SciFact's test queries, one per line.
// Usage: node bench/scifact-texts.mjs <scifact folder> <out folder> [count]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [dir, out, count = "20000"] = process.argv.slice(2);
const lines = (file) => readFileSync(join(dir, file), "utf8").split("\n").filter(Boolean);
const sentences = [];
for (const line of lines("corpus.jsonl")) {
  for (const s of JSON.parse(line).text.split(/(?<=[.!?])\s+(?=[A-Z])/)) {
    if (s.split(/\s+/).length >= 5 && sentences.length < Number(count)) sentences.push(s.replace(/\s+/g, " ").trim());
  }
}
const tested = new Set(lines("qrels/test.tsv").slice(1).map((l) => l.split("\t")[0]));
const queries = lines("queries.jsonl").map((l) => JSON.parse(l)).filter((q) => tested.has(q._id)).map((q) => q.text.replace(/\s+/g, " ").trim());
writeFileSync(join(out, "scifact-sentences.txt"), sentences.join("\n") + "\n");
writeFileSync(join(out, "scifact-queries.txt"), queries.join("\n") + "\n");
console.log(`${sentences.length} sentences, ${queries.length} queries -> ${out}`);
