#!/usr/bin/env bash
# Launches train_trl.py with accelerate. Usage:
#   ./launch_trl.sh CONFIG sft|grpo --model MODEL --output-dir OUT [train_trl.py flags]
# CONFIG is one of accelerate/: one_gpu, multi_gpu, zero2, zero3, multi_node.
# Several GPUs: NUM_PROCESSES=8 ./launch_trl.sh multi_gpu grpo ...
# Several nodes: on every node, with the same MAIN_IP and its own MACHINE_RANK:
#   NUM_MACHINES=2 MACHINE_RANK=0 MAIN_IP=10.0.0.1 NUM_PROCESSES=16 ./launch_trl.sh multi_node sft ...
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="${1:?usage: launch_trl.sh CONFIG sft|grpo --model MODEL --output-dir OUT [flags]}"
shift
file="$here/accelerate/$config.yaml"
if [[ ! -f "$file" ]]; then
    echo "no accelerate config $file (one_gpu, multi_gpu, zero2, zero3, multi_node)" >&2
    exit 2
fi
extra=()
[[ -n "${NUM_PROCESSES:-}" ]] && extra+=(--num_processes "$NUM_PROCESSES")
[[ -n "${NUM_MACHINES:-}" ]] && extra+=(--num_machines "$NUM_MACHINES")
[[ -n "${MACHINE_RANK:-}" ]] && extra+=(--machine_rank "$MACHINE_RANK")
[[ -n "${MAIN_IP:-}" ]] && extra+=(--main_process_ip "$MAIN_IP")
[[ -n "${MAIN_PORT:-}" ]] && extra+=(--main_process_port "$MAIN_PORT")
exec "${PYTHON:-python3}" -m accelerate.commands.launch --config_file "$file" "${extra[@]}" \
    "$here/train_trl.py" "$@"
