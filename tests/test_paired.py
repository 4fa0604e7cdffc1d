import numpy as np
import pandas as pd
import pytest

from billy_interp.evaluation.paired import paired_differences


def _table(values, task="aut", start=0):
    return pd.DataFrame(
        {"task": task, "item_id": [f"{task}-{i + start}" for i in range(len(values))], "originality": values}
    )


def test_a_consistent_shift_is_detected_even_when_items_vary_a_lot():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1.0, 20)  # item difficulty spread much larger than the shift
    a, b = _table(base + 0.2 + rng.normal(0, 0.02, 20)), _table(base)
    row = paired_differences(a, b, "originality").iloc[0]
    assert row["n"] == 20 and row["difference"] == pytest.approx(0.2, abs=0.02)
    assert row["ci_low"] > 0.15 and row["p"] < 0.01


def test_no_difference_gives_a_ci_around_zero_and_a_large_p():
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1.0, 30)
    row = paired_differences(
        _table(base + rng.normal(0, 0.1, 30)), _table(base + rng.normal(0, 0.1, 30)), "originality"
    ).iloc[0]
    assert row["ci_low"] < 0 < row["ci_high"] and row["p"] > 0.05


def test_only_shared_items_with_scores_are_paired_and_tasks_are_pooled():
    a = pd.concat([_table([1.0, 2.0, np.nan, 4.0]), _table([1.0, 1.0], task="instances")])
    b = pd.concat([_table([0.0, 1.0, 1.0], start=0), _table([0.0, 0.0], task="instances")])
    frame = paired_differences(a, b, "originality", n_boot=200).set_index("task")
    assert frame.loc["aut", "n"] == 2 and frame.loc["aut", "difference"] == pytest.approx(1.0)
    assert frame.loc["instances", "n"] == 2 and frame.loc["all", "n"] == 4


def test_bad_tables_are_named():
    with pytest.raises(ValueError, match="nothing to compare"):
        paired_differences(_table([1.0]), _table([1.0], start=5), "originality")
    with pytest.raises(ValueError, match="lacks column"):
        paired_differences(_table([1.0]), _table([1.0]), "elaboration")
    with pytest.raises(ValueError, match="more than one response"):
        paired_differences(pd.concat([_table([1.0]), _table([2.0])]), _table([1.0]), "originality")
