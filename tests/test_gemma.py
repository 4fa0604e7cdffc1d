"""A second real architecture end to end: Gemma-3-270M (optional; `make gemma` installs it).

Skipped unless the optional package (or its assembled GGUF in the cache) is there: it is a base
model under the Gemma terms, kept out of the default install.
"""

from __future__ import annotations

import importlib.util

import pytest

from billy_interp.core.embedded import OPTIONAL_MODELS, cache_root

_, _MODULE, _FILE, _ = OPTIONAL_MODELS["gemma-3-270m"]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec(_MODULE) is None and not (cache_root() / "gguf" / _FILE).is_file(),
        reason="optional Gemma-3-270M not installed (make gemma)",
    ),
]


@pytest.fixture(scope="module")
def gemma():
    from transformers import AutoModelForCausalLM

    from billy_interp.core.embedded import gguf_model_dir, optional_model_gguf
    from billy_interp.core.loading import load_model

    model = load_model("gemma-3-270m")
    reference = AutoModelForCausalLM.from_pretrained(gguf_model_dir(optional_model_gguf("gemma-3-270m"))).eval()
    return model, reference


def test_gemma_loads_as_a_base_model_with_bos(gemma):
    model, _ = gemma
    assert type(model.hf_model).__name__ == "Gemma3ForCausalLM" and model.config.architectures == ["Gemma3ForCausalLM"]
    assert (model.layers.n_layers, model.d_model) == (18, 640)
    assert not model.has_chat_template and model.expects_bos
    raw = model.encode_raw(["The capital of France is"]).input_ids[0].tolist()
    chat = model.encode_chat(["Name a use for a brick."], "You are a futurist.").input_ids[0].tolist()
    assert raw[0] == chat[0] == model.tokenizer.bos_token_id
    assert raw.count(model.tokenizer.bos_token_id) == chat.count(model.tokenizer.bos_token_id) == 1


def test_gemma_runs_exactly_as_hf_does(gemma):
    from billy_interp.architectures import check_model

    model, reference = gemma
    checks = ("greedy_kv", "steering", "residuals", "unembed")
    results = check_model(model, reference, "gemma-3-270m", backends=("residual",), checks=checks)
    results += check_model(model, reference, "gemma-3-270m", backends=("bridge",), checks=("greedy_kv",))
    failed = [r for r in results if r.status != "pass"]
    assert not failed, failed


def test_gemma_extraction_and_a_tiny_sweep(gemma, tmp_path):
    import json

    from billy_interp.jobs.extract import ExtractConfig, run_extract
    from billy_interp.jobs.layer_sweep import SweepConfig, run_layer_sweep

    model, _ = gemma
    config = ExtractConfig(
        persona="creative_professional",
        n_samples=1,
        n_eval_samples=1,
        max_new_tokens=12,
        model="gemma-3-270m",
        out=str(tmp_path / "vectors"),
        run_dir=str(tmp_path / "extract"),
    )
    (result,) = run_extract(config, model=model)
    vector = result.vectors["response_mean"]
    assert len(vector.hooks) == 18 and vector.d_model == 640
    assert result.auc["auc"].between(0, 1).all()
    assert (tmp_path / "vectors" / "gemma-3-270m" / "creative_professional.safetensors").is_file()
    sweep = SweepConfig(
        recipe="creative_professional",
        layers="6",
        alphas="0,2",
        relative=True,
        n_prompts=2,
        max_new_tokens=8,
        model="gemma-3-270m",
        vectors_dir=str(tmp_path / "vectors" / "gemma-3-270m"),
        out=str(tmp_path / "sweep"),
    )
    aggregate = run_layer_sweep(sweep, model=model)
    assert len(aggregate) == 2 and set(aggregate["paper_layer"]) == {6}
    assert "unsteered_perplexity" in json.loads((tmp_path / "sweep" / "recommended.json").read_text())
