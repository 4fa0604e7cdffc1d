import numpy as np
import pandas as pd
import pytest
import torch

from billy_interp.analysis.projection import (
    position_profile,
    project,
    prompt_projections,
    summarize_projections,
    token_projections,
)
from billy_interp.core.steering import Steering
from billy_interp.jobs.projection import ProjectionConfig, run_projection
from tests.conftest import job_main


def test_project_is_the_scalar_projection_on_the_unit_direction():
    effect = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    assert project(effect, torch.tensor([2.0, 0.0])).tolist() == [3.0, 1.0]
    with pytest.raises(ValueError, match="zero"):
        project(effect, torch.zeros(2))


def _planted(d, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(d, generator=g)
    w = torch.randn(d, generator=g)
    w = w - (w @ u) / (u @ u) * u  # orthogonal to u
    return u, w


def test_steering_moves_its_own_axis_by_alpha_and_not_an_orthogonal_one(tiny_model):
    u, w = _planted(tiny_model.d_model)
    hooks = ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    table = prompt_projections(
        tiny_model,
        ["Design a bench.", "Plan a meeting for six people."],
        prefixes={"Base": "Hello. "},
        steerings={"BILLY(u)": {hooks[0]: u / u.norm()}},
        directions={"u": {h: u for h in hooks}, "w": {h: w for h in hooks}},
        readout_hooks=hooks,
        alpha=2.0,
        kinds=["creative", "neutral"],
    )
    at_steered = table[(table["condition"] == "BILLY(u)") & (table["block"] == 0)]
    np.testing.assert_allclose(at_steered[at_steered["direction"] == "u"]["projection"], 2.0, atol=1e-5)
    np.testing.assert_allclose(at_steered[at_steered["direction"] == "w"]["projection"], 0.0, atol=1e-5)
    downstream = table[(table["condition"] == "BILLY(u)") & (table["block"] == 1) & (table["direction"] == "u")]
    assert not np.allclose(downstream["projection"], 2.0, atol=1e-4)  # block 1 transforms the effect
    base = table[table["condition"] == "Base"]
    assert set(base["kind"]) == {"creative", "neutral"} and base["projection"].abs().sum() > 0
    summary = summarize_projections(table, n_boot=200)
    row = summary[(summary["condition"] == "BILLY(u)") & (summary["direction"] == "u") & (summary["block"] == 0)].iloc[
        0
    ]
    assert row["ci_low"] <= row["mean"] <= row["ci_high"] and row["n"] == 2


def test_token_projections_see_the_steering_on_response_tokens_only(tiny_model):
    u, _ = _planted(tiny_model.d_model, seed=3)
    hook = "blocks.0.hook_resid_post"
    prompt = tiny_model.tokenizer(tiny_model.format_chat("hello there"), add_special_tokens=False)["input_ids"]
    response = prompt[-4:]
    steering = Steering.from_vectors({hook: u / u.norm()}, 3.0)
    plain, steered = token_projections(
        tiny_model, [prompt, prompt], [response, response], [None, steering], hook, {"u": u}
    )
    assert len(plain["u"]) == len(response)
    np.testing.assert_allclose(steered["u"] - plain["u"], 3.0, atol=1e-5)


def test_position_profile_bins_relative_positions():
    per_token = pd.DataFrame(
        {
            "condition": "c",
            "direction": "d",
            "response_id": 0,
            "position": range(10),
            "length": 10,
            "projection": np.arange(10.0),
        }
    )
    profile = position_profile(per_token, n_bins=5)
    assert list(profile["mean"]) == [0.5, 2.5, 4.5, 6.5, 8.5]
    assert list(profile["relative_position"]) == [0.1, 0.3, 0.5, 0.7, 0.9]


main = job_main(ProjectionConfig, run_projection)


def test_projection_cli_on_the_tiny_model(tiny_model_dir, tiny_vectors, tmp_path):
    out = tmp_path / "proj"
    summary = main(
        [
            "--model",
            str(tiny_model_dir),
            "--vectors-dir",
            str(tiny_vectors),
            "--paper-layer",
            "1",
            "--token-layer",
            "2",
            "--n-responses",
            "2",
            "--max-new-tokens",
            "4",
            "--n-boot",
            "50",
            "--out",
            str(out),
        ]
    )
    assert {"Base", "Prompt MRP(CRE+ENV)", "BILLY(CRE+ENV)", "BILLY(CRE)", "BILLY(ENV)"} == set(summary["condition"])
    assert set(summary["kind"]) == {"all", "creative", "neutral"}
    assert (out / "figures" / "fig3_projection.html").exists() and (out / "figures" / "token_view.html").exists()
    tokens = pd.read_csv(out / "token_projections.csv")
    assert set(tokens["condition"]) == {"plain", "MRP prompt", "BILLY"}
    # centred on the plain responses: their mean projection is 0 on every direction
    plain = tokens[tokens["condition"] == "plain"].groupby("direction")["projection"].mean()
    np.testing.assert_allclose(plain.values, 0.0, atol=1e-6)


def test_projection_cli_rejects_a_single_part(tmp_path):
    with pytest.raises(ValueError, match="at least two"):
        main(["--parts", "futurist", "--out", str(tmp_path)])
