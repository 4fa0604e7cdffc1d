import json
import os
import stat
import warnings

import pytest

from billy_interp.io import DamagedLogWarning, JsonlLog, atomic_write, command_line, read_jsonl_log, write_json


def test_jsonl_log_cuts_a_torn_last_line_so_appends_start_clean(tmp_path):
    path = tmp_path / "log.jsonl"
    assert read_jsonl_log(path) == []
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3, "b"')
    assert read_jsonl_log(path) == [{"a": 1}, {"a": 2}]
    assert path.read_text() == '{"a": 1}\n{"a": 2}\n'
    JsonlLog(path).append([{"a": 4}])
    assert read_jsonl_log(path) == [{"a": 1}, {"a": 2}, {"a": 4}]


def test_a_damaged_middle_line_is_skipped_and_reported_and_nothing_is_lost(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\nGARBAGE{\n{"a": 3}\n{"a": 4}\n')
    before = path.read_bytes()
    log = JsonlLog(path)
    with pytest.warns(DamagedLogWarning, match=r"skipped 1 damaged line\(s\) \[3\]"):
        records = log.read()
    assert records == [{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}]
    assert log.damaged_lines == [3]
    assert path.read_bytes() == before  # the file is never rewritten


def test_appends_are_whole_lines(tmp_path):
    log = JsonlLog(tmp_path / "log.jsonl")
    log.append([{"i": i, "text": "x" * 5000} for i in range(3)])
    log.append([])
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["i"] for line in lines] == [0, 1, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(log.read()) == 3


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "x.txt", lambda tmp: tmp.write_text("x"))
        write_json({"a": 1}, tmp_path / "y.json")
    finally:
        os.umask(old)
    for file in (path, tmp_path / "y.json"):
        assert stat.S_IMODE(file.stat().st_mode) == 0o644


def test_command_line_reproduces_a_config():
    from billy_interp.jobs.layer_sweep import SweepConfig

    config = SweepConfig(layers="10,20", relative=True, out="runs/x")
    text = command_line("billy_interp.layer_sweep", config)
    assert text == "python -m billy_interp.layer_sweep --layers 10,20 --relative --out runs/x"


def test_io_is_torch_free():
    import subprocess
    import sys

    code = "import sys, billy_interp.io, billy_interp.options, billy_interp.paper; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_method_settings_resume_on_another_device_but_refuse_other_settings(tmp_path):
    """A setting derived from the model (the frontier's raw alpha = relative alpha / residual
    scale) recomputed on a GPU differs from the CPU's in its last digits: the run must resume
    there (the H200 refused it before), keeping the settings its answers were made with; a real
    change is still refused, naming the setting."""
    from billy_interp.io import RunSettingsError, check_method_settings

    first = {"steer a0.1": {"source": {"alpha": 2.3456789, "layer": 20}, "decoding": {"temperature": 1.0}}}
    check_method_settings(tmp_path, first, set())
    recomputed = {
        "steer a0.1": {"source": {"alpha": 2.3456789 * (1 + 3e-7), "layer": 20}, "decoding": {"temperature": 1.0}}
    }
    check_method_settings(tmp_path, recomputed, {"steer a0.1"})
    assert json.loads((tmp_path / "methods.json").read_text()) == first  # the answers' own settings stay
    changed = {"steer a0.1": {"source": {"alpha": 2.3456789 * 1.01, "layer": 20}, "decoding": {"temperature": 1.0}}}
    with pytest.raises(RunSettingsError, match=r"holds steer a0.1 answers made with other settings \(source differ"):
        check_method_settings(tmp_path, changed, {"steer a0.1"})
    # an integer setting is not rounded: layer 20 vs 21 is another method
    with pytest.raises(RunSettingsError, match=r"\(source differ"):
        check_method_settings(
            tmp_path,
            {"steer a0.1": {**first["steer a0.1"], "source": {"alpha": 2.3456789, "layer": 21}}},
            {"steer a0.1"},
        )
    # a method not answered yet takes its new settings
    check_method_settings(tmp_path, {"sa": {"decoding": {"temperature": 0.7}}}, {"steer a0.1"})
    check_method_settings(tmp_path, {"sa": {"decoding": {"temperature": 0.9}}}, {"steer a0.1"})
    assert json.loads((tmp_path / "methods.json").read_text())["sa"]["decoding"]["temperature"] == 0.9
