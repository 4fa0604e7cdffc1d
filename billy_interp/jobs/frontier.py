"""The frontier job: does steering buy more creativity than sampling temperature, at the same coherence?

    python -m billy_interp.frontier --n 40 --out runs/frontier          # all four tasks
    python -m billy_interp.frontier --n 10 --out runs/frontier          # a first pass; --n 40 later adds items
    python -m billy_interp.frontier --items my_items.csv --task all     # your own items

Every point answers the same items (the first ``--n`` of a seeded shuffle per task, so a larger
``--n`` keeps the smaller run's answers) under BILLY's decoding (top_p 0.8, repetition penalty
1.2, no-repeat 4-gram), one answer per item:

* steering curves: relative alpha (sink-free, ``analysis.strength``) at each ``--layers`` paper
  layer, with the merged ``--recipe`` vector and with the single ``--single`` vector; alpha 0 is
  the unsteered ``control``;
* temperature curves: SA and SA-MRP at each ``--temperatures``; SA at the model's own temperature
  is the same ``control`` (so every curve starts from one point);
* reference points (``--reference-dir``, a benchmark run): its SA and LLM Discussion answers,
  re-scored the same way, plotted beside the curves (their items need not match).

Each answer is scored when it is made (guarded and raw originality, on-task and readable shares,
fluency) and its perplexity taken under the unsteered model given the prompt the method was given.
Writes ``answers.jsonl`` (the resume log), ``answers.csv``, ``points.csv`` (mean and 95% CI per
task, point and metric), ``matched.csv`` (steering minus temperature at matched coherence,
paired bootstrap over items), ``compute.csv`` (minutes per curve) and ``figures/frontier_*``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import pandas as pd

from billy_interp import paper
from billy_interp.analysis.frontier import curve_points, matched_coherence
from billy_interp.analysis.strength import relative_alpha_scale
from billy_interp.analysis.sweep import sweep_prompts
from billy_interp.analysis.sweep_metrics import perplexities
from billy_interp.core.model import SteerableModel
from billy_interp.evaluation.benchmark import AnswerUnit, answer_unit, answer_units, score
from billy_interp.evaluation.items import items_for_tasks
from billy_interp.evaluation.methods import Method, make_method
from billy_interp.evaluation.protocol import PROTOCOL_NAMES, get_protocol
from billy_interp.evaluation.tasks import TASKS, TaskItem, load_task, nested_items
from billy_interp.figures.frontier import FRONTIER_FIGURES
from billy_interp.figures.output import save_figure
from billy_interp.io import JsonlLog, check_method_settings, claim_run_dir, read_jsonl_log, record_run, write_csv
from billy_interp.jobs.executors import EXECUTOR_OPTIONS, ExecutorOptions, load_config_model, open_executor
from billy_interp.options import (
    VECTORS_DIR_HELP,
    UsageError,
    parse_floats,
    parse_ints,
    parse_names,
    require_at_least_one,
)
from billy_interp.vectors.library import check_vectors_available, load_vectors
from billy_interp.vectors.merging import MergeRecipe, merge, parse_recipe

__all__ = ["FrontierConfig", "PointSpec", "run_frontier"]

SCORE_COLUMNS = (
    "guarded_originality",
    "originality",
    "appropriateness",
    "readability",
    "fluency",
    "elaboration",
    "valid_ideas",
)


@dataclass(frozen=True)
class FrontierConfig(ExecutorOptions):
    """Creativity against coherence for steering strength and sampling temperature."""

    task: str = field(default="all", metadata={"help": "aut, instances, similarities, scientific, or 'all'"})
    n: int = field(default=40, metadata={"help": "items per task (nested: a larger n keeps a smaller run's items)"})
    items: str = field(
        default="", metadata={"help": "your own items (JSON/CSV: task, subject[, prompt]); replaces --n"}
    )
    seed: int = field(default=0, metadata={"help": "item and sampling seed"})
    recipe: str = field(default=paper.PAPER_RECIPE_TEXT, metadata={"help": "the merged vector's recipe"})
    single: str = field(default="creative_professional", metadata={"help": "the single persona steered alone"})
    layers: str = field(
        default="20,8", metadata={"help": "paper layers of the steering curves (8: the guarded sweep recommendation)"}
    )
    relative_alphas: str = field(
        default="0.05,0.1,0.15,0.2,0.3", metadata={"help": "sink-free relative alphas (0, the control, is added)"}
    )
    temperatures: str = field(default="0.5,0.7,1.0,1.3,1.6", metadata={"help": "SA and SA-MRP temperatures"})
    curves: str = field(default="steer,sa,mrp", metadata={"help": "which curves: steer, sa, mrp"})
    protocol: str = field(default="paper", metadata={"help": "task prompts: paper (5 items) or discussion"})
    max_new_tokens: int = field(default=160, metadata={"help": "new tokens per answer, every point"})
    batch_size: int = field(default=32, metadata={"help": "generation batch size"})
    model: str = field(default="embedded", metadata={"help": "HF name or path"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    vectors_dir: str = field(default="shipped:stable", metadata={"help": VECTORS_DIR_HELP})
    reference_dir: str = field(
        default="", metadata={"help": "a benchmark run whose sa and discussion answers are plotted as reference points"}
    )
    out: str = field(default="runs/frontier", metadata={"help": "run directory (resumable)"})
    force: bool = field(default=False, metadata={"help": "if --out holds another run, start fresh in a sub-directory"})

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least_one(self, ("n", "max_new_tokens", "batch_size"))
        if self.protocol not in PROTOCOL_NAMES:
            raise UsageError(f"--protocol {self.protocol!r}: use one of {', '.join(PROTOCOL_NAMES)}")
        check_vectors_available(parse_recipe(self.recipe).weights, self.vectors_dir, self.model, "--recipe")
        check_vectors_available([self.single], self.vectors_dir, self.model, "--single")
        parse_ints(self.layers, "--layers", minimum=1)
        for option, values in (("--relative-alphas", self.alpha_list()), ("--temperatures", self.temperature_list())):
            if any(v <= 0 for v in values):
                raise UsageError(f"{option}: every value must be > 0 (the control is added by itself)")
        parse_names(self.curves, "--curves", ["steer", "sa", "mrp"])
        if self.reference_dir and not (Path(self.reference_dir) / "responses.jsonl").exists():
            raise UsageError(f"--reference-dir {self.reference_dir}: no responses.jsonl (a benchmark run directory)")
        self.task_items()

    def alpha_list(self) -> list[float]:
        return parse_floats(self.relative_alphas, "--relative-alphas")

    def temperature_list(self) -> list[float]:
        return parse_floats(self.temperatures, "--temperatures")

    def task_items(self) -> dict[str, list[TaskItem]]:
        tasks = list(TASKS) if self.task == "all" else parse_names(self.task, "--task", [*TASKS, "all"])
        if not self.items:
            return {t: nested_items(load_task(t), self.n, self.seed) for t in tasks}  # type: ignore[arg-type]
        return items_for_tasks(self.items, None if self.task == "all" else tasks)


@dataclass(frozen=True)
class PointSpec:
    """One point: which method answers, on which curves, at which knob setting."""

    point: str
    curves: tuple[str, ...]
    value: float  # relative alpha (steering curves) or temperature (temperature curves)
    kind: str  # steer, sa or mrp
    layer: int = 0
    persona: str = ""  # steering: "merged" or the single persona
    temperature: float = 0.0  # sa and mrp; 0 for steering (the model's own temperature)


def plan_points(config: FrontierConfig, model_temperature: float) -> list[PointSpec]:
    """Every point of the chosen curves; the control (unsteered, model temperature) once."""
    curves = parse_names(config.curves, "--curves", ["steer", "sa", "mrp"])
    steer_curves = [
        (f"steer L{layer} {name}", layer, name)
        for layer in parse_ints(config.layers, "--layers", minimum=1)
        for name in ("merged", config.single)
    ]
    control_curves = [c for c, _, _ in steer_curves] if "steer" in curves else []
    if "sa" in curves:
        control_curves.append("temperature SA")
    # on steering curves the control sits at alpha 0, on SA's at the model's temperature
    points = [PointSpec("control", tuple(control_curves), 0.0, "sa", temperature=model_temperature)]
    if "steer" in curves:
        for curve, layer, name in steer_curves:
            points += [
                PointSpec(f"{curve} a{a:g}", (curve,), a, "steer", layer, name, 0.0) for a in config.alpha_list()
            ]
    for kind in ("sa", "mrp"):
        if kind not in curves:
            continue
        for t in config.temperature_list():
            if kind == "sa" and abs(t - model_temperature) < 1e-9:
                continue  # SA at the model's temperature is the control
            points.append(PointSpec(f"{kind.upper()} T{t:g}", (f"temperature {kind.upper()}",), t, kind, temperature=t))
    return points


@dataclass(frozen=True)
class _Context:
    model: SteerableModel
    points: dict[str, PointSpec]
    methods: dict[str, Method]
    sources: dict[str, dict]


def _context(config: FrontierConfig, model: SteerableModel | None = None) -> _Context:
    model = model or load_config_model(config)
    model.layers.resolve(layer=parse_ints(config.layers, "--layers", minimum=1), option="--layers")
    points = {p.point: p for p in plan_points(config, model.default_temperature)}
    recipe = parse_recipe(config.recipe)
    recipes = {"merged": recipe, config.single: MergeRecipe.from_list([config.single])}
    loaded = {}  # per recipe: the vector and its relative-alpha scale per paper layer
    scale_prompts = [p for p, _ in sweep_prompts(8, config.seed)]
    methods, sources = {}, {}
    common = dict(max_new_tokens=config.max_new_tokens, seed=config.seed, batch_size=config.batch_size)
    for spec in points.values():
        if spec.kind == "steer":
            rec = recipes[spec.persona]
            if spec.persona not in loaded:
                vector = merge(load_vectors(list(rec.weights), model, source=config.vectors_dir or None), rec)
                scale = relative_alpha_scale(model, scale_prompts, vector)
                loaded[spec.persona] = (vector, dict(zip(scale["paper_layer"].astype(int), scale["scale"])))
            vector, factors = loaded[spec.persona]
            raw = spec.value / float(factors[spec.layer])
            source = {"recipe": rec.to_dict(), "paper_layer": spec.layer, "alpha": raw, "relative_alpha": spec.value}
            steering = vector.steering(raw, layer=spec.layer, model=model)
            method = make_method("billy", steering=steering, source=source, protocol=config.protocol, **common)
        else:
            # BILLY's processors at this temperature (matched decoding), the protocol's prompts
            method = make_method(
                spec.kind,
                matched_decoding=True,
                billy_temperature=spec.temperature,
                protocol=config.protocol,
                **common,
            )
            if spec.kind == "sa":  # sa's own temperature (0.7) would override the curve's
                method = replace(method, decoding=replace(method.decoding, temperature=spec.temperature))
            source = {"temperature": spec.temperature}
        methods[spec.point] = replace(method, name=spec.point)
        sources[spec.point] = source
    return _Context(model, points, methods, sources)


def _describe(context: _Context, config: FrontierConfig) -> dict[str, dict]:
    return {
        name: {**m.describe(context.model), "model": config.model, "source": context.sources[name]}
        for name, m in context.methods.items()
    }


def _measured(model: SteerableModel, prompts: list[str], records: list[dict]) -> list[dict]:
    """Each answer's perplexity under the unsteered model given ``prompts`` (one per record) and
    its scores (:data:`SCORE_COLUMNS`)."""
    ids = [model.tokenizer(r["response"], add_special_tokens=False)["input_ids"] for r in records]
    ppl = perplexities(model, prompts, ids)
    scored, _ = score(pd.DataFrame(records).drop(columns=["turns"], errors="ignore"))
    return [{"perplexity": p, **{c: float(scored.iloc[k][c]) for c in SCORE_COLUMNS}} for k, p in enumerate(ppl)]


def _answer(context: _Context, unit: AnswerUnit) -> list[dict]:
    """Answer a unit, then take each answer's perplexity (unsteered, given the method's own
    prompt) and its scores, so the log holds everything the tables need."""
    method = context.methods[unit.method]
    records = answer_unit(context.model, method, unit)
    t0 = time.perf_counter()
    measured = _measured(context.model, method.prompts(unit.items), records)
    spec = context.points[unit.method]
    seconds = (time.perf_counter() - t0) / len(records)
    return [
        {
            **record,
            "point": spec.point,
            "curves": list(spec.curves),
            "value": spec.value,
            "temperature": spec.temperature or context.model.default_temperature,
            **measures,
            "score_seconds": seconds,
        }
        for record, measures in zip(records, measured)
    ]


def _reference(context: _Context, records: list[dict]) -> list[dict]:
    """A benchmark run's SA and Discussion answers, scored as the points are (perplexity given the
    task prompt: a discussion's joined final lists have no single prompt of their own)."""
    chosen = [r for r in records if r["method"] in ("sa", "discussion")]
    if not chosen:
        return []
    names = {"sa": "SA T0.7 (benchmark)", "discussion": "LLM Discussion (benchmark)"}
    return [
        {
            **{k: r[k] for k in ("task", "item_id", "subject", "method", "output_tokens")},
            "point": names[r["method"]],
            "curves": ["reference"],
            "value": 0.0,
            "temperature": 0.0,
            **measures,
        }
        for r, measures in zip(chosen, _measured(context.model, [r["prompt"] for r in chosen], chosen))
    ]


# Settings a resumed run may change: which items and points are tabulated, and how work runs;
# each point's own settings are guarded by methods.json.
MAY_CHANGE = ("task", "n", "items", "layers", "relative_alphas", "temperatures", "curves", "batch_size")
MAY_CHANGE += ("reference_dir", "device", *EXECUTOR_OPTIONS)
MODULE = "billy_interp.frontier"


def run_frontier(config: FrontierConfig, model: SteerableModel | None = None) -> pd.DataFrame:
    """Generate and score every missing answer (resumable), then tabulate and draw. Returns the
    matched-coherence table."""
    if model is not None and config.executor != "local":
        raise ValueError("a model object stays in this process: with --executor ray the workers load --model")
    with claim_run_dir(config.out, config, MODULE, may_change=MAY_CHANGE, force=config.force, record=False) as out:
        config = replace(config, out=str(out))
        log = JsonlLog(out / "answers.jsonl")
        records = log.read()
        local = _context(config, model) if model is not None else None
        with open_executor(config, partial(_context, config), local) as executor:
            described = executor.call(_describe, config)
            # a layer the model lacks or a changed point is refused before anything is recorded
            check_method_settings(out, described, {r["method"] for r in records})
            record_run(out, config, MODULE, MAY_CHANGE)
            protocol = get_protocol(config.protocol)
            items = {t: protocol.items(chosen) for t, chosen in config.task_items().items()}
            steps = dict.fromkeys(described, config.batch_size)
            executor.map(_answer, answer_units(items, steps, records), lambda _u, a: log.append(a), desc="answers")
            reference = []
            if config.reference_dir:
                answered = read_jsonl_log(Path(config.reference_dir) / "responses.jsonl")
                # only this run's tasks: scoring the others (minutes each on a CPU) would be thrown away
                reference = executor.call(_reference, [r for r in answered if r["task"] in items])
        return tabulate(out, config, log.read(), reference)


def _expand(records: list[dict], wanted: set[tuple[str, str]], curves: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """One row per (answer, curve it lies on), for this config's items and points only. A point's
    curves come from ``curves`` (this config's plan) where it names the point, not from the log:
    the control answered before ``--layers`` grew lies on the new layers' curves too."""
    frame = pd.DataFrame(records)
    if frame.empty:
        return frame
    frame = frame[[(m, i) in wanted for m, i in zip(frame["point"], frame["item_id"])]].copy()
    frame["curves"] = [list(curves.get(m, c)) for m, c in zip(frame["point"], frame["curves"])]
    frame = frame.explode("curves").rename(columns={"curves": "curve"}).reset_index(drop=True)
    on_temperature = frame["curve"].str.startswith("temperature")
    frame["value"] = frame["value"].where(~on_temperature, frame["temperature"])  # the knob each curve turns
    return frame


def tabulate(out: Path, config: FrontierConfig, records: list[dict], reference: list[dict]) -> pd.DataFrame:
    """answers.csv, points.csv, matched.csv, compute.csv and the figures from the answers
    (``reference``: the scored reference answers of this run's tasks, as :func:`run_frontier` picks them)."""
    planned = {p.point: p.curves for p in plan_points(config, _model_temperature(records))}
    task_items = config.task_items()
    wanted = {(p, i.item_id) for p in planned for chosen in task_items.values() for i in chosen}
    answers = _expand(records, wanted, planned)
    write_csv(answers.drop(columns=["prompt"], errors="ignore"), out / "answers.csv")
    metrics = ["perplexity", *SCORE_COLUMNS[:5]]
    frame = pd.concat([answers, _expand(reference, {(r["point"], r["item_id"]) for r in reference}, {})])
    points = curve_points(frame, metrics, seed=config.seed)
    write_csv(points, out / "points.csv")
    steer = sorted(c for c in answers["curve"].unique() if c.startswith("steer"))
    temps = [c for c in ("temperature SA", "temperature MRP") if c in set(answers["curve"])]
    matched = pd.concat(
        [
            matched_coherence(answers, s, t, metric, coherence, seed=config.seed)
            for s in steer
            for t in temps
            for metric in ("guarded_originality", "originality")
            for coherence in ("perplexity", "readability")
        ]
        or [pd.DataFrame()],
        ignore_index=True,
    )
    write_csv(matched, out / "matched.csv")
    per_curve = answers.groupby("curve").agg(
        answers=("item_id", "size"),
        generation_minutes=("seconds", lambda s: s.sum() / 60),
        scoring_minutes=("score_seconds", lambda s: s.sum() / 60),
    )
    write_csv(per_curve.reset_index(), out / "compute.csv")
    made_by = f"python -m billy_interp.frontier ({out})"
    for name, (_, draw) in FRONTIER_FIGURES.items():
        save_figure(draw(points), out / "figures" / name, made_by)
    pooled = (
        matched[(matched["task"] == "all") & (matched["metric"] == "guarded_originality")] if len(matched) else matched
    )
    if len(pooled):
        print(pooled[pooled["coherence"] == "perplexity"].to_string(index=False))
    print(f"tables in {out}: answers.csv, points.csv, matched.csv, compute.csv; figures in {out / 'figures'}")
    return matched


def _model_temperature(records: list[dict]) -> float:
    control = next((r for r in records if r["point"] == "control"), None)
    return float(control["temperature"]) if control else 1.0
