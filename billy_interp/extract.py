"""``python -m billy_interp.extract``: persona vectors from contrastive D+/D- generations.

    python -m billy_interp.extract --persona environmentalist --out vectors
    python -m billy_interp.extract --persona all --out vectors            # the whole catalog
    python -m billy_interp.extract --persona-file my_persona.yaml --out vectors
    python -m billy_interp.extract --persona futurist --seeds 0,1,2       # stability runs

For each persona it writes, under ``OUT/<model>/``: ``<persona>.safetensors`` (response-mean
vector, the paper's), ``<persona>.prompt_mean.safetensors``, ``<persona>.last_prompt.safetensors``,
the tidy data table ``<persona>.data.csv`` and the held-out separation ``<persona>.auc.csv``.
Generation is resumable: rerun the same command after an interruption.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from billy_interp.artifacts import save_vector, write_csv, write_json
from billy_interp.cli import parse_config, write_run_record
from billy_interp.contrast import ContrastPlan, filter_contrast, generate_contrast, table_hash
from billy_interp.extraction import Extractor, pool_table, separation_auc, vectors_from_pooled
from billy_interp.model import SteerableModel, load_model
from billy_interp.personas import PAPER_PERSONAS, Persona, load_persona

__all__ = ["ExtractConfig", "PersonaExtraction", "extract_persona", "main"]


@dataclass(frozen=True)
class ExtractConfig:
    """Extract persona vectors (mean over response tokens, D+ minus D-, every layer)."""

    persona: str = field(default="", metadata={"help": "catalog name(s), comma-separated, or 'all'"})
    persona_file: str = field(default="", metadata={"help": "path to a persona JSON/YAML file"})
    model: str = field(default="embedded", metadata={"help": "HF name or path; 'embedded' = SmolLM2-135M"})
    out: str = field(default="vectors", metadata={"help": "output directory (a <model> subfolder is made)"})
    run_dir: str = field(default="runs/extract", metadata={"help": "resumable working directory"})
    question_kinds: str = field(default="topical", metadata={"help": "topical, shared or topical,shared"})
    n_samples: int = field(default=2, metadata={"help": "samples per (question, pair, sign), extract split"})
    n_eval_samples: int = field(default=1, metadata={"help": "samples per (question, pair, sign), eval split"})
    max_new_tokens: int = field(default=64, metadata={"help": "response length"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature (paper: 1.0)"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    seeds: str = field(default="", metadata={"help": "comma-separated seeds: one vector per seed"})
    extractor: Literal["mean_diff", "pca"] = field(default="mean_diff", metadata={"help": "direction estimator"})
    system_in_context: bool = field(default=True, metadata={"help": "keep the system prompt in the teacher-forced pass"})
    filter: bool = field(default=True, metadata={"help": "offline trait/coherence filter"})
    judge_model: str = field(default="", metadata={"help": "LLM judge model for filtering (empty = offline filter)"})
    judge_base_url: str = field(default="", metadata={"help": "OpenAI-compatible URL (default: $OPENAI_BASE_URL)"})
    keep_per_side: int = field(default=0, metadata={"help": "cap kept rows per sign (paper: 20); 0 = no cap"})
    batch_size: int = field(default=16, metadata={"help": "generation and activation batch size"})
    device: str = field(default="", metadata={"help": "e.g. cuda; empty = model default (cpu)"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})

    def __post_init__(self) -> None:
        if bool(self.persona) == bool(self.persona_file):
            raise ValueError("give exactly one of --persona or --persona-file")

    def personas(self) -> list[Persona]:
        if self.persona_file:
            return [load_persona(Path(self.persona_file))]
        names = list(PAPER_PERSONAS) if self.persona == "all" else [n.strip() for n in self.persona.split(",") if n.strip()]
        return [load_persona(n) for n in names]

    def seed_list(self) -> list[int]:
        return [int(s) for s in self.seeds.split(",") if s.strip()] if self.seeds else [self.seed]


@dataclass(frozen=True)
class PersonaExtraction:
    persona: str
    seed: int
    vectors: dict  # pooling -> PersonaVector
    table: pd.DataFrame
    auc: pd.DataFrame
    pooled: Any = None  # response-mean residuals of every table row, [row, layer, d_model]


def _model_slug(model: SteerableModel) -> str:
    return model.name.replace("/", "__")


def extract_persona(model: SteerableModel, persona: Persona, config: ExtractConfig, seed: int) -> PersonaExtraction:
    """Generate (or resume) D+/D- for one persona and seed, filter, pool and return its vectors and tables."""
    kinds = tuple(k.strip() for k in config.question_kinds.split(","))
    plan = ContrastPlan(
        question_kinds=kinds, n_samples=config.n_samples, n_eval_samples=config.n_eval_samples,
        max_new_tokens=config.max_new_tokens, temperature=config.temperature, seed=seed,
        batch_size=config.batch_size,
    )
    run_dir = Path(config.run_dir) / _model_slug(model) / f"{persona.name}-{'+'.join(kinds)}-seed{seed}"
    table = generate_contrast(model, persona, plan, run_dir)
    judge = None
    if config.judge_model:
        from billy_interp.judge import Judge, JudgeConfig

        judge = Judge(JudgeConfig(model=config.judge_model, base_url=config.judge_base_url or None))
    table = filter_contrast(
        table, persona, keep_per_side=config.keep_per_side or None, enabled=config.filter, judge=judge
    )
    table = table[table["response_tokens"] > 0].reset_index(drop=True)
    pooled = pool_table(model, table, system_in_context=config.system_in_context, batch_size=config.batch_size)
    train = (table["split"] == "extract") & table["kept"]
    for sign, label in ((1, "D+"), (-1, "D-")):
        if not (train & (table["sign"] == sign)).any():
            reasons = table.loc[table["sign"] == sign, "filter_reason"].value_counts().to_dict()
            raise ValueError(
                f"{persona.name}: the filter kept no {label} extract rows (reasons: {reasons}); "
                "generate longer responses (--max-new-tokens), more samples, or pass --no-filter"
            )
    held_out = table["split"] == "eval"
    pair_keys = list(zip(table["question_id"], table["pair"], table["sample"]))
    meta = {
        "persona": persona.name, "persona_spec": persona.to_dict(), "seed": seed,
        "question_kinds": list(kinds), "system_in_context": config.system_in_context,
        "data_hash": table_hash(table[train]), "n_samples": config.n_samples,
        "max_new_tokens": config.max_new_tokens, "temperature": config.temperature,
        "filter": f"judge:{config.judge_model}" if judge else ("offline" if config.filter else "none"),
        "layer_convention": "blocks.{l}.hook_resid_post = HF hidden_states[l+1] = paper layer l+1",
    }
    vectors, aucs = {}, []
    train_idx = list(table.index[train])
    for pooling, acts in pooled.items():
        vec = vectors_from_pooled(
            acts[train_idx], list(table.loc[train, "sign"]), model, extractor=config.extractor,
            pair_keys=[pair_keys[i] for i in train_idx], metadata={**meta, "pooling": pooling},
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
    return PersonaExtraction(persona.name, seed, vectors, table, auc_table, pooled["response_mean"])


def save_extraction(result: PersonaExtraction, out_dir: Path, seed_suffix: bool) -> None:
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


def main(argv: Sequence[str] | None = None) -> list[PersonaExtraction]:
    config = parse_config(ExtractConfig, argv, __doc__)
    personas = config.personas()  # validate names before the model loads
    model = load_model(config.model, device=config.device or None, dtype=config.dtype)
    out_dir = Path(config.out) / _model_slug(model)
    seeds = config.seed_list()
    if len(seeds) > 1:
        out_dir = out_dir / "seeds"
    write_run_record(Path(config.run_dir) / _model_slug(model), config, argv, "billy_interp.extract")
    results = []
    for persona in personas:
        for seed in seeds:
            result = extract_persona(model, persona, config, seed)
            save_extraction(result, out_dir, seed_suffix=len(seeds) > 1)
            best = result.auc[result.auc["pooling"] == "response_mean"]["auc"].max() if not result.auc.empty else float("nan")
            kept = int(((result.table["split"] == "extract") & result.table["kept"]).sum())
            print(f"{persona.name} seed {seed}: kept {kept} extract rows, best held-out AUC {best:.3f} -> {out_dir}")
            results.append(result)
    write_json(asdict(config), out_dir / "extract_config.json")
    return results


if __name__ == "__main__":
    main()
