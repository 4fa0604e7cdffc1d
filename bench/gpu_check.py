"""Checks and timings that need a CUDA GPU (run where one is lent; CI has none).

    python bench/gpu_check.py --conformance            # tiny random-init families, on the GPU
    python bench/gpu_check.py --analyses               # the analyses' own tensor code, on the GPU
    python bench/gpu_check.py --speed                  # embedded SmolLM2: ours vs plain HF generate

``--conformance`` runs the CPU conformance checks (``billy_interp.architectures.checks``: greedy
decoding token-identical to HF ``generate`` with and without the KV cache, steering equal to a
plain hook, residuals equal to ``hidden_states``, left padding, extraction, unembed) with every
model on the GPU in float32. ``--analyses`` runs, on a tiny Llama on the GPU, the analysis code
that mixes model outputs with tensors it makes itself (relative alpha's sink-free norms, the
interaction table with its KL row, token projections, perplexities), where a CPU-only run cannot
catch a tensor left on the wrong device. ``--speed`` times steered generation against HF
``generate`` with the same decoding, side by side, interleaved repeats, on the GPU
(synchronised). Results go to stdout as JSON lines and to ``--out`` (docs/gpu.md quotes them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from billy_interp.architectures.checks import check_family
from billy_interp.architectures.families import FAMILIES, tiny_tokenizer
from billy_interp.core.embedded import embedded_model_dir
from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.loading import load_model
from billy_interp.core.model import SteerableModel
from billy_interp.core.steering import Steering


def _environment(device: str) -> dict:
    from importlib.metadata import version

    info = {name: version(name) for name in ("torch", "transformers", "transformer-lens", "pandas")}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
        info["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
    return info


def conformance(device: str) -> list[dict]:
    tokenizer = tiny_tokenizer()
    return [r.__dict__ for fam in FAMILIES for r in check_family(fam, tokenizer, device=device)]


def analyses(device: str) -> list[dict]:
    from billy_interp.analysis.interaction import interaction_table
    from billy_interp.analysis.projection import token_projections
    from billy_interp.analysis.strength import reference_norms
    from billy_interp.analysis.sweep_metrics import perplexities
    from billy_interp.vectors.merging import parse_recipe
    from billy_interp.vectors.vector import PersonaVector

    tokenizer = tiny_tokenizer()
    model = SteerableModel.from_hf(FAMILIES[0].build(tokenizer, 0).to(device), tokenizer, "tiny-llama")
    prompts = ["Name a use for a brick.", "What is like a cloud?"]
    hooks = [model.layers.hook_name(b) for b in range(model.layers.n_layers)]
    generator = torch.Generator().manual_seed(0)
    vectors = {
        name: PersonaVector({h: torch.randn(model.d_model, generator=generator) for h in hooks}) for name in ("a", "b")
    }
    batch = model.encode_chat(prompts)
    response = [[5, 6, 7], [8, 9]]
    prompt_ids = [model.tokenizer(model.format_chat(p), add_special_tokens=False)["input_ids"] for p in prompts]
    steer = Steering.from_vectors({hooks[0]: vectors["a"][hooks[0]]}, 1.0)
    cases = {
        "reference_norms": lambda: reference_norms(model, prompts, new_tokens=4),
        "interaction_table": lambda: interaction_table(
            model, batch, vectors, parse_recipe("a,b"), hooks[0], hooks, [1.0]
        ),
        "token_projections": lambda: token_projections(
            model, prompt_ids, response, [steer, None], hooks[-1], {"a": vectors["a"][hooks[-1]]}
        ),
        "perplexities": lambda: perplexities(model, prompts, response),
    }
    rows = []
    for name, fn in cases.items():
        try:
            fn()
            rows.append({"analysis": name, "status": "pass"})
        except Exception as error:  # each analysis is a row, not a crash
            rows.append({"analysis": name, "status": "fail", "detail": f"{type(error).__name__}: {error}"[:300]})
    return rows


def _timed(fn, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def speed(device: str, repeats: int, batch_size: int, billy_tokens: int, greedy_tokens: int) -> list[dict]:
    from transformers import LlamaForCausalLM

    model = load_model(device=device)
    reference = LlamaForCausalLM.from_pretrained(embedded_model_dir()).to(device).eval()
    hook = model.layers.paper_layer_hook(20)
    v = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0)).to(device)
    steering = Steering.from_vectors({hook: v / v.norm() * 2.6}, 2.0, "response")
    prompts = [f"Give three unusual uses for object number {i}." for i in range(batch_size)]
    batch = model.encode_chat(prompts)
    pad = model.tokenizer.pad_token_id
    billy = GenerationConfig.billy(model, max_new_tokens=billy_tokens, batch_size=batch_size, stop_at_eos=False)
    greedy = GenerationConfig(max_new_tokens=greedy_tokens, batch_size=batch_size, stop_at_eos=False)

    def hf(config: GenerationConfig):
        ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
        return lambda: reference.generate(
            input_ids=ids, attention_mask=mask, pad_token_id=pad, **config.hf_generate_kwargs()
        )

    cases = {
        f"BILLY decoding, steered, batch {batch_size}, {billy_tokens} new tokens": (
            billy_tokens,
            hf(billy),
            lambda: generate(model, batch, billy, steering),
        ),
        f"greedy, steered, batch {batch_size}, {greedy_tokens} new tokens": (
            greedy_tokens,
            hf(greedy),
            lambda: generate(model, batch, greedy, steering),
        ),
    }
    rows = []
    with torch.no_grad():
        for what, (n_new, theirs, ours) in cases.items():
            theirs(), ours()  # warm-up: kernels, allocator
            times: dict[str, list[float]] = {"hf": [], "ours": []}
            for _ in range(repeats):  # interleaved, so drift hits both alike
                times["hf"].append(_timed(theirs, device))
                times["ours"].append(_timed(ours, device))
            hf_s, ours_s = statistics.median(times["hf"]), statistics.median(times["ours"])
            rows.append(
                {
                    "case": what,
                    "hf_s": round(hf_s, 3),
                    "ours_s": round(ours_s, 3),
                    "ours_tok_s": round(batch_size * n_new / ours_s, 1),
                    "speedup": round(hf_s / ours_s, 3),
                    "repeats": repeats,
                }
            )
    if device.startswith("cuda"):
        rows.append({"case": "peak GPU memory (MB)", "value": round(torch.cuda.max_memory_allocated() / 2**20, 1)})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--conformance", action="store_true")
    parser.add_argument("--analyses", action="store_true")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--billy-tokens", type=int, default=160)
    parser.add_argument("--greedy-tokens", type=int, default=64)
    parser.add_argument("--out", default="bench/results/gpu_check.jsonl")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    rows = [{"environment": _environment(args.device)}]
    if args.conformance:
        rows += conformance(args.device)
    if args.analyses:
        rows += analyses(args.device)
    if args.speed:
        rows += speed(args.device, args.repeats, args.batch_size, args.billy_tokens, args.greedy_tokens)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as handle:
        for row in rows:
            print(json.dumps(row), flush=True)
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
