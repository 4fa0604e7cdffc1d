"""Stability figures (from ``python -m billy_interp.stability``'s tidy table)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["plot_stability", "plot_stability_curve"]

_PANELS = (
    ("seed_cosine", "cosine between seeds (mean, 95% CI)"),
    ("spearman_brown", "split-half reliability (Spearman-Brown)"),
    ("heldout_auc", "held-out separation AUC"),
)


def plot_stability(table: pd.DataFrame, threshold: float = 0.9) -> go.Figure:
    """Cosine between seeds vs layer, one line per persona, with split-half and held-out AUC panels."""
    panels = [(m, t) for m, t in _PANELS if m in set(table["measure"])]
    if not panels:
        raise ValueError("stability table has none of the measures " + ", ".join(m for m, _ in _PANELS))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for _, t in panels], horizontal_spacing=0.06)
    colours = dict(
        zip(
            sorted(table["persona"].unique()),
            [
                "#1f77b4",
                "#ff7f0e",
                "#2ca02c",
                "#d62728",
                "#9467bd",
                "#8c564b",
                "#e377c2",
                "#7f7f7f",
                "#bcbd22",
                "#17becf",
                "#393b79",
                "#637939",
            ]
            * 4,
        )
    )
    for col, (measure, _) in enumerate(panels, start=1):
        sub = table[table["measure"] == measure]
        per_layer = sub.groupby(["persona", "paper_layer"], as_index=False)[["value", "ci_low", "ci_high"]].mean()
        for persona, rows in per_layer.groupby("persona"):
            fig.add_trace(
                go.Scatter(
                    x=rows["paper_layer"],
                    y=rows["value"],
                    name=persona,
                    legendgroup=persona,
                    showlegend=col == 1,
                    line={"color": colours[persona]},
                    error_y={
                        "type": "data",
                        "array": rows["ci_high"] - rows["value"],
                        "arrayminus": rows["value"] - rows["ci_low"],
                        "thickness": 0.6,
                    },
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="paper layer (hidden-state index)", row=1, col=col)
    fig.add_hline(y=threshold, line={"dash": "dot", "color": "gray"}, row=1, col=1)
    fig.update_layout(title="persona-vector stability across extraction seeds", height=480, width=520 * len(panels))
    return fig


def plot_stability_curve(curve: pd.DataFrame, blocks: list[int], threshold: float = 0.9) -> go.Figure:
    """Seed-to-seed cosine (95% CI over seed pairs) and held-out AUC against samples per prompt, one
    line per persona and reported layer (from ``python -m billy_interp.stability_curve``), for
    the response-mean pooling when the curve holds several."""
    sub = curve[curve["block"].isin(blocks)]
    if "pooling" in sub:
        sub = sub[sub["pooling"] == "response_mean"]
    if sub.empty:
        raise ValueError(f"the curve has no rows at blocks {blocks}")
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.08,
        subplot_titles=["cosine between seeds (mean, 95% CI)", "held-out separation AUC"],
    )
    for (persona, layer), rows in sub.groupby(["persona", "paper_layer"]):
        rows = rows.sort_values("k")
        name = f"{persona}, layer {layer}"
        fig.add_trace(
            go.Scatter(
                x=rows["k"],
                y=rows["mean_cosine"],
                name=name,
                legendgroup=name,
                mode="lines+markers",
                error_y={
                    "type": "data",
                    "array": rows["ci_high"] - rows["mean_cosine"],
                    "arrayminus": rows["mean_cosine"] - rows["ci_low"],
                },
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=rows["k"], y=rows["heldout_auc"], name=name, legendgroup=name, showlegend=False, mode="lines+markers"
            ),
            row=1,
            col=2,
        )
    fig.add_hline(y=threshold, line={"dash": "dot", "color": "gray"}, row=1, col=1)
    for col in (1, 2):
        fig.update_xaxes(title_text="samples per (question, instruction pair, sign)", row=1, col=col)
    fig.update_yaxes(title_text="cosine", row=1, col=1)
    fig.update_yaxes(title_text="AUC", row=1, col=2)
    fig.update_layout(title="how many D+/D- samples make a persona vector reproducible", height=460, width=1100)
    return fig
