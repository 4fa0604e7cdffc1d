import pytest
import torch

from billy_interp.analysis.strength import alphas_for_relative, relative_alpha_scale
from billy_interp.analysis.sweep import Cell, grid_steering, make_grid, run_grid, run_naive
from billy_interp.core.generation import GenerationConfig
from billy_interp.vectors.vector import PersonaVector

PROMPTS = ["hello there", "What is the capital of France?", "Give unusual uses for a brick."]


def _vector(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return PersonaVector(
        {h: torch.randn(model.d_model, generator=g) * 3 for h in model.layers.hook_names()},
        {"model": model.name, "persona": "planted"},
    )


def test_grid_rows_are_cell_major():
    v = PersonaVector({f"blocks.{l}.hook_resid_post": torch.ones(4) for l in range(2)})
    steering = grid_steering(v, [Cell(0, 1.0), Cell(1, 2.0)], n_prompts=2)
    assert torch.equal(steering.deltas["blocks.0.hook_resid_post"][:, 0], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert torch.equal(steering.deltas["blocks.1.hook_resid_post"][:, 0], torch.tensor([0.0, 0.0, 2.0, 2.0]))


def test_grid_batched_equals_naive_loop_under_greedy(tiny_model):
    v = _vector(tiny_model)
    cells = make_grid([0, 1], [0.0, 1.0, 4.0])
    config = GenerationConfig(max_new_tokens=8, batch_size=8)
    grid, _ = run_grid(tiny_model, PROMPTS, v, cells, config)
    naive, _ = run_naive(tiny_model, PROMPTS, v, cells, config)
    assert grid["token_ids"].tolist() == naive["token_ids"].tolist()
    assert len(grid) == len(cells) * len(PROMPTS)
    # steering changes something, or the equality above would be vacuous
    assert grid.loc[grid["alpha"] == 4.0, "text"].tolist() != grid.loc[grid["alpha"] == 0.0, "text"].tolist()


@pytest.mark.integration
def test_grid_batched_equals_naive_loop_smollm2(smollm2):
    from billy_interp.vectors.library import load_vectors

    v = load_vectors("futurist", smollm2)["futurist"]
    cells = make_grid([9, 19], [0.0, 8.0])
    config = GenerationConfig(max_new_tokens=12, batch_size=16)
    grid, _ = run_grid(smollm2, PROMPTS, v, cells, config)
    naive, _ = run_naive(smollm2, PROMPTS, v, cells, config)
    assert grid["token_ids"].tolist() == naive["token_ids"].tolist()


def test_relative_alpha(tiny_model):
    v = _vector(tiny_model)
    scale = relative_alpha_scale(tiny_model, PROMPTS, v)
    assert list(scale["block"]) == [0, 1] and (scale["scale"] > 0).all()
    raw = alphas_for_relative(scale, [0.5])
    for row in scale.itertuples():
        assert raw[row.block][0] * row.v_norm / row.h_norm == pytest.approx(0.5)


def test_empty_grid_is_an_error(tiny_model):
    with pytest.raises(ValueError, match="at least one cell"):
        run_grid(tiny_model, PROMPTS, _vector(tiny_model), [], GenerationConfig())
