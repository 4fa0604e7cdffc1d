import pytest
import torch

from billy_interp.activations import collect_residuals
from billy_interp.generation import GenerationConfig, generate
from billy_interp.runners import left_padded_position_ids
from billy_interp.steering import PositionState, Steering, steer

PROMPTS = ["hello there", "What is the capital of France?", "Give unusual uses for a brick."]


def _unit(d, seed=0):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(d, generator=g)
    return v / v.norm()


def _capture_all(model, batch, steering, backend="residual"):
    """Residuals at every block under steering, from one plain forward pass."""
    runner = model.runner(backend)
    store = {}
    hooks = [(n, (lambda n: lambda x, hook: store.__setitem__(n, x.clone()))(n)) for n in model.layers.hook_names()]
    with steer(runner, steering) as state:
        state.set_prompt(batch.attention_mask)
        with runner.hooks(hooks):
            runner.forward(batch.input_ids, batch.attention_mask, left_padded_position_ids(batch.attention_mask))
    return torch.stack([store[n] for n in model.layers.hook_names()])


@pytest.mark.parametrize("backend", ["residual", "bridge"])
def test_steered_activation_is_base_plus_alpha_v_and_earlier_layers_untouched(tiny_model, backend):
    model = tiny_model
    batch = model.encode_chat(PROMPTS)
    v = _unit(model.d_model)
    hook = model.layers.hook_name(0)
    base = _capture_all(model, batch, None, backend)
    steered = _capture_all(model, batch, Steering.from_vectors({hook: v}, 3.0, "all"), backend)
    real = batch.attention_mask.bool()
    expected = base[0] + 3.0 * v
    torch.testing.assert_close(steered[0][real], expected[real], rtol=0, atol=1e-6)
    # The steering hook on block 0's output runs after block 0: nothing before it may change.
    pre = collect_residuals(model, batch, site="resid_pre", backend=backend)
    with steer(model.runner(backend), Steering.from_vectors({hook: v}, 3.0, "all")):
        pre_steered = collect_residuals(model, batch, site="resid_pre", backend=backend)
    assert torch.equal(pre[0], pre_steered[0])
    assert not torch.allclose(steered[1][real], base[1][real])


def test_response_mode_steers_only_the_last_prompt_token_in_one_pass(tiny_model):
    model = tiny_model
    batch = model.encode_chat(PROMPTS)
    v = _unit(model.d_model, 1)
    hook = model.layers.hook_name(1)
    base = _capture_all(model, batch, None)
    steered = _capture_all(model, batch, Steering.from_vectors({hook: v}, 2.0, "response"))
    diff = (steered[1] - base[1]).norm(dim=-1)
    assert torch.all(diff[:, :-1] == 0)
    torch.testing.assert_close(diff[:, -1], torch.full((3,), 2.0), rtol=1e-5, atol=1e-5)


def test_prompt_mode_skips_padding(tiny_model):
    model = tiny_model
    batch = model.encode_chat(PROMPTS)
    hook = model.layers.hook_name(1)
    base = _capture_all(model, batch, None)
    steered = _capture_all(model, batch, Steering.from_vectors({hook: _unit(model.d_model)}, 1.0, "prompt"))
    changed = (steered[1] - base[1]).norm(dim=-1) > 0
    assert torch.equal(changed, batch.attention_mask.bool())


def test_per_row_alpha_matches_single_row_runs(tiny_model):
    model = tiny_model
    v = _unit(model.d_model, 2) * 4
    hook = model.layers.hook_name(0)
    cfg = GenerationConfig(max_new_tokens=8, batch_size=8)
    alphas = [0.0, 1.0, -2.0]
    together = generate(model, PROMPTS, cfg, Steering.from_vectors({hook: v}, alphas))
    for i, alpha in enumerate(alphas):
        alone = generate(model, [PROMPTS[i]], cfg, Steering.from_vectors({hook: v}, alpha))
        assert together.token_ids[i] == alone.token_ids[0]


def test_per_row_layer_matches_single_layer_runs(tiny_model):
    model = tiny_model
    v = _unit(model.d_model, 3) * 4
    rows = [{model.layers.hook_name(0): v}, {model.layers.hook_name(1): v}, {}]
    cfg = GenerationConfig(max_new_tokens=8)
    together = generate(model, PROMPTS, cfg, Steering.per_row(rows))
    for i, row in enumerate(rows):
        alone = generate(model, [PROMPTS[i]], cfg, Steering.per_row([row]) if row else None)
        assert together.token_ids[i] == alone.token_ids[0]


@pytest.mark.parametrize("backend", ["residual", "bridge"])
def test_hooks_are_removed_when_the_body_raises(tiny_model, backend):
    runner = tiny_model.runner(backend)
    hook = tiny_model.layers.hook_name(1)
    point = runner.hook_points[hook]
    before = len(point._forward_hooks)
    with pytest.raises(RuntimeError, match="boom"):
        with steer(runner, Steering.from_vectors({hook: _unit(tiny_model.d_model)}, 5.0)):
            assert len(point._forward_hooks) == before + 1
            raise RuntimeError("boom")
    assert len(point._forward_hooks) == before
    batch = tiny_model.encode_chat(PROMPTS)
    assert torch.equal(collect_residuals(tiny_model, batch, backend=backend),
                       collect_residuals(tiny_model, batch, backend=backend))


def test_bad_steering_inputs_are_clear_errors(tiny_model):
    from jaxtyping import TypeCheckError

    # Under pytest the jaxtyping/beartype import hook rejects the bad literal first; users
    # (no import hook) get the ValueError from __post_init__.
    with pytest.raises((ValueError, TypeCheckError), match="everywhere"):
        Steering({}, "everywhere")
    with pytest.raises(ValueError, match="NaN"):
        Steering.from_vectors({"blocks.0.hook_resid_post": torch.full((64,), float("nan"))})
    with pytest.raises(KeyError, match="do not exist"):
        with steer(tiny_model.runner(), Steering.from_vectors({"blocks.9.hook_resid_post": torch.ones(64)})):
            pass
    with pytest.raises(ValueError, match="rows"):
        generate(tiny_model, PROMPTS[:2], GenerationConfig(max_new_tokens=2),
                 Steering.from_vectors({"blocks.0.hook_resid_post": torch.ones(64)}, [1.0, 2.0, 3.0]))


def test_position_state_masks():
    state = PositionState()
    state.set_prompt(torch.tensor([[0, 1, 1], [1, 1, 1]]))
    assert state.mask("all", 2, 3, torch.device("cpu")).tolist() == [[0, 1, 1], [1, 1, 1]]
    assert state.mask("response", 2, 3, torch.device("cpu")).tolist() == [[0, 0, 1], [0, 0, 1]]
    state.at(3)  # first generated token, KV-cached
    assert state.mask("prompt", 2, 1, torch.device("cpu")).tolist() == [[0], [0]]
    assert state.mask("response", 2, 1, torch.device("cpu")).tolist() == [[1], [1]]
