"""The guarded creativity score: originality that off-topic or degenerate text cannot earn.

The plain proxy (``creativity.score_response``) rewards any idea far from the subject in
embedding space, so "flamingo" out-scores "tell the time" for an hourglass and a steered model
that repeats "futuristic futuristic ..." looks original. Here every idea is judged three ways:

* **readable**: not degenerate. An idea is degenerate when it is empty, when fewer than half of
  its words are distinct (four words or more), when a word repeats three times in a row, or when
  most of its words are short non-words (two or more word pieces in four letters or fewer).
* **on the task**: a relevance score per idea. The default in the benchmark and the sweep is the
  language-model PMI of the idea with its subject (``evaluation.relevance``, under the embedded
  SmolLM2 whatever model is evaluated, so scores stay comparable), turned into an on-task weight
  ``clip(pmi / 0.25, 0, 1)``: an idea the subject makes at least 0.25 nats/token more likely
  counts fully, one it does not make more likely counts nothing. Without a language model,
  ``relevance`` here is cos(idea, subject) minus the 90th percentile of its cosines with the other
  subjects of the same task (``evaluation.tasks.task_subjects``), with a 0/1 weight (> 0). Both
  were validated on the labelled set (docs/analyses.md), where the soft cap 0.25 was chosen among
  0 (a 0/1 weight), 0.25, 0.5 and 1 after seeing it: the numbers for all four are reported.
* **original**: 1 - cos(subject, core idea) after the subject's own words are stripped from the
  core (naming the object must not lower the score, and must not raise it either).

A response's **guarded originality** is the mean over its distinct ideas of originality x on-task
weight for the readable ones and 0 for the rest, so going off-topic or repeating oneself only
lowers it; ``appropriateness`` (the mean on-task weight) and ``readability`` (the share of
readable ideas) are reported beside it. One-item answers ("Doorstop") score. Validated on
``data/validation/idea_labels.csv`` (docs/analyses.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from billy_interp.scoring.creativity import distinct_indices, split_ideas
from billy_interp.scoring.embeddings import Embedder, get_embedder

__all__ = [
    "GUARDED_LABEL",
    "IdeaJudgement",
    "GuardedScores",
    "readable",
    "strip_subject",
    "guarded_core",
    "relevance",
    "on_task_weight",
    "Relevance",
    "score_guarded",
]

Relevance = Callable[[Sequence[str], str], list[float]]
"""(ideas, subject) -> one relevance per idea; an idea is on the task when its relevance is > 0."""

GUARDED_LABEL = (
    "guarded offline proxy (originality x on-task x readable; all-MiniLM-L6-v2, SmolLM2 PMI), not the paper's judge"
)
_WORD = re.compile(r"[a-zA-Z']+")
_STOP = frozenset("a an the of to and or for in on with as by at it its is are be can from into your you".split())
_TITLE = re.compile(r"^(.{2,80}?)\s*(?::|\s[-–—]\s)\s*(.+)$")
MAX_CORE_WORDS = 12
POOL_QUANTILE = 0.9


def readable(idea: str, embedder: Embedder | None = None) -> tuple[bool, str]:
    """Whether an idea is readable text, and why not."""
    words = [w.lower() for w in _WORD.findall(idea)]
    if not words:
        return False, "no words"
    if len(words) >= 4 and len(set(words)) / len(words) < 0.5:
        return False, f"repetitive ({len(set(words))} distinct of {len(words)} words)"
    if any(a == b == c for a, b, c in zip(words, words[1:], words[2:])):
        return False, "a word repeated three times in a row"
    tokenizer = (embedder or get_embedder()).tokenizer
    junk = [w for w in words if len(w) <= 4 and len(tokenizer.tokenize(w)) >= 2]
    if len(words) >= 3 and len(junk) / len(words) >= 0.5:
        return False, f"mostly non-words ({', '.join(junk[:3])})"
    return True, ""


def strip_subject(text: str, subject: str) -> str:
    """The text without the subject's content words ("use an hourglass to tell the time" ->
    "use an to tell the time" for the subject "hourglass")."""
    own = {w.lower().rstrip("s") for w in _WORD.findall(subject) if w.lower() not in _STOP}
    kept = [w for w in text.split() if re.sub(r"[^a-z]", "", w.lower()).rstrip("s") not in own]
    return " ".join(kept) or text


def guarded_core(item: str) -> str:
    """The idea itself: its title *and* the first clause of its description ("Zen garden: use
    the sand to rake patterns" keeps both), at most 12 words (longer text drifts away from any
    subject in embedding space)."""
    match = _TITLE.match(item)
    if match:
        head, rest = match.group(1), re.split(r"[,;.]", match.group(2), maxsplit=1)[0]
        text = f"{head}: {rest}"
    else:
        text = re.split(r"[,;.](?:\s|$)", item, maxsplit=1)[0]
    return " ".join(text.split()[:MAX_CORE_WORDS]) or item[:80]


def relevance(ideas: Sequence[str], subject: str, pool: Sequence[str], embedder: Embedder | None = None) -> list[float]:
    """cos(idea, subject) minus the 90th percentile of cos(idea, other subject) over ``pool``."""
    embedder = embedder or get_embedder()
    others = [p for p in pool if p.strip().lower() != subject.strip().lower()]
    emb = embedder.embed(list(ideas))
    own = (emb @ embedder.embed([subject]).T)[:, 0]
    if not others:
        return own.tolist()
    reference = torch.quantile(emb @ embedder.embed(others).T, POOL_QUANTILE, dim=1)
    return (own - reference).tolist()


def on_task_weight(relevance: float, soft_cap: float = 0.0) -> float:
    """clip(relevance / soft_cap, 0, 1); with ``soft_cap`` 0, 1 when relevance > 0 else 0."""
    if not soft_cap:
        return float(relevance > 0)
    return min(max(relevance / soft_cap, 0.0), 1.0)


@dataclass(frozen=True)
class IdeaJudgement:
    idea: str
    core: str
    originality: float
    relevance: float
    on_task: float  # weight in [0, 1]: 1 fully on the task, 0 off it
    readable: bool
    reason: str  # why the idea does not count ("" when it does)

    @property
    def counts(self) -> bool:
        return self.on_task > 0 and self.readable


@dataclass(frozen=True)
class GuardedScores:
    ideas: tuple[IdeaJudgement, ...]  # distinct ideas, in order
    guarded_originality: float  # mean of originality x on-task weight over readable ideas, 0 for the others
    originality: float  # mean stripped originality over all distinct ideas (for comparison)
    appropriateness: float  # mean on-task weight of the distinct ideas
    readability: float  # share of distinct ideas that are readable
    valid_ideas: int  # readable and appropriate distinct ideas


def score_guarded(
    subject: str,
    text: str,
    pool: Sequence[str] = (),
    *,
    relevance_fn: Relevance | None = None,
    soft_cap: float = 0.0,
    embedder: Embedder | None = None,
) -> GuardedScores:
    """Guarded scores of one answer about ``subject``.

    Relevance is ``relevance_fn(ideas, subject)`` when given (e.g.
    ``evaluation.relevance.pmi_relevance(model, task)``), else the embedding relevance against
    ``pool``, the task's other subjects (``evaluation.tasks.task_subjects(task)``). The on-task
    weight is ``clip(relevance / soft_cap, 0, 1)``, or 1 if relevance > 0 else 0 when
    ``soft_cap`` is 0.
    """
    if soft_cap < 0:
        raise ValueError(f"soft_cap must be >= 0, got {soft_cap}")
    embedder = embedder or get_embedder()
    if relevance_fn is None and not pool:
        raise ValueError("score_guarded needs the task's subjects as pool= or a relevance_fn=")
    items = split_ideas(text)
    if not items and (text or "").strip():
        items = [" ".join((text or "").split())]  # a one-item answer such as "Doorstop"
    if not items:
        return GuardedScores((), 0.0, float("nan"), 0.0, 0.0, 0)
    cores = [guarded_core(i) for i in items]
    emb = embedder.embed(cores)
    keep = distinct_indices(emb @ emb.T)
    cores = [cores[i] for i in keep]
    stripped = [strip_subject(c, subject) for c in cores]
    originality = (1 - embedder.embed([subject]) @ embedder.embed(stripped).T)[0].tolist()
    relevant = relevance_fn(cores, subject) if relevance_fn else relevance(cores, subject, pool, embedder)
    judged = []
    for i, core in zip(keep, cores):
        ok_text, why = readable(items[i], embedder)
        k = len(judged)
        weight = on_task_weight(relevant[k], soft_cap)
        reason = why or ("" if weight > 0 else f"off the task (relevance {relevant[k]:.2f})")
        judged.append(IdeaJudgement(items[i], core, originality[k], relevant[k], weight, ok_text, reason))
    n = len(judged)
    return GuardedScores(
        ideas=tuple(judged),
        guarded_originality=sum(j.originality * j.on_task for j in judged if j.readable) / n,
        originality=sum(originality) / n,
        appropriateness=sum(j.on_task for j in judged) / n,
        readability=sum(j.readable for j in judged) / n,
        valid_ideas=sum(j.counts for j in judged),
    )
