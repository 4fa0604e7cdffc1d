"""Do merged persona vectors combine linearly? Measure it.

For a merge M = sum_i c_i v_i (``c`` are the recipe's effective coefficients, e.g. 1/4 each
with the futurist at 2/4 for the paper's default), steer with alpha*M and with each alpha*v_i
alone at the same hook. At every readout layer k downstream, compare the effect
Delta a_k(M) = a_k(M) - a_k(base) with the linear prediction L_k = sum_i c_i Delta a_k(v_i):

* interaction residual ``|Delta a_k(M) - L_k| / |Delta a_k(M)|`` (0 for a linear network);
* projections of Delta a_k(M), L_k and each Delta a_k(v_i) on unit persona directions;
* at the output, KL(p_M || p_L) between next-token distributions of the steered model and of the
  final residual base + L pushed through the final norm and unembedding.

Positions: ``"last"`` steers and reads the last prompt token of one forward pass (the paper's
Fig. 3 recipe); ``"all"`` steers every real token and reads their mean (no KL row: next-token
logits belong to the last token only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import pandas as pd
import torch
from torch import Tensor

from billy_interp.model import TokenBatch
from billy_interp.runners import Runner, left_padded_position_ids
from billy_interp.steering import Steering, steer
from billy_interp.vectors import MergeRecipe

__all__ = ["effective_coefficients", "readout", "interaction_table"]

Position = Literal["last", "all"]


def effective_coefficients(recipe: MergeRecipe) -> dict[str, float]:
    """c_i with merge(v) = sum_i c_i v_i, for the linear merge methods."""
    weights = dict(recipe.weights)
    total = sum(weights.values()) if recipe.method == "mean" else sum(abs(w) for w in weights.values())
    if recipe.method == "sum":
        return weights
    if recipe.method in ("mean", "weighted"):
        return {k: w / total for k, w in weights.items()}
    raise ValueError(f"merge method {recipe.method!r} is not a fixed linear combination of the parts")


@torch.inference_mode()
def readout(
    runner: Runner, batch: TokenBatch, hooks: Sequence[str], steering: Steering | None, position: Position
) -> tuple[dict[str, Tensor], Tensor]:
    """Residual at each readout hook ([batch, d], pooled by ``position``) and last-token logits."""
    store: dict[str, Tensor] = {}
    real = batch.attention_mask.float()

    def save(name: str):
        def hook(resid: Tensor, hook: object) -> None:
            if position == "last":
                store[name] = resid[:, -1].double()
            else:
                store[name] = (resid.double() * real[..., None]).sum(1) / real.sum(1, keepdim=True)

        return hook

    mode = "response" if position == "last" else "all"
    if steering is not None:
        steering = Steering(steering.deltas, mode)
    with steer(runner, steering) as state:
        state.set_prompt(batch.attention_mask)
        with runner.hooks([(h, save(h)) for h in hooks]):
            logits = runner.forward(batch.input_ids, batch.attention_mask,
                                    left_padded_position_ids(batch.attention_mask), keep_last=1)
    return store, logits[:, -1].double()


@torch.inference_mode()
def interaction_table(
    runner: Runner,
    batch: TokenBatch,
    parts: Mapping[str, Tensor],
    coefficients: Mapping[str, float],
    steer_hook: str,
    readout_hooks: Sequence[str],
    alphas: Sequence[float],
    directions: Mapping[str, Mapping[str, Tensor]],
    unembed: Callable[[Tensor], Tensor] | None = None,
    position: Position = "last",
) -> pd.DataFrame:
    """Tidy rows per (alpha, readout block, quantity); see the module docstring.

    ``parts`` are the raw vectors at ``steer_hook``; ``directions[persona][hook]`` are the
    directions to project on (normalised here); ``unembed`` maps a final residual to logits
    (final norm + unembedding) and enables the KL row.
    """
    hooks = list(readout_hooks)
    base, base_logits = readout(runner, batch, hooks, None, position)
    merged_vec = sum(coefficients[n] * parts[n] for n in coefficients)
    rows = []
    for alpha in alphas:
        effects = {}
        for name, vec in [("merged", merged_vec), *parts.items()]:
            acts, logits = readout(runner, batch, hooks, Steering.from_vectors({steer_hook: vec}, float(alpha)), position)
            effects[name] = ({h: acts[h] - base[h] for h in hooks}, logits)
        for hook in hooks:
            block = int(hook.split(".")[1])
            merged = effects["merged"][0][hook]
            linear = sum(coefficients[n] * effects[n][0][hook] for n in coefficients)
            residual = (merged - linear).norm(dim=-1) / merged.norm(dim=-1).clamp_min(1e-30)
            common = {"alpha": float(alpha), "block": block, "position": position}
            rows.append({**common, "quantity": "interaction_residual", "direction": "",
                         "value": float(residual.mean()), "sem": float(residual.std() / len(residual) ** 0.5) if len(residual) > 1 else 0.0})
            for persona, per_hook in directions.items():
                if hook not in per_hook:
                    continue
                unit = per_hook[hook].double() / per_hook[hook].double().norm()
                for label, effect in [("merged", merged), ("linear_prediction", linear),
                                      *[(f"single:{n}", effects[n][0][hook]) for n in parts]]:
                    rows.append({**common, "quantity": f"projection:{label}", "direction": persona,
                                 "value": float((effect @ unit).mean()), "sem": float((effect @ unit).std() / len(effect) ** 0.5) if len(effect) > 1 else 0.0})
        if unembed is not None and position == "last":  # logits exist for the last token only
            last = hooks[-1]
            linear_final = base[last] + sum(coefficients[n] * effects[n][0][last] for n in coefficients)
            log_p = torch.log_softmax(effects["merged"][1], -1)
            log_q = torch.log_softmax(unembed(linear_final.to(torch.float32)).double(), -1)
            kl = (log_p.exp() * (log_p - log_q)).sum(-1)
            rows.append({"alpha": float(alpha), "block": int(last.split(".")[1]), "position": position,
                         "quantity": "kl_merged_vs_linear", "direction": "", "value": float(kl.mean()),
                         "sem": float(kl.std() / len(kl) ** 0.5) if len(kl) > 1 else 0.0})
    return pd.DataFrame(rows)
