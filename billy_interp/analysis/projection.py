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
from billy_interp.core.forward import run_with_cache
from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.layers import block_of, layer_columns
from billy_interp.core.model import SteerableModel, TokenBatch
from billy_interp.core.steering import Steering
from billy_interp.evaluation.methods import mrp_prompt
from billy_interp.evaluation.tasks import design_tasks
from billy_interp.vectors.merging import MergeRecipe, merge
from billy_interp.vectors.vector import PersonaVector

__all__ = [
    "project",
    "prompt_projections",
    "summarize_projections",
    "token_projections",
    "position_profile",
    "fig3_projections",
    "response_token_projections",
]


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
    hooks = list(readout_hooks)
    base, _ = readout(model, model.encode_raw(prompts), hooks, None, "last")
    effects: dict[str, dict[str, Tensor]] = {}
    for name, prefix in prefixes.items():
        acts, _ = readout(model, model.encode_raw([prefix + p for p in prompts]), hooks, None, "last")
        effects[name] = {h: acts[h] - base[h] for h in hooks}
    for name, vectors in steerings.items():
        steering = Steering.from_vectors(vectors, float(alpha))
        acts, _ = readout(model, model.encode_raw(prompts), hooks, steering, "last")
        effects[name] = {h: acts[h] - base[h] for h in hooks}
    rows = []
    for name, per_hook in effects.items():
        for persona, per_dir in directions.items():
            for hook in hooks:
                values = project(per_hook[hook], per_dir[hook]).tolist()
                columns = layer_columns(block_of(hook))
                rows += [
                    {
                        "condition": name,
                        "prompt_id": i,
                        "kind": kinds[i],
                        "direction": persona,
                        **columns,
                        "projection": v,
                    }
                    for i, v in enumerate(values)
                ]
    return pd.DataFrame(rows)


def summarize_projections(
    table: pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    by: Sequence[str] = ("condition", "direction", "block", "paper_layer"),
) -> pd.DataFrame:
    """Mean projection with a 95% bootstrap CI over prompts, per group."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, group in table.groupby(list(by), sort=False):
        values = group["projection"].to_numpy(dtype=float)
        boots = rng.choice(values, size=(n_boot, len(values))).mean(1)
        rows.append(
            {
                **dict(zip(by, key)),
                "n": len(values),
                "mean": values.mean(),
                "ci_low": np.quantile(boots, 0.025),
                "ci_high": np.quantile(boots, 0.975),
            }
        )
    return pd.DataFrame(rows)


def token_projections(
    model: SteerableModel,
    prompt_ids: Sequence[Sequence[int]],
    response_ids: Sequence[Sequence[int]],
    steerings: Sequence[Steering | None],
    hook: str,
    directions: Mapping[str, Float[Tensor, " d_model"]],
) -> list[dict[str, np.ndarray]]:
    """Per response: ``{persona: projection of each response token's residual at hook}`` (uncentred).

    Each sequence runs alone (no padding), teacher-forced, with its steering on response
    positions exactly as during generation (the last prompt token and every response token).
    """
    out = []
    for prompt, response, steering in zip(prompt_ids, response_ids, steerings, strict=True):
        ids = torch.tensor([list(prompt) + list(response)], device=model.device)
        batch = TokenBatch(ids, torch.ones_like(ids))
        result = run_with_cache(
            model,
            batch,
            hooks=[hook],
            steering=steering,
            response_start=torch.tensor([len(prompt)]),
            ignore_active=True,
        )
        resid = result[hook][0, len(prompt) :].double().cpu()  # directions and numpy live on the CPU
        out.append({p: project(resid, d).numpy() for p, d in directions.items()})
    return out


def position_profile(per_token: pd.DataFrame, n_bins: int = 5) -> pd.DataFrame:
    """Mean (centred) projection by relative position in the response, in ``n_bins`` equal bins.

    ``per_token`` has columns condition, response_id, direction, position, length, projection.
    """
    frame = per_token.assign(
        bin=np.minimum((per_token["position"] / per_token["length"] * n_bins).astype(int), n_bins - 1)
    )
    grouped = frame.groupby(["condition", "direction", "bin"], as_index=False)["projection"]
    profile = grouped.agg(["mean", "sem", "count"]).reset_index(drop=True)
    profile["relative_position"] = (profile["bin"] + 0.5) / n_bins
    return profile


def _short(name: str) -> str:
    return name[:3].upper()


def fig3_projections(
    model: SteerableModel,
    vectors: Mapping[str, PersonaVector],
    parts: Sequence[str],
    paper_layer: int,
    alpha: float,
    n_boot: int = 1000,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's Fig. 3 on the packaged design tasks: per-prompt projections and their summary
    (overall and by prompt kind) for Base, Prompt (MRP), BILLY and each part alone, unit vectors."""
    tasks = design_tasks()
    prompts = tasks["creative"] + tasks["neutral"]
    kinds = ["creative"] * len(tasks["creative"]) + ["neutral"] * len(tasks["neutral"])
    steer_block = model.layers.paper_layer_to_block(paper_layer)
    hooks = [model.layers.hook_name(b) for b in range(steer_block, model.layers.n_layers)]
    steer_hook = hooks[0]
    unit = {p: vectors[p].unit() for p in parts}
    merged = merge(unit, MergeRecipe.from_list(parts))
    label = "+".join(_short(p) for p in parts)
    steerings = {
        f"BILLY({label})": {steer_hook: merged[steer_hook]},
        **{f"BILLY({_short(p)})": {steer_hook: unit[p][steer_hook]} for p in parts},
    }
    table = prompt_projections(
        model,
        prompts,
        prefixes={"Base": tasks["prefixes"]["base"], f"Prompt MRP({label})": tasks["prefixes"]["mrp"]},
        steerings=steerings,
        directions={p: {h: vectors[p][h] for h in hooks} for p in parts},
        readout_hooks=hooks,
        alpha=alpha,
        kinds=kinds,
    )
    summary = summarize_projections(table, n_boot)
    by_kind = summarize_projections(table, n_boot, by=("condition", "kind", "direction", "block", "paper_layer"))
    return table, pd.concat([summary.assign(kind="all"), by_kind], ignore_index=True)


def response_token_projections(
    model: SteerableModel,
    vectors: Mapping[str, PersonaVector],
    parts: Sequence[str],
    steer_layer: int,
    read_layer: int,
    alpha: float,
    n_responses: int = 6,
    max_new_tokens: int = 64,
) -> tuple[pd.DataFrame, list[dict]]:
    """Centred per-token projections of greedy responses to the creative design tasks under plain
    prompting, MRP prompting and BILLY (raw merged vector at paper ``steer_layer``), read at paper
    ``read_layer``; and circuitsvis-ready views of the first two responses per condition."""
    questions = design_tasks()["creative"][:n_responses]
    merged = merge({p: vectors[p] for p in parts}, MergeRecipe.from_list(parts))
    steering = merged.steering(alpha, layer=steer_layer, model=model)
    read_hook = model.layers.paper_layer_hook(read_layer)
    directions = {name: vec[read_hook] for name, vec in vectors.items()}
    conditions = {
        "plain": ([model.format_chat(q) for q in questions], None),
        "MRP prompt": ([model.format_chat(mrp_prompt(q, parts)) for q in questions], None),
        "BILLY": ([model.format_chat(q) for q in questions], steering),
    }
    decoding = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False)
    raw: dict[str, list] = {}
    for name, (texts, steer_with) in conditions.items():
        result = generate(model, texts, decoding, steer_with, format="formatted")
        prompt_ids = [model.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        projections = token_projections(
            model, prompt_ids, result.token_ids, [steer_with] * len(texts), read_hook, directions
        )
        raw[name] = list(zip(result.token_ids, projections))
    centre = {p: float(np.concatenate([proj[p] for _, proj in raw["plain"]]).mean()) for p in directions}
    rows, views = [], []
    for name, responses in raw.items():
        for i, (ids, proj) in enumerate(responses):
            for p in directions:
                rows += [
                    {
                        "condition": name,
                        "response_id": i,
                        "direction": p,
                        "position": t,
                        "length": len(ids),
                        "token": model.tokenizer.decode([tok]),
                        "projection": float(v) - centre[p],
                    }
                    for t, (tok, v) in enumerate(zip(ids, proj[p]))
                ]
            if i < 2:
                values = np.stack([proj[p] - centre[p] for p in directions], axis=1)
                views.append(
                    {
                        "prompt": questions[i],
                        "condition": name,
                        "tokens": [model.tokenizer.decode([t]) for t in ids],
                        "values": values,
                        "labels": list(directions),
                    }
                )
    return pd.DataFrame(rows), views
