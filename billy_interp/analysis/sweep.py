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

__all__ = ["Cell", "make_grid", "grid_steering", "run_grid", "run_naive", "sweep_prompts", "recommend"]


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


def recommend(
    aggregate: pd.DataFrame, tolerance: float, distinct_tolerance: float = 0.1, appropriateness_tolerance: float = 0.1
) -> dict:
    """Highest mean trait gain among cells that stay coherent and on the task: perplexity under
    the unsteered model within ``tolerance`` x the unsteered one, distinct-2 at most
    ``distinct_tolerance`` below it, and (when the aggregate has it) the share of on-task ideas
    at most ``appropriateness_tolerance`` below it. (Perplexity alone rewards degenerate
    repetition such as "futuristic futuristic ...", which the unsteered model finds easy to
    predict; a cell that drifts off the task would win trait gain by talking about the persona.)"""
    base = aggregate[aggregate["alpha"] == 0]
    if base.empty:
        raise ValueError("the alpha grid needs 0 (the unsteered baseline) to recommend a cell")
    base_ppl, base_trait = float(base["perplexity"].mean()), float(base["trait_mean"].mean())
    base_distinct = float(base["distinct_2"].mean())
    keep = (
        (aggregate["alpha"] != 0)
        & (aggregate["perplexity"] <= tolerance * base_ppl)
        & (aggregate["distinct_2"] >= base_distinct - distinct_tolerance)
    )
    result = {
        "unsteered_perplexity": base_ppl,
        "unsteered_distinct_2": base_distinct,
        "unsteered_trait_mean": base_trait,
        "tolerance": tolerance,
        "distinct_tolerance": distinct_tolerance,
    }
    if "appropriateness" in aggregate:
        base_on_task = float(base["appropriateness"].mean())
        keep &= aggregate["appropriateness"] >= base_on_task - appropriateness_tolerance
        result |= {"unsteered_appropriateness": base_on_task, "appropriateness_tolerance": appropriateness_tolerance}
    ok = aggregate[keep]
    if ok.empty:
        return {**result, "cell": None, "reason": "no steered cell stays within the coherence tolerances"}
    best = ok.loc[ok["trait_mean"].idxmax()]
    return {
        **result,
        "cell": {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in best.items()},
        "trait_gain": float(best["trait_mean"]) - base_trait,
    }
