"""``python -m billy_interp.projection``: prompting vs steering along persona directions (paper Fig. 3).

    python -m billy_interp.projection                      # CRE+ENV, paper layer 20, alpha 2, unit vectors
    python -m billy_interp.projection --parts creative_professional,futurist --paper-layer 15

**Fig. 3 recipe** (as the paper): 10 creative and 10 neutral raw design tasks (no chat template;
``billy_interp/data/design_tasks.json``), one forward pass, the last token only, *unit* persona
vectors, alpha 2 at the paper layer (hidden-state index: layer 20 steers blocks.19). Conditions:
``Base`` (a plain assistant prefix minus the bare prompt), ``Prompt (MRP)`` (a two-role prefix
minus the bare prompt), ``BILLY`` (the mean of the unit part vectors) and ``BILLY(<part>)`` for
each part alone. Projections on each part's unit direction at every layer from the steered one
on, mean and 95% bootstrap CI over prompts.

**Beyond the paper**: greedy chat-formatted responses to the creative tasks under plain
prompting, MRP prompting and BILLY steering (raw merged vector, ``--token-alpha``, the paper's
generation setting), re-run teacher-forced; each response token's residual at
``--token-layer`` is projected on every shipped persona direction, centred on the plain
responses. Written as a circuitsvis token view (offline HTML) and a position profile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from billy_interp.analysis.projection import position_profile, prompt_projections, summarize_projections, token_projections
from billy_interp.artifacts import write_csv
from billy_interp.cli import parse_config, write_run_record
from billy_interp.figures import plot_position_profile, plot_projection_panels, save_figure, write_token_view
from billy_interp.generation import GenerationConfig, generate
from billy_interp.merge import DEFAULT_VECTORS_DIR, load_persona_vectors, persona_vector_names
from billy_interp.methods import mrp_prompt
from billy_interp.model import SteerableModel, load_model
from billy_interp.steering import Steering
from billy_interp.tasks import design_tasks
from billy_interp.vectors import MergeRecipe, merge

__all__ = ["ProjectionConfig", "run_fig3", "run_token_projections", "main"]


@dataclass(frozen=True)
class ProjectionConfig:
    """Project prompting and steering effects on persona directions (paper Fig. 3, plus per-token views)."""

    parts: str = field(default="creative_professional,environmentalist", metadata={"help": "personas merged by BILLY"})
    paper_layer: int = field(default=20, metadata={"help": "steered layer, hidden-state index"})
    alpha: float = field(default=2.0, metadata={"help": "strength on unit vectors (Fig. 3)"})
    n_boot: int = field(default=1000, metadata={"help": "bootstrap draws over prompts"})
    tokens: bool = field(default=True, metadata={"help": "also the per-token response analysis"})
    token_alpha: float = field(default=2.0, metadata={"help": "per-token analysis: alpha on the raw merged vector"})
    token_layer: int = field(default=25, metadata={"help": "per-token analysis: readout paper layer"})
    n_responses: int = field(default=6, metadata={"help": "per-token analysis: creative tasks answered"})
    max_new_tokens: int = field(default=64, metadata={"help": "per-token analysis: greedy tokens per response"})
    model: str = field(default="embedded", metadata={"help": "HF name or path"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    vectors_dir: str = field(default=DEFAULT_VECTORS_DIR, metadata={"help": "persona vectors"})
    out: str = field(default="runs/projection", metadata={"help": "output directory"})

    def part_names(self) -> list[str]:
        names = [p.strip() for p in self.parts.split(",") if p.strip()]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"--parts {self.parts!r}: give at least two distinct personas")
        return names


def _short(name: str) -> str:
    return name[:3].upper()


def run_fig3(model: SteerableModel, config: ProjectionConfig, vectors: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-prompt projections and their summary, for Base, Prompt (MRP), BILLY and each part alone."""
    tasks = design_tasks()
    prompts = tasks["creative"] + tasks["neutral"]
    kinds = ["creative"] * len(tasks["creative"]) + ["neutral"] * len(tasks["neutral"])
    parts = config.part_names()
    steer_block = model.layers.paper_layer_to_block(config.paper_layer)
    hooks = [model.layers.hook_name(b) for b in range(steer_block, model.layers.n_layers)]
    steer_hook = hooks[0]
    unit = {p: vectors[p].unit() for p in parts}
    merged = merge(unit, MergeRecipe.from_list(parts))
    label = "+".join(_short(p) for p in parts)
    steerings = {f"BILLY({label})": {steer_hook: merged[steer_hook]},
                 **{f"BILLY({_short(p)})": {steer_hook: unit[p][steer_hook]} for p in parts}}
    table = prompt_projections(
        model, prompts, prefixes={"Base": tasks["prefixes"]["base"], f"Prompt MRP({label})": tasks["prefixes"]["mrp"]},
        steerings=steerings, directions={p: {h: vectors[p][h] for h in hooks} for p in parts},
        readout_hooks=hooks, alpha=config.alpha, kinds=kinds)
    summary = summarize_projections(table, config.n_boot)
    by_kind = summarize_projections(table, config.n_boot, by=("condition", "kind", "direction", "block", "paper_layer"))
    return table, pd.concat([summary.assign(kind="all"), by_kind], ignore_index=True)


def run_token_projections(model: SteerableModel, config: ProjectionConfig, vectors: dict) -> tuple[pd.DataFrame, list[dict]]:
    """Centred per-token projections of greedy responses under plain, MRP and BILLY, and token views."""
    questions = design_tasks()["creative"][: config.n_responses]
    parts = config.part_names()
    steer_hook = model.layers.paper_layer_hook(config.paper_layer)
    merged = merge({p: vectors[p] for p in parts}, MergeRecipe.from_list(parts))
    steering = merged.to_steering(config.token_alpha, [steer_hook])
    read_hook = model.layers.paper_layer_hook(config.token_layer)
    directions = {name: vec[read_hook] for name, vec in vectors.items()}
    conditions = {"plain": ([model.format_chat(q) for q in questions], None),
                  "MRP prompt": ([model.format_chat(mrp_prompt(q, parts)) for q in questions], None),
                  "BILLY": ([model.format_chat(q) for q in questions], steering)}
    decoding = GenerationConfig(max_new_tokens=config.max_new_tokens, do_sample=False)
    raw: dict[str, list] = {}
    for name, (texts, steer_with) in conditions.items():
        result = generate(model, model.encode(texts), decoding, steer_with)
        prompt_ids = [model.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        projections = token_projections(model, prompt_ids, result.token_ids, [steer_with] * len(texts), read_hook, directions)
        raw[name] = list(zip(result.token_ids, projections))
    centre = {p: float(np.concatenate([proj[p] for _, proj in raw["plain"]]).mean()) for p in directions}
    rows, views = [], []
    for name, responses in raw.items():
        for i, (ids, proj) in enumerate(responses):
            for p in directions:
                rows += [{"condition": name, "response_id": i, "direction": p, "position": t, "length": len(ids),
                          "token": model.tokenizer.decode([tok]), "projection": float(v) - centre[p]}
                         for t, (tok, v) in enumerate(zip(ids, proj[p]))]
            if i < 2:
                values = np.stack([proj[p] - centre[p] for p in directions], axis=1)
                views.append({"title": f"{name}: {questions[i]}", "tokens": [model.tokenizer.decode([t]) for t in ids],
                              "values": values, "labels": list(directions)})
    return pd.DataFrame(rows), views


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    config = parse_config(ProjectionConfig, argv, __doc__)
    parts = config.part_names()
    out = Path(config.out)
    write_run_record(out, config, argv, "billy_interp.projection")
    model = load_model(config.model, device=config.device or None, dtype=config.dtype)
    model.layers.paper_layer_to_block(config.paper_layer)  # range check before any work
    model.layers.paper_layer_to_block(config.token_layer)
    names = persona_vector_names(config.vectors_dir)
    vectors = load_persona_vectors(sorted(set(names) | set(parts)), config.vectors_dir, model)
    made_by = f"python -m billy_interp.projection ({out})"
    table, summary = run_fig3(model, config, vectors)
    write_csv(table, out / "projections.csv")
    write_csv(summary, out / "projection_summary.csv")
    overall = summary[summary["kind"] == "all"]
    written = save_figure(plot_projection_panels(overall, parts, f"Fig. 3 recipe on {model.name}: unit vectors, "
                                                 f"alpha {config.alpha:g} at paper layer {config.paper_layer}"),
                          out / "figures" / "fig3_projection", made_by)
    last = overall[overall["block"] == overall["block"].max()]
    print(last[["condition", "direction", "paper_layer", "mean", "ci_low", "ci_high"]].to_string(index=False))
    if config.tokens:
        per_token, views = run_token_projections(model, config, vectors)
        write_csv(per_token, out / "token_projections.csv")
        profile = position_profile(per_token)
        write_csv(profile, out / "position_profile.csv")
        written += save_figure(plot_position_profile(profile, parts), out / "figures" / "position_profile", made_by)
        written.append(write_token_view(views, out / "figures" / "token_view.html"))
    print(f"tables in {out}; figures: {', '.join(map(str, written))}")
    return summary


if __name__ == "__main__":
    main()
