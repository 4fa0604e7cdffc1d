import pytest
import torch

from billy_interp.analysis.stability import bootstrap_cosine, seed_cosines, split_half
from billy_interp.vectors import PersonaVector

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
    vecs = {s: PersonaVector({"blocks.0.hook_resid_post": base + 0.01 * torch.randn(D, generator=torch.Generator().manual_seed(10 + s)),
                              "blocks.1.hook_resid_post": torch.randn(D, generator=torch.Generator().manual_seed(20 + s))})
            for s in range(3)}
    frame = seed_cosines(vecs).set_index("block")
    assert frame.loc[0, "mean_cosine"] > 0.99 and abs(frame.loc[1, "mean_cosine"]) < 0.6
    assert frame.loc[0, "n_pairs"] == 3
    with pytest.raises(ValueError, match="at least two seeds"):
        seed_cosines({0: vecs[0]})
