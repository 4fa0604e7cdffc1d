"""Layer x alpha sweep figures (from ``layer_sweep``'s aggregate table)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["plot_sweep_heatmaps"]

_UNITS = {
    "guarded_originality": "guarded originality (0-1)",
    "originality": "originality proxy (0-1)",
    "perplexity": "perplexity (log colour scale)",
    "appropriateness": "on-task share (0-1)",
    "readability": "readable share (0-1)",
    "distinct_2": "distinct-2 (0-1)",
    "trait_mean": "trait score (cosine gain)",
    "projection_mean": "projection (residual units)",
}
_COLUMNS = 3


def _log_ticks(values: np.ndarray) -> tuple[list[float], list[str]]:
    """Colour-bar ticks for a log10 colour scale: 1-2-5 steps inside the data's range."""
    finite = values[np.isfinite(values) & (values > 0)]
    low, high = (math.floor(np.log10(finite.min())), math.ceil(np.log10(finite.max()))) if len(finite) else (0, 1)
    ticks = [m * 10**e for e in range(low, high + 1) for m in (1, 2, 5)]
    kept = [t for t in ticks if finite.min() <= t <= finite.max()] if len(finite) else ticks
    kept = kept or [float(finite.min()), float(finite.max())]
    return [math.log10(t) for t in kept], [f"{t:g}" for t in kept]


def plot_sweep_heatmaps(
    aggregate: pd.DataFrame, metrics: list[str], title: str = "", mark: dict | None = None
) -> go.Figure:
    """One layer x alpha heatmap per metric (rows: paper layer, columns: alpha), each with its
    own colour bar; perplexity on a log colour scale. ``mark`` (a recommended cell with
    ``paper_layer`` and ``alpha``) is drawn as a star on every panel."""
    missing = [m for m in metrics if m not in aggregate.columns]
    if missing:
        raise ValueError(f"aggregate table has no columns {missing}")
    rows = math.ceil(len(metrics) / _COLUMNS)
    cols = min(len(metrics), _COLUMNS)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[_UNITS.get(m, m) for m in metrics],
        horizontal_spacing=0.11,
        vertical_spacing=0.16 if rows > 1 else 0.1,
    )
    for i, metric in enumerate(metrics):
        row, col = divmod(i, cols)
        grid = aggregate.pivot_table(index="paper_layer", columns="alpha", values=metric)
        values = grid.to_numpy(dtype=float)
        axis = "" if i == 0 else str(i + 1)
        x_domain = fig.layout[f"xaxis{axis}"].domain
        y_domain = fig.layout[f"yaxis{axis}"].domain
        colorbar = {
            "x": x_domain[1] + 0.01,
            "y": (y_domain[0] + y_domain[1]) / 2,
            "len": (y_domain[1] - y_domain[0]) * 1.05,
            "thickness": 12,
        }
        z = values
        if metric == "perplexity":
            z = np.log10(np.where(values > 0, values, np.nan))
            colorbar["tickvals"], colorbar["ticktext"] = _log_ticks(values)
        fig.add_trace(
            go.Heatmap(
                z=z,
                customdata=values,
                x=[f"{a:g}" for a in grid.columns],
                y=grid.index,
                colorscale="Viridis",
                reversescale=metric == "perplexity",  # bright = good on every panel
                colorbar=colorbar,
                name=metric,
                hovertemplate="layer %{y}, alpha %{x}: %{customdata:.3f}<extra>" + metric + "</extra>",
            ),
            row=row + 1,
            col=col + 1,
        )
        if mark:
            fig.add_trace(
                go.Scatter(
                    x=[f"{mark['alpha']:g}"],
                    y=[mark["paper_layer"]],
                    mode="markers",
                    marker={"symbol": "star", "size": 14, "color": "red", "line": {"color": "white", "width": 1}},
                    name="recommended cell",
                    showlegend=i == 0,
                    hovertemplate="recommended: layer %{y}, alpha %{x}<extra></extra>",
                ),
                row=row + 1,
                col=col + 1,
            )
        fig.update_xaxes(title_text="alpha", type="category", row=row + 1, col=col + 1)
        if col == 0:
            fig.update_yaxes(title_text="paper layer", row=row + 1, col=1)
    fig.update_layout(
        title=title,
        height=380 * rows + 100,
        width=max(520, 440 * cols),
        legend={"orientation": "h", "y": -0.08},
    )
    return fig
