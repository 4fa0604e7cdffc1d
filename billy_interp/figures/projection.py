"""Projection figures: the paper's Fig. 3 panels, response profiles and a circuitsvis token view."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["plot_projection_panels", "plot_position_profile", "write_token_view"]


def plot_projection_panels(
    summary: pd.DataFrame, directions: Sequence[str] | None = None, title: str = ""
) -> go.Figure:
    """One panel per persona direction: mean projection (95% CI band) vs layer, one line per condition."""
    directions = list(directions or dict.fromkeys(summary["direction"]))
    fig = make_subplots(
        rows=1,
        cols=len(directions),
        subplot_titles=[f"projection on v_{d}" for d in directions],
        shared_yaxes=True,
        horizontal_spacing=0.04,
    )
    palette = px.colors.qualitative.Plotly
    colours = {c: palette[i % len(palette)] for i, c in enumerate(dict.fromkeys(summary["condition"]))}
    for col, direction in enumerate(directions, start=1):
        sub = summary[summary["direction"] == direction]
        for condition, rows in sub.groupby("condition", sort=False):
            rows = rows.sort_values("paper_layer")
            colour = colours[condition]
            fig.add_trace(
                go.Scatter(
                    x=list(rows["paper_layer"]) + list(rows["paper_layer"])[::-1],
                    y=list(rows["ci_high"]) + list(rows["ci_low"])[::-1],
                    fill="toself",
                    line={"width": 0},
                    fillcolor=colour,
                    opacity=0.18,
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=condition,
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=rows["paper_layer"],
                    y=rows["mean"],
                    name=condition,
                    legendgroup=condition,
                    line={"color": colour},
                    showlegend=col == 1,
                    mode="lines+markers",
                ),
                row=1,
                col=col,
            )
        fig.add_hline(y=0, line={"color": "gray", "width": 1}, row=1, col=col)
        fig.update_xaxes(title_text="paper layer (hidden-state index)", row=1, col=col)
    fig.update_yaxes(title_text="projection of delta a on unit v", row=1, col=1)
    fig.update_layout(
        title=title or "prompting vs steering: last-token projections",
        height=460,
        width=max(520, 460 * len(directions)),
    )
    return fig


def plot_position_profile(profile: pd.DataFrame, directions: Sequence[str] | None = None) -> go.Figure:
    """Centred per-token projection by relative position in the response, per condition."""
    directions = list(directions or dict.fromkeys(profile["direction"]))
    sub = profile[profile["direction"].isin(directions)]
    fig = px.line(
        sub,
        x="relative_position",
        y="mean",
        color="condition",
        facet_col="direction",
        markers=True,
        error_y="sem",
        labels={"relative_position": "position in response (fraction)", "mean": "projection (centred on unsteered)"},
        title="how the persona projection evolves through the response",
    )
    fig.update_layout(height=420, width=max(520, 360 * len(directions)))
    return fig


def write_token_view(views: Sequence[dict], path: str | Path) -> Path:
    """One HTML file with a circuitsvis ``colored_tokens_multi`` view per response, offline.

    Each view is ``{"title": str, "tokens": [str], "values": array [tokens, directions],
    "labels": [str]}``. Every view is a ``<div>`` holding circuitsvis's ``local_src``; the inlined
    JavaScript bundle (1.3 MB) is kept in the first view only, since later views only call
    ``CircuitsVis.render`` and module scripts run in document order.
    """
    from circuitsvis.tokens import colored_tokens_multi

    from billy_interp.io import atomic_write

    if not views:
        raise ValueError("no token views to write")
    parts, bundle = [], None
    for view in views:
        values = np.asarray(view["values"], dtype=float)
        if values.shape != (len(view["tokens"]), len(view["labels"])):
            raise ValueError(
                f"view {view['title']!r}: values {values.shape} do not match "
                f"{len(view['tokens'])} tokens x {len(view['labels'])} labels"
            )
        import torch

        src = colored_tokens_multi(list(view["tokens"]), torch.tensor(values), list(view["labels"])).local_src
        start, end = src.index('type="module">') + len('type="module">'), src.index("CircuitsVis.render(")
        if bundle is None:
            bundle = src[start:end]
        else:
            src = src[:start] + "\n" + src[end:]
        title = str(view["title"]).replace("&", "&amp;").replace("<", "&lt;")
        parts.append(f'<div class="token-view"><h3>{title}</h3>\n{src}\n</div>')
    html = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>per-token persona projections</title></head>"
        "<body><p>Each token is coloured by the projection of its residual on a persona direction "
        "(choose the direction in each view), centred on the unsteered responses.</p>\n"
        + "\n".join(parts)
        + "\n</body></html>"
    )
    return atomic_write(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
