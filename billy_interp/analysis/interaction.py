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

from collections.abc import Mapping, Sequence
from typing import Literal

import pandas as pd
import torch
from torch import Tensor

from billy_interp import paper
from billy_interp.analysis.sweep_metrics import text_metrics
from billy_interp.core.forward import run_with_cache
from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.layers import block_of
from billy_interp.core.model import SteerableModel, TokenBatch
from billy_interp.core.steering import Steering
from billy_interp.evaluation.methods import mrp_prompt
from billy_interp.evaluation.tasks import design_tasks
from billy_interp.vectors.merging import MergeRecipe, merge
from billy_interp.vectors.personas import load_persona
from billy_interp.vectors.vector import PersonaVector

__all__ = ["readout", "interaction_table", "largest_deviations", "generated_traits"]

Position = Literal["last", "all"]


def readout(
    model: SteerableModel, batch: TokenBatch, hooks: Sequence[str], steering: Steering | None, position: Position
) -> tuple[dict[str, Tensor], Tensor]:
    """Residual at each readout hook ([batch, d], pooled by ``position``) and last-token logits,
    steering ``position``'s tokens (the last prompt token, or every real token)."""
    if steering is not None:
        steering = steering.with_positions("response" if position == "last" else "all")
    result = run_with_cache(
        model,
        batch,
        hooks=hooks,
        steering=steering,
        reduce=position if position == "last" else "mean",
        logits=1,
        ignore_active=True,
    )
    # On the CPU, where the persona directions live (the model may sit on a GPU).
    return {h: result[h].double().cpu() for h in hooks}, result.logits[:, -1].double().cpu()


@torch.inference_mode()
def interaction_table(
    model: SteerableModel,
    batch: TokenBatch,
    vectors: Mapping[str, PersonaVector],
    recipe: MergeRecipe,
    steer_hook: str,
    readout_hooks: Sequence[str],
    alphas: Sequence[float],
    unembed: bool = True,
    position: Position = "last",
) -> pd.DataFrame:
    """Tidy rows per (alpha, readout block, quantity); see the module docstring.

    The merged vector (``merge(vectors, recipe)``, a linear recipe) and each part are steered at
    ``steer_hook``; effects are projected on each part's own direction at every readout hook;
    ``unembed`` (final norm + unembedding of the linear prediction) enables the KL row.
    """
    hooks = list(readout_hooks)
    coefficients = recipe.coefficients()
    parts = {n: v[steer_hook] for n, v in vectors.items()}
    directions = {n: {h: v[h] for h in hooks if h in v.directions} for n, v in vectors.items()}
    base, _ = readout(model, batch, hooks, None, position)
    merged_vec = merge(vectors, recipe)[steer_hook]
    rows = []
    for alpha in alphas:
        effects = {}
        for name, vec in [("merged", merged_vec), *parts.items()]:
            acts, logits = readout(
                model, batch, hooks, Steering.from_vectors({steer_hook: vec}, float(alpha)), position
            )
            effects[name] = ({h: acts[h] - base[h] for h in hooks}, logits)
        for hook in hooks:
            block = block_of(hook)
            merged = effects["merged"][0][hook]
            linear = sum(coefficients[n] * effects[n][0][hook] for n in coefficients)
            residual = (merged - linear).norm(dim=-1) / merged.norm(dim=-1).clamp_min(1e-30)
            common = {"alpha": float(alpha), "block": block, "position": position}
            rows.append(
                {
                    **common,
                    "quantity": "interaction_residual",
                    "direction": "",
                    "value": float(residual.mean()),
                    "sem": float(residual.std() / len(residual) ** 0.5) if len(residual) > 1 else 0.0,
                }
            )
            for persona, per_hook in directions.items():
                if hook not in per_hook:
                    continue
                unit = per_hook[hook].double() / per_hook[hook].double().norm()
                for label, effect in [
                    ("merged", merged),
                    ("linear_prediction", linear),
                    *[(f"single:{n}", effects[n][0][hook]) for n in parts],
                ]:
                    rows.append(
                        {
                            **common,
                            "quantity": f"projection:{label}",
                            "direction": persona,
                            "value": float((effect @ unit).mean()),
                            "sem": float((effect @ unit).std() / len(effect) ** 0.5) if len(effect) > 1 else 0.0,
                        }
                    )
        if unembed and position == "last":  # logits exist for the last token only
            last = hooks[-1]
            linear_final = base[last] + sum(coefficients[n] * effects[n][0][last] for n in coefficients)
            log_p = torch.log_softmax(effects["merged"][1], -1)
            log_q = torch.log_softmax(model.unembed(linear_final.to(torch.float32)).double().cpu(), -1)
            kl = (log_p.exp() * (log_p - log_q)).sum(-1)
            rows.append(
                {
                    "alpha": float(alpha),
                    "block": block_of(last),
                    "position": position,
                    "quantity": "kl_merged_vs_linear",
                    "direction": "",
                    "value": float(kl.mean()),
                    "sem": float(kl.std() / len(kl) ** 0.5) if len(kl) > 1 else 0.0,
                }
            )
    return pd.DataFrame(rows)


def largest_deviations(table: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The largest interaction residuals, and the largest |merged - linear| projection gaps."""
    residual = table[table["quantity"] == "interaction_residual"].nlargest(top, "value")
    proj = table[table["quantity"].isin(["projection:merged", "projection:linear_prediction"])]
    wide = proj.pivot_table(
        index=["alpha", "block", "position", "direction"], columns="quantity", values="value"
    ).reset_index()
    wide["gap"] = wide["projection:merged"] - wide["projection:linear_prediction"]
    wide = wide.reindex(wide["gap"].abs().sort_values(ascending=False).index).head(top)
    return pd.concat(
        [residual.assign(kind="interaction_residual"), wide.assign(kind="projection_gap")], ignore_index=True
    )


def generated_traits(
    model: SteerableModel,
    vectors: Mapping[str, PersonaVector],
    recipe: MergeRecipe,
    hook: str,
    alphas: Sequence[float],
    max_new_tokens: int = 48,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Greedy answers to the creative tasks under base, MRP prompting (the recipe's roles), M and
    each v_i, and the mean offline trait score per (alpha, condition, persona)."""
    questions = design_tasks()["creative"]
    parts = {n: v[hook] for n, v in vectors.items()}
    merged = merge(vectors, recipe)[hook]
    conditions = [("base", 0.0, {})]
    for alpha in alphas:
        conditions += [("merged", alpha, {hook: alpha * merged})]
        conditions += [(f"single:{n}", alpha, {hook: alpha * parts[n]}) for n in parts]
    rows = [delta for _, _, delta in conditions for _ in questions]
    decoding = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, batch_size=32)
    steered = generate(model, questions * len(conditions), decoding, Steering.per_row(rows))
    roles = [n for n in parts if n in paper.ROLES] or list(paper.ROLES)
    prompted = generate(model, [mrp_prompt(q, roles) for q in questions], decoding)
    texts = pd.DataFrame(
        {
            "condition": [c for c, _, _ in conditions for _ in questions] + ["mrp_prompt"] * len(questions),
            "alpha": [a for _, a, _ in conditions for _ in questions] + [0.0] * len(questions),
            "question": questions * (len(conditions) + 1),
            "text": steered.texts + prompted.texts,
        }
    )
    metrics = text_metrics(list(texts["text"]), [""] * len(texts), [load_persona(n) for n in parts])
    long = pd.concat([texts[["condition", "alpha"]], metrics], axis=1).melt(
        id_vars=["condition", "alpha"], value_vars=[f"trait:{n}" for n in parts], var_name="persona", value_name="trait"
    )
    long["persona"] = long["persona"].str.removeprefix("trait:")
    return long.groupby(["alpha", "condition", "persona"], as_index=False)["trait"].agg(["mean", "sem"]), texts
