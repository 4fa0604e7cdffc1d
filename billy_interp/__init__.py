"""billy_interp: steer language models with merged persona vectors (BILLY), on TransformerLens.

Importing the package is cheap and has no side effects: the public names below are loaded
lazily on first access (``import transformer_lens`` alone takes several seconds).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "LayerConvention": "billy_interp.layers",
    "parse_hook_name": "billy_interp.layers",
    "SteerableModel": "billy_interp.model",
    "TokenBatch": "billy_interp.model",
    "load_model": "billy_interp.model",
    "Steering": "billy_interp.steering",
    "PositionState": "billy_interp.steering",
    "steer": "billy_interp.steering",
    "GenerationConfig": "billy_interp.generation",
    "GenerationResult": "billy_interp.generation",
    "generate": "billy_interp.generation",
    "collect_residuals": "billy_interp.activations",
    "pooled_residuals": "billy_interp.activations",
    "embedded_model_dir": "billy_interp.embedded",
    "Persona": "billy_interp.personas",
    "load_persona": "billy_interp.personas",
    "list_personas": "billy_interp.personas",
    "PersonaVector": "billy_interp.vectors",
    "MergeRecipe": "billy_interp.vectors",
    "merge": "billy_interp.vectors",
    "save_vector": "billy_interp.artifacts",
    "load_vector": "billy_interp.artifacts",
    "load_persona_vectors": "billy_interp.merge",
    "load_task": "billy_interp.tasks",
    "sample_items": "billy_interp.tasks",
    "score_response": "billy_interp.creativity",
    "make_method": "billy_interp.methods",
    "Judge": "billy_interp.judge",
    "JudgeConfig": "billy_interp.judge",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'billy_interp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
