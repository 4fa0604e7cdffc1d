import pandas as pd
import pytest
import torch

from billy_interp.jobs.extract import ExtractConfig, run_extract
from billy_interp.vectors.extract import ExtractionSettings, extract_persona, extract_vector
from billy_interp.vectors.extraction import auc, pool_table
from billy_interp.vectors.formats import load_vector
from billy_interp.vectors.personas import load_persona
from tests.conftest import job_main

main = job_main(ExtractConfig, run_extract)


def _argv(model_dir, tmp_path):
    return [
        "--persona",
        "futurist",
        "--model",
        str(model_dir),
        "--n-samples",
        "1",
        "--no-filter",
        "--max-new-tokens",
        "3",
        "--out",
        str(tmp_path / "v"),
        "--run-dir",
        str(tmp_path / "r"),
    ]


def _config(**kw):
    # The tiny random model writes gibberish, which the offline filter rightly rejects.
    return ExtractionSettings(**{"n_samples": 1, "max_new_tokens": 4, "batch_size": 16, "filter": False, **kw})


def _extract(model, tmp_path, seed=0, **kw):
    return extract_persona(model, load_persona("futurist"), _config(**kw), seed, tmp_path / "runs")


def test_same_seed_gives_bit_identical_vectors_and_other_seed_differs(tiny_model, tmp_path):
    a = _extract(tiny_model, tmp_path / "a", 0)
    b = _extract(tiny_model, tmp_path / "b", 0)
    c = _extract(tiny_model, tmp_path / "c", 1)
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
    pca = _extract(tiny_model, tmp_path, extractor="pca")
    mean = _extract(tiny_model, tmp_path, system_in_context=False)
    assert pca.vectors["response_mean"].metadata["extractor"] == "pca"
    assert mean.vectors["response_mean"].metadata["system_in_context"] is False


def test_filter_that_removes_a_whole_side_is_a_clear_error(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="kept no D\\+ extract rows"):
        _extract(tiny_model, tmp_path, filter=True)


def test_auc():
    assert auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert auc(torch.tensor([0.0]), torch.tensor([1.0])) == 0.0
    assert auc(torch.tensor([1.0]), torch.tensor([1.0])) == 0.5


def test_empty_table_is_a_clear_error(tiny_model):
    with pytest.raises(ValueError, match="empty"):
        pool_table(tiny_model, pd.DataFrame(columns=["system", "question", "response_ids"]))


def test_cli_writes_vectors_tables_and_record(tiny_model_dir, tmp_path):
    argv = _argv(tiny_model_dir, tmp_path)
    main(argv)
    out = tmp_path / "v" / tiny_model_dir.name  # a readable folder: the model directory's name
    for name in [
        "futurist.safetensors",
        "futurist.prompt_mean.safetensors",
        "futurist.last_prompt.safetensors",
        "futurist.data.csv",
        "futurist.auc.csv",
        "futurist.extract.json",
    ]:
        assert (out / name).is_file(), name
    vec = load_vector(out / "futurist.safetensors")
    assert vec.metadata["persona"] == "futurist" and vec.metadata["pooling"] == "response_mean"
    assert len(vec.hooks) == 2
    record = next((tmp_path / "r").iterdir())
    assert "billy_interp.extract" in (record / "command.txt").read_text()
    data = pd.read_csv(out / "futurist.data.csv")
    assert {
        "question",
        "pair",
        "sign",
        "sample",
        "seed",
        "system",
        "response",
        "prompt_tokens",
        "response_tokens",
        "kept",
        "filter_reason",
    } <= set(data.columns)


def test_cli_rejects_unknown_persona_before_loading_a_model(tmp_path):
    from billy_interp.vectors.personas import PersonaError

    with pytest.raises(PersonaError, match="unknown persona"):
        main(["--persona", "pirate", "--model", "no/such-model"])


def test_extract_vector_is_one_call_and_cached(tiny_model, tmp_path, monkeypatch):
    from billy_interp.vectors import contrast

    vector = extract_vector(tiny_model, "futurist", n_samples=1, max_new_tokens=3, filter=False, cache_dir=tmp_path)
    assert vector.metadata["persona"] == "futurist" and vector.hooks == tiny_model.layers.hook_names()
    calls = []
    monkeypatch.setattr(contrast, "generate", lambda *a, **k: calls.append(1))  # nothing may be generated again
    again = extract_vector(tiny_model, "futurist", n_samples=1, max_new_tokens=3, filter=False, cache_dir=tmp_path)
    assert not calls and torch.equal(again.stacked(), vector.stacked())
    monkeypatch.undo()
    longer = extract_vector(tiny_model, "futurist", n_samples=1, max_new_tokens=4, filter=False, cache_dir=tmp_path)
    assert longer.metadata["data_hash"] != vector.metadata["data_hash"]  # another setting, other answers
    assert len(list((tmp_path / "tiny-llama").iterdir())) == 2


def test_extract_never_overwrites_files_it_did_not_make(tiny_model_dir, tmp_path):
    argv = _argv(tiny_model_dir, tmp_path)
    out = tmp_path / "v" / tiny_model_dir.name
    out.mkdir(parents=True)
    (out / "futurist.safetensors").write_bytes(b"someone else's file")
    with pytest.raises(ValueError, match="did not make it; pass --overwrite"):
        main(argv)
    assert (out / "futurist.safetensors").read_bytes() == b"someone else's file"
    main([*argv, "--overwrite"])
    before = (out / "futurist.safetensors").read_bytes()
    main(argv)  # the same settings again: its own files, rewritten identically
    assert (out / "futurist.safetensors").read_bytes() == before
    with pytest.raises(ValueError, match=r"made with other settings \(max_new_tokens\)"):
        main([*argv[:-6], "--max-new-tokens", "4", *argv[-4:]])


def test_extract_refuses_to_write_into_the_shipped_vectors(tmp_path):
    from billy_interp.vectors.library import shipped_vectors_root

    with pytest.raises(ValueError, match="shipped \\(read-only\\) vectors"):
        main(["--persona", "futurist", "--out", str(shipped_vectors_root()), "--model", "no/such-model"])


def test_two_extractions_compare_by_auc_and_cosine(tiny_model_dir, tmp_path):
    from billy_interp.core.loading import load_model
    from billy_interp.jobs.vector_report import compare_extractions

    tiny_model = load_model(str(tiny_model_dir))

    argv = _argv(tiny_model_dir, tmp_path)
    main(argv)
    main([*argv[:-4], "--out", str(tmp_path / "w"), "--run-dir", str(tmp_path / "r"), "--seed", "1"])
    a, b = tmp_path / "v" / tiny_model_dir.name, tmp_path / "w" / tiny_model_dir.name
    aucs, cosines = compare_extractions(a, b, paper_layer=2, model=tiny_model)
    labels = {"topical, 1x3 tok, 25+/25-, seed 0", "topical, 1x3 tok, 25+/25-, seed 1"}
    assert len(aucs) == 4 and set(aucs["vector_from"]) == labels
    assert aucs["auc_at_layer_2"].between(0, 1).all()
    row = cosines.iloc[0]
    expected = torch.nn.functional.cosine_similarity(
        load_vector(a / "futurist.safetensors")["blocks.1.hook_resid_post"],
        load_vector(b / "futurist.safetensors")["blocks.1.hook_resid_post"],
        dim=0,
    )
    assert row["cosine_at_layer_2"] == pytest.approx(float(expected)) and -1 < row["cosine_at_layer_2"] < 1
    _, same = compare_extractions(a, a, paper_layer=2, model=tiny_model)
    assert same["min_cosine"].iloc[0] == pytest.approx(1.0)
    with pytest.raises(FileNotFoundError, match="--compare-dir .*no persona is in both"):
        compare_extractions(a, tmp_path, paper_layer=2, model=tiny_model)


def test_only_rows_a_vector_or_its_auc_reads_are_pooled_unless_all_are_asked(tiny_model, tmp_path, monkeypatch):
    import billy_interp.vectors.extract as extract_module
    from billy_interp.vectors.contrast import filter_contrast

    def drop_first_sample(table, persona, **kw):
        table = filter_contrast(table, persona, enabled=False)
        dropped = (table["split"] == "extract") & (table["sample"] == 0)
        table.loc[dropped, "kept"] = False
        return table

    first = _extract(tiny_model, tmp_path, n_samples=2)
    monkeypatch.setattr(extract_module, "filter_contrast", drop_first_sample)
    pooled_rows = []
    real_pool = extract_module.pool_table
    monkeypatch.setattr(
        extract_module, "pool_table", lambda m, t, **kw: pooled_rows.append(len(t)) or real_pool(m, t, **kw)
    )
    config, persona = _config(n_samples=2), load_persona("futurist")
    used = extract_module.extract_from_table(tiny_model, persona, config, 0, first.table)
    every = extract_module.extract_from_table(tiny_model, persona, config, 0, first.table, pool_rows="all")
    unused = ((used.table["split"] == "extract") & ~used.table["kept"]).to_numpy()
    assert unused.sum() > 0 and pooled_rows == [len(used.table) - unused.sum(), len(used.table)]
    assert torch.isnan(used.pooled[torch.tensor(unused)]).all() and not torch.isnan(every.pooled).any()
    torch.testing.assert_close(used.pooled[torch.tensor(~unused)], every.pooled[torch.tensor(~unused)])
    for pooling in used.vectors:
        torch.testing.assert_close(used.vectors[pooling].stacked(), every.vectors[pooling].stacked())
    pd.testing.assert_frame_equal(used.auc, every.auc)
