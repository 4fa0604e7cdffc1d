"""Steered generation and all-layer activation collection against plain HF, in one run.

    python bench/bench_generation.py [--repeats 3] [--greedy-tokens 64] [--billy-tokens 160]

Every row compares two things measured side by side, interleaved, on the same prompts in the
same process; ratios are medians of paired ratios over repeats. Rows:

* greedy generation (64 new tokens) at batch 1, 16, 32: plain HF ``generate`` against ours,
  steered at paper layer 20, and the TransformerLens bridge;
* BILLY's decoding (top_p 0.8, repetition penalty 1.2, no-repeat 4-gram, the model's
  temperature, 160 new tokens) at batch 1 and 32: HF ``generate`` with the same processors
  against ours, steered;
* one all-layer forward pass (extraction's pooling, and whole residuals) against HF's forward.

Each generation row also gives throughput as a fraction of the machine's compute limit: the
fp32 matmul rate measured in the same run (a 2048 x 2048 product), divided by the model's
2 x parameters FLOPs per token. Writes bench/results/generation.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from baseline import as_before, before_speedups  # bench/baseline.py, beside this script

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


def matmul_rate(repeats: int = 5) -> float:
    """This machine's fp32 matmul rate in FLOP/s (a 2048 x 2048 product, best of ``repeats``)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = min(_time(lambda: a @ b) for _ in range(repeats))
    return 2 * 2048**3 / best


def _compare(runs: dict, repeats: int) -> dict[str, list[float]]:
    for fn in runs.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for key, fn in runs.items():
            times[key].append(_time(fn))
    return times


def _row(what: str, tokens: int, times: dict[str, list[float]], limit: float) -> dict:
    med = {k: statistics.median(v) for k, v in times.items()}
    paired = [h / r for h, r in zip(times["hf"], times["ours"])]
    row = {
        "what": what,
        "hf_tok_s": tokens / med["hf"],
        "steered_tok_s": tokens / med["ours"],
        "ratio": statistics.median(paired),
        "ratio_min": min(paired),
        "ratio_max": max(paired),
        "limit_fraction": tokens / med["ours"] / limit,
    }
    if "before" in times:
        row["before_tok_s"] = tokens / med["before"]
        row["before_ratio"] = statistics.median([h / b for h, b in zip(times["hf"], times["before"])])
    if "bridge" in times:
        row["bridge_tok_s"] = tokens / med["bridge"]
        row["bridge_ratio"] = statistics.median([h / b for h, b in zip(times["hf"], times["bridge"])])
    print(row, flush=True)
    return row


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_child(mode: str, rows: int = 32, total: int = 1200, new: int = 160) -> None:
    """Peak memory of generating ``rows`` sequences of ``total`` tokens (LLM Discussion's histories)."""
    model = load_model()
    unit = "Agent 2 (futurist): imagine a city that grows its own food on every roof and wall. "
    text = unit * ((total - new) // len(model.tokenizer(unit, add_special_tokens=False)["input_ids"]))
    batch = model.encode_chat([text] * rows)
    generate(model, batch.rows(0, 2), GenerationConfig(max_new_tokens=2))  # warm-up: kernels, allocator
    base = _peak_mb()
    config = GenerationConfig(max_new_tokens=new, batch_size=rows, stop_at_eos=False)
    if mode == "before":
        with before_speedups():
            generate(model, batch, config)
    else:
        generate(model, batch, config)
    layers, kv_heads = model.layers.n_layers, model.config.num_key_value_heads
    head_dim = model.d_model // model.config.num_attention_heads
    kv_mb = rows * (batch.input_ids.shape[1] + new) * layers * 2 * kv_heads * head_dim * 4 / 2**20
    print(
        json.dumps(
            {"tokens": batch.input_ids.shape[1] + new, "baseline_mb": base, "peak_mb": _peak_mb(), "kv_cache_mb": kv_mb}
        )
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--greedy-tokens", type=int, default=64)
    parser.add_argument("--billy-tokens", type=int, default=160)
    parser.add_argument("--batches", default="1,16,32")
    parser.add_argument("--billy-batches", default="1,32")
    parser.add_argument("--out", default="bench/results/generation")
    parser.add_argument("--memory-child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    if args.memory_child:
        _memory_child(args.memory_child)
        return {}

    from transformers import LlamaForCausalLM

    model = load_model()
    reference = LlamaForCausalLM.from_pretrained(embedded_model_dir()).eval()  # plain HF, sdpa
    flops_per_token = 2 * sum(p.numel() for p in reference.parameters())
    rate = matmul_rate()
    limit = rate / flops_per_token
    hook = model.layers.paper_layer_hook(20)
    v = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    steering = Steering.from_vectors({hook: v / v.norm() * 2.6}, 2.0, "response")
    pad = model.tokenizer.pad_token_id
    rows = []
    n_new = args.greedy_tokens
    for batch_size in [int(b) for b in args.batches.split(",")]:
        batch = model.encode_chat(_prompts(batch_size))

        def hf(batch=batch):
            reference.generate(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                max_new_tokens=n_new,
                min_new_tokens=n_new,
                do_sample=False,
                pad_token_id=pad,
            )

        def ours(backend, batch=batch, batch_size=batch_size):
            cfg = GenerationConfig(max_new_tokens=n_new, batch_size=batch_size, stop_at_eos=False, backend=backend)
            return lambda: generate(model, batch, cfg, steering)

        now = ours("residual")
        runs = {"hf": hf, "ours": now, "before": as_before(now), "bridge": ours("bridge")}
        times = _compare(runs, args.repeats)
        rows.append(_row(f"greedy, batch {batch_size}, {n_new} new tokens", batch_size * n_new, times, limit))

    n_new = args.billy_tokens
    for batch_size in [int(b) for b in args.billy_batches.split(",")]:
        batch = model.encode_chat(_prompts(batch_size))
        billy = GenerationConfig.billy(model, max_new_tokens=n_new, batch_size=batch_size, stop_at_eos=False)

        def hf_billy(batch=batch, billy=billy):
            torch.manual_seed(0)
            reference.generate(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                pad_token_id=pad,
                **billy.hf_generate_kwargs(),
            )

        def billy_now(batch=batch, billy=billy):
            generate(model, batch, billy, steering)

        times = _compare({"hf": hf_billy, "ours": billy_now, "before": as_before(billy_now)}, args.repeats)
        rows.append(_row(f"BILLY decoding, batch {batch_size}, {n_new} new tokens", batch_size * n_new, times, limit))

    batch = model.encode_chat(_prompts(16))
    real_tokens = int(batch.attention_mask.sum())
    start = torch.full((len(batch),), batch.input_ids.shape[1] - 8)
    times = _compare(
        {
            "hf": lambda: reference(input_ids=batch.input_ids, attention_mask=batch.attention_mask),
            "pooled": lambda: pooled_residuals(model, batch, start),
            "full": lambda: collect_residuals(model, batch),
        },
        args.repeats * 3,
    )
    for key, label in (("pooled", "all-layer pooled (extraction)"), ("full", "all-layer full residuals")):
        sub = {"hf": times["hf"], "ours": times[key]}
        rows.append(_row(f"forward, batch 16 ({real_tokens} tokens), {label}", real_tokens, sub, limit * 1e9))
        rows[-1].pop("limit_fraction")

    memory = {}
    for mode in ("before", "now"):
        child = subprocess.run(
            [sys.executable, __file__, "--memory-child", mode], capture_output=True, text=True, check=True
        )
        memory[mode] = json.loads(child.stdout.strip().splitlines()[-1])
    result = {
        "memory": memory,
        "command": "python bench/bench_generation.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
        "torch": torch.__version__,
        "repeats": args.repeats,
        "matmul_gflops": rate / 1e9,
        "compute_limit_tok_s": limit,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    lines = [
        f"Command: `{result['command'].strip()}` ({result['machine']}, torch {result['torch']}, "
        f"{args.repeats} interleaved repeats; tok/s are medians, ratios the median [min–max] of paired ratios). "
        f"Compute limit: {rate / 1e9:.0f} GFLOP/s fp32 matmul (measured in this run) / "
        f"{flops_per_token / 1e9:.2f} GFLOP per token = {limit:.0f} tok/s.",
        "",
        "| measurement | plain HF tok/s | ours before: tok/s (÷ HF) | ours now: tok/s | ours now ÷ HF "
        "| now, % of limit | bridge: tok/s (÷ HF) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        bridge = f"{r['bridge_tok_s']:.1f} ({r['bridge_ratio']:.2f})" if "bridge_tok_s" in r else "–"
        before = f"{r['before_tok_s']:.1f} ({r['before_ratio']:.2f})" if "before_tok_s" in r else "–"
        spread = f"{r['ratio']:.2f} [{r['ratio_min']:.2f}–{r['ratio_max']:.2f}]"
        share = f"{100 * r['limit_fraction']:.0f} %" if "limit_fraction" in r else "–"
        cells = [r["what"], f"{r['hf_tok_s']:.1f}", before, f"{r['steered_tok_s']:.1f}", spread, share, bridge]
        lines.append("| " + " | ".join(cells) + " |")
    for mode, label in (("before", "as in 0.1 (HF DynamicCache)"), ("now", "now (preallocated KV cache)")):
        m = memory[mode]
        lines.append("")
        lines.append(
            f"Peak memory, batch 32 x {m['tokens']} tokens, greedy, {label}: process peak {m['peak_mb']:.0f} MB, "
            f"{m['peak_mb'] - m['baseline_mb']:.0f} MB above the loaded model; "
            f"its KV cache is {m['kv_cache_mb']:.0f} MB."
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
