"""The creativity-coherence frontier: what each knob (steering strength, sampling temperature)
buys in creativity for what it costs in coherence, compared at matched coherence.

A *curve* is one knob turned over several values with everything else fixed; each *point* on it
answered the same items. Coherence is the perplexity of an answer under the unsteered model
(compared on a log scale) or the guarded score's readable share; creativity is the guarded
originality (or another per-answer metric).

* :func:`curve_points`: per task (and pooled, task ``all``) and point, the mean of each metric
  with a 95% bootstrap CI over items, and the geometric-mean perplexity.
* :func:`matched_coherence`: steering minus temperature at the same coherence. Each curve is read
  as the piecewise-linear path through its points in knob order; at a coherence level, a curve's
  creativity is the best it reaches where the path crosses that level (its upper envelope). The
  difference is bootstrapped over items, resampling the *same* items for both curves (they are
  paired by item), so the item-to-item spread cancels.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["COHERENCE", "curve_points", "level_value", "matched_coherence"]

COHERENCE = {
    "perplexity": "log_perplexity",  # compared on a log scale; lower is more coherent
    "readability": "readability",  # the guarded score's share of readable ideas; higher is more coherent
}


def _with_log_perplexity(scored: pd.DataFrame) -> pd.DataFrame:
    if "log_perplexity" in scored or "perplexity" not in scored:
        return scored
    return scored.assign(log_perplexity=np.log(scored["perplexity"].astype(float)))


def _groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    groups = [(str(task), sub) for task, sub in frame.groupby("task", sort=True)]
    return groups + [("all", frame)] if len(groups) > 1 else groups


def _seed(*parts: object) -> list[int]:
    return [zlib.crc32("/".join(map(str, parts)).encode())]


def curve_points(scored: pd.DataFrame, metrics: Sequence[str], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per task (and ``all``), curve, point and metric: n, mean, ci_low, ci_high.

    ``scored`` has one row per answer with ``task``, ``item_id``, ``curve``, ``point``, ``value``
    (the knob's setting) and the metric columns; ``perplexity`` is summarised as a geometric
    mean (the mean of ``log_perplexity``, exponentiated, CI included)."""
    frame = _with_log_perplexity(scored)
    missing = {"task", "item_id", "curve", "point", "value", *metrics} - set(frame.columns)
    if missing:
        raise ValueError(f"the answers table lacks column(s) {sorted(missing)}")
    rows = []
    for task, sub in _groups(frame):
        for (curve, point, value), answers in sub.groupby(["curve", "point", "value"], sort=False):
            for metric in metrics:
                column = "log_perplexity" if metric == "perplexity" else metric
                values = answers[column].astype(float).dropna().to_numpy()
                if not len(values):
                    continue
                rng = np.random.default_rng([seed, *_seed(task, curve, point, metric)])
                boots = rng.choice(values, size=(n_boot, len(values))).mean(1)
                stats = np.array([values.mean(), *np.quantile(boots, [0.025, 0.975])])
                if metric == "perplexity":
                    stats = np.exp(stats)
                rows.append(
                    {
                        "task": task,
                        "curve": curve,
                        "point": point,
                        "value": value,
                        "metric": metric,
                        "n": len(values),
                        "mean": stats[0],
                        "ci_low": stats[1],
                        "ci_high": stats[2],
                    }
                )
    return pd.DataFrame(rows)


def level_value(coherence: np.ndarray, creativity: np.ndarray, level: float) -> np.ndarray | float:
    """The highest creativity a curve (points in knob order, last axis) reaches where it crosses
    ``level`` of coherence, interpolating linearly between neighbouring points; NaN where it never
    does. Leading axes (e.g. bootstrap draws) are kept: one value per row."""
    coherence, creativity = np.atleast_2d(coherence).astype(float), np.atleast_2d(creativity).astype(float)
    if coherence.shape[-1] == 1:
        best = np.where(coherence[..., 0] == level, creativity[..., 0], np.nan)
    else:
        c0, c1, m0, m1 = coherence[..., :-1], coherence[..., 1:], creativity[..., :-1], creativity[..., 1:]
        inside = (np.minimum(c0, c1) <= level) & (level <= np.maximum(c0, c1))
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(c0 == c1, np.maximum(m0, m1), m0 + (m1 - m0) * (level - c0) / (c1 - c0))
        value = np.where(inside, value, -np.inf)
        best = value.max(axis=-1)
        best = np.where(np.isneginf(best), np.nan, best)
    return float(best[0]) if best.shape == (1,) else best


def _curve_means(pivot: dict[str, np.ndarray], points: list[str], draws: np.ndarray) -> np.ndarray:
    """(draws, points): each point's mean over each draw's items."""
    return np.stack([pivot[p][draws].mean(axis=-1) for p in points], axis=-1)


def matched_coherence(
    scored: pd.DataFrame,
    steering: str,
    temperature: str,
    metric: str = "guarded_originality",
    coherence: str = "perplexity",
    levels: Sequence[float] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """``steering`` minus ``temperature`` curve in ``metric`` at matched ``coherence``, per task
    and pooled, at each coherence level (default: the quartiles of the range both curves cover).

    Only items that every point of both curves answered with a score count (``n``). Columns:
    task, steering, temperature, metric, coherence, level (perplexity, or readable share),
    n, steering_value, temperature_value, difference, ci_low, ci_high, p (two-sided, from the
    bootstrap), covered (share of bootstrap draws where both curves reach the level)."""
    if coherence not in COHERENCE:
        raise ValueError(f"coherence must be one of {sorted(COHERENCE)}, got {coherence!r}")
    column = COHERENCE[coherence]
    frame = _with_log_perplexity(scored)
    for curve in (steering, temperature):
        if curve not in set(frame["curve"]):
            raise ValueError(f"no answers on curve {curve!r}")
    rows = []
    for task, sub in _groups(frame):
        curves = {}
        for curve in (steering, temperature):
            on = sub[sub["curve"] == curve].sort_values("value", kind="stable")
            curves[curve] = list(dict.fromkeys(on["point"]))
        if not all(curves.values()):
            continue  # a run still in progress: this task has no answers on one curve yet
        points = [p for c in curves.values() for p in c]
        wide = sub[sub["point"].isin(points)].pivot_table(
            index="item_id", columns="point", values=[column, metric], aggfunc="first"
        )
        wide = wide.dropna()
        if wide.empty or len(wide.columns) < 2 * len(set(points)):
            continue  # no item answered (and scored) at every point of both curves
        coh = {p: wide[column][p].to_numpy(float) for p in set(points)}
        met = {p: wide[metric][p].to_numpy(float) for p in set(points)}
        everyone = np.arange(len(wide))[None]
        full = {c: _curve_means(coh, ps, everyone)[0] for c, ps in curves.items()}
        if levels is None:
            low = max(v.min() for v in full.values())
            high = min(v.max() for v in full.values())
            chosen = [] if low > high else list(np.quantile([low, high], [0.25, 0.5, 0.75]))
        else:
            chosen = [np.log(level) if column == "log_perplexity" else level for level in levels]
        rng = np.random.default_rng([seed, *_seed(task, steering, temperature, metric, coherence)])
        draws = rng.integers(0, len(wide), size=(n_boot, len(wide)))
        means = {
            name: {c: (_curve_means(coh, ps, rows), _curve_means(met, ps, rows)) for c, ps in curves.items()}
            for name, rows in (("full", everyone), ("boot", draws))
        }
        for level in chosen:
            s_full, t_full = (float(level_value(*means["full"][c], level)) for c in (steering, temperature))
            boots = np.atleast_1d(
                level_value(*means["boot"][steering], level) - level_value(*means["boot"][temperature], level)
            )
            kept = boots[~np.isnan(boots)]
            rows.append(
                {
                    "task": task,
                    "steering": steering,
                    "temperature": temperature,
                    "metric": metric,
                    "coherence": coherence,
                    "level": float(np.exp(level)) if column == "log_perplexity" else float(level),
                    "n": len(wide),
                    "steering_value": s_full,
                    "temperature_value": t_full,
                    "difference": s_full - t_full,
                    "ci_low": float(np.quantile(kept, 0.025)) if len(kept) else np.nan,
                    "ci_high": float(np.quantile(kept, 0.975)) if len(kept) else np.nan,
                    "p": float(min(1.0, 2 * min((kept <= 0).mean(), (kept >= 0).mean()))) if len(kept) else np.nan,
                    "covered": len(kept) / n_boot,
                }
            )
    return pd.DataFrame(rows)
