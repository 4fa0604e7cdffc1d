"""Our GGUF control-vector export in a real llama.cpp (skipped unless a llama-completion binary exists).

`make llama-cpp` builds one from the llama.cpp source bundled in the llama-cpp-python sdist on PyPI;
``$BILLY_LLAMA_COMPLETION`` or a ``llama-completion`` on PATH also work. llama.cpp runs the embedded
model's own Q4_1 GGUF, we run its fp32 dequantisation, so texts are compared by their common prefix.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from billy_interp.core.embedded import locate_gguf
from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.layers import hook_name
from billy_interp.core.steering import Steering
from billy_interp.vectors.formats import export_gguf
from billy_interp.vectors.library import load_vectors
from billy_interp.vectors.merging import MergeRecipe, merge


def _binary() -> str | None:
    for candidate in (
        os.environ.get("BILLY_LLAMA_COMPLETION"),
        str(Path(__file__).resolve().parents[1] / ".cache" / "llama.cpp" / "build" / "bin" / "llama-completion"),
        shutil.which("llama-completion"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


LLAMA = _binary()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(LLAMA is None, reason="no llama.cpp binary: `make llama-cpp` builds one (about 5 minutes)"),
]
PROMPT = "Here are some creative uses for a brick:"
N_TOKENS = 24
BLOCK = 19  # the paper's layer 20


def _llama(*control: str) -> str:
    """Greedy continuation from llama.cpp (--no-repack: its AMX repacking crashes on these CPUs)."""
    command = [
        LLAMA,
        "-m",
        str(locate_gguf()),
        "-p",
        PROMPT,
        "-n",
        str(N_TOKENS),
        "--temp",
        "0",
        "-s",
        "0",
        "-t",
        "2",
        "--no-repack",
        "-no-cnv",
        "--no-display-prompt",
        "--no-warmup",
        *control,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def _common_prefix(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


@pytest.fixture(scope="module")
def merged():
    recipe = MergeRecipe.paper_default()
    return merge(load_vectors(recipe.weights), recipe)


def test_scale_zero_equals_no_vector(merged, tmp_path):
    path = tmp_path / "billy.gguf"
    export_gguf(merged, path)
    plain = _llama()
    assert plain and _llama("--control-vector-scaled", f"{path}:0") == plain
    steered = _llama("--control-vector-scaled", f"{path}:8", "--control-vector-layer-range", "19", "19")
    assert steered != plain  # the file is read and applied, so scale 0 above means something


def test_direction_n_is_added_at_the_output_of_block_n(smollm2, merged, tmp_path):
    """llama.cpp steered with direction.19 agrees best with our steering at blocks.19 (all positions)."""
    alpha = 16.0
    path = tmp_path / "block19.gguf"
    export_gguf(merged.subset([hook_name(BLOCK)]), path)
    theirs = _llama(
        "--control-vector-scaled", f"{path}:{alpha}", "--control-vector-layer-range", str(BLOCK), str(BLOCK)
    )
    config = GenerationConfig(max_new_tokens=N_TOKENS)
    agreement = {}
    for block in (BLOCK - 1, BLOCK, BLOCK + 1):
        steering = Steering.from_vectors({hook_name(block): merged[hook_name(BLOCK)]}, alpha, "all")
        ours = generate(smollm2, [PROMPT], config, steering, format="raw").texts[0].strip()
        agreement[block] = _common_prefix(ours, theirs)
    plain = generate(smollm2, [PROMPT], config, format="raw").texts[0].strip()
    assert agreement[BLOCK] > max(agreement[BLOCK - 1], agreement[BLOCK + 1]), (agreement, theirs)
    assert agreement[BLOCK] > _common_prefix(plain, theirs)  # and it is the steering that agrees
