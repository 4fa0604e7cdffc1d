"""The BILLY paper's settings, in one place (read from its public code; see docs/concepts.md).

Every default that reproduces the paper (the merge recipe, the steered layer, alpha, BILLY's
decoding, the baselines' temperatures, LLM Discussion's agents and rounds) is defined here and
nowhere else. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "PAPER_PERSONAS",
    "PAPER_RECIPE",
    "PAPER_RECIPE_TEXT",
    "PAPER_LAYER",
    "PAPER_ALPHA",
    "MergeMethod",
    "MERGE_METHODS",
    "BILLY_TOP_P",
    "BILLY_REPETITION_PENALTY",
    "BILLY_NO_REPEAT_NGRAM_SIZE",
    "SA_TEMPERATURE",
    "SA_T1_TEMPERATURE",
    "Role",
    "ROLES",
    "MRP_ROLES",
    "DISCUSSION_AGENTS",
    "DISCUSSION_ROUNDS",
]

# The 12 personas of the paper's code (our catalog in billy_interp/data/personas).
PAPER_PERSONAS = (
    "creative_professional",
    "analytical_thinker",
    "empathetic_counselor",
    "visionary_millionaire",
    "startup_founder",
    "social_entrepreneur",
    "customer_user",
    "environmentalist",
    "digital_nomad",
    "industry_insider",
    "academic_researcher",
    "futurist",
)

# Default merge: the mean of CRE, ENV, FUT, FUT (the futurist twice, mirroring LLM Discussion's
# four agents), raw vectors.
PAPER_RECIPE = ("creative_professional", "environmentalist", "futurist", "futurist")
PAPER_RECIPE_TEXT = ",".join(PAPER_RECIPE)

# "Layer 20" is hidden_states[20], the output of block 19; alpha 2 multiplies the raw vector.
PAPER_LAYER = 20
PAPER_ALPHA = 2.0

MergeMethod = Literal["mean", "weighted", "sum", "unit_mean", "gram_schmidt"]
MERGE_METHODS: tuple[str, ...] = get_args(MergeMethod)

# BILLY samples with these processors at the model's default temperature; its SA baselines used
# T = 0.7 (or 1.0) without them, a confound the benchmark's `control` method isolates.
BILLY_TOP_P = 0.8
BILLY_REPETITION_PENALTY = 1.2
BILLY_NO_REPEAT_NGRAM_SIZE = 4
SA_TEMPERATURE = 0.7
SA_T1_TEMPERATURE = 1.0


@dataclass(frozen=True)
class Role:
    """An LLM Discussion / multi-role-prompting role (our wording of the protocol's roles)."""

    name: str
    specialty: str
    mission: str

    def prompt(self) -> str:
        article = "an" if self.name[0].lower() in "aeiou" else "a"
        return (
            f"You are {article} {self.name} whose specialty is {self.specialty}. {self.mission} "
            "Remember to claim your role in your answers."
        )


ROLES = {
    "environmentalist": Role(
        "environmentalist",
        "sustainability and environmental protection",
        "You champion eco-friendly ideas that protect the planet and reduce waste.",
    ),
    "creative_professional": Role(
        "creative professional",
        "aesthetics, design and artistic expression",
        "You bring imaginative, surprising ideas that delight people.",
    ),
    "futurist": Role(
        "futurist",
        "emerging technology and long-term trends",
        "You imagine how ideas could evolve with the technology and society of the future.",
    ),
}
MRP_ROLES = ("environmentalist", "creative_professional", "futurist")
DISCUSSION_AGENTS = ("environmentalist", "creative_professional", "futurist", "futurist")
DISCUSSION_ROUNDS = 5
