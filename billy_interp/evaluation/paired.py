"""Paired comparisons of two methods over the same benchmark items.

Two methods answered the same items (same task, same ``item_id``), so their difference is best
judged per item: the item-to-item spread (some objects are simply easier to be original about)
cancels out, which separate per-method CIs cannot do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["paired_differences"]


def _one(diffs: np.ndarray, rng: np.random.Generator, n_boot: int) -> tuple[float, float, float]:
    boots = rng.choice(diffs, size=(n_boot, len(diffs)), replace=True).mean(1)
    # Sign-flip randomisation test: under "no difference" each paired difference is as likely
    # to have either sign.
    flips = rng.choice([-1.0, 1.0], size=(n_boot, len(diffs))) @ diffs / len(diffs)
    p = (1 + np.sum(np.abs(flips) >= abs(diffs.mean()) - 1e-12)) / (1 + n_boot)
    return float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975)), float(p)


def paired_differences(
    a: pd.DataFrame, b: pd.DataFrame, metric: str, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Mean of ``a - b`` on ``metric`` over items both answered, per task and pooled (task ``all``).

    ``a`` and ``b`` are per-response tables (``task``, ``item_id``, ``metric``) of one method
    each. Items where either value is missing are dropped (``n`` counts the pairs). Columns:
    task, metric, n, mean_a, mean_b, difference, ci_low, ci_high (95% paired bootstrap over
    items) and p (two-sided sign-flip randomisation test).
    """
    for name, frame in (("a", a), ("b", b)):
        missing = {"task", "item_id", metric} - set(frame.columns)
        if missing:
            raise ValueError(f"table {name} lacks column(s) {sorted(missing)}")
        if frame.duplicated(["task", "item_id"]).any():
            raise ValueError(f"table {name} holds more than one response per (task, item_id): pass one method's rows")
    pairs = (
        a[["task", "item_id", metric]]
        .merge(b[["task", "item_id", metric]], on=["task", "item_id"], suffixes=("_a", "_b"))
        .dropna()
    )
    if pairs.empty:
        raise ValueError(f"no item has a {metric} score in both tables: nothing to compare")
    rng = np.random.default_rng(seed)
    groups = [(task, sub) for task, sub in pairs.groupby("task", sort=True)]
    if len(groups) > 1:
        groups.append(("all", pairs))
    rows = []
    for task, sub in groups:
        va, vb = sub[f"{metric}_a"].to_numpy(float), sub[f"{metric}_b"].to_numpy(float)
        low, high, p = _one(va - vb, rng, n_boot)
        rows.append(
            {
                "task": task,
                "metric": metric,
                "n": len(sub),
                "mean_a": va.mean(),
                "mean_b": vb.mean(),
                "difference": (va - vb).mean(),
                "ci_low": low,
                "ci_high": high,
                "p": p,
            }
        )
    return pd.DataFrame(rows)
