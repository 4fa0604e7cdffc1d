"""The one intervened forward pass: format, pad, steer, capture, run.

:func:`run_with_cache` is the only function that runs a single forward pass under steering and
capture; activation collection, perplexities, interaction readouts and projections are all built
on it (generation has its own decode loop, which uses the same steering hooks and position
state). It owns what every caller used to have to remember:

* **formatting**, explicitly: ``format="chat"`` (chat template), ``"raw"`` (plain text with the
  tokenizer's own BOS), ``"formatted"`` (already rendered), or a ``TokenBatch``;
* **padding**: left padding with an explicit attention mask and mask-derived position ids;
* **positions**: the prompt state is always set, so ``prompt`` / ``all`` steering never touches
  padding, and ``response`` means the last prompt token plus the response (``response_start``
  marks where each row's response begins in a teacher-forced pass);
* **steering**: the explicit ``steering`` plus every enclosing ``steer(model, ...)`` block;
* **capture**: residuals at paper ``layers=`` or TL ``blocks=`` (or any TL ``hooks=`` on the
  bridge backend), kept whole or reduced inside the hook (last token, mean over real tokens, or
  per-row position weights), so long sequences never store ``[pos, d_model]`` per layer;
* **early stop**: without logits, the pass stops after the last captured hook.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from billy_interp.core.layers import ResidualSite
from billy_interp.core.model import Backend, PromptFormat, SteerableModel, TokenBatch
from billy_interp.core.runners import left_padded_position_ids
from billy_interp.core.steering import PositionState, Steering, active_steerings, steering_hooks

__all__ = ["Reduce", "ForwardResult", "run_with_cache"]

Reduce = Literal["none", "last", "mean"] | Tensor


class _StopForward(Exception):
    """Raised by the last needed hook: later blocks and the unembedding are never computed."""


@dataclass(frozen=True)
class ForwardResult:
    """Logits (``None`` when not asked for) and captured activations keyed by hook name."""

    logits: Float[Tensor, "batch out_pos vocab"] | None
    cache: dict[str, Tensor]
    batch: TokenBatch
    format: str
    hooks: list[str] = field(default_factory=list)

    def __getitem__(self, hook: str) -> Tensor:
        if hook not in self.cache:
            raise KeyError(f"{hook} was not captured; captured: {self.hooks}")
        return self.cache[hook]

    def at(self, layer: int | None = None, *, block: int | None = None, site: str = "resid_post") -> Tensor:
        """The captured residual at paper ``layer`` (hidden-state index) or TL ``block``."""
        from billy_interp.core.layers import LayerConvention, block_of, hook_name

        depth = max(block_of(h) for h in self.hooks) + 1 if self.hooks else 1
        (chosen,) = LayerConvention(depth).resolve(layer=layer, block=block)
        return self[hook_name(chosen, site)]  # type: ignore[arg-type]

    def stack(self) -> Tensor:
        """Captured activations stacked in capture (depth) order: ``[hook, ...]``."""
        return torch.stack([self.cache[h] for h in self.hooks])


def _capture_hooks(
    model: SteerableModel,
    layers: int | Sequence[int] | None,
    blocks: int | Sequence[int] | None,
    hooks: Sequence[str] | None,
    site: ResidualSite,
) -> list[str]:
    if hooks is not None:
        if layers is not None or blocks is not None:
            raise ValueError("capture by hooks= or by layers=/blocks=, not both")
        return list(dict.fromkeys(hooks))
    if layers is None and blocks is None:
        chosen = list(model.layers.blocks)
    else:
        chosen = model.layers.resolve(layer=layers, block=blocks)
    return [model.layers.hook_name(b, site) for b in sorted(set(chosen))]


def _reducer(reduce: Reduce, batch: TokenBatch):
    real = batch.attention_mask.to(torch.float32)
    if isinstance(reduce, Tensor):
        weights = reduce.to(batch.input_ids.device, torch.float32)
        if weights.ndim == 2:
            weights = weights[None]
        if weights.shape[1:] != batch.input_ids.shape:
            raise ValueError(
                f"reduce weights {tuple(weights.shape)} do not match the batch {tuple(batch.input_ids.shape)}"
            )
        return lambda resid: torch.einsum("kbp,bpd->kbd", weights, resid.float())
    if reduce == "none":
        return lambda resid: resid.detach().clone()
    if reduce == "last":
        return lambda resid: resid[:, -1].detach().clone()
    if reduce == "mean":
        return lambda resid: (resid.float() * real[..., None]).sum(1) / real.sum(1, keepdim=True)
    raise ValueError(f"unknown reduce {reduce!r}; use 'none', 'last', 'mean' or a weight tensor")


@torch.inference_mode()
def run_with_cache(
    model: SteerableModel,
    inputs: Sequence[str] | TokenBatch,
    *,
    steering: Steering | None = None,
    layers: int | Sequence[int] | None = None,
    blocks: int | Sequence[int] | None = None,
    hooks: Sequence[str] | None = None,
    site: ResidualSite = "resid_post",
    reduce: Reduce = "none",
    logits: bool | int = False,
    format: PromptFormat = "chat",
    system: str | Sequence[str | None] | None = None,
    response_start: Int[Tensor, " batch"] | None = None,
    backend: Backend = "residual",
    ignore_active: bool = False,
) -> ForwardResult:
    """One forward pass under steering, capturing the residual stream.

    ``layers`` are paper layers (hidden-state index), ``blocks`` TL blocks; neither captures
    every block. ``reduce``: ``"none"`` keeps ``[batch, pos, d_model]``, ``"last"`` /
    ``"mean"`` give ``[batch, d_model]``, a weight tensor ``[k, batch, pos]`` gives
    ``[k, batch, d_model]`` (float32). ``logits``: ``False`` (stop after the last captured
    hook), ``True`` (every position) or ``k`` (the last ``k`` positions only).
    ``ignore_active=True`` ignores enclosing ``steer(model, ...)`` blocks and applies only ``steering``
    (for a baseline that must stay plain, such as perplexity under the unsteered model).
    """
    batch = model.prepare(inputs, format=format, system=system)
    model.check_fits(batch)
    used_format = "tokens" if isinstance(inputs, TokenBatch) else format
    runner = model.runner(backend)
    names = _capture_hooks(model, layers, blocks, hooks, site)
    missing = [n for n in names if n not in runner.hook_points]
    if missing:
        raise KeyError(f"cannot capture {missing[:3]}: no such hook on the {backend} runner")
    if not names and logits is False:
        raise ValueError("nothing to return: capture at least one hook or ask for logits")
    reduce_fn = _reducer(reduce, batch)
    store: dict[str, Tensor] = {}

    def save(name: str, stop: bool):
        def hook(resid: Tensor, hook: object) -> None:
            store[name] = reduce_fn(resid)
            if stop:
                raise _StopForward

        return hook

    stop_early = logits is False
    capture = [(n, save(n, stop_early and i == len(names) - 1)) for i, n in enumerate(names)]
    state = PositionState()
    state.set_prompt(batch.attention_mask, response_start)
    keep = 0 if logits is True else int(logits)
    out = None
    steerings = ([steering] if steering is not None else []) if ignore_active else active_steerings(model, steering)
    positions = left_padded_position_ids(batch.attention_mask)
    with steering_hooks(runner, steerings, state), runner.hooks(capture), contextlib.suppress(_StopForward):
        out = runner.forward(batch.input_ids, batch.attention_mask, positions, keep_last=keep)
    for name, tensor in [*store.items(), *([("logits", out)] if out is not None else [])]:
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(
                f"the forward pass produced NaN/Inf at {name}: a steering delta too strong for this "
                "dtype, or a broken model"
            )
    return ForwardResult(out if logits is not False else None, {n: store[n] for n in names}, batch, used_format, names)
