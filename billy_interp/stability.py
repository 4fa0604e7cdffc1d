"""``python -m billy_interp.stability``: are persona vectors the same across extraction seeds?

    python -m billy_interp.stability                                  # every catalog persona, seeds 0,1,2
    python -m billy_interp.stability --personas futurist,environmentalist --seeds 0,1,2,3

Each (persona, seed) is a fresh extraction with the shipped settings (new D+/D- samples; the
generations are cached in ``--run-dir``, shared with ``python -m billy_interp.extract``, so seed 0
reuses the shipped vectors' samples). Per layer it reports:

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

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch

from billy_interp.analysis.stability import bootstrap_cosine, sample_multiplier, seed_cosines, split_half
from billy_interp.artifacts import load_vector, save_vector, write_csv
from billy_interp.cli import parse_config, write_run_record
from billy_interp.extract import ExtractConfig, extract_persona
from billy_interp.figures import plot_stability, save_figure
from billy_interp.model import SteerableModel, load_model
from billy_interp.personas import PAPER_PERSONAS, load_persona

__all__ = ["StabilityConfig", "per_seed_measures", "summarize_stability", "main"]


@dataclass(frozen=True)
class StabilityConfig:
    """Re-extract persona vectors with several seeds and measure how much they agree."""

    personas: str = field(default="all", metadata={"help": "catalog names, comma-separated, or 'all'"})
    seeds: str = field(default="0,1,2", metadata={"help": "extraction seeds (at least two)"})
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

    def persona_names(self) -> list[str]:
        names = list(PAPER_PERSONAS) if self.personas == "all" else [p.strip() for p in self.personas.split(",") if p.strip()]
        for name in names:
            load_persona(name)  # raises with the known names
        return names

    def seed_list(self) -> list[int]:
        seeds = sorted({int(s) for s in self.seeds.split(",") if s.strip()})
        if len(seeds) < 2:
            raise ValueError(f"--seeds {self.seeds!r}: stability needs at least two distinct seeds")
        return seeds

    def report_blocks(self) -> list[int]:
        return [int(x) - 1 for x in self.report_layers.split(",") if x.strip()]


def per_seed_measures(pooled: torch.Tensor, table: pd.DataFrame, auc: pd.DataFrame, n_splits: int,
                      n_boot: int, seed: int) -> pd.DataFrame:
    """Split-half, bootstrap and held-out AUC rows for one seed's extraction (tidy)."""
    train = ((table["split"] == "extract") & table["kept"]).to_numpy()
    acts, signs = pooled[torch.tensor(train)], list(table.loc[train, "sign"])
    halves = split_half(acts, signs, n_splits=n_splits, seed=seed)
    boots = bootstrap_cosine(acts, signs, n_boot=n_boot, seed=seed)
    rows = []
    for _, r in halves.iterrows():
        for measure in ("split_half_cosine", "spearman_brown"):
            rows.append({"block": int(r["block"]), "measure": measure, "value": r[measure],
                         "ci_low": r[measure], "ci_high": r[measure]})
    rows += [{"block": int(r["block"]), "measure": "bootstrap_cosine", "value": r["mean_cosine"],
              "ci_low": r["ci_low"], "ci_high": r["ci_high"]} for _, r in boots.iterrows()]
    mean_auc = auc[auc["pooling"] == "response_mean"] if not auc.empty else auc
    rows += [{"block": int(r["block"]), "measure": "heldout_auc", "value": r["auc"], "ci_low": r["auc"],
              "ci_high": r["auc"]} for _, r in mean_auc.iterrows()]
    frame = pd.DataFrame(rows)
    frame["seed"] = seed
    extract = table[table["split"] == "extract"]
    gap = extract.loc[extract["sign"] == 1, "trait_score"].mean() - extract.loc[extract["sign"] == -1, "trait_score"].mean()
    frame["trait_gap"] = float(gap)
    return frame


def _run_pair(model: SteerableModel, config: StabilityConfig, persona: str, seed: int, parts: Path) -> None:
    vector_path, table_path = parts / f"{persona}.seed{seed}.safetensors", parts / f"{persona}.seed{seed}.csv"
    if table_path.exists() and vector_path.exists():
        return
    extract_config = ExtractConfig(persona=persona, model=config.model, run_dir=config.run_dir, seed=seed,
                                   n_samples=config.n_samples, max_new_tokens=config.max_new_tokens,
                                   batch_size=config.batch_size, filter=config.filter)
    result = extract_persona(model, load_persona(persona), extract_config, seed)
    measures = per_seed_measures(result.pooled, result.table, result.auc, config.n_splits, config.n_boot, seed)
    measures.insert(0, "persona", persona)
    save_vector(result.vectors["response_mean"], vector_path)
    write_csv(measures, table_path)  # written last: its presence marks the pair done


def summarize_stability(table: pd.DataFrame, report_blocks: Sequence[int], threshold: float) -> pd.DataFrame:
    """One row per persona and report layer: seed cosine (CI, min), reliability, AUC, trait gap, verdict,
    and the projected factor of more samples that would reach ``threshold`` (``sample_multiplier``)."""
    rows = []
    for persona, sub in table.groupby("persona", sort=True):
        for block in report_blocks:
            at = sub[sub["block"] == block]
            if at.empty:
                continue
            cos = at[at["measure"] == "seed_cosine"].iloc[0]

            def mean_of(measure: str) -> float:
                return float(at.loc[at["measure"] == measure, "value"].mean())

            rows.append({"persona": persona, "paper_layer": block + 1, "block": block,
                         "seed_cosine": cos["value"], "ci_low": cos["ci_low"], "ci_high": cos["ci_high"],
                         "min_pair_cosine": cos["min_cosine"], "spearman_brown": mean_of("spearman_brown"),
                         "bootstrap_cosine": mean_of("bootstrap_cosine"), "heldout_auc": mean_of("heldout_auc"),
                         "trait_gap": float(sub["trait_gap"].mean()), "stable": bool(cos["value"] >= threshold),
                         "samples_x_for_threshold": sample_multiplier(float(cos["value"]), threshold)})
    return pd.DataFrame(rows)


def _write_outputs(table: pd.DataFrame, config: StabilityConfig, out: Path) -> tuple[pd.DataFrame, list[Path]]:
    table["paper_layer"] = table["block"] + 1
    write_csv(table, out / "stability.csv")
    summary = summarize_stability(table, config.report_blocks(), config.threshold)
    write_csv(summary, out / "summary.csv")
    written = save_figure(plot_stability(table, config.threshold), out / "figures" / "stability",
                          f"python -m billy_interp.stability ({out})")
    return summary, written


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    config = parse_config(StabilityConfig, argv, __doc__)
    personas, seeds = config.persona_names(), config.seed_list()  # validate before loading the model
    out = Path(config.out)
    write_run_record(out, config, argv, "billy_interp.stability")
    model = load_model(config.model, device=config.device or None, dtype=config.dtype)
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    frames, summary, written = [], pd.DataFrame(), []
    for persona in personas:
        for seed in seeds:
            _run_pair(model, config, persona, seed, parts)
            print(f"{persona} seed {seed}: done")
        per_seed = pd.concat([pd.read_csv(parts / f"{persona}.seed{s}.csv") for s in seeds], ignore_index=True)
        vectors = {s: load_vector(parts / f"{persona}.seed{s}.safetensors", model) for s in seeds}
        cos = seed_cosines(vectors, n_boot=config.n_boot, seed=0)
        cos = cos.rename(columns={"mean_cosine": "value"}).assign(persona=persona, measure="seed_cosine", seed=-1,
                                                                   trait_gap=per_seed["trait_gap"].mean())
        frames += [per_seed, cos.drop(columns=["paper_layer", "n_pairs"])]
        # Tables and figure after every persona, so a long run stopped part-way still reports.
        summary, written = _write_outputs(pd.concat(frames, ignore_index=True), config, out)
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"tables: {out / 'stability.csv'}, {out / 'summary.csv'}; figures: {', '.join(map(str, written))}")
    return summary


if __name__ == "__main__":
    main()
