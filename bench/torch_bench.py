#!/usr/bin/env python3
"""The PyTorch + transformers side of `plantune-tui bench model|train|generate --torch`.

Runs the cases it is given (a JSON list, written by the Rust command so both sides use
the same shapes, inputs, warm-up and repetitions) on the same Hugging Face model
directory, and prints one JSON object on stdout. Nothing here is tuned beyond what a
plain transformers user gets: eager PyTorch, default attention implementation, f32.

Inputs are the same deterministic token ids the Rust side builds (see `token_id`).
Peak RSS is measured per case the same way on both sides: glibc's free memory is
trimmed, the kernel's high-water mark is reset (/proc/self/clear_refs), then VmHWM is
read after the case (model load included).
"""

import argparse
import ctypes
import gc
import json
import os
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="Hugging Face model directory")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cases", required=True, help="JSON list of cases (see bench/README)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--reps", type=int, default=3)
    return p.parse_args()


ARGS = parse_args()
# Thread pools read these at import time, so they are set before torch is imported.
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
# Progress bars and advisories would interleave with the benchmark's own lines.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

transformers.utils.logging.disable_progress_bar()

torch.set_num_threads(ARGS.threads)
torch.set_num_interop_threads(1)

FIRST_ORDINARY_ID = 17  # SmolLM2's 17 control tokens come first; keep inputs ordinary
LORA_ALPHA = 16.0
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
LR = 1e-5
MAX_GRAD_NORM = 1.0


def token_id(row, i, length, vocab):
    """Must equal `bench::model::token_id` on the Rust side."""
    return FIRST_ORDINARY_ID + ((row * length + i) * 7919) % (vocab - FIRST_ORDINARY_ID)


def ids_tensor(batch, length, vocab):
    return torch.tensor(
        [[token_id(r, i, length, vocab) for i in range(length)] for r in range(batch)],
        dtype=torch.long,
    )


_LIBC = ctypes.CDLL("libc.so.6")


def reset_peak_rss():
    _LIBC.malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return None


class LoraLinear(torch.nn.Module):
    """PEFT's LoRA with dropout 0: base(x) + scale * B(A(x)), base frozen."""

    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base = base
        out_dim, in_dim = base.weight.shape
        bound = 1.0 / in_dim**0.5
        self.a = torch.nn.Parameter(torch.empty(rank, in_dim).uniform_(-bound, bound))
        self.b = torch.nn.Parameter(torch.zeros(out_dim, rank))
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale


def load(lora_rank):
    model = AutoModelForCausalLM.from_pretrained(ARGS.model, dtype=torch.float32)
    if lora_rank > 0:
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in model.model.layers:
            attn = layer.self_attn
            for name in LORA_TARGETS:
                setattr(attn, name, LoraLinear(getattr(attn, name), lora_rank, LORA_ALPHA))
    return model


def train_case(case):
    """Forward + backward (and, for `sft_step`, clipping + AdamW) on [batch, seq]."""
    model = load(case["lora_rank"])
    model.train()
    vocab = model.config.vocab_size
    batch, seq = case["batch"], case["seq"]
    ids = ids_tensor(batch, seq, vocab)
    labels = ids.clone()
    labels[:, : seq // 4] = -100  # the prompt quarter carries no loss, as in SFT
    mask = torch.ones_like(ids)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LR, weight_decay=0.0) if case["kind"] == "sft_step" else None
    splits = {"forward_s": 0.0, "backward_s": 0.0, "optimizer_s": 0.0}
    loss_value = None
    cpu = 0.0
    for rep in range(ARGS.warmup + ARGS.reps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        if loss_value is None:
            # The first step's loss comes before any update: both sides must agree.
            loss_value = loss.item()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        if optimizer is not None:
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            optimizer.step()
        model.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        if rep >= ARGS.warmup:
            cpu += time.process_time() - c0
            splits["forward_s"] += t1 - t0
            splits["backward_s"] += t2 - t1
            splits["optimizer_s"] += t3 - t2
    splits = {k: v / ARGS.reps for k, v in splits.items()}
    step_s = sum(splits.values())
    return {
        "name": case["name"],
        "tokens_per_s": batch * seq / step_s,
        "seconds": step_s,
        "cpu_seconds": cpu / ARGS.reps,
        "split": splits,
        "loss": loss_value,
        "ids_sum": int(ids.sum()),
    }


def generate_case(case):
    """Greedy generation of exactly `new_tokens` per row (EOS suppressed) with the KV cache."""
    model = load(0)
    model.eval()
    vocab = model.config.vocab_size
    batch, prompt, new = case["batch"], case["prompt"], case["new_tokens"]
    ids = ids_tensor(batch, prompt, vocab)
    mask = torch.ones_like(ids)
    total = 0.0
    cpu = 0.0
    for rep in range(ARGS.warmup + ARGS.reps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=False,
                pad_token_id=model.config.eos_token_id or 0,
            )
        elapsed = time.perf_counter() - t0
        produced = out.shape[1] - prompt
        if produced != new:
            raise SystemExit(f"{case['name']}: generated {produced} tokens, expected {new}")
        if rep >= ARGS.warmup:
            cpu += time.process_time() - c0
            total += elapsed
    seconds = total / ARGS.reps
    return {
        "name": case["name"],
        "tokens_per_s": batch * new / seconds,
        "seconds": seconds,
        "cpu_seconds": cpu / ARGS.reps,
        "split": None,
        "ids_sum": int(ids.sum()),
    }


def main():
    cases = json.loads(ARGS.cases)
    results = []
    for case in cases:
        reset_peak_rss()
        if case["kind"] == "generate":
            result = generate_case(case)
        else:
            result = train_case(case)
        result["peak_rss_mib"] = peak_rss_mib()
        print(f"torch: {case['name']}: {result['tokens_per_s']:.1f} tokens/s", file=sys.stderr)
        results.append(result)
        # Free this case's model before the next one resets the high-water mark.
        gc.collect()
    json.dump(
        {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "threads": torch.get_num_threads(),
            "cases": results,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
