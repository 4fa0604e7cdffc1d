"""Validation of the creativity scores on a labelled set written for this project.

``data/validation/idea_labels.csv`` holds 144 ideas over 14 subjects of all four WKCT tasks, each
labelled ``common``, ``unusual``, ``off-topic`` or ``degenerate`` (provenance in
``data/validation/README.md``). :func:`validate_scores` scores every idea as a one-idea answer
with the old proxy and the guarded score and reports, side by side, how well each ranks unusual
above common ideas and rejects off-topic and degenerate ones (AUC: the probability that a random
idea of the first group scores above one of the second; 0.5 is chance) and its Spearman
correlation with the label order degenerate = off-topic < common < unusual. The guarded score is
reported with the embedding relevance and with the LM PMI relevance at several soft caps (the
shipped one is ``evaluation.relevance.PMI_SOFT_CAP``), so the choice of cap can be checked.
"""

from __future__ import annotations

from importlib import resources
from itertools import product

import pandas as pd

from billy_interp.core.model import SteerableModel
from billy_interp.evaluation.relevance import PMI_SOFT_CAP, guard
from billy_interp.evaluation.tasks import TASKS, task_subjects
from billy_interp.scoring.creativity import score_response
from billy_interp.scoring.guarded import on_task_weight, score_guarded

__all__ = ["SOFT_CAPS", "load_labels", "score_labels", "auc", "validate_scores"]

ORDER = {"degenerate": 0, "off-topic": 0, "common": 1, "unusual": 2}
COMPARISONS = (
    ("unusual", "common", "ranks unusual above common"),
    ("unusual", "off-topic", "ranks unusual above off-topic"),
    ("common", "off-topic", "ranks common above off-topic"),
    ("unusual", "degenerate", "ranks unusual above degenerate"),
)
SOFT_CAPS = (0.0, PMI_SOFT_CAP, 0.5, 1.0)  # 0 = a 0/1 weight (PMI > 0)


def load_labels() -> pd.DataFrame:
    """The labelled ideas: task, subject, label, idea."""
    path = resources.files("billy_interp") / "data" / "validation" / "idea_labels.csv"
    with resources.as_file(path) as file:
        return pd.read_csv(file)


def score_labels(labels: pd.DataFrame | None = None, model: SteerableModel | None = None) -> pd.DataFrame:
    """Every labelled idea with its old-proxy originality and its guarded scores: with the
    embedding relevance (suffix ``_emb``) and, when ``model`` is given, the LM PMI relevance
    (suffix ``_pmi`` for the shipped cap, ``_pmi_cap<c>`` for the others)."""
    labels = load_labels() if labels is None else labels
    pools = {task: task_subjects(task) for task in TASKS}
    guards = {task: guard(task, model) for task in TASKS} if model is not None else {}
    rows = []
    for row in labels.itertuples():
        record = {"task": row.task, "subject": row.subject, "label": row.label, "idea": row.idea}
        record["proxy_originality"] = score_response(row.subject, row.idea).originality
        emb = score_guarded(row.subject, row.idea, pools[row.task])
        record |= {
            "stripped_originality": emb.originality,
            "readable": emb.readability,
            "guarded_originality_emb": emb.guarded_originality,
            "relevance_emb": emb.ideas[0].relevance if emb.ideas else float("nan"),
        }
        if guards:
            pmi = score_guarded(row.subject, row.idea, **guards[row.task])
            judged = pmi.ideas[0] if pmi.ideas else None
            record["guarded_originality_pmi"] = pmi.guarded_originality
            record["relevance_pmi"] = judged.relevance if judged else float("nan")
            for cap in SOFT_CAPS:
                weight = on_task_weight(judged.relevance, cap) if judged else 0.0
                record[f"guarded_originality_pmi_cap{cap:g}"] = pmi.originality * pmi.readability * weight
        rows.append(record)
    return pd.DataFrame(rows)


def auc(higher: pd.Series, lower: pd.Series) -> float:
    """P(a random value of ``higher`` > one of ``lower``), ties half; NaN counts as the lowest."""
    a, b = higher.fillna(-1e9).to_numpy(), lower.fillna(-1e9).to_numpy()
    wins = sum((x > y) + 0.5 * (x == y) for x, y in product(a, b))
    return wins / (len(a) * len(b))


def validate_scores(scored: pd.DataFrame | None = None, model: SteerableModel | None = None) -> pd.DataFrame:
    """AUCs and Spearman correlations of each score with the labels (tidy: score, check, value, n)."""
    scored = score_labels(model=model) if scored is None else scored
    scores = {
        "old proxy (originality)": "proxy_originality",
        "stripped originality (no guard)": "stripped_originality",
        "guarded originality, embedding relevance (0/1)": "guarded_originality_emb",
        "embedding relevance": "relevance_emb",
        f"guarded originality, LM PMI (shipped, cap {PMI_SOFT_CAP:g})": "guarded_originality_pmi",
        **{f"guarded originality, LM PMI, cap {c:g}": f"guarded_originality_pmi_cap{c:g}" for c in SOFT_CAPS},
        "LM PMI relevance": "relevance_pmi",
        "readable": "readable",
    }
    rows = []
    order = scored["label"].map(ORDER)
    for name, column in scores.items():
        if column not in scored:
            continue
        for high, low, check in COMPARISONS:
            value = auc(scored.loc[scored["label"] == high, column], scored.loc[scored["label"] == low, column])
            rows.append(
                {"score": name, "check": check, "value": value, "n": int(scored["label"].isin([high, low]).sum())}
            )
        rho = scored[column].fillna(-1e9).rank().corr(order.rank())
        rows.append({"score": name, "check": "Spearman with the label order", "value": rho, "n": len(scored)})
    return pd.DataFrame(rows)
