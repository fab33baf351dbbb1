#!/usr/bin/env bash
# Runs `plantune-tui bench gpu-check` from the carried bundle on a GPU machine that
# reaches no registry (bench/gpu-bundle.sh builds the bundle and copies this file in as
# its run.sh; bench/CUDA.md has the device commands):
#
#   bash bench/gpu-bundle/run.sh --out "$OUT" [--quick] [--limit SECONDS] [gpu-check args]
#
# Unpacks the binary into /tmp (not into --out, whose files travel back), finds the
# CUDA 13 libraries the binary links (the driver's libcuda.so.1; cuBLAS, cuRAND, the
# runtime and NVRTC from the wheels of the machine's PyTorch, else its toolkit), checks
# that every one resolves, then runs the check on cuda:0 beside PyTorch (python3), with
# everything it prints also in --out/gpu-check.log.
#   PLANTUNE_GPU_CHECK_DEVICE (default cuda:0), PLANTUNE_GPU_CHECK_THREADS (default 8),
#   PLANTUNE_GPU_CHECK_PYTHON (default python3; "none" runs ours only).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=""
prev=""
for arg in "$@"; do
    [ "$prev" = --out ] && out="$arg"
    prev="$arg"
done
[ -n "$out" ] || { echo "run.sh: pass --out DIR (\"\$OUT\" on the device machine)" >&2; exit 2; }
mkdir -p "$out"
log="$out/gpu-check.log"
exec > >(tee -a "$log") 2>&1

work="${PLANTUNE_BUNDLE_TMP:-/tmp/plantune-gpu-bundle}"
mkdir -p "$work"
bin="$work/plantune-tui"
if [ ! -x "$bin" ] || [ "$here/plantune-tui.gz" -nt "$bin" ]; then
    gunzip -c "$here/plantune-tui.gz" > "$bin.tmp" && chmod +x "$bin.tmp" && mv "$bin.tmp" "$bin" \
        || { echo "run.sh: could not unpack $here/plantune-tui.gz into $work" >&2; exit 1; }
fi
want=$(sed -n 's/^sha256 //p' "$here/MANIFEST")
got=$(sha256sum "$bin" | cut -d' ' -f1)
[ "$want" = "$got" ] || { echo "run.sh: $bin has sha256 $got, MANIFEST says $want" >&2; exit 1; }

# Library folders, most specific first: what the machine already sets, the CUDA 13
# wheels beside its PyTorch, the driver's mount, then a system toolkit.
python="${PLANTUNE_GPU_CHECK_PYTHON:-python3}"
dirs=()
if [ "$python" != none ] && command -v "$python" >/dev/null; then
    while IFS= read -r d; do dirs+=("$d"); done < <("$python" - <<'PY' 2>/dev/null
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
for root in roots:
    for d in sorted(glob.glob(os.path.join(root, "nvidia", "*", "lib"))):
        print(d)
PY
)
fi
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/local/cuda/lib64 \
    /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    [ -d "$d" ] && dirs+=("$d")
done
joined=$(IFS=:; echo "${dirs[*]}")
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$joined"
echo "run.sh: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

missing=$(ldd "$bin" | grep 'not found')
ldd "$bin" | grep -E 'cuda|cublas|curand|nvrtc|cudart'
if [ -n "$missing" ]; then
    echo "run.sh: libraries not found:" >&2
    echo "$missing" >&2
    for lib in $(echo "$missing" | awk '{print $1}'); do
        echo "  candidates for $lib:" >&2
        find / -xdev -name "$lib*" 2>/dev/null | head -5 >&2
    done
    exit 1
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

export PLANTUNE_CACHE_DIR="${PLANTUNE_CACHE_DIR:-$work/cache}"
torch_args=(--torch --python "$python")
[ "$python" = none ] && torch_args=()
"$bin" --device "${PLANTUNE_GPU_CHECK_DEVICE:-cuda:0}" --threads "${PLANTUNE_GPU_CHECK_THREADS:-8}" \
    bench gpu-check "${torch_args[@]}" "$@"
rc=$?
echo "run.sh: gpu-check exited with $rc (0 all passed, 1 a section failed or errored, 3 --limit reached)"
exit $rc
