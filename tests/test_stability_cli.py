import pandas as pd
import pytest
import torch

from billy_interp.analysis.stability import per_seed_measures, summarize_stability
from billy_interp.jobs.stability import StabilityConfig, run_stability
from billy_interp.options import UsageError
from billy_interp.vectors.extract import ExtractionSettings
from tests.conftest import job_main

main = job_main(StabilityConfig, run_stability)


def _table(n=40):
    return pd.DataFrame(
        {
            "split": ["extract"] * (n - 8) + ["eval"] * 8,
            "kept": True,
            "sign": [1, -1] * (n // 2),
            "trait_score": [0.3, 0.1] * (n // 2),
        }
    )


def test_per_seed_measures_are_tidy_and_carry_the_trait_gap():
    g = torch.Generator().manual_seed(0)
    table = _table()
    pooled = torch.randn(len(table), 2, 16, generator=g)
    pooled[torch.tensor(table["sign"].to_numpy()) == 1] += 3.0
    auc = pd.DataFrame({"pooling": "response_mean", "block": [0, 1], "auc": [0.9, 1.0]})
    frame = per_seed_measures(pooled, table, auc, n_splits=5, n_boot=20, seed=7)
    assert set(frame["measure"]) == {"split_half_cosine", "spearman_brown", "bootstrap_cosine", "heldout_auc"}
    assert (frame["seed"] == 7).all() and frame["trait_gap"].iloc[0] == pytest.approx(0.2)
    assert (frame.loc[frame["measure"] == "split_half_cosine", "value"] > 0.9).all()


def test_summary_flags_stable_and_unstable_personas():
    rows = []
    for persona, cos in (("steady", 0.95), ("shaky", 0.4)):
        rows.append(
            {
                "persona": persona,
                "block": 19,
                "measure": "seed_cosine",
                "value": cos,
                "ci_low": cos - 0.01,
                "ci_high": cos + 0.01,
                "min_cosine": cos - 0.02,
                "seed": -1,
                "trait_gap": 0.1,
            }
        )
        rows.append(
            {
                "persona": persona,
                "block": 19,
                "measure": "heldout_auc",
                "value": 0.8,
                "ci_low": 0.8,
                "ci_high": 0.8,
                "min_cosine": None,
                "seed": 0,
                "trait_gap": 0.1,
            }
        )
    summary = summarize_stability(pd.DataFrame(rows), [19], 0.9).set_index("persona")
    assert summary.loc["steady", "stable"] and not summary.loc["shaky", "stable"]
    assert summary.loc["shaky", "paper_layer"] == 20 and summary.loc["shaky", "heldout_auc"] == 0.8
    assert summary.loc["steady", "samples_x_for_threshold"] == 1.0
    assert summary.loc["shaky", "samples_x_for_threshold"] == pytest.approx(0.9 * 0.6 / (0.4 * 0.1))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="--seeds: 1 is given twice"):
        StabilityConfig(seeds="1,2,1")
    with pytest.raises(ValueError, match="--personas: unknown 'pirate'"):
        StabilityConfig(personas="pirate")
    with pytest.raises(ValueError, match="did you mean 'futurist'"):
        StabilityConfig(personas="futurst")


def test_stability_cli_on_the_tiny_model_resumes_without_redoing_pairs(tiny_model_dir, tmp_path):
    argv = [
        "--personas",
        "futurist",
        "--seeds",
        "0,1",
        "--model",
        str(tiny_model_dir),
        "--n-samples",
        "1",
        "--max-new-tokens",
        "3",
        "--no-filter",
        "--n-boot",
        "20",
        "--n-splits",
        "3",
        "--report-layers",
        "1,2",
        "--run-dir",
        str(tmp_path / "gen"),
        "--out",
        str(tmp_path / "stab"),
    ]
    summary = main(argv)
    assert list(summary["paper_layer"]) == [1, 2] and summary["seed_cosine"].between(-1, 1).all()
    table = pd.read_csv(tmp_path / "stab" / "stability.csv")
    assert set(table["measure"]) >= {"seed_cosine", "spearman_brown", "bootstrap_cosine", "heldout_auc"}
    assert (tmp_path / "stab" / "figures" / "stability.html").exists()
    part = tmp_path / "stab" / "parts" / "futurist.seed1.csv"
    before = part.stat().st_mtime_ns
    main(argv)
    assert part.stat().st_mtime_ns == before  # finished pairs are not redone


def test_one_seed_reports_the_within_seed_measures_and_leaves_the_seed_cosine_empty(tiny_model_dir, tmp_path):
    argv = ["--personas", "futurist", "--seeds", "3", "--model", str(tiny_model_dir), "--n-samples", "1"]
    argv += ["--max-new-tokens", "3", "--no-filter", "--n-boot", "20", "--n-splits", "3", "--report-layers", "1,2"]
    summary = main([*argv, "--run-dir", str(tmp_path / "gen"), "--out", str(tmp_path / "stab")])
    table = pd.read_csv(tmp_path / "stab" / "stability.csv")
    assert set(table["measure"]) == {"split_half_cosine", "spearman_brown", "bootstrap_cosine", "heldout_auc"}
    assert (table["seed"] == 3).all()
    assert summary["seed_cosine"].isna().all() and summary["samples_x_for_threshold"].isna().all()
    assert summary["stable"].isna().all() and summary["bootstrap_cosine"].between(-1, 1).all()
    assert (tmp_path / "stab" / "figures" / "stability.html").exists()


def test_the_paper_preset_re_extracts_with_extracts_settings_and_reuses_its_answers():
    from billy_interp.jobs.extract import ExtractConfig

    paper = StabilityConfig(preset="paper", personas="futurist", seeds="0,1").settings()
    extract = ExtractConfig(persona="futurist", preset="paper")
    assert (paper.n_samples, paper.max_new_tokens, paper.keep_per_side) == (10, 1000, 20)
    assert (paper.filter_rule, paper.keep_order) == ("adaptive", "first")
    # the same plan in the same folder: seed 0's answers are extract --preset paper's, not new ones
    assert paper.plan(0) == extract.plan(0)
    assert paper.generation_dir("runs/extract", "M", "futurist", 0) == extract.generation_dir(
        "runs/extract", "M", "futurist", 0
    )
    assert paper.decisive() == ExtractionSettings(**{k: getattr(extract, k) for k in paper.decisive()}).decisive()
    shipped = StabilityConfig().settings()
    assert (shipped.n_samples, shipped.max_new_tokens, shipped.keep_per_side) == (2, 64, 0)
    with pytest.raises(UsageError, match="--n-samples 3 contradicts --preset paper"):
        StabilityConfig(preset="paper", n_samples=3)
    with pytest.raises(UsageError, match="--preset 'huge'"):
        StabilityConfig(preset="huge")
