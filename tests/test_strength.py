import pytest
import torch

from billy_interp.analysis.strength import SINK_FACTOR, reference_norms, relative_alpha_scale, sink_mask
from billy_interp.core.steering import steer
from billy_interp.vectors.library import load_vectors

SHORT = ["Name a use for a brick."]
LONG = [
    "You are helping me plan a weekend workshop for a group of students who build things out of "
    "scrap material, and we need ideas. Name a use for a brick that nobody in the group would think "
    "of, and explain in one sentence how they would try it out safely in a school courtyard."
]


def test_sinks_are_detected_wherever_they_sit_and_padding_is_ignored():
    norms = torch.full((2, 2, 6), 10.0)
    norms[0, 0, 0] = 900.0  # a first-token sink
    norms[1, 1, 4] = 400.0  # a sink in the middle
    norms[:, 1, 0] = 5000.0  # padding: must not count
    real = torch.ones(2, 6, dtype=torch.bool)
    real[1, 0] = False
    sinks = sink_mask(norms, real)
    assert sinks.sum() == 2 and sinks[0, 0, 0] and sinks[1, 1, 4]
    assert not sink_mask(norms * 0 + 10.0, real).any()
    assert SINK_FACTOR > 1


def test_tiny_model_reference_columns(tiny_model):
    table = reference_norms(tiny_model, ["hello there", "a b c d e f"], new_tokens=3)
    assert list(table["block"]) == list(tiny_model.layers.blocks)
    assert (table["h_norm"] > 0).all() and (table["positions"] > 0).all()


@pytest.mark.integration
def test_smollm2_reference_ignores_the_sink_and_does_not_move_with_prompt_length(smollm2):
    short = reference_norms(smollm2, SHORT).set_index("paper_layer").loc[20]
    long = reference_norms(smollm2, LONG).set_index("paper_layer").loc[20]
    # the first token is an attention sink far above the reference at paper layer 20
    assert short["sink_positions"] >= 1 and short["sink_norm"] > 20 * short["h_norm"]
    # 0.1's statistic (mean over prompt tokens, sink included) falls as the prompt grows ...
    assert short["h_prompt_mean"] > 1.5 * long["h_prompt_mean"]
    # ... the reference does not
    assert long["h_norm"] == pytest.approx(short["h_norm"], rel=0.15)


@pytest.mark.integration
def test_scale_is_measured_on_the_plain_model_even_inside_a_steer_block(smollm2):
    merged = load_vectors(["futurist"], smollm2)["futurist"]
    plain = relative_alpha_scale(smollm2, SHORT, merged, new_tokens=8)
    with steer(smollm2, merged, alpha=64.0, layer=10):
        inside = relative_alpha_scale(smollm2, SHORT, merged, new_tokens=8)
    assert plain["scale"].tolist() == pytest.approx(inside["scale"].tolist())
    assert (plain["scale"] == plain["v_norm"] / plain["h_norm"]).all()
