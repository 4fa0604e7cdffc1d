"""A user's own task items: a JSON or CSV file of (task, subject[, prompt][, item_id]) rows.

    task,subject,prompt
    aut,a paper clip,
    instances,Name all the things that can float.,

An empty ``prompt`` is built from the task's template (:func:`~billy_interp.evaluation.tasks.task_prompt`),
so a new AUT object gets exactly the packaged items' wording (and a protocol's own prompt, such as
the paper's 5-item one); a prompt you write is used as written under every protocol. ``item_id`` defaults to the task
and a hash of the prompt, so a resumed run never pairs two different prompts under one id. JSON is
a list of such objects (or ``{"items": [...]}``). Every problem is reported with the file and row
before any model loads.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from billy_interp.evaluation.tasks import TASKS, TaskItem, task_prompt
from billy_interp.options import UsageError

__all__ = ["ItemsFileError", "read_items_file", "items_for_tasks"]

_FIELDS = ("task", "subject", "prompt", "item_id")


class ItemsFileError(ValueError):
    """The items file cannot be used; the message names the file and the row."""


def _rows(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"task", "subject"} - set(reader.fieldnames or ())
            if missing:
                raise ItemsFileError(f"{path}: the CSV header lacks column(s) {sorted(missing)} (needs task, subject)")
            return list(reader)
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ItemsFileError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
        rows = data.get("items") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ItemsFileError(f"{path}: expected a list of objects with task and subject (or {{'items': [...]}})")
        return rows
    raise ItemsFileError(f"{path}: use a .json or .csv file, not {suffix or 'a file without extension'}")


def read_items_file(path: str | Path) -> dict[str, list[TaskItem]]:
    """The file's items per task, in file order (tasks in the package's order)."""
    path = Path(path)
    if not path.is_file():
        raise ItemsFileError(f"{path}: no such file")
    rows = _rows(path)
    if not rows:
        raise ItemsFileError(f"{path}: holds no items")
    items: dict[str, list[TaskItem]] = {}
    seen_ids: dict[str, int] = {}
    seen_prompts: dict[tuple[str, str], int] = {}
    for number, row in enumerate(rows, start=1):
        where = f"{path}: item {number}"
        unknown = set(row) - set(_FIELDS)
        if unknown:
            raise ItemsFileError(f"{where}: unknown field(s) {sorted(unknown)}; use {', '.join(_FIELDS)}")
        task = str(row.get("task") or "").strip().lower()
        subject = " ".join(str(row.get("subject") or "").split())
        if task not in TASKS:
            raise ItemsFileError(f"{where}: task {row.get('task')!r} is not one of {', '.join(TASKS)}")
        if not subject:
            raise ItemsFileError(f"{where}: the subject is empty")
        own = " ".join(str(row.get("prompt") or "").split())
        prompt = own or task_prompt(task, subject)
        item_id = str(row.get("item_id") or "").strip()
        item_id = item_id or f"{task}-{hashlib.sha1(prompt.encode()).hexdigest()[:10]}"
        if (task, prompt.lower()) in seen_prompts:
            raise ItemsFileError(f"{where}: the same {task} prompt as item {seen_prompts[task, prompt.lower()]}")
        if item_id in seen_ids:
            raise ItemsFileError(f"{where}: item_id {item_id!r} repeats item {seen_ids[item_id]}")
        seen_ids[item_id] = seen_prompts[task, prompt.lower()] = number
        items.setdefault(task, []).append(TaskItem(task, item_id, subject, prompt, number - 1, own_prompt=bool(own)))  # type: ignore[arg-type]
    return {task: items[task] for task in TASKS if task in items}


def items_for_tasks(path: str | Path, tasks: Sequence[str] | None) -> dict[str, list[TaskItem]]:
    """The ``--items`` file's items for ``tasks`` (None: every task in the file); a problem is a
    :class:`~billy_interp.options.UsageError` naming the option, raised before any model loads."""
    try:
        from_file = read_items_file(path)
    except ItemsFileError as error:
        raise UsageError(f"--items {error}") from None
    if tasks is None:
        return from_file
    absent = [t for t in tasks if t not in from_file]
    if absent:
        raise UsageError(
            f"--task {','.join(tasks)}: the --items file has no {', '.join(absent)} items "
            f"(it has {', '.join(from_file)}); use --task all"
        )
    return {t: from_file[t] for t in tasks}
