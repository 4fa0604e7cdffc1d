import pytest
import torch

from billy_interp.core.model import SteerableModel
from billy_interp.core.runners import clone_module_tree, left_padded_position_ids
from tests.conftest import build_tiny_hf


def test_clone_shares_parameters_and_keeps_fast_attention(tiny_model):
    plain, wrapped = tiny_model.hf_model, tiny_model.bridge.original_model
    for (name, p), (_, q) in zip(plain.named_parameters(), wrapped.named_parameters()):
        assert p.data_ptr() == q.data_ptr(), name
    assert plain.config._attn_implementation == "sdpa"
    assert wrapped.config._attn_implementation == "eager"
    assert type(plain.model.layers[0]).__name__ == "LlamaDecoderLayer"
    assert type(plain.model.layers[0].self_attn).__name__ == "LlamaAttention"


def test_clone_does_not_share_hooks():
    layer = torch.nn.Linear(2, 2)
    clone = clone_module_tree(layer, {})
    calls = []
    layer.register_forward_hook(lambda *a: calls.append(1))
    clone(torch.zeros(1, 2))
    assert calls == []
    assert clone.weight is layer.weight


def test_residual_hook_points_cover_every_block(tiny_model):
    names = set(tiny_model.residual.hook_points)
    assert names == {f"blocks.{l}.hook_resid_{s}" for l in range(2) for s in ("pre", "post")}
    for name in names:
        assert name in tiny_model.bridge.hook_dict


def test_both_runners_agree_on_residuals(tiny_model):
    from billy_interp.core.activations import collect_residuals

    batch = tiny_model.encode_chat(["hello there", "What is the capital of France?"])
    fast = collect_residuals(tiny_model, batch, backend="residual")
    bridge = collect_residuals(tiny_model, batch, backend="bridge")
    real = batch.attention_mask.bool()
    torch.testing.assert_close(fast[:, real], bridge[:, real], rtol=1e-4, atol=1e-5)


def test_left_padded_position_ids():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert left_padded_position_ids(mask).tolist() == [[0, 0, 0, 1], [0, 1, 2, 3]]


def test_unsupported_architecture_is_a_clear_error(tiny_tokenizer):
    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = build_tiny_hf(tiny_tokenizer).config
            self.config.architectures = ["OddForCausalLM"]
            self.lin = torch.nn.Linear(2, 2)

    # Neither the bridge nor the residual runner can run it: one error that says both.
    with pytest.raises(ValueError, match="OddForCausalLM.*residual runner cannot run it either.*decoder blocks"):
        SteerableModel.from_hf(Odd(), tiny_tokenizer, "odd")


def test_unknown_model_name_is_a_clear_offline_error():
    from billy_interp.core.loading import load_model

    with pytest.raises(FileNotFoundError, match="not available offline"):
        load_model("no-such-org/no-such-model-xyz")
