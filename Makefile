# Every target is a script in scripts/ that also runs on its own.
.PHONY: demo demo-cli test test-full check lint fuzz models wasm bench bench-native bench-shards

## Build the wasm package, index the Rust Book and serve the demo on 127.0.0.1.
demo:
	bash scripts/demo.sh

## Index the Rust Book and answer a question about it in the terminal.
demo-cli:
	bash scripts/demo-cli.sh

## Build the npm package in pkg/ (wasm, glue, models).
wasm:
	bash scripts/build-wasm.sh

## Run every test (installs what the tests need first).
test:
	bash scripts/test.sh

## Every test, with the GPU parity tests on the whole generator instead of its first blocks and the demo answering on WebGPU (SwiftShader).
test-full:
	WASMRAG_FULL_MODELS=1 bash scripts/test.sh

## Formatting, clippy and the model-free unit tests: the quick everyday check.
check:
	bash scripts/check.sh

## Formatting and clippy (native and wasm32), warnings as errors.
lint:
	bash scripts/lint.sh

## Fuzz the index decoder, the sharded index reader, GGUF loading (generator and int8 embedder), the chunkers, the tokenizer and the page's requests (10 min each; nightly).
fuzz:
	bash scripts/fuzz.sh

## Download, verify and convert the default models into models/.
models:
	bash scripts/models.sh

## Print browser speed beside the peers (wllama, transformers.js, voy-search, hnswlib-wasm) in headless Chromium.
bench:
	bash scripts/bench.sh

## Print native speed of each stage beside its baseline.
bench-native:
	bash scripts/bench-native.sh

## Print the sharded index's sizes, bytes per query and recall beside the single file.
bench-shards:
	bash scripts/bench-shards.sh
