"""Cosine geometry of persona vectors across layers (tidy DataFrames; figures live elsewhere)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import torch

from billy_interp.core.layers import block_of, hook_name, layer_columns
from billy_interp.vectors.merging import MergeRecipe, merge
from billy_interp.vectors.vector import PersonaVector

__all__ = ["cosine_matrices", "layer_norms", "merge_part_cosines", "pca_map"]


def _common_hooks(vectors: Mapping[str, PersonaVector]) -> list[str]:
    if not vectors:
        raise ValueError("no vectors given")
    hooks = list(next(iter(vectors.values())).hooks)
    for name, vec in vectors.items():
        if vec.hooks != hooks:
            raise ValueError(f"vector {name!r} covers other layers than the others")
    return hooks


def cosine_matrices(vectors: Mapping[str, PersonaVector]) -> pd.DataFrame:
    """Persona x persona cosine at every layer: columns block, persona_a, persona_b, cosine."""
    hooks = _common_hooks(vectors)
    names = list(vectors)
    rows = []
    for hook in hooks:
        stack = torch.stack([vectors[n][hook] for n in names]).double()
        unit = stack / stack.norm(dim=1, keepdim=True).clamp_min(1e-30)
        cos = unit @ unit.T
        columns = layer_columns(block_of(hook))
        rows += [
            {**columns, "persona_a": a, "persona_b": b, "cosine": float(cos[i, j])}
            for i, a in enumerate(names)
            for j, b in enumerate(names)
        ]
    return pd.DataFrame(rows)


def layer_norms(vectors: Mapping[str, PersonaVector]) -> pd.DataFrame:
    """Per-layer L2 norm of each vector: columns persona, block, norm."""
    return pd.DataFrame(
        [
            {"persona": name, "block": block_of(h), "norm": n}
            for name, vec in vectors.items()
            for h, n in vec.norms().items()
        ]
    )


def merge_part_cosines(vectors: Mapping[str, PersonaVector], recipe: MergeRecipe) -> pd.DataFrame:
    """Cosine of the merged vector with each of its parts, per layer: columns block, part, cosine."""
    merged = merge(vectors, recipe)
    return pd.DataFrame(
        [
            {"block": block_of(h), "part": part, "method": recipe.method, "cosine": c}
            for part in recipe.weights
            for h, c in merged.cosine(vectors[part]).items()
        ]
    )


def pca_map(vectors: Mapping[str, PersonaVector], block: int, normalise: bool = True) -> pd.DataFrame:
    """2-D PCA of all vectors at one block: columns persona, pc1, pc2, explained_1, explained_2."""
    hook = hook_name(block)
    names = list(vectors)
    if len(names) < 2:
        raise ValueError("a PCA map needs at least two vectors")
    stack = torch.stack([vectors[n][hook] for n in names]).double()
    if normalise:
        stack = stack / stack.norm(dim=1, keepdim=True).clamp_min(1e-30)
    centred = stack - stack.mean(0, keepdim=True)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    coords = u[:, :2] * s[:2]
    explained = (s**2 / (s**2).sum()).tolist() + [0.0, 0.0]
    return pd.DataFrame(
        {
            "persona": names,
            "pc1": coords[:, 0].tolist(),
            "pc2": coords[:, 1].tolist() if coords.shape[1] > 1 else [0.0] * len(names),
            "explained_1": explained[0],
            "explained_2": explained[1],
        }
    )
