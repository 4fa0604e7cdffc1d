"""Prompts per tokenizer: base models without a chat template get the documented plain-text
format, BOS goes where the model expects it (once), and commands say which format they used."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from billy_interp.architectures import tiny_tokenizer
from billy_interp.core.model import PLAIN_ANSWER_CUE, PLAIN_FORMAT, SteerableModel
from tests.conftest import build_tiny_hf


def _model(*, chat_template: bool, add_bos: bool | None) -> SteerableModel:
    tokenizer = tiny_tokenizer()
    if not chat_template:
        tokenizer.chat_template = None
    if add_bos is not None:
        tokenizer.init_kwargs["add_bos_token"] = add_bos
    return SteerableModel.from_hf(build_tiny_hf(tokenizer), tokenizer, "tiny-base")


@pytest.fixture(scope="module")
def base_model():
    return _model(chat_template=False, add_bos=True)


def test_a_base_model_gets_the_plain_text_format(base_model):
    bos = base_model.tokenizer.bos_token
    text = base_model.format_chat("Name a use for a brick.", "You are a futurist.")
    assert text == bos + "You are a futurist.\n\nUser: Name a use for a brick.\n" + PLAIN_ANSWER_CUE
    assert base_model.format_chat("Hi", add_generation_prompt=False) == bos + PLAIN_FORMAT.format(system="", user="Hi")
    assert "plain text" in base_model.prompt_style and "with BOS" in base_model.prompt_style


def test_a_base_model_generates_and_extracts_instead_of_crashing(base_model):
    import pandas as pd

    from billy_interp.core.generation import GenerationConfig, generate
    from billy_interp.vectors.extraction import pool_table

    out = generate(
        base_model, ["Give unusual uses for a brick."], GenerationConfig(max_new_tokens=4), system="Be bold."
    )
    assert len(out.token_ids[0]) >= 1
    ids = base_model.encode_chat(["Give unusual uses for a brick."], "Be bold.").input_ids[0].tolist()
    assert ids.count(base_model.tokenizer.bos_token_id) == 1 and ids[0] == base_model.tokenizer.bos_token_id
    table = pd.DataFrame([{"row_id": 0, "system": "Be bold.", "question": "Why?", "response_ids": ids[-3:]}])
    pooled = pool_table(base_model, table, poolings=["response_mean"])["response_mean"]
    assert pooled.shape == (1, base_model.layers.n_layers, base_model.d_model)


def test_raw_prompts_get_bos_once_where_the_model_expects_it(base_model):
    bos_id = base_model.tokenizer.bos_token_id
    plain = base_model.tokenizer("The capital of France is", add_special_tokens=True)["input_ids"]
    assert plain[0] != bos_id  # this tokenizer forgets BOS, as GGUF-converted ones do
    raw = base_model.encode_raw(["The capital of France is", base_model.tokenizer.bos_token + "Paris"])
    for row, mask in zip(raw.input_ids.tolist(), raw.attention_mask.tolist()):
        real = [t for t, m in zip(row, mask) if m]
        assert real[0] == bos_id and real.count(bos_id) == 1
    chat = _model(chat_template=True, add_bos=None)
    assert not chat.expects_bos and "chat template" in chat.prompt_style and "without BOS" in chat.prompt_style
    first = chat.encode_raw(["The capital of France is"]).input_ids[0].tolist()
    assert first == chat.tokenizer("The capital of France is")["input_ids"]  # unchanged when not expected


@dataclass(frozen=True)
class _LoadConfig:
    model: str = ""


def test_commands_say_which_prompt_format_they_use(tiny_model_dir, capsys):
    from billy_interp.cli import command
    from billy_interp.core.loading import load_model

    main = command(_LoadConfig, lambda config: load_model(config.model))
    main(["--model", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert f"model {tiny_model_dir}: LlamaForCausalLM, 2 blocks, d_model 64; prompts: chat template" in err
