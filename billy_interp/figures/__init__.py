"""Figures: functions from tidy DataFrames to plotly Figures. They never show anything.

:func:`save_figure` writes HTML always and PNG only where a renderer exists. ``python -m
billy_interp.figures`` rebuilds every figure and table of ``figures/`` from run directories;
:func:`page_problems` opens a written HTML page in headless Chromium and says what did not render.
"""

from billy_interp.figures.benchmark import plot_ablation, plot_efficiency, plot_method_scores, plot_paired_differences
from billy_interp.figures.browser import NoBrowserError, page_problems
from billy_interp.figures.frontier import plot_frontier
from billy_interp.figures.geometry import (
    plot_cosine_matrix,
    plot_cosine_slider,
    plot_cosine_small_multiples,
    plot_layer_norms,
    plot_merge_part_cosines,
    plot_pca_map,
)
from billy_interp.figures.interaction import plot_interaction_projections, plot_interaction_residuals
from billy_interp.figures.output import save_figure
from billy_interp.figures.projection import plot_position_profile, plot_projection_panels, write_token_view
from billy_interp.figures.stability import plot_stability, plot_stability_curve
from billy_interp.figures.sweep import plot_sweep_heatmaps

__all__ = [
    "save_figure",
    "page_problems",
    "NoBrowserError",
    "plot_sweep_heatmaps",
    "plot_frontier",
    "plot_cosine_matrix",
    "plot_cosine_slider",
    "plot_cosine_small_multiples",
    "plot_layer_norms",
    "plot_merge_part_cosines",
    "plot_pca_map",
    "plot_stability",
    "plot_stability_curve",
    "plot_interaction_residuals",
    "plot_interaction_projections",
    "plot_projection_panels",
    "plot_position_profile",
    "write_token_view",
    "plot_method_scores",
    "plot_efficiency",
    "plot_ablation",
    "plot_paired_differences",
]
