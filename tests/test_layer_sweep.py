import json

import pandas as pd
import pytest

from billy_interp.analysis.sweep import explain, recommend
from billy_interp.jobs import layer_sweep
from tests.conftest import job_main

_run = job_main(layer_sweep.SweepConfig, layer_sweep.run_layer_sweep)


def _argv(tiny_model_dir, tiny_vectors, out, *extra):
    return [
        "--model",
        str(tiny_model_dir),
        "--vectors-dir",
        str(tiny_vectors),
        "--layers",
        "1,2",
        "--alphas",
        "0,4,16",
        "--n-prompts",
        "2",
        "--max-new-tokens",
        "4",
        "--cells-per-chunk",
        "2",
        "--out",
        str(out),
        *extra,
    ]


def test_sweep_outputs(tiny_model_dir, tiny_vectors, tmp_path):
    out = tmp_path / "sweep"
    aggregate = _run(_argv(tiny_model_dir, tiny_vectors, out))
    assert len(aggregate) == 6 and set(aggregate["paper_layer"]) == {1, 2}
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 12
    for column in (
        "perplexity",
        "distinct_2",
        "originality",
        "guarded_originality",
        "appropriateness",
        "readability",
        "trait:futurist",
        "projection:futurist",
        "relative_alpha",
        "trait_mean",
    ):
        assert column in results.columns, column
    assert (results.loc[results["alpha"] == 0, "projection:futurist"].abs() < 1e-9).all()
    assert (results.loc[results["alpha"] == 16, "projection:futurist"].abs() > 0).any()
    best = json.loads((out / "recommended.json").read_text())
    assert "unsteered_perplexity" in best
    strength = pd.read_csv(out / "strength.csv")
    assert list(strength["paper_layer"]) == [1, 2] and (strength["h_norm"] > 0).all()
    assert {"v_norm", "sink_norm", "sink_positions", "scale"} <= set(strength.columns)
    assert (out / "figures" / "heatmaps.html").is_file()
    assert "layer_sweep" in (out / "command.txt").read_text()


def test_killed_sweep_resumes_without_losing_cells(tiny_model_dir, tiny_vectors, tmp_path, monkeypatch):
    reference = _run(_argv(tiny_model_dir, tiny_vectors, tmp_path / "ref"))
    real = layer_sweep.run_grid
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(layer_sweep, "run_grid", dying)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _run(_argv(tiny_model_dir, tiny_vectors, out))
    finished = (out / "cells.jsonl").read_text().splitlines()
    assert len(finished) == 2  # the first chunk of two cells survived the kill
    monkeypatch.setattr(layer_sweep, "run_grid", real)
    resumed = _run(_argv(tiny_model_dir, tiny_vectors, out))
    assert (out / "cells.jsonl").read_text().splitlines()[:2] == finished
    pd.testing.assert_frame_equal(
        resumed.sort_values(["block", "alpha"]).reset_index(drop=True),
        reference.sort_values(["block", "alpha"]).reset_index(drop=True),
    )


def test_relative_alphas_and_bad_layers(tiny_model_dir, tiny_vectors, tmp_path):
    agg = _run(_argv(tiny_model_dir, tiny_vectors, tmp_path / "rel", "--relative"))
    steered = agg[agg["alpha"] != 0]
    assert set(steered["relative_alpha"].round(6)) == {4.0, 16.0}
    with pytest.raises(ValueError, match="--layers: paper layer 9 is out of range"):
        _run(
            _argv(tiny_model_dir, tiny_vectors, tmp_path / "bad")[:4]
            + ["--layers", "9", "--out", str(tmp_path / "bad")]
        )


def test_bad_grids_are_refused_before_any_model_loads():
    with pytest.raises(ValueError, match="--layers: 'x' is not an integer"):
        layer_sweep.SweepConfig(layers="10,x")
    with pytest.raises(ValueError, match="--alphas: 'abc' is not a number"):
        layer_sweep.SweepConfig(alphas="0,abc")
    with pytest.raises(ValueError, match="include 0"):
        layer_sweep.SweepConfig(alphas="4,8")
    with pytest.raises(ValueError, match="--recipe: weight 'abc' of 'futurist' is not a number"):
        layer_sweep.SweepConfig(recipe="futurist:abc")


def test_recommend_needs_both_coherence_checks():
    agg = pd.DataFrame(
        {
            "alpha": [0, 4, 8, 16],
            "perplexity": [10.0, 12.0, 40.0, 11.0],
            "distinct_2": [0.95, 0.9, 0.9, 0.06],
            "trait_mean": [0.1, 0.2, 0.5, 0.9],
            "block": [1] * 4,
            "paper_layer": [2] * 4,
            "relative_alpha": [0, 0.1, 0.2, 0.4],
        }
    )
    trait = {"objective": "trait_mean"}
    best = recommend(agg, 1.5, **trait)  # alpha 16 is degenerate repetition with low perplexity
    assert best["cell"]["alpha"] == 4 and best["trait_gain"] == pytest.approx(0.1)
    assert best["rejected"] == {"perplexity": 1, "distinct_2": 1, "gain": 0}
    assert recommend(agg, 1.1, **trait)["cell"] is None
    assert recommend(agg, 1.5, distinct_tolerance=1.0, **trait)["cell"]["alpha"] == 16


def test_recommend_refuses_cells_that_leave_the_task():
    agg = pd.DataFrame(
        {
            "alpha": [0, 4, 8],
            "perplexity": [10.0, 11.0, 11.0],
            "distinct_2": [0.9, 0.9, 0.9],
            "trait_mean": [0.1, 0.2, 0.6],  # alpha 8 talks about the persona, not the task
            "appropriateness": [0.9, 0.85, 0.3],
            "block": [1] * 3,
            "paper_layer": [2] * 3,
            "relative_alpha": [0, 0.1, 0.2],
        }
    )
    best = recommend(agg, 1.5, objective="trait_mean")
    assert best["cell"]["alpha"] == 4 and best["unsteered_appropriateness"] == pytest.approx(0.9)
    assert recommend(agg, 1.5, appropriateness_tolerance=1.0, objective="trait_mean")["cell"]["alpha"] == 8


def _guarded_grid(**columns):
    base = {
        "alpha": [0, 4, 8, 16, 32],
        "perplexity": [10.0, 11.0, 12.0, 11.0, 60.0],
        "distinct_2": [0.9, 0.9, 0.9, 0.9, 0.9],
        "appropriateness": [0.9, 0.9, 0.9, 0.9, 0.9],
        "readability": [1.0, 1.0, 1.0, 1.0, 1.0],
        "guarded_originality": [0.50, 0.55, 0.60, 0.70, 0.90],
        "trait_mean": [0.1, 0.2, 0.3, 0.4, 0.5],
        "block": [1] * 5,
        "paper_layer": [2] * 5,
        "relative_alpha": [0, 0.1, 0.2, 0.4, 0.8],
    }
    return pd.DataFrame(base | columns)


def test_the_guarded_recommender_never_picks_a_degenerate_or_off_topic_cell():
    # alpha 32 is incoherent (perplexity 6x); alpha 16 repeats itself (distinct-2) in one grid,
    # leaves the task in another, turns unreadable in a third: each time alpha 8 is chosen
    assert recommend(_guarded_grid(), 1.5)["cell"]["alpha"] == 16
    for column, bad in (("distinct_2", 0.2), ("appropriateness", 0.3), ("readability", 0.4)):
        values = list(_guarded_grid()[column])
        values[3] = bad
        best = recommend(_guarded_grid(**{column: values}), 1.5)
        assert best["cell"]["alpha"] == 8 and best["gain"] == pytest.approx(0.10), column
        assert best["rejected"][column] == 1 and best["rejected"]["perplexity"] == 1
        assert "highest guarded_originality" in explain(best) and "paper layer 2" in explain(best)


def test_the_recommender_recommends_nothing_that_does_not_beat_the_unsteered_model():
    grid = _guarded_grid(guarded_originality=[0.5, 0.4, 0.45, 0.3, 0.9])
    best = recommend(grid, 1.5)
    assert best["cell"] is None and "no steered cell beats the unsteered guarded_originality" in best["reason"]
    assert best["rejected"]["gain"] == 3
    assert explain(best).startswith("no recommended cell")
    assert recommend(grid, 1.5, objective="trait_mean")["cell"]["alpha"] == 16
    with pytest.raises(ValueError, match="objective must be one of"):
        recommend(grid, 1.5, objective="fluency")
