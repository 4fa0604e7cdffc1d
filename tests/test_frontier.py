import json

import numpy as np
import pandas as pd
import pytest

from billy_interp.analysis.frontier import curve_points, level_value, matched_coherence
from billy_interp.figures import plot_frontier
from billy_interp.figures.frontier import FRONTIER_FIGURES
from billy_interp.jobs import frontier as job
from tests.conftest import job_main

_run = job_main(job.FrontierConfig, job.run_frontier)

# log-perplexity and creativity of each point; steering sits 0.1 above temperature's line
_TEMPERATURE = {"T0.5": (0.5, 0.6), "T0.7": (0.7, 0.8), "control": (1.0, 1.0), "T1.3": (1.3, 1.6)}
_STEERING = {"control": (0.0, 1.0), "a0.1": (0.1, 1.2), "a0.2": (0.2, 1.4), "a0.3": (0.3, 1.6)}


def _line(log_ppl: float) -> float:
    return 0.2 + 0.2 * (log_ppl - 0.6)


def _answers(n_items: int = 20, spread: float = 0.3) -> pd.DataFrame:
    """Two tasks; every item has its own large offset shared by all points (some items are easier)."""
    rng = np.random.default_rng(0)
    rows = []
    for task in ("aut", "scientific"):
        for i in range(n_items):
            offset = rng.normal(0, spread)
            for curve, points in (("temperature SA", _TEMPERATURE), ("steer L20 merged", _STEERING)):
                for point, (value, log_ppl) in points.items():
                    lift = 0.1 if curve.startswith("steer") and point != "control" else 0.0
                    rows.append(
                        {
                            "task": task,
                            "item_id": f"{task}-{i}",
                            "curve": curve,
                            "point": point,
                            "value": value,
                            "perplexity": float(np.exp(log_ppl)),
                            "guarded_originality": _line(log_ppl) + lift + offset,
                        }
                    )
    return pd.DataFrame(rows)


def test_level_value_reads_the_upper_envelope_and_nan_outside_the_curve():
    coherence, creativity = np.array([1.0, 2.0, 1.0]), np.array([0.0, 1.0, 0.5])
    assert level_value(coherence, creativity, 1.5) == pytest.approx(0.75)  # max of 0.5 and 0.75
    assert np.isnan(level_value(coherence, creativity, 2.5))
    assert level_value(np.array([3.0]), np.array([0.4]), 3.0) == pytest.approx(0.4)


def test_matched_coherence_pairs_items_so_their_spread_cancels():
    table = matched_coherence(_answers(), "steer L20 merged", "temperature SA", n_boot=300)
    assert set(table["task"]) == {"aut", "scientific", "all"}
    pooled = table[table["task"] == "all"]
    assert list(pooled["n"]) == [40, 40, 40]
    # quartiles of the shared log-perplexity range [1.0, 1.6]
    assert np.log(pooled["level"]).tolist() == pytest.approx([1.15, 1.3, 1.45])
    steer_at = {1.15: 0.28 + 0.14 * 0.75, 1.3: 0.44, 1.45: 0.47}  # read off the steering points
    for row in pooled.itertuples():
        level = round(float(np.log(row.level)), 2)
        expected = steer_at[level] - _line(level)
        assert row.difference == pytest.approx(expected, abs=1e-9)
        # the items differ by sd 0.3, but each is paired with itself: the CI has no width
        assert row.ci_high - row.ci_low < 1e-9 and row.covered == 1.0 and row.p < 0.01


def test_matched_coherence_uses_only_items_every_point_answered():
    answers = _answers(n_items=5)
    dropped = answers[~((answers["item_id"] == "aut-3") & (answers["point"] == "a0.2"))]
    table = matched_coherence(dropped, "steer L20 merged", "temperature SA", n_boot=50)
    assert table.set_index("task").loc["aut", "n"].tolist() == [4, 4, 4]
    with pytest.raises(ValueError, match="no answers on curve 'temperature MRP'"):
        matched_coherence(answers, "steer L20 merged", "temperature MRP")
    # a run in progress: SCIENTIFIC has no temperature answers yet, so it is left out, not an error
    partial = answers[~((answers["task"] == "scientific") & (answers["curve"] == "temperature SA"))]
    table = matched_coherence(partial, "steer L20 merged", "temperature SA", n_boot=50)
    assert set(table["task"]) == {"aut", "all"} and set(table["n"]) == {5}


def test_curve_points_summarise_perplexity_geometrically_and_draw():
    points = curve_points(_answers(), ["perplexity", "guarded_originality"], n_boot=100)
    control = points[(points["task"] == "all") & (points["point"] == "control") & (points["metric"] == "perplexity")]
    assert control["mean"].tolist() == pytest.approx([np.e, np.e])  # on both curves
    fig = plot_frontier(points)
    assert fig.layout.xaxis.type == "log" and len(fig.data) == 2 * 3  # two curves x (2 tasks + pooled)
    with pytest.raises(ValueError, match="no 'fluency' rows"):
        plot_frontier(points, "fluency")
    # the job's figure leaves out a metric no answer had (idea-less answers have no raw originality)
    _, draw = FRONTIER_FIGURES["frontier"]
    assert len(draw(points).data) == len(fig.data)


def test_plan_shares_one_control_between_every_curve():
    plan = job.plan_points(job.FrontierConfig(layers="20,8"), model_temperature=1.0)
    names = [p.point for p in plan]
    assert names.count("control") == 1 and "SA T1" not in names and "MRP T1" in names
    control = plan[0]
    assert set(control.curves) == {
        "steer L20 merged",
        "steer L20 creative_professional",
        "steer L8 merged",
        "steer L8 creative_professional",
        "temperature SA",
    }
    assert len(plan) == 1 + 4 * 5 + 4 + 5


def test_bad_settings_are_refused_before_any_model_loads(tmp_path):
    with pytest.raises(ValueError, match="--relative-alphas: every value must be > 0"):
        job.FrontierConfig(relative_alphas="0,0.1")
    with pytest.raises(ValueError, match="--curves"):
        job.FrontierConfig(curves="steer,greedy")
    bad = tmp_path / "items.csv"
    bad.write_text("task,subject\nhaiku,rain\n")
    with pytest.raises(ValueError, match=r"--items .*items.csv: item 1: task 'haiku' is not one of"):
        job.FrontierConfig(items=str(bad))
    with pytest.raises(ValueError, match="--reference-dir .*no responses.jsonl"):
        job.FrontierConfig(reference_dir=str(tmp_path))
    with pytest.raises(ValueError, match="--recipe: no vector for 'nobody' in .*stable"):
        job.FrontierConfig(recipe="creative_professional,nobody")


def test_a_layer_the_model_lacks_is_one_line_and_records_nothing(tiny_model_dir, tiny_vectors, tmp_path):
    out = tmp_path / "frontier"
    with pytest.raises(ValueError, match=r"^--layers: paper layer 99 is out of range: for a \d+-block model"):
        _run(_argv(tiny_model_dir, tiny_vectors, out, "--layers", "99"))
    assert not [p for p in out.iterdir() if not p.name.startswith(".")]  # no config.json to block a corrected rerun


def _argv(model_dir, vectors, out, *extra):
    return [
        "--model",
        str(model_dir),
        "--vectors-dir",
        str(vectors),
        "--task",
        "aut",
        "--n",
        "2",
        "--layers",
        "2",
        "--relative-alphas",
        "0.1",
        "--temperatures",
        "0.7",
        "--max-new-tokens",
        "4",
        "--out",
        str(out),
        *extra,
    ]


def test_frontier_job_answers_scores_resumes_and_grows(tiny_model_dir, tiny_vectors, tmp_path, monkeypatch):
    out = tmp_path / "frontier"
    _run(_argv(tiny_model_dir, tiny_vectors, out))
    # points: control, 2 steering (merged, single), SA T0.7, MRP T0.7 = 5 points x 2 items
    log = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(log) == 10 and {r["point"] for r in log} == {
        "control",
        "steer L2 merged a0.1",
        "steer L2 creative_professional a0.1",
        "SA T0.7",
        "MRP T0.7",
    }
    assert all(r["perplexity"] > 1 and 0 <= r["guarded_originality"] <= 1 for r in log)
    answers = pd.read_csv(out / "answers.csv")
    control = answers[answers["point"] == "control"]
    assert set(control["curve"]) == {"steer L2 merged", "steer L2 creative_professional", "temperature SA"}
    # on the SA curve the control sits at the model's temperature, on steering curves at alpha 0
    assert set(control.groupby("curve")["value"].first().round(3)) == {0.0, 1.0}
    settings = json.loads((out / "methods.json").read_text())
    source = settings["steer L2 merged a0.1"]["source"]
    assert source["relative_alpha"] == 0.1 and source["alpha"] > 0 and source["paper_layer"] == 2
    assert settings["MRP T0.7"]["decoding"]["temperature"] == 0.7
    assert settings["SA T0.7"]["decoding"]["repetition_penalty"] == 1.2
    assert {"task", "curve", "point", "metric", "mean", "ci_low", "ci_high"} <= set(pd.read_csv(out / "points.csv"))
    assert (out / "figures" / "frontier.html").is_file()
    assert set(pd.read_csv(out / "compute.csv")["curve"]) == {
        "steer L2 merged",
        "steer L2 creative_professional",
        "temperature SA",
        "temperature MRP",
    }
    # a rerun answers nothing again; a larger --n keeps every answer and adds one item per point
    _run(_argv(tiny_model_dir, tiny_vectors, out))
    assert len((out / "answers.jsonl").read_text().splitlines()) == 10
    _run(_argv(tiny_model_dir, tiny_vectors, out, "--n", "3"))
    grown = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert grown[:10] == log and len(grown) == 15
    # a layer added later: its curves start from the control answered before it (alpha 0)
    _run(_argv(tiny_model_dir, tiny_vectors, out, "--n", "3", "--layers", "2,1"))
    answers = pd.read_csv(out / "answers.csv")
    assert {"steer L1 merged", "steer L1 creative_professional"} <= set(answers[answers["point"] == "control"]["curve"])
    assert len((out / "answers.jsonl").read_text().splitlines()) == 15 + 2 * 3  # two new points, no new control
    # another token budget is another experiment: refused, not mixed
    with pytest.raises(ValueError, match="max_new_tokens"):
        _run(_argv(tiny_model_dir, tiny_vectors, out, "--max-new-tokens", "6"))
    # a benchmark run as --reference-dir holds every task's answers: scoring one takes seconds on
    # a CPU, so only this run's tasks are scored (and tabulated)
    made = json.loads((out / "answers.jsonl").read_text().splitlines()[0])
    answer = {k: made[k] for k in ("subject", "output_tokens", "prompt", "response")} | {"method": "sa"}
    bench = tmp_path / "bench"
    bench.mkdir()
    lines = [{**answer, "task": task, "item_id": f"{task}-0"} for task in ("aut", "scientific", "similarities")]
    (bench / "responses.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    scored = []
    measured = job._measured
    monkeypatch.setattr(job, "_measured", lambda m, p, records: scored.extend(records) or measured(m, p, records))
    _run(_argv(tiny_model_dir, tiny_vectors, out, "--n", "3", "--layers", "2,1", "--reference-dir", str(bench)))
    assert [r["task"] for r in scored] == ["aut"]
    points = pd.read_csv(out / "points.csv")
    tabulated = set(points.loc[points["point"] == "SA T0.7 (benchmark)", "task"])
    assert "aut" in tabulated and tabulated <= {"aut", "all"}
