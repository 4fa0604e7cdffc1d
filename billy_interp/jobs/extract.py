"""The extract job: persona vectors for several personas and seeds, written to ``--out``.

    python -m billy_interp.extract --persona environmentalist
    python -m billy_interp.extract --persona all                        # the whole catalog
    python -m billy_interp.extract --persona-file my_persona.yaml
    python -m billy_interp.extract --persona futurist --seeds 0,1,2     # stability runs
    python -m billy_interp.extract --persona futurist --preset paper    # the paper's extraction sizes

For each persona it writes, under ``OUT/<model>/``: ``<persona>.safetensors`` (response-mean
vector, the paper's), ``<persona>.prompt_mean.safetensors``, ``<persona>.last_prompt.safetensors``,
the tidy data table ``<persona>.data.csv``, the held-out separation ``<persona>.auc.csv`` and
``<persona>.extract.json`` (the settings that made them). A file that other settings made, or
that this command did not make, is never replaced without ``--overwrite``; the shipped vectors
(package data) are never written. Generation is resumable: rerun the same command after an
interruption.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from billy_interp.core.model import SteerableModel
from billy_interp.io import check_writable_dir, read_json, write_run_record
from billy_interp.jobs.executors import Executor, ExecutorOptions, load_config_model, open_executor
from billy_interp.options import UsageError, parse_ints
from billy_interp.paper import PAPER_PERSONAS
from billy_interp.vectors.contrast import contrast_table, generate_chunk, open_contrast_log, pending_chunks
from billy_interp.vectors.extract import (
    PROVENANCE_FILE,
    ExtractionSettings,
    PersonaExtraction,
    extract_from_table,
    preset_values,
    save_extraction,
)
from billy_interp.vectors.library import model_slug, shipped_vectors_root
from billy_interp.vectors.personas import Persona, PersonaError, load_persona

__all__ = ["ExtractConfig", "run_extract", "extract_with"]


@dataclass(frozen=True)
class ExtractConfig(ExtractionSettings, ExecutorOptions):
    """Extract persona vectors (mean over response tokens, D+ minus D-, every layer)."""

    persona: str = field(default="", metadata={"help": "catalog name(s), comma-separated, or 'all'"})
    persona_file: str = field(default="", metadata={"help": "path to a persona JSON/YAML file"})
    model: str = field(default="embedded", metadata={"help": "HF name or path; 'embedded' = SmolLM2-135M"})
    out: str = field(default="runs/vectors", metadata={"help": "output directory (a <model> subfolder is made)"})
    run_dir: str = field(default="runs/extract", metadata={"help": "resumable working directory"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    seeds: str = field(default="", metadata={"help": "comma-separated seeds: one vector per seed"})
    overwrite: bool = field(default=False, metadata={"help": "replace vector files that other settings made"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    preset: str = field(
        default="",
        metadata={
            "help": "fast (the shipped vectors' settings) or paper (10 samples, 1,000 tokens, adaptive filter, "
            "first 20 per side); options left at their defaults take the preset's values"
        },
    )

    def __post_init__(self) -> None:
        if self.preset:
            self._apply_preset()
        super().__post_init__()
        ExecutorOptions.__post_init__(self)
        if bool(self.persona) == bool(self.persona_file):
            raise UsageError("give exactly one of --persona or --persona-file")
        self.seed_list()

    def _apply_preset(self) -> None:
        given = {f.name: getattr(self, f.name) for f in fields(ExtractionSettings)}
        for name, value in preset_values(self.preset, given).items():
            object.__setattr__(self, name, value)  # frozen: the preset fills in the defaults once

    def personas(self) -> list[Persona]:
        if self.persona_file:
            return [load_persona(Path(self.persona_file))]
        names = list(PAPER_PERSONAS) if self.persona == "all" else [n.strip() for n in self.persona.split(",")]
        try:
            return [load_persona(n) for n in names if n]
        except PersonaError as error:
            raise PersonaError(f"--persona: {error}") from None

    def seed_list(self) -> list[int]:
        return parse_ints(self.seeds, "--seeds", minimum=0, distinct=True) if self.seeds else [self.seed]

    def provenance(self, persona: str, seed: int) -> dict[str, Any]:
        return {**self.decisive(), "model": self.model, "persona": persona, "seed": seed}


def _check_writable(out_dir: Path, stem: str, settings: dict, overwrite: bool) -> None:
    """Refuse to replace files that other settings made (or that ship with the package)."""
    shipped = shipped_vectors_root().resolve()
    resolved = out_dir.resolve()
    if resolved == shipped or shipped in resolved.parents:
        raise UsageError(f"--out: {out_dir} holds the shipped (read-only) vectors; write to another directory")
    target = out_dir / f"{stem}.safetensors"
    if not target.exists() or overwrite:
        return
    sidecar = out_dir / PROVENANCE_FILE.format(stem=stem)
    if not sidecar.exists():
        raise UsageError(f"{target} exists and this command did not make it; pass --overwrite to replace it")
    before = read_json(sidecar)
    if before != settings:
        changed = sorted(k for k in {*before, *settings} if before.get(k) != settings.get(k))
        raise UsageError(
            f"{target} was made with other settings ({', '.join(changed)}); pass --overwrite to replace it"
        )


def run_extract(config: ExtractConfig, model: SteerableModel | None = None) -> list[PersonaExtraction]:
    """Every persona x seed, each written to ``<out>/<model>/`` (``.../seeds`` for several seeds)
    as soon as it is done. Under ``executor="ray"`` the D± generation chunks and the pooling run
    on Ray workers (each loads ``config.model``); this process writes every file."""
    if model is not None and config.executor != "local":
        raise ValueError("a model object stays in this process: with --executor ray the workers load --model")
    personas = config.personas()  # validate names before the model loads
    seeds = config.seed_list()
    slug = model_slug(model.name if model is not None else model_label(config.model))
    out_dir = Path(config.out) / slug / ("seeds" if len(seeds) > 1 else "")
    stems = {(p.name, s): f"{p.name}.seed{s}" if len(seeds) > 1 else p.name for p in personas for s in seeds}
    for (persona, seed), stem in stems.items():
        _check_writable(out_dir, stem, config.provenance(persona, seed), config.overwrite)
    check_writable_dir(out_dir, "--out")  # before any generation, not after minutes of it
    check_writable_dir(Path(config.run_dir) / slug, "--run-dir")
    write_run_record(Path(config.run_dir) / slug, config, "billy_interp.extract")
    results = []
    with open_executor(config, partial(load_config_model, config), model) as executor:
        for persona in personas:
            for seed in seeds:
                run_dir = config.generation_dir(config.run_dir, slug, persona.name, seed)
                result = extract_with(executor, persona, config, seed, run_dir)
                save_extraction(result, out_dir, len(seeds) > 1, config.provenance(persona.name, seed))
                auc = result.auc[result.auc["pooling"] == "response_mean"] if not result.auc.empty else result.auc
                best = auc["auc"].max() if not auc.empty else float("nan")
                kept = int(((result.table["split"] == "extract") & result.table["kept"]).sum())
                print(
                    f"{persona.name} seed {seed}: kept {kept} extract rows, best held-out AUC {best:.3f} -> {out_dir}"
                )
                results.append(result)
    return results


def _generate_unit(model: SteerableModel, unit: tuple) -> list[dict]:
    index, chunk, plan = unit
    return generate_chunk(model, chunk, plan, index)


def _extract_unit(
    model: SteerableModel, persona: Persona, settings: ExtractionSettings, seed: int, table: pd.DataFrame
) -> PersonaExtraction:
    return extract_from_table(model, persona, settings, seed, table)


def extract_with(
    executor: Executor, persona: Persona, settings: ExtractionSettings, seed: int, run_dir: str | Path
) -> PersonaExtraction:
    """:func:`~billy_interp.vectors.extract.extract_persona` with its D± generation chunks spread
    over ``executor``'s workers: each chunk seeds itself from its index, so the answers (and the
    vectors) are those of a local run; only this process writes the resume log in ``run_dir``."""
    plan = settings.plan(seed)
    with open_contrast_log(run_dir, persona, plan) as log:
        done = {int(r["row_id"]): r for r in log.read()}

        def finished(_unit: tuple, records: list[dict]) -> None:
            log.append(records)  # the whole chunk as whole lines
            done.update({r["row_id"]: r for r in records})

        units = [(index, chunk, plan) for index, chunk in pending_chunks(persona, plan, done)]
        executor.map(_generate_unit, units, finished, desc=f"D± {persona.name} seed {seed}")
        table = contrast_table(persona, plan, done)
    return executor.call(_extract_unit, persona, settings, seed, table)


def model_label(model: str) -> str:
    """The name a loaded ``--model`` would report, without loading it (run directories are named by it)."""
    from billy_interp.core.embedded import EMBEDDED_MODEL_NAME
    from billy_interp.core.model import EMBEDDED

    return EMBEDDED_MODEL_NAME if model == EMBEDDED else model
