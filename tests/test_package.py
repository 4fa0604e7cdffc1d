import subprocess
import sys
from pathlib import Path

import pytest

import billy_interp
from billy_interp.cli import ENTRY_POINTS


def test_import_is_cheap_and_has_no_side_effects():
    code = "import sys, billy_interp; print('transformer_lens' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


COMMANDS = [module.removeprefix("billy_interp.") for module, _, _ in ENTRY_POINTS if module != "billy_interp.figures"]

# What docs/api.md says each exported name is.
API_KINDS = {
    "load_model": "function",
    "SteerableModel": "class",
    "PersonaVector": "class",
    "load_vectors": "function",
    "load_vector": "function",
    "save_vector": "function",
    "extract_vector": "function",
    "MergeRecipe": "class",
    "merge": "function",
    "Persona": "class",
    "load_persona": "function",
    "list_personas": "function",
    "Steering": "class",
    "steer": "function",
    "GenerationConfig": "class",
    "GenerationResult": "class",
    "generate": "function",
    "run_with_cache": "function",
    "ForwardResult": "class",
    "load_task": "function",
    "sample_items": "function",
    "score_response": "function",
}


def test_every_exported_name_is_the_documented_kind_and_never_a_module():
    import inspect
    import pkgutil

    # Import every submodule first: the `merge` command module must not shadow the function.
    for info in pkgutil.walk_packages(billy_interp.__path__, "billy_interp."):
        if not info.name.endswith("__main__"):
            __import__(info.name)
    assert set(billy_interp.__all__) - {"__version__"} == set(API_KINDS)
    for name, kind in API_KINDS.items():
        obj = getattr(billy_interp, name)
        assert not inspect.ismodule(obj), name
        assert inspect.isclass(obj) if kind == "class" else inspect.isfunction(obj), (name, obj)
        assert name in (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text(), name


def test_from_import_gives_the_function_even_after_the_command_module_was_imported():
    code = (
        "import billy_interp.merge, billy_interp.extract; from billy_interp import load_vectors, merge; "
        "import inspect; print(inspect.isfunction(merge), merge.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "billy_interp.vectors.merging"]


def test_internals_stay_out_of_the_exported_set():
    for internal in ("PositionState", "TokenBatch", "pooled_residuals", "embedded_model_dir", "steering_hooks"):
        assert internal not in billy_interp.__all__


def test_cli_reference_is_up_to_date():
    from pathlib import Path

    from billy_interp.cli import render_cli_reference

    docs = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    assert docs.read_text() == render_cli_reference() + "\n", "regenerate: python -m billy_interp.cli > docs/cli.md"


def test_api_reference_is_up_to_date():
    from pathlib import Path

    from billy_interp.api_reference import render_api_reference

    docs = Path(__file__).resolve().parents[1] / "docs" / "api.md"
    assert docs.read_text() == render_api_reference() + "\n", (
        "regenerate: python -m billy_interp.api_reference > docs/api.md"
    )


def test_api_reference_lists_every_module_with_a_public_api():
    import pkgutil

    from billy_interp.api_reference import MODULES

    found = {
        m.name for m in pkgutil.walk_packages(billy_interp.__path__, "billy_interp.") if not m.name.endswith("__main__")
    } | {"billy_interp"}
    packages = {
        "billy_interp.analysis",
        "billy_interp.architectures",
        "billy_interp.core",
        "billy_interp.evaluation",
        "billy_interp.jobs",
        "billy_interp.scoring",
        "billy_interp.vectors",
    }
    commands = {f"billy_interp.{name}" for name in COMMANDS}
    figures = {
        f"billy_interp.figures.{m}"
        for m in ("benchmark", "frontier", "geometry", "interaction", "output", "projection", "stability", "sweep")
    }
    skipped = {"billy_interp.api_reference"} | packages | commands | figures
    assert found - skipped == set(MODULES), "add new modules to billy_interp.api_reference.MODULES"


def test_commands_are_thin_shells():
    root = Path(billy_interp.__file__).parent
    for name in COMMANDS:
        source = (root / f"{name}.py").read_text()
        code = [line for line in source.split('"""')[-1].splitlines() if line.strip()]
        assert len(code) <= 6, (name, code)
        assert f"from billy_interp.jobs import {name} as job" in source


def test_modules_stay_small_and_data_flows_one_way():
    import ast

    root = Path(billy_interp.__file__).parent
    order = [
        "io",
        "options",
        "paper",
        "core",
        "scoring",
        "vectors",
        "evaluation",
        "architectures",
        "analysis",
        "figures",
        "jobs",
    ]
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        assert len(path.read_text().splitlines()) <= 400, rel
        level = rel.parts[0].removesuffix(".py")
        if level not in order:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("billy_interp."):
                target = node.module.split(".")[1]
                if target in order:
                    assert order.index(target) <= order.index(level), f"{rel} imports {node.module} (upstream)"


def test_notebooks_are_committed_without_outputs():
    import json
    from pathlib import Path

    notebooks = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 6
    for path in notebooks:
        cells = json.loads(path.read_text())["cells"]
        stale = [
            i
            for i, c in enumerate(cells)
            if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
        ]
        assert not stale, f"{path.name}: strip outputs of cells {stale}"


def _readme_quickstart() -> str:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("## Quickstart (Python)") :]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.integration
def test_the_readme_quickstart_runs_outside_the_repository(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _readme_quickstart()], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torch.Size([1," in result.stdout and "tok/s" in result.stdout


def test_the_wheel_ships_the_vectors_and_they_load_from_an_installed_copy(tmp_path):
    import zipfile

    from billy_interp.paper import PAPER_PERSONAS

    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(root),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next((tmp_path / "dist").glob("billy_interp-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for persona in PAPER_PERSONAS:
        assert f"billy_interp/data/vectors/SmolLM2-135M-Instruct/{persona}.safetensors" in names, persona
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(tmp_path / "site"), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = (
        "import billy_interp, sys; from billy_interp import load_vectors; v = load_vectors(['futurist']); "
        "print(billy_interp.__file__.startswith(sys.argv[1]), len(v['futurist'].hooks))"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path / "site")}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "site")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["True", "30"]


def test_only_the_layer_module_builds_or_splits_hook_names():
    import re

    root = Path(billy_interp.__file__).parent
    pattern = re.compile(r'split\("\."\)\[1\]|f"blocks\.\{|hook_resid_(?:post|pre)"\s*%')
    for path in root.rglob("*.py"):
        if path.relative_to(root).as_posix() != "core/layers.py":
            assert not pattern.search(path.read_text()), path.relative_to(root)


def test_the_reliability_matrix_names_only_tests_that_exist():
    import ast
    import re

    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "reliability.md").read_text()
    references = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(references) >= 37
    for path, name in references:
        tree = ast.parse((root / path).read_text())
        names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert name in names, f"docs/reliability.md names {path}::{name}, which does not exist"
