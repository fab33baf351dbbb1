#!/usr/bin/env bash
# Builds, on this machine, what a lent GPU machine needs to run `bench gpu-check` with
# nothing fetched there: bench/gpu-bundle/ (git-ignored) holding
#   plantune-tui.gz  the stripped release binary built with `--features cuda`, gzipped
#   run.sh           bench/gpu-run.sh: unpacks into /tmp, finds the CUDA libraries, runs
#   MANIFEST         commit, sha256, and each NEEDED library with where it comes from
# at most 60 MiB together (a call carries 64 MiB with the working tree).
#
#   bench/gpu-bundle.sh            # PLANTUNE_CUDA_TARGET overrides the CUDA target dir
#
# nvcc, the CUDA headers and the link-time libraries come from PyPI
# (bench/cuda-toolchain.sh --runtime, as .ci/run does). Nothing CUDA is carried: the
# binary links libcuda.so.1 (the driver's) and the CUDA 13 runtime, cuBLAS(Lt), cuRAND
# and NVRTC, which the GPU machine's PyTorch 2.11 cu130 has as wheels (nvidia-cublas,
# nvidia-cuda-runtime, nvidia-curand, nvidia-cuda-nvrtc): cuBLASLt alone is ~500 MB.
set -euo pipefail
cd "$(dirname "$0")/.."

bundle=bench/gpu-bundle
max_bytes=$((60 * 1024 * 1024))
export CARGO_TARGET_DIR="${PLANTUNE_CUDA_TARGET:-$HOME/.cache/plantune-tui/target-cuda}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
for tool in readelf objdump strip gzip sha256sum; do
    command -v "$tool" >/dev/null || { echo "gpu-bundle: needs $tool (binutils, coreutils, gzip)" >&2; exit 1; }
done
if ! cuda_env=$(bash bench/cuda-toolchain.sh --runtime); then
    echo "gpu-bundle: could not provision the CUDA toolchain from PyPI (see above)" >&2
    exit 1
fi
eval "$cuda_env"
cargo build --release --features cuda --bin plantune-tui
built="$CARGO_TARGET_DIR/release/plantune-tui"

tmp="$bundle.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
strip -o "$tmp/plantune-tui" "$built"

# Each NEEDED library and where the GPU machine gets it; anything else stops the build.
where_from() {
    case "$1" in
        libcuda.so.1) echo "driver: the GPU machine's NVIDIA driver (580, /usr/local/nvidia)" ;;
        libcudart.so.13 | libcublas.so.13 | libcublasLt.so.13 | libcurand.so.10 | libnvrtc.so.13)
            echo "CUDA 13: the wheels of the GPU machine's PyTorch (site-packages/nvidia/cu13/lib), else its toolkit" ;;
        libc.so.6 | libm.so.6 | libgcc_s.so.1 | libstdc++.so.6 | libpthread.so.0 | libdl.so.2 | librt.so.1 | ld-linux-x86-64.so.2)
            echo "system: glibc / the GCC runtime" ;;
        *) return 1 ;;
    esac
}
needed=$(readelf -d "$tmp/plantune-tui" | sed -n 's/.*Shared library: \[\(.*\)\].*/\1/p')
manifest="$tmp/MANIFEST"
{
    echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' (with uncommitted changes)')"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(nvcc --version | grep -m1 release | sed 's/.*release/CUDA/')"
    echo "sha256 $(sha256sum "$tmp/plantune-tui" | cut -d' ' -f1)"
    # The GPU image runs Python 3.12.3 (Ubuntu 24.04, glibc 2.39).
    echo "newest glibc symbol $(objdump -T "$tmp/plantune-tui" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
} > "$manifest"
for lib in $needed; do
    if ! from=$(where_from "$lib"); then
        echo "gpu-bundle: the binary needs $lib, which the GPU machine is not known to have" >&2
        exit 1
    fi
    echo "needed $lib <- $from" >> "$manifest"
done
for lib in libcuda.so.1 libcublas.so.13 libcurand.so.10; do
    grep -q "^needed $lib " "$manifest" || echo "gpu-bundle: note: $lib is not NEEDED (loaded at run time?)" >&2
done

gzip -9 -n "$tmp/plantune-tui"
cp bench/gpu-run.sh "$tmp/run.sh"
chmod +x "$tmp/run.sh"
total=$(du -sb "$tmp" | cut -f1)
echo "bytes $total" >> "$manifest"
if [ "$total" -gt "$max_bytes" ]; then
    echo "gpu-bundle: $total bytes, over the 60 MiB budget" >&2
    exit 1
fi
rm -rf "$bundle"
mv "$tmp" "$bundle"
trap - EXIT
cat "$bundle/MANIFEST"
ls -l "$bundle"
echo "gpu-bundle: $bundle is ready ($((total / 1024 / 1024)) MiB); bench/CUDA.md has the device commands"
