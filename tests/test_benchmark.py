import json

import numpy as np
import pandas as pd
import pytest

from billy_interp.evaluation import benchmark
from billy_interp.evaluation.methods import SingleAgent
from billy_interp.jobs import benchmark as job
from tests.conftest import job_main

_run = job_main(job.BenchmarkConfig, job.run_benchmark)


def _argv(tiny_model_dir, vectors, out, *extra):
    return [
        "--model",
        str(tiny_model_dir),
        "--vectors-dir",
        str(vectors),
        "--paper-layer",
        "2",
        "--n",
        "2",
        "--max-new-tokens",
        "4",
        "--rounds",
        "2",
        "--out",
        str(out),
        *extra,
    ]


def test_benchmark_tables(tiny_model_dir, tiny_vectors, tmp_path):
    out = tmp_path / "run"
    _run(_argv(tiny_model_dir, tiny_vectors, out, "--methods", "sa,discussion,billy"))
    responses = pd.read_csv(out / "responses.csv")
    assert len(responses) == 6 and set(responses["method"]) == {"sa", "discussion", "billy"}
    assert responses["scorer"].str.contains("proxy").all()
    for column in ("guarded_originality", "appropriateness", "readability", "valid_ideas"):
        assert responses[column].between(0, 10_000).all(), column
    assert (responses.loc[responses["valid_ideas"] == 0, "guarded_originality"] == 0).all()
    summary = pd.read_csv(out / "summary.csv")
    guarded = summary[summary["metric"] == "guarded_originality"]
    assert len(guarded) == 3 and guarded["scorer"].str.startswith("guarded").all()
    assert {"task", "method", "metric", "n", "mean", "std", "ci_low", "ci_high"} <= set(summary.columns)
    eff = pd.read_csv(out / "efficiency.csv").set_index("method")
    assert eff.loc["discussion", "calls"] == 2 * 4 and eff.loc["sa", "calls"] == 1
    assert eff.loc["discussion", "input_tokens_vs_billy"] > 1
    assert (out / "ideas.csv").is_file() and "billy_interp.benchmark" in (out / "command.txt").read_text()
    by_task = pd.read_csv(out / "efficiency_by_task.csv")
    assert set(by_task["task"]) == {"aut"} and (by_task.set_index("method")["seconds_vs_billy"]["billy"] == 1.0)
    settings = json.loads((out / "methods.json").read_text())
    assert settings["billy"]["steering_source"]["paper_layer"] == 2 and settings["discussion"]["rounds"] == 2
    assert settings["sa"]["steering_source"] is None


def test_resume_refuses_answers_made_with_other_settings(tiny_model_dir, tiny_vectors, tmp_path):
    out = tmp_path / "run"
    _run(_argv(tiny_model_dir, tiny_vectors, out, "--methods", "mrp,billy"))
    config_before = (out / "config.json").read_text()
    # (under the paper's protocol SA already samples with BILLY's penalties; MRP's temperature differs)
    with pytest.raises(ValueError, match=r"holds mrp answers made with other settings \(decoding differ"):
        _run(_argv(tiny_model_dir, tiny_vectors, out, "--methods", "mrp", "--matched-decoding"))
    with pytest.raises(ValueError, match=r"holds billy answers .*steering_source"):
        _run(_argv(tiny_model_dir, tiny_vectors, out, "--methods", "billy", "--alpha", "4"))
    assert (out / "config.json").read_text() == config_before  # a refused resume records nothing
    # Settings that do not change the method (batch size), or a new method, resume fine.
    _run(_argv(tiny_model_dir, tiny_vectors, out, "--methods", "mrp,sa_t1,billy", "--batch-size", "1"))
    assert set(pd.read_csv(out / "responses.csv")["method"]) == {"mrp", "sa_t1", "billy"}


def test_killed_benchmark_resumes_without_losing_finished_items(tiny_model_dir, tiny_vectors, tmp_path, monkeypatch):
    out = tmp_path / "run"
    argv = _argv(tiny_model_dir, tiny_vectors, out, "--methods", "sa,sa_t1")
    real_run = SingleAgent.run
    calls = {"n": 0}

    def dying_run(self, model, items):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real_run(self, model, items)

    monkeypatch.setattr(SingleAgent, "run", dying_run)
    with pytest.raises(KeyboardInterrupt):
        _run(argv)
    first = [json.loads(l) for l in (out / "responses.jsonl").read_text().splitlines()]
    assert len(first) == 2 and {r["method"] for r in first} == {"sa"}
    monkeypatch.setattr(SingleAgent, "run", real_run)
    _run(argv)
    final = [json.loads(l) for l in (out / "responses.jsonl").read_text().splitlines()]
    assert len(final) == 4
    assert [r for r in final if r["method"] == "sa"] == first  # finished items untouched


def test_ablation_method_names_and_bad_inputs():
    assert job.BenchmarkConfig(ablation=True).method_names()[-1] == "billy_k7"
    with pytest.raises(ValueError, match="--methods: unknown 'debate'"):
        job.BenchmarkConfig(methods="sa,debate")
    with pytest.raises(ValueError, match="--task: unknown 'poetry'"):
        job.BenchmarkConfig(task="poetry")
    with pytest.raises(ValueError, match="--methods: empty"):
        job.BenchmarkConfig(methods="")
    with pytest.raises(ValueError, match="--n 1000: task 'aut' has only 98 distinct items"):
        job.BenchmarkConfig(n=1000)
    with pytest.raises(ValueError, match="--n must be >= 1"):
        job.BenchmarkConfig(n=0)


def test_summary_bootstrap_ci_contains_the_mean():
    scored = pd.DataFrame(
        {
            "task": "aut",
            "method": "sa",
            "originality": [0.5, 0.6, 0.7, 0.8],
            "elaboration": 3.0,
            "fluency": 4,
            "flexibility": 2,
        }
    )
    summary = benchmark.summarize(scored).set_index("metric")
    row = summary.loc["originality"]
    assert row["ci_low"] <= row["mean"] <= row["ci_high"] and row["n"] == 4
    assert summary.loc["elaboration", "std"] == 0.0


def test_a_groups_ci_does_not_depend_on_the_other_groups_in_the_table():
    rng = np.random.default_rng(0)
    one = pd.DataFrame(
        {
            "task": "scientific",
            "method": "sa",
            "originality": rng.uniform(0, 1, 20),
            "elaboration": rng.uniform(1, 50, 20),
            "fluency": 4,
            "flexibility": 2,
        }
    )
    more = pd.concat([one.assign(task="aut"), one.assign(method="discussion"), one])
    alone = benchmark.summarize(one).set_index(["task", "method", "metric"])
    within = benchmark.summarize(more).set_index(["task", "method", "metric"]).loc[alone.index]
    assert (alone[["ci_low", "ci_high"]] == within[["ci_low", "ci_high"]]).all().all()
    # ...while different groups with the same values still get their own draws.
    table = benchmark.summarize(more).set_index(["task", "method", "metric"])
    varied = ["originality", "elaboration"]
    assert (
        table.loc[("scientific", "sa")].loc[varied, ["ci_low", "ci_high"]].to_numpy()
        != table.loc[("aut", "sa")].loc[varied, ["ci_low", "ci_high"]].to_numpy()
    ).any()


def test_billy_tuned_cell_from_text_or_a_sweep_dir(tmp_path):
    assert job.BenchmarkConfig(methods="billy_tuned", tuned="2:8").tuned_cell() == (2, 8.0)
    with pytest.raises(ValueError, match="needs --tuned"):
        job.BenchmarkConfig(methods="sa,billy_tuned").method_names()
    with pytest.raises(ValueError, match="no .*recommended.json"):
        job.BenchmarkConfig(methods="billy_tuned", tuned=str(tmp_path)).tuned_cell()
    (tmp_path / "recommended.json").write_text(json.dumps({"cell": {"paper_layer": 5.0, "alpha": 4.0}}))
    with pytest.raises(ValueError, match="older recommender; rerun python -m billy_interp.layer_sweep"):
        job.BenchmarkConfig(methods="billy_tuned", tuned=str(tmp_path)).tuned_cell()
    cell = {"objective": "guarded_originality", "cell": {"paper_layer": 5.0, "alpha": 4.0}}
    (tmp_path / "recommended.json").write_text(json.dumps(cell))
    assert job.BenchmarkConfig(methods="billy_tuned", tuned=str(tmp_path)).tuned_cell() == (5, 4.0)
    (tmp_path / "recommended.json").write_text(json.dumps({"objective": "guarded_originality", "cell": None}))
    with pytest.raises(ValueError, match="recommends no cell"):
        job.BenchmarkConfig(methods="billy_tuned", tuned=str(tmp_path)).tuned_cell()


def test_billy_tuned_steers_at_its_own_cell_and_refuses_a_changed_cell_on_resume(
    tiny_model_dir, tiny_vectors, tmp_path
):
    argv = [
        "--task",
        "aut",
        "--methods",
        "billy,billy_tuned",
        "--n",
        "2",
        "--max-new-tokens",
        "4",
        "--model",
        str(tiny_model_dir),
        "--vectors-dir",
        str(tiny_vectors),
        "--paper-layer",
        "2",
        "--tuned",
        "1:8",
        "--out",
        str(tmp_path / "b"),
    ]
    _run(argv)
    rows = pd.read_csv(tmp_path / "b" / "responses.csv")
    assert set(rows["method"]) == {"billy", "billy_tuned"}
    with pytest.raises(ValueError, match="holds billy_tuned answers"):
        _run([*argv[:-4], "--tuned", "2:8", "--out", str(tmp_path / "b")])


def test_efficiency_compares_only_items_every_method_answered():
    rows = [
        {
            "task": "aut",
            "item_id": i,
            "method": m,
            "seconds": s,
            "input_tokens": 10,
            "output_tokens": 20,
            "forward_passes": 20,
            "calls": 1,
        }
        for i, (m, s) in enumerate([("billy", 1.0), ("billy", 1.0)])
    ]
    rows += [
        {
            "task": "aut",
            "item_id": 0,
            "method": "discussion",
            "seconds": 50.0,
            "input_tokens": 1000,
            "output_tokens": 200,
            "forward_passes": 200,
            "calls": 20,
        },
        {
            "task": "sim",
            "item_id": 9,
            "method": "billy",
            "seconds": 100.0,
            "input_tokens": 10,
            "output_tokens": 20,
            "forward_passes": 20,
            "calls": 1,
        },
    ]
    eff = benchmark.efficiency(pd.DataFrame(rows), 1.0, 1.0).set_index("method")
    assert eff.loc["billy", "n"] == 1 and eff.loc["discussion", "seconds_vs_billy"] == 50.0
    assert eff.loc["discussion", "tasks"] == "aut"
    with pytest.raises(ValueError, match="answered by every method"):
        benchmark.efficiency(pd.DataFrame(rows[2:]), 1.0, 1.0)


def test_efficiency_by_task_takes_ratios_within_each_task():
    def row(task, item, method, seconds):
        return {
            "task": task,
            "item_id": item,
            "method": method,
            "seconds": seconds,
            "input_tokens": 10,
            "output_tokens": 20,
            "forward_passes": 20,
            "calls": 1,
        }

    rows = [
        row("aut", 0, "billy", 1.0),
        row("aut", 0, "discussion", 50.0),
        row("sim", 0, "billy", 2.0),
        row("sim", 0, "discussion", 300.0),
        row("sim", 1, "billy", 2.0),
    ]
    table = benchmark.efficiency(pd.DataFrame(rows), 1.0, 1.0, by_task=True).set_index(["task", "method"])
    assert table.loc[("aut", "discussion"), "seconds_vs_billy"] == 50.0
    assert table.loc[("sim", "discussion"), "seconds_vs_billy"] == 150.0
    assert table.loc[("sim", "billy"), "n"] == 1  # item 1 was not answered by discussion
    pooled = benchmark.efficiency(pd.DataFrame(rows), 1.0, 1.0).set_index("method")
    assert pooled.loc["discussion", "seconds_vs_billy"] == 175.0 / 1.5


def test_the_command_reports_a_refused_resume_in_one_line(tiny_model_dir, tiny_vectors, tmp_path, capsys):
    from billy_interp.benchmark import main

    out = tmp_path / "run"
    main(_argv(tiny_model_dir, tiny_vectors, out, "--methods", "mrp"))
    with pytest.raises(SystemExit) as exit_info:
        main(_argv(tiny_model_dir, tiny_vectors, out, "--methods", "mrp", "--matched-decoding"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "holds mrp answers made with other settings" in errors[0]
    assert "Traceback" not in err
