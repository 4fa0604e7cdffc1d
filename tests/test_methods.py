import pytest
import torch

from billy_interp.core.model import SteerableModel
from billy_interp.core.steering import Steering
from billy_interp.evaluation.methods import (
    Discussion,
    MultiRolePrompt,
    SingleAgent,
    Steered,
    make_method,
    mrp_prompt,
)
from billy_interp.evaluation.tasks import load_task, sample_items
from billy_interp.paper import DISCUSSION_AGENTS

ITEMS = sample_items(load_task("aut"), 2, seed=0)


class _LlamaLike(SteerableModel):
    """A model whose generation_config sets temperature 0.6, as Llama-3.1's does."""

    default_temperature = 0.6

    def __init__(self):
        pass


def test_mrp_prompt_names_three_roles():
    text = mrp_prompt("What are uses for a brick?")
    for role in ("Environmentalist", "Creative professional", "Futurist"):
        assert role in text
    assert text.endswith("Task: What are uses for a brick?")


def test_paper_decoding_per_method():
    assert make_method("sa").decoding.temperature == 0.7
    assert make_method("sa_t1").decoding.temperature == 1.0
    assert make_method("sa").decoding.repetition_penalty == 1.0
    billy = make_method("billy", steering=Steering.from_vectors({"blocks.0.hook_resid_post": torch.ones(4)}))
    assert (billy.decoding.top_p, billy.decoding.repetition_penalty, billy.decoding.no_repeat_ngram_size) == (
        0.8,
        1.2,
        4,
    )
    matched = make_method("sa", matched_decoding=True)
    assert matched.decoding.repetition_penalty == 1.2 and matched.decoding.temperature == 0.7
    with pytest.raises(ValueError, match="needs a steering"):
        make_method("billy")
    with pytest.raises(ValueError, match="unknown method"):
        make_method("debate")


def test_control_is_billys_decoding_without_steering_at_the_models_temperature():
    steering = Steering.from_vectors({"blocks.0.hook_resid_post": torch.ones(4)})
    billy = make_method("billy", steering=steering, billy_temperature=0.6)
    control = make_method("control", billy_temperature=0.6)
    assert control.decoding == billy.decoding and control.steering() is None
    assert billy.decoding.temperature == 0.6
    with pytest.raises(ValueError, match="only billy takes a steering"):
        make_method("control", steering=steering)


def test_methods_are_types_not_name_switches():
    steering = Steering.from_vectors({"blocks.0.hook_resid_post": torch.ones(4)})
    kinds = {
        name: type(make_method(name, steering=steering if name == "billy" else None))
        for name in ("sa", "sa_t1", "control", "mrp", "discussion", "billy")
    }
    assert kinds == {
        "sa": SingleAgent,
        "sa_t1": SingleAgent,
        "control": SingleAgent,
        "mrp": MultiRolePrompt,
        "discussion": Discussion,
        "billy": Steered,
    }
    renamed = Steered("my_billy", make_method("control").decoding, steer_with=steering)
    assert renamed.steering() is steering and renamed.describe()["steering"]["hooks"] == ["blocks.0.hook_resid_post"]


def test_billy_built_without_a_temperature_samples_at_the_models_default():
    steering = Steering.from_vectors({"blocks.0.hook_resid_post": torch.ones(4)})
    billy, control = make_method("billy", steering=steering), make_method("control")
    llama_like = _LlamaLike()
    assert billy.decoding_for(llama_like).temperature == 0.6 == control.decoding_for(llama_like).temperature
    assert billy.describe(llama_like)["decoding"]["temperature"] == 0.6
    assert make_method("sa").decoding_for(llama_like).temperature == 0.7  # SA's temperature defines it
    fixed = make_method("billy", steering=steering, billy_temperature=1.0)
    assert fixed.decoding_for(llama_like).temperature == 1.0


def test_matched_decoding_keeps_the_defining_temperatures_and_gives_the_rest_billys():
    matched = {
        m: make_method(m, matched_decoding=True, billy_temperature=0.6).decoding
        for m in ("sa", "sa_t1", "mrp", "discussion")
    }
    assert {m: d.temperature for m, d in matched.items()} == {"sa": 0.7, "sa_t1": 1.0, "mrp": 0.6, "discussion": 0.6}
    assert all((d.top_p, d.repetition_penalty, d.no_repeat_ngram_size) == (0.8, 1.2, 4) for d in matched.values())
    assert make_method("mrp").decoding.temperature == make_method("discussion").decoding.temperature == 0.7
    # At a default temperature of 1.0 (SmolLM2) the matched T=1.0 single agent *is* the control.
    assert make_method("sa_t1", matched_decoding=True).decoding == make_method("control").decoding


def test_describe_names_what_decides_the_answers():
    steering = Steering.from_vectors({"blocks.1.hook_resid_post": torch.ones(4)})
    billy = make_method("billy", steering=steering).describe()
    assert billy["steering"] == {"hooks": ["blocks.1.hook_resid_post"], "positions": "response"}
    assert billy["decoding"]["repetition_penalty"] == 1.2 and "batch_size" not in billy["decoding"]
    assert make_method("discussion", rounds=3).describe()["rounds"] == 3
    assert "steering" not in make_method("sa").describe()
    assert make_method("sa", batch_size=2).describe() == make_method("sa", batch_size=8).describe()
    assert make_method("sa", max_new_tokens=8).describe() != make_method("sa", max_new_tokens=9).describe()


def test_single_agent_accounting(tiny_model):
    out = make_method("sa", max_new_tokens=5).run(tiny_model, ITEMS)
    batch = tiny_model.encode_chat([i.prompt for i in ITEMS])
    assert [o.input_tokens for o in out] == batch.lengths
    assert all(o.calls == 1 and 1 <= o.output_tokens <= 5 and o.forward_passes == o.output_tokens for o in out)


def test_discussion_counts_every_token_it_reads_and_writes(tiny_model):
    rounds, new = 3, 4
    method = make_method("discussion", max_new_tokens=new, rounds=rounds)
    out = method.run(tiny_model, ITEMS)
    for o in out:
        assert o.calls == rounds * len(DISCUSSION_AGENTS)
        histories = o.transcript
        assert len(histories) == 4 and all(len(h) == 2 * rounds for h in histories)
        # recount: every call re-reads its agent's whole history (rendered with the chat template)
        expected_in = 0
        for history in histories:
            for turn in range(rounds):
                text = tiny_model.tokenizer.apply_chat_template(
                    history[: 2 * turn + 1], tokenize=False, add_generation_prompt=True
                )
                expected_in += len(tiny_model.tokenizer(text, add_special_tokens=False)["input_ids"])
        assert o.input_tokens == expected_in
        assert o.output_tokens <= rounds * 4 * new
        # middle rounds show an agent the others' latest answers, never its own
        middle = histories[0][2]["content"]
        assert "Agent 2" in middle and "Agent 1 (" not in middle
        assert "last round" in histories[1][-2]["content"]
    assert out[0].input_tokens > 10 * make_method("sa", max_new_tokens=new).run(tiny_model, ITEMS)[0].input_tokens


def test_billy_method_steers(tiny_model):
    hook = tiny_model.layers.hook_name(1)
    steering = Steering.from_vectors({hook: torch.ones(64) * 5}, 2.0)
    plain = make_method("billy", max_new_tokens=6, steering=Steering.from_vectors({hook: torch.zeros(64)}, 2.0)).run(
        tiny_model, ITEMS
    )
    steered = make_method("billy", max_new_tokens=6, steering=steering).run(tiny_model, ITEMS)
    assert [o.response for o in plain] != [o.response for o in steered]
