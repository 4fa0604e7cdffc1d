import pytest
import torch

from billy_interp.core.activations import collect_residuals, pooled_residuals, pooling_weights


def _bridge_vs_hf(model, reference, prompts):
    batch = model.encode_chat(prompts)
    real = batch.attention_mask.bool()
    _, cache = model.bridge.run_with_cache(batch.input_ids, attention_mask=batch.attention_mask)
    hidden = reference(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_hidden_states=True
    ).hidden_states
    for block in model.layers.blocks[:-1]:  # HF's last entry is after the final norm
        ours = cache[model.layers.hook_name(block)][real]
        theirs = hidden[block + 1][real]
        rel = (ours - theirs).norm() / theirs.norm()
        assert rel <= 1e-4, (block, float(rel))


def test_bridge_matches_hf_hidden_states_tiny(tiny_model, tiny_reference):
    _bridge_vs_hf(tiny_model, tiny_reference, ["hello there", "What is the capital of France?"])


@pytest.mark.integration
def test_bridge_matches_hf_hidden_states_smollm2(smollm2, smollm2_reference):
    with torch.no_grad():
        _bridge_vs_hf(smollm2, smollm2_reference, ["What is the capital of France?", "Write a haiku."])


def test_pooled_equals_manual_pooling(tiny_model):
    batch = tiny_model.encode_chat(["hi", "Give unusual uses for a brick, please."])
    start = torch.tensor([batch.input_ids.shape[1] - 3, batch.input_ids.shape[1] - 5])
    full = collect_residuals(tiny_model, batch)
    pooled = pooled_residuals(tiny_model, batch, start)
    w = pooling_weights(batch.attention_mask, start)
    for key, tensor in pooled.items():
        manual = torch.einsum("bp,lbpd->lbd", w[key], full)
        torch.testing.assert_close(tensor, manual, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pooled["last_prompt"][:, 0], full[:, 0, start[0] - 1])


def test_pooling_ignores_left_padding(tiny_model):
    texts = ["hi", "Give unusual uses for a brick, please."]
    batch = tiny_model.encode_chat(texts)
    alone = tiny_model.encode_chat(texts[:1])
    n_alone = alone.input_ids.shape[1]
    pad = batch.input_ids.shape[1] - n_alone
    both = pooled_residuals(tiny_model, batch, torch.tensor([pad + n_alone - 2, 4]))
    single = pooled_residuals(tiny_model, alone, torch.tensor([n_alone - 2]))
    for key in both:
        torch.testing.assert_close(both[key][:, 0], single[key][:, 0], rtol=1e-4, atol=1e-5)


def test_subset_of_blocks_and_bad_block(tiny_model):
    batch = tiny_model.encode_chat(["hi"])
    assert collect_residuals(tiny_model, batch, blocks=[1]).shape[0] == 1
    with pytest.raises(ValueError, match="out of range"):
        collect_residuals(tiny_model, batch, blocks=[5])
