"""Add ``alpha * v`` to the residual stream at TL hook points.

A :class:`Steering` is data: for each hook name, a per-row additive delta ``[batch, d_model]``
(``alpha`` already applied; ``batch`` may be 1 to broadcast) and a position mode. Per-row
deltas give per-row ``alpha``, per-row layers (a row is zero at layers it does not use) and
per-row vectors in one batch, which is what grid sweeps need.

Position modes are defined on *absolute* positions relative to the (left-padded) prompt of
length ``P``, so KV-cached and uncached generation steer exactly the same tokens:

* ``"response"`` (the paper's): positions ``>= P - 1``, i.e. the last prompt token at prefill
  and every generated token. With a KV cache that is "the last position of each forward pass".
* ``"prompt"``: real (non-pad) prompt positions ``< P``; generated tokens are not steered.
* ``"all"``: every real position.
* a bool tensor ``[batch, pos]``: an explicit mask over absolute positions (e.g. teacher-forced
  response tokens); positions past its width are not steered.

:func:`steer` is the only way to intervene; its hooks are removed when the block exits, also
when the block raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from billy_interp.runners import Runner

__all__ = ["PositionMode", "Steering", "PositionState", "steer"]

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
        deltas = {
            name: alphas[:, None].to(vec.device, vec.dtype) * vec.reshape(1, -1)
            for name, vec in vectors.items()
        }
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
        names = sorted({name for row in rows for name in row})
        deltas = {}
        for name in names:
            template = next(row[name] for row in rows if name in row)
            deltas[name] = torch.stack(
                [row.get(name, torch.zeros_like(template)) for row in rows]
            )
        return cls(deltas, positions)

    @property
    def n_rows(self) -> int:
        return max((t.shape[0] for t in self.deltas.values()), default=1)

    def select_rows(self, start: int, stop: int) -> Steering:
        """The rows ``start:stop`` of a per-row steering (broadcast rows stay as they are)."""
        deltas = {n: (d if d.shape[0] == 1 else d[start:stop]) for n, d in self.deltas.items()}
        positions = self.positions
        if isinstance(positions, Tensor) and positions.shape[0] != 1:
            positions = positions[start:stop]
        return Steering(deltas, positions)

    def scaled(self, factor: float) -> Steering:
        return Steering({n: d * factor for n, d in self.deltas.items()}, self.positions)


@dataclass
class PositionState:
    """Where the current forward chunk sits: updated by the generation loop before each pass.

    ``offset`` is the absolute position of the chunk's first token, ``prompt_len`` the padded
    prompt length ``P`` and ``prompt_mask`` the real-token mask of the prompt. Without updates,
    a forward pass is taken to be a whole prompt starting at 0 with no padding.
    """

    offset: int = 0
    prompt_len: int | None = None
    prompt_mask: Int[Tensor, "batch prompt"] | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def set_prompt(self, prompt_mask: Int[Tensor, "batch prompt"]) -> None:
        self.prompt_mask, self.prompt_len, self.offset = prompt_mask, prompt_mask.shape[1], 0
        self._cache.clear()

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
        prompt_len = seq if self.prompt_len is None else self.prompt_len
        if self.prompt_mask is not None:
            real = torch.ones(batch, seq, dtype=torch.bool, device=device)
            in_prompt = absolute < prompt_len
            real[:, in_prompt] = self.prompt_mask[:, absolute[in_prompt]].to(device).bool()
        else:
            real = torch.ones(batch, seq, dtype=torch.bool, device=device)
        if isinstance(mode, Tensor):
            width = mode.shape[1]
            chosen = torch.zeros(batch, seq, dtype=torch.bool, device=device)
            inside = absolute < width
            chosen[:, inside] = mode.to(device)[:, absolute[inside]].bool().expand(batch, -1)
        elif mode == "all":
            chosen = real
        elif mode == "prompt":
            chosen = real & (absolute < prompt_len)[None, :]
        else:  # response
            chosen = (absolute >= prompt_len - 1)[None, :].expand(batch, seq)
        return chosen.float()


@contextlib.contextmanager
def steer(
    runner: Runner, steering: Steering | None, state: PositionState | None = None
) -> Iterator[PositionState]:
    """Add the steering deltas at their hook points for the duration of the block.

    Yields the :class:`PositionState` the hooks read; generation code moves it along.
    ``steering=None`` installs nothing (the unsteered baseline runs through the same code).
    """
    state = state or PositionState()
    if steering is None:
        yield state
        return
    missing = [name for name in steering.deltas if name not in runner.hook_points]
    if missing:
        raise KeyError(f"hook points {missing} do not exist on this model")

    def make_hook(delta: Tensor):
        def hook(resid: Tensor, hook: object) -> Tensor:
            batch, seq = resid.shape[0], resid.shape[1]
            if delta.shape[0] not in (1, batch):
                raise ValueError(
                    f"steering has {delta.shape[0]} rows but the forward batch has {batch}"
                )
            mask = state.mask(steering.positions, batch, seq, resid.device).to(resid.dtype)
            return resid + mask[:, :, None] * delta.to(resid.device, resid.dtype)[:, None, :]

        return hook

    with runner.hooks([(name, make_hook(delta)) for name, delta in steering.deltas.items()]):
        yield state
