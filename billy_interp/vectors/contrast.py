"""D+ / D- data for one persona: plan, generate (batched, seeded, resumable), filter.

Every response is one row of a tidy table: persona, split (extract/eval), question kind
(topical/shared), question, instruction pair, sign (+1 = D+, -1 = D-), sample, seed, system
prompt, response, token counts, and after filtering the trait and coherence scores with the
keep decision and its reason.

Resumability: finished generation chunks are appended to ``responses.jsonl`` in the run
directory, one complete JSON line per row, flushed per chunk. On restart the plan is rebuilt
(it is deterministic), rows already on disk are skipped, and a torn last line is ignored. Chunk
``k`` samples with seed ``seed * 100003 + k``, so a resumed run gives the same rows as an
uninterrupted one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
from tqdm.auto import tqdm

from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.model import SteerableModel
from billy_interp.io import JsonlLog, RunSettingsError, locked, read_json, write_json
from billy_interp.scoring.judge import Judge
from billy_interp.vectors.personas import Persona, QuestionKind, shared_questions

__all__ = [
    "ContrastPlan",
    "plan_contrast",
    "generate_contrast",
    "open_contrast_log",
    "pending_chunks",
    "generate_chunk",
    "contrast_table",
    "filter_contrast",
    "table_hash",
    "RESPONSES_FILE",
]

RESPONSES_FILE = "responses.jsonl"
PLAN_FILE = "plan.json"  # the plan and persona the log's answers were generated with
Split = Literal["extract", "eval"]
FILTER_RULES = ("median", "adaptive")  # ours; the paper's adaptive thresholds
KEEP_ORDERS = ("ranked", "first")  # which rows a per-side cap keeps: most trait-like, or generation order


@dataclass(frozen=True)
class ContrastPlan:
    """What to generate for one persona."""

    question_kinds: tuple[QuestionKind, ...] = ("topical",)
    splits: tuple[Split, ...] = ("extract", "eval")
    n_samples: int = 2
    n_eval_samples: int = 1
    max_new_tokens: int = 64
    temperature: float = 1.0
    seed: int = 0
    batch_size: int = 16

    def __post_init__(self) -> None:
        if self.n_samples < 1 or self.n_eval_samples < 0:
            raise ValueError("n_samples must be >= 1 and n_eval_samples >= 0")
        for kind in self.question_kinds:
            if kind not in ("topical", "shared"):
                raise ValueError(f"unknown question kind {kind!r}; use 'topical' or 'shared'")


def plan_contrast(persona: Persona, plan: ContrastPlan) -> pd.DataFrame:
    """One row per response to generate, in a fixed order (the order defines the chunks)."""
    rows = []
    for split in plan.splits:
        n = plan.n_samples if split == "extract" else plan.n_eval_samples
        for kind in plan.question_kinds:
            questions = persona.questions_for(kind, split)
            if not questions:
                raise ValueError(f"persona {persona.name!r} has no {kind} {split} questions")
            for qi, question in enumerate(questions):
                for pair in range(len(persona.instruction_pairs)):
                    for sign in (1, -1):
                        for sample in range(n):
                            rows.append(
                                dict(
                                    persona=persona.name,
                                    split=split,
                                    question_kind=kind,
                                    question_id=f"{kind}-{split}-{qi}",
                                    question=question,
                                    pair=pair,
                                    sign=sign,
                                    sample=sample,
                                    system=persona.system_prompt(pair, sign),
                                )
                            )
    table = pd.DataFrame(rows)
    table.insert(0, "row_id", range(len(table)))
    return table


def generate_contrast(
    model: SteerableModel, persona: Persona, plan: ContrastPlan, run_dir: str | Path, *, progress: bool = True
) -> pd.DataFrame:
    """Generate every planned response not already in ``run_dir``; return the full table."""
    with open_contrast_log(run_dir, persona, plan) as log:
        done = {int(r["row_id"]): r for r in log.read()}
        for index, chunk in tqdm(pending_chunks(persona, plan, done), desc=f"D± {persona.name}", disable=not progress):
            records = generate_chunk(model, chunk, plan, index)
            log.append(records)  # the whole chunk as whole lines
            done.update({r["row_id"]: r for r in records})
        return contrast_table(persona, plan, done)


@contextmanager
def open_contrast_log(run_dir: str | Path, persona: Persona, plan: ContrastPlan) -> Iterator[JsonlLog]:
    """The run directory's resume log, locked, once it is known to hold this plan's answers only."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with locked(run_dir):
        _check_plan(run_dir, persona, plan)
        yield JsonlLog(run_dir / RESPONSES_FILE)


def _check_plan(run_dir: Path, persona: Persona, plan: ContrastPlan) -> None:
    """A log holds the answers of one plan and persona: another plan (every setting, batch size
    included, decides which seed each chunk samples with) may not resume it."""
    settings = json.loads(json.dumps({"plan": asdict(plan), "persona": persona.to_dict()}))
    path = run_dir / PLAN_FILE
    if path.exists():
        before = read_json(path)
        if before != settings:
            old, new = (
                {**before.get("plan", {}), "persona": before.get("persona")},
                {**settings["plan"], "persona": settings["persona"]},
            )
            changed = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
            raise RunSettingsError(
                f"{run_dir} holds D+/D- answers generated with other settings ({', '.join(changed)}); "
                "use another run directory (--run-dir) or the same settings"
            )
    else:
        write_json(settings, path)


def pending_chunks(persona: Persona, plan: ContrastPlan, done: Mapping[int, dict]) -> list[tuple[int, pd.DataFrame]]:
    """(chunk index, rows) of the plan's generation chunks that still miss an answer. A chunk's
    sampling seed follows from its index, so it gives the same answers wherever it runs."""
    table = plan_contrast(persona, plan)
    chunks = [table.iloc[i : i + plan.batch_size] for i in range(0, len(table), plan.batch_size)]
    return [(i, chunk) for i, chunk in enumerate(chunks) if not all(int(r) in done for r in chunk["row_id"])]


def generate_chunk(model: SteerableModel, chunk: pd.DataFrame, plan: ContrastPlan, index: int) -> list[dict]:
    """Sample chunk ``index`` of the plan: one resume-log record per row."""
    seed = plan.seed * 100003 + index
    config = GenerationConfig(
        max_new_tokens=plan.max_new_tokens,
        do_sample=True,
        temperature=plan.temperature,
        seed=seed,
        batch_size=plan.batch_size,
    )
    result = generate(model, list(chunk["question"]), config, system=list(chunk["system"]))
    return [
        {
            "row_id": int(row["row_id"]),
            "seed": seed,
            "response": text,
            "response_ids": ids,
            "prompt_tokens": n_prompt,
            "response_tokens": len(ids),
        }
        for (_, row), text, ids, n_prompt in zip(chunk.iterrows(), result.texts, result.token_ids, result.prompt_tokens)
    ]


def contrast_table(persona: Persona, plan: ContrastPlan, done: Mapping[int, dict]) -> pd.DataFrame:
    """The plan's table with each row's generated answer (``done``: row id -> resume-log record)."""
    table = plan_contrast(persona, plan)
    generated = pd.DataFrame([done[int(r)] for r in table["row_id"]])
    return table.merge(generated, on="row_id", how="left")


def filter_contrast(
    table: pd.DataFrame,
    persona: Persona,
    *,
    keep_per_side: int | None = None,
    enabled: bool = True,
    judge: Judge | None = None,
    rule: str = "median",
    keep: str = "ranked",
) -> pd.DataFrame:
    """Add trait/coherence scores and a ``kept`` flag with a ``filter_reason``.

    Offline rules (a proxy for the paper's judge filter): drop degenerate text; keep D+ rows
    whose trait score is at least the D- median and D- rows at most the D+ median (on the
    extract split only; eval rows are all kept so held-out AUC sees everything); then keep at
    most ``keep_per_side`` rows per sign, the most (D+) or least (D-) trait-like first
    (``keep="ranked"``) or the first in generation order (``keep="first"``, the paper's).

    ``rule="adaptive"`` is the paper's adaptive thresholds (its multi-role vector code): D+ keeps
    trait >= max(mid, D+ median), D- keeps trait <= min(mid, D- median), where ``mid`` is the
    scale's midpoint (the judge's 50; 0 for the offline score, where 0 means "as close to the
    persona as to a neutral assistant"); with the judge, when the D- median is above 70 the paper
    asks D+ >= max(D+ median, 80) and D- <= D- median instead.

    With a ``judge``, the paper's rule replaces the offline one: D+ needs judge trait >= 50,
    D- trait < 50, both coherence >= 50; rows the judge could not score are dropped and say so.
    """
    from billy_interp.scoring.embeddings import coherence, trait_scores

    table = table.copy()
    neutral = shared_questions().neutral_description
    table["trait_score"] = trait_scores(list(table["response"].fillna("")), persona.description, neutral).tolist()
    checks = [coherence(t) for t in table["response"].fillna("")]
    table["distinct_2"] = [c.distinct_2 for c in checks]
    table["coherent"] = [c.is_coherent for c in checks]
    table["kept"] = True
    table["filter_reason"] = ""
    if not enabled:
        return table
    extract = table["split"] == "extract"
    if rule not in FILTER_RULES or keep not in KEEP_ORDERS:
        raise ValueError(
            f"filter rule must be one of {FILTER_RULES} and keep one of {KEEP_ORDERS}, got {rule!r}, {keep!r}"
        )
    if judge is not None:
        return _judge_filter(table, persona, judge, extract, keep_per_side, rule, keep)
    incoherent = extract & ~table["coherent"]
    table.loc[incoherent, "kept"] = False
    table.loc[incoherent, "filter_reason"] = [c.reason for c, bad in zip(checks, incoherent) if bad]
    pos, neg = _live_sides(table, extract)
    if pos.any() and neg.any():
        if rule == "adaptive":
            _adaptive(table, pos, neg, "trait_score", midpoint=0.0, high=None)
        else:
            neg_median, pos_median = table.loc[neg, "trait_score"].median(), table.loc[pos, "trait_score"].median()
            weak = pos & (table["trait_score"] < neg_median)
            leaky = neg & (table["trait_score"] > pos_median)
            table.loc[weak, ["kept", "filter_reason"]] = [False, "D+ trait below D- median"]
            table.loc[leaky, ["kept", "filter_reason"]] = [False, "D- trait above D+ median"]
    return _cap_per_side(table, extract, keep_per_side, "trait_score", keep)


def _live_sides(table: pd.DataFrame, extract: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The extract rows still kept, D+ and D-."""
    live = extract & table["kept"]
    return live & (table["sign"] == 1), live & (table["sign"] == -1)


def _adaptive(table: pd.DataFrame, pos: pd.Series, neg: pd.Series, score: str, midpoint: float, high) -> None:
    """The paper's adaptive thresholds on ``score`` (see :func:`filter_contrast`), in place."""
    pos_median, neg_median = table.loc[pos, score].median(), table.loc[neg, score].median()
    if high is not None and neg_median > high:
        pos_cut, neg_cut = max(pos_median, 80.0), neg_median
    else:
        pos_cut, neg_cut = max(midpoint, pos_median), min(midpoint, neg_median)
    weak, leaky = pos & (table[score] < pos_cut), neg & (table[score] > neg_cut)
    table.loc[weak, ["kept", "filter_reason"]] = [False, f"D+ trait below adaptive cut {pos_cut:.3g}"]
    table.loc[leaky, ["kept", "filter_reason"]] = [False, f"D- trait above adaptive cut {neg_cut:.3g}"]


def _cap_per_side(
    table: pd.DataFrame, extract: pd.Series, keep_per_side: int | None, score: str, keep: str = "ranked"
) -> pd.DataFrame:
    if keep_per_side is not None:
        for sign, ascending in ((1, False), (-1, True)):
            side = table[extract & table["kept"] & (table["sign"] == sign)]
            ordered = side if keep == "first" else side.sort_values(score, ascending=ascending)
            excess = ordered.index[keep_per_side:]
            table.loc[excess, ["kept", "filter_reason"]] = [False, f"beyond keep_per_side={keep_per_side}"]
    return table


def _judge_filter(
    table: pd.DataFrame,
    persona: Persona,
    judge: Judge,
    extract: pd.Series,
    keep_per_side: int | None,
    rule: str = "median",
    keep: str = "ranked",
) -> pd.DataFrame:
    trait, coherent, failures = [], [], []
    for _, row in table.iterrows():
        fields = dict(
            question=row["question"],
            response=row["response"] or "",
            persona_role=persona.role,
            persona_description=persona.description,
        )
        t, c = judge.score("trait", **fields), judge.score("coherence", **fields)
        trait.append(t.score)
        coherent.append(c.score)
        failures.append("; ".join(t.failures + c.failures))
    table["judge_trait"], table["judge_coherence"], table["judge_failures"] = trait, coherent, failures
    for index, row in table[extract].iterrows():
        if (
            row["judge_trait"] is None
            or row["judge_coherence"] is None
            or pd.isna(row["judge_trait"])
            or pd.isna(row["judge_coherence"])
        ):
            reason = f"judge failed: {row['judge_failures']}"
        elif row["judge_coherence"] < 50:
            reason = f"judge coherence {row['judge_coherence']:.0f} < 50"
        elif rule == "adaptive":
            continue  # trait thresholds come from the medians, below
        elif row["sign"] == 1 and row["judge_trait"] < 50:
            reason = f"D+ judge trait {row['judge_trait']:.0f} < 50"
        elif row["sign"] == -1 and row["judge_trait"] >= 50:
            reason = f"D- judge trait {row['judge_trait']:.0f} >= 50"
        else:
            continue
        table.loc[index, ["kept", "filter_reason"]] = [False, reason]
    if rule == "adaptive":
        pos, neg = _live_sides(table, extract)
        if pos.any() and neg.any():
            _adaptive(table, pos, neg, "judge_trait", midpoint=50.0, high=70.0)
    return _cap_per_side(table, extract, keep_per_side, "judge_trait", keep)


def table_hash(table: pd.DataFrame, columns: Sequence[str] = ("row_id", "system", "question", "response")) -> str:
    """SHA-256 of the data a vector was extracted from (recorded in its metadata)."""
    import hashlib

    payload = table[list(columns)].to_json(orient="records").encode("utf-8")
    return hashlib.sha256(payload).hexdigest()
