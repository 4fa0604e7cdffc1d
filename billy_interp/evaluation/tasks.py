"""WKCT creativity tasks (AUT, INSTANCES, SIMILARITIES, SCIENTIFIC) and their prompts.

The prompt sets ship as package data (``billy_interp/data/wkct``, from Lu et al. 2024, *LLM
Discussion*; cite it). Duplicates are handled explicitly: by default each distinct prompt is one
item, and :class:`TaskSet` reports how many raw entries were dropped and which.

Prompt templates (documented, so runs are comparable):

* AUT: the dataset's own baseline question (``Task[0]``) with ``{object}`` filled in.
* INSTANCES, SIMILARITIES, SCIENTIFIC: the item text followed by :data:`LIST_INSTRUCTION`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

__all__ = [
    "TaskName",
    "TASKS",
    "TaskItem",
    "TaskSet",
    "LIST_INSTRUCTION",
    "load_task",
    "sample_items",
    "nested_items",
    "task_prompt",
    "task_subjects",
    "design_tasks",
]

TaskName = Literal["aut", "instances", "similarities", "scientific"]
TASKS: tuple[TaskName, ...] = ("aut", "instances", "similarities", "scientific")
LIST_INSTRUCTION = (
    "The goal is to come up with creative ideas, which are ideas that strike people as clever, unusual, "
    "interesting, uncommon, humorous, innovative, or different. Present a list of as many creative and "
    "diverse answers as possible."
)
_FILES = {
    "aut": "aut_100.json",
    "instances": "instances_100.json",
    "similarities": "similarities_100.json",
    "scientific": "scientific_100.json",
}


@dataclass(frozen=True)
class TaskItem:
    task: TaskName
    item_id: str
    subject: str  # AUT: the object; otherwise the item text (what originality is measured against)
    prompt: str
    source_index: int
    group: str = ""  # SCIENTIFIC: the original question the variant derives from
    own_prompt: bool = False  # a user's prompt (items file): no protocol rewrites it


@dataclass(frozen=True)
class TaskSet:
    name: TaskName
    items: tuple[TaskItem, ...]
    n_raw: int
    duplicates: tuple[tuple[int, int], ...]  # (dropped raw index, index of the kept first copy)

    @property
    def n_unique(self) -> int:
        return len(self.items)

    def describe(self) -> str:
        return (
            f"{self.name}: {self.n_raw} raw entries, {self.n_unique} unique items, "
            f"{len(self.duplicates)} duplicates dropped (raw indices {[d for d, _ in self.duplicates]})"
        )


def _read(name: TaskName) -> dict:
    return json.loads((resources.files("billy_interp") / "data" / "wkct" / _FILES[name]).read_text(encoding="utf-8"))


def task_prompt(task: str, subject: str) -> str:
    """The prompt a task's template makes for a new ``subject`` (an AUT object, or the question
    text of the other tasks), exactly as the packaged items are made."""
    if task not in _FILES:
        raise ValueError(f"unknown task {task!r}; use one of {TASKS}")
    subject = " ".join(subject.split())
    if not subject:
        raise ValueError(f"task {task!r}: the subject is empty")
    if task == "aut":
        return _aut_template().replace("{object}", subject)
    return f"{subject} {LIST_INSTRUCTION}"


@cache
def _aut_template() -> str:
    return " ".join(_read("aut")["Task"][0]["Problem"])


def _raw_items(name: TaskName) -> list[tuple[str, str, str]]:
    """(subject, prompt, group) for every raw entry, in file order."""
    data = _read(name)
    if name == "aut":
        return [(e["object"], task_prompt("aut", e["object"]), "") for e in data["Examples"]]
    if name == "scientific":
        return [(v, task_prompt(name, v), t["Original"]) for t in data["Task"] for v in t["Example"]]
    return [(q, task_prompt(name, q), "") for q in data["Examples"]]


def load_task(name: TaskName, dedupe: bool = True) -> TaskSet:
    """All items of one task; ``dedupe`` keeps the first copy of each repeated prompt."""
    if name not in _FILES:
        raise ValueError(f"unknown task {name!r}; use one of {TASKS}")
    return _load_task(name, dedupe)


@cache
def _load_task(name: TaskName, dedupe: bool) -> TaskSet:
    raw = _raw_items(name)
    if not raw:
        raise ValueError(f"task {name!r} has no items")
    items, duplicates, first_seen = [], [], {}
    for index, (subject, prompt, group) in enumerate(raw):
        key = prompt.strip().lower()
        if dedupe and key in first_seen:
            duplicates.append((index, first_seen[key]))
            continue
        first_seen[key] = index
        items.append(TaskItem(name, f"{name}-{index:03d}", subject, prompt, index, group))
    return TaskSet(name, tuple(items), len(raw), tuple(duplicates))


def design_tasks() -> dict:
    """The packaged design tasks for the projection and interaction analyses: ``creative`` and
    ``neutral`` raw prompts, and the ``prefixes`` of the prompting conditions."""
    return json.loads((resources.files("billy_interp") / "data" / "design_tasks.json").read_text(encoding="utf-8"))


def sample_items(task: TaskSet, n: int | None = None, seed: int = 0) -> list[TaskItem]:
    """A deterministic subset: the same (task, n, seed) always gives the same items, in file order."""
    if n is None or n >= task.n_unique:
        return list(task.items)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    chosen = sorted(random.Random(f"{task.name}:{seed}").sample(range(task.n_unique), n))
    return [task.items[i] for i in chosen]


def nested_items(task: TaskSet, n: int | None = None, seed: int = 0) -> list[TaskItem]:
    """The first ``n`` items of a seeded shuffle of the task: a larger ``n`` keeps every item of a
    smaller one (so a resumable run can grow from 10 to 40 items a task and lose nothing),
    returned in file order."""
    if n is not None and n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    order = list(range(task.n_unique))
    random.Random(f"{task.name}:nested:{seed}").shuffle(order)
    return [task.items[i] for i in sorted(order[: n or task.n_unique])]


def task_subjects(task: TaskName) -> tuple[str, ...]:
    """The distinct subjects of one task (objects for AUT, item texts otherwise): the reference
    pool against which the guarded score judges whether an idea is about its own subject."""
    return tuple(dict.fromkeys(item.subject for item in load_task(task).items))
