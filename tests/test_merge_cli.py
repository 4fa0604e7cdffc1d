import pytest
import torch

from billy_interp.jobs.merge import MergeConfig, run_merge
from billy_interp.vectors.formats import VectorFileError, export_pt, import_gguf, import_pt, load_vector, save_vector
from billy_interp.vectors.merging import parse_recipe
from billy_interp.vectors.vector import PersonaVector
from tests.conftest import job_main

main = job_main(MergeConfig, run_merge)


D = 16


def _write(directory, name, value):
    v = PersonaVector(
        {f"blocks.{l}.hook_resid_post": torch.full((D,), value) for l in range(3)},
        {"persona": name, "model": "m", "pooling": "response_mean", "n_layers": 3},
    )
    save_vector(v, directory / f"{name}.safetensors")


def test_parse_recipe():
    assert parse_recipe("a,b,b").weights == {"a": 1.0, "b": 2.0}
    assert parse_recipe("a:0.5,b:2", "weighted").weights == {"a": 0.5, "b": 2.0}
    with pytest.raises(ValueError, match="empty"):
        parse_recipe(" , ")


def test_merge_cli_writes_all_formats(tmp_path):
    for name, value in (("a", 1.0), ("b", 3.0)):
        _write(tmp_path, name, value)
    out = tmp_path / "m.safetensors"
    main(
        [
            "--recipe",
            "a,b,b",
            "--vectors-dir",
            str(tmp_path),
            "--out",
            str(out),
            "--pt",
            str(tmp_path / "m.pt"),
            "--gguf",
            str(tmp_path / "m.gguf"),
        ]
    )
    merged = load_vector(out)
    torch.testing.assert_close(merged["blocks.1.hook_resid_post"], torch.full((D,), 7.0 / 3))
    assert merged.metadata["recipe"]["weights"] == {"a": 1.0, "b": 2.0}
    assert torch.equal(
        import_pt(tmp_path / "m.pt", n_layers=3)["blocks.2.hook_resid_post"], merged["blocks.2.hook_resid_post"]
    )
    assert import_gguf(tmp_path / "m.gguf").hooks == ["blocks.1.hook_resid_post", "blocks.2.hook_resid_post"]


def test_merge_cli_unknown_persona(tmp_path):
    _write(tmp_path, "a", 1.0)
    with pytest.raises(VectorFileError, match="no vector for persona 'zzz'.*available: \\['a'\\]"):
        main(["--recipe", "a,zzz", "--vectors-dir", str(tmp_path), "--out", str(tmp_path / "o.safetensors")])


def test_merge_takes_pt_and_gguf_files_beside_persona_names(tmp_path):
    for name, value in (("a", 1.0), ("b", 3.0)):
        _write(tmp_path, name, value)
    export_pt(load_vector(tmp_path / "b.safetensors"), tmp_path / "their_b.pt")
    out = tmp_path / "m.safetensors"
    merged = main(["--recipe", f"a,{tmp_path / 'their_b.pt'}", "--vectors-dir", str(tmp_path), "--out", str(out)])
    torch.testing.assert_close(merged["blocks.1.hook_resid_post"], torch.full((D,), 2.0))
    assert merged.metadata["recipe"]["weights"] == {"a": 1.0, "their_b": 1.0}


def test_bad_recipes_and_weights_are_named():
    with pytest.raises(ValueError, match="--recipe: weight 'abc' of 'futurist' is not a number"):
        parse_recipe("futurist:abc")
    with pytest.raises(ValueError, match="every weight of the recipe is 0"):
        MergeConfig(recipe="a:0", method="sum")
    with pytest.raises(ValueError, match="--out 'x.pt'"):
        MergeConfig(out="x.pt")


def test_a_failed_export_leaves_nothing_behind(tmp_path):
    _write(tmp_path, "a", 1.0)
    v = PersonaVector({"blocks.0.hook_resid_post": torch.ones(D)}, {"persona": "z", "model": "m"})
    save_vector(v, tmp_path / "z.safetensors")  # block 0 only: llama.cpp cannot steer it, the GGUF export fails
    out = tmp_path / "m.safetensors"
    with pytest.raises(VectorFileError, match="nothing to export"):
        main(["--recipe", "z", "--vectors-dir", str(tmp_path), "--out", str(out), "--gguf", str(tmp_path / "m.gguf")])
    assert not out.exists()


def test_extract_config_needs_exactly_one_persona_source():
    from billy_interp.jobs.extract import ExtractConfig

    with pytest.raises(ValueError, match="exactly one"):
        ExtractConfig()
    with pytest.raises(ValueError, match="exactly one"):
        ExtractConfig(persona="futurist", persona_file="x.json")
