#!/usr/bin/env bash
# GRPO with verl (needs GPUs and a Ray cluster; vLLM does the rollouts). Usage:
#   MODEL=/path/to/sft-model ./verl/run_verl_grpo.sh [extra hydra overrides]
# Several nodes: start Ray (`ray start --head` on one, `ray start --address=HEAD:6379`
# on the others) and set NNODES. Metrics go to verl's file logger, one JSON line per
# step in $LOG (watch it with `plantune-tui runs watch $LOG`).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${MODEL:?set MODEL to the starting model directory}"
OUT="${OUT:-$here/verl_out}"
LOG="${LOG:-$OUT/verl_log.jsonl}"
mkdir -p "$OUT"
"${PYTHON:-python3}" "$here/verl/to_parquet.py" "$here/grpo.jsonl" "$here/verl"
export VERL_FILE_LOGGER_PATH="$LOG"
exec "${PYTHON:-python3}" -m verl.trainer.main_ppo \
    algorithm.adv_estimator=grpo \
    data.train_files="$here/verl/train.parquet" \
    data.val_files="$here/verl/val.parquet" \
    data.train_batch_size="${BATCH:-64}" \
    data.max_prompt_length="${MAX_PROMPT:-1024}" \
    data.max_response_length="${MAX_NEW_TOKENS:-512}" \
    actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.actor.optim.lr="${LR:-1e-6}" \
    actor_rollout_ref.actor.use_kl_loss=True \
    actor_rollout_ref.actor.kl_loss_coef="${BETA:-0.001}" \
    actor_rollout_ref.actor.ppo_mini_batch_size="${MINI_BATCH:-16}" \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu="${MICRO_BATCH:-4}" \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.n="${GROUP:-8}" \
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu="${MICRO_BATCH:-4}" \
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu="${MICRO_BATCH:-4}" \
    custom_reward_function.path="$here/rewards.py" \
    custom_reward_function.name=compute_score \
    trainer.logger='["console","file"]' \
    trainer.project_name=plantune \
    trainer.experiment_name="${NAME:-grpo}" \
    trainer.default_local_dir="$OUT/checkpoints" \
    trainer.n_gpus_per_node="${GPUS:-8}" \
    trainer.nnodes="${NNODES:-1}" \
    trainer.save_freq="${SAVE_EVERY:-50}" \
    trainer.total_training_steps="${MAX_STEPS:-500}" \
    trainer.resume_mode=auto \
    "$@"
