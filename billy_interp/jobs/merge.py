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
from billy_interp.core.loading import model_shape
from billy_interp.options import VECTORS_DIR_HELP, UsageError
from billy_interp.paper import PAPER_LAYER, PAPER_RECIPE_TEXT
from billy_interp.vectors.formats import VectorFileError, export_gguf, export_pt, load_vector, save_vector
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
    vectors_dir: str = field(default="", metadata={"help": VECTORS_DIR_HELP})
    model: str = field(default="embedded", metadata={"help": "model the vectors must fit (its config only is read)"})
    n_layers: int = field(default=0, metadata={"help": "depth of .pt inputs (0: from the other inputs)"})
    out: str = field(default="runs/merged/merged.safetensors", metadata={"help": "output safetensors path"})
    pt: str = field(default="", metadata={"help": "also export the paper's [n_layers+1, d_model] .pt"})
    gguf: str = field(default="", metadata={"help": "also export a llama.cpp control-vector GGUF"})
    overwrite: bool = field(default=False, metadata={"help": "replace output files that merge did not make"})

    def __post_init__(self) -> None:
        parse_recipe(self.recipe, self.method)
        if not self.out.endswith(".safetensors"):
            raise UsageError(f"--out {self.out!r}: the merged vector is written as .safetensors")
        if self.pt and not self.pt.endswith(".pt"):
            raise UsageError(f"--pt {self.pt!r}: must end with .pt")
        if self.gguf and not self.gguf.endswith(".gguf"):
            raise UsageError(f"--gguf {self.gguf!r}: must end with .gguf")


def _check_outputs(config: MergeConfig) -> None:
    """Replace only files an earlier merge made (its --out records its exports), unless --overwrite."""
    if config.overwrite:
        return
    exports: list[str] = []
    out = Path(config.out)
    if out.exists():
        try:
            made = load_vector(out).metadata
        except VectorFileError:
            made = {}
        if not str(made.get("method", "")).startswith("merge:"):
            raise UsageError(f"--out {out} exists and merge did not make it; pass --overwrite to replace it")
        exports = list(made.get("exports", []))
    for option, path in (("--pt", config.pt), ("--gguf", config.gguf)):
        if path and Path(path).exists() and str(Path(path)) not in exports:
            raise UsageError(f"{option} {path} exists and this merge did not make it; pass --overwrite to replace it")


def run_merge(config: MergeConfig) -> PersonaVector:
    """Check, merge, save, and export as asked; prints the norm at the paper's layer."""
    shape = model_shape(config.model)  # the model's configuration only: no weights are loaded
    _check_outputs(config)
    recipe, vectors = load_recipe_vectors(
        parse_recipe(config.recipe, config.method), config.vectors_dir, shape, config.n_layers
    )
    exports = [str(Path(p)) for p in (config.pt, config.gguf) if p]
    merged = merge(vectors, recipe).with_metadata(exports=exports, n_layers=shape.n_layers)
    save_vector(merged, config.out)
    try:
        if config.pt:
            export_pt(merged, config.pt)
        if config.gguf:
            skipped = export_gguf(merged, config.gguf)
            if skipped:
                print(f"GGUF: llama.cpp cannot steer {skipped}; left out")
    except Exception:
        for path in (config.out, config.pt, config.gguf):  # nothing half-written: the exports failed
            if path:
                Path(path).unlink(missing_ok=True)
        raise
    hook = hook_name(paper_layer_to_block(PAPER_LAYER))
    norm = merged.norms().get(hook, float("nan"))
    print(f"merged {recipe.to_dict()} -> {config.out}; |v| at paper layer {PAPER_LAYER} ({hook}): {norm:.3f}")
    return merged
