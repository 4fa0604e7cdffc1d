"""Extract persona vectors: one call for a notebook, one job for the command line.

    vector = extract_vector(model, "futurist")                 # catalog persona -> PersonaVector
    vector = extract_vector(model, "my_persona.yaml", n_samples=4)

For a persona it generates D+ (persona system prompt) and D- (neutral) answers to its questions,
filters them, re-runs prompt + response teacher-forced, pools the residual stream over response
tokens at every layer and takes mean(D+) - mean(D-). Generation is cached and resumable: the
answers are logged under ``cache_dir`` (default ``~/.cache/billy_interp/contrast``), keyed by the
model, persona, seed and every generation setting, so the same call again is fast and a changed
setting never reuses another setting's answers.

:func:`billy_interp.jobs.extract.run_extract` is the job behind ``python -m billy_interp.extract``
(several personas and seeds, files written to ``--out``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch

from billy_interp.core.embedded import cache_root
from billy_interp.core.model import SteerableModel
from billy_interp.io import write_csv, write_json
from billy_interp.options import UsageError, parse_names, require_at_least_one
from billy_interp.vectors.contrast import (
    FILTER_RULES,
    KEEP_ORDERS,
    ContrastPlan,
    filter_contrast,
    generate_contrast,
    table_hash,
)
from billy_interp.vectors.extraction import pool_table, separation_auc, vectors_from_pooled
from billy_interp.vectors.formats import save_vector
from billy_interp.vectors.library import model_slug
from billy_interp.vectors.personas import Persona, load_persona
from billy_interp.vectors.vector import PersonaVector

PoolRows = Literal["used", "all"]
POOL_ROWS: tuple[str, ...] = ("used", "all")

__all__ = [
    "ExtractionSettings",
    "PersonaExtraction",
    "extract_persona",
    "extract_from_table",
    "extract_vector",
    "save_extraction",
    "PROVENANCE_FILE",
    "EXTRACTION_PRESETS",
    "preset_values",
]

PROVENANCE_FILE = "{stem}.extract.json"  # sidecar: the settings that made a persona's files


@dataclass(frozen=True)
class ExtractionSettings:
    """What decides a persona vector (defaults: the shipped vectors' settings)."""

    question_kinds: str = field(default="topical", metadata={"help": "topical, shared or topical,shared"})
    n_samples: int = field(default=2, metadata={"help": "samples per (question, pair, sign), extract split"})
    n_eval_samples: int = field(default=1, metadata={"help": "samples per (question, pair, sign), eval split"})
    max_new_tokens: int = field(default=64, metadata={"help": "response length"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature (paper: 1.0)"})
    extractor: Literal["mean_diff", "pca"] = field(default="mean_diff", metadata={"help": "direction estimator"})
    system_in_context: bool = field(
        default=True, metadata={"help": "keep the system prompt in the teacher-forced pass"}
    )
    filter: bool = field(default=True, metadata={"help": "offline trait/coherence filter"})
    judge_model: str = field(default="", metadata={"help": "LLM judge model for filtering (empty = offline filter)"})
    judge_base_url: str = field(default="", metadata={"help": "OpenAI-compatible URL (default: $OPENAI_BASE_URL)"})
    keep_per_side: int = field(default=0, metadata={"help": "cap kept rows per sign (paper: 20); 0 = no cap"})
    filter_rule: str = field(
        default="median", metadata={"help": "median (ours) or adaptive (the paper's adaptive thresholds)"}
    )
    keep_order: str = field(
        default="ranked", metadata={"help": "which rows the cap keeps: ranked (most trait-like) or first (paper)"}
    )
    batch_size: int = field(default=16, metadata={"help": "generation and activation batch size"})

    def __post_init__(self) -> None:
        require_at_least_one(self, ("n_samples", "max_new_tokens", "batch_size"))
        if self.n_eval_samples < 0 or self.keep_per_side < 0:
            raise UsageError("--n-eval-samples and --keep-per-side must be >= 0")
        if self.temperature <= 0:
            raise UsageError(f"--temperature must be > 0, got {self.temperature}")
        if self.filter_rule not in FILTER_RULES:
            raise UsageError(f"--filter-rule {self.filter_rule!r}: use {' or '.join(FILTER_RULES)}")
        if self.keep_order not in KEEP_ORDERS:
            raise UsageError(f"--keep-order {self.keep_order!r}: use {' or '.join(KEEP_ORDERS)}")
        self.kinds()

    def kinds(self) -> tuple[str, ...]:
        return tuple(parse_names(self.question_kinds, "--question-kinds", ("topical", "shared")))

    def plan(self, seed: int) -> ContrastPlan:
        return ContrastPlan(
            question_kinds=self.kinds(),
            n_samples=self.n_samples,
            n_eval_samples=self.n_eval_samples,  # type: ignore[arg-type]
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            seed=seed,
            batch_size=self.batch_size,
        )

    def generation_dir(self, root: str | Path, model_name: str, persona: str, seed: int) -> Path:
        """Where the D+/D- answers of this plan live under ``root``: one folder per model, persona,
        question kinds and seed, with ``-n<samples>-t<tokens>`` added when those differ from the
        defaults, so that a larger extraction never collides with the default one's answers."""
        defaults = {f.name: f.default for f in fields(ExtractionSettings)}
        default_size = (self.n_samples, self.max_new_tokens) == (defaults["n_samples"], defaults["max_new_tokens"])
        plan = "" if default_size else f"-n{self.n_samples}-t{self.max_new_tokens}"
        return Path(root) / model_slug(model_name) / f"{persona}-{'+'.join(self.kinds())}-seed{seed}{plan}"

    def decisive(self) -> dict[str, Any]:
        """The settings that decide a vector (batch size does not; the filter rule and keep order
        only when they differ from ours, so the provenance of earlier vectors still matches)."""
        decisive = {f.name: getattr(self, f.name) for f in fields(ExtractionSettings) if f.name != "batch_size"}
        for name, ours in (("filter_rule", "median"), ("keep_order", "ranked")):
            if decisive[name] == ours:
                del decisive[name]
        return decisive


# Presets: ``fast`` is the shipped vectors' recipe (minutes per persona on a CPU); ``paper`` is
# the paper's extraction (10 samples per instruction pair and question at T = 1, up to 1,000
# tokens, the adaptive filter, the first 20 kept rows per side).
EXTRACTION_PRESETS = {
    "fast": {},
    "paper": {
        "n_samples": 10,
        "max_new_tokens": 1000,
        "temperature": 1.0,
        "keep_per_side": 20,
        "filter_rule": "adaptive",
        "keep_order": "first",
    },
}


def preset_values(preset: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The settings ``preset`` fixes, checked against ``given`` (option name -> value): an option
    left at its default takes the preset's value; one set to anything else is refused."""
    if preset not in EXTRACTION_PRESETS:
        raise UsageError(f"--preset {preset!r}: use one of {', '.join(EXTRACTION_PRESETS)}")
    defaults = {f.name: f.default for f in fields(ExtractionSettings)}
    for name, value in EXTRACTION_PRESETS[preset].items():
        if name in given and given[name] not in (defaults[name], value):
            raise UsageError(
                f"--{name.replace('_', '-')} {given[name]} contradicts --preset {preset} ({value}); drop one"
            )
    return dict(EXTRACTION_PRESETS[preset])


@dataclass(frozen=True)
class PersonaExtraction:
    """One persona and seed: its vectors (per pooling), the D+/D- table, held-out AUCs."""

    persona: str
    seed: int
    vectors: dict  # pooling -> PersonaVector
    table: pd.DataFrame
    auc: pd.DataFrame
    # response-mean residuals by table row, [row, layer, d_model]; NaN for rows not pooled (see
    # ``pool_rows`` of extract_from_table)
    pooled: Any = None
    pooled_by: Any = None  # every pooling's residuals: {pooling: [row, layer, d_model]}


def extract_persona(
    model: SteerableModel,
    persona: Persona,
    config: ExtractionSettings,
    seed: int,
    run_dir: str | Path,
    *,
    pool_rows: PoolRows = "used",
) -> PersonaExtraction:
    """Generate (or resume, from ``run_dir``) D+/D- for one persona and seed, filter, pool; its
    vectors (one per pooling) and tables."""
    table = generate_contrast(model, persona, config.plan(seed), run_dir)
    return extract_from_table(model, persona, config, seed, table, pool_rows=pool_rows)


def extract_from_table(
    model: SteerableModel,
    persona: Persona,
    config: ExtractionSettings,
    seed: int,
    table: pd.DataFrame,
    *,
    pool_rows: PoolRows = "used",
) -> PersonaExtraction:
    """Filter and pool a generated D+/D- table (:func:`~billy_interp.vectors.contrast.contrast_table`);
    its vectors (one per pooling) and tables.

    ``pool_rows="used"`` runs the teacher-forced pass only over the rows a vector or its held-out
    AUC reads (kept extract rows and every eval row): under the paper preset that is ~60 of ~530
    rows, the rest being filtered out. ``"all"`` pools every row, for callers that re-filter
    subsets of the table (the stability curve); rows not pooled are NaN in ``pooled``."""
    if pool_rows not in POOL_ROWS:
        raise ValueError(f"pool_rows {pool_rows!r}: use {' or '.join(POOL_ROWS)}")
    kinds = config.kinds()
    judge = None
    if config.judge_model:
        from billy_interp.scoring.judge import Judge, JudgeConfig

        judge = Judge(JudgeConfig(model=config.judge_model, base_url=config.judge_base_url or None))
    table = filter_contrast(
        table,
        persona,
        keep_per_side=config.keep_per_side or None,
        enabled=config.filter,
        judge=judge,
        rule=config.filter_rule,
        keep=config.keep_order,
    )
    table = table[table["response_tokens"] > 0].reset_index(drop=True)
    train = (table["split"] == "extract") & table["kept"]
    for sign, label in ((1, "D+"), (-1, "D-")):
        if not (train & (table["sign"] == sign)).any():
            reasons = table.loc[table["sign"] == sign, "filter_reason"].value_counts().to_dict()
            raise ValueError(
                f"{persona.name}: the filter kept no {label} extract rows (reasons: {reasons}); "
                "generate longer responses (--max-new-tokens), more samples, or pass --no-filter"
            )
    held_out = table["split"] == "eval"
    pooled = _pool_rows(model, table, config, train | held_out if pool_rows == "used" else None)
    pair_keys = list(zip(table["question_id"], table["pair"], table["sample"]))
    meta = {
        "persona": persona.name,
        "persona_spec": persona.to_dict(),
        "seed": seed,
        "question_kinds": list(kinds),
        "system_in_context": config.system_in_context,
        "data_hash": table_hash(table[train]),
        "n_samples": config.n_samples,
        "max_new_tokens": config.max_new_tokens,
        "temperature": config.temperature,
        "filter": f"judge:{config.judge_model}" if judge else ("offline" if config.filter else "none"),
        "layer_convention": "blocks.{b}.hook_resid_post = HF hidden_states[b+1] = paper layer b+1",
    }
    vectors, aucs = {}, []
    train_idx = list(table.index[train])
    for pooling, acts in pooled.items():
        vec = vectors_from_pooled(
            acts[train_idx],
            list(table.loc[train, "sign"]),
            model,
            extractor=config.extractor,
            pair_keys=[pair_keys[i] for i in train_idx],
            metadata={**meta, "pooling": pooling},
        )
        vectors[pooling] = vec
        if held_out.any():
            eval_idx = list(table.index[held_out])
            frame = separation_auc(vec, pooled["response_mean"][eval_idx], list(table.loc[held_out, "sign"]))
            frame.insert(0, "pooling", pooling)
            aucs.append(frame)
    auc_table = pd.concat(aucs, ignore_index=True) if aucs else pd.DataFrame()
    if not auc_table.empty:
        auc_table.insert(0, "persona", persona.name)
        auc_table.insert(1, "seed", seed)
    return PersonaExtraction(persona.name, seed, vectors, table, auc_table, pooled["response_mean"], pooled)


def _pool_rows(model: SteerableModel, table: pd.DataFrame, config: ExtractionSettings, rows: pd.Series | None) -> dict:
    if rows is None:
        return pool_table(model, table, system_in_context=config.system_in_context, batch_size=config.batch_size)
    index = torch.tensor(list(table.index[rows]))
    some = pool_table(model, table[rows], system_in_context=config.system_in_context, batch_size=config.batch_size)
    out = {}
    for pooling, acts in some.items():
        full = torch.full((len(table), *acts.shape[1:]), float("nan"), dtype=acts.dtype)
        full[index] = acts
        out[pooling] = full
    return out


def extract_vector(
    model: SteerableModel,
    persona: str | Path | Persona,
    *,
    n_samples: int = 2,
    n_eval_samples: int = 1,
    max_new_tokens: int = 64,
    temperature: float = 1.0,
    seed: int = 0,
    question_kinds: str = "topical",
    filter: bool = True,
    extractor: Literal["mean_diff", "pca"] = "mean_diff",
    pooling: Literal["response_mean", "prompt_mean", "last_prompt"] = "response_mean",
    batch_size: int = 16,
    cache_dir: str | Path | None = None,
) -> PersonaVector:
    """A persona's vector (every layer) from one call: a catalog name, a persona file or a
    :class:`Persona`. Defaults are the shipped vectors' settings; the paper's
    ``response_mean`` pooling. Cached and resumable (see the module docstring)."""
    spec = persona if isinstance(persona, Persona) else load_persona(persona)
    config = ExtractionSettings(
        n_samples=n_samples,
        n_eval_samples=n_eval_samples,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        question_kinds=question_kinds,
        filter=filter,
        extractor=extractor,
        batch_size=batch_size,
    )
    settings = {**config.decisive(), "seed": seed, "model": model.name, "persona_spec": spec.to_dict()}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    root = Path(cache_dir).expanduser() if cache_dir else cache_root() / "contrast"
    run_dir = root / model_slug(model.name) / f"{spec.name}-seed{seed}-{key}"
    return extract_persona(model, spec, config, seed, run_dir).vectors[pooling]


def save_extraction(result: PersonaExtraction, out_dir: Path, seed_suffix: bool, settings: dict | None = None) -> None:
    """Write a persona's vectors (one file per pooling), data and AUC tables, and provenance."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{result.persona}.seed{result.seed}" if seed_suffix else result.persona
    for pooling, vector in result.vectors.items():
        suffix = "" if pooling == "response_mean" else f".{pooling}"
        save_vector(vector, out_dir / f"{stem}{suffix}.safetensors")
    table = result.table.copy()
    table["response_ids"] = table["response_ids"].map(json.dumps)
    write_csv(table, out_dir / f"{stem}.data.csv")
    if not result.auc.empty:
        write_csv(result.auc, out_dir / f"{stem}.auc.csv")
    if settings is not None:
        write_json(settings, out_dir / PROVENANCE_FILE.format(stem=stem))
