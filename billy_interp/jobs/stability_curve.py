"""The stability-curve job: how many D+/D- samples make persona vectors agree across seeds?

    python -m billy_interp.stability_curve                                   # the default recipe's personas
    python -m billy_interp.stability_curve --sample-sizes 2,4,8,16 --seeds 0,1,2

For each persona and seed it generates D+/D- once with the largest number of samples per
(question, instruction pair, sign) (resumable, cached in ``--run-dir``), then extracts a vector
from each nested subset (the first k samples of every prompt, re-filtered), with each pooling
(response mean, the paper's; prompt mean; last prompt token), and measures, per sample size,
pooling and layer: the mean pairwise cosine between seeds (bootstrap CI over seed pairs),
the held-out AUC (the same eval responses for every k) and the number of kept rows per side.
The largest-k vectors of the first seed are kept as full persona vectors (``vectors/``).

Outputs in ``--out``: ``parts/`` (resume points), ``curve.csv`` (tidy), ``vectors/<persona>.*``
and ``figures/stability_curve.html``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import pandas as pd

from billy_interp import paper
from billy_interp.analysis.stability import seed_cosines
from billy_interp.core.activations import POOLINGS, Pooling
from billy_interp.core.layers import add_paper_layer
from billy_interp.core.loading import load_model
from billy_interp.core.model import SteerableModel
from billy_interp.figures import plot_stability_curve, save_figure
from billy_interp.io import claim_run_dir, write_csv
from billy_interp.jobs.stability import check_before_claim, check_threshold
from billy_interp.options import UsageError, parse_ints, parse_names, require_at_least_one
from billy_interp.vectors.contrast import filter_contrast
from billy_interp.vectors.extract import ExtractionSettings, PersonaExtraction, extract_persona, save_extraction
from billy_interp.vectors.extraction import separation_auc, vectors_from_pooled
from billy_interp.vectors.formats import load_vector, save_vector
from billy_interp.vectors.library import model_slug
from billy_interp.vectors.personas import Persona, list_personas, load_persona

__all__ = ["StabilityCurveConfig", "subset_vector", "run_stability_curve"]


@dataclass(frozen=True)
class StabilityCurveConfig:
    """Seed-to-seed cosine and held-out AUC of persona vectors against the number of D+/D- samples."""

    personas: str = field(default=",".join(dict.fromkeys(paper.PAPER_RECIPE)), metadata={"help": "catalog names"})
    seeds: str = field(default="0,1,2", metadata={"help": "extraction seeds (at least two)"})
    sample_sizes: str = field(default="2,4,6,8,10", metadata={"help": "samples per (question, pair, sign)"})
    report_layers: str = field(default="20", metadata={"help": "paper layers for the printed summary"})
    threshold: float = field(default=0.9, metadata={"help": "seed cosine a stable vector reaches"})
    max_new_tokens: int = field(default=64, metadata={"help": "response length, as shipped"})
    filter: bool = field(default=True, metadata={"help": "offline trait/coherence filter, as shipped"})
    n_boot: int = field(default=200, metadata={"help": "bootstrap draws over seed pairs"})
    batch_size: int = field(default=16, metadata={"help": "generation and activation batch size"})
    model: str = field(default="embedded", metadata={"help": "HF name or path"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    run_dir: str = field(default="runs/extract", metadata={"help": "generation cache, shared with extract"})
    out: str = field(default="runs/stability_curve", metadata={"help": "output directory (resumable)"})
    force: bool = field(default=False, metadata={"help": "if --out holds another run, start fresh in a sub-directory"})

    def __post_init__(self) -> None:
        parse_names(self.personas, "--personas", list_personas())
        if len(parse_ints(self.seeds, "--seeds", minimum=0, distinct=True)) < 2:
            raise UsageError(f"--seeds {self.seeds!r}: stability needs at least two distinct seeds")
        check_threshold(self.threshold)
        require_at_least_one(self, ("n_boot",))
        parse_ints(self.sample_sizes, "--sample-sizes", minimum=1)
        parse_ints(self.report_layers, "--report-layers", minimum=1)

    def sizes(self) -> list[int]:
        return sorted(set(parse_ints(self.sample_sizes, "--sample-sizes", minimum=1)))

    def settings(self) -> ExtractionSettings:
        return ExtractionSettings(
            n_samples=max(self.sizes()),
            max_new_tokens=self.max_new_tokens,
            filter=self.filter,
            batch_size=self.batch_size,
        )


def subset_vector(
    model: SteerableModel,
    persona: Persona,
    result: PersonaExtraction,
    k: int,
    filter: bool,
    pooling: Pooling = "response_mean",
):
    """The vector from the first ``k`` samples of every prompt of a larger extraction (re-filtered
    as a k-sample extraction would be) with ``pooling``, its held-out AUC per layer (response-mean
    activations of the held-out rows, as extraction reports it) and its kept rows per side."""
    table = result.table.drop(columns=["trait_score", "distinct_2", "coherent", "kept", "filter_reason"])
    subset = table[(table["split"] == "eval") | (table["sample"] < k)]
    subset = filter_contrast(subset, persona, enabled=filter)
    train = (subset["split"] == "extract") & subset["kept"]
    rows = list(subset.index[train])
    pooled = result.pooled_by if result.pooled_by is not None else {"response_mean": result.pooled}
    vector = vectors_from_pooled(
        pooled[pooling][rows],
        list(subset.loc[train, "sign"]),
        model,
        metadata={"persona": persona.name, "seed": result.seed, "n_samples": k, "pooling": pooling},
    )
    held = list(subset.index[subset["split"] == "eval"])
    auc = separation_auc(vector, pooled["response_mean"][held], list(subset.loc[held, "sign"]))
    per_side = {sign: int((train & (subset["sign"] == sign)).sum()) for sign in (1, -1)}
    return vector, auc, per_side


def _pair(model: SteerableModel, config: StabilityCurveConfig, persona: Persona, seed: int, parts: Path) -> None:
    done = parts / f"{persona.name}.seed{seed}.csv"
    if done.exists():
        return
    settings = config.settings()
    run_dir = (
        Path(config.run_dir)
        / model_slug(model.name)
        / f"{persona.name}-topical-seed{seed}-n{settings.n_samples}-t{settings.max_new_tokens}"
    )
    # every row pooled: each k re-filters its own subset, which can keep rows the full run dropped
    result = extract_persona(model, persona, settings, seed, run_dir, pool_rows="all")
    rows = []
    for k, pooling in product(config.sizes(), POOLINGS):
        vector, auc, per_side = subset_vector(model, persona, result, k, config.filter, pooling)
        save_vector(vector, parts / f"{persona.name}.seed{seed}.k{k}.{pooling}.safetensors")
        rows += [
            {
                "persona": persona.name,
                "seed": seed,
                "k": k,
                "pooling": pooling,
                "block": int(r.block),
                "heldout_auc": r.auc,
                "kept_positive": per_side[1],
                "kept_negative": per_side[-1],
            }
            for r in auc.itertuples()
        ]
    if seed == min(parse_ints(config.seeds, "--seeds")):
        save_extraction(result, parts.parent / "vectors", seed_suffix=False)
    write_csv(pd.DataFrame(rows), done)  # written last: its presence marks the pair done


def _curve(config: StabilityCurveConfig, persona: str, seeds: list[int], parts: Path, model) -> pd.DataFrame:
    per_seed = pd.concat([pd.read_csv(parts / f"{persona}.seed{s}.csv") for s in seeds], ignore_index=True)
    frames = []
    for k, pooling in product(config.sizes(), POOLINGS):
        vectors = {s: load_vector(parts / f"{persona}.seed{s}.k{k}.{pooling}.safetensors", model) for s in seeds}
        cos = seed_cosines(vectors, n_boot=config.n_boot, seed=0).drop(columns=["paper_layer"])
        at_k = (
            per_seed[(per_seed["k"] == k) & (per_seed["pooling"] == pooling)]
            .groupby("block", as_index=False)[["heldout_auc", "kept_positive", "kept_negative"]]
            .mean()
        )
        frames.append(cos.merge(at_k, on="block").assign(persona=persona, k=k, pooling=pooling))
    return pd.concat(frames, ignore_index=True)


def run_stability_curve(config: StabilityCurveConfig, model: SteerableModel | None = None) -> pd.DataFrame:
    """Every persona x seed (resumable), then the curve table and figure after each persona."""
    personas = [load_persona(n) for n in parse_names(config.personas, "--personas", list_personas())]
    seeds = sorted(set(parse_ints(config.seeds, "--seeds", minimum=0)))
    report = check_before_claim(config.run_dir, config.report_layers, config.model, model)
    may_change = ("personas", "seeds", "report_layers", "threshold", "n_boot", "batch_size", "device")
    with claim_run_dir(
        config.out, config, "billy_interp.stability_curve", may_change=may_change, force=config.force
    ) as out:
        model = model or load_model(config.model, device=config.device or None, dtype=config.dtype)
        parts = out / "parts"
        parts.mkdir(parents=True, exist_ok=True)
        frames = []
        for persona in personas:
            for seed in seeds:
                _pair(model, config, persona, seed, parts)
                print(f"{persona.name} seed {seed}: done")
            frames.append(_curve(config, persona.name, seeds, parts, model))
            curve = add_paper_layer(pd.concat(frames, ignore_index=True))
            write_csv(curve, out / "curve.csv")
            save_figure(
                plot_stability_curve(curve, report, config.threshold),
                out / "figures" / "stability_curve",
                f"python -m billy_interp.stability_curve ({out})",
            )
        main = curve[curve["pooling"] == "response_mean"]
        shown = main[main["block"].isin(report)][
            ["persona", "paper_layer", "k", "kept_positive", "mean_cosine", "ci_low", "ci_high", "heldout_auc"]
        ]
        print(shown.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        best = curve.loc[curve.groupby(["persona", "k", "pooling"])["mean_cosine"].idxmax()]
        print(
            "best layer per persona, k and pooling:\n"
            + best[["persona", "k", "pooling", "paper_layer", "mean_cosine"]].to_string(
                index=False, float_format=lambda x: f"{x:.3f}"
            )
        )
        return curve
