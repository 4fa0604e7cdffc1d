import pytest
import torch

from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.steering import Steering
from tests.conftest import CHAT_PROMPTS


def _hf_greedy(reference, model, prompt, max_new_tokens):
    batch = model.encode_chat([prompt])
    out = reference.generate(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=model.tokenizer.pad_token_id,
    )
    return out[0, batch.input_ids.shape[1] :].tolist()


_HF_CACHE: dict = {}


def _assert_same_as_hf(model, reference, n_tokens, backend):
    """Ours (unsteered, and steered with alpha = 0) against plain HF greedy, prompt by prompt."""
    key = (id(reference), n_tokens)
    if key not in _HF_CACHE:  # the HF reference does not depend on backend or steering: run it once
        _HF_CACHE[key] = [_hf_greedy(reference, model, p, n_tokens) for p in CHAT_PROMPTS]
    zero = Steering.from_vectors({model.layers.hook_name(model.layers.n_layers - 1): torch.ones(model.d_model)}, 0.0)
    for steering in (None, zero):
        ours = generate(model, CHAT_PROMPTS, GenerationConfig(max_new_tokens=n_tokens, backend=backend), steering)
        for prompt, ids, theirs in zip(CHAT_PROMPTS, ours.token_ids, _HF_CACHE[key]):
            assert ids == theirs[: len(ids)] and len(ids) == len(theirs), prompt


@pytest.mark.parametrize("backend", ["residual", "bridge"])
def test_unsteered_greedy_is_token_identical_to_plain_hf_tiny(tiny_model, tiny_reference, backend):
    _assert_same_as_hf(tiny_model, tiny_reference, 12, backend)


def test_hf_generate_kwargs_give_hf_the_same_decoding(tiny_model, tiny_reference):
    """Greedy with BILLY's penalties and no stop at EOS: HF ``generate`` fed our config's
    kwargs writes our tokens; sampled configs carry their sampling settings over."""
    config = GenerationConfig(max_new_tokens=10, repetition_penalty=1.2, no_repeat_ngram_size=3, stop_at_eos=False)
    ours = generate(tiny_model, CHAT_PROMPTS[:2], config).token_ids
    for prompt, mine in zip(CHAT_PROMPTS[:2], ours):
        batch = tiny_model.encode_chat([prompt])
        out = tiny_reference.generate(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            pad_token_id=tiny_model.tokenizer.pad_token_id,
            **config.hf_generate_kwargs(),
        )
        assert out[0, batch.input_ids.shape[1] :].tolist() == mine
    sampled = GenerationConfig.billy(temperature=0.7).hf_generate_kwargs()
    assert (sampled["do_sample"], sampled["top_p"], sampled["temperature"]) == (True, 0.8, 0.7)
    assert "min_new_tokens" not in sampled and "temperature" not in config.hf_generate_kwargs()


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["residual", "bridge"])
def test_unsteered_greedy_is_token_identical_to_plain_hf_smollm2(smollm2, smollm2_reference, backend):
    _assert_same_as_hf(smollm2, smollm2_reference, 24, backend)


def _kv_agreement(model, backend, n_tokens, steering=None):
    cached = generate(model, CHAT_PROMPTS, GenerationConfig(max_new_tokens=n_tokens, backend=backend), steering)
    uncached = generate(
        model, CHAT_PROMPTS, GenerationConfig(max_new_tokens=n_tokens, backend=backend, use_cache=False), steering
    )
    assert cached.token_ids == uncached.token_ids
    assert cached.forward_passes == uncached.forward_passes


@pytest.mark.parametrize("backend", ["residual", "bridge"])
@pytest.mark.parametrize("mode", [None, "all", "prompt", "response"])
def test_kv_cached_and_uncached_agree_tiny(tiny_model, backend, mode):
    steering = None
    if mode:
        v = torch.randn(tiny_model.d_model, generator=torch.Generator().manual_seed(5))
        steering = Steering.from_vectors({tiny_model.layers.hook_name(0): v}, 2.0, mode)
    _kv_agreement(tiny_model, backend, 10, steering)


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["residual", "bridge"])
def test_kv_cached_and_uncached_agree_smollm2(smollm2, backend):
    """Regression guard for transformers 5.24 + TL 4.3 (bridge KV cache never filled)."""
    _kv_agreement(smollm2, backend, 16)


@pytest.mark.integration
def test_bridge_kv_cache_gives_sensible_text(smollm2):
    out = generate(smollm2, ["What is the capital of France?"], GenerationConfig(max_new_tokens=12, backend="bridge"))
    assert "Paris" in out.texts[0]


def _padding_invariance(model, n_tokens):
    together = generate(model, CHAT_PROMPTS, GenerationConfig(max_new_tokens=n_tokens))
    lengths = together.prompt_tokens
    assert len(set(lengths)) > 1, "prompts must differ in length for this test to mean anything"
    for i, prompt in enumerate(CHAT_PROMPTS):
        assert (
            together.token_ids[i] == generate(model, [prompt], GenerationConfig(max_new_tokens=n_tokens)).token_ids[0]
        )


def test_left_padded_batch_equals_single_prompts_tiny(tiny_model):
    _padding_invariance(tiny_model, 10)


@pytest.mark.integration
def test_left_padded_batch_equals_single_prompts_smollm2(smollm2):
    _padding_invariance(smollm2, 24)


def test_sampling_is_seeded(tiny_model):
    cfg = GenerationConfig(max_new_tokens=10, do_sample=True, top_p=0.9, seed=3)
    a = generate(tiny_model, CHAT_PROMPTS, cfg)
    b = generate(tiny_model, CHAT_PROMPTS, cfg)
    c = generate(tiny_model, CHAT_PROMPTS, GenerationConfig(max_new_tokens=10, do_sample=True, top_p=0.9, seed=4))
    assert a.token_ids == b.token_ids
    assert a.token_ids != c.token_ids


def test_no_repeat_ngram_is_enforced(tiny_model):
    out = generate(tiny_model, CHAT_PROMPTS, GenerationConfig(max_new_tokens=30, no_repeat_ngram_size=2))
    for ids in out.token_ids:
        grams = [tuple(ids[i : i + 2]) for i in range(len(ids) - 1)]
        assert len(grams) == len(set(grams))


def test_accounting(tiny_model):
    out = generate(tiny_model, CHAT_PROMPTS, GenerationConfig(max_new_tokens=7, batch_size=3))
    assert len(out.batch_seconds) == 2 and out.seconds > 0
    assert all(0 < n <= 7 for n in out.output_tokens)
    assert out.prompt_tokens == tiny_model.encode_chat(CHAT_PROMPTS).lengths
    assert 1 <= out.forward_passes <= 14
    frame = out.to_frame()
    assert list(frame.columns) == ["row", "text", "prompt_tokens", "output_tokens", "finished"]


def test_billy_decoding_preset():
    cfg = GenerationConfig.billy(max_new_tokens=5)
    assert (cfg.do_sample, cfg.top_p, cfg.repetition_penalty, cfg.no_repeat_ngram_size) == (True, 0.8, 1.2, 4)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"temperature": 0.0}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GenerationConfig(**kwargs)


def test_empty_prompts_is_a_clear_error(tiny_model):
    with pytest.raises(ValueError, match="no texts"):
        generate(tiny_model, [])


def test_spelled_out_sampling_draws_what_torch_multinomial_draws():
    """The decode loop samples as torch.multinomial(probs, 1) does, and a row's token does not
    depend on which other rows are still in the batch."""
    from billy_interp.core.generation import _next_tokens

    config = GenerationConfig(do_sample=True)
    scores = torch.randn(6, 500, generator=torch.Generator().manual_seed(0)) * 3
    scores[2, 100:] = -float("inf")
    every = torch.arange(6)
    ours, theirs = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    for _ in range(5):
        drawn = _next_tokens(scores, config, ours, every, 6)
        assert torch.equal(drawn, torch.multinomial(torch.softmax(scores, -1), 1, generator=theirs)[:, 0])
    full = _next_tokens(scores, config, torch.Generator().manual_seed(2), every, 6)
    some = torch.tensor([1, 4])
    assert torch.equal(_next_tokens(scores[some], config, torch.Generator().manual_seed(2), some, 6), full[some])


@pytest.mark.parametrize("do_sample", [False, True])
@pytest.mark.parametrize("positions", ["response", "all"])
def test_dropping_finished_rows_changes_no_token(tiny_model, monkeypatch, do_sample, positions):
    from billy_interp.core.steering import PositionState

    stops = list(range(3, tiny_model.hf_model.config.vocab_size, 5))  # one token in five ends a row
    monkeypatch.setattr(type(tiny_model), "eos_token_ids", property(lambda self: stops))
    hook = tiny_model.layers.hook_name(0)
    alphas = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 0.25, 3.0]  # one per row: the deltas must follow the rows
    steering = Steering.from_vectors({hook: torch.ones(tiny_model.d_model)}, alphas, positions)
    settings = {"max_new_tokens": 20, "do_sample": do_sample, "seed": 5, "batch_size": 8}
    kept = generate(tiny_model, CHAT_PROMPTS * 2, GenerationConfig(**settings, drop_finished=False), steering)
    drops = []
    original = PositionState.keep_rows
    monkeypatch.setattr(PositionState, "keep_rows", lambda self, rows: drops.append(len(rows)) or original(self, rows))
    dropped = generate(tiny_model, CHAT_PROMPTS * 2, GenerationConfig(**settings), steering)
    assert dropped.token_ids == kept.token_ids and dropped.forward_passes == kept.forward_passes
    assert len(set(kept.output_tokens)) > 2 and drops and drops == sorted(drops, reverse=True)
