import math

import torch

from billy_interp.analysis.sweep_metrics import perplexities


def test_perplexity_matches_a_direct_unpadded_computation(tiny_model, tiny_reference):
    prompts = ["hi", "Give unusual uses for a brick, please."]
    continuations = [[5, 9, 13, 7], [11, 3]]
    ours = perplexities(tiny_model, prompts, continuations)
    for prompt, cont, value in zip(prompts, continuations, ours):
        ids = tiny_model.tokenizer(tiny_model.format_chat(prompt), add_special_tokens=False)["input_ids"] + cont
        with torch.no_grad():
            logits = tiny_reference(torch.tensor([ids])).logits[0].float()
        logp = torch.log_softmax(logits[:-1], -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
        expected = math.exp(-float(logp[-len(cont) :].mean()))
        assert abs(value - expected) / expected < 1e-4
    assert math.isnan(perplexities(tiny_model, ["hi"], [[]])[0])
