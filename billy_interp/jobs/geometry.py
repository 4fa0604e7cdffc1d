"""The geometry job: the cosine geometry of persona vectors (by default the shipped ones).

    python -m billy_interp.geometry                          # every vector in --vectors-dir
    python -m billy_interp.geometry --layers 5,20 --pca-layer 20

Writes to ``--out``: ``cosines.csv`` (persona x persona cosine at every layer), ``norms.csv``
(per-layer vector norms, with the mean residual norm |h| on the packaged design tasks),
``merge_parts.csv`` (cosine of the recipe's merged vector with each part, per layer),
``pca.csv`` and figures: a cosine heatmap with a layer slider, small multiples at ``--layers``,
norms, merged-vs-parts and the PCA map. Needs no model for the vectors; the model is loaded only
for |h| (``--no-residual-norms`` skips it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from billy_interp import paper
from billy_interp.analysis.geometry import cosine_matrices, layer_norms, merge_part_cosines, pca_map
from billy_interp.figures import (
    plot_cosine_slider,
    plot_cosine_small_multiples,
    plot_layer_norms,
    plot_merge_part_cosines,
    plot_pca_map,
    save_figure,
)
from billy_interp.io import claim_run_dir, write_csv
from billy_interp.options import VECTORS_DIR_HELP, UsageError, parse_ints
from billy_interp.vectors.library import load_vectors, resolve_source
from billy_interp.vectors.merging import parse_recipe

__all__ = ["GeometryConfig", "run_geometry"]


@dataclass(frozen=True)
class GeometryConfig:
    """Cosines, norms, merged-vs-parts and a PCA map of persona vectors across layers."""

    vectors_dir: str = field(default="", metadata={"help": VECTORS_DIR_HELP})
    recipe: str = field(default=paper.PAPER_RECIPE_TEXT, metadata={"help": "merge recipe for merged-vs-parts"})
    layers: str = field(default="2,10,20,28", metadata={"help": "paper layers for the small multiples"})
    pca_layer: int = field(default=paper.PAPER_LAYER, metadata={"help": "paper layer of the PCA map"})
    residual_norms: bool = field(default=True, metadata={"help": "load the model to plot |h| beside |v|"})
    model: str = field(default="embedded", metadata={"help": "HF name or path (for |h| only)"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    out: str = field(default="runs/geometry", metadata={"help": "output directory"})
    force: bool = field(default=False, metadata={"help": "if --out holds another run, start fresh in a sub-directory"})


def run_geometry(config: GeometryConfig) -> pd.DataFrame:
    """The geometry job: tables and figures of every vector in ``vectors_dir``; returns the cosines."""
    vectors = load_vectors(None, source=resolve_source(config.vectors_dir or None, option="--vectors-dir"))
    recipe = parse_recipe(config.recipe)
    missing = [n for n in recipe.weights if n not in vectors]
    if missing:
        raise UsageError(
            f"--recipe: personas {missing} have no vector in {config.vectors_dir or 'the shipped vectors'}"
        )
    convention = next(iter(vectors.values())).layers
    blocks = convention.resolve(layer=parse_ints(config.layers, "--layers", minimum=1), option="--layers")
    pca_block = convention.resolve(layer=config.pca_layer, option="--pca-layer")[0]
    with claim_run_dir(config.out, config, "billy_interp.geometry", may_change=("device",), force=config.force) as out:
        cosines = cosine_matrices(vectors)
        norms = layer_norms(vectors)
        parts = merge_part_cosines(vectors, recipe)
        pca = pca_map(vectors, pca_block).assign(block=pca_block)
        residual = None
        if config.residual_norms:
            from billy_interp.analysis.strength import relative_alpha_scale
            from billy_interp.core.loading import load_model
            from billy_interp.evaluation.tasks import design_tasks

            model = load_model(config.model, device=config.device or None, dtype=config.dtype)
            first = next(iter(vectors.values()))
            scale = relative_alpha_scale(model, design_tasks()["creative"], first)
            residual = scale.set_index("block")["h_norm"]
            norms = norms.merge(scale[["block", "h_norm"]], on="block")
        for name, table in {"cosines": cosines, "norms": norms, "merge_parts": parts, "pca": pca}.items():
            write_csv(table, out / f"{name}.csv")
        made_by = f"python -m billy_interp.geometry ({out})"
        figures = {
            "cosine_slider": plot_cosine_slider(cosines, pca_block),
            "cosine_small_multiples": plot_cosine_small_multiples(cosines, blocks),
            "norms": plot_layer_norms(norms, residual),
            "merge_parts": plot_merge_part_cosines(parts),
            "pca": plot_pca_map(pca, pca_block),
        }
        written = [p for name, fig in figures.items() for p in save_figure(fig, out / "figures" / name, made_by)]
        off = cosines[cosines["persona_a"] < cosines["persona_b"]]
        at = off[off["block"] == pca_block].sort_values("cosine")
        print(
            f"paper layer {config.pca_layer}: off-diagonal cosine mean {at['cosine'].mean():.3f}, "
            f"range {at['cosine'].min():.3f} ({at.iloc[0]['persona_a']} / {at.iloc[0]['persona_b']}) to "
            f"{at['cosine'].max():.3f} ({at.iloc[-1]['persona_a']} / {at.iloc[-1]['persona_b']})"
        )
        print(f"tables in {out}; figures: {', '.join(map(str, written))}")
        return cosines
