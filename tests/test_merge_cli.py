import pytest
import torch

from billy_interp.jobs.merge import MergeConfig, run_merge
from billy_interp.vectors.formats import VectorFileError, export_pt, import_gguf, import_pt, load_vector, save_vector
from billy_interp.vectors.merging import parse_recipe
from billy_interp.vectors.vector import PersonaVector
from tests.conftest import job_main

_run = job_main(MergeConfig, run_merge)


D = 16


@pytest.fixture
def shape_dir(tmp_path):
    """A model configuration only (3 blocks, width 16): merge reads nothing else of a model."""
    from transformers import LlamaConfig

    directory = tmp_path / "model-m"
    LlamaConfig(hidden_size=D, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32).save_pretrained(
        directory
    )
    return directory


def main(argv, model_dir=None):
    return _run([*argv, "--model", str(model_dir)] if model_dir is not None else argv)


def _write(directory, name, value, model):
    v = PersonaVector(
        {f"blocks.{l}.hook_resid_post": torch.full((D,), value) for l in range(3)},
        {"persona": name, "model": str(model), "pooling": "response_mean", "n_layers": 3},
    )
    save_vector(v, directory / f"{name}.safetensors")


def test_parse_recipe():
    assert parse_recipe("a,b,b").weights == {"a": 1.0, "b": 2.0}
    assert parse_recipe("a:0.5,b:2", "weighted").weights == {"a": 0.5, "b": 2.0}
    with pytest.raises(ValueError, match="empty"):
        parse_recipe(" , ")


def test_merge_cli_writes_all_formats(tmp_path, shape_dir):
    for name, value in (("a", 1.0), ("b", 3.0)):
        _write(tmp_path, name, value, shape_dir)
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
        ],
        shape_dir,
    )
    merged = load_vector(out)
    torch.testing.assert_close(merged["blocks.1.hook_resid_post"], torch.full((D,), 7.0 / 3))
    assert merged.metadata["recipe"]["weights"] == {"a": 1.0, "b": 2.0}
    assert torch.equal(
        import_pt(tmp_path / "m.pt", n_layers=3)["blocks.2.hook_resid_post"], merged["blocks.2.hook_resid_post"]
    )
    assert import_gguf(tmp_path / "m.gguf").hooks == ["blocks.1.hook_resid_post", "blocks.2.hook_resid_post"]


def test_merge_cli_unknown_persona(tmp_path, shape_dir):
    _write(tmp_path, "a", 1.0, shape_dir)
    with pytest.raises(VectorFileError, match="no vector for persona 'zzz'.*available: \\['a'\\]"):
        main(["--recipe", "a,zzz", "--vectors-dir", str(tmp_path), "--out", str(tmp_path / "o.safetensors")], shape_dir)


def test_merge_checks_vectors_against_the_model_without_loading_it(tmp_path, shape_dir):
    _write(tmp_path, "a", 1.0, shape_dir)
    out = str(tmp_path / "o.safetensors")
    with pytest.raises(VectorFileError, match="d_model 16 does not match model 'SmolLM2-135M-Instruct'"):
        main(["--recipe", "a", "--vectors-dir", str(tmp_path), "--out", out])  # the embedded model, width 576
    (tmp_path / "other").mkdir()
    _write(tmp_path / "other", "a", 1.0, "some-other-model")
    with pytest.raises(VectorFileError, match="extracted from model 'some-other-model'"):
        main(["--recipe", "a", "--vectors-dir", str(tmp_path / "other"), "--out", out], shape_dir)
    assert not (tmp_path / "o.safetensors").exists()


def test_merge_replaces_only_its_own_files(tmp_path, shape_dir):
    _write(tmp_path, "a", 1.0, shape_dir)
    out, pt = tmp_path / "o.safetensors", tmp_path / "o.pt"
    argv = ["--recipe", "a", "--vectors-dir", str(tmp_path), "--out", str(out), "--pt", str(pt)]
    main(argv, shape_dir)
    main(argv, shape_dir)  # its own outputs: replaced without a word
    pt.write_bytes(b"not ours")
    out.unlink()
    with pytest.raises(ValueError, match="--pt .* exists and this merge did not make it"):
        main(argv, shape_dir)
    (tmp_path / "someone.safetensors").write_bytes(b"x")
    with pytest.raises(ValueError, match="--out .* exists and merge did not make it"):
        main([*argv[:-4], "--out", str(tmp_path / "someone.safetensors")], shape_dir)
    main([*argv, "--overwrite"], shape_dir)


def test_merge_takes_pt_and_gguf_files_beside_persona_names(tmp_path, shape_dir):
    for name, value in (("a", 1.0), ("b", 3.0)):
        _write(tmp_path, name, value, shape_dir)
    export_pt(load_vector(tmp_path / "b.safetensors"), tmp_path / "their_b.pt")
    out = tmp_path / "m.safetensors"
    merged = main(
        ["--recipe", f"a,{tmp_path / 'their_b.pt'}", "--vectors-dir", str(tmp_path), "--out", str(out)], shape_dir
    )
    torch.testing.assert_close(merged["blocks.1.hook_resid_post"], torch.full((D,), 2.0))
    assert merged.metadata["recipe"]["weights"] == {"a": 1.0, "their_b": 1.0}


def test_bad_recipes_and_weights_are_named():
    with pytest.raises(ValueError, match="--recipe: weight 'abc' of 'futurist' is not a number"):
        parse_recipe("futurist:abc")
    with pytest.raises(ValueError, match="every weight of the recipe is 0"):
        MergeConfig(recipe="a:0", method="sum")
    with pytest.raises(ValueError, match="--out 'x.pt'"):
        MergeConfig(out="x.pt")


def test_a_failed_export_leaves_nothing_behind(tmp_path, shape_dir):
    v = PersonaVector({"blocks.0.hook_resid_post": torch.ones(D)}, {"persona": "z", "model": str(shape_dir)})
    save_vector(v, tmp_path / "z.safetensors")  # block 0 only: llama.cpp cannot steer it, the GGUF export fails
    out = tmp_path / "m.safetensors"
    with pytest.raises(VectorFileError, match="nothing to export"):
        main(
            ["--recipe", "z", "--vectors-dir", str(tmp_path), "--out", str(out), "--gguf", str(tmp_path / "m.gguf")],
            shape_dir,
        )
    assert not out.exists()


def test_extract_config_needs_exactly_one_persona_source():
    from billy_interp.jobs.extract import ExtractConfig

    with pytest.raises(ValueError, match="exactly one"):
        ExtractConfig()
    with pytest.raises(ValueError, match="exactly one"):
        ExtractConfig(persona="futurist", persona_file="x.json")
