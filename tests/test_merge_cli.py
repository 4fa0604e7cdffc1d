import pytest
import torch

from billy_interp.artifacts import VectorFileError, import_gguf, import_pt, load_vector, save_vector
from billy_interp.merge import main, parse_recipe
from billy_interp.vectors import PersonaVector

D = 16


def _write(directory, name, value):
    v = PersonaVector({f"blocks.{l}.hook_resid_post": torch.full((D,), value) for l in range(3)},
                      {"persona": name, "model": "m", "pooling": "response_mean"})
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
    main(["--recipe", "a,b,b", "--vectors-dir", str(tmp_path), "--out", str(out),
          "--pt", str(tmp_path / "m.pt"), "--gguf", str(tmp_path / "m.gguf")])
    merged = load_vector(out)
    torch.testing.assert_close(merged["blocks.1.hook_resid_post"], torch.full((D,), 7.0 / 3))
    assert merged.metadata["recipe"]["weights"] == {"a": 1.0, "b": 2.0}
    assert torch.equal(import_pt(tmp_path / "m.pt")["blocks.2.hook_resid_post"], merged["blocks.2.hook_resid_post"])
    assert import_gguf(tmp_path / "m.gguf").hooks == ["blocks.1.hook_resid_post", "blocks.2.hook_resid_post"]


def test_merge_cli_unknown_persona(tmp_path):
    _write(tmp_path, "a", 1.0)
    with pytest.raises(VectorFileError, match="no vector for persona 'zzz'.*available: \\['a'\\]"):
        main(["--recipe", "a,zzz", "--vectors-dir", str(tmp_path), "--out", str(tmp_path / "o.safetensors")])


def test_extract_config_needs_exactly_one_persona_source():
    from billy_interp.extract import ExtractConfig

    with pytest.raises(ValueError, match="exactly one"):
        ExtractConfig()
    with pytest.raises(ValueError, match="exactly one"):
        ExtractConfig(persona="futurist", persona_file="x.json")
