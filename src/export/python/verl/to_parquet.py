#!/usr/bin/env python3
"""grpo.jsonl -> verl's RL parquet: prompt (chat messages), data_source, reward_model
{style: rule, ground_truth}, extra_info {question, plan, id} for rewards.compute_score.

    python3 verl/to_parquet.py [grpo.jsonl] [OUT_DIR] [--val-fraction 0.05]
"""

import argparse
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rows(path):
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                yield {
                    "data_source": "plantune",
                    "prompt": row["prompt"],
                    "ability": "math",
                    "reward_model": {"style": "rule", "ground_truth": str(row["answer"])},
                    "extra_info": {"id": row["id"], "question": row["question"], "plan": row.get("plan") or ""},
                }
            except (KeyError, json.JSONDecodeError) as e:
                raise SystemExit(f"{path}:{number}: {e}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("input", nargs="?", default=os.path.join(HERE, "grpo.jsonl"))
    p.add_argument("out_dir", nargs="?", default=os.path.join(HERE, "verl"))
    p.add_argument("--val-fraction", type=float, default=0.05)
    a = p.parse_args()
    data = list(rows(a.input))
    n_val = max(1, int(len(data) * a.val_fraction)) if len(data) > 1 else 0
    os.makedirs(a.out_dir, exist_ok=True)
    for name, part in (("train", data[n_val:] or data), ("val", data[:n_val] or data)):
        path = os.path.join(a.out_dir, f"{name}.parquet")
        pq.write_table(pa.Table.from_pylist(part), path)
        print(f"{path}: {len(part)} rows")


if __name__ == "__main__":
    main()
