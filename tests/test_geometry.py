import math

import pytest
import torch

from billy_interp.analysis.geometry import cosine_matrices, layer_norms, merge_part_cosines, pca_map
from billy_interp.vectors.merging import MergeRecipe
from billy_interp.vectors.vector import PersonaVector

D = 8


def _v(values_by_layer, name):
    return PersonaVector(
        {f"blocks.{l}.hook_resid_post": torch.tensor(v, dtype=torch.float32) for l, v in enumerate(values_by_layer)},
        {"persona": name, "model": "m"},
    )


E = [[1.0 if i == k else 0.0 for i in range(D)] for k in range(D)]
PLANTED = {
    "a": _v([E[0], E[0]], "a"),
    "b": _v([E[1], [math.cos(math.pi / 3), math.sin(math.pi / 3)] + [0.0] * (D - 2)], "b"),  # 90 deg, then 60 deg
    "c": _v([[-x for x in E[0]], [2 * x for x in E[0]]], "c"),  # opposite, then parallel (norm 2)
}


def test_cosine_matrices_on_planted_angles():
    cos = cosine_matrices(PLANTED).set_index(["block", "persona_a", "persona_b"])["cosine"]
    assert cos[(0, "a", "b")] == pytest.approx(0.0, abs=1e-7)
    assert cos[(1, "a", "b")] == pytest.approx(0.5, abs=1e-7)
    assert cos[(0, "a", "c")] == pytest.approx(-1.0) and cos[(1, "a", "c")] == pytest.approx(1.0)
    assert cos[(1, "b", "b")] == pytest.approx(1.0)


def test_layer_norms():
    norms = layer_norms(PLANTED).set_index(["persona", "block"])["norm"]
    assert norms[("c", 1)] == pytest.approx(2.0) and norms[("a", 0)] == pytest.approx(1.0)


def test_merge_part_cosines():
    frame = merge_part_cosines(PLANTED, MergeRecipe({"a": 1, "b": 1})).set_index(["block", "part"])["cosine"]
    assert frame[(0, "a")] == pytest.approx(math.cos(math.pi / 4), abs=1e-6)  # mean of two orthogonal units


def test_pca_map():
    frame = pca_map(PLANTED, block=0)
    assert list(frame["persona"]) == ["a", "b", "c"]
    assert frame["explained_1"].iloc[0] + frame["explained_2"].iloc[0] == pytest.approx(1.0)
    a, c = frame.iloc[0], frame.iloc[2]
    assert math.hypot(a.pc1 - c.pc1, a.pc2 - c.pc2) == pytest.approx(2.0, abs=1e-6)  # antipodal units
    with pytest.raises(ValueError, match="at least two"):
        pca_map({"a": PLANTED["a"]}, 0)
