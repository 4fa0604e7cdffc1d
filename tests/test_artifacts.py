import pytest
import torch

from billy_interp.artifacts import (
    VectorFileError, check_compatible, export_gguf, export_pt, import_gguf, import_pt, load_vector, save_vector,
)
from billy_interp.vectors import PersonaVector

D = 64


def _vector(n_layers=2, model="tiny-llama"):
    g = torch.Generator().manual_seed(0)
    return PersonaVector(
        {f"blocks.{l}.hook_resid_post": torch.randn(D, generator=g) for l in range(n_layers)},
        {"model": model, "persona": "futurist", "seed": 3, "pooling": "response_mean", "n_layers": n_layers},
    )


def test_safetensors_round_trip_is_bit_exact(tmp_path):
    v = _vector()
    save_vector(v, tmp_path / "v.safetensors")
    w = load_vector(tmp_path / "v.safetensors")
    assert w.hooks == v.hooks
    for h in v.hooks:
        assert torch.equal(v[h], w[h])
    assert {k: w.metadata[k] for k in v.metadata} == v.metadata
    assert w.metadata["d_model"] == D and w.metadata["hooks"] == v.hooks


def test_loading_refuses_nan_corruption_and_missing_layers(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(ValueError, match="NaN"):
        save_vector(PersonaVector({"blocks.0.hook_resid_post": torch.full((D,), float("nan"))}), tmp_path / "x.safetensors")
    path = tmp_path / "v.safetensors"
    save_vector(_vector(), path)
    raw = path.read_bytes()
    (tmp_path / "torn.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(VectorFileError, match="corrupted"):
        load_vector(tmp_path / "torn.safetensors")
    meta = {"billy_interp": '{"hooks": ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"], "d_model": 64}'}
    save_file({"blocks.0.hook_resid_post": torch.zeros(D)}, str(tmp_path / "missing.safetensors"), metadata=meta)
    with pytest.raises(VectorFileError, match="missing"):
        load_vector(tmp_path / "missing.safetensors")
    meta1 = {"billy_interp": '{"hooks": ["blocks.0.hook_resid_post"], "d_model": 64}'}
    save_file({"blocks.0.hook_resid_post": torch.tensor([float("inf")] * D)}, str(tmp_path / "inf.safetensors"), metadata=meta1)
    with pytest.raises(VectorFileError, match="NaN or Inf"):
        load_vector(tmp_path / "inf.safetensors")
    with pytest.raises(VectorFileError, match="does not exist"):
        load_vector(tmp_path / "nope.safetensors")


def test_model_mismatch_is_refused(tmp_path, tiny_model):
    save_vector(_vector(model="other-model"), tmp_path / "v.safetensors")
    with pytest.raises(VectorFileError, match="extracted from model 'other-model'"):
        load_vector(tmp_path / "v.safetensors", tiny_model)
    load_vector(tmp_path / "v.safetensors", tiny_model, strict_model=False)
    wide = PersonaVector({"blocks.0.hook_resid_post": torch.ones(128)}, {"model": "tiny-llama"})
    with pytest.raises(VectorFileError, match="d_model 128"):
        check_compatible(wide, tiny_model)
    deep = PersonaVector({"blocks.7.hook_resid_post": torch.ones(D)}, {"model": "tiny-llama"})
    with pytest.raises(VectorFileError, match="does not exist"):
        check_compatible(deep, tiny_model)


def test_pt_round_trip_uses_the_hidden_state_index(tmp_path):
    v = _vector(n_layers=3)
    export_pt(v, tmp_path / "v.pt")
    table = torch.load(tmp_path / "v.pt", weights_only=True)
    assert table.shape == (4, D) and torch.equal(table[0], torch.zeros(D))
    assert torch.equal(table[3], v["blocks.2.hook_resid_post"])  # paper layer 3 = block 2
    w = import_pt(tmp_path / "v.pt")
    for h in v.hooks:
        assert torch.equal(v[h], w[h])


class Evil:
    """Any non-tensor object: weights_only loading must refuse it."""


def test_pt_import_refuses_pickled_objects(tmp_path):
    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(VectorFileError, match="not a loadable tensor file"):
        import_pt(tmp_path / "evil.pt")


def test_gguf_round_trip_and_block0_is_reported(tmp_path):
    v = _vector(n_layers=3)
    skipped = export_gguf(v, tmp_path / "v.gguf")
    assert skipped == ["blocks.0.hook_resid_post"]
    import gguf

    reader = gguf.GGUFReader(str(tmp_path / "v.gguf"))
    assert sorted(t.name for t in reader.tensors) == ["direction.1", "direction.2"]
    arch = reader.fields["general.architecture"]
    assert bytes(arch.parts[arch.data[0]]).decode() == "controlvector"
    w = import_gguf(tmp_path / "v.gguf")
    assert w.hooks == v.hooks[1:]
    for h in w.hooks:
        assert torch.equal(v[h], w[h])
    assert w.metadata["persona"] == "futurist"


def test_jsonl_log_stops_at_a_torn_line_and_rewrites_it_clean(tmp_path):
    from billy_interp.artifacts import read_jsonl_log

    path = tmp_path / "log.jsonl"
    assert read_jsonl_log(path) == []
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3, "b"')
    assert read_jsonl_log(path) == [{"a": 1}, {"a": 2}]
    assert path.read_text() == '{"a": 1}\n{"a": 2}\n'  # appends now start on a clean line
