"""``python -m billy_interp.merge``: merge saved persona vectors by a recipe.

    python -m billy_interp.merge --recipe creative_professional,environmentalist,futurist,futurist \\
        --out runs/merged/billy_default.safetensors             # the paper's default (mean)
    python -m billy_interp.merge --recipe creative_professional:2,environmentalist:1 --method weighted \\
        --out runs/merged/cre2_env1.safetensors --gguf runs/merged/cre2_env1.gguf

A recipe is a comma-separated list; repeats count (``futurist,futurist`` = weight 2), or give
weights as ``name:weight``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from billy_interp.artifacts import VectorFileError, export_gguf, export_pt, load_vector, save_vector
from billy_interp.cli import parse_config
from billy_interp.vectors import MergeRecipe, PersonaVector, merge

__all__ = ["MergeConfig", "parse_recipe", "persona_vector_names", "load_persona_vectors", "main", "DEFAULT_VECTORS_DIR"]

DEFAULT_VECTORS_DIR = "vectors/SmolLM2-135M-Instruct"


def parse_recipe(text: str, method: str = "mean") -> MergeRecipe:
    """``"a,b,b"`` -> {a: 1, b: 2}; ``"a:0.5,b:2"`` -> explicit weights."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError("empty recipe")
    if any(":" in t for t in items):
        weights: dict[str, float] = {}
        for item in items:
            name, _, weight = item.partition(":")
            weights[name.strip()] = weights.get(name.strip(), 0.0) + float(weight or 1.0)
        return MergeRecipe(weights, method)  # type: ignore[arg-type]
    return MergeRecipe.from_list(items, method)  # type: ignore[arg-type]


def persona_vector_names(directory: str | Path) -> list[str]:
    """Persona names with a response-mean vector (``<name>.safetensors``, no dotted variants) in a directory."""
    return sorted(p.stem for p in Path(directory).glob("*.safetensors") if "." not in p.stem)


def load_persona_vectors(names: Sequence[str], directory: str | Path = DEFAULT_VECTORS_DIR, model=None) -> dict[str, PersonaVector]:
    """Load ``<directory>/<name>.safetensors`` for each name, validated (against ``model`` if given)."""
    directory = Path(directory)
    vectors = {}
    for name in dict.fromkeys(names):
        path = directory / f"{name}.safetensors"
        if not path.is_file():
            available = persona_vector_names(directory)
            raise VectorFileError(f"no vector for persona {name!r} in {directory}; available: {available}")
        vectors[name] = load_vector(path, model)
    return vectors


@dataclass(frozen=True)
class MergeConfig:
    """Merge persona vectors by a recipe and save the result (safetensors; optionally .pt and GGUF)."""

    recipe: str = field(default="creative_professional,environmentalist,futurist,futurist",
                        metadata={"help": "comma-separated personas (repeats count) or name:weight"})
    method: Literal["mean", "weighted", "sum", "unit_mean", "gram_schmidt"] = field(
        default="mean", metadata={"help": "merge method"})
    vectors_dir: str = field(default=DEFAULT_VECTORS_DIR, metadata={"help": "where <persona>.safetensors live"})
    out: str = field(default="runs/merged/merged.safetensors", metadata={"help": "output safetensors path"})
    pt: str = field(default="", metadata={"help": "also export the paper's [n_layers+1, d_model] .pt"})
    gguf: str = field(default="", metadata={"help": "also export a llama.cpp control-vector GGUF"})


def main(argv: Sequence[str] | None = None) -> PersonaVector:
    config = parse_config(MergeConfig, argv, __doc__)
    recipe = parse_recipe(config.recipe, config.method)
    merged = merge(load_persona_vectors(list(recipe.weights), config.vectors_dir), recipe)
    save_vector(merged, config.out)
    if config.pt:
        export_pt(merged, config.pt)
    if config.gguf:
        skipped = export_gguf(merged, config.gguf)
        if skipped:
            print(f"GGUF: llama.cpp cannot steer {skipped}; left out")
    norms = merged.norms()
    print(f"merged {recipe.to_dict()} -> {config.out}; |v| at blocks.19: {norms.get('blocks.19.hook_resid_post', float('nan')):.3f}")
    return merged


if __name__ == "__main__":
    main()
