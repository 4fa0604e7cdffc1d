"""The compare job: paired differences between benchmark methods, item by item.

    python -m billy_interp.compare --a runs/benchmark/main:billy \\
        --b runs/benchmark/main:control,runs/benchmark/main:sa_t1,runs/benchmark/main:discussion

Each side is ``RUN_DIR:METHOD``; the run directory's ``responses.csv`` (written by
``python -m billy_interp.benchmark``, or re-made with its ``--score-only``) gives one score per
item. The comparison pairs the items both methods answered (same task and item id), so runs with
different decoding (``--matched-decoding``) can be compared with the main run. Writes
``comparison.csv`` to ``--out`` when given and prints the table. Needs no model (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from billy_interp.evaluation.paired import paired_differences
from billy_interp.io import claim_run_dir, write_csv

__all__ = ["CompareConfig", "load_method", "run_compare"]


@dataclass(frozen=True)
class CompareConfig:
    """Paired differences (a - b) between one benchmark method and others, over shared items."""

    a: str = field(metadata={"help": "RUN_DIR:METHOD of the method under test, e.g. runs/benchmark/main:billy"})
    b: str = field(metadata={"help": "RUN_DIR:METHOD to compare against, comma-separated"})
    metrics: str = field(default="originality,elaboration", metadata={"help": "per-response metrics, comma-separated"})
    n_boot: int = field(default=2000, metadata={"help": "bootstrap draws and sign flips"})
    seed: int = field(default=0, metadata={"help": "resampling seed"})
    out: str = field(default="", metadata={"help": "directory for comparison.csv (empty: print only)"})
    force: bool = field(default=False, metadata={"help": "if --out holds another run, start fresh in a sub-directory"})


def load_method(spec: str) -> pd.DataFrame:
    """One method's scored responses from ``RUN_DIR:METHOD``."""
    run_dir, sep, method = spec.rpartition(":")
    if not sep or not run_dir or not method:
        raise ValueError(f"{spec!r}: expected RUN_DIR:METHOD, e.g. runs/benchmark/main:billy")
    path = Path(run_dir) / "responses.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: run python -m billy_interp.benchmark (or its --score-only) with --out {run_dir} first"
        )
    table = pd.read_csv(path)
    rows = table[table["method"] == method]
    if rows.empty:
        raise ValueError(f"{path} has no method {method!r}; it has {sorted(table['method'].unique())}")
    return rows


def run_compare(config: CompareConfig) -> pd.DataFrame:
    """Every ``b`` against ``a`` on every metric; prints the table and writes it when ``out`` is set."""
    metrics = [m.strip() for m in config.metrics.split(",") if m.strip()]
    a = load_method(config.a)
    frames = []
    for spec in [s.strip() for s in config.b.split(",") if s.strip()]:
        b = load_method(spec)
        for metric in metrics:
            frames.append(
                paired_differences(a, b, metric, n_boot=config.n_boot, seed=config.seed).assign(a=config.a, b=spec)
            )
    if not frames:
        raise ValueError("--b names no method to compare against")
    table = pd.concat(frames, ignore_index=True)[
        ["a", "b", "task", "metric", "n", "mean_a", "mean_b", "difference", "ci_low", "ci_high", "p"]
    ]
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if config.out:
        with claim_run_dir(config.out, config, "billy_interp.compare", force=config.force) as out:
            write_csv(table, out / "comparison.csv")
            print(f"table: {out / 'comparison.csv'}")
    return table
