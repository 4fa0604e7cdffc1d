"""Persona catalog: the 12 personas of the BILLY paper's code, plus user persona files.

A persona file (JSON, or YAML if PyYAML is installed) has this schema::

    name: environmentalist            # identifier, [a-z0-9_]+
    short_name: ENV                   # label for tables and figures
    role: environmentalist            # "You are a/an {role} assistant."
    description: ...                  # one paragraph; the offline trait scorer embeds it
    instruction_pairs:                # >= 1 (the catalog has 5) contrastive system instructions
      - {positive: ..., negative: ...}
    questions:
      extract: [...]                  # role-topical questions used to extract the vector
      eval: [...]                     # held-out role-topical questions

The system prompt is ``"You are a/an {role} assistant. {instruction}"`` for D+ and
``"You are a helpful assistant. {instruction}"`` for D- (negatives are generic neutral
assistant instructions, as in the paper). :data:`SHARED_QUESTIONS` holds the neutral
questions that are the same for every persona.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from billy_interp.paper import PAPER_PERSONAS

__all__ = [
    "InstructionPair",
    "Persona",
    "QuestionSet",
    "QuestionKind",
    "PAPER_PERSONAS",
    "PersonaError",
    "list_personas",
    "load_persona",
    "load_personas",
    "persona_from_dict",
    "shared_questions",
]

QuestionKind = Literal["topical", "shared"]
_NAME_RE = re.compile(r"^[a-z0-9_]+$")
NEUTRAL_ROLE_PREFIX = "You are a helpful assistant."


class PersonaError(ValueError):
    """A persona name or file that cannot be used, with the reason."""


@dataclass(frozen=True)
class InstructionPair:
    positive: str
    negative: str


@dataclass(frozen=True)
class QuestionSet:
    extract: tuple[str, ...]
    eval: tuple[str, ...]

    def split(self, split: Literal["extract", "eval"]) -> tuple[str, ...]:
        if split not in ("extract", "eval"):
            raise ValueError(f"unknown split {split!r}; use 'extract' or 'eval'")
        return self.extract if split == "extract" else self.eval


@dataclass(frozen=True)
class Persona:
    name: str
    short_name: str
    role: str
    description: str
    instruction_pairs: tuple[InstructionPair, ...]
    questions: QuestionSet
    source: str = field(default="catalog", compare=False)

    @property
    def role_sentence(self) -> str:
        article = "an" if self.role[:1].lower() in "aeiou" else "a"
        return f"You are {article} {self.role} assistant."

    def system_prompt(self, pair: int, sign: int) -> str:
        """D+ (``sign=+1``) or D- (``sign=-1``) system prompt for instruction pair ``pair``."""
        if not 0 <= pair < len(self.instruction_pairs):
            raise PersonaError(f"{self.name} has {len(self.instruction_pairs)} pairs; no pair {pair}")
        chosen = self.instruction_pairs[pair]
        if sign == 1:
            return f"{self.role_sentence} {chosen.positive}"
        if sign == -1:
            return f"{NEUTRAL_ROLE_PREFIX} {chosen.negative}"
        raise ValueError(f"sign must be +1 or -1, got {sign}")

    def questions_for(self, kind: QuestionKind, split: Literal["extract", "eval"]) -> tuple[str, ...]:
        if kind == "topical":
            return self.questions.split(split)
        if kind == "shared":
            return shared_questions().split(split)
        raise ValueError(f"unknown question kind {kind!r}; use 'topical' or 'shared'")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "short_name": self.short_name,
            "role": self.role,
            "description": self.description,
            "instruction_pairs": [{"positive": p.positive, "negative": p.negative} for p in self.instruction_pairs],
            "questions": {"extract": list(self.questions.extract), "eval": list(self.questions.eval)},
        }


def _nonempty_strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise PersonaError(f"{where} must be a non-empty list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise PersonaError(f"{where}[{i}] must be a non-empty string")
    if len(set(value)) != len(value):
        raise PersonaError(f"{where} contains duplicates")
    return tuple(v.strip() for v in value)


_FIELDS = ("name", "short_name", "role", "description", "instruction_pairs", "questions")


def _reject_unknown(keys: Any, known: tuple[str, ...], where: str) -> None:
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known fields: {', '.join(known)}"
            raise PersonaError(f"{where}: unknown field {key!r}{hint}")


def persona_from_dict(data: Any, source: str = "<dict>") -> Persona:
    """Validate a persona mapping; every problem is reported with the field that has it, and an
    unknown (e.g. misspelt) field is refused with the closest valid name."""
    if not isinstance(data, dict):
        raise PersonaError(f"{source}: a persona must be a mapping, got {type(data).__name__}")
    _reject_unknown(data, _FIELDS, source)
    required = ("name", "role", "description", "instruction_pairs", "questions")
    missing = [k for k in required if k not in data]
    if missing:
        raise PersonaError(f"{source}: missing required field(s) {missing}")
    name = data["name"]
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise PersonaError(f"{source}: name must match [a-z0-9_]+, got {name!r}")
    for key in ("role", "description"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise PersonaError(f"{source}: {key} must be a non-empty string")
    pairs_raw = data["instruction_pairs"]
    if not isinstance(pairs_raw, list) or not pairs_raw:
        raise PersonaError(f"{source}: instruction_pairs must be a non-empty list")
    pairs = []
    for i, pair in enumerate(pairs_raw):
        if isinstance(pair, dict):
            _reject_unknown(pair, ("positive", "negative"), f"{source}: instruction_pairs[{i}]")
        if not isinstance(pair, dict) or not all(
            isinstance(pair.get(k), str) and pair[k].strip() for k in ("positive", "negative")
        ):
            raise PersonaError(f"{source}: instruction_pairs[{i}] needs non-empty 'positive' and 'negative' strings")
        pairs.append(InstructionPair(pair["positive"].strip(), pair["negative"].strip()))
    questions = data["questions"]
    if not isinstance(questions, dict):
        raise PersonaError(f"{source}: questions must be a mapping with 'extract' and 'eval' lists")
    _reject_unknown(questions, ("extract", "eval"), f"{source}: questions")
    extract = _nonempty_strings(questions.get("extract"), f"{source}: questions.extract")
    evals = _nonempty_strings(questions.get("eval"), f"{source}: questions.eval")
    overlap = set(extract) & set(evals)
    if overlap:
        raise PersonaError(f"{source}: questions appear in both extract and eval: {sorted(overlap)}")
    return Persona(
        name=name,
        short_name=str(data.get("short_name") or name[:3].upper()),
        role=data["role"].strip(),
        description=data["description"].strip(),
        instruction_pairs=tuple(pairs),
        questions=QuestionSet(extract, evals),
        source=source,
    )


def _read_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as error:
            raise PersonaError(f"{path}: reading YAML needs PyYAML (pip install pyyaml)") from error
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise PersonaError(f"{path}: malformed YAML: {error}") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PersonaError(f"{path}: malformed JSON: {error}") from error


def _catalog_dir():
    return resources.files("billy_interp") / "data" / "personas"


def list_personas() -> list[str]:
    """Names of the personas shipped with the package."""
    return sorted(
        p.name[: -len(".json")]
        for p in _catalog_dir().iterdir()
        if p.name.endswith(".json") and not p.name.startswith("_")
    )


@cache
def _load_catalog(name: str) -> Persona:
    entry = _catalog_dir() / f"{name}.json"
    return persona_from_dict(json.loads(entry.read_text(encoding="utf-8")), f"catalog:{name}")


def load_persona(name_or_path: str | Path) -> Persona:
    """A catalog persona by name, or a persona file by path (``.json``, ``.yaml``, ``.yml``)."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith((".json", ".yaml", ".yml")) or "/" in text:
        path = Path(name_or_path)
        if not path.is_file():
            raise PersonaError(f"persona file {path} does not exist")
        return persona_from_dict(_read_file(path), str(path))
    known = list_personas()
    if text not in known:
        raise PersonaError(f"unknown persona {text!r}; known personas: {', '.join(known)}")
    return _load_catalog(text)


def load_personas(names: Iterable[str | Path]) -> list[Persona]:
    """Several personas; duplicate names are an error (repeats belong in merge recipes)."""
    personas = [load_persona(n) for n in names]
    seen: set[str] = set()
    for persona in personas:
        if persona.name in seen:
            raise PersonaError(f"duplicate persona name {persona.name!r}")
        seen.add(persona.name)
    return personas


@dataclass(frozen=True)
class _Shared:
    questions: QuestionSet
    neutral_description: str

    def split(self, split: Literal["extract", "eval"]) -> tuple[str, ...]:
        return self.questions.split(split)


@lru_cache(maxsize=1)
def _shared() -> _Shared:
    data = json.loads((_catalog_dir() / "_shared_questions.json").read_text(encoding="utf-8"))
    return _Shared(
        QuestionSet(
            _nonempty_strings(data["extract"], "shared.extract"),
            _nonempty_strings(data["eval"], "shared.eval"),
        ),
        data["neutral_description"],
    )


def shared_questions() -> _Shared:
    """Neutral questions shared by every persona, and the neutral assistant description."""
    return _shared()
