"""The projection job: prompting vs steering along persona directions (paper Fig. 3).

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

from dataclasses import dataclass, field

import pandas as pd

from billy_interp import paper
from billy_interp.analysis.projection import fig3_projections, position_profile, response_token_projections
from billy_interp.core.loading import load_model
from billy_interp.core.model import SteerableModel
from billy_interp.figures import plot_position_profile, plot_projection_panels, save_figure, write_token_view
from billy_interp.io import claim_run_dir, record_run, write_csv
from billy_interp.options import VECTORS_DIR_HELP, UsageError, parse_names
from billy_interp.vectors.library import check_vectors_available, load_vectors, resolve_source, vector_names

__all__ = ["ProjectionConfig", "run_projection"]


@dataclass(frozen=True)
class ProjectionConfig:
    """Project prompting and steering effects on persona directions (paper Fig. 3, plus per-token views)."""

    parts: str = field(default="creative_professional,environmentalist", metadata={"help": "personas merged by BILLY"})
    paper_layer: int = field(default=paper.PAPER_LAYER, metadata={"help": "steered layer, hidden-state index"})
    alpha: float = field(default=paper.PAPER_ALPHA, metadata={"help": "strength on unit vectors (Fig. 3)"})
    n_boot: int = field(default=1000, metadata={"help": "bootstrap draws over prompts"})
    tokens: bool = field(default=True, metadata={"help": "also the per-token response analysis"})
    token_alpha: float = field(
        default=paper.PAPER_ALPHA, metadata={"help": "per-token analysis: alpha on the raw merged vector"}
    )
    token_layer: int = field(default=25, metadata={"help": "per-token analysis: readout paper layer"})
    n_responses: int = field(default=6, metadata={"help": "per-token analysis: creative tasks answered"})
    max_new_tokens: int = field(default=64, metadata={"help": "per-token analysis: greedy tokens per response"})
    model: str = field(default="embedded", metadata={"help": "HF name or path"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    vectors_dir: str = field(default="", metadata={"help": VECTORS_DIR_HELP})
    out: str = field(default="runs/projection", metadata={"help": "output directory"})
    force: bool = field(default=False, metadata={"help": "if --out holds another run, start fresh in a sub-directory"})

    def __post_init__(self) -> None:
        check_vectors_available(self.part_names(), self.vectors_dir, self.model, "--parts")

    def part_names(self) -> list[str]:
        names = parse_names(self.parts, "--parts")
        if len(names) < 2 or len(set(names)) != len(names):
            raise UsageError(f"--parts {self.parts!r}: give at least two distinct personas")
        return names


def run_projection(config: ProjectionConfig, model: SteerableModel | None = None) -> pd.DataFrame:
    """Fig. 3 tables and figure, and (``tokens``) the per-token analysis; returns the summary."""
    parts = config.part_names()
    module, may_change = "billy_interp.projection", ("device",)
    with claim_run_dir(config.out, config, module, may_change=may_change, force=config.force, record=False) as out:
        model = model or load_model(config.model, device=config.device or None, dtype=config.dtype)
        model.layers.resolve(layer=config.paper_layer, option="--paper-layer")  # range checks before any work
        model.layers.resolve(layer=config.token_layer, option="--token-layer")
        record_run(out, config, module, may_change)
        names = vector_names(resolve_source(config.vectors_dir or None, model, "--vectors-dir"))
        vectors = load_vectors(sorted(set(names) | set(parts)), model, source=config.vectors_dir or None)
        made_by = f"python -m billy_interp.projection ({out})"
        table, summary = fig3_projections(model, vectors, parts, config.paper_layer, config.alpha, config.n_boot)
        write_csv(table, out / "projections.csv")
        write_csv(summary, out / "projection_summary.csv")
        overall = summary[summary["kind"] == "all"]
        written = save_figure(
            plot_projection_panels(
                overall,
                parts,
                f"Fig. 3 recipe on {model.name}: unit vectors, alpha {config.alpha:g} "
                f"at paper layer {config.paper_layer}",
            ),
            out / "figures" / "fig3_projection",
            made_by,
        )
        last = overall[overall["block"] == overall["block"].max()]
        print(last[["condition", "direction", "paper_layer", "mean", "ci_low", "ci_high"]].to_string(index=False))
        if config.tokens:
            per_token, views = response_token_projections(
                model,
                vectors,
                parts,
                config.paper_layer,
                config.token_layer,
                config.token_alpha,
                config.n_responses,
                config.max_new_tokens,
            )
            write_csv(per_token, out / "token_projections.csv")
            profile = position_profile(per_token)
            write_csv(profile, out / "position_profile.csv")
            written += save_figure(plot_position_profile(profile, parts), out / "figures" / "position_profile", made_by)
            written.append(write_token_view(views, out / "figures" / "token_view.html"))
        print(f"tables in {out}; figures: {', '.join(map(str, written))}")
        return summary
