"""Cosine geometry figures (from ``analysis.geometry`` tables)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from billy_interp.core.layers import add_paper_layer, block_to_paper_layer

__all__ = [
    "plot_cosine_matrix",
    "plot_cosine_slider",
    "plot_cosine_small_multiples",
    "plot_layer_norms",
    "plot_merge_part_cosines",
    "plot_pca_map",
]


def _grid(cosines: pd.DataFrame, block: int) -> pd.DataFrame:
    sub = cosines[cosines["block"] == block]
    if sub.empty:
        raise ValueError(f"no cosines at block {block}; blocks present: {sorted(cosines['block'].unique())}")
    order = list(dict.fromkeys(sub["persona_a"]))
    return sub.pivot(index="persona_a", columns="persona_b", values="cosine").loc[order, order]


def _heatmap(grid: pd.DataFrame, **kwargs) -> go.Heatmap:
    return go.Heatmap(
        z=grid.values,
        x=list(grid.columns),
        y=list(grid.index),
        zmin=-1,
        zmax=1,
        colorscale="RdBu",
        hovertemplate="%{y} . %{x}: %{z:.2f}<extra></extra>",
        **kwargs,
    )


def plot_cosine_matrix(cosines: pd.DataFrame, block: int) -> go.Figure:
    """Persona x persona cosine heatmap at one block (from geometry.cosine_matrices)."""
    fig = go.Figure(_heatmap(_grid(cosines, block)))
    fig.update_layout(
        title=f"cosine between persona vectors, block {block} (paper layer {block_to_paper_layer(block)})"
    )
    return fig


def plot_cosine_slider(cosines: pd.DataFrame, start_block: int | None = None) -> go.Figure:
    """The cosine matrix with a slider over layers (one frame per block)."""
    blocks = sorted(int(b) for b in cosines["block"].unique())
    start = blocks[len(blocks) // 2] if start_block is None else start_block
    fig = go.Figure(_heatmap(_grid(cosines, start)))
    fig.frames = [go.Frame(data=[_heatmap(_grid(cosines, b))], name=str(b)) for b in blocks]
    steps = [
        {
            "label": str(block_to_paper_layer(b)),
            "method": "animate",
            "args": [[str(b)], {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}],
        }
        for b in blocks
    ]
    fig.update_layout(
        title="cosine between persona vectors; slider: paper layer (hidden-state index)",
        sliders=[{"active": blocks.index(start), "steps": steps, "currentvalue": {"prefix": "paper layer "}}],
        height=640,
        width=760,
    )
    return fig


def plot_cosine_small_multiples(cosines: pd.DataFrame, blocks: Sequence[int]) -> go.Figure:
    """Cosine matrices side by side at selected blocks."""
    blocks = list(blocks)
    fig = make_subplots(
        rows=1,
        cols=len(blocks),
        subplot_titles=[f"paper layer {block_to_paper_layer(b)}" for b in blocks],
        horizontal_spacing=0.02,
        shared_yaxes=True,
    )
    for i, block in enumerate(blocks, start=1):
        fig.add_trace(_heatmap(_grid(cosines, block), showscale=i == len(blocks)), row=1, col=i)
    fig.update_layout(title="persona-vector cosines at selected layers", height=520, width=max(500, 380 * len(blocks)))
    return fig


def plot_layer_norms(norms: pd.DataFrame, residual_norms: pd.Series | None = None) -> go.Figure:
    """Per-layer norm of each vector (and, if given, the mean residual norm per block, dashed)."""
    frame = add_paper_layer(norms)
    fig = px.line(
        frame,
        x="paper_layer",
        y="norm",
        color="persona",
        markers=True,
        title="persona-vector norm by layer",
        labels={"paper_layer": "paper layer (hidden-state index)"},
    )
    if residual_norms is not None:
        fig.add_trace(
            go.Scatter(
                x=[block_to_paper_layer(int(b)) for b in residual_norms.index],
                y=residual_norms.values,
                name="|h| (mean residual)",
                line={"dash": "dash", "color": "black"},
                yaxis="y2",
            )
        )
        fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "|h|"})
    return fig


def plot_merge_part_cosines(part_cosines: pd.DataFrame) -> go.Figure:
    """Cosine of the merged vector with each of its parts across layers."""
    frame = add_paper_layer(part_cosines)
    fig = px.line(
        frame,
        x="paper_layer",
        y="cosine",
        color="part",
        markers=True,
        range_y=[-0.1, 1.05],
        title="merged vector vs its parts",
        labels={"paper_layer": "paper layer (hidden-state index)"},
    )
    return fig


def plot_pca_map(coords: pd.DataFrame, block: int) -> go.Figure:
    """2-D PCA map of persona vectors at one block (from geometry.pca_map)."""
    e1, e2 = float(coords["explained_1"].iloc[0]), float(coords["explained_2"].iloc[0])
    fig = px.scatter(
        coords,
        x="pc1",
        y="pc2",
        text="persona",
        labels={"pc1": f"PC1 ({e1:.0%})", "pc2": f"PC2 ({e2:.0%})"},
        title=f"persona vectors (unit), PCA at paper layer {block_to_paper_layer(block)}",
    )
    fig.update_traces(textposition="top center")
    return fig
