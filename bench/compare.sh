#!/usr/bin/env bash
# Our model code beside PyTorch + transformers on the same SmolLM2-135M directory:
# bench model, bench train and bench generate with --torch, in one go.
#
#   bench/compare.sh [--threads N] [--quick] [model|train|generate ...]
#
# Creates (once) a venv with torch and transformers from PyPI in
# ~/.cache/plantune-tui/bench-venv, builds the release binary, then runs each suite;
# each suite runs our side first and then the PyTorch side, one after the other, so
# they never compete for the cores. Set PLANTUNE_BENCH_VENV to use another venv.
set -euo pipefail

cd "$(dirname "$0")/.."
threads=1
quick=()
suites=()
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads="$2"; shift 2 ;;
        --quick) quick=(--quick); shift ;;
        model|train|generate) suites+=("$1"); shift ;;
        *) echo "usage: $0 [--threads N] [--quick] [model|train|generate ...]" >&2; exit 2 ;;
    esac
done
[ ${#suites[@]} -gt 0 ] || suites=(model train generate)

python=$(bash bench/torch-venv.sh)

export RAYON_NUM_THREADS="$threads"
cargo build --release --quiet
for suite in "${suites[@]}"; do
    "${CARGO_TARGET_DIR:-target}/release/plantune-tui" bench --threads "$threads" "$suite" --torch \
        --python "$python" "${quick[@]}"
    echo
done
