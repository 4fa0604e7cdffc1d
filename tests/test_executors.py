"""The Ray executor on a local 2-CPU cluster: same tables as a local run, faults survived."""

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from billy_interp.jobs import benchmark, executors, frontier, layer_sweep, stability
from billy_interp.jobs.executors import ExecutorOptions, open_executor
from billy_interp.options import UsageError
from billy_interp.scoring.embeddings import get_embedder
from billy_interp.vectors.formats import load_vector
from tests.conftest import job_main
from tests.test_frontier import _argv as _frontier_argv

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'billy_interp[distributed]'")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/

RAY = ["--executor", "ray", "--workers", "2"]


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _setup():
    return {"offset": 10, "pid": os.getpid()}


def _square(context, unit):
    return unit * unit + context["offset"]


def _die_once(context, unit):
    """Unit 2 kills its worker process the first time it runs."""
    marker = Path(unit["dir"]) / "died"
    if unit["n"] == 2 and not marker.exists():
        marker.touch()
        os._exit(1)
    return unit["n"], context["pid"]


def _fail(context, unit):
    if unit == 3:
        raise ValueError("unit 3 has a bad item")
    return unit


def _collect(options, work, units, setup=_setup):
    done = []
    with open_executor(options, setup) as executor:
        executor.map(work, units, lambda unit, result: done.append((unit, result)))
    return done


def test_ray_and_local_map_every_unit_once_to_the_same_result(ray_cluster):
    units = list(range(7))
    local = _collect(ExecutorOptions(), _square, units)
    remote = _collect(ExecutorOptions(executor="ray", workers=2), _square, units)
    assert local == [(u, u * u + 10) for u in units]
    assert sorted(remote) == local  # same results, each unit once (completion order may differ)


def test_a_killed_worker_is_replaced_and_its_unit_retried(ray_cluster, tmp_path):
    units = [{"n": n, "dir": str(tmp_path)} for n in range(6)]
    done = _collect(ExecutorOptions(executor="ray", workers=2), _die_once, units)
    assert (tmp_path / "died").exists()  # a worker process really died mid-unit
    assert sorted(result[0] for _, result in done) == list(range(6))  # none lost, none twice
    assert len({pid for _, (_, pid) in done}) >= 2  # the retried unit ran on a fresh worker


def test_a_units_own_error_stops_the_run_with_that_error(ray_cluster):
    with pytest.raises(ValueError, match="unit 3 has a bad item"):
        _collect(ExecutorOptions(executor="ray", workers=2), _fail, list(range(6)))


def test_executor_options_are_checked_before_anything_runs(monkeypatch):
    with pytest.raises(UsageError, match="--executor 'spark'"):
        ExecutorOptions(executor="spark")
    with pytest.raises(UsageError, match="apply to --executor ray only"):
        ExecutorOptions(workers=2)
    monkeypatch.setattr(executors, "ray_available", lambda: False)
    with pytest.raises(UsageError, match=r"pip install 'billy_interp\[distributed\]'"):
        layer_sweep.SweepConfig(executor="ray")


_sweep = job_main(layer_sweep.SweepConfig, layer_sweep.run_layer_sweep)
_bench = job_main(benchmark.BenchmarkConfig, benchmark.run_benchmark)
_stability = job_main(stability.StabilityConfig, stability.run_stability)
_frontier = job_main(frontier.FrontierConfig, frontier.run_frontier)


def _sweep_argv(model_dir, vectors, out, *extra):
    return [
        *("--model", str(model_dir), "--vectors-dir", str(vectors), "--layers", "1,2", "--alphas", "0,4,16"),
        *("--n-prompts", "2", "--max-new-tokens", "4", "--cells-per-chunk", "2", "--out", str(out), *extra),
    ]


def _same_tables(a: Path, b: Path, names, drop=()):
    for name in names:
        left, right = pd.read_csv(a / name), pd.read_csv(b / name)
        pd.testing.assert_frame_equal(
            left.drop(columns=list(drop), errors="ignore"),
            right.drop(columns=list(drop), errors="ignore"),
            check_exact=True,
        )


@pytest.fixture
def one_thread():
    """A Ray worker of one CPU runs torch on one thread; float reductions (the sentence embeddings
    behind originality) round differently on two, so the local reference uses one thread too."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    get_embedder.cache_clear()  # its per-text cache may hold embeddings an earlier test made on two threads
    yield
    torch.set_num_threads(before)


def test_a_stopped_ray_sweep_resumes_to_the_tables_of_a_local_run(
    ray_cluster, one_thread, tiny_model_dir, tiny_vectors, tmp_path, monkeypatch
):
    out = tmp_path / "ray"
    real_append = layer_sweep.JsonlLog.append
    calls = {"n": 0}

    def driver_stops(self, records):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("driver stopped")
        return real_append(self, records)

    monkeypatch.setattr(layer_sweep.JsonlLog, "append", driver_stops)
    with pytest.raises(KeyboardInterrupt):
        _sweep(_sweep_argv(tiny_model_dir, tiny_vectors, out, *RAY))
    assert len((out / "cells.jsonl").read_text().splitlines()) == 2  # one chunk of two cells landed
    monkeypatch.setattr(layer_sweep.JsonlLog, "append", real_append)
    _sweep(_sweep_argv(tiny_model_dir, tiny_vectors, out, *RAY))
    cells = [(e["block"], e["alpha"]) for e in map(json.loads, (out / "cells.jsonl").read_text().splitlines())]
    assert len(cells) == len(set(cells)) == 6  # 2 layers x 3 alphas, each once (alpha 0 run once, copied)
    _sweep(_sweep_argv(tiny_model_dir, tiny_vectors, tmp_path / "local"))
    _same_tables(tmp_path / "local", out, ["results.csv", "aggregate.csv", "strength.csv"])
    recommended = [json.loads((tmp_path / run / "recommended.json").read_text()) for run in ("local", "ray")]
    assert recommended[0] == recommended[1]


def test_a_benchmark_on_ray_gives_the_answers_and_scores_of_a_local_run(
    ray_cluster, one_thread, tiny_model_dir, tiny_vectors, tmp_path
):
    argv = [
        *("--model", str(tiny_model_dir), "--vectors-dir", str(tiny_vectors), "--paper-layer", "2"),
        *("--methods", "sa,billy,discussion", "--n", "2", "--max-new-tokens", "4", "--rounds", "2"),
        *("--batch-size", "1"),  # one item per unit: several units per method, spread over both workers
    ]
    _bench([*argv, "--out", str(tmp_path / "local")])
    _bench([*argv, "--out", str(tmp_path / "ray"), *RAY])
    # wall-clock seconds differ between any two runs; every answer, token count and score must not
    _same_tables(tmp_path / "local", tmp_path / "ray", ["responses.csv", "ideas.csv"], drop=["seconds"])
    summary = [pd.read_csv(tmp_path / run / "summary.csv") for run in ("local", "ray")]
    scores = [s[~s["metric"].str.contains("seconds")].reset_index(drop=True) for s in summary]
    pd.testing.assert_frame_equal(*scores, check_exact=True)


def test_a_frontier_on_ray_gives_the_answers_perplexities_and_scores_of_a_local_run(
    ray_cluster, one_thread, tiny_model_dir, tiny_vectors, tmp_path
):
    # --batch-size 1: every item of every point is its own unit, spread over both workers
    for run, extra in (("local", []), ("ray", RAY)):
        _frontier(_frontier_argv(tiny_model_dir, tiny_vectors, tmp_path / run, "--batch-size", "1", *extra))
    local, remote = (pd.read_csv(tmp_path / run / "answers.csv") for run in ("local", "ray"))
    assert local.groupby("point")["item_id"].nunique().tolist() == [2] * 5  # 5 points x 2 items
    order, timings = ["curve", "point", "item_id"], ["seconds", "score_seconds"]
    pd.testing.assert_frame_equal(
        local.drop(columns=timings).sort_values(order).reset_index(drop=True),
        remote.drop(columns=timings).sort_values(order).reset_index(drop=True),
        check_exact=True,
    )
    _same_tables(tmp_path / "local", tmp_path / "ray", ["points.csv", "matched.csv"])


def test_stability_on_ray_extracts_the_vectors_of_a_local_run(ray_cluster, one_thread, tiny_model_dir, tmp_path):
    argv = [
        *("--personas", "futurist", "--seeds", "0,1", "--model", str(tiny_model_dir), "--n-samples", "2"),
        *("--max-new-tokens", "3", "--no-filter", "--n-boot", "20", "--n-splits", "3", "--report-layers", "1,2"),
        *("--batch-size", "4"),  # several generation chunks per extraction, spread over both workers
    ]
    for run, extra in (("local", []), ("ray", RAY)):
        _stability([*argv, "--run-dir", str(tmp_path / run / "gen"), "--out", str(tmp_path / run / "out"), *extra])
    _same_tables(tmp_path / "local" / "out", tmp_path / "ray" / "out", ["stability.csv", "summary.csv"])
    for seed in (0, 1):
        name = f"parts/futurist.seed{seed}.safetensors"
        local, remote = (load_vector(tmp_path / run / "out" / name) for run in ("local", "ray"))
        for hook in local.hooks:
            assert torch.equal(local[hook], remote[hook])


def test_a_model_object_cannot_be_sent_to_ray_workers(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="workers load --model"):
        layer_sweep.run_layer_sweep(layer_sweep.SweepConfig(executor="ray", out=str(tmp_path / "x")), tiny_model)
    with pytest.raises(ValueError, match="workers load --model"):
        benchmark.run_benchmark(benchmark.BenchmarkConfig(executor="ray", out=str(tmp_path / "y")), tiny_model)
