"""Are persona vectors stable? Seed-to-seed cosines, split-half reliability, bootstrap CIs.

Inputs are vectors re-extracted with different seeds (``python -m billy_interp.extract --seeds
0,1,2``) and the per-row pooled activations of one extraction (``extraction.pool_table``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from billy_interp.core.layers import block_of, block_to_paper_layer, layer_columns
from billy_interp.vectors.vector import PersonaVector

__all__ = [
    "seed_cosines",
    "split_half",
    "bootstrap_cosine",
    "sample_multiplier",
    "per_seed_measures",
    "summarize_stability",
]


def _cos(a: Tensor, b: Tensor) -> Tensor:
    return torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1)


def seed_cosines(vectors_by_seed: Mapping[int, PersonaVector], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per block: mean pairwise cosine between seeds, with a bootstrap CI over seed pairs."""
    if len(vectors_by_seed) < 2:
        raise ValueError("stability across seeds needs at least two seeds")
    seeds = sorted(vectors_by_seed)
    hooks = vectors_by_seed[seeds[0]].hooks
    rng = np.random.default_rng(seed)
    rows = []
    for hook in hooks:
        pairs = np.array(
            [
                float(_cos(vectors_by_seed[a][hook], vectors_by_seed[b][hook]))
                for a, b in itertools.combinations(seeds, 2)
            ]
        )
        boots = rng.choice(pairs, size=(n_boot, len(pairs))).mean(1)
        rows.append(
            {
                **layer_columns(block_of(hook)),
                "mean_cosine": pairs.mean(),
                "min_cosine": pairs.min(),
                "ci_low": np.quantile(boots, 0.025),
                "ci_high": np.quantile(boots, 0.975),
                "n_pairs": len(pairs),
            }
        )
    return pd.DataFrame(rows)


def _diff(pooled: Tensor, signs: Tensor, rows: Tensor) -> Tensor:
    s = signs[rows]
    return pooled[rows][s == 1].mean(0) - pooled[rows][s == -1].mean(0)


def split_half(
    pooled: Float[Tensor, "row layer d_model"], signs: Sequence[int], n_splits: int = 20, seed: int = 0
) -> pd.DataFrame:
    """Per block: mean cosine between vectors from two random disjoint halves (stratified by sign),
    and its Spearman-Brown projection to the full sample size, 2r / (1 + r)."""
    signs_t = torch.tensor(list(signs))
    pos, neg = torch.nonzero(signs_t == 1)[:, 0], torch.nonzero(signs_t == -1)[:, 0]
    if len(pos) < 2 or len(neg) < 2:
        raise ValueError("split-half needs at least two D+ and two D- rows")
    g = torch.Generator().manual_seed(seed)
    cosines = []
    for _ in range(n_splits):
        p, n = pos[torch.randperm(len(pos), generator=g)], neg[torch.randperm(len(neg), generator=g)]
        half_a = torch.cat([p[: len(p) // 2], n[: len(n) // 2]])
        half_b = torch.cat([p[len(p) // 2 :], n[len(n) // 2 :]])
        cosines.append(_cos(_diff(pooled, signs_t, half_a), _diff(pooled, signs_t, half_b)))
    r = torch.stack(cosines).mean(0)
    return pd.DataFrame(
        {"block": range(pooled.shape[1]), "split_half_cosine": r.tolist(), "spearman_brown": (2 * r / (1 + r)).tolist()}
    )


def bootstrap_cosine(
    pooled: Float[Tensor, "row layer d_model"], signs: Sequence[int], n_boot: int = 200, seed: int = 0
) -> pd.DataFrame:
    """Per block: cosine of bootstrap-resampled vectors with the full-sample vector (mean, 95% CI)."""
    signs_t = torch.tensor(list(signs))
    full = _diff(pooled, signs_t, torch.arange(len(signs_t)))
    pos, neg = torch.nonzero(signs_t == 1)[:, 0], torch.nonzero(signs_t == -1)[:, 0]
    g = torch.Generator().manual_seed(seed)
    draws = []
    for _ in range(n_boot):
        rows = torch.cat(
            [
                pos[torch.randint(len(pos), (len(pos),), generator=g)],
                neg[torch.randint(len(neg), (len(neg),), generator=g)],
            ]
        )
        draws.append(_cos(_diff(pooled, signs_t, rows), full))
    stack = torch.stack(draws)
    return pd.DataFrame(
        {
            "block": range(pooled.shape[1]),
            "mean_cosine": stack.mean(0).tolist(),
            "ci_low": stack.quantile(0.025, dim=0).tolist(),
            "ci_high": stack.quantile(0.975, dim=0).tolist(),
        }
    )


def sample_multiplier(cosine: float, target: float = 0.9) -> float:
    """How many times more D+/D- samples per seed would lift the seed-to-seed cosine to ``target``.

    If each seed's vector is a shared direction s plus independent sampling noise e (variance
    shrinking as 1/n), the expected cosine of two seeds is |s|^2 / (|s|^2 + E|e|^2), which behaves
    as a reliability: with k times the samples it becomes k r / (1 + (k - 1) r) (Spearman-Brown).
    Solving for ``target`` gives k = target (1 - r) / (r (1 - target)). A projection under that
    noise model, not a measurement; inf when the cosine is not positive.
    """
    if not 0 < target < 1:
        raise ValueError(f"target cosine must lie in (0, 1), got {target}")
    if cosine <= 0:
        return float("inf")
    if cosine >= target:
        return 1.0
    return target * (1 - cosine) / (cosine * (1 - target))


def per_seed_measures(
    pooled: torch.Tensor, table: pd.DataFrame, auc: pd.DataFrame, n_splits: int, n_boot: int, seed: int
) -> pd.DataFrame:
    """Split-half, bootstrap and held-out AUC rows for one seed's extraction (tidy)."""
    train = ((table["split"] == "extract") & table["kept"]).to_numpy()
    acts, signs = pooled[torch.tensor(train)], list(table.loc[train, "sign"])
    halves = split_half(acts, signs, n_splits=n_splits, seed=seed)
    boots = bootstrap_cosine(acts, signs, n_boot=n_boot, seed=seed)
    rows = []
    for _, r in halves.iterrows():
        for measure in ("split_half_cosine", "spearman_brown"):
            rows.append(
                {
                    "block": int(r["block"]),
                    "measure": measure,
                    "value": r[measure],
                    "ci_low": r[measure],
                    "ci_high": r[measure],
                }
            )
    rows += [
        {
            "block": int(r["block"]),
            "measure": "bootstrap_cosine",
            "value": r["mean_cosine"],
            "ci_low": r["ci_low"],
            "ci_high": r["ci_high"],
        }
        for _, r in boots.iterrows()
    ]
    mean_auc = auc[auc["pooling"] == "response_mean"] if not auc.empty else auc
    rows += [
        {"block": int(r["block"]), "measure": "heldout_auc", "value": r["auc"], "ci_low": r["auc"], "ci_high": r["auc"]}
        for _, r in mean_auc.iterrows()
    ]
    frame = pd.DataFrame(rows)
    frame["seed"] = seed
    extract = table[table["split"] == "extract"]
    gap = (
        extract.loc[extract["sign"] == 1, "trait_score"].mean()
        - extract.loc[extract["sign"] == -1, "trait_score"].mean()
    )
    frame["trait_gap"] = float(gap)
    return frame


def summarize_stability(table: pd.DataFrame, report_blocks: Sequence[int], threshold: float) -> pd.DataFrame:
    """One row per persona and report layer: seed cosine (CI, min), reliability, AUC, trait gap, verdict,
    and the projected factor of more samples that would reach ``threshold`` (``sample_multiplier``)."""
    rows = []
    for persona, sub in table.groupby("persona", sort=True):
        for block in report_blocks:
            at = sub[sub["block"] == block]
            if at.empty:
                continue
            seed_rows = at[at["measure"] == "seed_cosine"]
            # one seed has no seed cosine: its columns are NaN and "stable" is left undecided
            cos = seed_rows.iloc[0] if len(seed_rows) else pd.Series(dtype=float)
            value = float(cos.get("value", float("nan")))

            def mean_of(measure: str, at: pd.DataFrame = at) -> float:
                return float(at.loc[at["measure"] == measure, "value"].mean())

            rows.append(
                {
                    "persona": persona,
                    "paper_layer": block_to_paper_layer(block),
                    "block": block,
                    "seed_cosine": value,
                    "ci_low": cos.get("ci_low", float("nan")),
                    "ci_high": cos.get("ci_high", float("nan")),
                    "min_pair_cosine": cos.get("min_cosine", float("nan")),
                    "spearman_brown": mean_of("spearman_brown"),
                    "bootstrap_cosine": mean_of("bootstrap_cosine"),
                    "heldout_auc": mean_of("heldout_auc"),
                    "trait_gap": float(sub["trait_gap"].mean()),
                    "stable": bool(value >= threshold) if len(seed_rows) else None,
                    "samples_x_for_threshold": sample_multiplier(value, threshold) if len(seed_rows) else float("nan"),
                }
            )
    return pd.DataFrame(rows)
