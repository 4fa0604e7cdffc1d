"""Figures: functions from tidy DataFrames to plotly Figures. They never show anything.

:func:`save_figure` writes HTML always and PNG only where a renderer exists (kaleido with a
Chromium); a missing renderer is reported, never raised, so a main job cannot fail on it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["plot_sweep_heatmaps", "plot_cosine_matrix", "save_figure"]


def plot_sweep_heatmaps(aggregate: pd.DataFrame, metrics: list[str], title: str = "") -> go.Figure:
    """One layer x alpha heatmap per metric (rows: paper layer, columns: alpha)."""
    missing = [m for m in metrics if m not in aggregate.columns]
    if missing:
        raise ValueError(f"aggregate table has no columns {missing}")
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics, horizontal_spacing=0.06)
    for i, metric in enumerate(metrics, start=1):
        grid = aggregate.pivot_table(index="paper_layer", columns="alpha", values=metric)
        fig.add_trace(go.Heatmap(z=grid.values, x=[f"{a:g}" for a in grid.columns], y=grid.index,
                                 colorscale="Viridis", showscale=False, name=metric,
                                 hovertemplate="layer %{y}, alpha %{x}: %{z:.3f}<extra>" + metric + "</extra>"),
                      row=1, col=i)
        fig.update_xaxes(title_text="alpha", row=1, col=i)
    fig.update_yaxes(title_text="paper layer (hidden-state index)", row=1, col=1)
    fig.update_layout(title=title, height=520, width=max(420, 300 * len(metrics)))
    return fig


def plot_cosine_matrix(cosines: pd.DataFrame, block: int) -> go.Figure:
    """Persona x persona cosine heatmap at one block (from geometry.cosine_matrices)."""
    sub = cosines[cosines["block"] == block].pivot(index="persona_a", columns="persona_b", values="cosine")
    fig = go.Figure(go.Heatmap(z=sub.values, x=sub.columns, y=sub.index, zmin=-1, zmax=1, colorscale="RdBu"))
    fig.update_layout(title=f"cosine between persona vectors, block {block} (paper layer {block + 1})")
    return fig


def save_figure(fig: go.Figure, path: str | Path, made_by: str = "") -> list[Path]:
    """Write ``path.html`` (and ``path.png`` when possible); returns what was written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if made_by:
        fig.add_annotation(text=made_by, xref="paper", yref="paper", x=0, y=-0.18, showarrow=False,
                           font={"size": 9, "color": "gray"}, xanchor="left")
    written = [path.with_suffix(".html")]
    fig.write_html(written[0], include_plotlyjs=True)  # self-contained: works offline
    try:
        fig.write_image(path.with_suffix(".png"))
        written.append(path.with_suffix(".png"))
    except Exception as error:  # no kaleido or no Chromium: HTML only
        print(f"PNG skipped for {path.name}: {type(error).__name__}: {str(error)[:120]}")
    return written
