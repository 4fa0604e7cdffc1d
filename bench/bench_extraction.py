"""Extraction cost per persona, measured side by side against plain HF, and peak memory.

    python bench/bench_extraction.py [--repeats 3] [--responses 500]

* D± generation: sampling at T=1.0, batch 16, 64 new tokens, ours (residual runner) vs plain HF
  ``generate`` with the same settings.
* D± generation as extraction runs it: rows stop at EOS, up to ``--long-tokens`` (the paper preset
  allows 1,000). Ours drops finished rows from the batch; "kept" is ours with
  ``drop_finished=False`` (finished rows ride along, as in HF); useful tokens (up to EOS) per second.
* Activation pass: the teacher-forced all-layer pooled pass of ``pool_table`` vs a plain HF
  forward over the same padded batches (which computes logits and keeps no activations).
* Peak memory: a fresh subprocess pools ``--responses`` synthetic 64-token responses
  (prompt ~40 tokens) and reports its peak RSS above the loaded model's.
Writes bench/results/extraction.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from baseline import as_before  # bench/baseline.py, beside this script


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_child(n: int) -> None:
    import pandas as pd

    from billy_interp.core.loading import load_model
    from billy_interp.vectors.extraction import pool_table
    from billy_interp.vectors.personas import load_persona

    model = load_model()
    persona = load_persona("futurist")
    g = torch.Generator().manual_seed(0)
    rows = [
        {
            "question": persona.questions.extract[i % 5],
            "system": persona.system_prompt(i % 5, 1 if i % 2 else -1),
            "response_ids": torch.randint(100, 40000, (64,), generator=g).tolist(),
        }
        for i in range(n)
    ]
    table = pd.DataFrame(rows)
    pool_table(model, table.head(16))  # warm-up: allocator and kernels at full batch size
    before = _peak_mb()
    pooled = pool_table(model, table)
    after = _peak_mb()
    print(
        json.dumps(
            {"baseline_mb": before, "peak_mb": after, "result_mb": sum(t.numel() * 4 for t in pooled.values()) / 2**20}
        )
    )


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--responses", type=int, default=500)
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--long-tokens", type=int, default=256, help="token budget of the stop-at-EOS rows")
    parser.add_argument("--out", default="bench/results/extraction")
    args = parser.parse_args(argv)
    if args.memory_child:
        _memory_child(args.memory_child)
        return {}
    torch.set_grad_enabled(False)
    from transformers import LlamaForCausalLM

    from billy_interp.core.embedded import embedded_model_dir
    from billy_interp.core.generation import GenerationConfig, generate
    from billy_interp.core.loading import load_model
    from billy_interp.vectors.contrast import ContrastPlan, plan_contrast
    from billy_interp.vectors.extraction import pool_table
    from billy_interp.vectors.personas import load_persona

    model = load_model()
    reference = LlamaForCausalLM.from_pretrained(embedded_model_dir()).eval()
    persona = load_persona("environmentalist")
    plan = plan_contrast(persona, ContrastPlan(splits=("extract",), n_samples=1)).head(16)
    batch = model.encode_chat(list(plan["question"]), list(plan["system"]))
    n_new = 64

    def ours():
        return generate(model, batch, GenerationConfig(max_new_tokens=n_new, do_sample=True, seed=0, stop_at_eos=False))

    def hf_sample(max_new_tokens: int, min_new_tokens: int | None = None) -> torch.Tensor:
        """Plain HF ``generate`` with the same sampling settings; the new tokens."""
        torch.manual_seed(0)
        return reference.generate(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            do_sample=True,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            pad_token_id=model.tokenizer.pad_token_id,
        )[:, batch.input_ids.shape[1] :]

    def hf():
        hf_sample(n_new, n_new)

    def until_eos(drop: bool):
        config = GenerationConfig(max_new_tokens=args.long_tokens, do_sample=True, seed=0, drop_finished=drop)
        return lambda: sum(generate(model, batch, config).output_tokens)

    def hf_until_eos():
        out = hf_sample(args.long_tokens)
        eos = torch.tensor(model.eos_token_ids)
        ended = torch.isin(out, eos)
        # tokens up to and including the first EOS (all of them where none came)
        return int(torch.where(ended.any(1), ended.int().argmax(1) + 1, out.shape[1]).sum())

    result = ours()
    table = plan.assign(response_ids=result.token_ids)
    sequences = model.encode_chat(list(plan["question"]), list(plan["system"]))
    full_ids = torch.cat([sequences.input_ids, torch.tensor(result.token_ids)], dim=1)
    full_mask = torch.cat([sequences.attention_mask, torch.ones(len(table), n_new, dtype=torch.long)], dim=1)
    n_tokens = int(full_mask.sum())

    runs = {
        "gen_ours": ours,
        "gen_before": as_before(ours),
        "gen_hf": hf,
        "act_ours": lambda: pool_table(model, table),
        "act_hf": lambda: reference(input_ids=full_ids, attention_mask=full_mask),
    }
    for fn in runs.values():
        fn()
    runs |= {"eos_ours": until_eos(True), "eos_kept": until_eos(False), "eos_hf": hf_until_eos}
    times = {k: [] for k in runs}
    useful = {k: [] for k in runs}  # tokens up to EOS, for the stop-at-EOS runs
    for _ in range(args.repeats):
        for key, fn in runs.items():
            t0 = time.perf_counter()
            n = fn()
            times[key].append(time.perf_counter() - t0)
            useful[key].append(n if isinstance(n, int) else 0)
    med = {k: statistics.median(v) for k, v in times.items()}
    eos_runs = ("eos_ours", "eos_kept", "eos_hf")
    rate = {k: statistics.median([n / t for n, t in zip(useful[k], times[k])]) for k in eos_runs}
    gen_tokens = len(table) * n_new
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(args.responses)], capture_output=True, text=True, check=True
    )
    memory = json.loads(child.stdout.strip().splitlines()[-1])
    rows = [
        {
            "what": "D± generation, batch 16, T=1.0, 64 new tokens",
            "hf": gen_tokens / med["gen_hf"],
            "ours": gen_tokens / med["gen_ours"],
            "ratio": med["gen_hf"] / med["gen_ours"],
            "before": gen_tokens / med["gen_before"],
            "before_ratio": med["gen_hf"] / med["gen_before"],
        },
        {
            "what": f"D± generation until EOS, batch 16, T=1.0, up to {args.long_tokens} tokens (useful tok/s)",
            "hf": rate["eos_hf"],
            "ours": rate["eos_ours"],
            "ratio": rate["eos_ours"] / rate["eos_hf"],
            "before": rate["eos_kept"],
            "before_ratio": rate["eos_kept"] / rate["eos_hf"],
            "useful_tokens": {k: statistics.median(useful[k]) for k in rate},
        },
        {
            "what": f"teacher-forced all-layer pooled pass, 16 rows ({n_tokens} tokens)",
            "hf": n_tokens / med["act_hf"],
            "ours": n_tokens / med["act_ours"],
            "ratio": med["act_hf"] / med["act_ours"],
        },
    ]
    per_persona_rows = 130  # default extract: 5 questions x 5 pairs x 2 signs x 2 samples + 30 eval rows
    seconds = per_persona_rows * n_new / rows[0]["ours"] + per_persona_rows * (n_tokens / 16) / rows[2]["ours"]
    out = {
        "command": "python bench/bench_extraction.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "rows": rows,
        "memory": memory,
        "responses": args.responses,
        "est_seconds_per_persona": seconds,
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(out, indent=1))
    lines = [
        f"Command: `{out['command'].strip()}` (median of {args.repeats} interleaved repeats)",
        "",
        "| measurement | plain HF tok/s | ours before (until-EOS row: finished rows kept): tok/s (÷ HF) "
        "| ours now: tok/s | ours now ÷ HF |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        before = f"{r['before']:.1f} ({r['before_ratio']:.2f})" if "before" in r else "–"
        lines.append(f"| {r['what']} | {r['hf']:.1f} | {before} | {r['ours']:.1f} | {r['ratio']:.2f} |")
    lines += [
        "",
        f"Useful tokens per run of the until-EOS row (median): {rows[1]['useful_tokens']}.",
        "",
        f"Estimated compute per persona with the default extract settings (130 responses of 64 tokens): "
        f"{seconds:.0f} s.",
        "",
        f"Peak memory pooling {args.responses} responses (64 tokens each, all 30 layers, 3 poolings): "
        f"process peak RSS {memory['peak_mb']:.0f} MB; pooling raised it by "
        f"{memory['peak_mb'] - memory['baseline_mb']:.0f} MB above the peak reached while loading the model "
        f"(ru_maxrss is a high-water mark); the pooled result itself is {memory['result_mb']:.0f} MB.",
    ]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return out


if __name__ == "__main__":
    main()
