"""Steering strength in units a reader can compare across models: relative alpha.

The paper's alpha multiplies a raw vector whose norm differs by orders of magnitude between
models, so report alpha_rel = alpha * |v(l)| / |h(l)|, with |h(l)| the mean residual norm of the
prompts' real tokens at that block. :func:`relative_alpha_scale` gives |v(l)| / |h(l)| per block.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from billy_interp.core.activations import collect_residuals
from billy_interp.core.layers import hook_name, layer_columns
from billy_interp.core.model import SteerableModel
from billy_interp.vectors.vector import PersonaVector

__all__ = ["relative_alpha_scale", "alphas_for_relative"]


def relative_alpha_scale(model: SteerableModel, prompts: Sequence[str], vector: PersonaVector) -> pd.DataFrame:
    """Per block: |v(l)|, mean |h(l)| over the prompts' real tokens, and |v|/|h| (alpha_rel per unit alpha)."""
    batch = model.encode_chat(list(prompts))
    resid = collect_residuals(model, batch)
    real = batch.attention_mask.bool()
    rows = []
    for block in model.layers.blocks:
        h = float(resid[block][real].norm(dim=-1).mean())
        v = float(vector[hook_name(block)].norm())
        rows.append({**layer_columns(block), "v_norm": v, "h_norm": h, "scale": v / h})
    return pd.DataFrame(rows)


def alphas_for_relative(scale: pd.DataFrame, relative: Sequence[float]) -> dict[int, list[float]]:
    """Raw alphas that give each requested relative strength at each block."""
    return {int(r.block): [float(a / r.scale) for a in relative] for r in scale.itertuples()}
