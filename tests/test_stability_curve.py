import pandas as pd
import pytest

from billy_interp.figures import plot_stability_curve
from billy_interp.jobs.stability_curve import StabilityCurveConfig, run_stability_curve
from tests.conftest import job_main

main = job_main(StabilityCurveConfig, run_stability_curve)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="at least two distinct seeds"):
        StabilityCurveConfig(seeds="3")
    with pytest.raises(ValueError, match="--sample-sizes"):
        StabilityCurveConfig(sample_sizes="2,0")
    with pytest.raises(ValueError, match="did you mean 'futurist'"):
        StabilityCurveConfig(personas="futurst")


def test_curve_on_the_tiny_model_is_nested_tidy_and_resumable(tiny_model_dir, tmp_path):
    argv = [
        "--personas",
        "futurist",
        "--seeds",
        "0,1",
        "--sample-sizes",
        "1,2",
        "--model",
        str(tiny_model_dir),
        "--max-new-tokens",
        "3",
        "--no-filter",
        "--n-boot",
        "10",
        "--report-layers",
        "1,2",
        "--run-dir",
        str(tmp_path / "gen"),
        "--out",
        str(tmp_path / "curve"),
    ]
    curve = main(argv)
    assert set(curve["k"]) == {1, 2} and set(curve["pooling"]) == {"response_mean", "prompt_mean", "last_prompt"}
    assert len(curve) == 2 * 3 * 2  # k x pooling x blocks
    assert curve["mean_cosine"].between(-1, 1).all() and curve["heldout_auc"].between(0, 1).all()
    per_k = curve[curve["pooling"] == "response_mean"].groupby("k")["kept_positive"].first()
    assert per_k[2] == 2 * per_k[1]  # the first k samples of every prompt, no filter
    assert (tmp_path / "curve" / "figures" / "stability_curve.html").exists()
    assert (tmp_path / "curve" / "vectors").is_dir()
    part = tmp_path / "curve" / "parts" / "futurist.seed1.csv"
    before = part.stat().st_mtime_ns
    again = main(argv)
    assert part.stat().st_mtime_ns == before  # finished pairs are not redone
    pd.testing.assert_frame_equal(curve, again)


def test_curve_figure_needs_rows_at_the_requested_blocks():
    curve = pd.DataFrame(
        {"persona": "p", "paper_layer": 2, "block": 1, "k": [1, 2], "mean_cosine": 0.5, "ci_low": 0.4}
        | {"ci_high": 0.6, "heldout_auc": 0.7, "pooling": "response_mean"}
    )
    assert len(plot_stability_curve(curve, [1]).data) == 2
    with pytest.raises(ValueError, match="no rows at blocks"):
        plot_stability_curve(curve, [5])
