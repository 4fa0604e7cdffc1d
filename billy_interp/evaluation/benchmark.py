"""Benchmark answers, scores and costs: the library under the benchmark job.

* :func:`answer_units` cuts what every method has not answered yet into units (one
  :meth:`Method.run` call each) and :func:`answer_unit` answers one; the job runs them through
  its executor and appends each unit's answers to a JSONL resume log;
* :func:`score` adds the offline proxy scores, the guarded scores (originality that only
  on-task, readable ideas earn, with appropriateness and readability beside it;
  ``scoring.guarded``), an LLM judge's when given, and the per-idea table;
* :func:`summarize` gives mean, std and a 95% bootstrap CI per task x method x metric;
  :func:`efficiency` gives per-query time, tokens, forward passes, calls and cost, with ratios to
  BILLY, over the items every method answered.

The job (settings, run directory, tables) is :mod:`billy_interp.jobs.benchmark`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from billy_interp.core.model import SteerableModel
from billy_interp.evaluation.methods import Method
from billy_interp.evaluation.relevance import guard
from billy_interp.evaluation.tasks import TaskItem, task_subjects
from billy_interp.scoring.creativity import PROXY_LABEL, score_response
from billy_interp.scoring.guarded import GUARDED_LABEL, score_guarded

__all__ = [
    "METRICS",
    "GUARDED_METRICS",
    "TURN_METRICS",
    "AnswerUnit",
    "answer_units",
    "answer_unit",
    "assistant_turns",
    "score",
    "summarize",
    "efficiency",
]

METRICS = ("originality", "elaboration", "fluency", "flexibility")
GUARDED_METRICS = ("guarded_originality", "appropriateness", "readability")
# LLM Discussion under the paper's protocol: each assistant turn scored alone, then averaged
TURN_METRICS = ("turn_originality", "turn_guarded_originality")
JUDGE_METRICS = ("judge_originality", "judge_elaboration", "judge_turn_originality", "judge_turn_elaboration")


@dataclass(frozen=True)
class AnswerUnit:
    """One :meth:`Method.run` call: a chunk of one task's items for one method. Its answers depend
    on the unit alone (generation seeds each call), wherever and whenever it runs."""

    task: str
    method: str
    items: tuple[TaskItem, ...]


def answer_units(
    items: Mapping[str, Sequence[TaskItem]],
    items_per_call: Mapping[str, int],
    records: Sequence[dict] = (),
) -> list[AnswerUnit]:
    """The units still to answer: every (task, method, item) not in ``records``, per task and
    method in chunks of ``items_per_call[method]`` items."""
    done = {(r["task"], r["method"], r["item_id"]) for r in records}
    units = []
    for task_name, task_items in items.items():
        for method_name, step in items_per_call.items():
            todo = [i for i in task_items if (task_name, method_name, i.item_id) not in done]
            units += [AnswerUnit(task_name, method_name, tuple(todo[s : s + step])) for s in range(0, len(todo), step)]
    return units


def answer_unit(model: SteerableModel, method: Method, unit: AnswerUnit) -> list[dict]:
    """The unit's answers as benchmark records (a discussion's turns kept for per-turn scoring)."""
    records = []
    for item, result in zip(unit.items, method.run(model, unit.items)):
        record = {
            "task": unit.task,
            "subject": item.subject,
            "prompt": item.prompt,
            **{k: v for k, v in asdict(result).items() if k != "transcript"},
            "method": unit.method,
        }
        if result.transcript:
            record["turns"] = assistant_turns(result.transcript)
        records.append(record)
    return records


def assistant_turns(transcript: Sequence[Sequence[dict]]) -> list[str]:
    """A discussion's assistant turns from its per-agent histories, round by round (agents in
    order within a round): 4 agents x 5 rounds give 20 turns."""
    per_agent = [[m["content"] for m in history if m["role"] == "assistant"] for history in transcript]
    return [turn for rnd in zip(*per_agent) for turn in rnd]


def score(
    records: pd.DataFrame, judge=None, on_task: Literal["pmi", "embedding"] = "pmi"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Offline scores per response (and judge scores if a judge is given), and the per-idea table.

    ``on_task`` picks the guarded score's relevance: ``"pmi"`` (the default: LM PMI under the
    embedded SmolLM2, soft weight; ``evaluation.relevance``) or ``"embedding"`` (no language
    model: embedding relevance against the task's other subjects, 0/1 weight)."""
    if on_task not in ("pmi", "embedding"):
        raise ValueError(f"on_task must be 'pmi' or 'embedding', got {on_task!r}")
    rows, ideas = [], []
    tasks = records["task"].unique()
    if on_task == "pmi":
        how = {task: guard(task) for task in tasks}
    else:
        how = {task: {"pool": task_subjects(task)} for task in tasks}
    for _, rec in tqdm(records.iterrows(), total=len(records), desc="scoring"):
        s = score_response(rec["subject"], rec["response"])
        g = score_guarded(rec["subject"], rec["response"], **how[rec["task"]])
        row = {
            "originality": s.originality,
            "elaboration": s.elaboration,
            "fluency": s.fluency,
            "flexibility": s.flexibility,
            "guarded_originality": g.guarded_originality,
            "appropriateness": g.appropriateness,
            "readability": g.readability,
            "valid_ideas": g.valid_ideas,
        }
        if judge is not None:
            for rubric in ("originality", "elaboration"):
                result = judge.score(rubric, question=rec["prompt"], response=rec["response"], task=rec["task"])
                row[f"judge_{rubric}"] = result.score
                row[f"judge_{rubric}_failures"] = len(result.failures)
        turns = rec.get("turns")
        if isinstance(turns, list) and turns:
            row.update(_turn_scores(rec, turns, how[rec["task"]], judge))
        rows.append(row)
        for core, orig in zip(s.cores, s.idea_originality):
            ideas.append(
                {
                    "task": rec["task"],
                    "method": rec["method"],
                    "item_id": rec["item_id"],
                    "core_idea": core,
                    "originality": orig,
                }
            )
    scored = pd.concat([records.reset_index(drop=True), pd.DataFrame(rows)], axis=1)
    scored["scorer"] = PROXY_LABEL
    return scored, pd.DataFrame(ideas)


def _turn_scores(rec, turns: list[str], guard_kwargs: dict, judge) -> dict:
    """The paper's Discussion score: every assistant turn scored on its own, then averaged."""
    proxy = [score_response(rec["subject"], t).originality for t in turns]
    guarded = [score_guarded(rec["subject"], t, **guard_kwargs).guarded_originality for t in turns]
    row = {"turn_originality": _mean(proxy), "turn_guarded_originality": _mean(guarded), "n_turns": len(turns)}
    if judge is not None:
        for rubric in ("originality", "elaboration"):
            values = [judge.score(rubric, question=rec["prompt"], response=t, task=rec["task"]).score for t in turns]
            row[f"judge_turn_{rubric}"] = _mean(values)
    return row


def _mean(values) -> float:
    """Mean over the values that exist (None and NaN left out); NaN when none does."""
    kept = [float(v) for v in values if v is not None and not np.isnan(v)]
    return float(np.mean(kept)) if kept else float("nan")


def summarize(scored: pd.DataFrame, seed: int = 0, n_boot: int = 1000) -> pd.DataFrame:
    """Tidy summary: task, method, metric, n, mean, std, ci_low, ci_high (95% bootstrap).

    Each (task, method, metric) draws from its own seeded stream, so its CI does not change when
    a resumed run adds other tasks or methods to the table."""
    rows = []
    for (task, method), group in scored.groupby(["task", "method"], sort=True):
        for metric in [m for m in (*METRICS, *GUARDED_METRICS, *TURN_METRICS, *JUDGE_METRICS) if m in group]:
            values = group[metric].dropna().to_numpy(dtype=float)
            if len(values) == 0:
                continue
            rng = np.random.default_rng([seed, zlib.crc32(f"{task}/{method}/{metric}".encode())])
            boots = rng.choice(values, size=(n_boot, len(values)), replace=True).mean(1)
            rows.append(
                {
                    "task": task,
                    "method": method,
                    "metric": metric,
                    "n": len(values),
                    "mean": values.mean(),
                    "std": values.std(ddof=1) if len(values) > 1 else 0.0,
                    "ci_low": np.quantile(boots, 0.025),
                    "ci_high": np.quantile(boots, 0.975),
                    "scorer": _scorer(metric),
                }
            )
    return pd.DataFrame(rows)


def _scorer(metric: str) -> str:
    if metric.startswith("judge_"):
        return "LLM judge"
    return GUARDED_LABEL if metric in (*GUARDED_METRICS, "turn_guarded_originality") else PROXY_LABEL


def efficiency(scored: pd.DataFrame, price_in: float, price_out: float, by_task: bool = False) -> pd.DataFrame:
    """Per-query cost of each method (means over items), with ratios to BILLY when present.

    Only items that *every* method answered count (``n`` says how many), so that the ratios
    compare the same queries even when one method (e.g. LLM Discussion) ran on fewer tasks.
    ``by_task=True`` gives one row per task and method, with ratios to BILLY on the same task.
    """
    keys = scored[["task", "item_id"]].apply(tuple, axis=1)
    common = set.intersection(*(set(keys[scored["method"] == m]) for m in scored["method"].unique()))
    if not common:
        raise ValueError("no task item was answered by every method, so their costs cannot be compared")
    scored = scored[keys.isin(common)]
    groups = ["task", "method"] if by_task else ["method"]
    grouped = scored.groupby(groups)
    table = grouped[["seconds", "input_tokens", "output_tokens", "forward_passes", "calls"]].mean()
    table["cost_usd"] = (table["input_tokens"] * price_in + table["output_tokens"] * price_out) / 1e6
    table["n"] = grouped.size()
    table["tasks"] = grouped["task"].agg(lambda t: ",".join(sorted(set(t))))
    table = table.reset_index()
    billy = table[table["method"] == "billy"].set_index("tasks")
    if not billy.empty:
        for column in ("seconds", "input_tokens", "output_tokens", "cost_usd"):
            table[f"{column}_vs_billy"] = table[column] / table["tasks"].map(billy[column])
    return table
