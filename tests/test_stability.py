import pytest
import torch

from billy_interp.analysis.stability import bootstrap_cosine, sample_multiplier, seed_cosines, split_half
from billy_interp.vectors.vector import PersonaVector

D = 32


def _pooled(signal, n=200, layers=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    direction = torch.randn(layers, D, generator=g)
    pooled = torch.randn(n, layers, D, generator=g)
    signs = [1 if i % 2 == 0 else -1 for i in range(n)]
    pooled[torch.tensor(signs) == 1] += signal * direction
    return pooled, signs


def test_strong_signal_is_stable_and_noise_is_not():
    strong, signs = _pooled(3.0)
    noise, _ = _pooled(0.0)
    assert (split_half(strong, signs)["split_half_cosine"] > 0.9).all()
    assert (split_half(noise, signs)["split_half_cosine"].abs() < 0.3).all()
    boot = bootstrap_cosine(strong, signs, n_boot=50)
    assert (boot["ci_low"] <= boot["mean_cosine"]).all() and (boot["mean_cosine"] > 0.95).all()


def test_seed_cosines():
    base = torch.randn(D, generator=torch.Generator().manual_seed(1))
    vecs = {
        s: PersonaVector(
            {
                "blocks.0.hook_resid_post": base
                + 0.01 * torch.randn(D, generator=torch.Generator().manual_seed(10 + s)),
                "blocks.1.hook_resid_post": torch.randn(D, generator=torch.Generator().manual_seed(20 + s)),
            }
        )
        for s in range(3)
    }
    frame = seed_cosines(vecs).set_index("block")
    assert frame.loc[0, "mean_cosine"] > 0.99 and abs(frame.loc[1, "mean_cosine"]) < 0.6
    assert frame.loc[0, "n_pairs"] == 3
    with pytest.raises(ValueError, match="at least two seeds"):
        seed_cosines({0: vecs[0]})


def _seed_cosine_with(n_samples: int, g: torch.Generator, dims: int = 4000, pairs: int = 20) -> float:
    """Mean cosine of independent 'seeds': a fixed direction plus the mean of n noise draws each."""
    signal = torch.ones(dims) * 0.25
    cosines = []
    for _ in range(pairs):
        a, b = (signal + torch.randn(n_samples, dims, generator=g).mean(0) for _ in range(2))
        cosines.append(torch.nn.functional.cosine_similarity(a, b, dim=0))
    return float(torch.stack(cosines).mean())


def test_sample_multiplier_predicts_the_cosine_of_a_larger_sample():
    g = torch.Generator().manual_seed(0)
    small = _seed_cosine_with(40, g)
    assert 0.3 < small < 0.8  # far from the target, so the projection has work to do
    factor = sample_multiplier(small, 0.9)
    assert factor > 2
    assert _seed_cosine_with(round(40 * factor), g) == pytest.approx(0.9, abs=0.02)


def test_sample_multiplier_edges():
    assert sample_multiplier(0.95, 0.9) == 1.0
    assert sample_multiplier(0.5, 0.9) == pytest.approx(9.0)
    assert sample_multiplier(-0.1, 0.9) == float("inf")
    with pytest.raises(ValueError, match="target cosine"):
        sample_multiplier(0.5, 1.0)
