import pytest
import torch

from billy_interp.vectors.formats import (
    VectorFileError,
    check_compatible,
    export_gguf,
    export_pt,
    import_gguf,
    import_pt,
    load_any_vector,
    load_vector,
    save_vector,
)
from billy_interp.vectors.vector import PersonaVector

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
        save_vector(
            PersonaVector({"blocks.0.hook_resid_post": torch.full((D,), float("nan"))}), tmp_path / "x.safetensors"
        )
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
    save_file(
        {"blocks.0.hook_resid_post": torch.tensor([float("inf")] * D)},
        str(tmp_path / "inf.safetensors"),
        metadata=meta1,
    )
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
    w = import_pt(tmp_path / "v.pt", n_layers=3)
    for h in v.hooks:
        assert torch.equal(v[h], w[h])


def test_pt_import_checks_depth_and_width_and_refuses_shifted_or_transposed_files(tmp_path, tiny_model):
    table = torch.randn(tiny_model.layers.n_layers + 1, D)  # [3, 64] for the 2-block tiny model
    torch.save(table, tmp_path / "ok.pt")
    vector = import_pt(tmp_path / "ok.pt", tiny_model)
    assert torch.equal(vector["blocks.1.hook_resid_post"], table[2]) and vector.metadata["model"] == "tiny-llama"
    with pytest.raises(VectorFileError, match="pass model= or n_layers="):
        import_pt(tmp_path / "ok.pt")
    torch.save(table[1:], tmp_path / "dropped.pt")  # the embeddings row lost: every layer would shift
    with pytest.raises(VectorFileError, match="a row is missing: every layer would shift by one"):
        import_pt(tmp_path / "dropped.pt", tiny_model)
    torch.save(torch.randn(tiny_model.layers.n_layers + 2, D), tmp_path / "extra.pt")
    with pytest.raises(VectorFileError, match="a row too many"):
        import_pt(tmp_path / "extra.pt", n_layers=2)
    torch.save(table.T.contiguous(), tmp_path / "transposed.pt")
    with pytest.raises(VectorFileError, match="looks transposed"):
        import_pt(tmp_path / "transposed.pt", tiny_model)
    torch.save(torch.randn(3, 32), tmp_path / "narrow.pt")
    with pytest.raises(VectorFileError, match="width 32 does not match the model's d_model 64"):
        import_pt(tmp_path / "narrow.pt", tiny_model)
    deep = PersonaVector({"blocks.0.hook_resid_post": torch.ones(D)}, {"model": "tiny-llama", "n_layers": 32})
    with pytest.raises(VectorFileError, match="made for a 32-block model"):
        check_compatible(deep, tiny_model)


def test_imported_layers_follow_the_pt_row_order(tmp_path):
    table = torch.randn(4, D)  # row 0 = embeddings = blocks.0.hook_resid_pre, then blocks 0..2
    torch.save(table, tmp_path / "v.pt")
    vector = import_pt(tmp_path / "v.pt", n_layers=3)
    assert vector.hooks[:2] == ["blocks.0.hook_resid_pre", "blocks.0.hook_resid_post"]
    assert torch.equal(vector.stacked(), table)  # stacked() rows are the .pt rows
    export_pt(vector, tmp_path / "back.pt")
    assert torch.equal(torch.load(tmp_path / "back.pt", weights_only=True), table)


def test_any_format_loads_by_suffix(tmp_path):
    v = _vector(n_layers=3)
    export_pt(v, tmp_path / "cre.pt")
    export_gguf(v, tmp_path / "cre.gguf")
    save_vector(v, tmp_path / "cre.safetensors")
    assert load_any_vector(tmp_path / "cre.pt", n_layers=3).metadata["persona"] == "cre"
    assert load_any_vector(tmp_path / "cre.gguf").hooks == v.hooks[1:]
    assert load_any_vector(tmp_path / "cre.safetensors").hooks == v.hooks
    with pytest.raises(VectorFileError, match="unknown vector format"):
        load_any_vector(tmp_path / "cre.npy")


def test_gguf_import_refuses_a_2d_direction(tmp_path):
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(tmp_path / "bad.gguf"), "controlvector")
    writer.add_tensor("direction.1", np.ones((4, D), dtype="float32"))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(VectorFileError, match="a control vector is 1-D"):
        import_gguf(tmp_path / "bad.gguf")


class Evil:
    """Any non-tensor object: weights_only loading must refuse it."""


def test_pt_import_refuses_pickled_objects(tmp_path):
    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(VectorFileError, match="not a loadable tensor file"):
        import_pt(tmp_path / "evil.pt", n_layers=2)


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
