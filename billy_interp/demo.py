"""``python -m billy_interp.demo``: BILLY steering on the embedded model, side by side.

Loads SmolLM2-135M-Instruct and the shipped persona vectors, merges the paper's default
recipe (creative_professional, environmentalist, futurist, futurist; mean), and generates for a
few AUT prompts unsteered and steered at the paper's "layer 20" (``blocks.19.hook_resid_post``)
with alpha=2 on the raw vector, response positions, and the paper's BILLY decoding. It prints
the relative strength alpha*|v|/|h| (alpha=2 means very different things on different models)
and writes ``config.json``, ``command.txt`` and ``outputs.csv`` to the run directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from billy_interp.activations import collect_residuals
from billy_interp.artifacts import write_csv
from billy_interp.cli import parse_config, write_run_record
from billy_interp.generation import GenerationConfig, generate
from billy_interp.merge import DEFAULT_VECTORS_DIR, load_persona_vectors, parse_recipe
from billy_interp.model import load_model
from billy_interp.vectors import merge

__all__ = ["DemoConfig", "main"]

PROMPTS = (
    "What are some creative uses for a brick? Present a list of as many creative and diverse uses as possible.",
    "What are some creative uses for a towel? Present a list of as many creative and diverse uses as possible.",
    "Name all the round things you can think of.",
)


@dataclass(frozen=True)
class DemoConfig:
    """Steer the embedded model with the paper's default merged persona vector."""

    recipe: str = field(default="creative_professional,environmentalist,futurist,futurist",
                        metadata={"help": "merge recipe (repeats count)"})
    paper_layer: int = field(default=20, metadata={"help": "hidden-state index; 20 = blocks.19.hook_resid_post"})
    alpha: float = field(default=2.0, metadata={"help": "raw steering strength (paper: 2)"})
    vectors_dir: str = field(default=DEFAULT_VECTORS_DIR, metadata={"help": "shipped vectors"})
    max_new_tokens: int = field(default=80, metadata={"help": "tokens per answer"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    out: str = field(default="runs/demo", metadata={"help": "run directory"})


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    config = parse_config(DemoConfig, argv, __doc__)
    write_run_record(config.out, config, argv, "billy_interp.demo")
    model = load_model()
    recipe = parse_recipe(config.recipe)
    merged = merge(load_persona_vectors(list(recipe.weights), config.vectors_dir, model), recipe)
    hook = model.layers.paper_layer_hook(config.paper_layer)
    block = model.layers.block_of(hook)
    batch = model.encode_chat(list(PROMPTS))
    resid = collect_residuals(model, batch, blocks=[block])[0]
    h_norm = float(resid[batch.attention_mask.bool()].norm(dim=-1).mean())
    v_norm = float(merged[hook].norm())
    print(f"{model!r}\nsteering {hook} (paper layer {config.paper_layer}) with alpha={config.alpha}: "
          f"|v|={v_norm:.3f}, mean |h|={h_norm:.1f}, relative alpha*|v|/|h|={config.alpha * v_norm / h_norm:.4f}")
    decoding = GenerationConfig.billy(max_new_tokens=config.max_new_tokens, seed=config.seed,
                                      temperature=model.default_temperature)
    base = generate(model, list(PROMPTS), decoding)
    steered = generate(model, list(PROMPTS), decoding, merged.to_steering(config.alpha, [hook]))
    rows = []
    for prompt, b, s in zip(PROMPTS, base.texts, steered.texts):
        rows += [{"prompt": prompt, "condition": "unsteered", "text": b},
                 {"prompt": prompt, "condition": f"BILLY alpha={config.alpha} @ {hook}", "text": s}]
        print(f"\n=== {prompt}\n--- unsteered:\n{b}\n--- steered:\n{s}")
    table = pd.DataFrame(rows)
    write_csv(table, Path(config.out) / "outputs.csv")
    print(f"\nwrote {Path(config.out) / 'outputs.csv'}")
    return table


if __name__ == "__main__":
    main()
