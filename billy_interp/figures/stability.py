"""Stability figures (from ``python -m billy_interp.stability``'s tidy table)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["plot_stability"]

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
