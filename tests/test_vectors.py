import pytest
import torch

from billy_interp.vectors.merging import MergeRecipe, merge
from billy_interp.vectors.vector import PersonaVector, mean_difference, pca_direction

D = 32
HOOKS = [f"blocks.{l}.hook_resid_post" for l in range(3)]


def _vec(seed, name, model="m"):
    g = torch.Generator().manual_seed(seed)
    return PersonaVector({h: torch.randn(D, generator=g) for h in HOOKS}, {"persona": name, "model": model})


def _planted(n=2000, layers=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    direction = torch.randn(layers, D, generator=g)
    direction = direction / direction.norm(dim=-1, keepdim=True)
    noise = lambda: torch.randn(layers, n, D, generator=g)  # noqa: E731
    base = torch.randn(layers, 1, D, generator=g) * 3  # shared offset that must cancel
    return base + noise() + 2.0 * direction[:, None], base + noise(), direction


def test_mean_difference_recovers_a_planted_direction():
    pos, neg, direction = _planted()
    v = mean_difference(pos, neg)
    cos = torch.nn.functional.cosine_similarity(v, direction, dim=-1)
    assert torch.all(cos > 0.99)


def test_pca_recovers_a_planted_direction_with_the_right_sign():
    pos, neg, direction = _planted()
    v = pca_direction(pos, neg)
    cos = torch.nn.functional.cosine_similarity(v, direction, dim=-1)
    assert torch.all(cos > 0.99)
    flipped = pca_direction(neg, pos)
    assert torch.all(torch.nn.functional.cosine_similarity(flipped, direction, dim=-1) < -0.99)


def test_arithmetic_norms_cosine_unit():
    a, b = _vec(0, "a"), _vec(1, "b")
    s = a + b
    torch.testing.assert_close(s[HOOKS[0]], a[HOOKS[0]] + b[HOOKS[0]])
    torch.testing.assert_close((a - a)[HOOKS[1]], torch.zeros(D))
    torch.testing.assert_close((2 * a)[HOOKS[2]], a[HOOKS[2]] * 2)
    torch.testing.assert_close((a / 2)[HOOKS[2]], a[HOOKS[2]] / 2)
    assert all(abs(n - 1) < 1e-6 for n in a.unit().norms().values())
    assert all(abs(c - 1) < 1e-6 for c in a.cosine(3 * a).values())
    assert all(abs(c + 1) < 1e-6 for c in a.cosine(-a).values())
    with pytest.raises(ValueError, match="different layers"):
        a + a.subset(HOOKS[:2])


def test_paper_default_merge_counts_the_futurist_twice():
    vecs = {n: _vec(i, n) for i, n in enumerate(["creative_professional", "environmentalist", "futurist"])}
    merged = merge(vecs, MergeRecipe.paper_default())
    for h in HOOKS:
        manual = (vecs["creative_professional"][h] + vecs["environmentalist"][h] + 2 * vecs["futurist"][h]) / 4
        torch.testing.assert_close(merged[h], manual)
    assert merged.metadata["recipe"] == {
        "weights": {"creative_professional": 1.0, "environmentalist": 1.0, "futurist": 2.0},
        "method": "mean",
    }


def test_other_merge_methods():
    a, b = _vec(0, "a"), _vec(1, "b")
    vecs = {"a": a, "b": b}
    h = HOOKS[0]
    torch.testing.assert_close(merge(vecs, MergeRecipe({"a": 1, "b": 2}, "sum"))[h], a[h] + 2 * b[h])
    torch.testing.assert_close(merge(vecs, MergeRecipe({"a": 1, "b": -1}, "weighted"))[h], (a[h] - b[h]) / 2)
    unit = merge(vecs, MergeRecipe({"a": 1, "b": 1}, "unit_mean"))[h]
    torch.testing.assert_close(unit, (a[h] / a[h].norm() + b[h] / b[h].norm()) / 2)
    gs = merge(vecs, MergeRecipe({"a": 1, "b": 1}, "gram_schmidt"))[h]
    b_orth = b[h] - (b[h] @ a[h]) / (a[h] @ a[h]) * a[h]
    torch.testing.assert_close(gs, (a[h] + b_orth / b_orth.norm() * b[h].norm()) / 2, rtol=1e-5, atol=1e-5)


def test_merge_errors():
    vecs = {"a": _vec(0, "a"), "b": _vec(1, "b", model="other")}
    with pytest.raises(KeyError, match="recipe needs vectors"):
        merge(vecs, MergeRecipe({"a": 1, "c": 1}))
    with pytest.raises(ValueError, match="different models"):
        merge(vecs, MergeRecipe({"a": 1, "b": 1}))
    with pytest.raises(ValueError, match="positive weights"):
        MergeRecipe({"a": -1})
    from jaxtyping import TypeCheckError

    with pytest.raises((ValueError, TypeCheckError), match="median"):  # import hook or __post_init__
        MergeRecipe({"a": 1}, "median")


def test_recipe_from_list_and_round_trip():
    r = MergeRecipe.from_list(["x", "y", "y"])
    assert r.weights == {"x": 1.0, "y": 2.0}
    assert MergeRecipe.from_dict(r.to_dict()) == r


def test_steering_uses_the_chosen_layer(tiny_model):
    v = PersonaVector({"blocks.1.hook_resid_post": torch.ones(64), "blocks.0.hook_resid_post": torch.ones(64)})
    steering = v.steering(2.0, layer=2)  # paper layer 2 = blocks.1.hook_resid_post
    assert list(steering.deltas) == ["blocks.1.hook_resid_post"]
    torch.testing.assert_close(steering.deltas["blocks.1.hook_resid_post"], torch.full((1, 64), 2.0))
