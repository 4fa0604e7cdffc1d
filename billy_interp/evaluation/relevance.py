"""Is an idea about its task? Pointwise mutual information under a language model.

``pmi = mean log p(idea | the task about its subject) - mean log p(idea | the same task about
nothing in particular)``, per idea token, with the embedded SmolLM2 reading plain text. A use of
a brick ("Use it as a doorstop", even without naming the brick) becomes more likely once the
brick is named; banana pancakes do not. The guarded score weights an idea by
``clip(pmi / PMI_SOFT_CAP, 0, 1)``. A language model sees pronouns and context that sentence
embeddings miss (the embedding alternative, ``scoring.guarded.relevance``, is kept for model-free
use and compared in docs/analyses.md).

The scorer is always the embedded SmolLM2 (:func:`scorer_model`), whatever model is being
evaluated, so that scores of different models' answers stay comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import torch

from billy_interp.core.forward import run_with_cache
from billy_interp.core.model import SteerableModel, TokenBatch

__all__ = ["TASK_CONTEXTS", "PMI_SOFT_CAP", "scorer_model", "idea_pmi", "pmi_relevance", "guard"]

PMI_SOFT_CAP = 0.25
"""nats/token of PMI at which an idea counts as fully on the task (docs/analyses.md: chosen among
0, 0.25, 0.5 and 1 on the labelled set, all four reported)."""

# (context naming the subject, the same context naming nothing in particular), per task.
TASK_CONTEXTS = {
    "aut": ("Here is a creative use for a {subject}: ", "Here is a creative use for an everyday object: "),
    "instances": ("{subject} One example: ", "Name anything you can think of. One example: "),
    "similarities": ("{subject} One way they are alike: ", "Name two things that are alike. One way: "),
    "scientific": ("{subject} One solution: ", "Solve a problem. One solution: "),
    "design": ("{subject} One idea: ", "Do something creative. One idea: "),  # the sweep's design tasks
}


@torch.inference_mode()
def _mean_logprob(model: SteerableModel, contexts: Sequence[str], texts: Sequence[str], batch_size: int) -> list[float]:
    tok, pad = model.tokenizer, model.tokenizer.pad_token_id
    out: list[float] = []
    for start in range(0, len(texts), batch_size):
        pairs = []
        for context, text in zip(contexts[start : start + batch_size], texts[start : start + batch_size]):
            head = tok(context, add_special_tokens=True)["input_ids"]
            tail = tok(" " + text.strip() if not context.endswith(" ") else text.strip(), add_special_tokens=False)
            pairs.append((head, tail["input_ids"]))
        width = max(len(h) + len(t) for h, t in pairs)
        ids = torch.tensor([[pad] * (width - len(h) - len(t)) + h + t for h, t in pairs], device=model.device)
        mask = torch.tensor(
            [[0] * (width - len(h) - len(t)) + [1] * (len(h) + len(t)) for h, t in pairs], device=model.device
        )
        keep = max(len(t) for _, t in pairs) + 1  # unembed only the positions that predict idea tokens
        logits = run_with_cache(model, TokenBatch(ids, mask), hooks=[], logits=keep, ignore_active=True).logits
        logp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, width - keep + 1 :, None])[..., 0]
        for row, (_, tail) in enumerate(pairs):
            out.append(float(logp[row, keep - 1 - len(tail) :].mean()) if tail else float("nan"))
    return out


def idea_pmi(model: SteerableModel, task: str, subject: str, ideas: Sequence[str], batch_size: int = 32) -> list[float]:
    """PMI of each idea with its subject under the task's context (nats per token)."""
    if task not in TASK_CONTEXTS:
        raise ValueError(f"unknown task {task!r}; use one of {sorted(TASK_CONTEXTS)}")
    named, generic = TASK_CONTEXTS[task]
    named = named.format(subject=subject.strip())
    with_subject = _mean_logprob(model, [named] * len(ideas), ideas, batch_size)
    without = _mean_logprob(model, [generic] * len(ideas), ideas, batch_size)
    return [a - b for a, b in zip(with_subject, without)]


def pmi_relevance(model: SteerableModel, task: str):
    """A relevance function for ``scoring.guarded.score_guarded``: PMI under ``model``."""
    return lambda ideas, subject: idea_pmi(model, task, subject, ideas)


@cache
def scorer_model() -> SteerableModel:
    """The embedded SmolLM2, loaded once per process: the guarded score's fixed language model."""
    from billy_interp.core.loading import load_model

    return load_model()


def guard(task: str, model: SteerableModel | None = None) -> dict:
    """Keyword arguments for ``scoring.guarded.score_guarded``: PMI relevance for ``task`` under
    ``model`` (default :func:`scorer_model`) with the soft cap."""
    if task not in TASK_CONTEXTS:
        raise ValueError(f"unknown task {task!r}; use one of {sorted(TASK_CONTEXTS)}")
    return {"relevance_fn": pmi_relevance(model or scorer_model(), task), "soft_cap": PMI_SOFT_CAP}
