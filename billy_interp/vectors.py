"""Persona vectors: a per-layer direction object with arithmetic, extraction maths and merging.

A :class:`PersonaVector` maps full TL hook names (``blocks.{l}.hook_resid_post``) to
``[d_model]`` float32 tensors and carries one metadata dict (model, method, pooling, persona or
merge recipe, seed, data hash, ...). Arithmetic reads like maths::

    merged = (cre + env + 2 * fut) / 4          # the paper's default merge, by hand
    merged = merge(vectors, MergeRecipe.paper_default())   # the same, recorded as a recipe
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from jaxtyping import Float
from torch import Tensor

from billy_interp.layers import parse_hook_name
from billy_interp.steering import PositionMode, Steering

__all__ = [
    "PersonaVector",
    "MergeMethod",
    "MergeRecipe",
    "merge",
    "mean_difference",
    "pca_direction",
]

MergeMethod = Literal["mean", "weighted", "sum", "unit_mean", "gram_schmidt"]
_MERGE_METHODS = ("mean", "weighted", "sum", "unit_mean", "gram_schmidt")


def _sorted_hooks(names) -> list[str]:
    return sorted(names, key=lambda n: (parse_hook_name(n)[0], parse_hook_name(n)[1]))


@dataclass(frozen=True)
class PersonaVector:
    """Per-hook directions plus metadata. Immutable; operations return new vectors."""

    directions: Mapping[str, Tensor]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.directions:
            raise ValueError("a PersonaVector needs at least one layer")
        widths = {t.shape for t in self.directions.values()}
        if len(widths) != 1 or len(next(iter(widths))) != 1:
            raise ValueError(f"all directions must be [d_model] with one d_model, got {widths}")
        for name in self.directions:
            parse_hook_name(name)
        ordered = {n: self.directions[n].detach().to(torch.float32).cpu() for n in _sorted_hooks(self.directions)}
        object.__setattr__(self, "directions", ordered)
        object.__setattr__(self, "metadata", dict(self.metadata))

    # --- access -------------------------------------------------------------------------------

    @property
    def hooks(self) -> list[str]:
        return list(self.directions)

    @property
    def blocks(self) -> list[int]:
        return [parse_hook_name(n)[0] for n in self.directions]

    @property
    def d_model(self) -> int:
        return next(iter(self.directions.values())).shape[0]

    def __getitem__(self, hook: str) -> Float[Tensor, " d_model"]:
        if hook not in self.directions:
            raise KeyError(f"{hook} not in this vector; it has {self.hooks[0]} .. {self.hooks[-1]}")
        return self.directions[hook]

    def at(self, block: int, site: str = "resid_post") -> Float[Tensor, " d_model"]:
        return self[f"blocks.{block}.hook_{site}"]

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
        }
        return PersonaVector({h: op(self[h], other[h]) for h in self.directions}, meta)

    def __add__(self, other: PersonaVector) -> PersonaVector:
        return self._combine(other, torch.add, "+")

    def __sub__(self, other: PersonaVector) -> PersonaVector:
        return self._combine(other, torch.sub, "-")

    def __mul__(self, scalar: float | int) -> PersonaVector:
        if not isinstance(scalar, (int, float)):
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
        return {
            h: float(torch.nn.functional.cosine_similarity(self[h], other[h], dim=0)) for h in shared
        }

    # --- steering -----------------------------------------------------------------------------

    def to_steering(
        self,
        alpha: float | int | Sequence[float] = 1.0,
        hooks: Sequence[str] | None = None,
        positions: PositionMode = "response",
    ) -> Steering:
        """Steer with ``alpha * v`` at ``hooks`` (the paper steers one layer: pass one hook)."""
        hooks = self.hooks if hooks is None else list(hooks)
        return Steering.from_vectors({h: self[h] for h in hooks}, alpha, positions)

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


# --- merging ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeRecipe:
    """How to merge personas: ``{persona: weight}`` plus a method. Stored in metadata.

    * ``mean`` (BILLY eq. 2): weights are repeat counts; v = sum_i w_i v_i / sum_i w_i.
    * ``weighted``: real weights (may be negative); v = sum_i w_i v_i / sum_i |w_i|.
    * ``sum``: v = sum_i w_i v_i.
    * ``unit_mean``: mean of unit vectors per layer, sum_i w_i v_i/|v_i| / sum_i w_i.
    * ``gram_schmidt``: orthogonalise in recipe order per layer (each direction loses its
      components along the earlier ones, keeping its own norm), then the weighted mean.
    """

    weights: Mapping[str, float | int]
    method: MergeMethod = "mean"

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("a merge recipe needs at least one persona")
        if self.method not in _MERGE_METHODS:
            raise ValueError(f"unknown merge method {self.method!r}; use one of {_MERGE_METHODS}")
        for name, weight in self.weights.items():
            if not isinstance(weight, (int, float)) or not math.isfinite(weight):
                raise ValueError(f"weight for {name!r} must be a finite number, got {weight!r}")
            if self.method in ("mean", "unit_mean", "gram_schmidt") and weight <= 0:
                raise ValueError(f"method {self.method!r} needs positive weights; {name!r} has {weight}")
        object.__setattr__(self, "weights", {k: float(v) for k, v in self.weights.items()})

    @classmethod
    def from_list(cls, personas: Sequence[str], method: MergeMethod = "mean") -> MergeRecipe:
        """``["cre", "env", "fut", "fut"]`` -> weights ``{cre: 1, env: 1, fut: 2}`` (repeats count)."""
        weights: dict[str, float] = {}
        for name in personas:
            weights[name] = weights.get(name, 0.0) + 1.0
        return cls(weights, method)

    @classmethod
    def paper_default(cls) -> MergeRecipe:
        """CRE, ENV, FUT, FUT (the futurist counted twice), plain mean, as in the paper."""
        return cls.from_list(["creative_professional", "environmentalist", "futurist", "futurist"])

    def to_dict(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "method": self.method}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MergeRecipe:
        return cls(dict(data["weights"]), data.get("method", "mean"))


def merge(vectors: Mapping[str, PersonaVector], recipe: MergeRecipe) -> PersonaVector:
    """Merge persona vectors by a recipe; the result records the recipe and its parts."""
    missing = [name for name in recipe.weights if name not in vectors]
    if missing:
        raise KeyError(f"recipe needs vectors for {missing}; have {sorted(vectors)}")
    parts = [vectors[name] for name in recipe.weights]
    weights = torch.tensor(list(recipe.weights.values()), dtype=torch.float64)
    hooks = parts[0].hooks
    for name, part in zip(recipe.weights, parts):
        if part.hooks != hooks or part.d_model != parts[0].d_model:
            raise ValueError(f"vector {name!r} covers other layers or another width than {parts[0]!r}")
    models = {p.metadata.get("model") for p in parts}
    if len(models) > 1:
        raise ValueError(f"cannot merge vectors from different models: {sorted(map(str, models))}")
    merged = {}
    for hook in hooks:
        stack = torch.stack([p[hook].double() for p in parts])  # [n, d]
        if recipe.method == "unit_mean":
            stack = stack / stack.norm(dim=1, keepdim=True).clamp_min(1e-12)
        elif recipe.method == "gram_schmidt":
            stack = _gram_schmidt(stack)
        combined = (weights[:, None] * stack).sum(0)
        if recipe.method in ("mean", "unit_mean", "gram_schmidt"):
            combined = combined / weights.sum()
        elif recipe.method == "weighted":
            combined = combined / weights.abs().sum()
        merged[hook] = combined.float()
    meta = {
        "method": f"merge:{recipe.method}",
        "recipe": recipe.to_dict(),
        "model": models.pop(),
        "parts": {name: dict(vectors[name].metadata) for name in recipe.weights},
    }
    for key in ("pooling", "site", "d_model", "n_layers"):
        values = {str(p.metadata.get(key)) for p in parts}
        if len(values) == 1 and key in parts[0].metadata:
            meta[key] = parts[0].metadata[key]
    return PersonaVector(merged, meta)


def _gram_schmidt(stack: Float[Tensor, "n d"]) -> Float[Tensor, "n d"]:
    basis: list[Tensor] = []
    out = []
    for vec in stack:
        residual = vec.clone()
        for unit in basis:
            residual = residual - (residual @ unit) * unit
        norm = residual.norm()
        if norm > 1e-9 * vec.norm().clamp_min(1e-30):
            basis.append(residual / norm)
            out.append(residual / norm * vec.norm())
        else:  # linearly dependent on earlier directions: contributes nothing new
            out.append(torch.zeros_like(vec))
    return torch.stack(out)
