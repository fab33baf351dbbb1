#!/usr/bin/env python3
"""torch.mm on the same shapes as `src/main.rs` here (one warm-up + 3 timed runs each),
so `perf stat -e task-clock` of both programs compares the matmul kernels alone:

    RAYON_NUM_THREADS=1 perf stat -e task-clock target/release/gemm-shapes
    perf stat -e task-clock python3 torch_mm.py --threads 1
"""

import argparse
import os
import time

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
args = p.parse_args()
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import torch  # noqa: E402

torch.set_num_threads(args.threads)
rows, hidden, inter, kv, vocab, layers, labelled = 1024, 576, 1536, 192, 49152, 30, 768
shapes = [
    ("q/o fwd", rows, hidden, hidden, 2 * layers),
    ("k/v fwd", rows, kv, hidden, 2 * layers),
    ("gate/up fwd", rows, inter, hidden, 2 * layers),
    ("down fwd", rows, hidden, inter, layers),
    ("q/o bwd", rows, hidden, hidden, 2 * layers),
    ("k/v bwd", rows, hidden, kv, 2 * layers),
    ("gate/up bwd", rows, hidden, inter, 2 * layers),
    ("down bwd", rows, inter, hidden, layers),
    ("q/o dW", hidden, hidden, rows, 2 * layers),
    ("k/v dW", kv, hidden, rows, 2 * layers),
    ("gate/up dW", inter, hidden, rows, 2 * layers),
    ("down dW", hidden, inter, rows, layers),
    ("lm head fwd", labelled, vocab, hidden, 1),
    ("lm head dx", labelled, hidden, vocab, 1),
    ("lm head dW", vocab, hidden, labelled, 1),
]
total_flops = total_s = 0.0
for name, m, n, k, count in shapes:
    a = torch.rand(m, k)
    b = torch.rand(k, n)
    torch.mm(a, b)
    start = time.process_time()
    for _ in range(3):
        torch.mm(a, b)
    secs = (time.process_time() - start) / 3
    flops = 2.0 * m * n * k
    print(f"{name:>12} {m:>5}x{n:<5}x{k:<5} {flops / secs / 1e9:7.1f} GFLOP/s (CPU time)")
    total_flops += flops * count
    total_s += secs * count
print(f"one step's matmuls: {total_flops / 1e9:.1f} GFLOP in {total_s:.2f} CPU-s "
      f"= {total_flops / total_s / 1e9:.1f} GFLOP/CPU-s ({args.threads} thread(s))")
