"""``python -m billy_interp.benchmark``: the paper's methods on WKCT tasks, scored and costed.

    python -m billy_interp.benchmark --task aut --methods sa,sa_t1,mrp,discussion,billy --n 20 --seed 0 \\
        --out runs/benchmark/aut
    python -m billy_interp.benchmark --task aut --ablation --n 20 --out runs/ablation   # 1..7 personas

Writes to ``--out``: ``responses.jsonl`` (append-only; the resume log), ``responses.csv`` (one
row per task x method x item, with offline scores and cost), ``ideas.csv`` (one row per idea),
``summary.csv`` (mean, std and 95% bootstrap CI per task x method x metric),
``efficiency.csv`` (per-query time, tokens, forward passes, calls and cost, with ratios to BILLY;
``efficiency_by_task.csv`` per task), and ``methods.json`` (each method's decoding and steering:
a resumed run refuses to add answers made with other settings).
All scores are the offline proxy unless ``--judge-model`` is given. A killed run continues where
it stopped with the same command.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from billy_interp.artifacts import read_jsonl_log, write_csv, write_json
from billy_interp.cli import parse_config, write_run_record
from billy_interp.creativity import PROXY_LABEL, score_response
from billy_interp.merge import DEFAULT_VECTORS_DIR, load_persona_vectors, parse_recipe
from billy_interp.methods import METHOD_NAMES, Method, make_method
from billy_interp.model import SteerableModel, load_model
from billy_interp.tasks import TASKS, load_task, sample_items
from billy_interp.vectors import MergeRecipe, merge

__all__ = ["BenchmarkConfig", "ABLATION_ORDER", "run_benchmark", "summarize", "efficiency", "main"]

# The paper's Appendix D order is not given; ours adds the default recipe's personas first.
ABLATION_ORDER = ("creative_professional", "environmentalist", "futurist", "analytical_thinker",
                  "visionary_millionaire", "social_entrepreneur", "academic_researcher")
METRICS = ("originality", "elaboration", "fluency", "flexibility")
METHODS_FILE = "methods.json"  # each method's settings, checked when a run resumes


@dataclass(frozen=True)
class BenchmarkConfig:
    """Run creativity methods on WKCT tasks with one local model."""

    task: str = field(default="aut", metadata={"help": "aut, instances, similarities, scientific, or 'all'"})
    methods: str = field(default="sa,sa_t1,mrp,discussion,billy", metadata={
        "help": "comma-separated: sa, sa_t1, mrp, discussion, billy, control (BILLY's decoding, unsteered), billy_tuned"})
    n: int = field(default=20, metadata={"help": "items per task (deterministic subset)"})
    seed: int = field(default=0, metadata={"help": "subset and sampling seed"})
    model: str = field(default="embedded", metadata={"help": "HF name or path"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    vectors_dir: str = field(default=DEFAULT_VECTORS_DIR, metadata={"help": "persona vectors for BILLY"})
    recipe: str = field(default="creative_professional,environmentalist,futurist,futurist",
                        metadata={"help": "BILLY merge recipe"})
    paper_layer: int = field(default=20, metadata={"help": "steering layer, hidden-state index"})
    alpha: float = field(default=2.0, metadata={"help": "raw steering strength"})
    tuned: str = field(default="", metadata={"help": "for method billy_tuned: 'LAYER:ALPHA' (paper layer, raw alpha) "
                                                     "or a layer_sweep run dir (its recommended.json)"})
    ablation: bool = field(default=False, metadata={"help": "BILLY with 1..7 merged personas instead of --methods"})
    matched_decoding: bool = field(default=False, metadata={"help": "give every method BILLY's decoding"})
    max_new_tokens: int = field(default=256, metadata={"help": "tokens per answer (per turn in discussion)"})
    rounds: int = field(default=5, metadata={"help": "LLM Discussion rounds"})
    batch_size: int = field(default=16, metadata={"help": "generation batch size"})
    judge_model: str = field(default="", metadata={"help": "also score with an OpenAI-compatible judge (1-5 rubric)"})
    judge_base_url: str = field(default="", metadata={"help": "judge URL (default: $OPENAI_BASE_URL)"})
    score_only: bool = field(default=False, metadata={"help": "re-score and re-tabulate responses.jsonl; generate nothing"})
    price_in: float = field(default=0.15, metadata={"help": "USD per million input tokens"})
    price_out: float = field(default=0.60, metadata={"help": "USD per million output tokens"})
    out: str = field(default="runs/benchmark", metadata={"help": "run directory (resumable)"})

    def tasks(self) -> list[str]:
        names = list(TASKS) if self.task == "all" else [t.strip() for t in self.task.split(",")]
        for name in names:
            if name not in TASKS:
                raise ValueError(f"unknown task {name!r}; use one of {TASKS} or 'all'")
        return names

    def method_names(self) -> list[str]:
        if self.ablation:
            return [f"billy_k{k}" for k in range(1, len(ABLATION_ORDER) + 1)]
        names = [m.strip() for m in self.methods.split(",") if m.strip()]
        for name in names:
            if name not in (*METHOD_NAMES, "billy_tuned"):
                raise ValueError(f"unknown method {name!r}; use any of {(*METHOD_NAMES, 'billy_tuned')}")
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
        cell = json.loads(path.read_text()).get("cell")
        if not cell:
            raise ValueError(f"{path} recommends no cell, so there is nothing to tune BILLY with")
        return int(cell["paper_layer"]), float(cell["alpha"])


def _steering_spec(config: BenchmarkConfig, name: str) -> dict | None:
    """Recipe, paper layer and raw alpha that a BILLY variant steers with (None: not steered)."""
    if name.startswith("billy_k"):
        recipe = MergeRecipe.from_list(ABLATION_ORDER[: int(name[len("billy_k"):])])
    elif name in ("billy", "billy_tuned"):
        recipe = parse_recipe(config.recipe)
    else:
        return None
    layer, alpha = config.tuned_cell() if name == "billy_tuned" else (config.paper_layer, config.alpha)
    return {"recipe": recipe.to_dict(), "paper_layer": layer, "alpha": alpha}


def _method(model: SteerableModel, config: BenchmarkConfig, name: str, spec: dict | None) -> Method:
    common = dict(max_new_tokens=config.max_new_tokens, seed=config.seed, batch_size=config.batch_size,
                  matched_decoding=config.matched_decoding, rounds=config.rounds,
                  billy_temperature=model.default_temperature)
    if spec is None:
        return make_method(name, **common)
    recipe = MergeRecipe.from_dict(spec["recipe"])
    vectors = load_persona_vectors(list(recipe.weights), config.vectors_dir, model)
    steering = merge(vectors, recipe).to_steering(spec["alpha"], [model.layers.paper_layer_hook(spec["paper_layer"])])
    return replace(make_method("billy", steering=steering, **common), name=name)


def _check_settings(out: Path, described: dict[str, dict], answered: set[str]) -> None:
    """Refuse to resume a method whose answers in ``out`` were made with other settings, so
    that no table silently mixes two configurations; record the settings of every method."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / METHODS_FILE
    before = json.loads(path.read_text()) if path.exists() else {}
    described = json.loads(json.dumps(described))  # compare as stored (tuples become lists)
    for name, settings in described.items():
        old = before.get(name)
        if name in answered and old is not None and old != settings:
            changed = sorted(k for k in {*old, *settings} if old.get(k) != settings.get(k))
            raise ValueError(f"{out} holds {name} answers made with other settings ({', '.join(changed)} "
                             f"differ; see {path}); use another --out")
    write_json({**before, **described}, path)


def run_benchmark(model: SteerableModel, config: BenchmarkConfig) -> pd.DataFrame:
    """Generate every (task, method, item) not yet in the run directory; return all records."""
    records = read_jsonl_log(Path(config.out) / "responses.jsonl")
    return _generate(model, config, _prepare_methods(model, config, records), records)


def _prepare_methods(model: SteerableModel, config: BenchmarkConfig, records: list[dict]) -> dict[str, Method]:
    specs = {name: _steering_spec(config, name) for name in config.method_names()}
    methods = {name: _method(model, config, name, spec) for name, spec in specs.items()}
    described = {name: {**method.describe(), "model": config.model, "steering_source": specs[name]}
                 for name, method in methods.items()}
    _check_settings(Path(config.out), described, {r["method"] for r in records})
    return methods


def _generate(model: SteerableModel, config: BenchmarkConfig, methods: dict[str, Method],
              records: list[dict]) -> pd.DataFrame:
    log = Path(config.out) / "responses.jsonl"
    done = {(r["task"], r["method"], r["item_id"]): r for r in records}
    with open(log, "a", encoding="utf-8") as handle:
        for task_name in config.tasks():
            items = sample_items(load_task(task_name), config.n, config.seed)  # type: ignore[arg-type]
            for method_name, method in methods.items():
                todo = [i for i in items if (task_name, method_name, i.item_id) not in done]
                if not todo:
                    continue
                step = max(1, config.batch_size // 4) if method_name == "discussion" else config.batch_size
                for start in tqdm(range(0, len(todo), step), desc=f"{task_name}/{method_name}"):
                    chunk = todo[start : start + step]
                    for item, result in zip(chunk, method.run(model, chunk)):
                        record = {"task": task_name, "subject": item.subject, "prompt": item.prompt,
                                  **{k: v for k, v in asdict(result).items() if k != "transcript"},
                                  "method": method_name}
                        done[(task_name, method_name, item.item_id)] = record
                        handle.write(json.dumps(record) + "\n")
                    handle.flush()
    return pd.DataFrame(list(done.values()))


def score(records: pd.DataFrame, judge=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Offline scores per response (and judge scores if a judge is given), and the per-idea table."""
    rows, ideas = [], []
    for _, rec in records.iterrows():
        s = score_response(rec["subject"], rec["response"])
        row = {"originality": s.originality, "elaboration": s.elaboration,
               "fluency": s.fluency, "flexibility": s.flexibility}
        if judge is not None:
            for rubric in ("originality", "elaboration"):
                result = judge.score(rubric, question=rec["prompt"], response=rec["response"])
                row[f"judge_{rubric}"] = result.score
                row[f"judge_{rubric}_failures"] = len(result.failures)
        rows.append(row)
        for core, orig in zip(s.cores, s.idea_originality):
            ideas.append({"task": rec["task"], "method": rec["method"], "item_id": rec["item_id"],
                          "core_idea": core, "originality": orig})
    scored = pd.concat([records.reset_index(drop=True), pd.DataFrame(rows)], axis=1)
    scored["scorer"] = PROXY_LABEL
    return scored, pd.DataFrame(ideas)


def summarize(scored: pd.DataFrame, seed: int = 0, n_boot: int = 1000) -> pd.DataFrame:
    """Tidy summary: task, method, metric, n, mean, std, ci_low, ci_high (95% bootstrap).

    Each (task, method, metric) draws from its own seeded stream, so its CI does not change when
    a resumed run adds other tasks or methods to the table."""
    rows = []
    for (task, method), group in scored.groupby(["task", "method"], sort=True):
        for metric in [m for m in (*METRICS, "judge_originality", "judge_elaboration") if m in group]:
            values = group[metric].dropna().to_numpy(dtype=float)
            if len(values) == 0:
                continue
            rng = np.random.default_rng([seed, zlib.crc32(f"{task}/{method}/{metric}".encode())])
            boots = rng.choice(values, size=(n_boot, len(values)), replace=True).mean(1)
            rows.append({"task": task, "method": method, "metric": metric, "n": len(values),
                         "mean": values.mean(), "std": values.std(ddof=1) if len(values) > 1 else 0.0,
                         "ci_low": np.quantile(boots, 0.025), "ci_high": np.quantile(boots, 0.975),
                         "scorer": "LLM judge" if metric.startswith("judge_") else PROXY_LABEL})
    return pd.DataFrame(rows)


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


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    config = parse_config(BenchmarkConfig, argv, __doc__)
    config.tasks(), config.method_names()  # validate before loading the model
    if config.score_only:
        records = pd.DataFrame(read_jsonl_log(Path(config.out) / "responses.jsonl"))
        if records.empty:
            raise ValueError(f"--score-only: {Path(config.out) / 'responses.jsonl'} holds no responses to score")
        return _tabulate(records, config)
    model = load_model(config.model, device=config.device or None, dtype=config.dtype)
    records = read_jsonl_log(Path(config.out) / "responses.jsonl")
    methods = _prepare_methods(model, config, records)  # refuses changed settings before anything is recorded
    write_run_record(config.out, config, argv, "billy_interp.benchmark")
    return _tabulate(_generate(model, config, methods, records), config)


def _tabulate(records: pd.DataFrame, config: BenchmarkConfig) -> pd.DataFrame:
    judge = None
    if config.judge_model:
        from billy_interp.judge import Judge, JudgeConfig

        judge = Judge(JudgeConfig(model=config.judge_model, base_url=config.judge_base_url or None))
    scored, ideas = score(records, judge)
    out = Path(config.out)
    write_csv(scored, out / "responses.csv")
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


if __name__ == "__main__":
    main()
