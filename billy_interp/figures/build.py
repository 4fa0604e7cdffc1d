"""``python -m billy_interp.figures``: rebuild ``figures/`` from our run directories.

    python -m billy_interp.figures                 # every run that exists; missing runs are listed
    python -m billy_interp.figures --strict        # fail if any run is missing

Reads only the tables the CLIs wrote (no model, no generation), so it takes seconds. Each figure
is stamped with the command that produced its run (the run's ``command.txt``), and
``figures/README.md`` indexes everything written:

* Table 1 (task x method originality and elaboration, n and 95% CI) and the efficiency table,
  from ``python -m billy_interp.benchmark`` (the efficiency table from a separate timing run on an
  idle machine when there is one: seconds from a run resumed over busy sessions mislead);
  Fig. 2 (ablation) from ``--ablation``;
* Fig. 3 (projection panels), the response profile and the token view, from ``projection``;
* the case study (one task answered under single vectors, the merged vector and MRP), from
  ``interaction``'s ``texts.csv``;
* our own: geometry, layer x alpha heatmaps, interaction residuals, stability and the paired
  differences of ``python -m billy_interp.compare``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd

from billy_interp.core.layers import paper_layer_to_block
from billy_interp.figures.benchmark import plot_ablation, plot_efficiency, plot_method_scores, plot_paired_differences
from billy_interp.figures.frontier import FRONTIER_FIGURES
from billy_interp.figures.geometry import (
    plot_cosine_slider,
    plot_cosine_small_multiples,
    plot_layer_norms,
    plot_merge_part_cosines,
    plot_pca_map,
)
from billy_interp.figures.interaction import plot_interaction_projections, plot_interaction_residuals
from billy_interp.figures.output import save_figure
from billy_interp.figures.projection import plot_position_profile, plot_projection_panels
from billy_interp.figures.stability import plot_stability, plot_stability_curve
from billy_interp.figures.sweep import plot_sweep_heatmaps
from billy_interp.io import atomic_write, check_own_file, write_csv

__all__ = ["FiguresConfig", "table1", "efficiency_table", "frontier_table", "case_study", "build", "run_figures"]

README_STAMP = "Rebuilt by `python -m billy_interp.figures`"  # how a rebuild knows the folder is its own
INDEX_FILE = "index.csv"  # what README.md shows, kept for the next rebuild
INDEX_COLUMNS = ["name", "what", "files", "source"]


@dataclass(frozen=True)
class FiguresConfig:
    """Rebuild the paper's tables and figures, and ours, from run directories."""

    benchmark_dir: str = field(default="runs/benchmark/main", metadata={"help": "benchmark run (Table 1, efficiency)"})
    efficiency_dir: str = field(
        default="runs/benchmark/timing",
        metadata={
            "help": "benchmark run for the efficiency table, made on an idle machine (if absent: benchmark_dir's)"
        },
    )
    ablation_dir: str = field(default="runs/benchmark/ablation", metadata={"help": "benchmark --ablation run (Fig. 2)"})
    projection_dir: str = field(default="runs/projection", metadata={"help": "projection run (Fig. 3)"})
    interaction_dir: str = field(default="runs/interaction", metadata={"help": "interaction run (and case study)"})
    sweep_dir: str = field(default="runs/layer_sweep", metadata={"help": "layer_sweep run"})
    geometry_dir: str = field(default="runs/geometry", metadata={"help": "geometry run"})
    stability_dir: str = field(default="runs/stability", metadata={"help": "stability run"})
    stability_curve_dir: str = field(default="runs/stability_curve", metadata={"help": "stability_curve run"})
    compare_dir: str = field(default="runs/compare", metadata={"help": "compare run (paired differences)"})
    frontier_dir: str = field(default="runs/frontier", metadata={"help": "frontier run (creativity vs coherence)"})
    out: str = field(default="figures", metadata={"help": "output directory"})
    strict: bool = field(default=False, metadata={"help": "fail when a run directory is missing"})


def _ci(row: pd.Series) -> str:
    return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


TABLE1_METRICS = ("originality", "guarded_originality", "appropriateness", "readability", "elaboration")


def table1(summary: pd.DataFrame, metrics: Sequence[str] = TABLE1_METRICS) -> pd.DataFrame:
    """Task x method rows, one 'mean [95% CI]' column per metric the summary has, and n: the
    proxy originality with the guarded originality, appropriateness and readability beside it."""
    metrics = [m for m in metrics if m in set(summary["metric"])] or list(metrics)
    sub = summary[summary["metric"].isin(metrics)].copy()
    if sub.empty:
        raise ValueError(f"summary has no rows for {list(metrics)}")
    sub["cell"] = sub.apply(_ci, axis=1)
    wide = sub.pivot_table(index=["task", "method"], columns="metric", values="cell", aggfunc="first")
    wide["n"] = sub[sub["metric"] == metrics[0]].groupby(["task", "method"])["n"].max()
    return wide.reset_index()[["task", "method", "n", *[m for m in metrics if m in wide.columns]]]


def efficiency_table(efficiency: pd.DataFrame) -> pd.DataFrame:
    """Per-query seconds, tokens, passes and cost, with ratios to BILLY where it ran (per task
    when the table has a ``task`` column)."""
    columns = [
        c
        for c in (
            "task",
            "method",
            "n",
            "seconds",
            "input_tokens",
            "output_tokens",
            "forward_passes",
            "calls",
            "cost_usd",
            "seconds_vs_billy",
            "input_tokens_vs_billy",
            "output_tokens_vs_billy",
        )
        if c in efficiency.columns
    ]
    return efficiency[columns].round(4)


def frontier_table(matched: pd.DataFrame) -> pd.DataFrame:
    """The matched-coherence table for guarded originality at matched perplexity, pooled first."""
    sub = matched[(matched["metric"] == "guarded_originality") & (matched["coherence"] == "perplexity")].copy()
    sub["difference (95% CI)"] = [f"{r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]" for r in sub.itertuples()]
    sub["rank"] = (sub["task"] != "all").astype(int)
    sub = sub.sort_values(["rank", "task", "steering", "temperature", "level"], kind="stable")
    columns = ["task", "steering", "temperature", "level", "n", "steering_value", "temperature_value"]
    return sub[[*columns, "difference (95% CI)", "p", "covered"]].round(3).reset_index(drop=True)


def case_study(texts: pd.DataFrame, question: str | None = None, alpha: float | None = None) -> pd.DataFrame:
    """One task's answers under base, MRP prompting, each single vector and the merged vector."""
    question = question or texts["question"].iloc[0]
    steered = texts[texts["alpha"] > 0]
    alpha = alpha if alpha is not None else float(steered["alpha"].min()) if not steered.empty else 0.0
    chosen = texts[(texts["question"] == question) & ((texts["alpha"] == alpha) | (texts["alpha"] == 0))]
    if chosen.empty:
        raise ValueError(f"no answers for {question!r} at alpha {alpha}")
    return chosen[["condition", "alpha", "text"]].reset_index(drop=True).assign(question=question)


def _made_by(run: Path) -> str:
    command = run / "command.txt"
    return (command.read_text().strip() if command.exists() else f"run {run}") + f"  [{run}]"


def _markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False) + "\n"


def build(config: FiguresConfig) -> pd.DataFrame:
    """Write every figure and table whose run exists; return the index (name, file, source) of what
    was built. ``README.md`` and ``index.csv`` also keep earlier entries whose run is not here but
    whose files still are."""
    out = Path(config.out)
    _check_own_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "README.md").exists():  # claims the folder first, so a build killed part-way can be rerun here
        atomic_write(
            out / "README.md", lambda tmp: tmp.write_text(f"# Figures and tables\n\n{README_STAMP}: in progress.\n")
        )
    index: list[dict] = []
    missing: list[str] = []

    def emit(name: str, run: Path, make: Callable[[], object], what: str) -> None:
        made_by = _made_by(run)
        result = make()
        if isinstance(result, pd.DataFrame):
            write_csv(result, out / f"{name}.csv")
            atomic_write(out / f"{name}.md", lambda tmp: tmp.write_text(f"<!-- {made_by} -->\n" + _markdown(result)))
            files = [out / f"{name}.md", out / f"{name}.csv"]
        else:
            files = save_figure(result, out / name, made_by, plotlyjs="directory")
        index.append({"name": name, "what": what, "files": ", ".join(p.name for p in files), "source": made_by})

    def run_dir(path: str, needed: str) -> Path | None:
        run = Path(path)
        if not (run / needed).exists():
            missing.append(f"{run / needed}")
            return None
        return run

    if run := run_dir(config.benchmark_dir, "summary.csv"):
        summary = pd.read_csv(run / "summary.csv")
        emit(
            "table1",
            run,
            lambda: table1(summary),
            "Table 1: originality (proxy and guarded), on-task and readable shares, elaboration",
        )
        emit("table1_bars", run, lambda: plot_method_scores(summary), "Table 1 as bars with 95% CIs")
        timing = Path(config.efficiency_dir)
        timing = timing if (timing / "efficiency.csv").exists() else run
        eff = pd.read_csv(timing / "efficiency.csv")
        emit("efficiency", timing, lambda: efficiency_table(eff), "efficiency table (per query)")
        emit("efficiency_bars", timing, lambda: plot_efficiency(eff), "efficiency, log scale")
        if (run / "efficiency_by_task.csv").exists():
            by_task = pd.read_csv(run / "efficiency_by_task.csv")
            emit("efficiency_by_task", run, lambda: efficiency_table(by_task), "efficiency table per task (per query)")
    if run := run_dir(config.compare_dir, "comparison.csv"):
        comparison = pd.read_csv(run / "comparison.csv")
        emit(
            "paired_differences",
            run,
            lambda: plot_paired_differences(comparison),
            "paired originality differences, BILLY vs each method",
        )
    if run := run_dir(config.ablation_dir, "summary.csv"):
        summary = pd.read_csv(run / "summary.csv")
        emit("fig2_ablation", run, lambda: plot_ablation(summary), "Fig. 2: originality vs merged personas")
    if run := run_dir(config.projection_dir, "projection_summary.csv"):
        proj = pd.read_csv(run / "projection_summary.csv")
        overall = proj[proj["kind"] == "all"]
        emit(
            "fig3_projection", run, lambda: plot_projection_panels(overall), "Fig. 3: prompting vs steering projections"
        )
        if (run / "position_profile.csv").exists():
            profile = pd.read_csv(run / "position_profile.csv")
            directions = list(dict.fromkeys(overall["direction"]))
            emit(
                "projection_profile",
                run,
                lambda: plot_position_profile(profile, directions),
                "per-token projection through the response",
            )
        if (run / "figures" / "token_view.html").exists():
            shutil.copyfile(run / "figures" / "token_view.html", out / "token_view.html")
            index.append(
                {
                    "name": "token_view",
                    "what": "circuitsvis per-token projections",
                    "files": "token_view.html",
                    "source": _made_by(run),
                }
            )
    if run := run_dir(config.interaction_dir, "interaction.csv"):
        table = pd.read_csv(run / "interaction.csv")
        emit("interaction_residuals", run, lambda: plot_interaction_residuals(table), "interaction residual vs layer")
        alphas = sorted(table["alpha"].unique())
        emit(
            "interaction_projections",
            run,
            lambda: plot_interaction_projections(table, alphas[0], table["position"].iloc[0]),
            "merged vs linear vs single effects along persona directions",
        )
        if (run / "texts.csv").exists():
            texts = pd.read_csv(run / "texts.csv")
            emit("case_study", run, lambda: case_study(texts), "case study: single vectors vs merged vs MRP")
    if run := run_dir(config.sweep_dir, "aggregate.csv"):
        agg = pd.read_csv(run / "aggregate.csv")
        wanted = ("guarded_originality", "perplexity", "appropriateness", "readability", "distinct_2", "trait_mean")
        metrics = [m for m in wanted if m in agg]
        best = json.loads((run / "recommended.json").read_text()) if (run / "recommended.json").exists() else {}
        emit(
            "sweep_heatmaps",
            run,
            lambda: plot_sweep_heatmaps(agg, metrics, "layer x alpha sweep", mark=best.get("cell")),
            "layer x alpha heatmaps (star: the recommended cell)",
        )
    if run := run_dir(config.frontier_dir, "points.csv"):
        points = pd.read_csv(run / "points.csv")
        for name, (what, draw) in FRONTIER_FIGURES.items():
            emit(name, run, partial(draw, points), what)
        matched = pd.read_csv(run / "matched.csv")
        emit(
            "frontier_matched", run, lambda: frontier_table(matched), "steering minus temperature at matched coherence"
        )
    if run := run_dir(config.geometry_dir, "cosines.csv"):
        cos, norms = pd.read_csv(run / "cosines.csv"), pd.read_csv(run / "norms.csv")
        parts, pca = pd.read_csv(run / "merge_parts.csv"), pd.read_csv(run / "pca.csv")
        blocks = sorted(int(b) for b in cos["block"].unique())
        picks = sorted({blocks[1], blocks[len(blocks) // 3], blocks[2 * len(blocks) // 3], blocks[-2]})
        h = norms.groupby("block")["h_norm"].first() if "h_norm" in norms else None
        emit("geometry_cosine_slider", run, lambda: plot_cosine_slider(cos), "cosine matrix with a layer slider")
        emit(
            "geometry_small_multiples",
            run,
            lambda: plot_cosine_small_multiples(cos, picks),
            "cosines at selected layers",
        )
        emit(
            "geometry_norms",
            run,
            lambda: plot_layer_norms(norms[["persona", "block", "norm"]], h),
            "vector norms by layer",
        )
        emit("geometry_merge_parts", run, lambda: plot_merge_part_cosines(parts), "merged vector vs its parts")
        emit("geometry_pca", run, lambda: plot_pca_map(pca, int(pca["block"].iloc[0])), "PCA map of persona vectors")
    if run := run_dir(config.stability_dir, "stability.csv"):
        stab = pd.read_csv(run / "stability.csv")
        emit("stability", run, lambda: plot_stability(stab), "stability across seeds")
    if run := run_dir(config.stability_curve_dir, "curve.csv"):
        curve = pd.read_csv(run / "curve.csv")
        emit(
            "stability_curve",
            run,
            lambda: plot_stability_curve(curve, [paper_layer_to_block(20), paper_layer_to_block(2)], 0.9),
            "seed cosine and held-out AUC against samples per prompt",
        )
    if missing and config.strict:
        raise FileNotFoundError("missing runs: " + ", ".join(missing))
    built = pd.DataFrame(index, columns=INDEX_COLUMNS)
    earlier = pd.read_csv(out / INDEX_FILE) if (out / INDEX_FILE).exists() else pd.DataFrame(columns=INDEX_COLUMNS)
    kept = _kept_from_earlier_build(earlier, out, set(built["name"]))
    frame = _in_earlier_order(pd.concat([built, kept], ignore_index=True), earlier)
    write_csv(frame, out / INDEX_FILE)
    note = "".join(f"- not built, run missing: `{m}`\n" for m in missing)
    if not kept.empty:
        note += (
            "- kept from an earlier build (their runs are not here): "
            + ", ".join(f"`{n}`" for n in kept["name"])
            + "\n"
        )
    atomic_write(
        out / "README.md",
        lambda tmp: tmp.write_text(
            f"# Figures and tables\n\n{README_STAMP} from the runs named below.\n\n"
            + (_markdown(frame) if not frame.empty else "(nothing built)\n")
            + ("\n" + note if note else "")
        ),
    )
    built.attrs["missing"] = missing  # what run_figures reports
    return built


def _check_own_folder(out: Path) -> None:
    """``--out`` is new, empty or an earlier build (its README is ours): never a folder of someone's files."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out: {out} is a file; give a folder for the figures")
    if out.is_dir() and any(out.iterdir()):
        check_own_file(out / "README.md", README_STAMP)
        if not (out / "README.md").exists():
            raise FileExistsError(f"--out: {out} holds files and no figures index (README.md); choose another folder")


def _kept_from_earlier_build(earlier: pd.DataFrame, out: Path, rebuilt: set[str]) -> pd.DataFrame:
    """Index rows of figures not rebuilt now whose files are all still in ``out``: a rebuild from a
    machine that holds only some of the runs must not drop the others from the index."""
    on_disk = earlier["files"].map(lambda files: all((out / f.strip()).exists() for f in str(files).split(",")))
    return earlier[~earlier["name"].isin(rebuilt) & on_disk]


def _in_earlier_order(frame: pd.DataFrame, earlier: pd.DataFrame) -> pd.DataFrame:
    """The earlier index's order; a new entry goes right after the entry built before it."""
    order = {name: float(i) for i, name in enumerate(earlier["name"])}
    ranks, previous = [], -1.0
    for name in frame["name"]:
        previous = order.get(name, previous + 1e-3)
        ranks.append(previous)
    return frame.iloc[pd.Series(ranks).argsort(kind="stable")].reset_index(drop=True)


def run_figures(config: FiguresConfig) -> pd.DataFrame:
    """The figures job: :func:`build`, then say where the index went."""
    frame = build(config)
    print(f"{len(frame)} figures and tables in {config.out}/ (index: {Path(config.out) / 'README.md'})")
    missing = frame.attrs.get("missing", [])
    if missing:  # a mistyped --X-dir must not pass for "nothing to build"
        print(f"{len(missing)} runs not found, first {missing[0]} (all listed in the index; --strict fails on them)")
    return frame
