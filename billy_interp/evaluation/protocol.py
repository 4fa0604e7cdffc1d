"""Benchmark protocols: the settings that decide what each method is asked and how long it may answer.

Two protocols, recorded in every benchmark run (a resumed run refuses to mix them):

* ``paper`` (the default for Table 1): the BILLY paper's own settings, read from its public code
  (the repository paths are in docs/protocol.md). BILLY, SA and SA-MRP ask for **5** items in a
  numbered list; BILLY (and the unsteered ``control``) may write 1,000 new tokens, SA and MRP 512
  with BILLY's penalties at their own temperature; MRP puts the three roles (specialty and
  mission) before the task and asks for an answer from each perspective; LLM Discussion shows
  the other agents' answers anonymously, asks for a numbered final list in the last round, and
  is scored per assistant turn as well as on the joined final lists.
* ``discussion``: the protocol of our earlier runs: every method gets LLM Discussion's
  open-ended "as many creative and diverse answers as possible" prompt and one token budget.

The prompt texts are ours, written in the structure of the paper's prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from billy_interp.evaluation.tasks import TaskItem

__all__ = ["ProtocolName", "PROTOCOL_NAMES", "Protocol", "get_protocol", "paper_task_prompt"]

ProtocolName = Literal["paper", "discussion"]
PROTOCOL_NAMES: tuple[str, ...] = get_args(ProtocolName)

N_PAPER_ITEMS = 5
_NUMBERED = "Answer as diversely and creatively as you can, as a numbered list: 1. ... 2. ... 3. ..."
_PAPER_ASKS = {
    "aut": "Give {n} inventive, original uses for '{subject}'.",
    "instances": "{subject} Give {n} creative examples.",
    "similarities": "{subject} Give {n} creative perspectives on how they are alike.",
    "scientific": "Give {n} inventive solutions to this scientific problem: {subject}",
}


def paper_task_prompt(item: TaskItem, n: int = N_PAPER_ITEMS) -> str:
    """The paper's structure for one task item, in our words: ask for ``n`` items, numbered."""
    if item.task not in _PAPER_ASKS:
        raise ValueError(f"no paper prompt for task {item.task!r}")
    return f"{_PAPER_ASKS[item.task].format(n=n, subject=item.subject.strip())} {_NUMBERED}"


@dataclass(frozen=True)
class Protocol:
    """What a protocol decides. ``budgets`` maps method names to new-token budgets (a method not
    listed uses the run's); ``style`` is the MRP and LLM Discussion prompt structure; ``judge``
    the judge protocol (``scoring.judge``) a run uses unless it names one."""

    name: ProtocolName
    five_item_prompts: bool
    budgets: dict[str, int] = field(default_factory=dict)
    penalties_for_baselines: bool = False  # SA and MRP sample with BILLY's processors
    style: Literal["paper", "discussion"] = "discussion"
    judge: Literal["paper", "strict"] = "strict"

    def items(self, items: Sequence[TaskItem]) -> list[TaskItem]:
        """The items with this protocol's prompts (a user's own prompt is kept as written)."""
        if not self.five_item_prompts:
            return list(items)
        return [item if item.own_prompt else replace(item, prompt=paper_task_prompt(item)) for item in items]

    def budget(self, method: str, default: int) -> int:
        """New tokens for ``method`` (a ``make_method`` name), ``default`` where none is set."""
        return self.budgets.get(method, default)


PROTOCOLS = {
    "paper": Protocol(
        "paper",
        five_item_prompts=True,
        budgets={"billy": 1000, "control": 1000, "sa": 512, "sa_t1": 512, "mrp": 512},
        penalties_for_baselines=True,
        style="paper",
        judge="paper",
    ),
    "discussion": Protocol("discussion", five_item_prompts=False),
}


def get_protocol(name: str) -> Protocol:
    """A protocol by name (``paper`` or ``discussion``)."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; use one of {PROTOCOL_NAMES}")
    return PROTOCOLS[name]
