"""Local vs Ray (1 and 2 workers) on one machine: the same layer x alpha sweep, wall time each.

    python bench/bench_executors.py            # writes bench/results/executors.{json,md}

Each run is a fresh sweep of the embedded model (its own run directory), so worker start-up
(a Python process importing torch and loading the model) is included, as a user would pay it.
The tables of every run are checked equal to the local run's before a time is reported.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import ray
import torch

from billy_interp.jobs.layer_sweep import SweepConfig, run_layer_sweep

RESULTS = Path(__file__).parent / "results"


def _sweep(out: Path, cells_per_chunk: int = 1, **executor) -> float:
    config = SweepConfig(
        layers="5,10,15,20",
        alphas="0,4,8",
        n_prompts=4,
        max_new_tokens=40,
        cells_per_chunk=cells_per_chunk,  # 1: 9 units, the shared alpha-0 run and 8 steered cells
        out=str(out),
        **executor,
    )
    t0 = time.perf_counter()
    run_layer_sweep(config)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    cores = torch.get_num_threads()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows.append({"executor": f"local ({cores} threads), one cell per unit", "seconds": _sweep(root / "local")})
        # the local default: all 9 cells in one grid batch of 36 rows
        seconds = _sweep(root / "local_batched", cells_per_chunk=24)
        rows.append({"executor": f"local ({cores} threads), all cells in one batch (default)", "seconds": seconds})
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        try:
            for workers in (1, 2):
                cpus = cores / workers
                seconds = _sweep(root / f"ray{workers}", executor="ray", workers=workers, worker_cpus=cpus)
                for name in ("results.csv", "aggregate.csv"):
                    local, remote = (pd.read_csv(root / run / name) for run in ("local", f"ray{workers}"))
                    pd.testing.assert_frame_equal(local, remote, check_exact=False, rtol=1e-5)
                rows.append(
                    {"executor": f"ray, {workers} worker(s) x {cpus:g} CPU, one cell per unit", "seconds": seconds}
                )
        finally:
            ray.shutdown()
    base = rows[0]["seconds"]
    for row in rows:
        row["speed-up vs local"] = base / row["seconds"]  # vs local with the same units
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "executors.json").write_text(json.dumps(rows, indent=2))
    table = "\n".join(
        ["| executor | wall seconds | speed-up vs local |", "|---|---:|---:|"]
        + [f"| {r['executor']} | {r['seconds']:.1f} | {r['speed-up vs local']:.2f} |" for r in rows]
    )
    text = (
        "Command: `python bench/bench_executors.py` (layer_sweep of the embedded model: paper layers "
        "5,10,15,20 x alphas 0,4,8, 4 prompts, 40 greedy tokens, one cell per unit; wall time including "
        f"worker start-up; {cores} cores)\n\n{table}\n"
    )
    (RESULTS / "executors.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
