"""The demo job: BILLY steering on the embedded model, side by side.

Loads SmolLM2-135M-Instruct and the shipped persona vectors, merges the paper's default
recipe (creative_professional, environmentalist, futurist, futurist; mean), and generates for a
few AUT prompts unsteered and steered at the paper's "layer 20" (``blocks.19.hook_resid_post``)
with alpha=2 on the raw vector, response positions, and the paper's BILLY decoding. It prints
the relative strength alpha*|v|/|h| (alpha=2 means very different things on different models)
and writes ``config.json``, ``command.txt`` and ``outputs.csv`` to the run directory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from billy_interp import paper
from billy_interp.analysis.strength import relative_alpha_scale
from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.loading import load_model
from billy_interp.core.model import SteerableModel
from billy_interp.io import claim_run_dir, write_csv
from billy_interp.options import VECTORS_DIR_HELP, UsageError, require_at_least_one
from billy_interp.vectors.library import load_vectors
from billy_interp.vectors.merging import merge, parse_recipe

__all__ = ["DemoConfig", "run_demo"]

PROMPTS = (
    "What are some creative uses for a brick? Present a list of as many creative and diverse uses as possible.",
    "What are some creative uses for a towel? Present a list of as many creative and diverse uses as possible.",
    "Name all the round things you can think of.",
)


@dataclass(frozen=True)
class DemoConfig:
    """Steer the embedded model with the paper's default merged persona vector."""

    recipe: str = field(default=paper.PAPER_RECIPE_TEXT, metadata={"help": "merge recipe (repeats count)"})
    paper_layer: int = field(
        default=paper.PAPER_LAYER, metadata={"help": "hidden-state index; 20 = blocks.19.hook_resid_post"}
    )
    alpha: float = field(default=paper.PAPER_ALPHA, metadata={"help": "raw steering strength (paper: 2)"})
    vectors_dir: str = field(default="", metadata={"help": VECTORS_DIR_HELP})
    max_new_tokens: int = field(default=80, metadata={"help": "tokens per answer"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    out: str = field(default="runs/demo", metadata={"help": "run directory"})
    force: bool = field(default=False, metadata={"help": "if --out holds another run, start fresh in a sub-directory"})

    def __post_init__(self) -> None:
        parse_recipe(self.recipe)
        if not math.isfinite(self.alpha):
            raise UsageError(f"--alpha must be a finite number, got {self.alpha}")
        require_at_least_one(self, ("paper_layer", "max_new_tokens"))


def run_demo(config: DemoConfig, model: SteerableModel | None = None) -> pd.DataFrame:
    """Unsteered and steered answers side by side; returns them as a table."""
    with claim_run_dir(config.out, config, "billy_interp.demo", may_change=(), force=config.force) as out:
        model = model or load_model()
        recipe = parse_recipe(config.recipe)
        merged = merge(load_vectors(list(recipe.weights), model, source=config.vectors_dir or None), recipe)
        hook = model.layers.paper_layer_hook(config.paper_layer)
        scale = relative_alpha_scale(model, PROMPTS, merged).set_index("paper_layer").loc[config.paper_layer]
        print(
            f"{model!r}\nsteering {hook} (paper layer {config.paper_layer}) with alpha={config.alpha}: "
            f"|v|={scale['v_norm']:.3f}, mean |h|={scale['h_norm']:.1f}, "
            f"relative alpha*|v|/|h|={config.alpha * scale['scale']:.4f}"
        )
        decoding = GenerationConfig.billy(model, max_new_tokens=config.max_new_tokens, seed=config.seed)
        base = generate(model, list(PROMPTS), decoding)
        steered = generate(
            model, list(PROMPTS), decoding, merged.steering(config.alpha, layer=config.paper_layer, model=model)
        )
        rows = []
        for prompt, b, s in zip(PROMPTS, base.texts, steered.texts):
            rows += [
                {"prompt": prompt, "condition": "unsteered", "text": b},
                {"prompt": prompt, "condition": f"BILLY alpha={config.alpha} @ {hook}", "text": s},
            ]
            print(f"\n=== {prompt}\n--- unsteered:\n{b}\n--- steered:\n{s}")
        table = pd.DataFrame(rows)
        write_csv(table, out / "outputs.csv")
        print(f"\nwrote {out / 'outputs.csv'}")
        return table
