"""billy_interp: steer language models with merged persona vectors (BILLY), on TransformerLens.

The public API, learnt in five minutes (docs/api.md has the rest)::

    from billy_interp import load_model, load_vectors, MergeRecipe, merge, steer, generate

    model = load_model()                                       # embedded SmolLM2-135M-Instruct
    merged = merge(load_vectors(MergeRecipe.paper_default().weights, model), MergeRecipe.paper_default())
    with steer(model, merged, alpha=2.0, layer=20):            # paper layer 20 = TL block 19
        print(generate(model, ["Uses for a brick?"]).texts[0])

Importing the package is cheap and has no side effects: the names below load lazily on first
access (``import transformer_lens`` alone takes seconds). Every exported name is a function or a
class; the ``python -m billy_interp.<job>`` command modules never shadow them (``billy_interp.merge``
is the function even after the ``merge`` command module has been imported).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.2.0"

_EXPORTS = {
    # model
    "load_model": "billy_interp.core.loading",
    "SteerableModel": "billy_interp.core.model",
    # vectors
    "PersonaVector": "billy_interp.vectors.vector",
    "load_vectors": "billy_interp.vectors.library",
    "load_vector": "billy_interp.vectors.formats",
    "save_vector": "billy_interp.vectors.formats",
    "extract_vector": "billy_interp.vectors.extract",
    "MergeRecipe": "billy_interp.vectors.merging",
    "merge": "billy_interp.vectors.merging",
    "Persona": "billy_interp.vectors.personas",
    "load_persona": "billy_interp.vectors.personas",
    "list_personas": "billy_interp.vectors.personas",
    # steering, generation, capture
    "Steering": "billy_interp.core.steering",
    "steer": "billy_interp.core.steering",
    "GenerationConfig": "billy_interp.core.generation",
    "GenerationResult": "billy_interp.core.generation",
    "generate": "billy_interp.core.generation",
    "run_with_cache": "billy_interp.core.forward",
    "ForwardResult": "billy_interp.core.forward",
    # evaluation
    "load_task": "billy_interp.evaluation.tasks",
    "sample_items": "billy_interp.evaluation.tasks",
    "score_response": "billy_interp.scoring.creativity",
}

__all__ = ["__version__", *_EXPORTS]


class _Package(types.ModuleType):
    """Keeps exported functions from being shadowed by same-named submodules.

    Importing ``billy_interp.merge`` (the command) makes Python set the package attribute
    ``merge`` to that module; here the exported function keeps the name instead.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'billy_interp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


sys.modules[__name__].__class__ = _Package
