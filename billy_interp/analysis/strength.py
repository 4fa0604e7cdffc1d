"""Steering strength in units a reader can compare across models: relative alpha.

The paper's alpha multiplies a raw vector whose norm differs by orders of magnitude between
models, so report alpha_rel = alpha * |v(l)| / |h(l)|, where |h(l)| is a *typical* residual norm
at the positions the paper's steering touches (the last prompt token and every response token).

Why not the mean over the prompt (what 0.1 did): a few positions are attention sinks whose
residual norm is 20-100x the rest (on SmolLM2 at blocks.19 the first token is ~25,000 against
~220 for a typical token), so a mean over prompt tokens is dominated by them and shrinks as the
prompt grows. Here sinks are *detected* (norm above ``sink_factor`` x the row's median real-token
norm, whatever their position), excluded, and the reference is the **median** norm over the
remaining steered positions of a short greedy, unsteered continuation of each prompt.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from billy_interp.core.activations import collect_residuals
from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.layers import hook_name, layer_columns
from billy_interp.core.model import SteerableModel, TokenBatch
from billy_interp.core.steering import unsteered
from billy_interp.vectors.vector import PersonaVector

__all__ = ["SINK_FACTOR", "sink_mask", "reference_norms", "relative_alpha_scale", "alphas_for_relative"]

SINK_FACTOR = 5.0
"""A position is an attention sink at a block when its norm exceeds this multiple of its row's
median real-token norm there (sinks measured on SmolLM2 and Gemma-3 sit at 14-110x)."""


def sink_mask(
    norms: Float[Tensor, "layer batch pos"], real: Bool[Tensor, "batch pos"], factor: float = SINK_FACTOR
) -> Bool[Tensor, "layer batch pos"]:
    """Real positions whose norm is over ``factor`` x the row's median real-token norm, per block."""
    masked = norms.masked_fill(~real[None], float("nan"))
    median = masked.nanmedian(dim=-1, keepdim=True).values
    return real[None] & (norms > factor * median)


def _with_continuations(model: SteerableModel, prompts: Sequence[str], new_tokens: int) -> tuple[TokenBatch, Tensor]:
    """Chat prompts followed by their greedy, unsteered continuations; and where responses start."""
    prompt_ids = [model.tokenizer(model.format_chat(p), add_special_tokens=False)["input_ids"] for p in prompts]
    with unsteered(model):
        result = generate(model, list(prompts), GenerationConfig(max_new_tokens=new_tokens, batch_size=len(prompts)))
    sequences = [p + r for p, r in zip(prompt_ids, result.token_ids)]
    width = max(len(s) for s in sequences)
    pad = model.tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences])
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences])
    start = torch.tensor([width - len(s) + len(p) for s, p in zip(sequences, prompt_ids)])
    return TokenBatch(ids, mask), start


@torch.inference_mode()
def reference_norms(
    model: SteerableModel,
    prompts: Sequence[str],
    *,
    new_tokens: int = 32,
    sink_factor: float = SINK_FACTOR,
) -> pd.DataFrame:
    """Per block: the reference norm |h(l)| and the numbers behind it.

    Columns: ``h_norm`` (median over steered, non-sink positions: the reference), ``h_mean``
    (their mean), ``h_prompt_mean`` (0.1's statistic: mean over every real prompt token, sinks
    included), ``sink_norm`` (mean norm of detected sinks; NaN when none), ``sink_positions``
    (how many detected, summed over prompts), ``positions`` (how many the reference uses).
    ``new_tokens=0`` measures the prompt alone (then only the last prompt token is "steered", so
    the reference uses every non-sink prompt token instead).
    """
    if not prompts:
        raise ValueError("relative strength needs at least one prompt")
    if new_tokens > 0:
        batch, start = _with_continuations(model, prompts, new_tokens)
    else:
        batch = model.encode_chat(list(prompts))
        start = torch.zeros(len(prompts), dtype=torch.long)
    with unsteered(model):
        resid = collect_residuals(model, batch)
    norms = resid.float().norm(dim=-1).cpu()  # [layer, batch, pos]; the masks below live on the CPU
    real = batch.attention_mask.bool()
    pos = torch.arange(real.shape[1])[None, :]
    steered = real & (pos >= (start[:, None] - 1))
    prompt = real & (pos < start[:, None]) if new_tokens > 0 else real
    sinks = sink_mask(norms, real, sink_factor)
    rows = []
    for i, block in enumerate(model.layers.blocks):
        keep = steered & ~sinks[i]
        values = norms[i][keep]
        sink_values = norms[i][sinks[i]]
        rows.append(
            {
                **layer_columns(block),
                "h_norm": float(values.median()),
                "h_mean": float(values.mean()),
                "h_prompt_mean": float(norms[i][prompt].mean()),
                "sink_norm": float(sink_values.mean()) if sink_values.numel() else float("nan"),
                "sink_positions": int(sink_values.numel()),
                "positions": int(values.numel()),
            }
        )
    return pd.DataFrame(rows)


def relative_alpha_scale(
    model: SteerableModel,
    prompts: Sequence[str],
    vector: PersonaVector,
    *,
    new_tokens: int = 32,
    sink_factor: float = SINK_FACTOR,
) -> pd.DataFrame:
    """Per block: |v(l)|, the reference norm |h(l)| (see :func:`reference_norms`) and
    ``scale`` = |v|/|h|, the relative alpha per unit raw alpha."""
    table = reference_norms(model, prompts, new_tokens=new_tokens, sink_factor=sink_factor)
    table.insert(len(layer_columns(0)), "v_norm", [float(vector[hook_name(b)].norm()) for b in table["block"]])
    table["scale"] = table["v_norm"] / table["h_norm"]
    return table


def alphas_for_relative(scale: pd.DataFrame, relative: Sequence[float]) -> dict[int, list[float]]:
    """Raw alphas that give each requested relative strength at each block."""
    return {int(r.block): [float(a / r.scale) for a in relative] for r in scale.itertuples()}
