import pandas as pd
import pytest
import torch

from billy_interp.analysis.interaction import largest_deviations
from billy_interp.jobs.interaction import InteractionConfig, run_interaction
from tests.conftest import job_main

main = job_main(InteractionConfig, run_interaction)


def test_interaction_cli_on_the_tiny_model(tiny_model_dir, tiny_vectors, tmp_path):
    out = tmp_path / "inter"
    table = main(
        [
            "--model",
            str(tiny_model_dir),
            "--vectors-dir",
            str(tiny_vectors),
            "--paper-layer",
            "1",
            "--alphas",
            "2,8",
            "--max-new-tokens",
            "4",
            "--out",
            str(out),
        ]
    )
    residual = table[table["quantity"] == "interaction_residual"]
    assert set(residual["position"]) == {"last", "all"} and set(residual["alpha"]) == {2.0, 8.0}
    assert (residual["value"] >= 0).all() and "relative_alpha" in table
    assert len(table[table["quantity"] == "kl_merged_vs_linear"]) == 2  # last position only, one per alpha
    texts = pd.read_csv(out / "texts.csv")
    assert {"base", "merged", "mrp_prompt", "single:futurist"} <= set(texts["condition"])
    traits = pd.read_csv(out / "traits.csv")
    assert set(traits["persona"]) == {"creative_professional", "environmentalist", "futurist"}
    deviations = pd.read_csv(out / "deviations.csv")
    assert set(deviations["kind"]) == {"interaction_residual", "projection_gap"}


def test_largest_deviations_sorts_by_size():
    table = pd.DataFrame(
        {
            "alpha": 1.0,
            "block": [0, 1, 0, 0],
            "position": "last",
            "quantity": [
                "interaction_residual",
                "interaction_residual",
                "projection:merged",
                "projection:linear_prediction",
            ],
            "direction": ["", "", "x", "x"],
            "value": [0.1, 0.5, 2.0, 1.5],
            "sem": 0.0,
        }
    )
    top = largest_deviations(table, top=1)
    assert top[top["kind"] == "interaction_residual"]["block"].tolist() == [1]
    assert top[top["kind"] == "projection_gap"]["gap"].tolist() == [0.5]


def test_bad_alphas_and_positions_are_named():
    with pytest.raises(ValueError, match="nonzero"):
        InteractionConfig(alphas="0,2")
    with pytest.raises(ValueError, match="--positions: unknown 'middle'"):
        InteractionConfig(positions="middle")
    with pytest.raises(ValueError, match="--alphas: 'x' is not a number"):
        InteractionConfig(alphas="2,x")


@pytest.mark.integration
def test_merged_vectors_do_not_add_up_linearly_on_smollm2(smollm2):
    from billy_interp.analysis.interaction import interaction_table
    from billy_interp.vectors.library import load_vectors
    from billy_interp.vectors.merging import MergeRecipe

    recipe = MergeRecipe.paper_default()
    vectors = load_vectors(list(recipe.weights), smollm2)
    hooks = [smollm2.layers.hook_name(b) for b in (19, 24, 29)]
    batch = smollm2.encode_raw(["Design a playground.", "Plan a bus timetable."])
    table = interaction_table(smollm2, batch, vectors, recipe, hooks[0], hooks, [8.0])
    residual = table[table["quantity"] == "interaction_residual"].set_index("block")["value"]
    assert residual[19] < 1e-5  # at the steered block itself the effect is exactly linear
    assert residual[29] > 1e-3  # downstream the network is not
    kl = table[table["quantity"] == "kl_merged_vs_linear"]["value"].iloc[0]
    assert kl > 0 and torch.isfinite(torch.tensor(kl))
