"""GGUF files load directly: found in a folder, dequantised once into the cache, and refused in
one line when transformers cannot read them."""

from __future__ import annotations

import numpy as np
import pytest

from billy_interp.core import embedded
from billy_interp.core.embedded import find_gguf, gguf_model_dir


def _write_gguf(path, architecture: str) -> None:
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), architecture)
    writer.add_block_count(2)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_unreadable_architecture_is_one_line_and_leaves_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BILLY_INTERP_CACHE", str(tmp_path / "cache"))
    _write_gguf(tmp_path / "odd.gguf", "rwkv9")
    with pytest.raises(ValueError, match=r"odd.gguf: transformers cannot load GGUF architecture 'rwkv9'") as error:
        gguf_model_dir(tmp_path / "odd.gguf")
    assert "\n" not in str(error.value) and "llama" in str(error.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_file_that_is_not_gguf_is_named(tmp_path):
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf file" * 8)
    with pytest.raises(ValueError, match="junk.gguf: not a readable GGUF file"):
        gguf_model_dir(tmp_path / "junk.gguf")
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        find_gguf(tmp_path / "missing.gguf")


def test_find_gguf_in_a_folder(tmp_path):
    assert find_gguf("meta-llama/Llama-3.1-8B-Instruct") is None
    assert find_gguf(tmp_path) is None  # empty folder: not a GGUF model
    _write_gguf(tmp_path / "a.gguf", "llama")
    assert find_gguf(tmp_path) == tmp_path / "a.gguf"
    (tmp_path / "config.json").write_text("{}")
    assert find_gguf(tmp_path) is None  # an HF folder that happens to hold a GGUF
    (tmp_path / "config.json").unlink()
    _write_gguf(tmp_path / "b.gguf", "llama")
    with pytest.raises(ValueError, match="holds 2 GGUF files"):
        find_gguf(tmp_path)


@pytest.mark.integration
def test_the_embedded_gguf_path_loads_from_the_embedded_cache(monkeypatch):
    from billy_interp.core.loading import load_model, model_shape

    def refuse(*args, **kwargs):
        raise AssertionError("the embedded GGUF must reuse the embedded cache, not dequantise again")

    monkeypatch.setattr(embedded, "_dequantise_into", refuse)
    gguf = embedded.locate_gguf()
    shape = model_shape(str(gguf))
    assert (shape.n_layers, shape.d_model) == embedded.EMBEDDED_SHAPE
    model = load_model(str(gguf.parent))
    assert model.config.architectures == ["LlamaForCausalLM"]
    assert (model.layers.n_layers, model.d_model) == embedded.EMBEDDED_SHAPE
