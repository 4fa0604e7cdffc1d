"""Grid-batched sweep vs the naive per-cell loop, in one run, on the embedded model.

    python bench/bench_sweep.py [--blocks 5,9,13,17,19,23] [--alphas 0,2,4,8] [--prompts 4] [--new-tokens 32]

Both run the same cells on the same prompts with greedy decoding (and give identical tokens, as
the tests check). Reports cells per minute for each and their ratio, interleaved over repeats.
Writes bench/results/sweep.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import torch
from baseline import before_speedups  # bench/baseline.py, beside this script

from billy_interp.analysis.sweep import make_grid, run_grid, run_naive
from billy_interp.core.generation import GenerationConfig
from billy_interp.core.loading import load_model
from billy_interp.vectors.library import load_vectors

PROMPTS = [
    "What are some creative uses for a brick?",
    "Design a chair for astronauts.",
    "Name all the round things you can think of.",
    "How could a small town reduce its waste?",
    "Tell me all the ways in which a book and a magazine are alike.",
    "Describe a city of the future.",
    "Invent a new sport.",
    "What could be done with an old suitcase?",
]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", default="5,9,13,17,19,23")
    parser.add_argument("--alphas", default="0,2,4,8")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=96)
    parser.add_argument("--before-batch-size", type=int, default=32, help="the grid batch of version 0.1")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="bench/results/sweep")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    model = load_model()
    vector = load_vectors("futurist", model)["futurist"]
    cells = make_grid([int(b) for b in args.blocks.split(",")], [float(a) for a in args.alphas.split(",")])
    prompts = PROMPTS[: args.prompts]
    config = GenerationConfig(max_new_tokens=args.new_tokens, batch_size=args.batch_size)
    times = {"grid": [], "naive": [], "before": []}
    for _ in range(args.repeats):
        grid, t_grid = run_grid(model, prompts, vector, cells, config)
        naive, t_naive = run_naive(model, prompts, vector, cells, config)
        with before_speedups():
            old = replace(config, batch_size=args.before_batch_size)
            before, t_before = run_grid(model, prompts, vector, cells, old)
        times["grid"].append(t_grid)
        times["naive"].append(t_naive)
        times["before"].append(t_before)
    identical = grid["token_ids"].tolist() == naive["token_ids"].tolist() == before["token_ids"].tolist()
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "command": "python bench/bench_sweep.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cells": len(cells),
        "prompts": len(prompts),
        "new_tokens": args.new_tokens,
        "grid_cells_per_min": 60 * len(cells) / med["grid"],
        "naive_cells_per_min": 60 * len(cells) / med["naive"],
        "ratio": med["naive"] / med["grid"],
        "before_cells_per_min": 60 * len(cells) / med["before"],
        "before_ratio": med["naive"] / med["before"],
        "identical_tokens": identical,
        "repeats": args.repeats,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    lines = [
        f"Command: `{result['command'].strip()}` (median of {args.repeats} interleaved repeats; "
        f"{len(cells)} cells x {len(prompts)} prompts, {args.new_tokens} greedy tokens, grid batch {args.batch_size})",
        "",
        "| execution | cells / min | ratio |",
        "|---|---:|---:|",
        f"| naive loop (one generate per cell) | {result['naive_cells_per_min']:.1f} | 1.00 |",
        f"| grid-batched as in 0.1 (batch {args.before_batch_size}, full prefill per row, HF cache) | "
        f"{result['before_cells_per_min']:.1f} | {result['before_ratio']:.2f} |",
        f"| grid-batched now (per-row layer and alpha, shared prompt prefill, batch {args.batch_size}) | "
        f"{result['grid_cells_per_min']:.1f} | {result['ratio']:.2f} |",
        "",
        f"Token-identical outputs: {identical}.",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
