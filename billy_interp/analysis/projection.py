"""Prompting vs steering, seen as movement along persona directions (the paper's Fig. 3, and beyond).

**Last-token projections** (:func:`prompt_projections`, the paper's recipe): raw prompts without a
chat template, one forward pass each, the last token only. For a *prompting* condition the effect
is ``a(prefix + prompt) - a(prompt)``; for a *steering* condition it is ``a_steered(prompt) -
a(prompt)``, steering the last token at one hook. Both are read at every readout hook ``k`` and
projected on the unit persona direction ``u_P(k)``.

**Per-token projections** (:func:`token_projections`): a whole chat-formatted response is run
teacher-forced under the prompt and steering that produced it; the residual of every response
token at one hook is projected on each unit persona direction, minus a centre (by default the
mean over the unsteered responses, so that 0 means "like the plain model").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from billy_interp.analysis.interaction import readout
from billy_interp.model import SteerableModel, TokenBatch
from billy_interp.runners import left_padded_position_ids
from billy_interp.steering import Steering, steer

__all__ = ["encode_raw", "project", "prompt_projections", "summarize_projections", "token_projections",
           "position_profile"]


def encode_raw(model: SteerableModel, texts: Sequence[str]) -> TokenBatch:
    """Raw text as the tokenizer encodes it by default (BOS where the tokenizer adds one), left-padded."""
    tok = model.tokenizer
    side, tok.padding_side = tok.padding_side, "left"
    try:
        enc = tok(list(texts), return_tensors="pt", padding=True)
    finally:
        tok.padding_side = side
    return TokenBatch(enc["input_ids"], enc["attention_mask"]).to(model.device)


def project(effect: Float[Tensor, "n d_model"], direction: Float[Tensor, " d_model"]) -> Float[Tensor, " n"]:
    """Scalar projection of each row on the unit vector along ``direction``."""
    direction = direction.double()
    norm = direction.norm()
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError("cannot project on a zero or non-finite direction")
    return effect.double() @ (direction / norm)


def prompt_projections(
    model: SteerableModel,
    prompts: Sequence[str],
    *,
    prefixes: Mapping[str, str],
    steerings: Mapping[str, Mapping[str, Float[Tensor, " d_model"]]],
    directions: Mapping[str, Mapping[str, Float[Tensor, " d_model"]]],
    readout_hooks: Sequence[str],
    alpha: float | int = 2.0,
    kinds: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Tidy rows (condition, prompt_id, kind, direction, block, paper_layer, projection).

    ``prefixes``: prompting conditions (text prepended to the raw prompt). ``steerings``:
    steering conditions, ``{hook: vector}`` added as ``alpha * vector`` at the last token.
    """
    if not prompts:
        raise ValueError("no prompts to project")
    kinds = list(kinds) if kinds is not None else [""] * len(prompts)
    runner, hooks = model.runner(), list(readout_hooks)
    base, _ = readout(runner, encode_raw(model, prompts), hooks, None, "last")
    effects: dict[str, dict[str, Tensor]] = {}
    for name, prefix in prefixes.items():
        acts, _ = readout(runner, encode_raw(model, [prefix + p for p in prompts]), hooks, None, "last")
        effects[name] = {h: acts[h] - base[h] for h in hooks}
    for name, vectors in steerings.items():
        acts, _ = readout(runner, encode_raw(model, prompts), hooks, Steering.from_vectors(vectors, float(alpha)), "last")
        effects[name] = {h: acts[h] - base[h] for h in hooks}
    rows = []
    for name, per_hook in effects.items():
        for persona, per_dir in directions.items():
            for hook in hooks:
                values = project(per_hook[hook], per_dir[hook]).tolist()
                block = int(hook.split(".")[1])
                rows += [{"condition": name, "prompt_id": i, "kind": kinds[i], "direction": persona, "block": block,
                          "paper_layer": block + 1, "projection": v} for i, v in enumerate(values)]
    return pd.DataFrame(rows)


def summarize_projections(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                          by: Sequence[str] = ("condition", "direction", "block", "paper_layer")) -> pd.DataFrame:
    """Mean projection with a 95% bootstrap CI over prompts, per group."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, group in table.groupby(list(by), sort=False):
        values = group["projection"].to_numpy(dtype=float)
        boots = rng.choice(values, size=(n_boot, len(values))).mean(1)
        rows.append({**dict(zip(by, key)), "n": len(values), "mean": values.mean(),
                     "ci_low": np.quantile(boots, 0.025), "ci_high": np.quantile(boots, 0.975)})
    return pd.DataFrame(rows)


@torch.inference_mode()
def token_projections(
    model: SteerableModel,
    prompt_ids: Sequence[Sequence[int]],
    response_ids: Sequence[Sequence[int]],
    steerings: Sequence[Steering | None],
    hook: str,
    directions: Mapping[str, Float[Tensor, " d_model"]],
) -> list[dict[str, np.ndarray]]:
    """Per response: ``{persona: projection of each response token's residual at hook}`` (uncentred).

    Each sequence runs alone (no padding), with its steering on response positions exactly as
    during generation (positions >= prompt length - 1).
    """
    runner, out = model.runner(), []
    for prompt, response, steering in zip(prompt_ids, response_ids, steerings, strict=True):
        ids = torch.tensor([list(prompt) + list(response)], device=model.device)
        mask = torch.ones_like(ids)
        store: dict[str, Tensor] = {}

        def save(resid: Tensor, hook: object) -> None:
            store["resid"] = resid[0].double()

        with steer(runner, steering) as state:
            state.set_prompt(mask[:, : len(prompt)])
            with runner.hooks([(hook, save)]):
                runner.forward(ids, mask, left_padded_position_ids(mask), keep_last=1)
        resid = store["resid"][len(prompt):]
        out.append({p: project(resid, d).numpy() for p, d in directions.items()})
    return out


def position_profile(per_token: pd.DataFrame, n_bins: int = 5) -> pd.DataFrame:
    """Mean (centred) projection by relative position in the response, in ``n_bins`` equal bins.

    ``per_token`` has columns condition, response_id, direction, position, length, projection.
    """
    frame = per_token.assign(bin=np.minimum((per_token["position"] / per_token["length"] * n_bins).astype(int), n_bins - 1))
    grouped = frame.groupby(["condition", "direction", "bin"], as_index=False)["projection"]
    profile = grouped.agg(["mean", "sem", "count"]).reset_index(drop=True)
    profile["relative_position"] = (profile["bin"] + 0.5) / n_bins
    return profile
