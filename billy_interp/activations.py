"""Read the residual stream at every layer in one forward pass.

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

from billy_interp.layers import ResidualSite
from billy_interp.model import Backend, SteerableModel, TokenBatch
from billy_interp.runners import left_padded_position_ids

__all__ = ["Pooling", "POOLINGS", "collect_residuals", "pooled_residuals", "pooling_weights"]

Pooling = Literal["response_mean", "prompt_mean", "last_prompt"]
POOLINGS: tuple[Pooling, ...] = ("response_mean", "prompt_mean", "last_prompt")


class _StopForward(Exception):
    """Raised by the last needed hook: later blocks and the unembedding are never computed."""


def _run_until_last_hook(runner, batch: TokenBatch, fwd_hooks: list) -> None:
    last_name, last_fn = fwd_hooks[-1]

    def last_then_stop(resid: Tensor, hook: object) -> None:
        last_fn(resid, hook)
        raise _StopForward

    try:
        with runner.hooks([*fwd_hooks[:-1], (last_name, last_then_stop)]):
            runner.forward(
                batch.input_ids, batch.attention_mask, left_padded_position_ids(batch.attention_mask)
            )
    except _StopForward:
        pass


def _hooks_for(model: SteerableModel, site: ResidualSite, blocks: Sequence[int] | None) -> list[str]:
    """Hook names in ascending block order (the last one is where the forward pass may stop)."""
    if blocks is None:
        blocks = list(model.layers.blocks)
    blocks = sorted({model.layers.check_block(b) for b in blocks})
    if not blocks:
        raise ValueError("no blocks requested")
    return [model.layers.hook_name(b, site) for b in blocks]


@torch.inference_mode()
def collect_residuals(
    model: SteerableModel,
    batch: TokenBatch,
    *,
    blocks: Sequence[int] | None = None,
    site: ResidualSite = "resid_post",
    backend: Backend = "residual",
) -> Float[Tensor, "layer batch pos d_model"]:
    """Residual stream at the given blocks (default: all) from one forward pass."""
    runner = model.runner(backend)
    names = _hooks_for(model, site, blocks)
    store: dict[str, Tensor] = {}

    def save(name: str):
        def hook(resid: Tensor, hook: object) -> None:
            store[name] = resid.detach()

        return hook

    _run_until_last_hook(runner, batch.to(model.device), [(n, save(n)) for n in names])
    return torch.stack([store[n] for n in names])


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


@torch.inference_mode()
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
    runner = model.runner(backend)
    names = _hooks_for(model, site, blocks)
    batch = batch.to(model.device)
    all_weights = pooling_weights(batch.attention_mask, response_start)
    weights = torch.stack([all_weights[p] for p in poolings])  # [pooling, batch, pos]
    out = torch.zeros(len(poolings), len(names), len(batch), model.d_model, device=model.device)

    def reduce(index: int):
        def hook(resid: Tensor, hook: object) -> None:
            out[:, index] = torch.einsum("kbp,bpd->kbd", weights, resid.float())

        return hook

    _run_until_last_hook(runner, batch, [(n, reduce(i)) for i, n in enumerate(names)])
    return {p: out[k] for k, p in enumerate(poolings)}
