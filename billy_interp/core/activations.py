"""Read the residual stream at every layer in one forward pass (built on ``run_with_cache``).

:func:`collect_residuals` keeps whole activations (``[layer, batch, pos, d_model]``) for small
analyses. :func:`pooled_residuals` is what vector extraction uses: inside each hook it reduces
the activation to per-sample summaries (mean over response tokens, mean over prompt tokens,
last prompt token), so memory stays ``[layer, batch, d_model]`` whatever the sequence length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from billy_interp.core.forward import run_with_cache
from billy_interp.core.layers import ResidualSite
from billy_interp.core.model import Backend, SteerableModel, TokenBatch

__all__ = ["Pooling", "POOLINGS", "collect_residuals", "pooled_residuals", "pooling_weights"]

Pooling = Literal["response_mean", "prompt_mean", "last_prompt"]
POOLINGS: tuple[Pooling, ...] = ("response_mean", "prompt_mean", "last_prompt")


def collect_residuals(
    model: SteerableModel,
    batch: TokenBatch,
    *,
    blocks: Sequence[int] | None = None,
    site: ResidualSite = "resid_post",
    backend: Backend = "residual",
) -> Float[Tensor, "layer batch pos d_model"]:
    """Residual stream at the given TL blocks (default: all) from one forward pass."""
    if blocks is not None and not list(blocks):
        raise ValueError("no blocks requested")
    return run_with_cache(model, batch, blocks=blocks, site=site, backend=backend).stack()


def pooling_weights(
    attention_mask: Int[Tensor, "batch pos"], response_start: Int[Tensor, " batch"]
) -> dict[Pooling, Float[Tensor, "batch pos"]]:
    """Row-normalised position weights for each pooling.

    ``response_start`` is the padded column where each row's response begins (the prompt is
    everything real before it). Rows with an empty response get zero response weights.
    """
    pos = torch.arange(attention_mask.shape[1], device=attention_mask.device)[None, :]
    real = attention_mask.bool()
    start = response_start.to(attention_mask.device)[:, None]
    response = real & (pos >= start)
    prompt = real & (pos < start)
    last = pos == (start - 1)
    weights = {}
    for key, mask in (("response_mean", response), ("prompt_mean", prompt), ("last_prompt", last)):
        m = mask.float()
        weights[key] = m / m.sum(1, keepdim=True).clamp_min(1.0)
    return weights  # type: ignore[return-value]


def pooled_residuals(
    model: SteerableModel,
    batch: TokenBatch,
    response_start: Int[Tensor, " batch"],
    *,
    poolings: Sequence[Pooling] = POOLINGS,
    blocks: Sequence[int] | None = None,
    site: ResidualSite = "resid_post",
    backend: Backend = "residual",
) -> dict[Pooling, Float[Tensor, "layer batch d_model"]]:
    """Per-sample pooled residuals at every requested block, from one teacher-forced pass.

    Pooling happens inside the hooks, so no ``[layer, pos, d_model]`` tensor is ever stored.
    Results are float32 whatever the model dtype (sums over many tokens).
    """
    for pooling in poolings:
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; use one of {POOLINGS}")
    batch = batch.to(model.device)
    all_weights = pooling_weights(batch.attention_mask, response_start)
    weights = torch.stack([all_weights[p] for p in poolings])  # [pooling, batch, pos]
    result = run_with_cache(
        model, batch, blocks=blocks, site=site, reduce=weights, response_start=response_start, backend=backend
    )
    stacked = result.stack()  # [layer, pooling, batch, d_model]
    return {p: stacked[:, k] for k, p in enumerate(poolings)}
