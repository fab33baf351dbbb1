#!/usr/bin/env python3
"""SFT or GRPO with TRL on this bundle's data, for plantune-tui to launch and watch.

    python3 train_trl.py sft  --model MODEL_DIR --output-dir OUT [--max-steps N] ...
    accelerate launch --config_file accelerate/multi_gpu.yaml train_trl.py grpo ...

Continues from the newest `OUT/checkpoint-N` when one exists, and says so. Appends one
JSON object per line to --log (default OUT/trl_log.jsonl), flushed at once, so the run
can be followed from another machine (`plantune-tui runs watch FILE`):

    {"event": "start", "t": ms, "mode": .., "max_steps": .., "resume_from": ..}
    {"event": "step", "t": ms, "step": .., "max_steps": .., "loss": .., "lr": ..,
     "grad_norm": .., "tokens": .., "rewards": {"answer": mean, ..}, "reward": ..,
     "reward_std": .., "kl": .., "completion_len": .., "elapsed_s": ..}
    {"event": "sample", "t": ms, "step": .., "prompt": .., "completion": .., "answer": ..,
     "rewards": {..}}
    {"event": "checkpoint", "t": ms, "step": .., "path": ..}
    {"event": "end", "t": ms, "status": "completed" | "stopped" | "failed", "step": ..,
     "max_steps": .., "error": ..}

SIGTERM (or SIGINT) finishes the current step, saves a checkpoint and ends `stopped`.
Only the main process (rank 0) writes the log.
"""

import argparse
import json
import os
import re
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
STARTED = time.time()
STOP = {"requested": False}


def now_ms():
    return int(time.time() * 1000)


class Log:
    def __init__(self, path):
        self.main = int(os.environ.get("RANK", "0")) == 0
        self.path = path
        if self.main:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def write(self, event, **fields):
        if not self.main:
            return
        line = {"event": event, "t": now_ms()}
        line.update({k: v for k, v in fields.items() if v is not None})
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, allow_nan=False, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())


def newest_checkpoint(output_dir):
    best = None
    if os.path.isdir(output_dir):
        for name in os.listdir(output_dir):
            m = re.fullmatch(r"checkpoint-(\d+)", name)
            path = os.path.join(output_dir, name)
            if m and os.path.isfile(os.path.join(path, "trainer_state.json")):
                if best is None or int(m.group(1)) > best[0]:
                    best = (int(m.group(1)), path)
    return best[1] if best else None


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["sft", "grpo"])
    p.add_argument("--model", required=True, help="a Hugging Face model directory or hub id")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--data", help="default: sft.jsonl or grpo.jsonl beside this script")
    p.add_argument("--log", help="default: OUTPUT_DIR/trl_log.jsonl")
    p.add_argument("--max-steps", type=int, default=100)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=4, help="SFT: examples per device per step")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--group-size", type=int, default=4, help="GRPO: completions per prompt")
    p.add_argument("--prompts-per-step", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--beta", type=float, default=0.0, help="GRPO: KL weight to the reference")
    p.add_argument("--save-steps", type=int, default=50)
    p.add_argument("--save-total-limit", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU exists")
    p.add_argument("--samples", type=int, default=1, help="GRPO: completions logged per step")
    p.add_argument("--deepspeed", help="a DeepSpeed JSON config (accelerate configs carry their own)")
    return p.parse_args(argv)


def on_stop(signum, frame):
    STOP["requested"] = True


def callback_class(log, args):
    from transformers import TrainerCallback

    class PlantuneCallback(TrainerCallback):
        def on_log(self, targs, state, control, logs=None, **kw):
            logs = logs or {}
            if "loss" not in logs and "reward" not in logs:
                return
            rewards = {}
            for key, value in logs.items():
                m = re.fullmatch(r"rewards/([^/]+)/mean", key)
                if m and m.group(1) != "samples":
                    rewards[m.group(1)] = value
            log.write(
                "step",
                step=state.global_step,
                max_steps=state.max_steps,
                epoch=logs.get("epoch"),
                loss=logs.get("loss", 0.0),
                lr=logs.get("learning_rate"),
                grad_norm=logs.get("grad_norm"),
                tokens=logs.get("num_tokens"),
                rewards=rewards or None,
                reward=logs.get("reward"),
                reward_std=logs.get("reward_std"),
                kl=logs.get("kl"),
                clip_frac=logs.get("clip_ratio/region_mean"),
                completion_len=logs.get("completions/mean_length"),
                accuracy=logs.get("mean_token_accuracy"),
                elapsed_s=round(time.time() - STARTED, 3),
            )

        def on_step_end(self, targs, state, control, **kw):
            if STOP["requested"]:
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_save(self, targs, state, control, **kw):
            path = os.path.join(targs.output_dir, f"checkpoint-{state.global_step}")
            log.write("checkpoint", step=state.global_step, path=path)

    return PlantuneCallback


def sample_logger(log, trainer_ref, count):
    """A reward function of weight 0 that logs the first completions of each batch."""
    import rewards

    def samples(prompts, completions, answer=None, plan=None, question=None, **kw):
        state = trainer_ref[0].state if trainer_ref else None
        step = (state.global_step + 1) if state else 0
        for i in range(min(count, len(completions))):
            text = rewards._text(completions[i])
            parts, total = rewards.score_all(text, str(answer[i]) if answer else "",
                                             question[i] if question else None,
                                             plan[i] if plan else None)
            prompt = prompts[i]
            if isinstance(prompt, list):
                prompt = prompt[-1].get("content", "") if prompt else ""
            log.write("sample", step=step, prompt=prompt, completion=text,
                      answer=str(answer[i]) if answer else None,
                      correct=parts.get("answer", 0.0) > 0, reward=total, rewards=parts)
        return [0.0] * len(completions)

    return samples


def build_trainer(args, log, resume):
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sys.path.insert(0, HERE)
    data = args.data or os.path.join(HERE, f"{args.mode}.jsonl")
    dataset = load_dataset("json", data_files=data, split="train")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype)
    common = dict(
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        logging_steps=1,
        save_strategy="steps",
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        seed=args.seed,
        report_to="none",
        disable_tqdm=True,
        bf16=args.bf16,
        use_cpu=args.cpu,
        gradient_accumulation_steps=args.grad_accum,
        deepspeed=args.deepspeed,
    )
    callback = callback_class(log, args)()
    if args.mode == "sft":
        from trl import SFTConfig, SFTTrainer

        dataset = dataset.select_columns(["prompt", "completion"])
        config = SFTConfig(learning_rate=args.lr or 2e-5, per_device_train_batch_size=args.batch_size,
                           max_length=args.max_length, completion_only_loss=True, **common)
        return SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                          callbacks=[callback])
    import rewards
    from trl import GRPOConfig, GRPOTrainer

    weights = rewards.load_weights()
    funcs = rewards.reward_funcs(args.max_new_tokens, weights)
    reward_weights = rewards.trl_reward_weights(weights)
    trainer_ref = []
    if args.samples > 0:
        funcs.append(sample_logger(log, trainer_ref, args.samples))
        reward_weights.append(0.0)
    config = GRPOConfig(learning_rate=args.lr or 1e-6,
                        per_device_train_batch_size=args.group_size * args.prompts_per_step,
                        num_generations=args.group_size, max_completion_length=args.max_new_tokens,
                        temperature=args.temperature, beta=args.beta, reward_weights=reward_weights,
                        **common)
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=config, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[callback])
    trainer_ref.append(trainer)
    return trainer


def main(argv):
    args = parse_args(argv)
    log = Log(args.log or os.path.join(args.output_dir, "trl_log.jsonl"))
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    resume = newest_checkpoint(args.output_dir)
    log.write("start", mode=args.mode, model=args.model, max_steps=args.max_steps, resume_from=resume,
              pid=os.getpid())
    step = 0
    try:
        trainer = build_trainer(args, log, resume)
        trainer.train(resume_from_checkpoint=resume)
        step = trainer.state.global_step
        if STOP["requested"]:
            status = "stopped"
        else:
            status = "completed"
            final = os.path.join(args.output_dir, "final")
            trainer.save_model(final)
            log.write("checkpoint", step=step, path=final, final=True)
    except BaseException as e:  # noqa: BLE001 - the end line must say how it ended
        log.write("end", status="failed", step=step, max_steps=args.max_steps,
                  error=f"{type(e).__name__}: {e}")
        traceback.print_exc()
        return 1
    log.write("end", status=status, step=step, max_steps=args.max_steps)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
