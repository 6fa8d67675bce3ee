# Every target is a script in scripts/ that also runs on its own.
.PHONY: demo test models bench-native

## Index the Rust Book with the default models and answer a question about it.
demo:
	bash scripts/demo.sh

## Run every test (installs what the tests need first).
test:
	bash scripts/test.sh

## Download, verify and convert the default models into models/.
models:
	bash scripts/models.sh

## Print native speed of each stage beside its baseline.
bench-native:
	bash scripts/bench-native.sh
