"""``python -m billy_interp.interaction``: do merged persona vectors add up linearly? Measured.

    python -m billy_interp.interaction                                # paper recipe, paper layer 20
    python -m billy_interp.interaction --paper-layer 10 --alphas 2,8,16 --positions last

For the recipe M = sum_i c_i v_i (raw vectors, the paper's merge), steer with alpha*M and with
each alpha*v_i alone at the same hook, on the packaged design tasks (raw prompts), and compare
the merged effect with the linear prediction sum_i c_i Delta a(v_i) at every later layer (see
``billy_interp.analysis.interaction``): the interaction residual, projections on every part's
direction and, for the last position, KL(merged || linear) of the next-token distribution. With
``--generate``, greedy answers to the creative tasks under base, M and each v_i are scored for
each part's trait (offline proxy), to compare M's text with the single vectors' in output space.

Outputs in ``--out``: ``interaction.csv`` (tidy), ``deviations.csv`` (the largest interaction
residuals and projection gaps), ``traits.csv``, ``texts.csv`` (the generated answers, with MRP
prompting for comparison: the case study) and ``figures/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from billy_interp.analysis.interaction import effective_coefficients, interaction_table
from billy_interp.analysis.projection import encode_raw
from billy_interp.artifacts import write_csv
from billy_interp.cli import parse_config, write_run_record
from billy_interp.figures import plot_interaction_projections, plot_interaction_residuals, save_figure
from billy_interp.generation import GenerationConfig, generate
from billy_interp.merge import DEFAULT_VECTORS_DIR, load_persona_vectors, parse_recipe
from billy_interp.methods import ROLES, mrp_prompt
from billy_interp.model import SteerableModel, load_model
from billy_interp.personas import load_persona
from billy_interp.tasks import design_tasks
from billy_interp.steering import Steering
from billy_interp.sweep import relative_alpha_scale
from billy_interp.sweep_metrics import text_metrics
from billy_interp.vectors import merge

__all__ = ["InteractionConfig", "largest_deviations", "generated_traits", "main"]


@dataclass(frozen=True)
class InteractionConfig:
    """Merged-vector effects against the linear sum of single-vector effects, layer by layer."""

    recipe: str = field(default="creative_professional,environmentalist,futurist,futurist",
                        metadata={"help": "merge recipe (repeats count; name:weight)"})
    paper_layer: int = field(default=20, metadata={"help": "steered layer, hidden-state index"})
    alphas: str = field(default="2,8,16,32", metadata={"help": "raw alphas (relative alphas are reported too)"})
    positions: str = field(default="last,all", metadata={"help": "'last' (last token, Fig. 3 style) and/or 'all' (mean)"})
    generate: bool = field(default=True, metadata={"help": "also score generated text under M and each v_i"})
    max_new_tokens: int = field(default=48, metadata={"help": "greedy tokens per answer (--generate)"})
    top: int = field(default=10, metadata={"help": "rows in deviations.csv"})
    model: str = field(default="embedded", metadata={"help": "HF name or path"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    vectors_dir: str = field(default=DEFAULT_VECTORS_DIR, metadata={"help": "persona vectors"})
    out: str = field(default="runs/interaction", metadata={"help": "output directory"})

    def alpha_list(self) -> list[float]:
        alphas = [float(a) for a in self.alphas.split(",") if a.strip()]
        if not alphas or any(a == 0 for a in alphas):
            raise ValueError(f"--alphas {self.alphas!r}: give nonzero alphas (alpha 0 has no effect to compare)")
        return alphas

    def position_list(self) -> list[str]:
        positions = [p.strip() for p in self.positions.split(",") if p.strip()]
        bad = [p for p in positions if p not in ("last", "all")]
        if bad or not positions:
            raise ValueError(f"--positions {self.positions!r}: use 'last', 'all' or both")
        return positions


def largest_deviations(table: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The largest interaction residuals, and the largest |merged - linear| projection gaps."""
    residual = table[table["quantity"] == "interaction_residual"].nlargest(top, "value")
    proj = table[table["quantity"].isin(["projection:merged", "projection:linear_prediction"])]
    wide = proj.pivot_table(index=["alpha", "block", "position", "direction"], columns="quantity", values="value").reset_index()
    wide["gap"] = wide["projection:merged"] - wide["projection:linear_prediction"]
    wide = wide.reindex(wide["gap"].abs().sort_values(ascending=False).index).head(top)
    return pd.concat([residual.assign(kind="interaction_residual"), wide.assign(kind="projection_gap")], ignore_index=True)


def generated_traits(model: SteerableModel, config: InteractionConfig, parts: dict, coefficients: dict,
                     hook: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Greedy answers to the creative tasks under base, MRP prompting (the recipe's roles), M and
    each v_i, and the mean offline trait score per (alpha, condition, persona)."""
    questions = design_tasks()["creative"]
    merged = sum(coefficients[n] * parts[n] for n in coefficients)
    conditions = [("base", 0.0, {})]
    for alpha in config.alpha_list():
        conditions += [("merged", alpha, {hook: alpha * merged})]
        conditions += [(f"single:{n}", alpha, {hook: alpha * parts[n]}) for n in parts]
    rows = [delta for _, _, delta in conditions for _ in questions]
    decoding = GenerationConfig(max_new_tokens=config.max_new_tokens, do_sample=False, batch_size=32)
    steered = generate(model, questions * len(conditions), decoding, Steering.per_row(rows))
    roles = [n for n in parts if n in ROLES] or list(ROLES)
    prompted = generate(model, [mrp_prompt(q, roles) for q in questions], decoding)
    texts = pd.DataFrame({"condition": [c for c, _, _ in conditions for _ in questions] + ["mrp_prompt"] * len(questions),
                          "alpha": [a for _, a, _ in conditions for _ in questions] + [0.0] * len(questions),
                          "question": questions * (len(conditions) + 1), "text": steered.texts + prompted.texts})
    metrics = text_metrics(list(texts["text"]), [""] * len(texts), [load_persona(n) for n in parts])
    long = pd.concat([texts[["condition", "alpha"]], metrics], axis=1).melt(
        id_vars=["condition", "alpha"], value_vars=[f"trait:{n}" for n in parts], var_name="persona", value_name="trait")
    long["persona"] = long["persona"].str.removeprefix("trait:")
    return long.groupby(["alpha", "condition", "persona"], as_index=False)["trait"].agg(["mean", "sem"]), texts


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    config = parse_config(InteractionConfig, argv, __doc__)
    alphas, positions = config.alpha_list(), config.position_list()
    recipe = parse_recipe(config.recipe)
    coefficients = effective_coefficients(recipe)
    out = Path(config.out)
    write_run_record(out, config, argv, "billy_interp.interaction")
    model = load_model(config.model, device=config.device or None, dtype=config.dtype)
    steer_block = model.layers.paper_layer_to_block(config.paper_layer)
    hooks = [model.layers.hook_name(b) for b in range(steer_block, model.layers.n_layers)]
    vectors = load_persona_vectors(list(recipe.weights), config.vectors_dir, model)
    parts = {n: v[hooks[0]] for n, v in vectors.items()}
    directions = {n: {h: v[h] for h in hooks} for n, v in vectors.items()}
    tasks = design_tasks()
    batch = encode_raw(model, tasks["creative"] + tasks["neutral"])
    tables = [interaction_table(model.runner(), batch, parts, coefficients, hooks[0], hooks, alphas, directions,
                                unembed=model.unembed, position=p) for p in positions]
    table = pd.concat(tables, ignore_index=True)
    scale = relative_alpha_scale(model, tasks["creative"], merge(vectors, recipe)).set_index("block")["scale"]
    table["relative_alpha"] = table["alpha"] * float(scale[steer_block])
    write_csv(table, out / "interaction.csv")
    deviations = largest_deviations(table, config.top)
    write_csv(deviations, out / "deviations.csv")
    made_by = f"python -m billy_interp.interaction ({out})"
    written = save_figure(plot_interaction_residuals(table), out / "figures" / "interaction_residuals", made_by)
    written += save_figure(plot_interaction_projections(table, alphas[min(1, len(alphas) - 1)], positions[0]),
                           out / "figures" / "interaction_projections", made_by)
    if config.generate:
        traits, texts = generated_traits(model, config, parts, coefficients, hooks[0])
        write_csv(traits, out / "traits.csv")
        write_csv(texts, out / "texts.csv")
        print(traits.pivot_table(index=["alpha", "condition"], columns="persona", values="mean").round(3).to_string())
    residual = table[table["quantity"] == "interaction_residual"]
    print(residual.pivot_table(index=["position", "alpha"], columns="block", values="value").round(3).to_string())
    print(f"steered blocks.{steer_block} (paper layer {config.paper_layer}); relative alpha per raw alpha "
          f"{float(scale[steer_block]):.4f}; tables in {out}; figures: {', '.join(map(str, written))}")
    return table


if __name__ == "__main__":
    main()
