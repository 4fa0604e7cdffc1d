"""Persona vectors: a per-layer direction object with arithmetic, steering and extraction maths.

A :class:`PersonaVector` maps full TL hook names (``blocks.{b}.hook_resid_post``) to
``[d_model]`` float32 tensors, in depth order, and carries one metadata dict (model, method,
pooling, persona or merge recipe, seed, data hash, ...). Arithmetic reads like maths::

    merged = (cre + env + 2 * fut) / 4                 # the paper's default merge, by hand
    with merged.apply(model, alpha=2.0, layer=20):     # steer paper layer 20 = blocks.19
        out = generate(model, prompts)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from billy_interp.core.layers import LayerConvention, block_of, hook_name, hook_sort_key
from billy_interp.core.steering import PositionMode, Steering, steer

__all__ = ["PersonaVector", "mean_difference", "pca_direction"]


@dataclass(frozen=True)
class PersonaVector:
    """Per-hook directions plus metadata. Immutable; operations return new vectors."""

    directions: Mapping[str, Tensor]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.directions:
            raise ValueError("a PersonaVector needs at least one layer")
        widths = {tuple(t.shape) for t in self.directions.values()}
        if len(widths) != 1 or len(next(iter(widths))) != 1:
            raise ValueError(f"all directions must be [d_model] with one d_model, got {sorted(widths)}")
        ordered = {
            n: self.directions[n].detach().to(torch.float32).cpu() for n in sorted(self.directions, key=hook_sort_key)
        }
        object.__setattr__(self, "directions", ordered)
        object.__setattr__(self, "metadata", dict(self.metadata))

    # --- access -------------------------------------------------------------------------------

    @property
    def hooks(self) -> list[str]:
        """Hook names in depth order (``blocks.0.hook_resid_pre`` first, if present)."""
        return list(self.directions)

    @property
    def blocks(self) -> list[int]:
        return [block_of(n) for n in self.directions]

    @property
    def d_model(self) -> int:
        return next(iter(self.directions.values())).shape[0]

    @property
    def layers(self) -> LayerConvention:
        """The layer convention of the model the vector was made for (from its metadata, else
        from the deepest block it covers)."""
        return LayerConvention(int(self.metadata.get("n_layers") or max(self.blocks) + 1))

    def __getitem__(self, hook: str) -> Float[Tensor, " d_model"]:
        if hook not in self.directions:
            raise KeyError(f"{hook} not in this vector; it has {self.hooks[0]} .. {self.hooks[-1]}")
        return self.directions[hook]

    def at(self, layer: int | None = None, *, block: int | None = None) -> Float[Tensor, " d_model"]:
        """The direction at paper ``layer`` (hidden-state index) or at TL ``block``."""
        (chosen,) = self.layers.resolve(layer=layer, block=block)
        return self[hook_name(chosen)]

    def stacked(self) -> Float[Tensor, "layer d_model"]:
        return torch.stack(list(self.directions.values()))

    def subset(self, hooks: Sequence[str]) -> PersonaVector:
        return PersonaVector({h: self[h] for h in hooks}, self.metadata)

    def with_metadata(self, **updates: Any) -> PersonaVector:
        return PersonaVector(self.directions, {**self.metadata, **updates})

    # --- arithmetic ---------------------------------------------------------------------------

    def _combine(self, other: PersonaVector, op, symbol: str) -> PersonaVector:
        if not isinstance(other, PersonaVector):
            return NotImplemented
        if set(self.directions) != set(other.directions):
            raise ValueError("vectors cover different layers; use .subset() to align them first")
        if self.d_model != other.d_model:
            raise ValueError(f"d_model mismatch: {self.d_model} vs {other.d_model}")
        meta = {
            "method": "arithmetic",
            "expression": f"({_label(self)}) {symbol} ({_label(other)})",
            "model": self.metadata.get("model"),
            "n_layers": self.metadata.get("n_layers"),
        }
        return PersonaVector({h: op(self[h], other[h]) for h in self.directions}, meta)

    def __add__(self, other: PersonaVector) -> PersonaVector:
        return self._combine(other, torch.add, "+")

    def __sub__(self, other: PersonaVector) -> PersonaVector:
        return self._combine(other, torch.sub, "-")

    def __mul__(self, scalar: float | int) -> PersonaVector:
        if not isinstance(scalar, (int, float)) or isinstance(scalar, bool):
            return NotImplemented
        meta = {**self.metadata, "method": "arithmetic", "expression": f"{scalar} * ({_label(self)})"}
        return PersonaVector({h: t * scalar for h, t in self.directions.items()}, meta)

    __rmul__ = __mul__

    def __truediv__(self, scalar: float | int) -> PersonaVector:
        return self * (1.0 / scalar)

    def __neg__(self) -> PersonaVector:
        return self * -1.0

    # --- geometry -----------------------------------------------------------------------------

    def norms(self) -> dict[str, float]:
        return {h: float(t.norm()) for h, t in self.directions.items()}

    def unit(self) -> PersonaVector:
        meta = {**self.metadata, "normalised": "unit"}
        return PersonaVector({h: t / t.norm().clamp_min(1e-12) for h, t in self.directions.items()}, meta)

    def cosine(self, other: PersonaVector) -> dict[str, float]:
        shared = [h for h in self.directions if h in other.directions]
        return {h: float(torch.nn.functional.cosine_similarity(self[h], other[h], dim=0)) for h in shared}

    # --- steering -----------------------------------------------------------------------------

    def steering(
        self,
        alpha: float | int | Sequence[float] = 1.0,
        *,
        layer: int | Sequence[int] | None = None,
        block: int | Sequence[int] | None = None,
        positions: PositionMode = "response",
        model: Any | None = None,
    ) -> Steering:
        """``alpha * v`` at paper ``layer`` (e.g. 20, the paper's) or TL ``block`` (e.g. 19); a
        sequence of alphas gives one row per alpha. With ``model``, the layer is range-checked
        against it (and the vector's width too)."""
        layers = model.layers if model is not None else self.layers
        if model is not None and model.d_model != self.d_model:
            raise ValueError(f"vector d_model {self.d_model} does not match model {model.name!r} ({model.d_model})")
        hooks = [hook_name(b) for b in layers.resolve(layer=layer, block=block)]
        return Steering.from_vectors({h: self[h] for h in hooks}, alpha, positions)

    @contextlib.contextmanager
    def apply(
        self,
        model: Any,
        alpha: float | int = 1.0,
        *,
        layer: int | Sequence[int] | None = None,
        block: int | Sequence[int] | None = None,
        positions: PositionMode = "response",
    ) -> Iterator[Steering]:
        """Steer ``model`` with ``alpha * v`` at paper ``layer`` or TL ``block`` inside the block."""
        with steer(model, self.steering(alpha, layer=layer, block=block, positions=positions, model=model)) as s:
            yield s

    def __repr__(self) -> str:
        return (
            f"PersonaVector({_label(self)}, layers={len(self.directions)}, d_model={self.d_model}, "
            f"model={self.metadata.get('model')!r})"
        )


def _label(vector: PersonaVector) -> str:
    meta = vector.metadata
    if "persona" in meta:
        return str(meta["persona"])
    if "recipe" in meta:
        return "merge:" + ",".join(f"{k}x{v:g}" for k, v in meta["recipe"]["weights"].items())
    return str(meta.get("expression", "vector"))


# --- extraction maths ---------------------------------------------------------------------------


def mean_difference(
    positive: Float[Tensor, "layer n_pos d_model"], negative: Float[Tensor, "layer n_neg d_model"]
) -> Float[Tensor, "layer d_model"]:
    """v(l) = mean over D+ minus mean over D- (the paper's extractor)."""
    if positive.shape[1] == 0 or negative.shape[1] == 0:
        raise ValueError("mean difference needs at least one D+ and one D- sample")
    return positive.mean(1) - negative.mean(1)


def pca_direction(
    positive: Float[Tensor, "layer n d_model"], negative: Float[Tensor, "layer n d_model"]
) -> Float[Tensor, "layer d_model"]:
    """First principal direction of the *paired* differences D+_i - D-_i, per layer.

    Uncentred, so a consistent shift dominates the first component. The sign is chosen so
    that the mean difference projects positively, and the direction is scaled to the length
    of the mean difference's projection so raw alphas stay comparable with mean-diff vectors.
    """
    if positive.shape != negative.shape:
        raise ValueError(f"PCA needs paired samples: {tuple(positive.shape)} vs {tuple(negative.shape)}")
    diffs = (positive - negative).double()
    _, _, vh = torch.linalg.svd(diffs, full_matrices=False)
    first = vh[:, 0, :]
    mean = diffs.mean(1)
    proj = (mean * first).sum(-1, keepdim=True)
    return (first * proj).float()  # sign and length from the mean projection
