from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from billy_interp import figures
from billy_interp.figures.build import FiguresConfig, build, case_study, efficiency_table, run_figures, table1


def _summary():
    rows = []
    for task in ("aut", "instances"):
        for method in ("sa", "billy", "billy_k1", "billy_k2"):
            for metric in ("originality", "elaboration"):
                rows.append(
                    {
                        "task": task,
                        "method": method,
                        "metric": metric,
                        "n": 3,
                        "mean": 0.5,
                        "std": 0.1,
                        "ci_low": 0.4,
                        "ci_high": 0.6,
                        "scorer": "offline proxy",
                    }
                )
    return pd.DataFrame(rows)


def _cosines():
    rows = []
    for block in range(3):
        for a in ("x", "y"):
            for b in ("x", "y"):
                rows.append(
                    {
                        "block": block,
                        "paper_layer": block + 1,
                        "persona_a": a,
                        "persona_b": b,
                        "cosine": 1.0 if a == b else 0.1 * block,
                    }
                )
    return pd.DataFrame(rows)


def test_every_figure_function_returns_a_figure_from_a_small_table():
    cos = _cosines()
    norms = pd.DataFrame({"persona": ["x", "x", "y", "y"], "block": [0, 1, 0, 1], "norm": [1.0, 2.0, 1.5, 2.5]})
    parts = pd.DataFrame({"block": [0, 1], "part": ["x", "x"], "method": "mean", "cosine": [0.9, 0.8]})
    pca = pd.DataFrame(
        {"persona": ["x", "y"], "pc1": [1.0, -1.0], "pc2": [0.0, 0.0], "explained_1": 1.0, "explained_2": 0.0}
    )
    stability = pd.DataFrame(
        {
            "persona": "x",
            "block": [0, 1],
            "paper_layer": [1, 2],
            "measure": "seed_cosine",
            "value": [0.9, 0.95],
            "ci_low": [0.85, 0.9],
            "ci_high": [0.95, 0.99],
        }
    )
    inter = pd.DataFrame(
        {
            "alpha": 2.0,
            "block": [0, 1, 0, 1],
            "position": "last",
            "quantity": ["interaction_residual"] * 2 + ["projection:merged"] * 2,
            "direction": ["", "", "x", "x"],
            "value": [0.1, 0.2, 1.0, 1.1],
            "sem": 0.01,
        }
    )
    proj = pd.DataFrame(
        {
            "condition": ["Base", "Base", "BILLY", "BILLY"],
            "direction": "x",
            "block": [0, 1, 0, 1],
            "paper_layer": [1, 2, 1, 2],
            "mean": [0.1, 0.2, 2.0, 1.5],
            "ci_low": 0.0,
            "ci_high": 2.5,
        }
    )
    profile = pd.DataFrame(
        {"condition": "c", "direction": "x", "relative_position": [0.25, 0.75], "mean": [0.1, 0.2], "sem": 0.01}
    )
    agg = pd.DataFrame({"paper_layer": [1, 1, 2, 2], "alpha": [0, 4, 0, 4], "trait_mean": [0.0, 0.1, 0.0, 0.2]})
    eff = pd.DataFrame(
        {"method": ["sa", "billy"], "seconds": [1.0, 2.0], "input_tokens": [10, 12], "output_tokens": [100, 90]}
    )
    paired = pd.DataFrame(
        {
            "a": "runs/main:billy",
            "b": ["runs/main:sa", "runs/matched:sa_t1"],
            "task": "aut",
            "metric": "originality",
            "n": 12,
            "mean_a": 0.8,
            "mean_b": [0.5, 0.8],
            "difference": [0.3, 0.0],
            "ci_low": [0.2, -0.1],
            "ci_high": [0.4, 0.1],
            "p": [0.01, 0.9],
        }
    )
    made = [
        figures.plot_cosine_matrix(cos, 1),
        figures.plot_cosine_slider(cos),
        figures.plot_cosine_small_multiples(cos, [0, 2]),
        figures.plot_layer_norms(norms, pd.Series([10.0, 20.0], index=[0, 1])),
        figures.plot_merge_part_cosines(parts),
        figures.plot_pca_map(pca, 1),
        figures.plot_stability(stability),
        figures.plot_interaction_residuals(inter),
        figures.plot_interaction_projections(inter, 2.0),
        figures.plot_projection_panels(proj),
        figures.plot_position_profile(profile),
        figures.plot_sweep_heatmaps(agg, ["trait_mean"]),
        figures.plot_method_scores(_summary()),
        figures.plot_efficiency(eff),
        figures.plot_ablation(_summary()),
        figures.plot_paired_differences(paired),
    ]
    assert all(isinstance(f, go.Figure) and len(f.data) > 0 for f in made)
    slider = made[1]
    assert len(slider.frames) == 3 and slider.layout.sliders[0].steps[2].label == "3"


def test_figure_functions_name_missing_data():
    with pytest.raises(ValueError, match="no cosines at block 7"):
        figures.plot_cosine_matrix(_cosines(), 7)
    with pytest.raises(ValueError, match="--ablation"):
        figures.plot_ablation(_summary().assign(method="sa"))
    with pytest.raises(ValueError, match="no columns"):
        figures.plot_sweep_heatmaps(pd.DataFrame({"paper_layer": [1], "alpha": [0]}), ["trait_mean"])
    with pytest.raises(ValueError, match="no rows for metric 'fluency'"):
        figures.plot_paired_differences(pd.DataFrame({"metric": ["originality"]}), "fluency")


def test_save_figure_writes_html_and_stamps_the_command(tmp_path):
    fig = figures.plot_cosine_matrix(_cosines(), 0)
    written = figures.save_figure(fig, tmp_path / "f" / "cos", made_by="python -m x --y", plotlyjs="directory")
    html = (tmp_path / "f" / "cos.html").read_text()
    assert written[0].name == "cos.html" and "python -m x --y" in html
    assert (tmp_path / "f" / "plotly.min.js").stat().st_size > 1_000_000 and len(html) < 200_000
    assert not list((tmp_path / "f").glob("*.tmp"))


def test_a_png_that_cannot_be_rendered_again_is_removed_not_left_stale(tmp_path, monkeypatch):
    fig = figures.plot_cosine_matrix(_cosines(), 0)
    (tmp_path / "cos.png").write_bytes(b"an earlier build's image")

    def no_renderer(*args, **kwargs):
        raise RuntimeError("no Chromium")

    monkeypatch.setattr(type(fig), "to_image", no_renderer)
    written = figures.save_figure(fig, tmp_path / "cos")
    assert [p.name for p in written] == ["cos.html"] and not (tmp_path / "cos.png").exists()


def test_a_missing_png_renderer_is_reported_in_one_line(tmp_path, monkeypatch, capsys):
    fig = figures.plot_cosine_matrix(_cosines(), 0)

    def no_renderer(*args, **kwargs):
        raise RuntimeError("Kaleido requires Google Chrome to be installed.\n\nEither download and install Chrome")

    monkeypatch.setattr(type(fig), "to_image", no_renderer)
    figures.save_figure(fig, tmp_path / "cos")
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and printed.startswith("PNG skipped for cos (HTML written): no PNG renderer")
    assert "kaleido found no Chromium; `make png-setup` installs it" in printed


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "\nImage export requires the Kaleido package, v1.0.0 or greater,\nwhich can be installed using pip:\n\n"
            '    $ pip install --upgrade "kaleido>=1"\n',  # plotly 6's own words
            "kaleido is not installed; `make png-setup` installs it and Chromium",
        ),
        ("x" * 30 + " " + "y" * 200, "x" * 30 + " ..."),
        ("The figure is odd. More detail follows", "The figure is odd"),
    ],
)
def test_the_png_reason_is_short_and_names_the_fix(tmp_path, monkeypatch, capsys, message, reason):
    fig = figures.plot_cosine_matrix(_cosines(), 0)

    def no_renderer(*args, **kwargs):
        raise ValueError(message)

    monkeypatch.setattr(type(fig), "to_image", no_renderer)
    figures.save_figure(fig, tmp_path / "cos")
    assert capsys.readouterr().out == f"PNG skipped for cos (HTML written): no PNG renderer here ({reason})\n"


def test_sweep_heatmaps_have_colour_bars_a_log_perplexity_scale_and_the_recommended_cell():
    agg = pd.DataFrame(
        {
            "paper_layer": [1, 1, 2, 2],
            "alpha": [0.0, 4.0, 0.0, 4.0],
            "perplexity": [2.0, 40.0, 2.0, 400.0],
            "guarded_originality": [0.5, 0.6, 0.5, 0.1],
        }
    )
    fig = figures.plot_sweep_heatmaps(agg, ["guarded_originality", "perplexity"], mark={"paper_layer": 1, "alpha": 4})
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert all(t.colorbar.x is not None and t.showscale is not False for t in heatmaps)
    assert heatmaps[0].colorbar.x < heatmaps[1].colorbar.x  # each beside its own panel
    perplexity = heatmaps[1]
    assert list(perplexity.colorbar.ticktext) == ["2", "5", "10", "20", "50", "100", "200"]
    assert perplexity.z[1][1] == pytest.approx(np.log10(400.0)) and perplexity.customdata[1][1] == 400.0
    stars = [t for t in fig.data if t.type == "scatter"]
    assert len(stars) == 2 and stars[0].x == ("4",) and stars[0].y == (1,)


def test_tables_from_small_runs():
    t1 = table1(_summary())
    assert list(t1.columns) == ["task", "method", "n", "originality", "elaboration"]
    assert t1["originality"].iloc[0] == "0.500 [0.400, 0.600]"
    eff = efficiency_table(pd.DataFrame({"method": ["billy"], "n": [2], "seconds": [1.23456], "input_tokens": [3.0]}))
    assert eff["seconds"].iloc[0] == 1.2346
    texts = pd.DataFrame(
        {
            "condition": ["base", "merged", "merged", "mrp_prompt"],
            "alpha": [0, 2, 8, 0],
            "question": "q",
            "text": ["a", "b", "c", "d"],
        }
    )
    assert list(case_study(texts)["condition"]) == ["base", "merged", "mrp_prompt"]


def _benchmark_run(run: Path, seconds=(1.0, 2.0), command="python -m billy_interp.benchmark --n 2") -> Path:
    """A benchmark run directory with the tables the figures read."""
    run.mkdir()
    _summary().to_csv(run / "summary.csv", index=False)
    pd.DataFrame(
        {"method": ["sa", "billy"], "n": 2, "seconds": list(seconds), "input_tokens": [1, 2], "output_tokens": [3, 4]}
    ).to_csv(run / "efficiency.csv", index=False)
    (run / "command.txt").write_text(command + "\n")
    return run


def test_build_rebuilds_from_run_dirs_and_lists_missing_ones(tmp_path):
    bench = _benchmark_run(tmp_path / "bench")
    absent = str(tmp_path / "absent")
    config = FiguresConfig(
        benchmark_dir=str(bench),
        ablation_dir=str(bench),
        efficiency_dir=absent,
        projection_dir=absent,
        interaction_dir=absent,
        sweep_dir=absent,
        geometry_dir=absent,
        stability_dir=absent,
        stability_curve_dir=absent,
        compare_dir=absent,
        frontier_dir=absent,
        out=str(tmp_path / "figs"),
    )
    index = build(config)
    assert {"table1", "table1_bars", "efficiency", "efficiency_bars", "fig2_ablation"} == set(index["name"])
    readme = (tmp_path / "figs" / "README.md").read_text()
    assert "python -m billy_interp.benchmark --n 2" in readme and "run missing" in readme
    assert "python -m billy_interp.benchmark --n 2" in (tmp_path / "figs" / "table1.md").read_text()
    with pytest.raises(FileNotFoundError, match="absent"):
        build(FiguresConfig(**{**config.__dict__, "strict": True}))
    # With a separate timing run, the efficiency table comes from it and says so.
    timing = _benchmark_run(tmp_path / "timing", (7.0, 9.0), "python -m billy_interp.benchmark --out timing")
    build(FiguresConfig(**{**config.__dict__, "efficiency_dir": str(timing)}))
    assert list(pd.read_csv(tmp_path / "figs" / "efficiency.csv")["seconds"]) == [7.0, 9.0]
    assert "--out timing" in (tmp_path / "figs" / "efficiency.md").read_text()


def test_a_rebuild_without_some_runs_keeps_their_figures_in_the_index(tmp_path):
    bench = _benchmark_run(tmp_path / "bench")
    absent = str(tmp_path / "absent")
    figs = tmp_path / "figs"
    dirs = dict(
        efficiency_dir=absent,
        projection_dir=absent,
        interaction_dir=absent,
        sweep_dir=absent,
        geometry_dir=absent,
        stability_dir=absent,
        stability_curve_dir=absent,
        compare_dir=absent,
        frontier_dir=absent,
        out=str(figs),
    )
    build(FiguresConfig(benchmark_dir=str(bench), ablation_dir=str(bench), **dirs))
    # Next rebuild: the ablation run is gone, the benchmark run is still here.
    built = build(FiguresConfig(benchmark_dir=str(bench), ablation_dir=absent, **dirs))
    assert "fig2_ablation" not in set(built["name"])
    index = pd.read_csv(figs / "index.csv")
    assert list(index["name"]) == ["table1", "table1_bars", "efficiency", "efficiency_bars", "fig2_ablation"]
    readme = (figs / "README.md").read_text()
    assert (
        "fig2_ablation.html" in readme
        and "kept from an earlier build (their runs are not here): `fig2_ablation`" in readme
    )
    # A kept figure whose files are gone drops out of the index.
    (figs / "fig2_ablation.html").unlink()
    build(FiguresConfig(benchmark_dir=str(bench), ablation_dir=absent, **dirs))
    assert "fig2_ablation" not in set(pd.read_csv(figs / "index.csv")["name"])


def test_the_command_says_how_many_runs_it_did_not_find(tmp_path, capsys):
    absent = str(tmp_path / "absent")
    names = [f.name for f in fields(FiguresConfig) if f.name.endswith("_dir")]
    run_figures(FiguresConfig(out=str(tmp_path / "figs"), **{name: absent for name in names}))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("0 figures and tables in ")
    missing = [line for line in (tmp_path / "figs" / "README.md").read_text().splitlines() if "run missing" in line]
    assert len(missing) >= 8 and lines[1] == (
        f"{len(missing)} runs not found, first {absent}/summary.csv (all listed in the index; --strict fails on them)"
    )


def test_build_includes_the_stability_curve_from_its_run(tmp_path):
    run = tmp_path / "curve"
    run.mkdir()
    rows = [
        {
            "block": b,
            "paper_layer": b + 1,
            "persona": "futurist",
            "k": k,
            "pooling": "response_mean",
            "mean_cosine": 0.8 + 0.01 * k,
            "ci_low": 0.7,
            "ci_high": 0.9,
            "heldout_auc": 0.8,
        }
        for b in (1, 19)
        for k in (2, 4)
    ]
    pd.DataFrame(rows).to_csv(run / "curve.csv", index=False)
    (run / "command.txt").write_text("python -m billy_interp.stability_curve\n")
    absent = str(tmp_path / "absent")
    others = [f.name for f in fields(FiguresConfig) if f.name.endswith("_dir") and f.name != "stability_curve_dir"]
    index = build(FiguresConfig(**dict.fromkeys(others, absent), stability_curve_dir=str(run), out=str(tmp_path / "f")))
    assert list(index["name"]) == ["stability_curve"] and (tmp_path / "f" / "stability_curve.html").is_file()


def test_the_figures_never_write_into_a_folder_of_someone_elses_files(tmp_path):
    absent = str(tmp_path / "absent")
    dirs = {f.name: absent for f in fields(FiguresConfig) if f.name.endswith("_dir")}
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.csv").write_text("mine\n")
    with pytest.raises(FileExistsError, match="^--out: .* holds files and no figures index"):
        build(FiguresConfig(out=str(theirs), **dirs))
    (theirs / "README.md").write_text("# my project\n")
    with pytest.raises(FileExistsError, match="README.md exists and this command did not write it"):
        build(FiguresConfig(out=str(theirs), **dirs))
    assert sorted(p.name for p in theirs.iterdir()) == ["README.md", "notes.csv"]
    assert (theirs / "README.md").read_text() == "# my project\n"
    # A build of ours, even one killed after its first file, is rebuilt in place.
    ours = tmp_path / "ours"
    build(FiguresConfig(out=str(ours), **dirs))
    (ours / "table1.csv").write_text("left by a killed build\n")
    build(FiguresConfig(out=str(ours), **dirs))
    with pytest.raises(NotADirectoryError, match="^--out: .* is a file"):
        build(FiguresConfig(out=str(theirs / "notes.csv"), **dirs))
