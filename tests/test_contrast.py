import json

import pytest

from billy_interp.vectors import contrast
from billy_interp.vectors.contrast import ContrastPlan, filter_contrast, generate_contrast, plan_contrast
from billy_interp.vectors.personas import load_persona

PLAN = ContrastPlan(splits=("extract",), n_samples=1, max_new_tokens=4, batch_size=8, seed=1)


def test_plan_counts_and_order():
    persona = load_persona("futurist")
    table = plan_contrast(persona, ContrastPlan(question_kinds=("topical", "shared"), n_samples=2))
    n_q = len(persona.questions.extract) + 5
    n_eval = len(persona.questions.eval) + 3
    assert len(table) == n_q * 5 * 2 * 2 + n_eval * 5 * 2 * 1
    assert (table["sign"] == 1).sum() == (table["sign"] == -1).sum()
    assert table["row_id"].tolist() == list(range(len(table)))


def test_killed_run_resumes_to_the_same_table(tiny_model, tmp_path, monkeypatch):
    persona = load_persona("environmentalist")
    reference = generate_contrast(tiny_model, persona, PLAN, tmp_path / "ref", progress=False)
    real_generate = contrast.generate
    calls = {"n": 0}

    def dying_generate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("killed")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(contrast, "generate", dying_generate)
    with pytest.raises(KeyboardInterrupt):
        generate_contrast(tiny_model, persona, PLAN, tmp_path / "run", progress=False)
    lines = (tmp_path / "run" / contrast.RESPONSES_FILE).read_text().splitlines()
    assert len(lines) == 3 * PLAN.batch_size  # three finished chunks survived
    with open(tmp_path / "run" / contrast.RESPONSES_FILE, "a") as handle:
        handle.write('{"row_id": 999, "resp')  # torn write from the kill
    monkeypatch.setattr(contrast, "generate", real_generate)
    calls["n"] = 0
    resumed = generate_contrast(tiny_model, persona, PLAN, tmp_path / "run", progress=False)
    assert resumed.drop(columns=[]).equals(reference)
    rows = [json.loads(l) for l in (tmp_path / "run" / contrast.RESPONSES_FILE).read_text().splitlines()]
    assert sorted(r["row_id"] for r in rows) == list(range(len(reference)))


def test_filter_records_scores_and_reasons(tiny_model, tmp_path):
    persona = load_persona("environmentalist")
    table = generate_contrast(tiny_model, persona, PLAN, tmp_path, progress=False)
    table.loc[0, "response"] = "the the the the the the the the the the"
    filtered = filter_contrast(table, persona, keep_per_side=5)
    assert {"trait_score", "coherent", "kept", "filter_reason"} <= set(filtered.columns)
    assert not filtered.loc[0, "kept"] and "repetitive" in filtered.loc[0, "filter_reason"]
    for sign in (1, -1):
        assert (filtered["kept"] & (filtered["sign"] == sign)).sum() <= 5
    assert (filtered.loc[~filtered["kept"], "filter_reason"] != "").all()
    unfiltered = filter_contrast(table, persona, enabled=False)
    assert unfiltered["kept"].all()
