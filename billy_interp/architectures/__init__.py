"""Architecture families: tiny in-process models of each HF family, and the conformance checks
that compare billy_interp with plain HF on them (``python -m billy_interp.conformance``)."""

from billy_interp.architectures.checks import CHECKS, CheckResult, check_family, check_model, conformance_matrix
from billy_interp.architectures.families import FAMILIES, Family, build_tiny, tiny_tokenizer

__all__ = [
    "CHECKS",
    "CheckResult",
    "check_family",
    "check_model",
    "conformance_matrix",
    "FAMILIES",
    "Family",
    "build_tiny",
    "tiny_tokenizer",
]
