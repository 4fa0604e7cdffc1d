import pandas as pd
import pytest

from billy_interp.jobs.compare import CompareConfig, load_method, run_compare
from tests.conftest import job_main

main = job_main(CompareConfig, run_compare)


def _run(tmp_path, name, rows):
    run = tmp_path / name
    run.mkdir()
    pd.DataFrame(rows, columns=["task", "item_id", "method", "originality", "elaboration"]).to_csv(
        run / "responses.csv", index=False
    )
    return run


def test_compare_pairs_items_across_run_directories(tmp_path):
    main_run = _run(
        tmp_path,
        "main",
        [("aut", f"aut-{i}", m, v + i, 10.0) for i in range(6) for m, v in (("billy", 0.5), ("sa", 0.0))],
    )
    matched = _run(tmp_path, "matched", [("aut", f"aut-{i}", "sa_t1", 0.25 + i, 12.0) for i in range(6)])
    table = main(
        [
            "--a",
            f"{main_run}:billy",
            "--b",
            f"{main_run}:sa,{matched}:sa_t1",
            "--n-boot",
            "200",
            "--out",
            str(tmp_path / "cmp"),
        ]
    )
    by = table.set_index(["b", "metric"])
    assert by.loc[(f"{main_run}:sa", "originality"), "difference"] == pytest.approx(0.5)
    assert by.loc[(f"{matched}:sa_t1", "originality"), "difference"] == pytest.approx(0.25)
    assert by.loc[(f"{matched}:sa_t1", "elaboration"), "difference"] == pytest.approx(-2.0)
    saved = pd.read_csv(tmp_path / "cmp" / "comparison.csv")
    assert len(saved) == 4 and (tmp_path / "cmp" / "command.txt").exists()


def test_bad_specs_are_named(tmp_path):
    run = _run(tmp_path, "main", [("aut", "aut-0", "billy", 0.5, 1.0)])
    with pytest.raises(ValueError, match="RUN_DIR:METHOD"):
        load_method("billy")
    with pytest.raises(ValueError, match=r"no method 'mrp'.*\['billy'\]"):
        load_method(f"{run}:mrp")
    with pytest.raises(FileNotFoundError, match="score-only"):
        load_method(f"{tmp_path / 'absent'}:billy")
