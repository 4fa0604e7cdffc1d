"""One artifact format for vectors, plus interop with the paper's ``.pt`` and llama.cpp's GGUF.

* **safetensors** (ours): one tensor per full hook name, and one JSON metadata blob under the
  header key ``billy_interp``. Written atomically (temp file + rename).
* **.pt** (persona_vectors / BILLY code): a ``[n_layers + 1, d_model]`` tensor in the HF
  hidden-state index; row 0 is the embeddings, row ``h`` is ``blocks.{h-1}.hook_resid_post``.
  Loaded with ``torch.load(weights_only=True)``: never an unsafe pickle.
* **GGUF control vector** (llama.cpp ``--control-vector``): arch ``controlvector``, one tensor
  ``direction.{l}`` per layer, added to the output of 0-based decoder layer ``l``, i.e.
  ``blocks.{l}.hook_resid_post``. llama.cpp rejects ``direction.0``, so block 0 cannot be
  exported (it is reported in the returned list of skipped hooks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch

from billy_interp import __version__
from billy_interp.core.layers import block_of, block_to_paper_layer, hook_name, paper_layer_to_block, parse_hook_name
from billy_interp.io import atomic_write
from billy_interp.vectors.vector import PersonaVector

__all__ = [
    "METADATA_KEY",
    "VectorFileError",
    "save_vector",
    "load_vector",
    "check_compatible",
    "export_pt",
    "import_pt",
    "export_gguf",
    "import_gguf",
    "load_any_vector",
]

METADATA_KEY = "billy_interp"


class VectorFileError(ValueError):
    """A vector file that cannot be used, with the reason."""


def _check_finite(vector_like: dict[str, torch.Tensor], where: str) -> None:
    for name, tensor in vector_like.items():
        if not torch.isfinite(tensor).all():
            raise VectorFileError(f"{where}: tensor {name} contains NaN or Inf")


def save_vector(vector: PersonaVector, path: str | Path) -> Path:
    """Write ``vector`` as safetensors keyed by hook name with one JSON metadata blob."""
    from safetensors.torch import save_file

    _check_finite(dict(vector.directions), str(path))
    meta = {
        **vector.metadata,
        "hooks": vector.hooks,
        "d_model": vector.d_model,
        "package_version": vector.metadata.get("package_version", __version__),
        "format": "billy_interp.persona_vector/1",
    }
    tensors = {h: t.contiguous() for h, t in vector.directions.items()}
    header = {METADATA_KEY: json.dumps(meta, sort_keys=True)}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=header))


def load_vector(path: str | Path, model: Any | None = None, *, strict_model: bool = True) -> PersonaVector:
    """Load and validate a vector file; with ``model``, also check it belongs to that model."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise VectorFileError(f"vector file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (safe_open is no dict)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise VectorFileError(f"{path}: corrupted or not a safetensors file ({error})") from error
    if METADATA_KEY not in header:
        raise VectorFileError(f"{path}: no '{METADATA_KEY}' metadata; not a billy_interp vector")
    try:
        meta = json.loads(header[METADATA_KEY])
    except json.JSONDecodeError as error:
        raise VectorFileError(f"{path}: metadata is not valid JSON ({error})") from error
    listed = meta.get("hooks", [])
    if sorted(listed) != sorted(tensors):
        missing = sorted(set(listed) - set(tensors))
        extra = sorted(set(tensors) - set(listed))
        raise VectorFileError(f"{path}: tensors do not match metadata (missing {missing}, extra {extra})")
    for name, tensor in tensors.items():
        try:
            parse_hook_name(name)
        except ValueError as error:
            raise VectorFileError(f"{path}: {error}") from error
        if tensor.ndim != 1 or tensor.shape[0] != meta.get("d_model"):
            raise VectorFileError(
                f"{path}: {name} has shape {tuple(tensor.shape)}, metadata says d_model={meta.get('d_model')}"
            )
    _check_finite(tensors, str(path))
    vector = PersonaVector(tensors, meta)
    if model is not None:
        check_compatible(vector, model, strict_model=strict_model, where=str(path))
    return vector


def check_compatible(vector: PersonaVector, model: Any, *, strict_model: bool = True, where: str = "vector") -> None:
    """Refuse a vector made for another model, another width or depth, or layers the model lacks."""
    if vector.d_model != model.d_model:
        raise VectorFileError(
            f"{where}: d_model {vector.d_model} does not match model {model.name!r} (d_model {model.d_model})"
        )
    made_for = vector.metadata.get("model")
    if strict_model and made_for is not None and made_for != model.name:
        raise VectorFileError(
            f"{where}: extracted from model {made_for!r}, not {model.name!r}; pass strict_model=False to use it anyway"
        )
    depth = vector.metadata.get("n_layers")
    if depth is not None and int(depth) != model.layers.n_layers:
        raise VectorFileError(
            f"{where}: made for a {depth}-block model, but {model.name!r} has {model.layers.n_layers} blocks"
        )
    for hook in vector.hooks:
        if block_of(hook) >= model.layers.n_layers:
            raise VectorFileError(
                f"{where}: layer {hook} does not exist in {model.name!r} ({model.layers.n_layers} blocks)"
            )


# --- .pt (persona_vectors / BILLY layout) -------------------------------------------------------


def export_pt(vector: PersonaVector, path: str | Path, n_layers: int | None = None) -> Path:
    """``[n_layers + 1, d_model]`` in the hidden-state index (row 0 = embeddings = block 0's
    resid_pre, row ``h`` = block ``h-1``'s resid_post); missing rows are zeros."""
    n_layers = n_layers or int(vector.metadata.get("n_layers") or max(vector.blocks) + 1)
    table = torch.zeros(n_layers + 1, vector.d_model)
    for hook, tensor in vector.directions.items():
        block, site = parse_hook_name(hook)
        if site == "resid_post":
            table[block_to_paper_layer(block)] = tensor  # .pt rows are the hidden-state (paper) index
        elif block == 0:
            table[0] = tensor  # the embeddings are block 0's resid_pre
    return atomic_write(path, lambda tmp: torch.save(table, tmp))


def _expected_shape(model: Any | None, n_layers: int | None, path: Path) -> tuple[int, int | None]:
    if model is not None:
        if n_layers is not None and n_layers != model.layers.n_layers:
            raise VectorFileError(f"{path}: n_layers={n_layers} contradicts the model ({model.layers.n_layers} blocks)")
        return model.layers.n_layers, model.d_model
    if n_layers is None:
        raise VectorFileError(
            f"{path}: pass model= or n_layers= to import a .pt vector: its rows are only meaningful against "
            "a known depth (a file with a dropped row would shift every layer by one)"
        )
    return n_layers, None


def import_pt(
    path: str | Path, model: Any | None = None, *, n_layers: int | None = None, metadata: dict[str, Any] | None = None
) -> PersonaVector:
    """Read a vector in the paper's ``.pt`` layout (``[n_layers + 1, d_model]``, index 0 = the
    embeddings), checking its depth (and width) against ``model`` or an explicit ``n_layers``.
    A transposed file, or one with a row too few or too many, is refused with the reason."""
    path = Path(path)
    depth, width = _expected_shape(model, n_layers, path)
    try:
        table = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors vary; weights_only refuses arbitrary objects
        raise VectorFileError(f"{path}: not a loadable tensor file ({error})") from error
    if isinstance(table, dict) and len(table) == 1:
        table = next(iter(table.values()))
    if not isinstance(table, torch.Tensor) or table.ndim != 2:
        raise VectorFileError(f"{path}: expected a [n_layers + 1, d_model] tensor")
    rows, cols = table.shape
    expected = f"[{depth + 1}, {width if width is not None else 'd_model'}]"
    if rows != depth + 1 and cols == depth + 1 and (width is None or rows == width):
        raise VectorFileError(f"{path}: shape {tuple(table.shape)} looks transposed; expected {expected}")
    if rows != depth + 1:
        hint = (
            "a row is missing: every layer would shift by one"
            if rows == depth
            else ("there is a row too many" if rows == depth + 2 else "another model's depth")
        )
        raise VectorFileError(
            f"{path}: {rows} rows for a {depth}-block model, expected {depth + 1} (row 0 = embeddings); {hint}"
        )
    if width is not None and cols != width:
        raise VectorFileError(f"{path}: width {cols} does not match the model's d_model {width}")
    table = table.float()
    _check_finite({"table": table}, str(path))
    directions = {hook_name(paper_layer_to_block(h)): table[h] for h in range(1, rows)}
    if table[0].abs().sum() > 0:
        directions[hook_name(0, "resid_pre")] = table[0]
    meta = {"source": f"pt:{path.name}", "n_layers": depth, **(metadata or {})}
    if model is not None:
        meta.setdefault("model", model.name)
    return PersonaVector(directions, meta)


# --- GGUF control vectors (llama.cpp) -----------------------------------------------------------


def export_gguf(vector: PersonaVector, path: str | Path, model_hint: str = "llama") -> list[str]:
    """Write a llama.cpp control vector; returns the hooks that could not be represented."""
    import gguf

    layers, skipped = {}, []
    for hook, tensor in vector.directions.items():
        block, site = parse_hook_name(hook)
        if site != "resid_post" or block == 0:
            skipped.append(hook)
        else:
            layers[block] = tensor.numpy().astype("float32")
    if not layers:
        raise VectorFileError("nothing to export: llama.cpp control vectors need resid_post of blocks >= 1")

    def write(tmp: Path) -> None:
        writer = gguf.GGUFWriter(str(tmp), "controlvector")
        writer.add_string("controlvector.model_hint", model_hint)
        writer.add_uint32("controlvector.layer_count", len(layers))
        writer.add_string("billy_interp.metadata", json.dumps(vector.metadata, sort_keys=True, default=str))
        for block, array in sorted(layers.items()):
            writer.add_tensor(f"direction.{block}", array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    atomic_write(path, write)
    return skipped


def import_gguf(
    path: str | Path, model: Any | None = None, *, numbering: Literal["applied", "measured"] = "applied"
) -> PersonaVector:
    """Read a llama.cpp control vector into a PersonaVector; with ``model``, its width and depth
    are checked.

    llama.cpp adds ``direction.N`` to the output of block N, so by default (``"applied"``) it
    becomes ``blocks.N.hook_resid_post``: steering with the imported vector does what llama.cpp
    does. llama.cpp's own ``cvector-generator`` writes a direction *measured* at block N - 1 as
    ``direction.N`` (one block off from where llama.cpp applies it); ``numbering="measured"``
    files it under ``blocks.{N-1}``, where it was measured, to compare it with extracted vectors.
    """
    if numbering not in ("applied", "measured"):
        raise ValueError(f"numbering must be 'applied' or 'measured', got {numbering!r}")
    import gguf

    path = Path(path)
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as error:
        raise VectorFileError(f"{path}: not a readable GGUF file ({error})") from error
    directions = {}
    for tensor in reader.tensors:
        if not tensor.name.startswith("direction."):
            continue
        index = tensor.name.split(".", 1)[1]
        if not index.isdigit():
            raise VectorFileError(f"{path}: tensor {tensor.name!r} is not direction.<layer>")
        data = torch.tensor(tensor.data.copy()).float()
        if data.ndim != 1 and not (data.ndim == 2 and 1 in data.shape):
            raise VectorFileError(f"{path}: {tensor.name} has shape {tuple(data.shape)}; a control vector is 1-D")
        block = int(index) - (1 if numbering == "measured" else 0)
        if block < 0:
            raise VectorFileError(f"{path}: {tensor.name} has no block it was measured at (numbering='measured')")
        directions[hook_name(block)] = data.reshape(-1)
    if not directions:
        raise VectorFileError(f"{path}: no direction.N tensors; not a control vector")
    meta: dict[str, Any] = {"source": f"gguf:{path.name}", "gguf_numbering": numbering}
    field = reader.fields.get("billy_interp.metadata")
    if field is not None:
        raw = bytes(field.parts[field.data[0]]).decode("utf-8")
        meta = {**json.loads(raw), **meta}
    _check_finite(directions, str(path))
    try:
        vector = PersonaVector(directions, meta)
    except ValueError as error:
        raise VectorFileError(f"{path}: {error}") from error
    if model is not None:
        check_compatible(vector, model, strict_model=False, where=str(path))
    return vector


def load_any_vector(path: str | Path, model: Any | None = None, *, n_layers: int | None = None) -> PersonaVector:
    """A vector file of any supported format, by suffix: ``.safetensors``, ``.pt`` or ``.gguf``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return load_vector(path, model)
    if suffix == ".pt":
        return import_pt(path, model, n_layers=n_layers, metadata={"persona": path.stem})
    if suffix == ".gguf":
        return import_gguf(path, model).with_metadata(persona=path.stem)
    raise VectorFileError(f"{path}: unknown vector format {suffix!r}; use .safetensors, .pt or .gguf")
