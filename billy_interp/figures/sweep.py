"""Layer x alpha sweep figures (from ``layer_sweep``'s aggregate table)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["plot_sweep_heatmaps"]


def plot_sweep_heatmaps(aggregate: pd.DataFrame, metrics: list[str], title: str = "") -> go.Figure:
    """One layer x alpha heatmap per metric (rows: paper layer, columns: alpha)."""
    missing = [m for m in metrics if m not in aggregate.columns]
    if missing:
        raise ValueError(f"aggregate table has no columns {missing}")
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics, horizontal_spacing=0.06)
    for i, metric in enumerate(metrics, start=1):
        grid = aggregate.pivot_table(index="paper_layer", columns="alpha", values=metric)
        fig.add_trace(
            go.Heatmap(
                z=grid.values,
                x=[f"{a:g}" for a in grid.columns],
                y=grid.index,
                colorscale="Viridis",
                showscale=False,
                name=metric,
                hovertemplate="layer %{y}, alpha %{x}: %{z:.3f}<extra>" + metric + "</extra>",
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(title_text="alpha", row=1, col=i)
    fig.update_yaxes(title_text="paper layer (hidden-state index)", row=1, col=1)
    fig.update_layout(title=title, height=520, width=max(420, 300 * len(metrics)))
    return fig
