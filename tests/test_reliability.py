"""Bad inputs and faults, as a hostile but fair user meets them (docs/reliability.md lists every case).

Command-level cases run the real ``main(argv)`` of a command and check its one-line message and exit
status; ``--model no/such-model`` proves the check happens before any model loads (loading it would
fail with another message).
"""

import threading

import pandas as pd
import pytest
import torch

from billy_interp.core.generation import GenerationConfig, NumericalError, generate
from billy_interp.core.steering import Steering
from billy_interp.io import RunBusyError, RunSettingsError, claim_run_dir, locked
from billy_interp.vectors.library import shipped_vectors_dir
from tests.conftest import job_main

NO_MODEL = ["--model", "no/such-model"]
SHIPPED, STABLE = str(shipped_vectors_dir()), str(shipped_vectors_dir() / "stable")  # explicit folders


def _command(module, argv, capsys):
    """Run a command; return (exit status, its error lines, all of stderr)."""
    import importlib

    main = importlib.import_module(f"billy_interp.{module}").main
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    return exit_info.value.code, [line for line in err.splitlines() if line.startswith("error:")], err


@pytest.mark.parametrize(
    ("module", "argv", "message"),
    [
        ("layer_sweep", ["--layers", "10,x"], "error: --layers: 'x' is not an integer"),
        ("layer_sweep", ["--alphas", "0,abc"], "error: --alphas: 'abc' is not a number"),
        ("layer_sweep", ["--alphas", "4,8"], "include 0, the unsteered baseline"),
        ("layer_sweep", ["--recipe", "futurist:abc"], "error: --recipe: weight 'abc' of 'futurist' is not a number"),
        ("benchmark", ["--methods", ""], "error: --methods: empty"),
        ("benchmark", ["--n", "0"], "error: --n must be >= 1"),
        ("benchmark", ["--n", "1000"], "error: --n 1000: task 'aut' has only 98 distinct items"),
        ("benchmark", ["--task", "poetry"], "error: --task: unknown 'poetry'"),
        ("merge", ["--recipe", "a:1,a:-1", "--method", "weighted"], "every weight of the recipe is 0"),
        ("stability", ["--personas", "futurst"], "did you mean 'futurist'?"),
        ("stability", ["--seeds", "1,1"], "error: --seeds: 1 is given twice; give distinct values"),
        ("stability", ["--threshold", "1.5"], "error: --threshold must lie strictly between 0 and 1"),
        ("stability", ["--n-boot", "0"], "error: --n-boot must be >= 1, got 0"),
        ("stability_curve", ["--seeds", "0,0,1"], "error: --seeds: 0 is given twice; give distinct values"),
        ("stability_curve", ["--threshold", "0"], "error: --threshold must lie strictly between 0 and 1"),
        ("extract", ["--persona", "futurist", "--seeds", "0,0"], "error: --seeds: 0 is given twice"),
        ("demo", ["--alpha", "nan"], "error: --alpha must be a finite number, got nan"),
        ("demo", ["--max-new-tokens", "0"], "error: --max-new-tokens must be >= 1, got 0"),
        ("conformance", ["--families", "llam"], "error: --families: unknown 'llam'; did you mean 'llama'?"),
        ("interaction", ["--recipe", "futurist"], "give at least two distinct personas to measure an interaction"),
        ("geometry", ["--vectors-dir", "/nonexistent"], "error: --vectors-dir: /nonexistent is not a directory"),
        ("extract", ["--persona", "pirate"], "error: --persona: unknown persona 'pirate'"),
        ("interaction", ["--alphas", "0,2"], "give nonzero alphas"),
        ("projection", ["--parts", "futurist"], "give at least two distinct personas"),
        (
            "benchmark",
            ["--recipe", "futurist,nobody", "--vectors-dir", SHIPPED],
            "error: --recipe: no vector for 'nobody'",
        ),
        ("benchmark", ["--ablation", "--vectors-dir", STABLE], "error: --ablation: no vector for 'analytical_thinker'"),
        ("benchmark", ["--alpha", "nan"], "error: --alpha must be finite"),
        (
            "projection",
            ["--parts", "futurist,nobody", "--vectors-dir", SHIPPED],
            "error: --parts: no vector for 'nobody'",
        ),
        ("interaction", ["--recipe", "futurist,nobody", "--vectors-dir", SHIPPED], "error: --recipe: no vector for"),
        (
            "frontier",
            ["--single", "futurist_x", "--vectors-dir", SHIPPED],
            "error: --single: no vector for 'futurist_x'",
        ),
        (
            "layer_sweep",
            ["--recipe", "academic_researcher", "--vectors-dir", STABLE],
            "no vector for 'academic_researcher'",
        ),
    ],
)
def test_bad_options_are_one_line_errors_before_any_model_loads(module, argv, message, capsys):
    status, errors, err = _command(
        module, argv if module in ("merge", "demo", "conformance") else [*argv, *NO_MODEL], capsys
    )
    assert status == 2 and len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err and "no/such-model" not in err


@pytest.mark.parametrize("argv", [["--alpha", "4"], ["--n-sample", "3"]])
def test_abbreviated_options_are_refused(argv, capsys):
    module = "layer_sweep" if argv[0] == "--alpha" else "extract"
    status, _, err = _command(module, argv, capsys)
    assert status == 2 and "unrecognized arguments" in err


def test_debug_shows_the_traceback():
    from billy_interp.layer_sweep import main

    with pytest.raises(ValueError, match="'x' is not an integer"):
        main(["--layers", "x", "--debug"])


def test_an_unwritable_out_is_named_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    status, errors, err = _command("layer_sweep", ["--out", str(blocker / "sub"), *NO_MODEL], capsys)
    assert status == 2 and errors and f"--out: cannot write to {blocker / 'sub'}" in errors[0], err
    status, errors, err = _command("extract", ["--persona", "futurist", "--out", str(blocker), *NO_MODEL], capsys)
    assert status == 2 and errors and "cannot write" in errors[0], err
    for module in ("stability", "stability_curve"):  # their answers' cache, before the run is claimed
        argv = ["--run-dir", str(blocker / "gen"), "--out", str(tmp_path / module)]  # embedded: its shape, no weights
        status, errors, err = _command(module, argv, capsys)
        assert status == 2 and errors and f"--run-dir: cannot write to {blocker / 'gen'}" in errors[0], err
        assert not (tmp_path / module).exists()


def _sweep_argv(model_dir, vectors, out, *flags, **options):
    settings = {
        "model": model_dir,
        "vectors-dir": vectors,
        "layers": 1,
        "alphas": "0,4",
        "n-prompts": 1,
        "max-new-tokens": 3,
        "out": out,
        **{k.replace("_", "-"): v for k, v in options.items()},
    }
    return [item for key, value in settings.items() for item in (f"--{key}", str(value))] + list(flags)


def test_a_layer_the_model_lacks_is_named_and_nothing_is_recorded(tiny_model_dir, tiny_vectors, tmp_path):
    """The range check needs the model's depth, so it runs after loading, but before the run is
    recorded: a config.json left behind would refuse the corrected rerun as 'other settings'."""
    from billy_interp.jobs.benchmark import BenchmarkConfig, run_benchmark
    from billy_interp.jobs.interaction import InteractionConfig, run_interaction
    from billy_interp.jobs.layer_sweep import SweepConfig, run_layer_sweep
    from billy_interp.jobs.projection import ProjectionConfig, run_projection
    from billy_interp.jobs.stability import StabilityConfig, run_stability
    from billy_interp.jobs.stability_curve import StabilityCurveConfig, run_stability_curve

    sweep, bench = job_main(SweepConfig, run_layer_sweep), job_main(BenchmarkConfig, run_benchmark)
    with pytest.raises(
        ValueError, match=r"^--layers: paper layer 9 is out of range: for a 2-block model it must be 1..2"
    ):
        sweep(_sweep_argv(tiny_model_dir, tiny_vectors, tmp_path / "sweep", layers=9))
    argv = ["--model", str(tiny_model_dir), "--vectors-dir", str(tiny_vectors), "--methods", "billy", "--task", "aut"]
    with pytest.raises(ValueError, match=r"^--paper-layer: paper layer 9 is out of range: for a 2-block model"):
        bench([*argv, "--n", "1", "--paper-layer", "9", "--out", str(tmp_path / "bench")])
    for name, job in (
        ("projection", job_main(ProjectionConfig, run_projection)),
        ("interaction", job_main(InteractionConfig, run_interaction)),
    ):
        with pytest.raises(ValueError, match=r"^--paper-layer: paper layer 9 is out of range"):
            job([*argv[:4], "--paper-layer", "9", "--out", str(tmp_path / name)])
    stability = job_main(StabilityConfig, run_stability)
    with pytest.raises(ValueError, match=r"^--report-layers: paper layer 9 is out of range: for a 2-block model"):
        stability(["--model", str(tiny_model_dir), "--report-layers", "2,9", "--out", str(tmp_path / "stability")])
    assert not (tmp_path / "stability").exists()  # checked from the model's configuration, before the run is claimed
    curve = job_main(StabilityCurveConfig, run_stability_curve)
    with pytest.raises(ValueError, match=r"^--report-layers: paper layer 9 is out of range: for a 2-block model"):
        curve(["--model", str(tiny_model_dir), "--report-layers", "9", "--out", str(tmp_path / "curve")])
    assert not (tmp_path / "curve").exists()
    for out in ("sweep", "bench", "projection", "interaction"):
        assert not [p.name for p in (tmp_path / out).iterdir() if not p.name.startswith(".")]
    sweep(_sweep_argv(tiny_model_dir, tiny_vectors, tmp_path / "sweep", layers=2, max_new_tokens=2))  # corrected: runs


def test_a_sweep_refuses_to_resume_with_other_settings_and_force_starts_fresh(tiny_model_dir, tiny_vectors, tmp_path):
    from billy_interp.jobs.layer_sweep import SweepConfig, run_layer_sweep

    sweep = job_main(SweepConfig, run_layer_sweep)
    out = tmp_path / "sweep"
    sweep(_sweep_argv(tiny_model_dir, tiny_vectors, out))
    before = (out / "config.json").read_text()
    for changed in ({"recipe": "futurist"}, {"n_prompts": 2}, {"max_new_tokens": 4}, {"alphas": "0,8"}):
        field = next(iter(changed))
        with pytest.raises(RunSettingsError, match=f"other settings: {field} "):
            sweep(_sweep_argv(tiny_model_dir, tiny_vectors, out, **changed))
    assert (out / "config.json").read_text() == before  # refused runs record nothing
    sweep(_sweep_argv(tiny_model_dir, tiny_vectors, out, batch_size=2))  # the batch size may change
    before = (out / "config.json").read_text()
    sweep(_sweep_argv(tiny_model_dir, tiny_vectors, out, "--force", alphas="0,8"))
    fresh = [p for p in out.iterdir() if p.name.startswith("run-")]
    assert len(fresh) == 1 and (fresh[0] / "cells.jsonl").exists() and (out / "config.json").read_text() == before


def test_a_second_writer_is_locked_out(tmp_path):
    from billy_interp.jobs.compare import CompareConfig

    config = CompareConfig(a="x:y", b="x:z", out=str(tmp_path))
    holding, release = threading.Event(), threading.Event()

    def hold():
        with claim_run_dir(tmp_path, config, "billy_interp.compare"):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(10)
    try:
        with pytest.raises(RunBusyError, match="is being written by pid"), locked(tmp_path):
            pass
    finally:
        release.set()
        thread.join()
    with locked(tmp_path):  # free again
        pass


def test_a_directory_of_another_job_is_refused(tmp_path):
    from billy_interp.jobs.compare import CompareConfig
    from billy_interp.jobs.demo import DemoConfig

    with claim_run_dir(tmp_path, DemoConfig(out=str(tmp_path)), "billy_interp.demo"):
        pass
    compare = CompareConfig(a="x:y", b="x:z")
    with (
        pytest.raises(RunSettingsError, match="it holds a billy_interp.demo run"),
        claim_run_dir(tmp_path, compare, "billy_interp.compare"),
    ):
        pass
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with (
        pytest.raises(RunSettingsError, match="already holds files this job did not make"),
        claim_run_dir(tmp_path / "other", DemoConfig(), "billy_interp.demo"),
    ):
        pass


def test_a_benchmark_rerun_with_a_smaller_n_tabulates_only_its_items(tiny_model_dir, tiny_vectors, tmp_path, capsys):
    import pandas as pd

    from billy_interp.jobs.benchmark import BenchmarkConfig, run_benchmark

    bench = job_main(BenchmarkConfig, run_benchmark)
    argv = [
        "--model",
        str(tiny_model_dir),
        "--vectors-dir",
        str(tiny_vectors),
        "--methods",
        "sa",
        "--max-new-tokens",
        "3",
        "--out",
        str(tmp_path / "b"),
    ]
    bench([*argv, "--n", "3"])
    bench([*argv, "--n", "1"])
    assert len(pd.read_csv(tmp_path / "b" / "responses.csv")) == 1
    assert "2 answers in the log are outside this run's tasks, methods or items" in capsys.readouterr().out
    assert len((tmp_path / "b" / "responses.jsonl").read_text().splitlines()) == 3  # nothing lost


def test_a_contrast_log_refuses_another_plan(tiny_model, tmp_path):
    from billy_interp.vectors.contrast import ContrastPlan, generate_contrast
    from billy_interp.vectors.personas import load_persona

    persona = load_persona("futurist")
    plan = ContrastPlan(splits=("extract",), n_samples=1, max_new_tokens=2, batch_size=25)
    generate_contrast(tiny_model, persona, plan, tmp_path, progress=False)
    with pytest.raises(RunSettingsError, match=r"other settings \(batch_size\)"):
        generate_contrast(
            tiny_model,
            persona,
            ContrastPlan(splits=("extract",), n_samples=1, max_new_tokens=2, batch_size=8),
            tmp_path,
            progress=False,
        )


# Under pytest the jaxtyping import hook may refuse [None] first (a TypeError naming `prompts`).
@pytest.mark.parametrize(
    ("prompts", "error", "message"),
    [([""], ValueError, "prompt 0 is empty"), ([None], TypeError, "prompt 0 is NoneType|'prompts'")],
)
def test_empty_and_missing_prompts_are_named(tiny_model, prompts, error, message):
    with pytest.raises(error, match=message):
        generate(tiny_model, prompts, GenerationConfig(max_new_tokens=2), format="raw")


def test_a_vector_of_another_width_is_refused_before_generation(tiny_model):
    steering = Steering.from_vectors({"blocks.1.hook_resid_post": torch.ones(32)}, 2.0)
    with pytest.raises(ValueError, match="has width 32, but 'tiny-llama' has d_model 64"):
        generate(tiny_model, ["hello there"], GenerationConfig(max_new_tokens=2), steering)


def test_non_finite_activations_are_reported_not_turned_into_text(tiny_model):
    from billy_interp.core.forward import run_with_cache

    weight = tiny_model.residual.model.lm_head.weight
    saved = weight[3].clone()
    try:
        with torch.no_grad():
            weight[3] = float("nan")  # a broken model: one unembedding row is NaN
        with pytest.raises(NumericalError, match="NaN/Inf logits at generation step 0"):
            generate(tiny_model, ["hello there"], GenerationConfig(max_new_tokens=2))
        with pytest.raises(ValueError, match="produced NaN/Inf at logits"):
            run_with_cache(tiny_model, ["hello there"], blocks=[0], logits=1)
    finally:
        with torch.no_grad():
            weight[3] = saved


def test_a_prompt_longer_than_the_context_is_refused(tiny_model):
    with pytest.raises(ValueError, match="more than 'tiny-llama''s context of 4096 tokens"):
        generate(tiny_model, ["hello there"], GenerationConfig(max_new_tokens=5000))


def test_judge_timeout_and_retries_reach_the_client(monkeypatch):
    from billy_interp.jobs.benchmark import BenchmarkConfig
    from billy_interp.scoring import judge as judge_module

    seen = {}

    class Recording(judge_module.Judge):
        def __init__(self, config, client=None):
            seen.update(timeout=config.timeout_seconds, retries=config.max_retries)
            raise RuntimeError("stop")

    monkeypatch.setattr(judge_module, "Judge", Recording)
    from billy_interp.jobs import benchmark as job

    with pytest.raises(RuntimeError, match="stop"):
        job._tabulate(pd.DataFrame(), BenchmarkConfig(judge_model="m", judge_timeout=2.5, judge_retries=0))
    assert seen == {"timeout": 2.5, "retries": 0}
    with pytest.raises(ValueError, match="--judge-timeout must be > 0"):
        BenchmarkConfig(judge_timeout=0.0)


def test_a_run_recorded_before_an_option_existed_resumes_only_at_the_old_behaviour(tmp_path):
    """``added``: a setting missing from an older run's record reads as the value that reproduces
    that run; anything else is still refused as other settings."""
    import json

    from billy_interp.io import RUN_FILE
    from billy_interp.jobs.stability import StabilityConfig

    config = StabilityConfig(out=str(tmp_path))
    with claim_run_dir(tmp_path, config, "billy_interp.stability", added={"preset": ""}):
        pass
    record = json.loads((tmp_path / RUN_FILE).read_text())
    del record["settings"]["preset"]  # as a run made before --preset existed recorded it
    (tmp_path / RUN_FILE).write_text(json.dumps(record))
    with (
        pytest.raises(RunSettingsError, match=r"preset None -> ''"),  # without ``added``: refused
        claim_run_dir(tmp_path, config, "billy_interp.stability"),
    ):
        pass
    paper = StabilityConfig(out=str(tmp_path), preset="paper")
    with (
        pytest.raises(RunSettingsError, match=r"preset '' -> 'paper'"),
        claim_run_dir(tmp_path, paper, "billy_interp.stability", added={"preset": ""}),
    ):
        pass
    with claim_run_dir(tmp_path, config, "billy_interp.stability", added={"preset": ""}):
        pass
