"""Layer x alpha sweeps, executed grid-batched.

A sweep is a set of :class:`Cell` (block, raw alpha) applied to a set of prompts. Instead of one
``generate`` call per cell, every (cell, prompt) pair becomes one batch row carrying its own
delta ``alpha * v(block)`` at its own hook (a per-row :class:`~billy_interp.steering.Steering`:
rows are zero at the hooks they do not use), so the whole grid runs in a few large batched calls.
Under greedy decoding the result is token-identical to the naive per-cell loop (tested), because
left padding does not change any row's tokens.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from billy_interp.core.generation import GenerationConfig, GenerationResult, generate
from billy_interp.core.layers import hook_name, layer_columns
from billy_interp.core.model import SteerableModel
from billy_interp.core.steering import PositionMode, Steering
from billy_interp.evaluation.tasks import load_task, sample_items
from billy_interp.vectors.personas import shared_questions
from billy_interp.vectors.vector import PersonaVector

__all__ = [
    "Cell",
    "make_grid",
    "grid_steering",
    "run_grid",
    "run_naive",
    "sweep_prompts",
    "OBJECTIVES",
    "recommend",
    "explain",
]


@dataclass(frozen=True, order=True)
class Cell:
    """One sweep cell: steer ``blocks.{block}.hook_resid_post`` with raw ``alpha``."""

    block: int
    alpha: float


def make_grid(blocks: Sequence[int], alphas: Sequence[float]) -> list[Cell]:
    """Every (block, alpha) cell of a layer x alpha grid, in row-major order."""
    return [Cell(int(b), float(a)) for b in blocks for a in alphas]


def grid_steering(
    vector: PersonaVector, cells: Sequence[Cell], n_prompts: int, positions: PositionMode = "response"
) -> Steering:
    """Rows ordered cell-major: row ``c * n_prompts + p`` is cell ``c`` on prompt ``p``."""
    rows = []
    for cell in cells:
        hook = hook_name(cell.block)
        rows += [{hook: cell.alpha * vector[hook]}] * n_prompts
    return Steering.per_row(rows, positions)


def _frame(result: GenerationResult, cells: Sequence[Cell], prompts: Sequence[str]) -> pd.DataFrame:
    rows = []
    for index, (text, ids) in enumerate(zip(result.texts, result.token_ids)):
        cell, p = cells[index // len(prompts)], index % len(prompts)
        rows.append(
            {
                **layer_columns(cell.block),
                "alpha": cell.alpha,
                "prompt_index": p,
                "prompt": prompts[p],
                "text": text,
                "token_ids": ids,
            }
        )
    return pd.DataFrame(rows)


def run_grid(
    model: SteerableModel,
    prompts: Sequence[str],
    vector: PersonaVector,
    cells: Sequence[Cell],
    config: GenerationConfig,
    positions: PositionMode = "response",
) -> tuple[pd.DataFrame, float]:
    """All cells in shared batches; returns (one row per cell x prompt, seconds)."""
    if not cells or not prompts:
        raise ValueError("a sweep needs at least one cell and one prompt")
    all_prompts = [p for _ in cells for p in prompts]
    t0 = time.perf_counter()
    result = generate(model, all_prompts, config, grid_steering(vector, cells, len(prompts), positions))
    return _frame(result, cells, prompts), time.perf_counter() - t0


def run_naive(
    model: SteerableModel,
    prompts: Sequence[str],
    vector: PersonaVector,
    cells: Sequence[Cell],
    config: GenerationConfig,
    positions: PositionMode = "response",
) -> tuple[pd.DataFrame, float]:
    """The reference loop: one ``generate`` call per cell."""
    frames, t0 = [], time.perf_counter()
    for cell in cells:
        hook = hook_name(cell.block)
        steering = Steering.from_vectors({hook: vector[hook]}, cell.alpha, positions)
        config_cell = replace(config, batch_size=min(config.batch_size, len(prompts)))
        frames.append(_frame(generate(model, list(prompts), config_cell, steering), [cell], prompts))
    return pd.concat(frames, ignore_index=True), time.perf_counter() - t0


def sweep_prompts(n: int, seed: int) -> list[tuple[str, str]]:
    """(prompt, subject) pairs: AUT items and shared neutral design tasks, deterministic."""
    if n < 1:
        raise ValueError("n_prompts must be >= 1")
    aut = sample_items(load_task("aut"), (n + 1) // 2, seed)
    design = list(shared_questions().split("extract"))[: n // 2]
    return [(i.prompt, i.subject) for i in aut] + [(q, q) for q in design]


OBJECTIVES = ("guarded_originality", "trait_mean")


def recommend(
    aggregate: pd.DataFrame,
    tolerance: float,
    distinct_tolerance: float = 0.1,
    appropriateness_tolerance: float = 0.1,
    readability_tolerance: float = 0.1,
    objective: str = "guarded_originality",
) -> dict:
    """The steered cell with the highest ``objective`` among cells that stay coherent and on the
    task, if it beats the unsteered baseline; ``cell`` is None otherwise, with the reason.

    The guards, each against the unsteered cells (alpha 0): perplexity under the unsteered model
    within ``tolerance`` x, distinct-2 at most ``distinct_tolerance`` below, and (when the
    aggregate has them) the on-task share at most ``appropriateness_tolerance`` below and the
    readable share at most ``readability_tolerance`` below. Perplexity alone rewards degenerate
    repetition ("futuristic futuristic ...", easy to predict); a cell that drifts off the task
    wins trait gain by talking about the persona. The default objective, the guarded
    originality, gives off-topic and unreadable ideas nothing, so neither can win it either.
    ``rejected`` counts the steered cells each guard turned away (a cell may fail several)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective not in aggregate:
        raise ValueError(f"the aggregate table has no {objective!r} column to recommend by")
    base = aggregate[aggregate["alpha"] == 0]
    if base.empty:
        raise ValueError("the alpha grid needs 0 (the unsteered baseline) to recommend a cell")
    steered = aggregate["alpha"] != 0
    unsteered = {c: float(base[c].mean()) for c in ("perplexity", "distinct_2", "trait_mean", objective)}
    guards = {
        "perplexity": aggregate["perplexity"] <= tolerance * unsteered["perplexity"],
        "distinct_2": aggregate["distinct_2"] >= unsteered["distinct_2"] - distinct_tolerance,
    }
    result = {
        "objective": objective,
        "unsteered_perplexity": unsteered["perplexity"],
        "unsteered_distinct_2": unsteered["distinct_2"],
        "unsteered_trait_mean": unsteered["trait_mean"],
        f"unsteered_{objective}": unsteered[objective],
        "tolerance": tolerance,
        "distinct_tolerance": distinct_tolerance,
    }
    for column, allowed in (("appropriateness", appropriateness_tolerance), ("readability", readability_tolerance)):
        if column in aggregate:
            value = float(base[column].mean())
            guards[column] = aggregate[column] >= value - allowed
            result |= {f"unsteered_{column}": value, f"{column}_tolerance": allowed}
    coherent = steered.copy()  # within every coherence and on-task guard
    for passed in guards.values():
        coherent &= passed
    guards["gain"] = aggregate[objective] > unsteered[objective]
    result["steered_cells"] = int(steered.sum())
    result["rejected"] = {name: int((steered & ~passed).sum()) for name, passed in guards.items()}
    ok = aggregate[coherent & guards["gain"]]
    if ok.empty:
        reason = (
            f"no steered cell beats the unsteered {objective} ({unsteered[objective]:.3f}) while staying "
            "within the coherence and on-task tolerances"
            if coherent.any()
            else "no steered cell stays within the coherence and on-task tolerances"
        )
        return {**result, "cell": None, "reason": reason}
    best = ok.loc[ok[objective].idxmax()]
    return {
        **result,
        "cell": {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in best.items()},
        "gain": float(best[objective]) - unsteered[objective],
        "trait_gain": float(best["trait_mean"]) - unsteered["trait_mean"],
    }


def explain(best: dict) -> str:
    """What :func:`recommend` chose and why, in plain words."""
    objective = best["objective"]
    rejected = ", ".join(f"{n} {name.replace('_', '-')}" for name, n in best["rejected"].items() if n)
    counts = f"{best['steered_cells']} steered cells; turned away by each guard: {rejected or 'none'}"
    cell = best.get("cell")
    if not cell:
        return f"no recommended cell: {best['reason']} ({counts})"
    parts = [
        f"perplexity {cell['perplexity']:.2f} (unsteered {best['unsteered_perplexity']:.2f}, "
        f"allowed up to {best['tolerance']:g}x)",
        f"distinct-2 {cell['distinct_2']:.2f} (unsteered {best['unsteered_distinct_2']:.2f})",
    ]
    for column, label in (("appropriateness", "on-task share"), ("readability", "readable share")):
        if f"unsteered_{column}" in best:
            parts.append(f"{label} {cell[column]:.2f} (unsteered {best[f'unsteered_{column}']:.2f})")
    return (
        f"recommended: paper layer {cell['paper_layer']:.0f} (blocks.{cell['block']:.0f}), alpha {cell['alpha']:.3g}"
        + (f" (relative {cell['relative_alpha']:.3g})" if "relative_alpha" in cell else "")
        + f", because it has the highest {objective} ({cell[objective]:.3f}, unsteered "
        f"{best[f'unsteered_{objective}']:.3f}, gain {best['gain']:+.3f}) of the cells that stay coherent and "
        f"on the task: {'; '.join(parts)}. {counts}"
    )
