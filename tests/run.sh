#!/usr/bin/env bash
# The test command (the README's second command; .ci/run calls exactly this).
# Fetches the real model the tests need if it is not there yet, pins threads (with two
# shared cores an unpinned pool stalls), makes the Python venv of the interop tests, and
# runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/plantune-tui/target}"
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-1}"
bash tests/fetch-model.sh
# transformers, PEFT and gguf for tests/interop.rs (a cached venv; minutes the first time).
PLANTUNE_PYTHON="$(bash tests/python-venv.sh)"
export PLANTUNE_PYTHON
cargo test --all-targets -- --test-threads=2
