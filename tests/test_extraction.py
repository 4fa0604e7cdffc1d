import pandas as pd
import pytest
import torch

from billy_interp.extract import ExtractConfig, extract_persona, main
from billy_interp.extraction import auc, pool_table
from billy_interp.personas import load_persona


def _config(tmp_path, **kw):
    # The tiny random model writes gibberish, which the offline filter rightly rejects.
    base = dict(persona="futurist", run_dir=str(tmp_path / "runs"), n_samples=1, max_new_tokens=4,
                batch_size=16, out=str(tmp_path / "vectors"), filter=False)
    base.update(kw)
    return ExtractConfig(**base)


def test_same_seed_gives_bit_identical_vectors_and_other_seed_differs(tiny_model, tmp_path):
    persona = load_persona("futurist")
    a = extract_persona(tiny_model, persona, _config(tmp_path / "a"), seed=0)
    b = extract_persona(tiny_model, persona, _config(tmp_path / "b"), seed=0)
    c = extract_persona(tiny_model, persona, _config(tmp_path / "c"), seed=1)
    for hook in a.vectors["response_mean"].hooks:
        assert torch.equal(a.vectors["response_mean"][hook], b.vectors["response_mean"][hook])
    assert a.vectors["response_mean"].metadata["data_hash"] == b.vectors["response_mean"].metadata["data_hash"]
    assert c.vectors["response_mean"].metadata["seed"] == 1
    assert c.vectors["response_mean"].metadata["data_hash"] != a.vectors["response_mean"].metadata["data_hash"]
    assert not torch.equal(a.vectors["response_mean"].stacked(), c.vectors["response_mean"].stacked())
    assert set(a.vectors) == {"response_mean", "prompt_mean", "last_prompt"}
    assert set(a.auc["pooling"]) == {"response_mean", "prompt_mean", "last_prompt"}
    assert a.auc["auc"].between(0, 1).all()


def test_pca_extractor_and_no_system_variant(tiny_model, tmp_path):
    persona = load_persona("futurist")
    pca = extract_persona(tiny_model, persona, _config(tmp_path, extractor="pca"), seed=0)
    mean = extract_persona(tiny_model, persona, _config(tmp_path, system_in_context=False), seed=0)
    assert pca.vectors["response_mean"].metadata["extractor"] == "pca"
    assert mean.vectors["response_mean"].metadata["system_in_context"] is False


def test_filter_that_removes_a_whole_side_is_a_clear_error(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="kept no D\\+ extract rows"):
        extract_persona(tiny_model, load_persona("futurist"), _config(tmp_path, filter=True), seed=0)


def test_auc():
    assert auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert auc(torch.tensor([0.0]), torch.tensor([1.0])) == 0.0
    assert auc(torch.tensor([1.0]), torch.tensor([1.0])) == 0.5


def test_empty_table_is_a_clear_error(tiny_model):
    with pytest.raises(ValueError, match="empty"):
        pool_table(tiny_model, pd.DataFrame(columns=["system", "question", "response_ids"]))


def test_cli_writes_vectors_tables_and_record(tiny_model_dir, tmp_path):
    from billy_interp.artifacts import load_vector

    argv = ["--persona", "futurist", "--model", str(tiny_model_dir), "--n-samples", "1", "--no-filter",
            "--max-new-tokens", "3", "--out", str(tmp_path / "v"), "--run-dir", str(tmp_path / "r")]
    main(argv)
    out = next((tmp_path / "v").iterdir())
    for name in ["futurist.safetensors", "futurist.prompt_mean.safetensors", "futurist.last_prompt.safetensors",
                 "futurist.data.csv", "futurist.auc.csv"]:
        assert (out / name).is_file(), name
    vec = load_vector(out / "futurist.safetensors")
    assert vec.metadata["persona"] == "futurist" and vec.metadata["pooling"] == "response_mean"
    assert len(vec.hooks) == 2
    record = next((tmp_path / "r").iterdir())
    assert "billy_interp.extract" in (record / "command.txt").read_text()
    data = pd.read_csv(out / "futurist.data.csv")
    assert {"question", "pair", "sign", "sample", "seed", "system", "response", "prompt_tokens",
            "response_tokens", "kept", "filter_reason"} <= set(data.columns)


def test_cli_rejects_unknown_persona_before_loading_a_model(tmp_path):
    from billy_interp.personas import PersonaError

    with pytest.raises(PersonaError, match="unknown persona"):
        main(["--persona", "pirate", "--model", "no/such-model"])
