#!/usr/bin/env bash
# The CUDA checks and measurements of bench/CUDA.md, in one go, on a machine with an
# NVIDIA GPU:
#
#   bench/gpu.sh [--gpu N] [--peak-tflops F] [--quick] [--skip-build] [--skip-torch]
#
# 1. builds the release binary and the test binaries with `--features cuda`
#    (bench/cuda-toolchain.sh --runtime provides nvcc and the CUDA 13 libraries);
# 2. runs the finite-difference gradient checks (tests/model/grads.rs) on the GPU;
# 3. trains SmolLM2-135M for 20 SFT steps in bf16 on the GPU and in f32 on the CPU
#    and compares the loss curves (tests/train/bf16.rs);
# 4. measures SFT step throughput in bf16 for SmolLM2-135M and for a randomly
#    initialised Qwen2.5-0.5B-shaped model, ours beside PyTorch + transformers (eager,
#    autocast bf16) on the same GPU, printing the ratios and the MFU of both;
# 5. measures a GRPO step (sampling, reference, update) on SmolLM2-135M in bf16.
#
# Everything is printed and also written under bench/out/gpu-<time>/. Needs the
# internet for the first run (crates, the CUDA and PyTorch wheels, the SmolLM2 GGUF).
set -euo pipefail

cd "$(dirname "$0")/.."
gpu=0
peak=""
quick=()
build=1
torch=1
while [ $# -gt 0 ]; do
    case "$1" in
        --gpu) gpu="$2"; shift 2 ;;
        --peak-tflops) peak="$2"; shift 2 ;;
        --quick) quick=(--quick); shift ;;
        --skip-build) build=0; shift ;;
        --skip-torch) torch=0; shift ;;
        *) echo "usage: $0 [--gpu N] [--peak-tflops F] [--quick] [--skip-build] [--skip-torch]" >&2; exit 2 ;;
    esac
done

command -v nvidia-smi >/dev/null || { echo "gpu.sh: nvidia-smi not found: no NVIDIA driver here" >&2; exit 1; }
name=$(nvidia-smi --query-gpu=name --format=csv,noheader -i "$gpu" | head -1)
if [ -z "$peak" ]; then
    # Dense bf16 tensor-core peaks from NVIDIA's data sheets (SXM parts).
    case "$name" in
        *H100*|*H200*|*GH200*) peak=989 ;;
        *A100*) peak=312 ;;
        *L40S*) peak=362 ;;
        *) echo "gpu.sh: no bf16 peak known for '$name'; pass --peak-tflops" >&2; exit 1 ;;
    esac
fi
echo "gpu.sh: cuda:$gpu is $name, bf16 peak $peak TFLOP/s"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/plantune-tui/target-cuda}"
# The CPU side (the f32 reference curve, tokenisation) gets a few cores, pinned.
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-4}"
eval "$(bash bench/cuda-toolchain.sh --runtime)"
out="bench/out/gpu-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
bin="$CARGO_TARGET_DIR/release/plantune-tui"

if [ "$build" = 1 ]; then
    cargo build --release --features cuda
    cargo test --release --features cuda --no-run --test model --test train
fi
bash tests/fetch-model.sh

echo "== 2. gradient checks on cuda:$gpu"
PLANTUNE_TEST_DEVICE="cuda:$gpu" cargo test --release --features cuda --test model grads:: \
    2>&1 | tee "$out/model_grads.txt"

echo "== 3. bf16 SFT on cuda:$gpu against f32 on the CPU, 20 steps"
PLANTUNE_TEST_DEVICE="cuda:$gpu" cargo test --release --features cuda --test train bf16:: \
    -- --nocapture 2>&1 | tee "$out/train_bf16.txt"

python=()
if [ "$torch" = 1 ]; then
    py=$(bash bench/torch-venv.sh)
    "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
        echo "gpu.sh: the torch of $py sees no GPU (a CPU-only wheel?); rerun with --skip-torch or fix the venv" >&2
        exit 1
    }
    python=(--torch --python "$py")
fi

echo "== 4. SFT step throughput, bf16, ours beside PyTorch"
for model in default random:qwen2.5-0.5b; do
    model_args=()
    [ "$model" = default ] || model_args=(--model "$model")
    tag=${model//[:.]/-}
    for shape in "4 256" "8 1024"; do
        set -- $shape
        "$bin" --device "cuda:$gpu" --threads "$RAYON_NUM_THREADS" bench train \
            "${model_args[@]}" --precision bf16 --batch "$1" --seq "$2" \
            --peak-tflops "$peak" "${python[@]}" "${quick[@]}" \
            --json "$out/train-$tag-$1x$2.json" 2>&1 | tee "$out/train-$tag-$1x$2.txt"
    done
done

echo "== 5. GRPO step, bf16, SmolLM2-135M"
smollm2="$HOME/.cache/plantune-tui/models/SmolLM2-135M-Instruct-f32"
"$bin" --device "cuda:$gpu" --threads "$RAYON_NUM_THREADS" bench grpo --model "$smollm2" \
    --precision bf16 --group 8 --max-new-tokens 256 --micro-batch 8 2>&1 | tee "$out/grpo.txt"

echo "gpu.sh: results in $out"
