"""Metrics for steered generations: coherence, persona expression, originality, projection.

* ``perplexity``: of each generated continuation under the *unsteered* model (teacher-forced),
  so incoherent steering shows up as high perplexity.
* ``distinct_2``: unique word bigrams / all bigrams (low = repetitive).
* ``trait:<persona>``: offline trait score (embedding proxy) per persona of the recipe.
* ``originality``: offline creativity proxy against the prompt's subject.
* ``guarded_originality``, ``appropriateness``, ``readability``: the guarded score
  (``scoring.guarded``): originality that only on-topic, readable ideas earn, the mean on-task
  weight and the share of readable ideas. On-task is the PMI under the embedded SmolLM2 with the
  AUT context for AUT objects and a generic one for design questions. NaN where a text has no
  subject.
* ``projection:<persona>``: the change of the last block's residual at the last prompt token,
  caused by the cell's steering, projected on the unit persona vector at that block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch

from billy_interp.core.forward import run_with_cache
from billy_interp.core.model import SteerableModel, TokenBatch
from billy_interp.core.steering import Steering
from billy_interp.evaluation.relevance import guard
from billy_interp.evaluation.tasks import task_subjects
from billy_interp.scoring.creativity import score_response
from billy_interp.scoring.embeddings import distinct_n, trait_scores
from billy_interp.scoring.guarded import score_guarded
from billy_interp.vectors.personas import Persona, shared_questions
from billy_interp.vectors.vector import PersonaVector

__all__ = ["perplexities", "text_metrics", "last_layer_projections"]


@torch.inference_mode()
def perplexities(
    model: SteerableModel, prompts: Sequence[str], continuations: Sequence[Sequence[int]], batch_size: int = 16
) -> list[float]:
    """exp(mean NLL) of each continuation's tokens given its chat-formatted prompt, unsteered."""
    out: list[float] = []
    pad = model.tokenizer.pad_token_id
    for start in range(0, len(prompts), batch_size):
        chunk_p = prompts[start : start + batch_size]
        chunk_c = [list(c) for c in continuations[start : start + batch_size]]
        prompt_ids = [model.tokenizer(model.format_chat(p), add_special_tokens=False)["input_ids"] for p in chunk_p]
        seqs = [p + c for p, c in zip(prompt_ids, chunk_c)]
        width = max(len(s) for s in seqs)
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=model.device)
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=model.device)
        keep = max(len(c) for c in chunk_c) + 1  # the positions that predict continuation tokens
        logits = run_with_cache(model, TokenBatch(ids, mask), hooks=[], logits=keep, ignore_active=True).logits
        logp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, width - keep + 1 :, None])[..., 0]
        for row, c in enumerate(chunk_c):
            if not c:
                out.append(float("nan"))
                continue
            nll = -logp[row, keep - 1 - len(c) :].mean()
            out.append(float(torch.exp(nll)))
    return out


def _guarded(subject: str, text: str) -> dict[str, float]:
    if not subject:
        return dict.fromkeys(("guarded_originality", "appropriateness", "readability"), float("nan"))
    g = score_guarded(subject, text, **guard("aut" if subject in task_subjects("aut") else "design"))
    return {
        "guarded_originality": g.guarded_originality,
        "appropriateness": g.appropriateness,
        "readability": g.readability,
    }


def text_metrics(texts: Sequence[str], subjects: Sequence[str], personas: Sequence[Persona]) -> pd.DataFrame:
    """distinct-2, originality (proxy and guarded) and one trait column per persona, one row per text."""
    neutral = shared_questions().neutral_description
    frame = pd.DataFrame(
        {
            "distinct_2": [distinct_n(t, 2) for t in texts],
            "originality": [score_response(s, t).originality for s, t in zip(subjects, texts)],
        }
    )
    frame = pd.concat([frame, pd.DataFrame([_guarded(s, t) for s, t in zip(subjects, texts)])], axis=1)
    for persona in personas:
        frame[f"trait:{persona.name}"] = trait_scores(list(texts), persona.description, neutral).tolist()
    return frame


def last_layer_projections(
    model: SteerableModel, batch: TokenBatch, steering: Steering, directions: Mapping[str, PersonaVector]
) -> pd.DataFrame:
    """Per row: steering's change of the last block's residual at the last prompt token, projected
    on each unit persona direction at that block. ``steering`` must have one row per batch row."""
    last = model.layers.n_layers - 1
    hook = model.layers.hook_name(last)
    base = run_with_cache(model, batch, blocks=[last], reduce="last", ignore_active=True)[hook].double()
    steered = run_with_cache(
        model, batch, blocks=[last], reduce="last", steering=steering.with_positions("response"), ignore_active=True
    )
    delta = steered[hook].double() - base
    frame = {}
    for name, vector in directions.items():
        unit = vector[hook].double().to(delta.device)
        frame[f"projection:{name}"] = (delta @ (unit / unit.norm())).tolist()
    return pd.DataFrame(frame)
