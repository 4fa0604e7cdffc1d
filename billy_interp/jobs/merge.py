"""The merge job: merge persona vectors by a recipe; save, and export to ``.pt`` / GGUF.

    python -m billy_interp.merge --recipe creative_professional,environmentalist,futurist,futurist \\
        --out runs/merged/billy_default.safetensors             # the paper's default (mean)
    python -m billy_interp.merge --recipe creative_professional:2,environmentalist:1 --method weighted \\
        --out runs/merged/cre2_env1.safetensors --gguf runs/merged/cre2_env1.gguf
    python -m billy_interp.merge --recipe their_cre.pt,their_env.pt --n-layers 32 --out runs/merged/theirs.safetensors

A recipe is a comma-separated list; repeats count (``futurist,futurist`` = weight 2), or give
weights as ``name:weight``. Entries are persona names (from ``--vectors-dir``, by default the
shipped vectors) or vector files (``.safetensors``, the paper's ``.pt``, llama.cpp ``.gguf``).
Nothing half-written: if an export fails, the merged file is removed too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from billy_interp.core.layers import hook_name, paper_layer_to_block
from billy_interp.options import UsageError
from billy_interp.paper import PAPER_LAYER, PAPER_RECIPE_TEXT
from billy_interp.vectors.formats import export_gguf, export_pt, save_vector
from billy_interp.vectors.merging import load_recipe_vectors, merge, parse_recipe
from billy_interp.vectors.vector import PersonaVector

__all__ = ["MergeConfig", "run_merge"]


@dataclass(frozen=True)
class MergeConfig:
    """Merge persona vectors by a recipe and save the result (safetensors; optionally .pt and GGUF)."""

    recipe: str = field(
        default=PAPER_RECIPE_TEXT,
        metadata={
            "help": "comma-separated personas or vector files (.safetensors/.pt/.gguf); repeats count; name:weight"
        },
    )
    method: Literal["mean", "weighted", "sum", "unit_mean", "gram_schmidt"] = field(
        default="mean", metadata={"help": "merge method"}
    )
    vectors_dir: str = field(default="", metadata={"help": "where <persona>.safetensors live (empty: shipped)"})
    n_layers: int = field(default=0, metadata={"help": "depth of .pt inputs (0: from the other inputs)"})
    out: str = field(default="runs/merged/merged.safetensors", metadata={"help": "output safetensors path"})
    pt: str = field(default="", metadata={"help": "also export the paper's [n_layers+1, d_model] .pt"})
    gguf: str = field(default="", metadata={"help": "also export a llama.cpp control-vector GGUF"})

    def __post_init__(self) -> None:
        parse_recipe(self.recipe, self.method)
        if not self.out.endswith(".safetensors"):
            raise UsageError(f"--out {self.out!r}: the merged vector is written as .safetensors")
        if self.pt and not self.pt.endswith(".pt"):
            raise UsageError(f"--pt {self.pt!r}: must end with .pt")
        if self.gguf and not self.gguf.endswith(".gguf"):
            raise UsageError(f"--gguf {self.gguf!r}: must end with .gguf")


def run_merge(config: MergeConfig) -> PersonaVector:
    """Merge, save, and export as asked; prints the norm at the paper's layer."""
    recipe, vectors = load_recipe_vectors(
        parse_recipe(config.recipe, config.method), config.vectors_dir, None, config.n_layers
    )
    merged = merge(vectors, recipe)
    save_vector(merged, config.out)
    try:
        if config.pt:
            export_pt(merged, config.pt)
        if config.gguf:
            skipped = export_gguf(merged, config.gguf)
            if skipped:
                print(f"GGUF: llama.cpp cannot steer {skipped}; left out")
    except Exception:
        Path(config.out).unlink(missing_ok=True)  # nothing half-written: the exports failed
        raise
    hook = hook_name(paper_layer_to_block(PAPER_LAYER))
    norm = merged.norms().get(hook, float("nan"))
    print(f"merged {recipe.to_dict()} -> {config.out}; |v| at paper layer {PAPER_LAYER} ({hook}): {norm:.3f}")
    return merged
