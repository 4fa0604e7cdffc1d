"""Add ``alpha * v`` to the residual stream at TL hook points.

A :class:`Steering` is data: for each hook name, a per-row additive delta ``[rows, d_model]``
(``alpha`` already applied; ``rows`` is 1 to broadcast, or the batch size) and a position mode.
Per-row deltas give per-row ``alpha``, per-row layers (a row is zero at layers it does not use)
and per-row vectors in one batch, which is what grid sweeps need.

Position modes are defined on *absolute* positions. Each row's prompt ends at its
``response_start`` (for generation: the padded prompt length ``P`` for every row; for a
teacher-forced prompt + response: where that row's response begins), so KV-cached and uncached
generation, and teacher-forced re-runs, steer exactly the same tokens:

* ``"response"`` (the paper's): positions ``>= response_start - 1``, i.e. the last prompt token
  and every response token. With a KV cache that is "the last position of each forward pass".
* ``"prompt"``: real (non-pad) positions before ``response_start``; responses are not steered.
* ``"all"``: every real position.
* a bool tensor ``[batch, pos]``: an explicit mask over absolute positions; positions past its
  width are not steered.

Two ways in:

* :func:`steer` (public): ``with steer(model, vector, alpha=2, layer=20): ...`` steers everything
  billy_interp runs on ``model`` inside the block (generation, :func:`~billy_interp.core.forward.run_with_cache`,
  benchmark methods, sweeps).
* :func:`steering_hooks` (internal): installs the hooks on one runner for one forward loop; used
  only by :mod:`billy_interp.core.forward` and :mod:`billy_interp.core.generation`, which own the
  position state. Hooks are removed when the block exits, also when it raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from billy_interp.core.layers import hook_sort_key
from billy_interp.core.runners import Runner

__all__ = ["PositionMode", "Steering", "PositionState", "steer", "unsteered", "steering_hooks", "active_steerings"]

PositionMode = Literal["all", "prompt", "response"]
_MODES = ("all", "prompt", "response")


@dataclass(frozen=True)
class Steering:
    """Per-hook additive deltas (``alpha * v`` already applied) and where to add them."""

    deltas: Mapping[str, Float[Tensor, "rows d_model"]]
    positions: PositionMode | Bool[Tensor, "batch pos"] = "response"

    def __post_init__(self) -> None:
        if isinstance(self.positions, str) and self.positions not in _MODES:
            raise ValueError(f"unknown position mode {self.positions!r}; use one of {_MODES}")
        rows = {t.shape[0] for t in self.deltas.values()}
        for name, delta in self.deltas.items():
            hook_sort_key(name)  # a residual-stream hook name, or a clear error
            if delta.ndim != 2:
                raise ValueError(f"delta for {name} must be [rows, d_model], got {tuple(delta.shape)}")
            if not torch.isfinite(delta).all():
                raise ValueError(f"steering delta for {name} contains NaN or Inf")
        if len(rows - {1}) > 1:
            raise ValueError(f"deltas disagree on the number of rows: {sorted(rows)}")

    @classmethod
    def from_vectors(
        cls,
        vectors: Mapping[str, Float[Tensor, " d_model"]],
        alpha: float | int | Sequence[float] | Float[Tensor, " batch"] = 1.0,
        positions: PositionMode | Bool[Tensor, "batch pos"] = "response",
    ) -> Steering:
        """``alpha * v`` at each hook; a sequence of alphas gives one row per alpha."""
        alphas = torch.as_tensor(alpha, dtype=torch.float32).reshape(-1)
        deltas = {name: alphas[:, None].to(vec.device, vec.dtype) * vec.reshape(1, -1) for name, vec in vectors.items()}
        return cls(deltas, positions)

    @classmethod
    def per_row(
        cls,
        rows: Sequence[Mapping[str, Float[Tensor, " d_model"]]],
        positions: PositionMode | Bool[Tensor, "batch pos"] = "response",
    ) -> Steering:
        """One ``{hook: delta}`` per batch row; rows without a hook get zero there."""
        if not rows:
            raise ValueError("per_row needs at least one row")
        names = sorted({name for row in rows for name in row}, key=hook_sort_key)
        deltas = {}
        for name in names:
            template = next(row[name] for row in rows if name in row)
            deltas[name] = torch.stack([row.get(name, torch.zeros_like(template)) for row in rows])
        return cls(deltas, positions)

    @property
    def n_rows(self) -> int:
        return max((t.shape[0] for t in self.deltas.values()), default=1)

    @property
    def hooks(self) -> list[str]:
        return sorted(self.deltas, key=hook_sort_key)

    def select_rows(self, start: int, stop: int) -> Steering:
        """The rows ``start:stop`` of a per-row steering (broadcast rows stay as they are)."""
        deltas = {n: (d if d.shape[0] == 1 else d[start:stop]) for n, d in self.deltas.items()}
        positions = self.positions
        if isinstance(positions, Tensor) and positions.shape[0] != 1:
            positions = positions[start:stop]
        return Steering(deltas, positions)

    def with_positions(self, positions: PositionMode | Bool[Tensor, "batch pos"]) -> Steering:
        return Steering(self.deltas, positions)

    def scaled(self, factor: float) -> Steering:
        return Steering({n: d * factor for n, d in self.deltas.items()}, self.positions)


@dataclass
class PositionState:
    """Where the current forward chunk sits; the forward primitive and the decode loop move it.

    ``offset`` is the absolute position of the chunk's first token, ``prompt_mask`` the
    real-token mask of the prompt (``[batch, P]``) and ``response_start`` each row's first
    response column (default ``P`` for every row). Without :meth:`set_prompt`, a forward pass is
    taken to be a whole prompt starting at 0 with no padding.
    """

    offset: int = 0
    prompt_mask: Int[Tensor, "batch prompt"] | None = None
    response_start: Int[Tensor, " batch"] | None = None
    rows: Int[Tensor, " active"] | None = None  # the prompt rows still in the batch (None: all)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def prompt_len(self) -> int | None:
        return None if self.prompt_mask is None else self.prompt_mask.shape[1]

    def set_prompt(
        self, prompt_mask: Int[Tensor, "batch prompt"], response_start: Int[Tensor, " batch"] | None = None
    ) -> None:
        self.prompt_mask, self.offset = prompt_mask, 0
        if response_start is None:
            response_start = torch.full((prompt_mask.shape[0],), prompt_mask.shape[1], dtype=torch.long)
        self.response_start = response_start.to(prompt_mask.device).long()
        self.rows = None
        self._cache.clear()

    def keep_rows(self, rows: Int[Tensor, " active"]) -> None:
        """From now on the batch holds only these rows of the prompt (the decode loop drops rows
        that finished); per-row masks and steering deltas are taken from them."""
        self.rows = rows
        self._cache.clear()

    def select(self, per_row: Tensor) -> Tensor:
        """``per_row``'s rows still in the batch (a broadcast, one-row tensor as it is)."""
        if self.rows is None or per_row.shape[0] == 1:
            return per_row
        key = ("rows", id(per_row))
        if key not in self._cache:
            self._cache[key] = per_row[self.rows.to(per_row.device)]
        return self._cache[key]

    def at(self, offset: int) -> None:
        if offset != self.offset:
            self.offset = offset
            self._cache.clear()

    def mask(
        self, mode: PositionMode | Bool[Tensor, "batch pos"], batch: int, seq: int, device: torch.device
    ) -> Float[Tensor, "batch seq"]:
        key = (id(mode) if isinstance(mode, Tensor) else mode, batch, seq)
        if key not in self._cache:
            self._cache[key] = self._build(mode, batch, seq, device)
        return self._cache[key]

    def _build(
        self, mode: PositionMode | Bool[Tensor, "batch pos"], batch: int, seq: int, device: torch.device
    ) -> Float[Tensor, "batch seq"]:
        absolute = torch.arange(self.offset, self.offset + seq, device=device)
        real = torch.ones(batch, seq, dtype=torch.bool, device=device)
        if self.prompt_mask is not None:
            width = self.prompt_mask.shape[1]
            in_mask = absolute < width
            real[:, in_mask] = self.select(self.prompt_mask)[:, absolute[in_mask]].to(device).bool()
            start = self.select(self.response_start).to(device)[:, None]
        else:
            start = torch.full((batch, 1), seq + self.offset, device=device)
        if isinstance(mode, Tensor):
            chosen = torch.zeros(batch, seq, dtype=torch.bool, device=device)
            inside = absolute < mode.shape[1]
            chosen[:, inside] = self.select(mode).to(device)[:, absolute[inside]].bool().expand(batch, -1)
        elif mode == "all":
            chosen = real
        elif mode == "prompt":
            chosen = real & (absolute[None, :] < start)
        else:  # response
            chosen = (absolute[None, :] >= start - 1).expand(batch, seq)
        return chosen.float()


@contextlib.contextmanager
def steering_hooks(
    runner: Runner, steerings: Sequence[Steering], state: PositionState | None = None
) -> Iterator[PositionState]:
    """Install every steering's deltas at its hook points for the duration of the block.

    Yields the :class:`PositionState` the hooks read; the caller moves it along. Internal: use
    :func:`steer` or pass ``steering=`` to ``generate`` / ``run_with_cache``.
    """
    state = state or PositionState()
    steerings = [s for s in steerings if s is not None]
    missing = sorted({name for s in steerings for name in s.deltas if name not in runner.hook_points})
    if missing:
        raise KeyError(f"hook points {missing} do not exist on this model")

    def make_hook(delta: Tensor, positions: Any):
        def hook(resid: Tensor, hook: object) -> Tensor:
            batch, seq = resid.shape[0], resid.shape[1]
            rows = state.select(delta)
            if rows.shape[0] not in (1, batch):
                raise ValueError(f"steering has {delta.shape[0]} rows but the forward batch has {batch}")
            mask = state.mask(positions, batch, seq, resid.device).to(resid.dtype)
            return resid + mask[:, :, None] * rows.to(resid.device, resid.dtype)[:, None, :]

        return hook

    hooks = [(name, make_hook(delta, s.positions)) for s in steerings for name, delta in s.deltas.items()]
    with runner.hooks(hooks):
        yield state


def active_steerings(model: Any, explicit: Steering | None = None) -> list[Steering]:
    """The steerings a run on ``model`` applies: those of enclosing :func:`steer` blocks, then
    ``explicit``; a delta of another width than the model's is refused here, with the reason."""
    steerings = [*getattr(model, "active_steerings", []), *([explicit] if explicit is not None else [])]
    width = getattr(model, "d_model", None)
    for steering in steerings:
        for name, delta in steering.deltas.items():
            if width is not None and delta.shape[-1] != width:
                raise ValueError(
                    f"steering at {name} has width {delta.shape[-1]}, but {getattr(model, 'name', 'the model')!r} "
                    f"has d_model {width}: the vector was made for another model"
                )
    return steerings


@contextlib.contextmanager
def steer(
    model: Any,
    steering: Any,
    alpha: float | Sequence[float] | None = None,
    *,
    layer: int | Sequence[int] | None = None,
    block: int | Sequence[int] | None = None,
    positions: PositionMode | Bool[Tensor, "batch pos"] = "response",
) -> Iterator[Steering]:
    """Steer everything billy_interp runs on ``model`` inside the block.

    ``steering`` is a :class:`Steering`, or a persona vector with ``alpha`` and the steered
    ``layer`` (the paper's layer, e.g. 20) or ``block`` (TL block, e.g. 19)::

        with steer(model, merged, alpha=2.0, layer=20):
            out = generate(model, prompts)

    Blocks nest: inner steerings add to outer ones.
    """
    if not isinstance(steering, Steering):
        if alpha is None:
            raise ValueError("steering with a vector needs alpha= (and layer= or block=)")
        steering = steering.steering(alpha, layer=layer, block=block, positions=positions, model=model)
    elif alpha is not None or layer is not None or block is not None:
        raise ValueError("a Steering already holds its alpha and hooks; pass alpha/layer/block only with a vector")
    points = model.runner().hook_points
    missing = [name for name in steering.deltas if name not in points]
    if missing:
        raise KeyError(f"hook points {missing} do not exist on {model.name!r}")
    active_steerings(model, steering)  # checks the width
    model.active_steerings.append(steering)
    try:
        yield steering
    finally:
        for i in range(len(model.active_steerings) - 1, -1, -1):
            if model.active_steerings[i] is steering:
                del model.active_steerings[i]
                break


@contextlib.contextmanager
def unsteered(model: Any) -> Iterator[None]:
    """Suspend every enclosing ``steer(model, ...)`` block (for measurements of the plain model)."""
    saved = list(getattr(model, "active_steerings", []))
    model.active_steerings.clear()
    try:
        yield
    finally:
        model.active_steerings[:] = saved
