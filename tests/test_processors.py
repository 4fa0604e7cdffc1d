"""The faster decoding pieces give exactly what HF's give."""

import pytest
import torch
from transformers import DynamicCache
from transformers.generation.logits_process import (
    LogitsProcessorList,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TopPLogitsWarper,
)

from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.processors import FastTopP, GrowingCache
from tests.conftest import CHAT_PROMPTS


def _logits(rows, vocab, seed):
    """Peaked (LM-like), flat, -inf-masked and tied rows."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.tensor([0.5, 2.0, 4.0, 8.0])[torch.arange(rows) % 4][:, None]
    scores = torch.randn(rows, vocab, generator=g) * scale
    scores[1, : vocab // 2] = -float("inf")  # e.g. banned by no-repeat n-gram
    scores[2, 7] = scores[2, 11] = scores[2].max() + 0.5  # a tie at the top
    return scores


@pytest.mark.parametrize("top_p", [0.5, 0.8, 0.95])
def test_fast_top_p_gives_hfs_scores_exactly(top_p):
    reference, fast = TopPLogitsWarper(top_p), FastTopP(top_p, k=64)
    for seed in range(30):
        scores = _logits(8, 3000, seed)
        ids = torch.randint(0, 3000, (8, 12), generator=torch.Generator().manual_seed(seed))
        assert torch.equal(fast(ids, scores), reference(ids, scores)), seed
    assert 0 < fast.fallbacks < 30 * 8  # both the fast path and HF's fallback were exercised


def test_fast_top_p_in_the_full_chain_with_padded_histories():
    """The BILLY chain (repetition penalty, no-repeat 4-gram, top-p) on left-padded histories."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 400, (6, 30), generator=g)
    ids[:3, :10] = 0  # left padding
    ids[4, 20:24] = ids[4, 26:30] = torch.tensor([5, 6, 7, 8])  # a repeated 4-gram prefix
    head = [RepetitionPenaltyLogitsProcessor(1.2), NoRepeatNGramLogitsProcessor(4)]
    ours, theirs = (
        LogitsProcessorList([*head, FastTopP(0.8, k=16)]),
        LogitsProcessorList([*head, TopPLogitsWarper(0.8)]),
    )
    for seed in range(20):
        scores = torch.randn(6, 400, generator=torch.Generator().manual_seed(seed)) * (1 + seed % 5)
        assert torch.equal(ours(ids, scores.clone()), theirs(ids, scores.clone())), seed


def test_growing_cache_matches_hfs_dynamic_cache(tiny_model):
    runner = tiny_model.runner()
    batch = tiny_model.encode_chat(CHAT_PROMPTS)
    positions = batch.attention_mask.long().cumsum(-1) - 1
    caches = (DynamicCache(config=tiny_model.config), GrowingCache(tiny_model.config, capacity=4))  # will regrow
    outputs = []
    for cache in caches:
        ids, mask, pos, logits = batch.input_ids, batch.attention_mask, positions.clamp_min(0), []
        for step in range(6):
            out = runner.forward(ids if step == 0 else ids[:, -1:], mask, pos if step == 0 else pos[:, -1:], cache, 1)
            token = out[:, -1].argmax(-1)
            logits.append(out[:, -1])
            ids = torch.cat([ids, token[:, None]], 1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            pos = torch.cat([pos, pos[:, -1:] + 1], 1)
        outputs.append(torch.stack(logits))
    assert torch.equal(outputs[0], outputs[1])
    grown = caches[1]
    grown.batch_select_indices(torch.tensor([0, 2]))
    assert grown.layers[0].keys.shape[0] == 2 and grown.get_seq_length() == ids.shape[1] - 1


def test_the_same_seed_gives_the_same_text_as_hfs_processors_and_cache(tiny_model, monkeypatch):
    """BILLY decoding with the fast pieces samples exactly what it sampled with HF's top-p and cache."""
    from billy_interp.core import generation

    config = GenerationConfig.billy(max_new_tokens=16, seed=3, temperature=1.0)
    fast = generate(tiny_model, CHAT_PROMPTS, config)
    monkeypatch.setattr(generation, "FastTopP", TopPLogitsWarper)
    monkeypatch.setattr(generation, "GrowingCache", lambda config, capacity: DynamicCache(config=config))
    slow = generate(tiny_model, CHAT_PROMPTS, config)
    assert fast.token_ids == slow.token_ids


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_fast_no_repeat_ngram_bans_exactly_what_hf_bans(n):
    from billy_interp.core.processors import FastNoRepeatNGram

    reference, fast = NoRepeatNGramLogitsProcessor(n), FastNoRepeatNGram(n)
    for seed in range(25):
        g = torch.Generator().manual_seed(seed)
        length = [1, 2, 3, 5, 9, 30][seed % 6]
        ids = torch.randint(0, 6 if seed % 2 else 50, (5, length), generator=g)  # small vocab: many repeats
        if length > 4:
            ids[:2, : length // 2] = 0  # left padding, which HF counts like any token
        scores = torch.randn(5, 50, generator=g)
        assert torch.equal(fast(ids, scores.clone()), reference(ids, scores.clone())), (seed, length)
