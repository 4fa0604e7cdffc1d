from types import SimpleNamespace

import pytest
import torch
from torch import nn

from billy_interp.analysis.interaction import effective_coefficients, interaction_table
from billy_interp.model import TokenBatch
from billy_interp.runners import ResidualRunner
from billy_interp.vectors import MergeRecipe

D = 16


class _LinearBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(D, D)

    def forward(self, hidden, **_):
        return hidden + self.lin(hidden)


class LinearToy(nn.Module):
    """A causal-LM-shaped network with no nonlinearity anywhere: effects must add up exactly."""

    def __init__(self, n_layers=3, vocab=50):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(vocab, D)
        self.model = nn.Module()
        self.model.layers = nn.ModuleList([_LinearBlock() for _ in range(n_layers)])
        self.head = nn.Linear(D, vocab)

    def forward(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, use_cache=False, logits_to_keep=0):
        hidden = self.embed(input_ids)
        for layer in self.model.layers:
            hidden = layer(hidden)
        logits = self.head(hidden)
        return SimpleNamespace(logits=logits[:, -logits_to_keep:] if logits_to_keep else logits)


def _parts(d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"cre": torch.randn(d, generator=g), "env": torch.randn(d, generator=g), "fut": torch.randn(d, generator=g)}


def test_effective_coefficients_for_the_paper_default():
    assert effective_coefficients(MergeRecipe.paper_default()) == {
        "creative_professional": 0.25, "environmentalist": 0.25, "futurist": 0.5}
    with pytest.raises(ValueError, match="not a fixed linear"):
        effective_coefficients(MergeRecipe({"a": 1}, "unit_mean"))


@pytest.mark.parametrize("position", ["last", "all"])
def test_interaction_residual_is_zero_on_a_linear_network(position):
    toy = LinearToy()
    runner = ResidualRunner(toy)
    batch = TokenBatch(torch.tensor([[0, 5, 6, 7], [1, 2, 3, 4]]), torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]]))
    parts = _parts(D)
    coefs = {"cre": 0.25, "env": 0.25, "fut": 0.5}
    hooks = [f"blocks.{l}.hook_resid_post" for l in (1, 2)]
    table = interaction_table(runner, batch, parts, coefs, "blocks.0.hook_resid_post", hooks, [2.0, 8.0],
                              {"cre": {h: parts["cre"] for h in hooks}}, unembed=toy.head, position=position)
    residual = table[table["quantity"] == "interaction_residual"]["value"]
    assert (residual < 1e-5).all(), residual
    kl = table[table["quantity"] == "kl_merged_vs_linear"]["value"]
    assert len(kl) == (2 if position == "last" else 0) and (kl.abs() < 1e-6).all()
    proj = table[table["direction"] == "cre"].pivot_table(index=["alpha", "block"], columns="quantity", values="value")
    torch.testing.assert_close(torch.tensor(proj["projection:merged"].values),
                               torch.tensor(proj["projection:linear_prediction"].values), rtol=1e-4, atol=1e-5)


def test_interaction_residual_is_positive_on_a_transformer(tiny_model):
    batch = tiny_model.encode_chat(["hello there", "Give unusual uses for a brick."])
    parts = {k: v * 4 for k, v in _parts(tiny_model.d_model).items()}
    table = interaction_table(tiny_model.runner(), batch, parts, {"cre": 0.25, "env": 0.25, "fut": 0.5},
                              "blocks.0.hook_resid_post", ["blocks.1.hook_resid_post"], [4.0], {})
    assert table.loc[table["quantity"] == "interaction_residual", "value"].iloc[0] > 1e-3
