#!/usr/bin/env bash
# The Python the interop and export tests (tests/interop.rs, tests/export) run: a venv with
# torch, transformers, peft, safetensors, gguf, numpy, trl, accelerate, datasets and pyarrow
# from PyPI, created once in
# ~/.cache/plantune-tui/interop-venv (or $PLANTUNE_INTEROP_VENV) and reused after.
# Prints the interpreter's path on stdout; progress goes to stderr. Creating it takes
# minutes and several GB (PyPI's Linux torch wheel brings its CUDA libraries).
set -euo pipefail
venv="${PLANTUNE_INTEROP_VENV:-$HOME/.cache/plantune-tui/interop-venv}"
# The versions the interop tests were written against, so a new release upstream
# cannot turn CI red by itself.
packages=(torch==2.15.0 transformers==5.25.0 peft==0.21.2 safetensors==0.8.0 gguf==0.19.0 numpy==2.4.6
          trl==1.16.0 accelerate==1.16.0 datasets==5.2.0 pyarrow==26.0.1)
probe='import torch, transformers, peft, safetensors, gguf, numpy, trl, accelerate, datasets, pyarrow'
if ! "$venv/bin/python" -c "$probe" 2>/dev/null; then
    echo "creating or completing $venv (${packages[*]} from PyPI)" >&2
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip >&2
    # The pins double as constraints, so adding a package to an existing venv never
    # moves the torch or transformers already there.
    constraints="$(mktemp)"
    printf '%s\n' "${packages[@]}" > "$constraints"
    "$venv/bin/pip" install --quiet -c "$constraints" "${packages[@]}" >&2
    rm -f "$constraints"
    "$venv/bin/python" -c "$probe" >&2
fi
echo "$venv/bin/python"
