import pytest
import torch

from billy_interp.core.activations import collect_residuals
from billy_interp.core.forward import run_with_cache
from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.steering import PositionState, Steering, steer, steering_hooks

PROMPTS = ["hello there", "What is the capital of France?", "Give unusual uses for a brick."]


def _unit(d, seed=0):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(d, generator=g)
    return v / v.norm()


def _capture_all(model, batch, steering, backend="residual"):
    """Residuals at every block under steering, from one forward pass."""
    return run_with_cache(model, batch, steering=steering, backend=backend).stack()


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
    with steer(model, Steering.from_vectors({hook: v}, 3.0, "all")):
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
    steering = Steering.from_vectors({hook: _unit(tiny_model.d_model)}, 5.0)
    with pytest.raises(RuntimeError, match="boom"), steering_hooks(runner, [steering]):
        assert len(point._forward_hooks) == before + 1
        raise RuntimeError("boom")
    assert len(point._forward_hooks) == before
    with pytest.raises(RuntimeError, match="boom"), steer(tiny_model, steering):
        assert len(tiny_model.active_steerings) == 1
        raise RuntimeError("boom")
    assert tiny_model.active_steerings == []
    batch = tiny_model.encode_chat(PROMPTS)
    assert torch.equal(
        collect_residuals(tiny_model, batch, backend=backend), collect_residuals(tiny_model, batch, backend=backend)
    )


def test_bad_steering_inputs_are_clear_errors(tiny_model):
    from jaxtyping import TypeCheckError

    # Under pytest the jaxtyping/beartype import hook rejects the bad literal first; users
    # (no import hook) get the ValueError from __post_init__.
    with pytest.raises((ValueError, TypeCheckError), match="everywhere"):
        Steering({}, "everywhere")
    with pytest.raises(ValueError, match="NaN"):
        Steering.from_vectors({"blocks.0.hook_resid_post": torch.full((64,), float("nan"))})
    far = Steering.from_vectors({"blocks.9.hook_resid_post": torch.ones(64)})
    with pytest.raises(KeyError, match="do not exist"), steer(tiny_model, far):
        pass
    with pytest.raises(ValueError, match="needs alpha="), steer(tiny_model, _FakeVector()):
        pass
    with pytest.raises(ValueError, match="rows"):
        generate(
            tiny_model,
            PROMPTS[:2],
            GenerationConfig(max_new_tokens=2),
            Steering.from_vectors({"blocks.0.hook_resid_post": torch.ones(64)}, [1.0, 2.0, 3.0]),
        )


def test_position_state_masks():
    state = PositionState()
    state.set_prompt(torch.tensor([[0, 1, 1], [1, 1, 1]]))
    assert state.mask("all", 2, 3, torch.device("cpu")).tolist() == [[0, 1, 1], [1, 1, 1]]
    assert state.mask("response", 2, 3, torch.device("cpu")).tolist() == [[0, 0, 1], [0, 0, 1]]
    state.at(3)  # first generated token, KV-cached
    assert state.mask("prompt", 2, 1, torch.device("cpu")).tolist() == [[0], [0]]
    assert state.mask("response", 2, 1, torch.device("cpu")).tolist() == [[1], [1]]


class _FakeVector:
    """Anything with a ``steering`` method works as a vector for ``steer``."""

    def steering(self, alpha, **kwargs):
        raise AssertionError("not reached")


def test_steer_as_a_context_manager_equals_steering_as_an_argument(tiny_model):
    from billy_interp.vectors.vector import PersonaVector

    g = torch.Generator().manual_seed(4)
    vector = PersonaVector({tiny_model.layers.hook_name(b): 4 * torch.randn(64, generator=g) for b in range(2)})
    cfg = GenerationConfig(max_new_tokens=8)
    argument = generate(tiny_model, PROMPTS, cfg, vector.steering(3.0, layer=2, model=tiny_model))
    with steer(tiny_model, vector, alpha=3.0, layer=2):
        inside = generate(tiny_model, PROMPTS, cfg)
        captured = run_with_cache(tiny_model, PROMPTS, blocks=1)
    with vector.apply(tiny_model, 3.0, block=1):  # the same hook named by TL block
        applied = generate(tiny_model, PROMPTS, cfg)
    plain = generate(tiny_model, PROMPTS, cfg)
    assert inside.token_ids == argument.token_ids == applied.token_ids != plain.token_ids
    expected = run_with_cache(tiny_model, PROMPTS, blocks=1, steering=vector.steering(3.0, block=1))
    assert torch.equal(captured[tiny_model.layers.hook_name(1)], expected[tiny_model.layers.hook_name(1)])
    assert tiny_model.active_steerings == []


def test_layer_and_block_name_the_same_hook_and_must_not_both_be_given(tiny_model):
    from billy_interp.vectors.vector import PersonaVector

    vector = PersonaVector({tiny_model.layers.hook_name(b): torch.ones(64) for b in range(2)})
    assert vector.steering(1.0, layer=2).hooks == vector.steering(1.0, block=1).hooks == ["blocks.1.hook_resid_post"]
    with pytest.raises(ValueError, match="exactly one of layer="):
        vector.steering(1.0, layer=2, block=1)
    with pytest.raises(ValueError, match="paper layer 3 is out of range"):
        vector.steering(1.0, layer=3, model=tiny_model)
    with pytest.raises(ValueError, match="paper layer 0 is out of range"):
        vector.steering(1.0, layer=0)


def _hf_hooked_greedy(reference, batch, layer_module, delta, mode, n_tokens, pad_id):
    """Plain HF generate with a plain PyTorch forward hook adding ``delta`` on a decoder layer's output:
    every position (``all``), or the last prompt token at prefill and each new token (``response``)."""

    def add(_module, _args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        hidden = hidden.clone()
        if mode == "all" or hidden.shape[1] == 1:
            hidden += delta
        else:
            hidden[:, -1] += delta
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = layer_module.register_forward_hook(add)
    try:
        out = reference.generate(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            do_sample=False,
            max_new_tokens=n_tokens,
            pad_token_id=pad_id,
        )
    finally:
        handle.remove()
    return out[0, batch.input_ids.shape[1] :].tolist()


def _assert_matches_plain_hook(model, reference, vector, layer, alpha, n_tokens, prompts):
    from billy_interp.core.layers import paper_layer_to_block
    from billy_interp.core.runners import decoder_layers

    block = paper_layer_to_block(layer)
    config = GenerationConfig(max_new_tokens=n_tokens)
    plain = {prompt: generate(model, [prompt], config).token_ids[0] for prompt in prompts}
    changed = False
    for mode in ("response", "all"):
        steering = vector.steering(alpha, layer=layer, positions=mode, model=model)
        for prompt in prompts:
            batch = model.encode_chat([prompt])
            ours = generate(model, [prompt], config, steering).token_ids[0]
            delta = alpha * vector.at(layer)
            theirs = _hf_hooked_greedy(
                reference, batch, decoder_layers(reference)[block], delta, mode, n_tokens, model.tokenizer.pad_token_id
            )
            assert ours == theirs[: len(ours)] and len(ours) == len(theirs), (mode, prompt)
            changed |= ours != plain[prompt]
    assert changed  # the steering changed some output, or the equality would say nothing


def test_steering_equals_a_plain_forward_hook_on_the_hf_decoder_layer_tiny(tiny_model, tiny_reference):
    from billy_interp.vectors.vector import PersonaVector

    g = torch.Generator().manual_seed(11)
    vector = PersonaVector({tiny_model.layers.hook_name(b): torch.randn(64, generator=g) for b in range(2)})
    _assert_matches_plain_hook(tiny_model, tiny_reference, vector, 2, 4.0, 16, PROMPTS)


@pytest.mark.integration
def test_steering_at_paper_layer_20_equals_a_plain_forward_hook_smollm2(smollm2, smollm2_reference):
    """The independent check: our steered greedy tokens at paper layer 20 (alpha 8 on the paper's merged
    vector) equal plain HF ``generate`` with a hand-written PyTorch hook on decoder layer 19, 32 tokens."""
    from billy_interp.vectors.library import load_vectors
    from billy_interp.vectors.merging import MergeRecipe, merge

    recipe = MergeRecipe.paper_default()
    merged = merge(load_vectors(recipe.weights, smollm2), recipe)
    _assert_matches_plain_hook(
        smollm2,
        smollm2_reference,
        merged,
        20,
        8.0,
        32,
        ["Give three creative uses for a brick.", "Describe a city of the future."],
    )
