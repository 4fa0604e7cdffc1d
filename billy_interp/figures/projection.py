"""Projection figures: the paper's Fig. 3 panels, response profiles and a circuitsvis token view."""

from __future__ import annotations

import html
import re
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
    """One offline HTML page of circuitsvis ``ColoredTokensMulti`` views, grouped by prompt.

    Each view is ``{"prompt": str, "condition": str, "tokens": [str], "values": array [tokens,
    directions], "labels": [str]}``. A prompt's answers (e.g. plain, MRP, BILLY) sit one after
    another under one heading, and every view colours a direction on the same scale (the min and
    max of that direction over all views), so colours compare across answers. The 1.3 MB
    JavaScript bundle is inlined once, in the first view; later views only call
    ``CircuitsVis.render`` on the bundle the first one publishes (module scripts run in document order).
    """
    from circuitsvis.utils.render import render

    from billy_interp.io import atomic_write

    if not views:
        raise ValueError("no token views to write")
    labels = list(views[0]["labels"])
    values = [np.asarray(view["values"], dtype=float) for view in views]
    for view, array in zip(views, values):
        if list(view["labels"]) != labels or array.shape != (len(view["tokens"]), len(labels)):
            raise ValueError(
                f"view {view['prompt']!r} / {view['condition']!r}: values {array.shape} do not match "
                f"{len(view['tokens'])} tokens x {len(labels)} labels, or its labels differ from the first view's"
            )
    stacked = np.concatenate(values)
    upper, lower = np.maximum(stacked.max(0), 1e-7), np.minimum(stacked.min(0), -1e-7)
    groups: dict[str, list[tuple[dict, np.ndarray]]] = {}
    for view, array in zip(views, values):
        groups.setdefault(str(view["prompt"]), []).append((view, array))
    parts, published = [], False
    for prompt, group in groups.items():
        parts.append(f'<div class="token-prompt"><h3>{html.escape(prompt, quote=False)}</h3>')
        for view, array in group:
            src = render(
                "ColoredTokensMulti",
                tokens=list(view["tokens"]),
                values=array,
                labels=labels,
                positiveBounds=upper.tolist(),
                negativeBounds=lower.tolist(),
            ).local_src
            # circuitsvis writes its mount point as <div .../>, which HTML does not close: every
            # later view would be parsed inside the first one and never show.
            src = re.sub(r'(<div id="circuits-vis-[^"]*"[^>]*?)\s*/>', r"\1></div>", src)
            start, end = src.index('type="module">') + len('type="module">'), src.index("CircuitsVis.render(")
            if not published:
                # A module script's top-level var is module-scoped: publish the bundle so the
                # later views' scripts (which run after this one) can call it.
                src = src[:end] + "window.CircuitsVis = CircuitsVis;\n" + src[end:]
                published = True
            else:
                src = src[:start] + "\n" + src[end:]
            condition = html.escape(str(view["condition"]), quote=False)
            parts.append(f'<div class="token-view"><h4>{condition}</h4>\n{src}\n</div>')
        parts.append("</div>")
    scale = ", ".join(f"{label} [{lo:.1f}, {hi:.1f}]" for label, lo, hi in zip(labels, lower, upper))
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>per-token persona projections</title></head>"
        "<body><p>Each token is coloured by the projection of its residual on a persona direction (choose "
        "the direction in each view), centred on the unsteered (plain) responses; units are the residual "
        "stream's. One colour scale per direction, shared by every view: "
        f"{html.escape(scale, quote=False)}.</p>\n" + "\n".join(parts) + "\n</body></html>"
    )
    return atomic_write(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
