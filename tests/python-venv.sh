#!/usr/bin/env bash
# The Python the interop tests (tests/interop.rs) run: a venv with torch, transformers,
# peft, safetensors, gguf and numpy from PyPI, created once in
# ~/.cache/plantune-tui/interop-venv (or $PLANTUNE_INTEROP_VENV) and reused after.
# Prints the interpreter's path on stdout; progress goes to stderr. Creating it takes
# minutes and several GB (PyPI's Linux torch wheel brings its CUDA libraries).
set -euo pipefail
venv="${PLANTUNE_INTEROP_VENV:-$HOME/.cache/plantune-tui/interop-venv}"
probe='import torch, transformers, peft, safetensors, gguf, numpy'
if ! "$venv/bin/python" -c "$probe" 2>/dev/null; then
    echo "creating $venv (torch, transformers, peft, safetensors, gguf, numpy from PyPI)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip >&2
    "$venv/bin/pip" install --quiet torch transformers peft safetensors gguf numpy >&2
    "$venv/bin/python" -c "$probe" >&2
fi
echo "$venv/bin/python"
