"""The benchmark job: the paper's methods on WKCT tasks, scored and costed.

    python -m billy_interp.benchmark --task aut --methods sa,sa_t1,mrp,discussion,billy --n 20 --seed 0 \\
        --out runs/benchmark/aut
    python -m billy_interp.benchmark --task aut --ablation --n 20 --out runs/ablation   # 1..7 personas
    python -m billy_interp.benchmark --items my_items.csv --task all   # your own items (task, subject[, prompt])

Writes to ``--out``: ``responses.jsonl`` (append-only; the resume log), ``responses.csv`` (one
row per task x method x item, with offline scores and cost), ``ideas.csv`` (one row per idea),
``summary.csv`` (mean, std and 95% bootstrap CI per task x method x metric),
``efficiency.csv`` (per-query time, tokens, forward passes, calls and cost, with ratios to BILLY;
``efficiency_by_task.csv`` per task), and ``methods.json`` (each method's decoding and steering:
a resumed run refuses to add answers made with other settings). All scores are the offline
proxy unless ``--judge-model`` is given. A killed run continues with the same command.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import pandas as pd

from billy_interp import paper
from billy_interp.core.model import SteerableModel
from billy_interp.evaluation.benchmark import AnswerUnit, answer_unit, answer_units, efficiency, score, summarize
from billy_interp.evaluation.items import items_for_tasks
from billy_interp.evaluation.methods import METHOD_NAMES, Method, make_method
from billy_interp.evaluation.protocol import PROTOCOL_NAMES, get_protocol
from billy_interp.evaluation.tasks import TASKS, TaskItem, load_task, sample_items
from billy_interp.io import (
    JsonlLog,
    check_method_settings,
    claim_run_dir,
    read_jsonl_log,
    record_run,
    write_csv,
)
from billy_interp.jobs.executors import EXECUTOR_OPTIONS, ExecutorOptions, load_config_model, open_executor
from billy_interp.options import VECTORS_DIR_HELP, UsageError, parse_names
from billy_interp.scoring.creativity import PROXY_LABEL
from billy_interp.scoring.judge import JUDGE_PROTOCOLS
from billy_interp.vectors.library import check_vectors_available, load_vectors
from billy_interp.vectors.merging import MergeRecipe, merge, parse_recipe

__all__ = ["BenchmarkConfig", "ABLATION_ORDER", "run_benchmark"]

# The paper's Appendix D order is not given; ours adds the default recipe's personas first.
ABLATION_ORDER = (
    "creative_professional",
    "environmentalist",
    "futurist",
    "analytical_thinker",
    "visionary_millionaire",
    "social_entrepreneur",
    "academic_researcher",
)


@dataclass(frozen=True)
class BenchmarkConfig(ExecutorOptions):
    """Run creativity methods on WKCT tasks with one local model."""

    task: str = field(default="aut", metadata={"help": "aut, instances, similarities, scientific, or 'all'"})
    methods: str = field(
        default="sa,sa_t1,mrp,discussion,billy",
        metadata={
            "help": "comma-separated: sa, sa_t1, mrp, discussion, billy, control (BILLY's decoding, "
            "unsteered), billy_tuned, billy_published (the paper's code as published: steers with the "
            "recipe's first vector only)"
        },
    )
    protocol: str = field(
        default="paper",
        metadata={"help": "paper (5-item prompts, the paper's budgets, MRP and Discussion) or discussion (open-ended)"},
    )
    n: int = field(default=20, metadata={"help": "items per task (deterministic subset; ignored with --items)"})
    items: str = field(
        default="",
        metadata={
            "help": "your own items: a JSON or CSV file of task, subject[, prompt][, item_id] "
            "(empty prompt: the task's template); --task filters it, 'all' takes every task in it"
        },
    )
    seed: int = field(default=0, metadata={"help": "subset and sampling seed"})
    model: str = field(default="embedded", metadata={"help": "HF name or path"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    vectors_dir: str = field(default="", metadata={"help": VECTORS_DIR_HELP})
    recipe: str = field(default=paper.PAPER_RECIPE_TEXT, metadata={"help": "BILLY merge recipe"})
    paper_layer: int = field(default=paper.PAPER_LAYER, metadata={"help": "steering layer, hidden-state index"})
    alpha: float = field(default=paper.PAPER_ALPHA, metadata={"help": "raw steering strength"})
    tuned: str = field(
        default="",
        metadata={
            "help": "for method billy_tuned: 'LAYER:ALPHA' (paper layer, raw alpha) "
            "or a layer_sweep run dir (its recommended.json)"
        },
    )
    ablation: bool = field(default=False, metadata={"help": "BILLY with 1..7 merged personas instead of --methods"})
    matched_decoding: bool = field(default=False, metadata={"help": "give every method BILLY's decoding"})
    max_new_tokens: int = field(
        default=0,
        metadata={"help": "tokens per answer (per turn in discussion) for every method; 0: the protocol's budgets"},
    )
    rounds: int = field(default=paper.DISCUSSION_ROUNDS, metadata={"help": "LLM Discussion rounds"})
    batch_size: int = field(default=16, metadata={"help": "generation batch size"})
    judge_model: str = field(default="", metadata={"help": "also score with an OpenAI-compatible judge (1-5 rubric)"})
    judge_base_url: str = field(default="", metadata={"help": "judge URL (default: $OPENAI_BASE_URL)"})
    judge_protocol: str = field(
        default="", metadata={"help": "strict or paper (the paper's prompts and parsing); empty: follow --protocol"}
    )
    judge_timeout: float = field(default=60.0, metadata={"help": "seconds to wait for one judge reply"})
    judge_retries: int = field(default=3, metadata={"help": "retries of a failed judge call (with backoff)"})
    score_only: bool = field(
        default=False, metadata={"help": "re-score and re-tabulate responses.jsonl; generate nothing"}
    )
    price_in: float = field(default=0.15, metadata={"help": "USD per million input tokens"})
    price_out: float = field(default=0.60, metadata={"help": "USD per million output tokens"})
    out: str = field(default="runs/benchmark", metadata={"help": "run directory (resumable)"})
    force: bool = field(default=False, metadata={"help": "if --out holds another run, start fresh in a sub-directory"})

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("n", "max_new_tokens", "rounds", "batch_size", "judge_retries"):
            minimum = 0 if name in ("judge_retries", "max_new_tokens") else 1
            if getattr(self, name) < minimum:
                raise UsageError(f"--{name.replace('_', '-')} must be >= {minimum}, got {getattr(self, name)}")
        if self.judge_timeout <= 0:
            raise UsageError(f"--judge-timeout must be > 0 seconds, got {self.judge_timeout}")
        if not math.isfinite(self.alpha) or self.paper_layer < 1:
            raise UsageError(f"--alpha must be finite and --paper-layer >= 1, got {self.alpha}, {self.paper_layer}")
        if self.items:
            self.task_items()
        for task in [] if self.items else self.tasks():
            available = load_task(task).n_unique  # type: ignore[arg-type]
            if self.n > available:
                raise UsageError(f"--n {self.n}: task {task!r} has only {available} distinct items")
        if self.judge_protocol not in ("", *JUDGE_PROTOCOLS):
            raise UsageError(f"--judge-protocol {self.judge_protocol!r}: use strict or paper")
        if self.protocol not in PROTOCOL_NAMES:
            raise UsageError(f"--protocol {self.protocol!r}: use one of {', '.join(PROTOCOL_NAMES)}")
        names = self.method_names()
        recipe = parse_recipe(self.recipe)
        if self.ablation:
            check_vectors_available(ABLATION_ORDER, self.vectors_dir, self.model, "--ablation")
        elif any(n.startswith("billy") for n in names):  # the steered methods read the recipe's vectors
            check_vectors_available(recipe.weights, self.vectors_dir, self.model, "--recipe")

    def tasks(self) -> list[str]:
        if self.task == "all":
            return list(self.task_items()) if self.items else list(TASKS)
        return parse_names(self.task, "--task", [*TASKS, "all"])

    def task_items(self) -> dict[str, list[TaskItem]]:
        """Each task's items (``--items`` or the seeded ``--n`` subset); protocol prompts apply later."""
        if not self.items:
            return {t: sample_items(load_task(t), self.n, self.seed) for t in self.tasks()}  # type: ignore[arg-type]
        return items_for_tasks(self.items, None if self.task == "all" else self.tasks())

    def method_names(self) -> list[str]:
        if self.ablation:
            return [f"billy_k{k}" for k in range(1, len(ABLATION_ORDER) + 1)]
        names = parse_names(self.methods, "--methods", [*METHOD_NAMES, "billy_tuned", "billy_published"])
        if "billy_tuned" in names:
            self.tuned_cell()
        return names

    def tuned_cell(self) -> tuple[int, float]:
        """(paper layer, raw alpha) for ``billy_tuned``: given directly or read from a sweep's recommendation."""
        if not self.tuned:
            raise ValueError("method billy_tuned needs --tuned LAYER:ALPHA or --tuned <layer_sweep run dir>")
        if ":" in self.tuned:
            layer, alpha = self.tuned.split(":", 1)
            try:
                return int(layer), float(alpha)
            except ValueError:
                raise ValueError(f"--tuned {self.tuned!r}: expected LAYER:ALPHA such as 2:8") from None
        path = Path(self.tuned) / "recommended.json"
        if not path.exists():
            raise ValueError(f"--tuned {self.tuned!r}: no {path}; run python -m billy_interp.layer_sweep first")
        recommended = json.loads(path.read_text())
        if "objective" not in recommended:  # made before the guarded recommender (trait gain, no readability guard)
            raise ValueError(
                f"{path} comes from an older recommender; rerun python -m billy_interp.layer_sweep --out "
                f"{self.tuned} (it only recomputes the recommendation)"
            )
        cell = recommended.get("cell")
        if not cell:
            raise ValueError(f"{path} recommends no cell, so there is nothing to tune BILLY with")
        return int(cell["paper_layer"]), float(cell["alpha"])


def _steering_specs(config: BenchmarkConfig) -> dict[str, dict | None]:
    """Each method name -> the recipe, paper layer and raw alpha it steers with (None: unsteered).
    The ablation's ``billy_k<k>`` merge the first k personas of :data:`ABLATION_ORDER`."""

    def spec(recipe: MergeRecipe, layer: int, alpha: float) -> dict:
        return {"recipe": recipe.to_dict(), "paper_layer": layer, "alpha": alpha}

    if config.ablation:
        return {
            f"billy_k{k}": spec(MergeRecipe.from_list(ABLATION_ORDER[:k]), config.paper_layer, config.alpha)
            for k in range(1, len(ABLATION_ORDER) + 1)
        }
    recipe = parse_recipe(config.recipe)
    steered = {
        "billy": lambda: spec(recipe, config.paper_layer, config.alpha),
        "billy_tuned": lambda: spec(recipe, *config.tuned_cell()),
        # the published code loads every recipe vector but steers with the first one's only
        "billy_published": lambda: spec(
            MergeRecipe.from_list([next(iter(recipe.weights))]), config.paper_layer, config.alpha
        ),
    }
    return {name: steered[name]() if name in steered else None for name in config.method_names()}


def _method(model: SteerableModel, config: BenchmarkConfig, name: str, spec: dict | None) -> Method:
    common = dict(
        max_new_tokens=config.max_new_tokens or None,
        protocol=config.protocol,
        seed=config.seed,
        batch_size=config.batch_size,
        matched_decoding=config.matched_decoding,
        rounds=config.rounds,
        billy_temperature=model.default_temperature,
    )
    if spec is None:
        return make_method(name, **common)
    recipe = MergeRecipe.from_dict(spec["recipe"])
    vectors = load_vectors(list(recipe.weights), model, source=config.vectors_dir or None)
    model.layers.resolve(layer=spec["paper_layer"], option="--tuned" if name == "billy_tuned" else "--paper-layer")
    steering = merge(vectors, recipe).steering(spec["alpha"], layer=spec["paper_layer"], model=model)
    return replace(make_method("billy", steering=steering, source=spec, **common), name=name)


@dataclass(frozen=True)
class _Context:
    """A worker's loaded model and the methods built on it."""

    model: SteerableModel
    specs: dict[str, dict | None]  # what each method steers with (None: unsteered)
    methods: dict[str, Method]


def _context(config: BenchmarkConfig, model: SteerableModel | None = None) -> _Context:
    model = model or load_config_model(config)
    specs = _steering_specs(config)
    return _Context(model, specs, {name: _method(model, config, name, spec) for name, spec in specs.items()})


def _describe(context: _Context, config: BenchmarkConfig) -> tuple[dict[str, dict], dict[str, int]]:
    """Each method's settings (for methods.json) and its items per :meth:`Method.run` call."""
    described = {
        name: {
            **method.describe(context.model),
            "model": config.model,
            "steering_source": context.specs[name],
            "protocol": config.protocol,
        }
        for name, method in context.methods.items()
    }
    return described, {name: m.items_per_call(config.batch_size) for name, m in context.methods.items()}


def _answer(context: _Context, unit: AnswerUnit) -> list[dict]:
    return answer_unit(context.model, context.methods[unit.method], unit)


def _generate(executor, config: BenchmarkConfig, steps: dict[str, int], records: list[dict]) -> pd.DataFrame:
    protocol = get_protocol(config.protocol)
    items = {t: protocol.items(chosen) for t, chosen in config.task_items().items()}
    log = JsonlLog(Path(config.out) / "responses.jsonl")
    new: list[dict] = []

    def finished(_unit: AnswerUnit, answers: list[dict]) -> None:
        log.append(answers)  # whole lines, one write per unit
        new.extend(answers)

    executor.map(_answer, answer_units(items, steps, records), finished, desc="answer chunks")
    return pd.DataFrame([*records, *new])


# Settings a resumed run may change: tasks, methods and items are added or left out of the tables,
# and every method's own settings are guarded by methods.json.
MAY_CHANGE = (
    "task",
    "methods",
    "n",
    "items",
    "ablation",
    "recipe",
    "paper_layer",
    "alpha",
    "tuned",
    "matched_decoding",
    "max_new_tokens",
    "rounds",
    "batch_size",
    "judge_model",
    "judge_base_url",
    "judge_protocol",
    "judge_timeout",
    "judge_retries",
    "score_only",
    "price_in",
    "price_out",
    "device",
    *EXECUTOR_OPTIONS,
)
MODULE = "billy_interp.benchmark"


def run_benchmark(config: BenchmarkConfig, model: SteerableModel | None = None) -> pd.DataFrame:
    """The benchmark job: generate what is missing (unless ``score_only``), score, tabulate;
    returns the summary table. The tables cover exactly this config's tasks, methods and items.
    Under ``executor="ray"`` the answer chunks run on Ray workers (each loads ``config.model``)."""
    if model is not None and config.executor != "local":
        raise ValueError("a model object stays in this process: with --executor ray the workers load --model")
    if config.score_only:
        records = pd.DataFrame(read_jsonl_log(Path(config.out) / "responses.jsonl"))
        if records.empty:
            raise ValueError(f"--score-only: {Path(config.out) / 'responses.jsonl'} holds no responses to score")
        return _tabulate(_selected(records, config), config)
    with claim_run_dir(config.out, config, MODULE, may_change=MAY_CHANGE, force=config.force, record=False) as out:
        config = replace(config, out=str(out))  # a --force run writes to its fresh sub-directory
        records = read_jsonl_log(out / "responses.jsonl")
        local = _context(config, model) if model is not None else None
        with open_executor(config, partial(_context, config), local) as executor:
            described, steps = executor.call(_describe, config)
            # refuses changed settings before anything is recorded
            check_method_settings(out, described, {r["method"] for r in records})
            record_run(out, config, MODULE, MAY_CHANGE)
            answers = _generate(executor, config, steps, records)
        return _tabulate(_selected(answers, config), config)


def _selected(records: pd.DataFrame, config: BenchmarkConfig) -> pd.DataFrame:
    """The answers this config asks for; the log may hold more (other tasks, methods or a larger
    ``n`` from earlier runs), which stay in the log but not in the tables, and say so. Rows come
    in task, method, item order, not in the order they were answered (which depends on resumes
    and on which worker finished first)."""
    wanted = [
        (t, m, i.item_id) for t, chosen in config.task_items().items() for m in config.method_names() for i in chosen
    ]
    rank = {key: position for position, key in enumerate(wanted)}
    keys = list(zip(records["task"], records["method"], records["item_id"]))
    order = sorted((row for row, key in enumerate(keys) if key in rank), key=lambda row: rank[keys[row]])
    left_out = len(keys) - len(order)
    if left_out:
        print(
            f"{left_out} answers in the log are outside this run's tasks, methods or items "
            f"({'--items ' + config.items if config.items else f'--n {config.n}'}); "
            "they stay in responses.jsonl and are not in the tables"
        )
    return records.iloc[order].reset_index(drop=True)


def _tabulate(records: pd.DataFrame, config: BenchmarkConfig) -> pd.DataFrame:
    judge = None
    if config.judge_model:
        from billy_interp.scoring.judge import Judge, JudgeConfig

        judge = Judge(
            JudgeConfig(
                model=config.judge_model,
                base_url=config.judge_base_url or None,
                timeout_seconds=config.judge_timeout,
                max_retries=config.judge_retries,
                protocol=config.judge_protocol or get_protocol(config.protocol).judge,
            )
        )
    scored, ideas = score(records, judge)
    out = Path(config.out)
    write_csv(scored.drop(columns=["turns"], errors="ignore"), out / "responses.csv")  # turns stay in the JSONL
    write_csv(ideas, out / "ideas.csv")
    summary = summarize(scored, config.seed)
    write_csv(summary, out / "summary.csv")
    eff = efficiency(scored, config.price_in, config.price_out)
    write_csv(eff, out / "efficiency.csv")
    write_csv(efficiency(scored, config.price_in, config.price_out, by_task=True), out / "efficiency_by_task.csv")
    print(summary[summary["metric"] == "originality"].to_string(index=False))
    print(eff.to_string(index=False))
    print(f"scores are an {PROXY_LABEL}; tables in {out}")
    return summary
