"""The stability job: are persona vectors the same across extraction seeds?

    python -m billy_interp.stability                                  # every catalog persona, seeds 0,1,2
    python -m billy_interp.stability --personas futurist,environmentalist --seeds 0,1,2,3
    python -m billy_interp.stability --preset paper --personas futurist --seeds 0,1 --out runs/stability_paper
    python -m billy_interp.stability --preset paper --seeds 0 --out runs/stability_paper  # within-seed only

Each (persona, seed) is a fresh extraction with the shipped settings, or ``--preset``'s (new D+/D-
samples; the generations are cached in ``--run-dir``, shared with ``python -m billy_interp.extract``,
so seed 0 reuses the samples of the vectors extract made with the same settings). Per layer it reports:

* ``seed_cosine``: mean pairwise cosine between seeds' vectors, with a bootstrap CI over pairs;
* ``split_half_cosine`` / ``spearman_brown``: cosine of vectors from two disjoint halves of one
  seed's D+/D- rows, and its projection to the full sample (per seed);
* ``bootstrap_cosine``: cosine of row-bootstrap vectors with the seed's vector (per seed, CI);
* ``heldout_auc``: separation of held-out D+/D- responses by projection on the seed's vector.

Outputs in ``--out``: ``parts/<persona>.seed<k>.{safetensors,csv}`` (the resume points: a killed
run redoes only unfinished pairs), ``stability.csv`` (tidy, all measures), ``summary.csv`` (one
row per persona and report layer, with the D+/D- trait gap as the likely reason for instability
and ``samples_x_for_threshold``, the Spearman-Brown projection of how many times more samples
would reach ``--threshold``)
and ``figures/stability.html``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd

from billy_interp.analysis.stability import per_seed_measures, seed_cosines, summarize_stability
from billy_interp.core.layers import add_paper_layer, paper_layer_to_block
from billy_interp.core.loading import model_shape
from billy_interp.core.model import SteerableModel
from billy_interp.figures import plot_stability, save_figure
from billy_interp.io import check_writable_dir, claim_run_dir, write_csv
from billy_interp.jobs.executors import EXECUTOR_OPTIONS, Executor, ExecutorOptions, load_config_model, open_executor
from billy_interp.jobs.extract import extract_with, model_label
from billy_interp.options import UsageError, parse_ints, parse_names, require_at_least_one
from billy_interp.paper import PAPER_PERSONAS
from billy_interp.vectors.extract import EXTRACTION_PRESETS, ExtractionSettings, preset_values
from billy_interp.vectors.formats import load_vector, save_vector
from billy_interp.vectors.personas import list_personas, load_persona

__all__ = ["StabilityConfig", "run_stability"]


@dataclass(frozen=True)
class StabilityConfig(ExecutorOptions):
    """Re-extract persona vectors with several seeds and measure how much they agree."""

    personas: str = field(default="all", metadata={"help": "catalog names, comma-separated, or 'all'"})
    seeds: str = field(
        default="0,1,2",
        metadata={
            "help": "extraction seeds; one seed gives the within-seed measures only (split-half, bootstrap, "
            "held-out AUC): the seed cosine needs two or more"
        },
    )
    report_layers: str = field(default="2,20", metadata={"help": "paper layers for summary.csv"})
    threshold: float = field(default=0.9, metadata={"help": "seed cosine a stable vector reaches"})
    n_boot: int = field(default=200, metadata={"help": "bootstrap draws"})
    n_splits: int = field(default=20, metadata={"help": "random split halves per seed"})
    n_samples: int = field(default=2, metadata={"help": "samples per (question, pair, sign), as shipped"})
    max_new_tokens: int = field(default=64, metadata={"help": "response length, as shipped"})
    filter: bool = field(default=True, metadata={"help": "offline trait/coherence filter, as shipped"})
    batch_size: int = field(default=16, metadata={"help": "generation and activation batch size"})
    model: str = field(default="embedded", metadata={"help": "HF name or path"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    run_dir: str = field(default="runs/extract", metadata={"help": "generation cache, shared with extract"})
    out: str = field(default="runs/stability", metadata={"help": "output directory (resumable)"})
    force: bool = field(default=False, metadata={"help": "if --out holds another run, start fresh in a sub-directory"})
    preset: str = field(
        default="",
        metadata={
            "help": f"extraction preset ({', '.join(EXTRACTION_PRESETS)}; as extract's --preset): paper re-extracts "
            "with the paper's sizes, and seed 0 reuses extract --preset paper's answers in --run-dir"
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.persona_names(), self.seed_list(), self.report_blocks(), self.settings()
        check_threshold(self.threshold)
        require_at_least_one(self, ("n_boot", "n_splits"))

    def settings(self) -> ExtractionSettings:
        """The extraction each seed runs: the shipped settings, or ``--preset``'s."""
        given = {"n_samples": self.n_samples, "max_new_tokens": self.max_new_tokens, "filter": self.filter}
        preset = preset_values(self.preset, given) if self.preset else {}
        return ExtractionSettings(**{**given, **preset, "batch_size": self.batch_size})

    def persona_names(self) -> list[str]:
        if self.personas == "all":
            return list(PAPER_PERSONAS)
        return parse_names(self.personas, "--personas", list_personas())

    def seed_list(self) -> list[int]:
        return sorted(parse_ints(self.seeds, "--seeds", minimum=0, distinct=True))

    def report_blocks(self) -> list[int]:
        return [paper_layer_to_block(layer) for layer in parse_ints(self.report_layers, "--report-layers", minimum=1)]


def check_threshold(threshold: float) -> None:
    """``--threshold`` is a cosine to reach: checked before hours of extraction rather than at the end."""
    if not 0 < threshold < 1:
        raise UsageError(f"--threshold must lie strictly between 0 and 1 (a cosine to reach), got {threshold}")


def check_before_claim(run_dir: str, report_layers: str, model_name: str, model: SteerableModel | None) -> list[int]:
    """The report layers' blocks, once ``--report-layers`` lie inside the model (its configuration
    only, no weights) and ``--run-dir`` (the answers' cache) is proven writable: a bad one fails now,
    before the run is claimed, not after hours of generation. Layers first: proving the cache
    writable creates it."""
    layers = model.layers if model is not None else model_shape(model_name).layers
    blocks = layers.resolve(layer=parse_ints(report_layers, "--report-layers", minimum=1), option="--report-layers")
    check_writable_dir(run_dir, "--run-dir")
    return blocks


def _run_pair(
    executor: Executor, model_name: str, config: StabilityConfig, persona: str, seed: int, parts: Path
) -> None:
    vector_path, table_path = parts / f"{persona}.seed{seed}.safetensors", parts / f"{persona}.seed{seed}.csv"
    if table_path.exists() and vector_path.exists():
        return
    settings = config.settings()
    run_dir = settings.generation_dir(config.run_dir, model_name, persona, seed)
    result = extract_with(executor, load_persona(persona), settings, seed, run_dir)
    measures = per_seed_measures(result.pooled, result.table, result.auc, config.n_splits, config.n_boot, seed)
    measures.insert(0, "persona", persona)
    save_vector(result.vectors["response_mean"], vector_path)
    write_csv(measures, table_path)  # written last: its presence marks the pair done


def _write_outputs(table: pd.DataFrame, config: StabilityConfig, out: Path) -> tuple[pd.DataFrame, list[Path]]:
    table = add_paper_layer(table)
    write_csv(table, out / "stability.csv")
    summary = summarize_stability(table, config.report_blocks(), config.threshold)
    write_csv(summary, out / "summary.csv")
    written = save_figure(
        plot_stability(table, config.threshold),
        out / "figures" / "stability",
        f"python -m billy_interp.stability ({out})",
    )
    return summary, written


def run_stability(config: StabilityConfig, model: SteerableModel | None = None) -> pd.DataFrame:
    """Every persona x seed (resumable), then the tables and figure after each persona; returns
    the per-persona summary. Under ``executor="ray"`` the extractions' generation chunks and pooling
    run on Ray workers (each loads ``config.model``); this process writes every file."""
    if model is not None and config.executor != "local":
        raise ValueError("a model object stays in this process: with --executor ray the workers load --model")
    check_before_claim(config.run_dir, config.report_layers, config.model, model)
    with (
        claim_run_dir(
            config.out,
            config,
            "billy_interp.stability",
            may_change=("personas", "seeds", "report_layers", "threshold", "batch_size", "device", *EXECUTOR_OPTIONS),
            force=config.force,
            added={"preset": ""},  # runs made before --preset existed used the shipped settings
        ) as out,
        open_executor(config, partial(load_config_model, config), model) as executor,
    ):
        return _measure(executor, model, config, out)


def _measure(executor: Executor, model: SteerableModel | None, config: StabilityConfig, out: Path) -> pd.DataFrame:
    personas, seeds = config.persona_names(), config.seed_list()
    model_name = model.name if model is not None else model_label(config.model)
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    frames, summary, written = [], pd.DataFrame(), []
    for persona in personas:
        for seed in seeds:
            _run_pair(executor, model_name, config, persona, seed, parts)
            print(f"{persona} seed {seed}: done")
        per_seed = pd.concat([pd.read_csv(parts / f"{persona}.seed{s}.csv") for s in seeds], ignore_index=True)
        frames.append(per_seed)
        if len(seeds) > 1:  # one seed: within-seed measures only, and the summary says so with NaN
            vectors = {s: load_vector(parts / f"{persona}.seed{s}.safetensors", model) for s in seeds}
            cos = seed_cosines(vectors, n_boot=config.n_boot, seed=0)
            cos = cos.rename(columns={"mean_cosine": "value"}).assign(
                persona=persona, measure="seed_cosine", seed=-1, trait_gap=per_seed["trait_gap"].mean()
            )
            frames.append(cos.drop(columns=["paper_layer", "n_pairs"]))
        # Tables and figure after every persona, so a long run stopped part-way still reports.
        summary, written = _write_outputs(pd.concat(frames, ignore_index=True), config, out)
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"tables: {out / 'stability.csv'}, {out / 'summary.csv'}; figures: {', '.join(map(str, written))}")
    return summary
