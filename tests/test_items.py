import json

import pytest

from billy_interp.evaluation.items import ItemsFileError, read_items_file
from billy_interp.evaluation.protocol import get_protocol
from billy_interp.evaluation.tasks import TASKS, load_task, nested_items, task_prompt
from billy_interp.jobs import benchmark as job


def test_task_prompt_rebuilds_every_packaged_prompt():
    for task in TASKS:
        items = load_task(task).items
        assert all(task_prompt(task, item.subject) == item.prompt for item in items), task
    assert "paper clip" in task_prompt("aut", "  paper   clip ")
    with pytest.raises(ValueError, match="the subject is empty"):
        task_prompt("aut", "  ")
    with pytest.raises(ValueError, match="unknown task 'haiku'"):
        task_prompt("haiku", "rain")


def test_nested_items_grow_without_losing_any():
    task = load_task("instances")
    small, large = nested_items(task, 10), nested_items(task, 40)
    assert len(small) == 10 and len(large) == 40 and set(small) <= set(large)
    assert nested_items(task, 10) == small and nested_items(task, 10, seed=1) != small
    assert [i.source_index for i in large] == sorted(i.source_index for i in large)


def test_items_file_csv_and_json(tmp_path):
    csv_file = tmp_path / "items.csv"
    csv_file.write_text(
        "task,subject,prompt\n"
        "aut,a paper clip,\n"
        "instances,Name all the things that can float.,\n"
        "aut,a spoon,Give me three odd uses for a spoon.\n"
    )
    items = read_items_file(csv_file)
    assert list(items) == ["aut", "instances"] and len(items["aut"]) == 2
    clip, spoon = items["aut"]
    assert clip.prompt == task_prompt("aut", "a paper clip") and not clip.own_prompt
    assert spoon.prompt == "Give me three odd uses for a spoon." and spoon.own_prompt
    # the paper protocol writes its 5-item prompt for template items and keeps a user's prompt
    paper = get_protocol("paper").items(items["aut"])
    assert "5" in paper[0].prompt and paper[1].prompt == spoon.prompt
    json_file = tmp_path / "items.json"
    json_file.write_text(json.dumps({"items": [{"task": "aut", "subject": "a paper clip", "item_id": "clip"}]}))
    assert read_items_file(json_file)["aut"][0].item_id == "clip"
    # the default id follows the prompt: a changed prompt is another item, never paired with the old
    assert clip.item_id.startswith("aut-") and clip.item_id != read_items_file(json_file)["aut"][0].item_id


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.csv", "task,prompt\naut,x\n", "header lacks column"),
        ("a.csv", "task,subject\naut,\n", "item 1: the subject is empty"),
        ("a.csv", "task,subject\naut,brick\npoem,rain\n", "item 2: task 'poem' is not one of"),
        ("a.csv", "task,subject\naut,brick\naut, brick\n", "item 2: the same aut prompt as item 1"),
        ("a.csv", "task,subject\n", "holds no items"),
        ("a.json", "{not json", "not valid JSON"),
        ("a.json", '{"task": "aut"}', "expected a list of objects"),
        ("a.json", '[{"task": "aut", "subject": "x", "colour": "red"}]', "unknown field"),
        (
            "a.json",
            '[{"task":"aut","subject":"x","item_id":"k"},{"task":"aut","subject":"y","item_id":"k"}]',
            "repeats",
        ),
        ("a.txt", "aut,brick", "use a .json or .csv file"),
    ],
)
def test_bad_items_files_name_the_file_and_the_item(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ItemsFileError, match=message) as caught:
        read_items_file(path)
    assert str(path) in str(caught.value)


def test_benchmark_takes_an_items_file_and_refuses_a_bad_one_before_loading(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("task,subject\ninstances,Name things that are round.\n")
    config = job.BenchmarkConfig(items=str(path), task="all", model="no/such/model")
    assert config.tasks() == ["instances"] and len(config.task_items()["instances"]) == 1
    with pytest.raises(ValueError, match=r"--task aut: the --items file has no aut items \(it has instances\)"):
        job.BenchmarkConfig(items=str(path), task="aut")
    with pytest.raises(ValueError, match="--items .*missing.csv: no such file"):
        job.BenchmarkConfig(items=str(tmp_path / "missing.csv"))
