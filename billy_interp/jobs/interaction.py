"""The interaction job: do merged persona vectors add up linearly? Measured.

    python -m billy_interp.interaction                                # paper recipe, paper layer 20
    python -m billy_interp.interaction --paper-layer 10 --alphas 2,8,16 --positions last

For the recipe M = sum_i c_i v_i (raw vectors, the paper's merge), steer with alpha*M and with
each alpha*v_i alone at the same hook, on the packaged design tasks (raw prompts), and compare
the merged effect with the linear prediction sum_i c_i Delta a(v_i) at every later layer (see
:mod:`billy_interp.analysis.interaction`): the interaction residual, projections on every part's
direction and, for the last position, KL(merged || linear) of the next-token distribution. With
``--generate``, greedy answers to the creative tasks under base, M and each v_i are scored for
each part's trait (offline proxy), to compare M's text with the single vectors' in output space.

Outputs in ``--out``: ``interaction.csv`` (tidy), ``deviations.csv`` (the largest interaction
residuals and projection gaps), ``traits.csv``, ``texts.csv`` (the generated answers, with MRP
prompting for comparison: the case study) and ``figures/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from billy_interp import paper
from billy_interp.analysis.interaction import generated_traits, interaction_table, largest_deviations
from billy_interp.analysis.strength import relative_alpha_scale
from billy_interp.core.loading import load_model
from billy_interp.core.model import SteerableModel
from billy_interp.evaluation.tasks import design_tasks
from billy_interp.figures import plot_interaction_projections, plot_interaction_residuals, save_figure
from billy_interp.io import claim_run_dir, record_run, write_csv
from billy_interp.options import VECTORS_DIR_HELP, UsageError, parse_floats, parse_names
from billy_interp.vectors.library import check_vectors_available, load_vectors
from billy_interp.vectors.merging import merge, parse_recipe

__all__ = ["InteractionConfig", "run_interaction"]


@dataclass(frozen=True)
class InteractionConfig:
    """Merged-vector effects against the linear sum of single-vector effects, layer by layer."""

    recipe: str = field(default=paper.PAPER_RECIPE_TEXT, metadata={"help": "merge recipe (repeats count; name:weight)"})
    paper_layer: int = field(default=paper.PAPER_LAYER, metadata={"help": "steered layer, hidden-state index"})
    alphas: str = field(default="2,8,16,32", metadata={"help": "raw alphas (relative alphas are reported too)"})
    positions: str = field(
        default="last,all", metadata={"help": "'last' (last token, Fig. 3 style) and/or 'all' (mean)"}
    )
    generate: bool = field(default=True, metadata={"help": "also score generated text under M and each v_i"})
    max_new_tokens: int = field(default=48, metadata={"help": "greedy tokens per answer (--generate)"})
    top: int = field(default=10, metadata={"help": "rows in deviations.csv"})
    model: str = field(default="embedded", metadata={"help": "HF name or path"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    vectors_dir: str = field(default="", metadata={"help": VECTORS_DIR_HELP})
    out: str = field(default="runs/interaction", metadata={"help": "output directory"})
    force: bool = field(default=False, metadata={"help": "if --out holds another run, start fresh in a sub-directory"})

    def __post_init__(self) -> None:
        recipe = parse_recipe(self.recipe)
        if recipe.method not in ("mean", "weighted", "sum"):
            raise UsageError(f"--recipe: method {recipe.method!r} is not a linear combination of the parts")
        if len(recipe.weights) < 2:  # one part is its own linear prediction: the residual is 0 by construction
            raise UsageError(f"--recipe {self.recipe!r}: give at least two distinct personas to measure an interaction")
        self.alpha_list(), self.position_list()
        check_vectors_available(recipe.weights, self.vectors_dir, self.model, "--recipe")

    def alpha_list(self) -> list[float]:
        alphas = parse_floats(self.alphas, "--alphas")
        if any(a == 0 for a in alphas):
            raise UsageError(f"--alphas {self.alphas!r}: give nonzero alphas (alpha 0 has no effect to compare)")
        return alphas

    def position_list(self) -> list[str]:
        return parse_names(self.positions, "--positions", ("last", "all"))


def run_interaction(config: InteractionConfig, model: SteerableModel | None = None) -> pd.DataFrame:
    """The interaction job: tables, figures and (``generate``) scored answers; returns the table."""
    alphas, positions = config.alpha_list(), config.position_list()
    recipe = parse_recipe(config.recipe)
    module, may_change = "billy_interp.interaction", ("top", "device")
    with claim_run_dir(config.out, config, module, may_change=may_change, force=config.force, record=False) as out:
        model = model or load_model(config.model, device=config.device or None, dtype=config.dtype)
        steer_block = model.layers.resolve(layer=config.paper_layer, option="--paper-layer")[0]
        record_run(out, config, module, may_change)  # after the range check: a refused run records nothing
        hooks = [model.layers.hook_name(b) for b in range(steer_block, model.layers.n_layers)]
        vectors = load_vectors(list(recipe.weights), model, source=config.vectors_dir or None)
        tasks = design_tasks()
        batch = model.encode_raw(tasks["creative"] + tasks["neutral"])
        tables = [
            interaction_table(model, batch, vectors, recipe, hooks[0], hooks, alphas, position=p) for p in positions
        ]
        table = pd.concat(tables, ignore_index=True)
        scale = relative_alpha_scale(model, tasks["creative"], merge(vectors, recipe)).set_index("block")["scale"]
        table["relative_alpha"] = table["alpha"] * float(scale[steer_block])
        write_csv(table, out / "interaction.csv")
        deviations = largest_deviations(table, config.top)
        write_csv(deviations, out / "deviations.csv")
        made_by = f"python -m billy_interp.interaction ({out})"
        written = save_figure(plot_interaction_residuals(table), out / "figures" / "interaction_residuals", made_by)
        written += save_figure(
            plot_interaction_projections(table, alphas[min(1, len(alphas) - 1)], positions[0]),
            out / "figures" / "interaction_projections",
            made_by,
        )
        if config.generate:
            traits, texts = generated_traits(model, vectors, recipe, hooks[0], alphas, config.max_new_tokens)
            write_csv(traits, out / "traits.csv")
            write_csv(texts, out / "texts.csv")
            print(
                traits.pivot_table(index=["alpha", "condition"], columns="persona", values="mean").round(3).to_string()
            )
        residual = table[table["quantity"] == "interaction_residual"]
        print(residual.pivot_table(index=["position", "alpha"], columns="block", values="value").round(3).to_string())
        print(
            f"steered blocks.{steer_block} (paper layer {config.paper_layer}); relative alpha per raw alpha "
            f"{float(scale[steer_block]):.4f}; tables in {out}; figures: {', '.join(map(str, written))}"
        )
        return table
