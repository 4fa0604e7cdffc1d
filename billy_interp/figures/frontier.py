"""The creativity-coherence frontier figure (from the frontier job's ``points.csv``)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

__all__ = ["FRONTIER_METRICS", "FRONTIER_FIGURES", "plot_frontier"]

FRONTIER_METRICS = ("guarded_originality", "originality", "appropriateness", "fluency")
_LABELS = {
    "guarded_originality": "guarded originality (0-1)",
    "originality": "raw originality proxy (0-1)",
    "appropriateness": "on-task share of ideas (0-1)",
    "fluency": "distinct ideas per answer",
    "readability": "readable share of ideas (0-1; higher = more coherent)",
    "perplexity": "perplexity under the unsteered model (log scale; lower = more coherent)",
}
_TASK_ORDER = ("aut", "instances", "similarities", "scientific", "all")


def _point_table(points: pd.DataFrame, task: str, metric: str, coherence: str) -> pd.DataFrame:
    sub = points[points["task"] == task]
    keys = ["curve", "point", "value"]
    y = sub[sub["metric"] == metric].set_index(keys)[["mean", "ci_low", "ci_high"]]
    x = sub[sub["metric"] == coherence].set_index(keys)[["mean", "ci_low", "ci_high"]]
    return y.join(x, lsuffix="_y", rsuffix="_x", how="inner").reset_index().sort_values(["curve", "value"])


def plot_frontier(
    points: pd.DataFrame,
    metrics: str | Sequence[str] = "guarded_originality",
    coherence: str = "perplexity",
) -> go.Figure:
    """Each of ``metrics`` (one row of panels each) against ``coherence``: one line per curve
    (points in knob order, 95% CIs both ways), one panel per task and one pooled; reference
    points as markers."""
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for needed in (*metrics, coherence):
        if needed not in set(points["metric"]):
            raise ValueError(f"points table has no {needed!r} rows")
    tasks = [t for t in _TASK_ORDER if t in set(points["task"])]
    titles = [("pooled over tasks" if t == "all" else t) + f" (n = {_n(points, t)})" for t in tasks]
    fig = make_subplots(
        rows=len(metrics),
        cols=len(tasks),
        subplot_titles=titles + [""] * (len(tasks) * (len(metrics) - 1)),
        shared_yaxes=True,
        horizontal_spacing=0.03,
        vertical_spacing=0.12 / max(1, len(metrics) - 1) if len(metrics) > 1 else 0.1,
    )
    traces = points["curve"].where(points["curve"] != "reference", points["point"])
    colours = {c: qualitative.Plotly[k % len(qualitative.Plotly)] for k, c in enumerate(dict.fromkeys(traces))}
    shown: set[str] = set()
    for row, metric in enumerate(metrics, start=1):
        for col, task in enumerate(tasks, start=1):
            for trace in _traces(_point_table(points, task, metric, coherence), metric, coherence, colours, shown):
                fig.add_trace(trace, row=row, col=col)
            fig.update_xaxes(type="log" if coherence == "perplexity" else "linear", row=row, col=col)
        fig.update_yaxes(title_text=_LABELS.get(metric, metric), row=row, col=1)
    fig.update_xaxes(title_text=_LABELS.get(coherence, coherence), row=len(metrics), col=(len(tasks) + 1) // 2)
    named = _LABELS.get(metrics[0], metrics[0]) if len(metrics) == 1 else "creativity"
    fig.update_layout(
        title=f"{named} against coherence: steering strength vs sampling temperature (95% bootstrap CIs over items)",
        height=120 + 380 * len(metrics),
        width=max(600, 330 * len(tasks)),
        legend={"orientation": "h", "y": -0.3 / len(metrics)},
    )
    return fig


def _traces(table: pd.DataFrame, metric: str, coherence: str, colours: dict, shown: set[str]) -> list[go.Scatter]:
    # each reference point (another method, not a knob) is its own trace
    table["trace"] = table["curve"].where(table["curve"] != "reference", table["point"])
    made = []
    for (curve, trace), rows in table.groupby(["curve", "trace"], sort=False):
        reference = curve == "reference"
        first = trace not in shown  # one legend entry per trace across the panels
        shown.add(trace)
        made.append(
            go.Scatter(
                x=rows["mean_x"],
                y=rows["mean_y"],
                mode="markers" if reference else "lines+markers",
                marker={"symbol": "diamond", "size": 11} if reference else {"size": 7},
                line={"color": colours[trace]},
                name=trace,
                legendgroup=trace,
                showlegend=first,
                text=rows["point"],
                error_y=_error(rows, "y"),
                error_x=_error(rows, "x"),
                hovertemplate=f"%{{text}}<br>{coherence} %{{x:.3g}}<br>{metric} %{{y:.3f}}<extra>{trace}</extra>",
            )
        )
    return made


def _error(rows: pd.DataFrame, axis: str) -> dict:
    mean = rows[f"mean_{axis}"]
    return {
        "type": "data",
        "symmetric": False,
        "array": rows[f"ci_high_{axis}"] - mean,
        "arrayminus": mean - rows[f"ci_low_{axis}"],
        "thickness": 1,
    }


def _n(points: pd.DataFrame, task: str) -> int:
    sub = points[(points["task"] == task) & (points["curve"] != "reference")]
    return int(sub["n"].max()) if len(sub) else 0


def _plot_run_frontier(points: pd.DataFrame) -> go.Figure:
    """A run's main figure: :data:`FRONTIER_METRICS` less any no answer could be given (raw
    originality of idea-less answers), so a run never fails at its figure after hours of answers."""
    present = set(points["metric"])
    return plot_frontier(points, [m for m in FRONTIER_METRICS if m in present])


FRONTIER_FIGURES = {
    "frontier": (
        "frontier: guarded and raw originality, on-task share, fluency against perplexity; steering vs temperature",
        _plot_run_frontier,
    ),
    "frontier_readability": (
        "frontier: guarded originality against the readable share",
        lambda points: plot_frontier(points, "guarded_originality", "readability"),
    ),
}
"""The figures a frontier run draws, by file name: (what it shows, points table -> figure). The
job writes them and ``python -m billy_interp.figures`` rebuilds them."""
