#!/usr/bin/env python3
"""The PyTorch + transformers side of `plantune-tui bench model|train|generate --torch`.

Runs the cases it is given (a JSON list, written by the Rust command so both sides use
the same shapes, inputs, warm-up and repetitions) on the same Hugging Face model
directory, and prints one JSON object on stdout. Nothing here is tuned beyond what a
plain transformers user gets: eager PyTorch (no torch.compile), the default attention
implementation, f32 weights; `--precision bf16` is the standard mixed precision of
PyTorch training (torch.autocast to bfloat16 over f32 weights and f32 AdamW state).

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
    p.add_argument("--device", default="cpu", help="cpu or cuda:N")
    p.add_argument("--precision", default="f32", choices=("f32", "bf16"))
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

DEVICE = torch.device(ARGS.device)
ON_GPU = DEVICE.type == "cuda"
BF16 = ARGS.precision == "bf16"


def sync():
    """CUDA kernels run asynchronously; a timestamp counts only after they finish."""
    if ON_GPU:
        torch.cuda.synchronize(DEVICE)


def autocast():
    return torch.autocast(device_type=DEVICE.type, dtype=torch.bfloat16, enabled=BF16)

FIRST_ORDINARY_ID = 17  # SmolLM2's 17 control tokens come first; keep inputs ordinary
LORA_ALPHA = 16.0
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
LR = 1e-5
MAX_GRAD_NORM = 1.0
GRPO_BETA = 0.04  # `cases::GRPO_BETA`
GRPO_EPSILON = 0.2


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
        dev = base.weight.device
        self.a = torch.nn.Parameter(torch.empty(rank, in_dim, device=dev).uniform_(-bound, bound))
        self.b = torch.nn.Parameter(torch.zeros(out_dim, rank, device=dev))
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale


def load(lora_rank):
    model = AutoModelForCausalLM.from_pretrained(ARGS.model, dtype=torch.float32).to(DEVICE)
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
    ids = ids_tensor(batch, seq, vocab).to(DEVICE)
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
        sync()
        t0 = time.perf_counter()
        with autocast():
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        if loss_value is None:
            # The first step's loss comes before any update: both sides must agree.
            loss_value = loss.item()
        sync()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        if optimizer is not None:
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            optimizer.step()
        model.zero_grad(set_to_none=True)
        sync()
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


def unsplit(case, tokens, total, cpu, ids):
    """The result of a case timed as a whole: `total` wall seconds over the timed reps."""
    seconds = total / ARGS.reps
    return {
        "name": case["name"],
        "tokens_per_s": tokens / seconds,
        "seconds": seconds,
        "cpu_seconds": cpu / ARGS.reps,
        "split": None,
        "ids_sum": int(ids.sum()),
    }


def generate_case(case):
    """Greedy generation of exactly `new_tokens` per row (EOS suppressed) with the KV cache."""
    model = load(0)
    model.eval()
    vocab = model.config.vocab_size
    batch, prompt, new = case["batch"], case["prompt"], case["new_tokens"]
    ids = ids_tensor(batch, prompt, vocab).to(DEVICE)
    mask = torch.ones_like(ids)
    if BF16:
        # Inference has no master weights to keep: bf16 weights, as ours.
        model = model.to(torch.bfloat16)
    total = 0.0
    cpu = 0.0
    for rep in range(ARGS.warmup + ARGS.reps):
        c0 = time.process_time()
        sync()
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
        sync()
        elapsed = time.perf_counter() - t0
        produced = out.shape[1] - prompt
        if produced != new:
            raise SystemExit(f"{case['name']}: generated {produced} tokens, expected {new}")
        if rep >= ARGS.warmup:
            cpu += time.process_time() - c0
            total += elapsed
    return unsplit(case, batch * new, total, cpu, ids)


def token_logprobs(model, seq, prompt):
    """Log-probabilities of the completion tokens (positions prompt.. of `seq`)."""
    with autocast():
        logits = model(input_ids=seq, attention_mask=torch.ones_like(seq)).logits
    logp = torch.log_softmax(logits[:, prompt - 1 : -1].float(), dim=-1)
    return logp.gather(2, seq[:, prompt:].unsqueeze(2)).squeeze(2)


def grpo_step_case(case):
    """One GRPO step as ours runs it (`ours::grpo_step_case`): sample the group, the
    reference's log-probabilities, the clipped objective with k3 KL averaged per
    sequence then over the group, backward, clipping, AdamW."""
    model = load(0)
    reference = load(0)
    reference.eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    if BF16:
        # Ours keeps the frozen reference in bf16 too: it has no master to keep.
        reference = reference.to(torch.bfloat16)
    vocab = model.config.vocab_size
    group, prompt, new = case["batch"], case["prompt"], case["new_tokens"]
    ids = ids_tensor(1, prompt, vocab).to(DEVICE)
    prompts = ids.repeat(group, 1)
    advantages = torch.tensor(
        [1.0 if i % 2 == 0 else -1.0 for i in range(group)], device=DEVICE
    ).unsqueeze(1)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
    total = 0.0
    cpu = 0.0
    for rep in range(ARGS.warmup + ARGS.reps):
        torch.manual_seed(rep)
        c0 = time.process_time()
        sync()
        t0 = time.perf_counter()
        model.eval()
        with torch.inference_mode(), autocast():
            seq = model.generate(
                input_ids=prompts,
                attention_mask=torch.ones_like(prompts),
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                pad_token_id=model.config.eos_token_id or 0,
            )
        seq = seq.clone()  # out of inference mode, so autograd may use it
        model.train()
        if seq.shape[1] - prompt != new:
            raise SystemExit(f"{case['name']}: generated {seq.shape[1] - prompt} tokens, expected {new}")
        with torch.no_grad():
            ref_logp = token_logprobs(reference, seq, prompt)
        logp = token_logprobs(model, seq, prompt)
        ratio = torch.exp(logp - logp.detach())
        clipped = ratio.clamp(1.0 - GRPO_EPSILON, 1.0 + GRPO_EPSILON)
        per_token = -torch.minimum(ratio * advantages, clipped * advantages)
        delta = ref_logp - logp
        per_token = per_token + GRPO_BETA * (torch.exp(delta) - delta - 1.0)
        loss = per_token.mean(dim=1).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        optimizer.step()
        model.zero_grad(set_to_none=True)
        sync()
        elapsed = time.perf_counter() - t0
        if rep >= ARGS.warmup:
            cpu += time.process_time() - c0
            total += elapsed
    return unsplit(case, group * new, total, cpu, ids)


def main():
    cases = json.loads(ARGS.cases)
    results = []
    for case in cases:
        reset_peak_rss()
        if case["kind"] == "generate":
            result = generate_case(case)
        elif case["kind"] == "grpo_step":
            result = grpo_step_case(case)
        else:
            result = train_case(case)
        result["peak_rss_mib"] = peak_rss_mib()
        if ON_GPU:
            result["peak_gpu_mib"] = torch.cuda.max_memory_allocated(DEVICE) / 2**20
            torch.cuda.reset_peak_memory_stats(DEVICE)
        print(f"torch: {case['name']}: {result['tokens_per_s']:.1f} tokens/s", file=sys.stderr)
        results.append(result)
        # Free this case's model before the next one resets the high-water mark.
        gc.collect()
        if ON_GPU:
            torch.cuda.empty_cache()
    json.dump(
        {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(DEVICE) if ON_GPU else None,
            "cases": results,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
