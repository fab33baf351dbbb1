#!/usr/bin/env bash
# The Python the interop tests (tests/interop.rs) run: a venv with torch, transformers,
# peft, safetensors, gguf and numpy from PyPI, created once in
# ~/.cache/plantune-tui/interop-venv (or $PLANTUNE_INTEROP_VENV) and reused after.
# Prints the interpreter's path on stdout; progress goes to stderr. Creating it takes
# minutes and several GB (PyPI's Linux torch wheel brings its CUDA libraries).
set -euo pipefail
venv="${PLANTUNE_INTEROP_VENV:-$HOME/.cache/plantune-tui/interop-venv}"
# The versions the interop tests were written against, so a new release upstream
# cannot turn CI red by itself.
packages=(torch==2.15.0 transformers==5.25.0 peft==0.21.2 safetensors==0.8.0 gguf==0.19.0 numpy==2.4.6)
probe='import torch, transformers, peft, safetensors, gguf, numpy'
if ! "$venv/bin/python" -c "$probe" 2>/dev/null; then
    echo "creating $venv (torch, transformers, peft, safetensors, gguf, numpy from PyPI)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip >&2
    "$venv/bin/pip" install --quiet "${packages[@]}" >&2
    "$venv/bin/python" -c "$probe" >&2
fi
echo "$venv/bin/python"
