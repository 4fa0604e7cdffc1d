"""The layer x alpha sweep job: where and how hard to steer, measured.

    python -m billy_interp.layer_sweep                                   # paper default recipe, all layers
    python -m billy_interp.layer_sweep --recipe futurist --layers 10,15,20,25 --alphas 0,4,8
    python -m billy_interp.layer_sweep --alphas 0,0.05,0.1,0.2 --relative # alpha*|v|/|h| instead of raw

``--layers`` are the paper's layers (hidden-state index: layer L steers blocks.{L-1}.hook_resid_post);
outputs carry both. Every (layer, alpha) cell is generated greedily for the same prompts (a fixed
sample of AUT objects and neutral design tasks); cells share batches (per-row layer and alpha).
The run directory holds ``config.json``, ``command.txt``, ``cells.jsonl`` (the resume log: a
killed sweep continues and loses no finished cell), ``results.csv`` (one row per prompt x cell),
``aggregate.csv`` (one row per cell, raw and relative alpha), ``strength.csv`` (per block: |v|,
the sink-free reference norm |h| and the attention sinks' norms behind relative alpha),
``recommended.json`` and heatmaps in ``figures/``. Trait, originality and coherence scores are offline proxies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd

from billy_interp import paper
from billy_interp.analysis.strength import alphas_for_relative, relative_alpha_scale
from billy_interp.analysis.sweep import OBJECTIVES, Cell, explain, grid_steering, recommend, run_grid, sweep_prompts
from billy_interp.analysis.sweep_metrics import last_layer_projections, perplexities, text_metrics
from billy_interp.core.generation import GenerationConfig
from billy_interp.core.layers import LayerConvention, layer_columns
from billy_interp.core.model import SteerableModel, TokenBatch
from billy_interp.figures import plot_sweep_heatmaps, save_figure
from billy_interp.io import JsonlLog, claim_run_dir, record_run, write_csv, write_json
from billy_interp.jobs.executors import EXECUTOR_OPTIONS, ExecutorOptions, load_config_model, open_executor
from billy_interp.options import VECTORS_DIR_HELP, UsageError, parse_floats, parse_ints, require_at_least_one
from billy_interp.vectors.library import check_vectors_available, load_vectors
from billy_interp.vectors.merging import merge, parse_recipe
from billy_interp.vectors.personas import Persona, load_persona
from billy_interp.vectors.vector import PersonaVector

__all__ = ["SweepConfig", "run_layer_sweep"]


@dataclass(frozen=True)
class SweepConfig(ExecutorOptions):
    """Layer x alpha sweep of a persona or merge recipe on the embedded (or any) model."""

    recipe: str = field(
        default=paper.PAPER_RECIPE_TEXT,
        metadata={"help": "one persona, or a merge recipe (repeats count; name:weight)"},
    )
    layers: str = field(default="all", metadata={"help": "paper layers (1..n_layers), comma-separated, or 'all'"})
    alphas: str = field(default="0,4,8,16", metadata={"help": "alpha grid (0 = the unsteered baseline)"})
    relative: bool = field(default=False, metadata={"help": "alphas are relative: alpha*|v(l)|/|h(l)|"})
    n_prompts: int = field(default=4, metadata={"help": "prompts: half AUT objects, half neutral design tasks"})
    seed: int = field(default=0, metadata={"help": "prompt-sample seed"})
    max_new_tokens: int = field(default=40, metadata={"help": "greedy tokens per prompt and cell"})
    batch_size: int = field(default=96, metadata={"help": "rows per generation micro-batch"})
    cells_per_chunk: int = field(default=24, metadata={"help": "cells finished (and saved) together"})
    coherence_tolerance: float = field(
        default=1.5, metadata={"help": "recommended cell: perplexity <= tol x unsteered"}
    )
    distinct_tolerance: float = field(default=0.1, metadata={"help": "recommended cell: distinct-2 >= unsteered - tol"})
    appropriateness_tolerance: float = field(
        default=0.1, metadata={"help": "recommended cell: share of on-task ideas >= unsteered - tol"}
    )
    readability_tolerance: float = field(
        default=0.1, metadata={"help": "recommended cell: share of readable ideas >= unsteered - tol"}
    )
    objective: str = field(
        default="guarded_originality",
        metadata={"help": "what the recommended cell maximises: guarded_originality or trait_mean"},
    )
    model: str = field(default="embedded", metadata={"help": "HF name or path"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    vectors_dir: str = field(default="", metadata={"help": VECTORS_DIR_HELP})
    out: str = field(default="runs/layer_sweep", metadata={"help": "run directory (resumable)"})
    force: bool = field(default=False, metadata={"help": "if --out holds another run, start fresh in a sub-directory"})

    def __post_init__(self) -> None:
        super().__post_init__()
        parse_recipe(self.recipe)
        self.paper_layers()
        if 0.0 not in self.alpha_list():
            raise UsageError(f"--alphas {self.alphas!r}: include 0, the unsteered baseline every cell is compared with")
        if self.objective not in OBJECTIVES:
            raise UsageError(f"--objective {self.objective!r}: use one of {', '.join(OBJECTIVES)}")
        require_at_least_one(self, ("n_prompts", "max_new_tokens", "batch_size", "cells_per_chunk"))

    def paper_layers(self, layers: LayerConvention | None = None) -> list[int]:
        """The swept paper layers (all of ``layers`` for 'all'), range-checked when ``layers`` is given."""
        if self.layers == "all":
            return list(layers.paper_layers) if layers is not None else []
        chosen = parse_ints(self.layers, "--layers", minimum=1)
        if layers is not None:
            try:
                layers.resolve(layer=chosen, option="--layers")  # the one place layer indices are checked
            except ValueError as error:
                raise UsageError(str(error)) from None
        return chosen

    def alpha_list(self) -> list[float]:
        return parse_floats(self.alphas, "--alphas")


def _cells(config: SweepConfig, layers: LayerConvention, scale: pd.DataFrame) -> list[tuple[Cell, float]]:
    """(cell with its raw alpha, relative alpha) for every paper layer x alpha of the grid."""
    blocks = [layers.paper_layer_to_block(layer) for layer in config.paper_layers(layers)]
    alphas = config.alpha_list()
    factors = dict(zip(scale["block"].astype(int), scale["scale"].astype(float)))
    raw = alphas_for_relative(scale, alphas) if config.relative else {b: alphas for b in blocks}
    return [(Cell(block, a), a * factors[block]) for block in blocks for a in raw[block]]


# Settings a resumed sweep may change: they decide neither a cell's text nor its scores.
MAY_CHANGE = ("batch_size", "cells_per_chunk", "device", *EXECUTOR_OPTIONS)
MAY_CHANGE += ("coherence_tolerance", "distinct_tolerance", "appropriateness_tolerance", "readability_tolerance")
MAY_CHANGE += ("objective",)
MODULE = "billy_interp.layer_sweep"


def run_layer_sweep(config: SweepConfig, model: SteerableModel | None = None) -> pd.DataFrame:
    """The sweep job: generate every missing cell (resumable), score, tabulate, recommend, draw.
    Returns the per-cell aggregate table. A run directory made with other settings is refused.
    Under ``executor="ray"`` the cell chunks run on Ray workers (each loads ``config.model``)."""
    if model is not None and config.executor != "local":
        raise ValueError("a model object stays in this process: with --executor ray the workers load --model")
    recipe = parse_recipe(config.recipe)
    for name in recipe.weights:  # unknown personas or missing vectors fail before anything loads
        load_persona(name)
    check_vectors_available(recipe.weights, config.vectors_dir, config.model, "--recipe")
    with claim_run_dir(config.out, config, MODULE, may_change=MAY_CHANGE, force=config.force, record=False) as out:
        return _sweep(config, model, out)


@dataclass(frozen=True)
class _SweepContext:
    """What every chunk of cells needs; built once per worker (or once locally)."""

    model: SteerableModel
    parts: dict[str, PersonaVector]
    vector: PersonaVector
    prompts: list[str]
    batch: TokenBatch  # the prompts, chat-formatted: tiled per chunk for the projections
    subjects: list[str]
    personas: list[Persona]
    decoding: GenerationConfig


def _sweep_context(config: SweepConfig, model: SteerableModel | None = None) -> _SweepContext:
    recipe = parse_recipe(config.recipe)
    model = model or load_config_model(config)
    parts = load_vectors(list(recipe.weights), model, source=config.vectors_dir or None)
    pairs = sweep_prompts(config.n_prompts, config.seed)
    prompts = [p for p, _ in pairs]
    return _SweepContext(
        model=model,
        parts=parts,
        vector=merge(parts, recipe),
        prompts=prompts,
        batch=model.encode_chat(prompts),
        subjects=[s for _, s in pairs],
        personas=[load_persona(n) for n in recipe.weights],
        decoding=GenerationConfig(max_new_tokens=config.max_new_tokens, batch_size=config.batch_size),
    )


def _plan(context: _SweepContext) -> tuple[pd.DataFrame, LayerConvention]:
    """The relative-alpha reference table and the model's layer convention, which fix the cells."""
    return relative_alpha_scale(context.model, context.prompts, context.vector), context.model.layers


def _sweep_chunk(context: _SweepContext, chunk: list[tuple[Cell, float]]) -> list[dict]:
    """Generate and score one chunk of cells: one resume-log entry per cell."""
    model, prompts, vector = context.model, context.prompts, context.vector
    chunk_cells = [c for c, _ in chunk]
    frame, _ = run_grid(model, prompts, vector, chunk_cells, context.decoding)
    frame["relative_alpha"] = [rel for _, rel in chunk for _ in prompts]
    batch_size = context.decoding.batch_size
    frame["perplexity"] = perplexities(model, list(frame["prompt"]), list(frame["token_ids"]), batch_size)
    metrics = text_metrics(list(frame["text"]), context.subjects * len(chunk), context.personas)
    batch = context.batch
    tiled = type(batch)(batch.input_ids.repeat(len(chunk), 1), batch.attention_mask.repeat(len(chunk), 1))
    projections = last_layer_projections(model, tiled, grid_steering(vector, chunk_cells, len(prompts)), context.parts)
    frame = pd.concat([frame.reset_index(drop=True), metrics, projections], axis=1)
    return [
        {"block": cell.block, "alpha": cell.alpha, "rows": rows.drop(columns=["token_ids"]).to_dict("records")}
        for (cell, _), (_, rows) in zip(chunk, frame.groupby(["block", "alpha"], sort=False))
    ]


def _sweep(config: SweepConfig, model: SteerableModel | None, out: Path) -> pd.DataFrame:
    local = _sweep_context(config, model) if model is not None else None
    with open_executor(config, partial(_sweep_context, config), local) as executor:
        scale, layers = executor.call(_plan)
        cells = _cells(config, layers, scale)  # a layer the model lacks is refused before anything is recorded
        record_run(out, config, MODULE, MAY_CHANGE)
        write_csv(scale, out / "strength.csv")
        log = JsonlLog(out / "cells.jsonl")
        done = {(entry["block"], entry["alpha"]) for entry in log.read()}
        # alpha = 0 adds an exact zero, so every layer's baseline is the same run: generate it once.
        zero_cells = [(c, rel) for c, rel in cells if c.alpha == 0]
        todo = [
            (c, rel)
            for c, rel in cells
            if (c.block, c.alpha) not in done and (c.alpha != 0 or (c, rel) == zero_cells[0])
        ]
        # The chunks are the units: fixed by the grid and --cells-per-chunk, wherever they run.
        chunks = [todo[i : i + config.cells_per_chunk] for i in range(0, len(todo), config.cells_per_chunk)]
        # one line per finished cell, the whole chunk in one write
        executor.map(_sweep_chunk, chunks, lambda _chunk, entries: log.append(entries), desc="layer x alpha cells")
    logged = log.read()
    baseline = next((entry for entry in logged if entry["alpha"] == 0), None)
    have = {(entry["block"], entry["alpha"]) for entry in logged}
    if baseline is not None:
        copies = [
            {
                "block": cell.block,
                "alpha": 0.0,
                "rows": [
                    {**r, **layer_columns(cell.block), "baseline_copied_from": baseline["block"]}
                    for r in baseline["rows"]
                ],
            }
            for cell, _ in zero_cells
            if (cell.block, 0.0) not in have
        ]
        log.append(copies)
        logged += copies
    records = [r for entry in logged for r in entry["rows"]]
    results = pd.DataFrame(records).drop(columns=["baseline_copied_from"], errors="ignore")
    # cell order, not the order chunks finished in (which differs between executors and resumes)
    results = results.sort_values(["block", "alpha", "prompt_index"], kind="stable", ignore_index=True)
    trait_cols = [c for c in results.columns if c.startswith("trait:")]
    proj_cols = [c for c in results.columns if c.startswith("projection:")]
    results["trait_mean"] = results[trait_cols].mean(axis=1)
    results["projection_mean"] = results[proj_cols].mean(axis=1)
    write_csv(results, out / "results.csv")
    numeric = [
        "relative_alpha",
        "perplexity",
        "distinct_2",
        "originality",
        "guarded_originality",
        "appropriateness",
        "readability",
        "trait_mean",
        "projection_mean",
        *trait_cols,
        *proj_cols,
    ]
    aggregate = results.groupby(["block", "paper_layer", "alpha"], as_index=False)[numeric].mean()
    write_csv(aggregate, out / "aggregate.csv")
    best = recommend(
        aggregate,
        config.coherence_tolerance,
        config.distinct_tolerance,
        config.appropriateness_tolerance,
        config.readability_tolerance,
        config.objective,
    )
    write_json(best, out / "recommended.json")
    made_by = f"python -m billy_interp.layer_sweep ({out})"
    fig = plot_sweep_heatmaps(
        aggregate,
        ["guarded_originality", "perplexity", "appropriateness", "readability", "distinct_2", "trait_mean"],
        title=f"{config.recipe}: layer x alpha ({'relative' if config.relative else 'raw'} alpha grid)",
        mark=best.get("cell"),
    )
    written = save_figure(fig, out / "figures" / "heatmaps", made_by)
    print(explain(best))
    print(f"table: {out / 'results.csv'}, aggregate: {out / 'aggregate.csv'}, figures: {', '.join(map(str, written))}")
    write_json({"config": asdict(config), "n_cells": len(cells)}, out / "summary.json")
    return aggregate
