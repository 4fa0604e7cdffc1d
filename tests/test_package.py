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
