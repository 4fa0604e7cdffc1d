"""Interaction figures (from ``analysis.interaction.interaction_table``)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from billy_interp.core.layers import add_paper_layer

__all__ = ["plot_interaction_residuals", "plot_interaction_projections"]


def plot_interaction_residuals(table: pd.DataFrame) -> go.Figure:
    """|Delta a(M) - linear prediction| / |Delta a(M)| vs readout layer, one line per alpha, per position."""
    sub = add_paper_layer(table[table["quantity"] == "interaction_residual"])
    if sub.empty:
        raise ValueError("table has no interaction_residual rows")
    sub = sub.assign(alpha=sub["alpha"].map(lambda a: f"{a:g}"))
    fig = px.line(
        sub,
        x="paper_layer",
        y="value",
        color="alpha",
        facet_col="position",
        error_y="sem",
        markers=True,
        labels={"paper_layer": "readout paper layer", "value": "interaction residual"},
        title="merged vs sum of single-vector effects (0 = linear superposition)",
    )
    fig.update_layout(height=440, width=900)
    return fig


def plot_interaction_projections(table: pd.DataFrame, alpha: float, position: str = "last") -> go.Figure:
    """At one alpha: projections of the merged effect, the linear prediction and each single effect."""
    sub = table[
        (table["quantity"].str.startswith("projection:")) & (table["alpha"] == alpha) & (table["position"] == position)
    ]
    if sub.empty:
        raise ValueError(f"no projection rows at alpha {alpha} and position {position!r}")
    sub = add_paper_layer(sub).assign(effect=sub["quantity"].str.removeprefix("projection:").to_numpy())
    fig = px.line(
        sub,
        x="paper_layer",
        y="value",
        color="effect",
        facet_col="direction",
        markers=True,
        labels={"paper_layer": "readout paper layer", "value": "projection on unit direction"},
        title=f"effects along persona directions (alpha {alpha:g}, {position} position)",
    )
    fig.update_layout(height=440, width=1200)
    return fig
