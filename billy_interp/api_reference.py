"""``python -m billy_interp.api_reference > docs/api.md``: the Python API reference, from docstrings.

Lists every public name (``__all__``) of every module in data-flow order, with its signature and
the first paragraph of its docstring. A test fails when docs/api.md is stale.
"""

from __future__ import annotations

import importlib
import inspect

__all__ = ["MODULES", "render_api_reference"]

# Data flows one way: model -> personas/data -> activations -> vectors -> steering -> generation
# / benchmark -> analysis -> figures -> CLI.
MODULES = (
    "billy_interp.layers", "billy_interp.embedded", "billy_interp.model", "billy_interp.runners",
    "billy_interp.personas", "billy_interp.tasks", "billy_interp.scoring", "billy_interp.creativity",
    "billy_interp.judge", "billy_interp.activations", "billy_interp.contrast", "billy_interp.extraction",
    "billy_interp.vectors", "billy_interp.artifacts", "billy_interp.steering", "billy_interp.generation",
    "billy_interp.methods", "billy_interp.sweep", "billy_interp.sweep_metrics",
    "billy_interp.analysis.geometry", "billy_interp.analysis.interaction", "billy_interp.analysis.stability",
    "billy_interp.analysis.projection", "billy_interp.analysis.paired", "billy_interp.figures",
    "billy_interp.extract", "billy_interp.merge", "billy_interp.benchmark", "billy_interp.compare", "billy_interp.layer_sweep",
    "billy_interp.stability", "billy_interp.geometry", "billy_interp.interaction", "billy_interp.projection",
    "billy_interp.figures.build", "billy_interp.demo", "billy_interp.vector_report", "billy_interp.cli",
)


def _first_paragraph(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def _signature(obj: object) -> str:
    try:
        text = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""
    return text if len(text) <= 160 else text[:157] + "..."


def render_api_reference() -> str:
    lines = ["# Python API reference", "",
             "Generated from docstrings by `python -m billy_interp.api_reference > docs/api.md` (a test fails "
             "when it is stale). Modules are listed in data-flow order; each shows its public names.", ""]
    for name in MODULES:
        module = importlib.import_module(name)
        lines += [f"## `{name}`", "", _first_paragraph(module), ""]
        for public in getattr(module, "__all__", []):
            obj = getattr(module, public)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                kind = "class" if inspect.isclass(obj) else "def"
                summary = _first_paragraph(obj) or ("The entry point: parse ``argv`` (default: the command line) and "
                                                    "run; see the module docstring." if public == "main" else "")
                lines.append(f"- **`{kind} {public}{_signature(obj)}`**: {summary}")
            else:
                lines.append(f"- `{public}`: constant")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_api_reference())
