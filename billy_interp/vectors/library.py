"""Where persona vectors live: the shipped ones (package data) and your own directories.

The vectors of all 12 catalog personas for the embedded SmolLM2 ship inside the package
(``billy_interp/data/vectors/SmolLM2-135M-Instruct``), so they load by persona name from any
working directory and from an installed wheel::

    vectors = load_vectors(["creative_professional", "futurist"])          # shipped, embedded model
    vectors = load_vectors(["ocean_scientist"], source="runs/vectors/SmolLM2-135M-Instruct")
    vectors = load_vectors(["futurist"], source="shipped:stable")            # a shipped variant

A shipped model folder may hold variants in sub-folders (``stable``: the default recipe's three
personas re-extracted with the samples per prompt that the stability curve needs for seed cosine
>= 0.9 at paper layer 20: 8 for the futurist and environmentalist, 12 for the creative
professional; see docs/vectors.md). ``source="shipped:<variant>"`` (also on the command line,
``--vectors-dir shipped:stable``) reads one. Shipped files are read-only: extraction never writes there.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from billy_interp.core.embedded import EMBEDDED_MODEL_NAME
from billy_interp.vectors.formats import VectorFileError, load_vector
from billy_interp.vectors.vector import PersonaVector

__all__ = [
    "shipped_vectors_root",
    "shipped_vectors_dir",
    "model_slug",
    "vector_names",
    "resolve_source",
    "load_vectors",
    "check_vectors_available",
]


SHIPPED_PREFIX = "shipped:"


def shipped_vectors_root() -> Path:
    """The package-data folder holding one sub-folder of vectors per model."""
    return Path(str(resources.files("billy_interp") / "data" / "vectors"))


def model_slug(name: str) -> str:
    """A readable folder name for a model: the embedded name, a hub id with ``/`` as ``__``, or
    the last component of a local path (its stem for a ``.gguf`` file)."""
    text = str(name).rstrip("/\\")
    path = Path(text)
    if path.is_absolute() or text.startswith((".", "~")) or path.exists():
        return path.stem if path.suffix == ".gguf" else path.name
    return text.replace("/", "__")


def shipped_vectors_dir(model_name: str = EMBEDDED_MODEL_NAME) -> Path | None:
    """The shipped vectors of a model (``None`` when none ship for it)."""
    directory = shipped_vectors_root() / model_slug(model_name)
    return directory if directory.is_dir() else None


def vector_names(directory: str | Path) -> list[str]:
    """Persona names with a response-mean vector (``<name>.safetensors``, no dotted variants)."""
    return sorted(p.stem for p in Path(directory).glob("*.safetensors") if "." not in p.stem)


def resolve_source(source: str | Path | None, model: Any | None = None, option: str = "source") -> Path:
    """The directory to read vectors from: ``source`` if given, else (or for ``"shipped"``) the
    vectors shipped for the model (the embedded one when ``model`` is None); ``"shipped:NAME"``
    is a shipped variant."""
    if str(source) == SHIPPED_PREFIX[:-1]:
        source = None
    if source and str(source).startswith(SHIPPED_PREFIX):
        base = resolve_source(None, model, option)
        variant = str(source)[len(SHIPPED_PREFIX) :]
        directory = base / variant
        if not variant or "/" in variant or not directory.is_dir():
            available = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("_"))
            raise VectorFileError(f"{option}: no shipped variant {variant!r} for {base.name}; shipped: {available}")
        return directory
    if source:
        directory = Path(source).expanduser()
        if not directory.is_dir():
            raise VectorFileError(f"{option}: {directory} is not a directory of persona vectors")
        return directory
    name = model.name if model is not None else EMBEDDED_MODEL_NAME
    shipped = shipped_vectors_dir(name)
    if shipped is None:
        available = sorted(p.name for p in shipped_vectors_root().iterdir() if p.is_dir())
        raise VectorFileError(
            f"no vectors ship for model {name!r} (shipped: {available}); extract them with "
            f"python -m billy_interp.extract --model {name} and pass their directory as {option}"
        )
    return shipped


def load_vectors(
    names: str | Iterable[str] | None = None,
    model: Any | None = None,
    *,
    source: str | Path | None = None,
    strict_model: bool = True,
) -> dict[str, PersonaVector]:
    """Persona vectors by name (any iterable of names, e.g. a recipe's ``weights``; ``None``: every
    vector in the source), validated against ``model`` when given. ``source`` is a directory of
    ``<persona>.safetensors``; by default the vectors shipped for ``model`` (the embedded SmolLM2
    when no model is given)."""
    directory = resolve_source(source, model)
    available = vector_names(directory)
    if names is None:
        wanted = available
    else:
        wanted = list(dict.fromkeys([names] if isinstance(names, str) else names))
    if not wanted:
        raise VectorFileError(f"no persona vectors (*.safetensors) in {directory}")
    vectors = {}
    for name in wanted:
        path = directory / f"{name}.safetensors"
        if not path.is_file():
            raise VectorFileError(f"no vector for persona {name!r} in {directory}; available: {available}")
        vectors[name] = load_vector(path, model, strict_model=strict_model)
    return vectors


def check_vectors_available(
    names: Iterable[str], source: str | Path | None, model_name: str = "embedded", option: str = "--recipe"
) -> None:
    """Before any model loads: every name has a vector in ``source`` (as :func:`load_vectors`
    would look for it), else one line naming ``option``. Skipped where the folder depends on a
    model not yet loaded (the shipped vectors of a model other than the embedded one)."""
    shipped = not source or str(source) == SHIPPED_PREFIX[:-1] or str(source).startswith(SHIPPED_PREFIX)
    if shipped and model_name not in ("embedded", EMBEDDED_MODEL_NAME):
        return
    directory = resolve_source(source or None, option="--vectors-dir")
    available = vector_names(directory)
    missing = [name for name in dict.fromkeys(names) if name not in available]
    if missing:
        raise VectorFileError(
            f"{option}: no vector for {', '.join(map(repr, missing))} in {directory}; available: {available}"
        )
