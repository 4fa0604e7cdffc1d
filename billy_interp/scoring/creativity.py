"""Offline creativity scores for list-style answers: a PROXY for the paper's GPT judge.

* **ideas**: the answer split into list items (numbered, bulleted or one per line; sentences as a
  fallback). The *core idea* of an item is its title (the bold or pre-colon part) or its first
  clause, at most 12 words, because longer text drifts farther from any subject in embedding
  space and would inflate originality.
* **originality** (per idea): 1 - cos(subject, core idea) with all-MiniLM-L6-v2 embeddings;
  the response's originality is the mean over its distinct ideas.
* **elaboration**: mean words per idea (the full item, not just its core).
* **fluency**: distinct ideas after merging near-duplicates (cos >= 0.85).
* **flexibility**: clusters among the distinct ideas (single-link, cos >= 0.6).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from billy_interp.scoring.embeddings import Embedder, get_embedder

__all__ = [
    "split_ideas",
    "core_idea",
    "IdeaScores",
    "score_response",
    "originality_of",
    "DUPLICATE_COS",
    "CLUSTER_COS",
    "PROXY_LABEL",
]

DUPLICATE_COS = 0.85
CLUSTER_COS = 0.6
PROXY_LABEL = "offline proxy (all-MiniLM-L6-v2 distances), not the paper's GPT-4o-mini judge"
_ITEM = re.compile(r"^\s*(?:\d+[\.\)]|[-*•]|[a-zA-Z][\.\)])\s+(.*\S)\s*$")
_MARKUP = re.compile(r"[*_`#]+")
_TITLE = re.compile(r"^(.{2,80}?)\s*(?::|\s[-–—]\s)\s*(.+)$")


def split_ideas(text: str) -> list[str]:
    """List items of an answer; without list markers, non-empty lines, else sentences."""
    lines = [l for l in (text or "").splitlines() if l.strip()]
    items = [m.group(1) for l in lines if (m := _ITEM.match(l))]
    if len(items) >= 2:
        return [_MARKUP.sub("", i).strip() for i in items]
    if len(lines) >= 2:
        return [_MARKUP.sub("", l).strip() for l in lines]
    sentences = re.split(r"(?<=[.!?])\s+", (text or "").strip())
    return [_MARKUP.sub("", s).strip() for s in sentences if len(s.split()) >= 2]


def core_idea(item: str, max_words: int = 12) -> str:
    """The idea's title (before ':' or ' - ') or its first clause, at most ``max_words`` words."""
    match = _TITLE.match(item)
    head = match.group(1) if match else re.split(r"[,;.]", item, maxsplit=1)[0]
    return " ".join(head.split()[:max_words]) or item[:80]


@dataclass(frozen=True)
class IdeaScores:
    ideas: tuple[str, ...]
    cores: tuple[str, ...]
    idea_originality: tuple[float, ...]  # per distinct idea, in order
    originality: float
    elaboration: float
    fluency: int
    flexibility: int


def _components(sim: torch.Tensor, threshold: float) -> list[int]:
    n = sim.shape[0]
    label = list(range(n))

    def find(i: int) -> int:
        while label[i] != i:
            label[i] = label[label[i]]
            i = label[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if sim[i, j] >= threshold:
                label[find(i)] = find(j)
    return [find(i) for i in range(n)]


def distinct_indices(similarity) -> list[int]:
    """The first idea of each near-duplicate group (cosine >= DUPLICATE_COS), in order."""
    keep: list[int] = []
    for i in range(similarity.shape[0]):
        if all(similarity[i, j] < DUPLICATE_COS for j in keep):
            keep.append(i)
    return keep


def score_response(subject: str, text: str, embedder: Embedder | None = None) -> IdeaScores:
    """Originality, elaboration, fluency and flexibility of one answer about ``subject``."""
    embedder = embedder or get_embedder()
    ideas = split_ideas(text)
    if not ideas:
        return IdeaScores((), (), (), float("nan"), 0.0, 0, 0)
    cores = [core_idea(i) for i in ideas]
    emb = embedder.embed(cores)
    sim = emb @ emb.T
    keep = distinct_indices(sim)
    distances = (1 - embedder.embed([subject]) @ emb[keep].T)[0]
    clusters = len(set(_components(sim[keep][:, keep], CLUSTER_COS)))
    return IdeaScores(
        ideas=tuple(ideas),
        cores=tuple(cores),
        idea_originality=tuple(float(d) for d in distances),
        originality=float(distances.mean()),
        elaboration=sum(len(i.split()) for i in ideas) / len(ideas),
        fluency=len(keep),
        flexibility=clusters,
    )


def originality_of(subject: str, ideas: Sequence[str], embedder: Embedder | None = None) -> list[float]:
    """1 - cos(subject, core idea) for each idea (no de-duplication)."""
    embedder = embedder or get_embedder()
    cores = [core_idea(i) for i in ideas]
    return (1 - embedder.embed([subject]) @ embedder.embed(cores).T)[0].tolist()
