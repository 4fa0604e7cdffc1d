import subprocess
import sys

import billy_interp


def test_import_is_cheap_and_has_no_side_effects():
    code = "import sys, billy_interp; print('transformer_lens' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_every_public_name_resolves():
    for name in billy_interp.__all__:
        assert getattr(billy_interp, name) is not None, name


def test_cli_reference_is_up_to_date():
    from pathlib import Path

    from billy_interp.cli import render_cli_reference

    docs = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    assert docs.read_text() == render_cli_reference() + "\n", "regenerate: python -m billy_interp.cli > docs/cli.md"


def test_api_reference_is_up_to_date():
    from pathlib import Path

    from billy_interp.api_reference import render_api_reference

    docs = Path(__file__).resolve().parents[1] / "docs" / "api.md"
    assert docs.read_text() == render_api_reference() + "\n", "regenerate: python -m billy_interp.api_reference > docs/api.md"


def test_api_reference_lists_every_module_with_a_public_api():
    import pkgutil

    from billy_interp.api_reference import MODULES

    found = {m.name for m in pkgutil.walk_packages(billy_interp.__path__, "billy_interp.")
             if not m.name.endswith("__main__")}
    skipped = {"billy_interp.api_reference", "billy_interp.analysis", "billy_interp.figures.benchmark",
               "billy_interp.figures.geometry", "billy_interp.figures.interaction", "billy_interp.figures.output",
               "billy_interp.figures.projection", "billy_interp.figures.stability", "billy_interp.figures.sweep"}
    assert found - skipped == set(MODULES), "add new modules to billy_interp.api_reference.MODULES"


def test_notebooks_are_committed_without_outputs():
    import json
    from pathlib import Path

    notebooks = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 6
    for path in notebooks:
        cells = json.loads(path.read_text())["cells"]
        stale = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
        assert not stale, f"{path.name}: strip outputs of cells {stale}"
