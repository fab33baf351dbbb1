#!/usr/bin/env bash
# The Python that the `--torch` side of the benchmarks runs: a venv with torch and
# transformers from PyPI, created once in ~/.cache/plantune-tui/bench-venv (or
# $PLANTUNE_BENCH_VENV). Prints the interpreter's path; progress goes to stderr.
# The Linux torch wheel brings its CUDA libraries (several GB), so the same venv
# serves the CPU comparisons and bench/gpu.sh.
set -euo pipefail
venv="${PLANTUNE_BENCH_VENV:-$HOME/.cache/plantune-tui/bench-venv}"
if ! "$venv/bin/python" -c 'import torch, transformers' 2>/dev/null; then
    echo "creating $venv (torch + transformers from PyPI)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip >&2
    "$venv/bin/pip" install --quiet torch transformers safetensors >&2
fi
echo "$venv/bin/python"
