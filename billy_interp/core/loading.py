"""Load a model: the embedded default (SmolLM2-135M-Instruct) or any HF causal LM, as a
:class:`~billy_interp.core.model.SteerableModel`; and a model's shape from its configuration alone.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from billy_interp.core.layers import LayerConvention
from billy_interp.core.model import EMBEDDED, SteerableModel

__all__ = ["load_model", "ModelShape", "model_shape"]


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
        hf = AutoModelForCausalLM.from_pretrained(
            source, dtype=dtype, device_map=device_map, attn_implementation="sdpa", **kwargs
        )
    except OSError as error:
        raise FileNotFoundError(
            f"model {str(source)!r} is not available offline. Download it first "
            f"(`hf download {source}`) or pass a local directory; pass local_files_only=False "
            f"to allow a hub download. Original error: {error}"
        ) from error
    if device is not None and device_map is None:
        hf = hf.to(device)
    return hf, tokenizer


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
        source, label = name, name
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
    return SteerableModel.from_hf(hf, tokenizer, label, fast_clone=device_map is None)


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

    try:
        config = AutoConfig.from_pretrained(name, local_files_only=True, trust_remote_code=trust_remote_code)
    except OSError as error:
        raise FileNotFoundError(f"--model {name!r}: no local configuration found ({error})") from None
    text = getattr(config, "text_config", None) or config
    return ModelShape(str(name), int(text.num_hidden_layers), int(text.hidden_size))
