"""Layer x alpha sweeps, executed grid-batched.

A sweep is a set of :class:`Cell` (block, raw alpha) applied to a set of prompts. Instead of one
``generate`` call per cell, every (cell, prompt) pair becomes one batch row carrying its own
delta ``alpha * v(block)`` at its own hook (a per-row :class:`~billy_interp.steering.Steering`:
rows are zero at the hooks they do not use), so the whole grid runs in a few large batched calls.
Under greedy decoding the result is token-identical to the naive per-cell loop (tested), because
left padding does not change any row's tokens.

Relative strength: alpha_rel = alpha * |v(l)| / |h(l)|, with |h(l)| the mean residual norm of the
prompts' real tokens at that block. :func:`relative_alpha_scale` gives |v(l)|/|h(l)| per block.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from billy_interp.activations import collect_residuals
from billy_interp.generation import GenerationConfig, GenerationResult, generate
from billy_interp.model import SteerableModel
from billy_interp.steering import PositionMode, Steering
from billy_interp.vectors import PersonaVector

__all__ = [
    "Cell", "make_grid", "grid_steering", "run_grid", "run_naive", "relative_alpha_scale", "alphas_for_relative",
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
        hook = f"blocks.{cell.block}.hook_resid_post"
        rows += [{hook: cell.alpha * vector[hook]}] * n_prompts
    return Steering.per_row(rows, positions)


def _frame(result: GenerationResult, cells: Sequence[Cell], prompts: Sequence[str]) -> pd.DataFrame:
    rows = []
    for index, (text, ids) in enumerate(zip(result.texts, result.token_ids)):
        cell, p = cells[index // len(prompts)], index % len(prompts)
        rows.append({"block": cell.block, "paper_layer": cell.block + 1, "alpha": cell.alpha,
                     "prompt_index": p, "prompt": prompts[p], "text": text, "token_ids": ids})
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
        hook = f"blocks.{cell.block}.hook_resid_post"
        steering = Steering.from_vectors({hook: vector[hook]}, cell.alpha, positions)
        config_cell = replace(config, batch_size=min(config.batch_size, len(prompts)))
        frames.append(_frame(generate(model, list(prompts), config_cell, steering), [cell], prompts))
    return pd.concat(frames, ignore_index=True), time.perf_counter() - t0


def relative_alpha_scale(model: SteerableModel, prompts: Sequence[str], vector: PersonaVector) -> pd.DataFrame:
    """Per block: |v(l)|, mean |h(l)| over the prompts' real tokens, and |v|/|h| (alpha_rel per unit alpha)."""
    batch = model.encode_chat(list(prompts))
    resid = collect_residuals(model, batch)
    real = batch.attention_mask.bool()
    rows = []
    for block in model.layers.blocks:
        h = float(resid[block][real].norm(dim=-1).mean())
        v = float(vector.at(block).norm())
        rows.append({"block": block, "v_norm": v, "h_norm": h, "scale": v / h})
    return pd.DataFrame(rows)


def alphas_for_relative(scale: pd.DataFrame, relative: Sequence[float]) -> dict[int, list[float]]:
    """Raw alphas that give each requested relative strength at each block."""
    return {int(r.block): [float(a / r.scale) for a in relative] for r in scale.itertuples()}

