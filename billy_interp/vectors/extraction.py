"""From a D+/D- table to per-layer persona vectors, and their held-out separation (AUC).

Teacher forcing: each row's prompt (chat template, with or without its system prompt) is
concatenated with the *exact generated token ids*, run in one pass through every layer, and
pooled inside the hooks (response mean, prompt mean, last prompt token). Memory is
``[rows, layers, d_model]`` per pooling, independent of sequence length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from billy_interp import __version__
from billy_interp.core.activations import POOLINGS, Pooling, pooled_residuals
from billy_interp.core.layers import layer_columns
from billy_interp.core.model import Backend, SteerableModel, TokenBatch
from billy_interp.vectors.vector import PersonaVector, mean_difference, pca_direction

__all__ = ["Extractor", "pool_table", "vectors_from_pooled", "separation_auc", "auc"]

Extractor = Literal["mean_diff", "pca"]


@torch.inference_mode()
def pool_table(
    model: SteerableModel,
    table: pd.DataFrame,
    *,
    system_in_context: bool = True,
    batch_size: int = 16,
    poolings: Sequence[Pooling] = POOLINGS,
    progress: bool = False,
    backend: Backend = "residual",
) -> dict[Pooling, Float[Tensor, "row layer d_model"]]:
    """Pooled residuals of every row of the table (rows in table order), at every block."""
    if len(table) == 0:
        raise ValueError("empty D+/D- table: nothing to extract from")
    pad = model.tokenizer.pad_token_id
    sequences, starts = [], []
    for _, row in table.iterrows():
        system = row["system"] if system_in_context else None
        prompt = model.tokenizer(model.format_chat(row["question"], system), add_special_tokens=False)["input_ids"]
        response = list(row["response_ids"])
        if not response:
            raise ValueError(f"row {row.get('row_id')} has an empty response; filter it out first")
        sequences.append(prompt + response)
        starts.append(len(prompt))
    out = {p: torch.zeros(len(table), model.layers.n_layers, model.d_model) for p in poolings}
    for begin in tqdm(range(0, len(sequences), batch_size), desc="activations", disable=not progress):
        chunk = sequences[begin : begin + batch_size]
        width = max(len(s) for s in chunk)
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in chunk])
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in chunk])
        start = torch.tensor([width - len(s) + st for s, st in zip(chunk, starts[begin : begin + batch_size])])
        pooled = pooled_residuals(model, TokenBatch(ids, mask), start, poolings=poolings, backend=backend)
        for pooling, tensor in pooled.items():
            out[pooling][begin : begin + len(chunk)] = tensor.permute(1, 0, 2).cpu()
    return out


def vectors_from_pooled(
    pooled: Float[Tensor, "row layer d_model"],
    signs: Sequence[int],
    model: SteerableModel,
    *,
    extractor: Extractor = "mean_diff",
    pair_keys: Sequence[object] | None = None,
    metadata: dict | None = None,
) -> PersonaVector:
    """v(l) = mean D+ - mean D- (or the PCA direction of paired differences) at every block."""
    signs_t = torch.tensor(list(signs))
    pos, neg = pooled[signs_t == 1].transpose(0, 1), pooled[signs_t == -1].transpose(0, 1)
    if extractor == "mean_diff":
        directions = mean_difference(pos, neg)
    elif extractor == "pca":
        if pair_keys is None:
            raise ValueError("PCA needs pair_keys to match each D+ row with its D- twin")
        keys = list(pair_keys)
        pos_idx = {k: i for i, (k, s) in enumerate(zip(keys, signs)) if s == 1}
        neg_idx = {k: i for i, (k, s) in enumerate(zip(keys, signs)) if s == -1}
        shared = [k for k in pos_idx if k in neg_idx]
        if len(shared) < 2:
            raise ValueError(f"PCA needs at least 2 complete D+/D- pairs, found {len(shared)}")
        p = pooled[[pos_idx[k] for k in shared]].transpose(0, 1)
        n = pooled[[neg_idx[k] for k in shared]].transpose(0, 1)
        directions = pca_direction(p, n)
    else:
        raise ValueError(f"unknown extractor {extractor!r}; use 'mean_diff' or 'pca'")
    meta = {
        "model": model.name,
        "d_model": model.d_model,
        "n_layers": model.layers.n_layers,
        "site": "resid_post",
        "extractor": extractor,
        "package_version": __version__,
        "n_positive": int((signs_t == 1).sum()),
        "n_negative": int((signs_t == -1).sum()),
        **(metadata or {}),
    }
    hooks = model.layers.hook_names()
    return PersonaVector({h: directions[i] for i, h in enumerate(hooks)}, meta)


def auc(positive: Tensor, negative: Tensor) -> float:
    """P(score of a random D+ > score of a random D-), ties counted half (Mann-Whitney)."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    diff = positive[:, None] - negative[None, :]
    return float(((diff > 0).float() + 0.5 * (diff == 0).float()).mean())


def separation_auc(
    vector: PersonaVector, pooled: Float[Tensor, "row layer d_model"], signs: Sequence[int]
) -> pd.DataFrame:
    """Per-layer AUC of projections onto the vector, D+ against D- (tidy: layer, hook, auc)."""
    signs_t = torch.tensor(list(signs))
    rows = []
    for i, hook in enumerate(vector.hooks):
        direction = vector[hook] / vector[hook].norm().clamp_min(1e-12)
        scores = pooled[:, i] @ direction
        rows.append(
            {**layer_columns(vector.blocks[i]), "hook": hook, "auc": auc(scores[signs_t == 1], scores[signs_t == -1])}
        )
    return pd.DataFrame(rows)
