"""The one place where layer indices and hook names are converted.

Three numbering schemes meet in this project:

* **TL block index** ``b`` (0-based): ``blocks.{b}.hook_resid_post`` is the output of block ``b``.
  Files and steering deltas are keyed by these full hook names.
* **HF hidden-state index** ``h``: ``hidden_states[h]`` from ``output_hidden_states=True``;
  index 0 is the embeddings, so ``hidden_states[b + 1] == blocks.{b}.hook_resid_post``
  (up to kernel noise). HF's *last* entry is after the final norm; TL's last
  ``hook_resid_post`` is before it, so ``h == n_layers`` is only approximately a block output.
* **The BILLY paper's "layer"** is the hidden-state index: its vectors are ``[n_layers + 1,
  d_model]`` tensors, so "layer 20" is ``hidden_states[20]``, the output of block 19, i.e.
  ``blocks.19.hook_resid_post``.

In the public API, ``layer=`` always means the paper's layer and ``block=`` the TL block; tables
carry both columns (``block``, ``paper_layer``) from :func:`layer_columns`. No other module
splits or builds hook names, or adds or subtracts 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ResidualSite",
    "hook_name",
    "parse_hook_name",
    "block_of",
    "hook_sort_key",
    "paper_layer_to_block",
    "block_to_paper_layer",
    "layer_columns",
    "add_paper_layer",
    "LayerConvention",
]

ResidualSite = Literal["resid_pre", "resid_post"]
_SITES = ("resid_pre", "resid_post")
_HOOK_RE = re.compile(r"^blocks\.(\d+)\.hook_(resid_pre|resid_post)$")


def _check_int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, got {type(value).__name__} {value!r}")
    return value


def hook_name(block: int, site: ResidualSite = "resid_post") -> str:
    """``blocks.{block}.hook_{site}`` (no range check: see :meth:`LayerConvention.hook_name`)."""
    _check_int(block, "block index")
    if block < 0:
        raise ValueError(f"block index must be >= 0, got {block}")
    if site not in _SITES:
        raise ValueError(f"unknown residual site {site!r}; use 'resid_pre' or 'resid_post'")
    return f"blocks.{block}.hook_{site}"


def parse_hook_name(name: str) -> tuple[int, ResidualSite]:
    """Split ``blocks.{b}.hook_resid_post`` into ``(b, "resid_post")``."""
    match = _HOOK_RE.match(str(name))
    if match is None:
        raise ValueError(
            f"{name!r} is not a residual-stream hook name; expected 'blocks.<b>.hook_resid_post' "
            "or 'blocks.<b>.hook_resid_pre'"
        )
    return int(match.group(1)), match.group(2)  # type: ignore[return-value]


def block_of(name: str) -> int:
    """The TL block index of a residual hook name."""
    return parse_hook_name(name)[0]


def hook_sort_key(name: str) -> tuple[int, int]:
    """Depth order: ``blocks.0.hook_resid_pre`` (the embeddings) before ``blocks.0.hook_resid_post``,
    which is the order of the paper's ``.pt`` rows."""
    block, site = parse_hook_name(name)
    return block, _SITES.index(site)


def paper_layer_to_block(layer: int, n_layers: int | None = None) -> int:
    """The paper's "layer L" (``hidden_states[L]``) is the output of TL block ``L - 1``."""
    _check_int(layer, "paper layer")
    top = f"1..{n_layers}" if n_layers is not None else ">= 1"
    if layer < 1 or (n_layers is not None and layer > n_layers):
        model = f"for a {n_layers}-block model " if n_layers is not None else ""
        raise ValueError(
            f"paper layer {layer} is out of range: {model}it must be {top} "
            "(0 is the embeddings, which no block outputs)"
        )
    return layer - 1


def block_to_paper_layer(block: int) -> int:
    """The paper layer (hidden-state index) of a TL block's output."""
    _check_int(block, "block index")
    if block < 0:
        raise ValueError(f"block index must be >= 0, got {block}")
    return block + 1


def layer_columns(block: int) -> dict[str, int]:
    """``{"block": b, "paper_layer": b + 1}``: the two layer columns every table carries (use this,
    or :func:`add_paper_layer`, instead of adding 1)."""
    return {"block": int(block), "paper_layer": block_to_paper_layer(int(block))}


def add_paper_layer(frame: Any, block_column: str = "block") -> Any:
    """A copy of a DataFrame with a ``paper_layer`` column next to its block column."""
    out = frame.copy()
    position = list(out.columns).index(block_column) + 1
    if "paper_layer" in out.columns:
        out = out.drop(columns=["paper_layer"])
    out.insert(position, "paper_layer", [block_to_paper_layer(int(b)) for b in out[block_column]])
    return out


@dataclass(frozen=True)
class LayerConvention:
    """Layer bookkeeping for a model with ``n_layers`` transformer blocks (range-checked)."""

    n_layers: int

    def __post_init__(self) -> None:
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")

    @property
    def blocks(self) -> range:
        return range(self.n_layers)

    @property
    def paper_layers(self) -> range:
        return range(1, self.n_layers + 1)

    def check_block(self, block: int) -> int:
        _check_int(block, "block index")
        if not 0 <= block < self.n_layers:
            raise ValueError(
                f"block {block} is out of range: this model has {self.n_layers} blocks "
                f"(valid TL block indices 0..{self.n_layers - 1})"
            )
        return block

    def hook_name(self, block: int, site: ResidualSite = "resid_post") -> str:
        """Full TL hook name for a block's residual stream."""
        return hook_name(self.check_block(block), site)

    def hook_names(self, site: ResidualSite = "resid_post") -> list[str]:
        return [self.hook_name(b, site) for b in self.blocks]

    def block_of(self, name: str) -> int:
        return self.check_block(block_of(name))

    def paper_layer_to_block(self, layer: int) -> int:
        return paper_layer_to_block(layer, self.n_layers)

    def block_to_paper_layer(self, block: int) -> int:
        return block_to_paper_layer(self.check_block(block))

    def paper_layer_hook(self, layer: int) -> str:
        """Hook name that the paper's "layer L" refers to (``blocks.{L-1}.hook_resid_post``)."""
        return self.hook_name(self.paper_layer_to_block(layer), "resid_post")

    def resolve(
        self,
        *,
        layer: int | Iterable[int] | None = None,
        block: int | Iterable[int] | None = None,
        option: str = "",
    ) -> list[int]:
        """Blocks named either by paper ``layer`` (the default vocabulary) or by TL ``block``.
        ``option``: the command-line option the layers came from, named in the error."""
        if (layer is None) == (block is None):
            raise ValueError("name the steered layer(s) with exactly one of layer= (paper layer) or block= (TL block)")
        try:
            if layer is not None:
                layers = [layer] if isinstance(layer, int) else list(layer)
                blocks = [self.paper_layer_to_block(x) for x in layers]
            else:
                blocks = [self.check_block(b) for b in ([block] if isinstance(block, int) else list(block))]
        except ValueError as error:
            raise ValueError(f"{option}: {error}" if option else str(error)) from None
        if not blocks:
            raise ValueError("no layer given")
        return blocks

    def scaled_paper_layer(self, layer: int = 20, reference_layers: int = 32) -> int:
        """The paper's layer moved to the same relative depth of this model.

        The paper used layer 20 of 32-block (Llama-3.1-8B) and 28-block models; on a model of
        another depth the literal index means a different relative depth.
        """
        if not 1 <= layer <= reference_layers:
            raise ValueError(f"layer {layer} not in 1..{reference_layers}")
        return max(1, min(self.n_layers, round(layer * self.n_layers / reference_layers)))
