"""The vector report job: held-out separation of extracted (e.g. the shipped) vectors, as Markdown.

The job behind ``python -m billy_interp.vector_report``. Reads the ``<persona>.auc.csv`` and
``<persona>.data.csv`` files written by ``billy_interp.extract`` and writes a report with, per
persona, the best layer and AUC, the AUC at the paper's layer 20, the D+/D- trait-score gap, and a
per-layer AUC table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from billy_interp.core.layers import block_of, hook_name
from billy_interp.io import check_own_file, command_line, write_text
from billy_interp.options import VECTORS_DIR_HELP
from billy_interp.vectors.library import resolve_source

__all__ = ["ReportConfig", "summarize", "kept_coverage", "extraction_label", "compare_extractions", "run_vector_report"]


@dataclass(frozen=True)
class ReportConfig:
    """Summarise held-out AUCs of extracted vectors into Markdown."""

    vectors_dir: str = field(default="", metadata={"help": VECTORS_DIR_HELP})
    out: str = field(default="docs/vectors.md", metadata={"help": "Markdown file to write"})
    paper_layer: int = field(default=20, metadata={"help": "hidden-state index reported separately"})
    threshold: float = field(default=0.9, metadata={"help": "AUC called 'separates'"})
    title: str = field(default="Shipped persona vectors: held-out separation", metadata={"help": "heading"})
    command: str = field(default="", metadata={"help": "the extract command that made the vectors"})
    compare_dir: str = field(
        default="",
        metadata={
            "help": "vectors from another extraction (other question kinds, preset or seed): adds "
            "own- and cross-evaluated AUCs and the vectors' cosines (loads the model)"
        },
    )
    compare_command: str = field(default="", metadata={"help": "the extract command that made --compare-dir"})


def summarize(vectors_dir: str | Path | None, paper_layer: int = 20) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per persona x pooling, the long per-layer AUC table); ``None``: the shipped vectors."""
    vectors_dir = resolve_source(vectors_dir, option="--vectors-dir")
    frames = [pd.read_csv(p) for p in sorted(vectors_dir.glob("*.auc.csv"))]
    if not frames:
        raise FileNotFoundError(f"no *.auc.csv in {vectors_dir}; run python -m billy_interp.extract first")
    long = pd.concat(frames, ignore_index=True)
    if paper_layer not in set(long["paper_layer"]):
        low, high = int(long["paper_layer"].min()), int(long["paper_layer"].max())
        raise ValueError(f"--paper-layer: paper layer {paper_layer} is not among these vectors' layers ({low}..{high})")
    rows = []
    for (persona, pooling), group in long.groupby(["persona", "pooling"], sort=True):
        best = group.loc[group["auc"].idxmax()]
        at_paper = group.loc[group["paper_layer"] == paper_layer, "auc"]
        data = pd.read_csv(vectors_dir / f"{persona}.data.csv")
        extract = data[data["split"] == "extract"]
        gap = (
            extract.loc[extract["sign"] == 1, "trait_score"].mean()
            - extract.loc[extract["sign"] == -1, "trait_score"].mean()
        )
        rows.append(
            {
                "persona": persona,
                "pooling": pooling,
                "best_block": int(best["block"]),
                "best_auc": float(best["auc"]),
                f"auc_at_layer_{paper_layer}": float(at_paper.iloc[0]) if len(at_paper) else float("nan"),
                "trait_gap": float(gap),
                "kept_extract_rows": int(extract["kept"].sum()),
                **kept_coverage(extract),
                "eval_rows": int((data["split"] == "eval").sum()),
            }
        )
    return pd.DataFrame(rows), long


def kept_coverage(extract: pd.DataFrame) -> dict[str, str]:
    """How many of the extraction's questions and (question, instruction pair) prompts the kept
    rows come from, as "kept/all". A per-side cap that keeps the first rows in generation order
    (the paper preset) can draw a whole vector from the first question."""
    kept = extract[extract["kept"].astype(bool)]
    prompts = ["question_id", "pair"]
    return {
        "kept_questions": f"{kept['question_id'].nunique()}/{extract['question_id'].nunique()}",
        "kept_prompts": f"{len(kept.drop_duplicates(prompts))}/{len(extract.drop_duplicates(prompts))}",
    }


def _heldout(directory: Path, persona: str) -> pd.DataFrame:
    import json

    data = pd.read_csv(directory / f"{persona}.data.csv")
    data["response_ids"] = data["response_ids"].map(json.loads)
    return data[data["split"] == "eval"].reset_index(drop=True)


def extraction_label(metadata: dict) -> str:
    """What made a vector, in one short label: question kinds, samples x tokens, kept rows, seed."""
    kinds = "+".join(metadata.get("question_kinds", ["?"]))
    return (
        f"{kinds}, {metadata.get('n_samples', '?')}x{metadata.get('max_new_tokens', '?')} tok, "
        f"{metadata.get('n_positive', '?')}+/{metadata.get('n_negative', '?')}-, seed {metadata.get('seed', '?')}"
    )


def compare_extractions(
    vectors_dir: str | Path, compare_dir: str | Path, paper_layer: int = 20, model: Any | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each persona in both folders, two extractions side by side: (every vector evaluated on
    both held-out sets, the two vectors' cosine at ``paper_layer`` and over all layers). ``model``
    defaults to the embedded one."""
    from billy_interp.core.loading import load_model
    from billy_interp.vectors.extraction import pool_table, separation_auc
    from billy_interp.vectors.formats import load_vector

    dirs = {
        "a": resolve_source(vectors_dir, option="--vectors-dir"),
        "b": resolve_source(compare_dir, option="--compare-dir"),
    }
    personas = sorted(set.intersection(*({p.name.split(".")[0] for p in d.glob("*.auc.csv")} for d in dirs.values())))
    if not personas:
        raise FileNotFoundError(f"--compare-dir {compare_dir}: no persona is in both it and {dirs['a']}")
    model = model if model is not None else load_model()  # after the folders are checked
    block = model.layers.resolve(layer=paper_layer)[0]
    auc_rows, cosine_rows = [], []
    for persona in personas:
        vectors, heldout, labels = {}, {}, {}
        for key, directory in dirs.items():
            vectors[key] = load_vector(directory / f"{persona}.safetensors", model)
            labels[key] = extraction_label(vectors[key].metadata)
            data = _heldout(directory, persona)
            heldout[key] = (pool_table(model, data, poolings=("response_mean",))["response_mean"], list(data["sign"]))
        for vec_key in dirs:
            for data_key in dirs:
                frame = separation_auc(vectors[vec_key], *heldout[data_key])
                auc_rows.append(
                    {
                        "persona": persona,
                        "vector_from": labels[vec_key],
                        "evaluated_on": labels[data_key],
                        "best_auc": frame["auc"].max(),
                        "best_block": int(frame.loc[frame["auc"].idxmax(), "block"]),
                        f"auc_at_layer_{paper_layer}": float(frame.loc[frame["block"] == block, "auc"].iloc[0]),
                    }
                )
        cosines = pd.Series(vectors["a"].cosine(vectors["b"]))
        cosine_rows.append(
            {
                "persona": persona,
                "a": labels["a"],
                "b": labels["b"],
                f"cosine_at_layer_{paper_layer}": cosines[hook_name(block)],
                "mean_cosine": cosines.mean(),
                "min_cosine": cosines.min(),
                "min_block": block_of(str(cosines.idxmin())),
            }
        )
    return pd.DataFrame(auc_rows), pd.DataFrame(cosine_rows)


def _trait_gaps(directory: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(directory.glob("*.data.csv")):
        data = pd.read_csv(path)
        ex = data[data["split"] == "extract"]
        rows.append(
            {
                "persona": path.name.split(".")[0],
                "folder": f"{directory.parent.name}/{directory.name}",  # extract writes OUT/<model>/
                "kinds": "+".join(sorted(ex["question_kind"].unique())),
                "trait_D+": ex.loc[ex["sign"] == 1, "trait_score"].mean(),
                "trait_D-": ex.loc[ex["sign"] == -1, "trait_score"].mean(),
            }
        )
    frame = pd.DataFrame(rows)
    frame["gap"] = frame["trait_D+"] - frame["trait_D-"]
    return frame


def run_vector_report(config: ReportConfig) -> pd.DataFrame:
    """Write the Markdown report; return the per-persona summary."""
    check_own_file(config.out, "python -m billy_interp.vector_report")
    summary, long = summarize(config.vectors_dir, config.paper_layer)
    main_rows = summary[summary["pooling"] == "response_mean"].sort_values("best_auc", ascending=False)
    passing = main_rows[main_rows["best_auc"] >= config.threshold]["persona"].tolist()
    failing = main_rows[main_rows["best_auc"] < config.threshold]["persona"].tolist()
    fmt = lambda frame: frame.to_markdown(index=False, floatfmt=".3f")  # noqa: E731
    layer_table = long[long["pooling"] == "response_mean"].pivot(index="persona", columns="block", values="auc")
    lines = [
        f"# {config.title}",
        "",
        f"Made by `{command_line('billy_interp.vector_report', replace(config, out=ReportConfig.out))}` from the "
        "files that `billy_interp.extract` wrote."
        + (f" Vectors made by `{config.command}`." if config.command else ""),
        "",
        "AUC: project each held-out (eval-question) D+ and D- response onto the vector (response-mean "
        "activations, system prompt in context) and take P(D+ > D-). 0.5 is chance. `trait_gap` is the "
        "mean offline trait score of D+ minus D- extract responses (embedding proxy, not the paper's judge). "
        "Blocks are TL block indices: block `l` is the paper's layer `l+1`. `kept_questions` and "
        "`kept_prompts` count the extraction questions and (question, instruction pair) prompts the kept "
        "D+/D- rows come from, out of all of them.",
        "",
        "Caveat: with about 15 D+ and 15 D- held-out responses per persona, one AUC has a standard error "
        f"near 0.07, and the best of {long['block'].nunique()} layers is optimistically biased; "
        f"`auc_at_layer_{config.paper_layer}` is the pre-registered layer"
        + (" (the paper's)." if config.paper_layer == 20 else " (the paper's layer 20 scaled to this depth)."),
        "",
        f"**Reach AUC >= {config.threshold} at some layer (response-mean vector):** {', '.join(passing) or 'none'}.",
        "",
        f"**Do not:** {', '.join(failing) or 'none'}.",
        "",
        "## Per persona (response-mean vector, the paper's)",
        "",
        fmt(main_rows),
        "",
        "## Other poolings (same held-out activations, vectors from prompt-mean / last-prompt-token)",
        "",
        fmt(summary[summary["pooling"] != "response_mean"]),
        "",
        "## AUC per block (response-mean vector)",
        "",
        fmt(layer_table.reset_index()),
        "",
    ]
    if config.compare_dir:
        comparison, cosines = compare_extractions(config.vectors_dir, config.compare_dir, config.paper_layer)
        gaps = pd.concat(
            [_trait_gaps(resolve_source(config.vectors_dir)), _trait_gaps(resolve_source(config.compare_dir))]
        )
        gaps = gaps[gaps["persona"].isin(comparison["persona"])].sort_values(["persona", "kinds"])
        lines += [
            "## Two extractions side by side",
            "",
            f"Vectors from `{config.compare_command or config.compare_dir}` against these. Each vector is "
            "evaluated on both held-out sets (response-mean activations); labels say what made it "
            "(question kinds, samples x response tokens, kept D+/D- rows, seed). The trait gap is the mean "
            "offline trait score of D+ minus D- extract responses (with topical questions the paper's worry "
            "is that they pull D- toward the trait too, shrinking this gap).",
            "",
            fmt(comparison),
            "",
            "Cosine between the two extractions' vectors (one per block; `min_block` is where they agree least):",
            "",
            fmt(cosines),
            "",
            fmt(gaps),
            "",
        ]
    write_text("\n".join(lines), config.out)
    print(f"wrote {config.out}: {len(passing)} of {len(main_rows)} personas reach AUC >= {config.threshold}")
    return summary
