"""Merge recipes: ``{persona: weight}`` plus a method, and the merge itself.

    recipe = MergeRecipe.paper_default()                       # CRE, ENV, FUT, FUT; mean
    recipe = parse_recipe("creative_professional:2,environmentalist", "weighted")
    merged = merge(vectors, recipe)                            # records the recipe and its parts

Recipe entries are persona names or vector files (``.safetensors``, the paper's ``.pt``, llama.cpp
``.gguf``): :func:`load_recipe_vectors` reads either.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from billy_interp.paper import MERGE_METHODS, PAPER_RECIPE, MergeMethod
from billy_interp.vectors.vector import PersonaVector

__all__ = ["MergeMethod", "MergeRecipe", "merge", "parse_recipe", "load_recipe_vectors"]

_LINEAR = ("mean", "weighted", "sum")


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
        if self.method not in MERGE_METHODS:
            raise ValueError(f"unknown merge method {self.method!r}; use one of {MERGE_METHODS}")
        for name, weight in self.weights.items():
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight):
                raise ValueError(f"weight for {name!r} must be a finite number, got {weight!r}")
            if self.method in ("mean", "unit_mean", "gram_schmidt") and weight <= 0:
                raise ValueError(f"method {self.method!r} needs positive weights; {name!r} has {weight}")
        if all(w == 0 for w in self.weights.values()):
            raise ValueError(
                f"every weight of the recipe is 0: the merge would be an all-zero vector ({self.describe()})"
            )
        if self.method == "weighted" and sum(abs(w) for w in self.weights.values()) == 0:
            raise ValueError("weighted merge needs a nonzero weight")
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
        return cls.from_list(PAPER_RECIPE)

    def coefficients(self) -> dict[str, float]:
        """c_i with merge(v) = sum_i c_i v_i, for the linear methods (mean, weighted, sum)."""
        if self.method not in _LINEAR:
            raise ValueError(f"merge method {self.method!r} is not a fixed linear combination of the parts")
        if self.method == "sum":
            return dict(self.weights)
        total = sum(self.weights.values()) if self.method == "mean" else sum(abs(w) for w in self.weights.values())
        return {k: w / total for k, w in self.weights.items()}

    def describe(self) -> str:
        return ",".join(f"{k}:{v:g}" for k, v in self.weights.items()) + f" ({self.method})"

    def to_dict(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "method": self.method}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MergeRecipe:
        return cls(dict(data["weights"]), data.get("method", "mean"))


def parse_recipe(text: str, method: MergeMethod = "mean", option: str = "--recipe") -> MergeRecipe:
    """``"a,b,b"`` -> {a: 1, b: 2}; ``"a:0.5,b:2"`` -> explicit weights. Errors name ``option``."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise ValueError(f"{option}: empty recipe; give personas such as {','.join(PAPER_RECIPE)}")
    weights: dict[str, float] = {}
    for item in items:
        name, colon, weight = item.rpartition(":") if _has_weight(item) else (item, "", "")
        name = name.strip()
        if not name:
            raise ValueError(f"{option}: {item!r} has no persona name")
        try:
            value = float(weight) if colon else 1.0
        except ValueError:
            raise ValueError(f"{option}: weight {weight!r} of {name!r} is not a number") from None
        weights[name] = weights.get(name, 0.0) + value
    try:
        return MergeRecipe(weights, method)
    except ValueError as error:
        raise ValueError(f"{option}: {error}") from None


def _has_weight(item: str) -> bool:
    """``name:2`` has a weight; a Windows-style path ``C:\\x.pt`` or a bare name does not."""
    head, colon, tail = item.rpartition(":")
    return bool(colon) and "/" not in tail and "\\" not in tail


def merge(vectors: Mapping[str, PersonaVector], recipe: MergeRecipe) -> PersonaVector:
    """Merge persona vectors by a recipe; the result records the recipe and its parts."""
    missing = [name for name in recipe.weights if name not in vectors]
    if missing:
        raise KeyError(f"recipe needs vectors for {missing}; have {sorted(vectors)}")
    parts = [vectors[name] for name in recipe.weights]
    # One linear combination for every method: the linear ones use their coefficients; unit_mean
    # and gram_schmidt take the weighted mean of their transformed parts.
    linear = recipe.coefficients() if recipe.method in _LINEAR else None
    total = sum(recipe.weights.values())
    coefficients = torch.tensor(
        [linear[n] if linear is not None else w / total for n, w in recipe.weights.items()], dtype=torch.float64
    )
    hooks = parts[0].hooks
    for name, part in zip(recipe.weights, parts):
        if part.hooks != hooks or part.d_model != parts[0].d_model:
            raise ValueError(f"vector {name!r} covers other layers or another width than {parts[0]!r}")
    # Vectors imported from .pt / GGUF files name no model; they merge with any (widths are checked).
    models = {p.metadata.get("model") for p in parts} - {None} or {None}
    if len(models) > 1:
        raise ValueError(f"cannot merge vectors from different models: {sorted(map(str, models))}")
    merged = {}
    for hook in hooks:
        stack = torch.stack([p[hook].double() for p in parts])  # [n, d]
        if recipe.method == "unit_mean":
            stack = stack / stack.norm(dim=1, keepdim=True).clamp_min(1e-12)
        elif recipe.method == "gram_schmidt":
            stack = _gram_schmidt(stack)
        merged[hook] = (coefficients[:, None] * stack).sum(0).float()
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


_FILE_SUFFIXES = (".safetensors", ".pt", ".gguf")


def _is_file_entry(name: str) -> bool:
    return name.lower().endswith(_FILE_SUFFIXES)


def load_recipe_vectors(
    recipe: MergeRecipe, vectors_dir: str | Path | None = None, model: Any | None = None, n_layers: int = 0
) -> tuple[MergeRecipe, dict[str, PersonaVector]]:
    """The vectors a recipe names: persona names from ``vectors_dir`` (default: shipped), files by
    path (``.pt`` files need ``model`` or ``n_layers``, or take the depth of the other inputs).
    Returns the recipe keyed by persona labels and the vectors."""
    from billy_interp.vectors.formats import VectorFileError, load_any_vector
    from billy_interp.vectors.library import load_vectors

    names = [n for n in recipe.weights if not _is_file_entry(n)]
    vectors = dict(load_vectors(names, model, source=vectors_dir or None)) if names else {}
    depth = n_layers or next((int(v.metadata["n_layers"]) for v in vectors.values() if v.metadata.get("n_layers")), 0)
    weights: dict[str, float] = {}
    for entry, weight in recipe.weights.items():
        if _is_file_entry(entry):
            path = Path(entry)
            if not path.is_file():
                raise VectorFileError(f"--recipe: vector file {path} does not exist")
            vector = load_any_vector(path, model, n_layers=depth or None)
            label = str(vector.metadata.get("persona") or path.stem)
            vectors[label] = vector
            depth = depth or int(vector.metadata.get("n_layers") or 0)
            weights[label] = weights.get(label, 0.0) + weight
        else:
            weights[entry] = weights.get(entry, 0.0) + weight
    aligned = _align(vectors)
    return MergeRecipe(weights, recipe.method), aligned


def _align(vectors: dict[str, PersonaVector]) -> dict[str, PersonaVector]:
    """Vectors from mixed formats cover the layers they share (a .pt has block 0's resid_pre, a
    GGUF lacks block 0); refuse if they share none."""
    shared = set.intersection(*(set(v.hooks) for v in vectors.values()))
    if not shared:
        raise ValueError("the recipe's vectors share no layer")
    return {
        k: (v if set(v.hooks) == shared else v.subset([h for h in v.hooks if h in shared])) for k, v in vectors.items()
    }
