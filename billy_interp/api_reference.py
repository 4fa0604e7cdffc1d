"""``python -m billy_interp.api_reference > docs/api.md``: the Python API reference, from docstrings.

Lists every public name (``__all__``) of every module in data-flow order, with its signature and
the first paragraph of its docstring. A test fails when docs/api.md is stale.
"""

from __future__ import annotations

import importlib
import inspect

__all__ = ["MODULES", "render_api_reference"]

# Data flows one way: torch-free foundations -> core (the model and how it runs) -> text scorers
# -> vectors -> evaluation -> analysis -> figures -> jobs -> CLI.
MODULES = (
    "billy_interp",
    "billy_interp.io",
    "billy_interp.options",
    "billy_interp.paper",
    "billy_interp.core.layers",
    "billy_interp.core.embedded",
    "billy_interp.core.model",
    "billy_interp.core.loading",
    "billy_interp.core.runners",
    "billy_interp.core.steering",
    "billy_interp.core.forward",
    "billy_interp.core.generation",
    "billy_interp.core.processors",
    "billy_interp.core.activations",
    "billy_interp.scoring.embeddings",
    "billy_interp.scoring.creativity",
    "billy_interp.scoring.guarded",
    "billy_interp.scoring.judge",
    "billy_interp.vectors.vector",
    "billy_interp.vectors.merging",
    "billy_interp.vectors.formats",
    "billy_interp.vectors.library",
    "billy_interp.vectors.personas",
    "billy_interp.vectors.contrast",
    "billy_interp.vectors.extraction",
    "billy_interp.vectors.extract",
    "billy_interp.evaluation.tasks",
    "billy_interp.evaluation.items",
    "billy_interp.evaluation.protocol",
    "billy_interp.evaluation.methods",
    "billy_interp.evaluation.benchmark",
    "billy_interp.evaluation.relevance",
    "billy_interp.evaluation.validation",
    "billy_interp.evaluation.paired",
    "billy_interp.architectures.families",
    "billy_interp.architectures.checks",
    "billy_interp.analysis.strength",
    "billy_interp.analysis.sweep",
    "billy_interp.analysis.sweep_metrics",
    "billy_interp.analysis.frontier",
    "billy_interp.analysis.geometry",
    "billy_interp.analysis.interaction",
    "billy_interp.analysis.projection",
    "billy_interp.analysis.stability",
    "billy_interp.figures",
    "billy_interp.figures.build",
    "billy_interp.figures.browser",
    "billy_interp.jobs.executors",
    "billy_interp.jobs.conformance",
    "billy_interp.jobs.extract",
    "billy_interp.jobs.merge",
    "billy_interp.jobs.vector_report",
    "billy_interp.jobs.layer_sweep",
    "billy_interp.jobs.benchmark",
    "billy_interp.jobs.compare",
    "billy_interp.jobs.frontier",
    "billy_interp.jobs.stability",
    "billy_interp.jobs.stability_curve",
    "billy_interp.jobs.geometry",
    "billy_interp.jobs.interaction",
    "billy_interp.jobs.projection",
    "billy_interp.jobs.demo",
    "billy_interp.cli",
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


INTRO = """\
## The public API in five minutes

Everything a notebook needs is exported from `billy_interp` (every exported name is a function or
a class; internals stay importable from their modules):

| task | call |
|---|---|
| load a model | `model = load_model()` (embedded SmolLM2), or any HF name or path with `device=`, `dtype=` |
| load shipped vectors by persona | `vectors = load_vectors(["futurist", "environmentalist"], model)` |
| extract a persona vector | `vector = extract_vector(model, "futurist")` or a persona file; cached and resumable |
| merge by recipe | `merged = merge(vectors, MergeRecipe.paper_default())`; arithmetic: `(cre + env + 2 * fut) / 4` |
| steer (context manager) | `with steer(model, merged, alpha=2.0, layer=20): ...` |
| steer (argument) | `generate(model, prompts, config, merged.steering(2.0, layer=20))` |
| generate | `generate(model, prompts, GenerationConfig.billy(model, max_new_tokens=80))` |
| capture | `run_with_cache(model, prompts, layers=[10, 20], reduce="last").at(20)` |
| score | `score_response("brick", text).originality` (offline proxy) |
| run a job as the CLI does | `run_layer_sweep(SweepConfig(layers="10,20"))` from `billy_interp.jobs.layer_sweep` |

`layer=` is always the paper's layer (HF hidden-state index); `block=` names the TransformerLens
block (`layer=20` is `block=19`, `blocks.19.hook_resid_post`).
"""


def render_api_reference() -> str:
    lines = [
        "# Python API reference",
        "",
        "Generated from docstrings by `python -m billy_interp.api_reference > docs/api.md` (a test fails "
        "when it is stale). Modules are listed in data-flow order; each shows its public names.",
        "",
        INTRO,
    ]
    for name in MODULES:
        module = importlib.import_module(name)
        lines += [f"## `{name}`", "", _first_paragraph(module), ""]
        for public in getattr(module, "__all__", []):
            obj = getattr(module, public)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                kind = "class" if inspect.isclass(obj) else "def"
                summary = _first_paragraph(obj) or (
                    "The entry point: parse ``argv`` (default: the command line) and run; see the module docstring."
                    if public == "main"
                    else ""
                )
                lines.append(f"- **`{kind} {public}{_signature(obj)}`**: {summary}")
            else:
                lines.append(f"- `{public}`: constant")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_api_reference())
