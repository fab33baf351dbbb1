#!/usr/bin/env bash
# Provisions a CUDA toolchain from PyPI wheels, for building `--features cuda` on a
# machine without a system-wide CUDA install (CI, or this repo's CPU-only dev boxes).
#
#   eval "$(bench/cuda-toolchain.sh)"              # nvcc + headers: enough for `cargo check`
#   eval "$(bench/cuda-toolchain.sh --runtime)"    # + the libraries `cargo build` links
#
# Installs once into $PLANTUNE_CUDA_DIR (default ~/.cache/plantune-tui/cuda); a second
# run with the same pins only prints the environment. Progress goes to stderr and the
# `export` lines to stdout, so the output can be eval'd.
#
# Why these pins: candle-core 0.11.1 uses cudarc 0.19.10, which reads the toolkit version
# from `nvcc --version` and knows CUDA 11.4 to 13.4. The nvcc wheels for 12.x hold only
# ptxas, so the toolkit is a 13.x one, and 13.0 because candle's kernels ship as PTX that
# the driver JIT-compiles: a driver rejects PTX from a newer toolkit than itself, and
# every CUDA 13 driver accepts 13.0's.
set -euo pipefail

CUDA_VER=13.0.88
RUNTIME_VER=13.0.96
CCCL_VER=13.0.85
CUBLAS_VER=13.0.2.14
CURAND_VER=10.4.0.35
CUDARC_VERSION=13000

runtime=0
for arg in "$@"; do
    case "$arg" in
        --runtime) runtime=1 ;;
        *) echo "usage: $0 [--runtime]" >&2; exit 2 ;;
    esac
done

dir="${PLANTUNE_CUDA_DIR:-$HOME/.cache/plantune-tui/cuda}"
root="$dir/site/nvidia/cu13"

# nvcc-side wheels: the driver (nvcc), the front end (cicc, in nvvm), the crt/ and
# runtime headers, and CCCL (cuda_fp16.h includes <nv/target> from it).
wheels=(
    "nvidia-cuda-nvcc==$CUDA_VER"
    "nvidia-nvvm==$CUDA_VER"
    "nvidia-cuda-crt==$CUDA_VER"
    "nvidia-cuda-runtime==$RUNTIME_VER"
    "nvidia-cuda-cccl==$CCCL_VER"
)
if [ "$runtime" = 1 ]; then
    # What candle's cudarc (dynamic-linking) and candle-kernels link against.
    wheels+=(
        "nvidia-cuda-nvrtc==$CUDA_VER"
        "nvidia-cublas==$CUBLAS_VER"
        "nvidia-curand==$CURAND_VER"
    )
fi
stamp="${wheels[*]}"

installed_stamp() { cat "$dir/.installed" 2>/dev/null || true; }

# A runtime install also satisfies a plain one, so a later plain call does not downgrade.
have=$(installed_stamp)
if [ "$have" != "$stamp" ] && ! { [ "$runtime" = 0 ] && [[ "$have" == "$stamp "* ]]; }; then
    python3 -m pip --version >/dev/null 2>&1 || { echo "cuda-toolchain: needs python3 with pip (python3-pip)" >&2; exit 1; }
    command -v g++ >/dev/null || { echo "cuda-toolchain: nvcc needs a host C++ compiler (g++)" >&2; exit 1; }
    echo "cuda-toolchain: installing ${wheels[*]} into $dir" >&2
    # One pip call into a fresh directory, then a rename: wheels share nvidia/cu13/, which
    # pip --target refuses to merge across calls, and an interrupted run must not leave a
    # half toolkit that the stamp check would accept.
    tmp="$dir.tmp.$$"
    rm -rf "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    if ! python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
        --only-binary=:all: --target "$tmp/site" "${wheels[@]}" >&2; then
        echo "cuda-toolchain: pip could not install the CUDA wheels (see above)" >&2
        exit 1
    fi
    troot="$tmp/site/nvidia/cu13"
    # cudaforge and cudarc look for <root>/lib64 and unversioned .so names, as in a
    # system toolkit; the wheels only ship lib/ with SONAME-versioned files.
    ln -s lib "$troot/lib64"
    for so in "$troot"/lib/lib*.so.*; do
        [ -e "$so" ] || continue
        base="${so%%.so.*}.so"
        [ -e "$base" ] || ln -s "$(basename "$so")" "$base"
    done
    if [ "$runtime" = 1 ]; then
        # libcuda comes with the driver, not with any wheel, and cudarc links it by name.
        # A stub that defines every driver entry point of this cuda.h satisfies the
        # linker; the binary records the SONAME libcuda.so.1 and gets the real driver
        # library at run time. It lives in lib/stubs, off LD_LIBRARY_PATH, so it can
        # never be loaded in place of the driver.
        mkdir -p "$troot/lib/stubs"
        gcc -E -P -I"$troot/include" "$troot/include/cuda.h" \
            | grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | tr -d '( ' | sort -u \
            | sed 's/.*/void &(void) {}/' > "$tmp/libcuda-stub.c"
        gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$troot/lib/stubs/libcuda.so" \
            "$tmp/libcuda-stub.c"
        rm "$tmp/libcuda-stub.c"
    fi
    printf '%s\n' "$stamp" > "$tmp/.installed"
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    mv "$tmp" "$dir"
    trap - EXIT
fi

if ! out=$(PATH="$root/bin:$PATH" nvcc --version 2>&1); then
    echo "cuda-toolchain: $root/bin/nvcc does not run:" >&2
    echo "$out" >&2
    exit 1
fi
echo "cuda-toolchain: $(echo "$out" | grep -m1 release)" >&2

# CUDA_COMPUTE_CAP: cudaforge otherwise asks nvidia-smi, absent on a build machine;
# 90 is the H100/H200 the GPU runs use. CUDARC_CUDA_VERSION pins cudarc to the toolkit
# rather than to whatever nvcc comes first on a later PATH.
cat <<EOF
export PATH="$root/bin:\$PATH"
export CUDA_ROOT="$root"
export CUDA_PATH="$root"
export CUDA_HOME="$root"
export NVCC="$root/bin/nvcc"
export CUDA_COMPUTE_CAP="\${CUDA_COMPUTE_CAP:-90}"
export CUDARC_CUDA_VERSION=$CUDARC_VERSION
export LD_LIBRARY_PATH="$root/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
EOF
# For the linker only (cc reads LIBRARY_PATH): cudarc's build script looks for
# lib/stubs once and caches the answer, so a stub added after a first build would be
# missed; and unlike RUSTFLAGS it leaves cargo's fingerprints alone.
if [ -d "$root/lib/stubs" ]; then
    echo "export LIBRARY_PATH=\"$root/lib/stubs:$root/lib\${LIBRARY_PATH:+:\$LIBRARY_PATH}\""
fi
