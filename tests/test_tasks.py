import json
from pathlib import Path

import pytest

from billy_interp.evaluation.tasks import LIST_INSTRUCTION, TASKS, load_task, sample_items

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "wkct"


@pytest.mark.parametrize(
    "name,raw,unique", [("aut", 100, 98), ("instances", 200, 181), ("similarities", 100, 100), ("scientific", 100, 100)]
)
def test_counts_and_duplicates_are_explicit(name, raw, unique):
    task = load_task(name)
    assert (task.n_raw, task.n_unique, len(task.duplicates)) == (raw, unique, raw - unique)
    assert f"{raw} raw entries, {unique} unique items" in task.describe()
    assert load_task(name, dedupe=False).n_unique == raw


def test_aut_duplicates_are_towel_and_camera():
    task = load_task("aut")
    raw = load_task("aut", dedupe=False).items
    assert sorted(raw[i].subject for i, _ in task.duplicates) == ["Camera", "Towel"]


def test_templates():
    aut = load_task("aut").items[0]
    assert aut.subject == "Fork" and "creative use for Fork?" in aut.prompt and "{object}" not in aut.prompt
    sim = load_task("similarities").items[0]
    assert sim.prompt == f"{sim.subject} {LIST_INSTRUCTION}"
    sci = load_task("scientific")
    assert len({i.group for i in sci.items}) == 5


def test_subsets_are_deterministic():
    task = load_task("instances")
    a, b = sample_items(task, 10, seed=3), sample_items(task, 10, seed=3)
    assert a == b and len(a) == 10
    assert sample_items(task, 10, seed=4) != a
    assert [i.source_index for i in a] == sorted(i.source_index for i in a)
    assert len(sample_items(task, None)) == task.n_unique
    with pytest.raises(ValueError, match="n must be"):
        sample_items(task, 0)


def test_unknown_task():
    from jaxtyping import TypeCheckError

    with pytest.raises((ValueError, TypeCheckError), match="poetry"):
        load_task("poetry")


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared is not beside this checkout")
def test_package_data_matches_shared_copy():
    for name in TASKS:
        file = {
            "aut": "aut_100.json",
            "instances": "instances_100.json",
            "similarities": "similarities_100.json",
            "scientific": "scientific_100.json",
        }[name]
        packaged = Path(__file__).resolve().parents[1] / "billy_interp" / "data" / "wkct" / file
        assert json.loads(packaged.read_text()) == json.loads((SHARED / file).read_text())
