"""Where the time of steered generation goes: a profile table for docs/performance.md.

    python bench/profile_generation.py [--batches 1,32] [--new-tokens 160] [--decoding billy|greedy] [--before]

Runs one generation (steering at paper layer 20, response positions) under torch.profiler and
splits its wall time into: the model's matrix multiplies, attention, KV-cache copies, other tensor
ops in the forward pass, the logits processors (repetition penalty, no-repeat n-gram, top-p),
sampling, and what is left (Python overhead of the decode loop, hooks and modules).
``--before`` adds a column per batch size for the 0.1 decode loop (bench/baseline.py).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from baseline import before_speedups  # bench/baseline.py, beside this script
from torch.profiler import ProfilerActivity, profile, record_function

from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.loading import load_model
from billy_interp.core.steering import Steering

PROMPTS = [
    "What are some creative uses for a brick?",
    "Describe a city of the future in three sentences.",
    "How can a small town reduce its waste?",
    "Name all the round things you can think of.",
]
MATMUL = ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear", "aten::_mkldnn")
ATTENTION = ("scaled_dot_product", "_flash_attention", "aten::_efficient")


def _category(name: str) -> str:
    if any(name.startswith(m) for m in MATMUL):
        return "matmul"
    if any(a in name for a in ATTENTION):
        return "attention"
    return "other tensor ops"


def profile_once(model, batch_size: int, new_tokens: int, decoding: str) -> dict[str, float]:
    hook = model.layers.paper_layer_hook(20)
    v = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    steering = Steering.from_vectors({hook: v / v.norm() * 2.6}, 2.0)
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(batch_size)]
    if decoding == "billy":
        config = GenerationConfig.billy(model, max_new_tokens=new_tokens, batch_size=batch_size, stop_at_eos=False)
    else:
        config = GenerationConfig(max_new_tokens=new_tokens, batch_size=batch_size, stop_at_eos=False)
    generate(model, prompts[:2], GenerationConfig(max_new_tokens=4), steering)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        with record_function("generate"):
            generate(model, prompts, config, steering)
        wall = time.perf_counter() - t0
    seconds: dict[str, float] = defaultdict(float)
    scopes = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages() if e.key.startswith("billy:")}
    for event in prof.key_averages():
        if event.key.startswith(("billy:", "generate", "ProfilerStep")):
            continue
        if event.key == "aten::cat":
            seconds["KV-cache and sequence copies (cat)"] += event.self_cpu_time_total / 1e6
        else:
            seconds[_category(event.key)] += event.self_cpu_time_total / 1e6
    forward_ops = sum(seconds.values())
    table = {"wall": wall, **seconds}
    table["logits processors"] = scopes.get("billy:processors", 0.0)
    table["sampling"] = scopes.get("billy:sample", 0.0)
    table["python overhead (loop, hooks, modules)"] = max(0.0, wall - forward_ops)
    # processors and sampling ops were counted among the tensor ops: move them out
    table["other tensor ops"] = max(
        0.0, table.get("other tensor ops", 0.0) - table["logits processors"] - table["sampling"]
    )
    return table


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--new-tokens", type=int, default=160)
    parser.add_argument("--decoding", choices=["billy", "greedy"], default="billy")
    parser.add_argument("--before", action="store_true", help="also profile the 0.1 decode loop")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    model = load_model()
    columns, tables = [], []
    for b in args.batches.split(","):
        if args.before:
            with before_speedups():
                tables.append(profile_once(model, int(b), args.new_tokens, args.decoding))
            columns.append(f"batch {b}, 0.1")
        tables.append(profile_once(model, int(b), args.new_tokens, args.decoding))
        columns.append(f"batch {b}, now" if args.before else f"batch {b}")
    lines = ["| part of the time | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    keys = [
        "matmul",
        "attention",
        "KV-cache and sequence copies (cat)",
        "other tensor ops",
        "logits processors",
        "sampling",
        "python overhead (loop, hooks, modules)",
    ]
    for key in keys:
        cells = [f"{t.get(key, 0.0):.2f} s ({100 * t.get(key, 0.0) / t['wall']:.0f} %)" for t in tables]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines.append("| **wall** | " + " | ".join(f"{t['wall']:.2f} s" for t in tables) + " |")
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
