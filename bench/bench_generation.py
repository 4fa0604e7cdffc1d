"""Steered generation and all-layer activation collection against plain HF, in one run.

    python bench/bench_generation.py [--repeats 3] [--new-tokens 64] [--batches 1,16,32]

Every row compares two things measured side by side, interleaved, on the same prompts in the
same process; ratios are medians over repeats. Writes bench/results/generation.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from billy_interp.core.activations import collect_residuals, pooled_residuals
from billy_interp.core.embedded import embedded_model_dir
from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.loading import load_model
from billy_interp.core.steering import Steering

PROMPTS = [
    "What are some creative uses for a brick?",
    "Describe a city of the future in three sentences.",
    "How can a small town reduce its waste?",
    "Write a short poem about the sea.",
    "Name all the round things you can think of.",
    "Tell me all the ways in which a book and a magazine are alike.",
    "Design a chair for astronauts.",
    "What would you change about public libraries?",
]


def _prompts(n: int) -> list[str]:
    return [PROMPTS[i % len(PROMPTS)] for i in range(n)]


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batches", default="1,16,32")
    parser.add_argument("--out", default="bench/results/generation")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)

    from transformers import LlamaForCausalLM

    model = load_model()
    reference = LlamaForCausalLM.from_pretrained(embedded_model_dir()).eval()  # plain HF, sdpa
    hook = model.layers.paper_layer_hook(20)
    v = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    steering = Steering.from_vectors({hook: v / v.norm() * 2.6}, 2.0, "response")
    rows = []
    n_new = args.new_tokens
    for batch_size in [int(b) for b in args.batches.split(",")]:
        prompts = _prompts(batch_size)
        batch = model.encode_chat(prompts)

        def hf(batch=batch):
            reference.generate(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                max_new_tokens=n_new,
                min_new_tokens=n_new,
                do_sample=False,
                pad_token_id=model.tokenizer.pad_token_id,
            )

        def ours(backend, batch=batch, batch_size=batch_size):
            cfg = GenerationConfig(max_new_tokens=n_new, batch_size=batch_size, stop_at_eos=False, backend=backend)
            return lambda: generate(model, batch, cfg, steering)

        runs = {"hf": hf, "residual": ours("residual"), "bridge": ours("bridge")}
        for fn in runs.values():  # warm-up
            fn()
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeats):
            for key, fn in runs.items():
                times[key].append(_time(fn))
        tokens = batch_size * n_new
        med = {k: statistics.median(v) for k, v in times.items()}
        # Paired ratios (each repeat runs HF, ours and the bridge back to back) cancel the slow
        # drift of this shared machine better than a ratio of medians.
        paired = [h / r for h, r in zip(times["hf"], times["residual"])]
        paired_bridge = [h / b for h, b in zip(times["hf"], times["bridge"])]
        rows.append(
            {
                "what": f"generate, batch {batch_size}, {n_new} new tokens",
                "hf_tok_s": tokens / med["hf"],
                "steered_tok_s": tokens / med["residual"],
                "ratio": statistics.median(paired),
                "ratio_min": min(paired),
                "ratio_max": max(paired),
                "bridge_tok_s": tokens / med["bridge"],
                "bridge_ratio": statistics.median(paired_bridge),
            }
        )
        print(rows[-1], flush=True)

    batch = model.encode_chat(_prompts(16))
    real_tokens = int(batch.attention_mask.sum())
    start = torch.full((len(batch),), batch.input_ids.shape[1] - 8)

    def plain():
        reference(input_ids=batch.input_ids, attention_mask=batch.attention_mask)

    runs = {
        "hf": plain,
        "pooled": lambda: pooled_residuals(model, batch, start),
        "full": lambda: collect_residuals(model, batch),
    }
    for fn in runs.values():
        fn()
    times = {k: [] for k in runs}
    for _ in range(args.repeats * 3):
        for key, fn in runs.items():
            times[key].append(_time(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    for key, label in (("pooled", "all-layer pooled (extraction)"), ("full", "all-layer full residuals")):
        paired = [h / o for h, o in zip(times["hf"], times[key])]
        rows.append(
            {
                "what": f"forward, batch 16 ({real_tokens} tokens), {label}",
                "hf_tok_s": real_tokens / med["hf"],
                "steered_tok_s": real_tokens / med[key],
                "ratio": statistics.median(paired),
                "ratio_min": min(paired),
                "ratio_max": max(paired),
            }
        )
        print(rows[-1], flush=True)

    result = {
        "command": "python bench/bench_generation.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
        "torch": torch.__version__,
        "repeats": args.repeats,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    lines = [
        f"Command: `{result['command'].strip()}` ({result['machine']}, torch {result['torch']}, "
        f"{args.repeats} interleaved repeats; tok/s are medians, ratios the median [min–max] of paired ratios)",
        "",
        "| measurement | plain HF tok/s | ours tok/s | ours ÷ HF | bridge tok/s | bridge ÷ HF |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        bridge = f"{r['bridge_tok_s']:.1f} | {r['bridge_ratio']:.2f}" if "bridge_tok_s" in r else "– | –"
        spread = f"{r['ratio']:.2f} [{r['ratio_min']:.2f}–{r['ratio_max']:.2f}]"
        lines.append(f"| {r['what']} | {r['hf_tok_s']:.1f} | {r['steered_tok_s']:.1f} | {spread} | {bridge} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
