#!/usr/bin/env bash
# Prints the folder of the Rust Book that rustup's rust-docs component installs (the demo's
# and the tests' real documents), installing the component first if it is missing.
set -euo pipefail
book="$(rustc --print sysroot)/share/doc/rust/html/book"
[ -f "$book/ch04-01-what-is-ownership.html" ] || rustup component add rust-docs >&2
echo "$book"
