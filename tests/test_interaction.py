from types import SimpleNamespace

import pytest
import torch
from torch import nn

from billy_interp.analysis.interaction import interaction_table
from billy_interp.core.model import SteerableModel, TokenBatch
from billy_interp.core.runners import ResidualRunner
from billy_interp.vectors.merging import MergeRecipe
from billy_interp.vectors.vector import PersonaVector

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

    def forward(
        self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, use_cache=False, logits_to_keep=0
    ):
        hidden = self.embed(input_ids)
        for layer in self.model.layers:
            hidden = layer(hidden)
        logits = self.head(hidden)
        return SimpleNamespace(logits=logits[:, -logits_to_keep:] if logits_to_keep else logits)


class _ToySteerable(SteerableModel):
    """Just enough of a SteerableModel for the forward primitive: the toy's residual runner."""

    context_length = None

    def __init__(self, toy):  # no bridge: TransformerLens cannot wrap the toy
        self.toy, self._runner, self.active_steerings = toy, ResidualRunner(toy), []

    def prepare(self, inputs, **_):
        return inputs

    def runner(self, backend="residual"):
        return self._runner

    def unembed(self, resid):
        return self.toy.head(resid)


RECIPE = MergeRecipe({"cre": 1, "env": 1, "fut": 2})  # coefficients 1/4, 1/4, 1/2


def _parts(d, n_layers, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return {
        name: PersonaVector(
            {f"blocks.{l}.hook_resid_post": scale * torch.randn(d, generator=g) for l in range(n_layers)}
        )
        for name in ("cre", "env", "fut")
    }


def test_merge_coefficients_for_the_paper_default():
    assert MergeRecipe.paper_default().coefficients() == {
        "creative_professional": 0.25,
        "environmentalist": 0.25,
        "futurist": 0.5,
    }
    with pytest.raises(ValueError, match="not a fixed linear"):
        MergeRecipe({"a": 1}, "unit_mean").coefficients()


@pytest.mark.parametrize("position", ["last", "all"])
def test_interaction_residual_is_zero_on_a_linear_network(position):
    toy = _ToySteerable(LinearToy())
    batch = TokenBatch(torch.tensor([[0, 5, 6, 7], [1, 2, 3, 4]]), torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]]))
    hooks = [f"blocks.{l}.hook_resid_post" for l in (1, 2)]
    table = interaction_table(
        toy, batch, _parts(D, 3), RECIPE, "blocks.0.hook_resid_post", hooks, [2.0, 8.0], position=position
    )
    residual = table[table["quantity"] == "interaction_residual"]["value"]
    assert (residual < 1e-5).all(), residual
    kl = table[table["quantity"] == "kl_merged_vs_linear"]["value"]
    assert len(kl) == (2 if position == "last" else 0) and (kl.abs() < 1e-6).all()
    proj = table[table["direction"] == "cre"].pivot_table(index=["alpha", "block"], columns="quantity", values="value")
    torch.testing.assert_close(
        torch.tensor(proj["projection:merged"].values),
        torch.tensor(proj["projection:linear_prediction"].values),
        rtol=1e-4,
        atol=1e-5,
    )


def test_interaction_residual_is_positive_on_a_transformer(tiny_model):
    batch = tiny_model.encode_chat(["hello there", "Give unusual uses for a brick."])
    parts = _parts(tiny_model.d_model, 2, scale=4.0)
    table = interaction_table(
        tiny_model, batch, parts, RECIPE, "blocks.0.hook_resid_post", ["blocks.1.hook_resid_post"], [4.0], unembed=False
    )
    assert table.loc[table["quantity"] == "interaction_residual", "value"].iloc[0] > 1e-3
