"""An optional LLM judge behind any OpenAI-compatible server (vLLM, llama.cpp, Ollama, hosted).

The paper scored with gpt-4o-mini at temperature 1, averaging 3 samples, each ending its
reasoning with ``[[X]]``. This client does the same with our own rubrics:

* persona trait and coherence, 0-100 (the persona_vectors filter: D+ needs trait >= 50, D- < 50,
  both coherence >= 50);
* originality and elaboration, 1-5 (TTCT definitions), for the creativity benchmark.

Two judging protocols (``JudgeConfig.protocol``):

* ``strict`` (ours): the judge sees the task and the response; exactly one distinct
  ``[[number]]`` (decimals allowed), clamped to the scale. A reply without one is a *failure*,
  reported per sample and never scored as 0.
* ``paper`` (the paper's evaluation code, for originality and elaboration): the judge sees only
  the response, with a per-task rubric naming five anchors and asking to be demanding; the
  score is the first ``[[n]]``, else the last ``(n)``, else the last stand-alone digit 1-5, and
  a reply with none scores **0** (counted as a failure, and averaged in as 0, as the paper did).

A judge server that cannot be reached raises under both protocols. Calls retry with
exponential backoff; replies are cached on disk keyed by model, prompt, temperature and sample
index, so reruns are free and reproducible. A server that is down raises :class:`JudgeError`
naming the URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from billy_interp.io import atomic_write

__all__ = [
    "JudgeConfig",
    "JudgeScore",
    "JudgeError",
    "Judge",
    "parse_score",
    "parse_paper_score",
    "RUBRICS",
    "PAPER_RUBRICS",
    "JUDGE_PROTOCOLS",
]

JUDGE_PROTOCOLS = ("strict", "paper")

_SCORE_RE = re.compile(r"\[\[\s*([-+]?\d+(?:\.\d+)?)\s*\]\]")

RUBRICS = {
    "trait": (
        "You are evaluating whether a response shows the persona of {persona_role}: {persona_description}\n\n"
        "Question: {question}\nResponse: {response}\n\n"
        "Rate from 0 (no trace of the persona) to 100 (the persona is expressed strongly and throughout). "
        "Explain briefly, then end with the score in double brackets, e.g. [[72]]."
    ),
    "coherence": (
        "Rate how coherent and well-formed this response is, from 0 (gibberish, loops, broken text) to 100 "
        "(fluent, on-topic and logically consistent), regardless of its style or opinions.\n\n"
        "Question: {question}\nResponse: {response}\n\nExplain briefly, then end with [[score]]."
    ),
    "originality": (
        "Originality (Torrance Tests of Creative Thinking): how statistically rare, unusual and clever the "
        "ideas are, compared with the obvious answers most people give.\n"
        "1 = only common, obvious ideas; 2 = mostly common with a slight twist; 3 = a mix of common and "
        "unusual ideas; 4 = mostly unusual, clever ideas; 5 = highly original ideas few people would think of.\n\n"
        "Task: {question}\nResponse: {response}\n\n"
        "Explain briefly, then end with the score as [[X]] (decimals allowed)."
    ),
    "elaboration": (
        "Elaboration (Torrance Tests of Creative Thinking): how much detail develops each idea: how it works, "
        "for whom, with what, and why.\n"
        "1 = bare list of words; 2 = a few words of detail; 3 = each idea gets a sentence; 4 = ideas are "
        "developed with specifics; 5 = rich, well-developed detail throughout.\n\n"
        "Task: {question}\nResponse: {response}\n\n"
        "Explain briefly, then end with the score as [[X]] (decimals allowed)."
    ),
}
# The paper's judge structure, in our words: response only, five named anchors, "be demanding".
_PAPER_TASK_NOUNS = {
    "aut": "alternative uses for an everyday object",
    "instances": "examples that fit a category",
    "similarities": "ways in which two things are alike",
    "scientific": "solutions to a scientific problem",
}
_PAPER_ANCHORS = {
    "originality": ("very common", "somewhat common", "moderately original", "very original", "extremely original"),
    "elaboration": (
        "very basic",
        "somewhat elaborated",
        "moderately elaborated",
        "highly elaborated",
        "exceptionally elaborated",
    ),
}
PAPER_RUBRICS = {
    criterion: (
        f"You are judging the {criterion} of a list of {{task_noun}}. Rate the answers on a 1-5 scale: "
        + "; ".join(f"{k} = {anchor}" for k, anchor in enumerate(anchors, 1))
        + ". Look only at the answers themselves and ignore any framing text around them. Be demanding. "
        "Explain briefly, then give the score as [[n]].\n\nThe response to judge:\n{response}"
    )
    for criterion, anchors in _PAPER_ANCHORS.items()
}
_PAPER_FIRST_DOUBLE = re.compile(r"\[\[(\d+)\]\]")
_PAPER_PAREN = re.compile(r"\((\d+)\)")
_PAPER_DIGIT = re.compile(r"\b([1-5])\b")

SCALES = {"trait": (0.0, 100.0), "coherence": (0.0, 100.0), "originality": (1.0, 5.0), "elaboration": (1.0, 5.0)}


class JudgeError(RuntimeError):
    """The judge server could not be reached or refused every attempt."""


def parse_score(text: str, low: float | int, high: float | int) -> float:
    """The single ``[[x]]`` score in ``text``, clamped to ``[low, high]``; ValueError otherwise."""
    values = {float(m) for m in _SCORE_RE.findall(text or "")}
    if not values:
        raise ValueError(f"no [[score]] in judge reply: {text[:120]!r}")
    if len(values) > 1:
        raise ValueError(f"several different [[scores]] in judge reply: {sorted(values)}")
    return float(min(high, max(low, values.pop())))


def parse_paper_score(text: str) -> int | None:
    """The paper's parsing: the first ``[[n]]``, else the last ``(n)``, else the last stand-alone
    digit 1-5; ``None`` when there is none (the paper then scores 0). As in the paper, a number
    inside ``[[ ]]`` or ``( )`` is taken as written, even outside 1-5."""
    text = text or ""
    if match := _PAPER_FIRST_DOUBLE.search(text):
        return int(match.group(1))
    for pattern in (_PAPER_PAREN, _PAPER_DIGIT):
        if found := pattern.findall(text):
            return int(found[-1])
    return None


@dataclass(frozen=True)
class JudgeConfig:
    """Where and how to ask the judge. ``base_url``/``api_key`` default to OPENAI_BASE_URL/_API_KEY."""

    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: str | None = None
    temperature: float = 1.0
    n_samples: int = 3
    max_retries: int = 3
    backoff_seconds: float = 1.0
    timeout_seconds: float = 60.0
    cache_dir: str | None = None
    protocol: str = "strict"  # or "paper": the paper's prompts, parsing and failure rule

    def __post_init__(self) -> None:
        if self.protocol not in JUDGE_PROTOCOLS:
            raise ValueError(f"judge protocol {self.protocol!r}: use one of {JUDGE_PROTOCOLS}")

    def resolved_base_url(self) -> str | None:
        return self.base_url or os.environ.get("OPENAI_BASE_URL")


@dataclass(frozen=True)
class JudgeScore:
    """Mean of the parsed samples (None if every sample failed) and what failed."""

    score: float | None
    samples: tuple[float | None, ...]
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.score is not None


class Judge:
    """Scores responses on a 1-5 rubric through any OpenAI-compatible server, with retries and a disk cache."""

    def __init__(self, config: JudgeConfig, client: Any | None = None) -> None:
        self.config = config
        if client is None:
            try:
                from openai import OpenAI
            except ImportError as error:
                raise ImportError("the LLM judge needs the openai client: pip install 'openai>=1.50'") from error
            client = OpenAI(
                base_url=config.resolved_base_url(),
                api_key=config.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
                timeout=config.timeout_seconds,
                max_retries=0,  # retries are ours, with backoff, so failures are counted once
            )
        self.client = client
        cache = config.cache_dir or os.environ.get("BILLY_INTERP_JUDGE_CACHE")
        self.cache_dir = Path(cache).expanduser() if cache else None

    def _cache_path(self, prompt: str, sample: int) -> Path | None:
        if self.cache_dir is None:
            return None
        key = json.dumps([self.config.model, self.config.temperature, sample, prompt])
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def _ask(self, prompt: str, sample: int) -> str:
        path = self._cache_path(prompt, sample)
        if path is not None and path.is_file():
            return json.loads(path.read_text())["reply"]
        last_error: Exception | None = None
        for attempt in range(self.config.max_retries + 1):
            try:
                reply = self.client.chat.completions.create(
                    model=self.config.model,
                    messages=[{"role": "user", "content": prompt}],
                    temperature=self.config.temperature,
                )
                text = reply.choices[0].message.content or ""
                if path is not None:
                    atomic_write(path, lambda tmp, text=text: tmp.write_text(json.dumps({"reply": text})))
                return text
            except Exception as error:  # connection, timeout, HTTP 5xx, malformed JSON bodies
                last_error = error
                if attempt < self.config.max_retries:
                    time.sleep(self.config.backoff_seconds * 2**attempt)
        raise JudgeError(
            f"judge server {self.config.resolved_base_url() or 'api.openai.com'} failed "
            f"{self.config.max_retries + 1} times for model {self.config.model!r}: {last_error}"
        )

    def score(self, rubric: str, **fields: str) -> JudgeScore:
        """Score one response on ``rubric``; fields fill the prompt (``question``, ``response``;
        the paper protocol needs ``task``: aut, instances, similarities or scientific)."""
        if rubric not in RUBRICS:
            raise ValueError(f"unknown rubric {rubric!r}; use one of {sorted(RUBRICS)}")
        if self.config.protocol == "paper" and rubric in PAPER_RUBRICS:
            return self._score_paper(rubric, fields)
        prompt = RUBRICS[rubric].format(**fields)
        low, high = SCALES[rubric]
        samples: list[float | None] = []
        failures: list[str] = []
        for sample in range(self.config.n_samples):
            try:
                samples.append(parse_score(self._ask(prompt, sample), low, high))
            except ValueError as error:
                samples.append(None)
                failures.append(str(error))
        parsed = [s for s in samples if s is not None]
        return JudgeScore(statistics.fmean(parsed) if parsed else None, tuple(samples), tuple(failures))

    def _score_paper(self, rubric: str, fields: dict) -> JudgeScore:
        task = fields.get("task")
        if task not in _PAPER_TASK_NOUNS:
            raise ValueError(f"the paper's judge protocol needs task= one of {sorted(_PAPER_TASK_NOUNS)}, got {task!r}")
        prompt = PAPER_RUBRICS[rubric].format(task_noun=_PAPER_TASK_NOUNS[task], response=fields["response"])
        samples: list[float] = []
        failures: list[str] = []
        for sample in range(self.config.n_samples):
            reply = self._ask(prompt, sample)
            value = parse_paper_score(reply)
            if value is None:
                failures.append(f"no score in judge reply (scored 0, as the paper did): {reply[:120]!r}")
            samples.append(float(value or 0))
        return JudgeScore(statistics.fmean(samples), tuple(samples), tuple(failures))
