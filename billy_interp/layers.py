"""The one place where layer indices are converted.

Three numbering schemes meet in this project:

* **TL block index** ``l`` (0-based): ``blocks.{l}.hook_resid_post`` is the output of block ``l``.
  All code in billy_interp uses this, together with the full hook name.
* **HF hidden-state index** ``h``: ``hidden_states[h]`` from ``output_hidden_states=True``;
  index 0 is the embeddings, so ``hidden_states[l + 1] == blocks.{l}.hook_resid_post``
  (up to kernel noise). HF's *last* entry is after the final norm; TL's last
  ``hook_resid_post`` is before it, so ``h == n_layers`` is only approximately a block output.
* **The BILLY paper's "layer"**: its vectors are ``[n_layers + 1, d_model]`` tensors in the
  hidden-state index, so the paper's "layer 20" is ``hidden_states[20]``, the output of
  block 19, i.e. ``blocks.19.hook_resid_post``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["ResidualSite", "LayerConvention", "parse_hook_name"]

ResidualSite = Literal["resid_pre", "resid_post"]
_HOOK_RE = re.compile(r"^blocks\.(\d+)\.hook_(resid_pre|resid_post)$")


def parse_hook_name(name: str) -> tuple[int, ResidualSite]:
    """Split ``blocks.{l}.hook_resid_post`` into ``(l, "resid_post")``."""
    match = _HOOK_RE.match(name)
    if match is None:
        raise ValueError(
            f"{name!r} is not a residual-stream hook name; expected 'blocks.<l>.hook_resid_post' "
            "or 'blocks.<l>.hook_resid_pre'"
        )
    return int(match.group(1)), match.group(2)  # type: ignore[return-value]


@dataclass(frozen=True)
class LayerConvention:
    """Layer bookkeeping for a model with ``n_layers`` transformer blocks."""

    n_layers: int

    def __post_init__(self) -> None:
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")

    @property
    def blocks(self) -> range:
        return range(self.n_layers)

    def check_block(self, block: int) -> int:
        if not isinstance(block, int) or isinstance(block, bool):
            raise TypeError(f"block index must be an int, got {type(block).__name__}")
        if not 0 <= block < self.n_layers:
            raise ValueError(
                f"block {block} is out of range: this model has {self.n_layers} blocks "
                f"(valid TL block indices 0..{self.n_layers - 1})"
            )
        return block

    def hook_name(self, block: int, site: ResidualSite = "resid_post") -> str:
        """Full TL hook name for a block's residual stream."""
        self.check_block(block)
        if site not in ("resid_pre", "resid_post"):
            raise ValueError(f"unknown residual site {site!r}; use 'resid_pre' or 'resid_post'")
        return f"blocks.{block}.hook_{site}"

    def hook_names(self, site: ResidualSite = "resid_post") -> list[str]:
        return [self.hook_name(b, site) for b in self.blocks]

    def block_of(self, hook_name: str) -> int:
        block, _ = parse_hook_name(hook_name)
        return self.check_block(block)

    # --- the paper's index (HF hidden-state index) -------------------------------------------

    def paper_layer_to_block(self, layer: int) -> int:
        """The paper's "layer L" (``hidden_states[L]``) is the output of TL block ``L - 1``."""
        if not 1 <= layer <= self.n_layers:
            raise ValueError(
                f"paper/hidden-state layer {layer} is out of range: for a {self.n_layers}-block "
                f"model it must be 1..{self.n_layers} (0 is the embeddings, which no block outputs)"
            )
        return layer - 1

    def block_to_paper_layer(self, block: int) -> int:
        return self.check_block(block) + 1

    def paper_layer_hook(self, layer: int) -> str:
        """Hook name that the paper's "layer L" refers to (``blocks.{L-1}.hook_resid_post``)."""
        return self.hook_name(self.paper_layer_to_block(layer), "resid_post")

    def scaled_paper_layer(self, layer: int = 20, reference_layers: int = 32) -> int:
        """The paper's layer moved to the same relative depth of this model.

        The paper used layer 20 of 32-block (Llama-3.1-8B) and 28-block models; on a model of
        another depth the literal index means a different relative depth.
        """
        if not 1 <= layer <= reference_layers:
            raise ValueError(f"layer {layer} not in 1..{reference_layers}")
        return max(1, min(self.n_layers, round(layer * self.n_layers / reference_layers)))
