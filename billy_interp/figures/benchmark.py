"""Benchmark figures: Table 1 as bars with CIs, the efficiency comparison and the ablation (Fig. 2)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

__all__ = ["plot_method_scores", "plot_efficiency", "plot_ablation", "plot_paired_differences"]


def _with_errors(frame: pd.DataFrame, center: str = "mean") -> pd.DataFrame:
    return frame.assign(err_plus=frame["ci_high"] - frame[center], err_minus=frame[center] - frame["ci_low"])


def plot_method_scores(summary: pd.DataFrame, metrics: tuple[str, ...] = ("originality", "elaboration")) -> go.Figure:
    """Mean score per task x method with 95% bootstrap CIs, one panel per metric (Table 1 as bars)."""
    sub = _with_errors(summary[summary["metric"].isin(metrics)])
    if sub.empty:
        raise ValueError(f"summary has no rows for metrics {metrics}")
    scorer = ", ".join(sorted(sub["scorer"].unique())) if "scorer" in sub else ""
    fig = px.bar(
        sub,
        x="task",
        y="mean",
        color="method",
        barmode="group",
        facet_col="metric",
        error_y="err_plus",
        error_y_minus="err_minus",
        title=f"Table 1: scores by task and method ({scorer})",
    )
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.update_layout(height=460, width=1100)
    return fig


def plot_efficiency(efficiency: pd.DataFrame) -> go.Figure:
    """Per-query seconds and tokens per method (log scale)."""
    long = efficiency.melt(
        id_vars="method",
        value_vars=["seconds", "input_tokens", "output_tokens"],
        var_name="quantity",
        value_name="per_query",
    )
    fig = px.bar(
        long,
        x="method",
        y="per_query",
        color="method",
        facet_col="quantity",
        log_y=True,
        title="per-query cost (one run, same model and prompts)",
    )
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.update_layout(height=420, width=1100, showlegend=False)
    return fig


def plot_ablation(summary: pd.DataFrame, metric: str = "originality") -> go.Figure:
    """Score vs number of merged personas (methods billy_k1..k7), with 95% CIs, per task."""
    sub = summary[(summary["metric"] == metric) & summary["method"].str.startswith("billy_k")]
    if sub.empty:
        raise ValueError("summary has no billy_k* rows: run the benchmark with --ablation")
    sub = _with_errors(sub.assign(k=sub["method"].str.removeprefix("billy_k").astype(int))).sort_values("k")
    fig = px.line(
        sub,
        x="k",
        y="mean",
        color="task",
        error_y="err_plus",
        error_y_minus="err_minus",
        markers=True,
        labels={"k": "merged personas", "mean": metric},
        title=f"Fig. 2: {metric} vs number of merged personas",
    )
    fig.update_layout(height=420, width=700)
    return fig


def plot_paired_differences(comparison: pd.DataFrame, metric: str = "originality") -> go.Figure:
    """Paired differences a - b with 95% CIs per task (``python -m billy_interp.compare``), one row
    per comparison; a dashed line at 0, where a CI that crosses it means no detectable difference."""
    sub = comparison[comparison["metric"] == metric]
    if sub.empty:
        raise ValueError(f"comparison has no rows for metric {metric!r}")
    sub = _with_errors(sub, center="difference").assign(
        pair=sub["a"].str.rsplit("/", n=1).str[-1] + " - " + sub["b"].str.rsplit("/", n=1).str[-1]
    )
    fig = px.scatter(
        sub,
        x="difference",
        y="pair",
        color="task",
        error_x="err_plus",
        error_x_minus="err_minus",
        hover_data=["n", "mean_a", "mean_b", "p"],
        title=f"paired {metric} differences over shared items (95% bootstrap CI)",
    )
    fig.add_vline(x=0, line_dash="dash", line_color="grey")
    fig.update_traces(marker_size=9)
    fig.update_layout(height=140 + 60 * sub["pair"].nunique(), width=1000, scattermode="group")
    return fig
