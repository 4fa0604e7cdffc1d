"""The architecture conformance matrix: every family runs as plain HF does, and the committed
support table is what the checks say today."""

from __future__ import annotations

import copy
import socket
from pathlib import Path

import pytest

from billy_interp.architectures import FAMILIES, conformance_matrix, tiny_tokenizer
from billy_interp.architectures import checks as conformance_checks
from billy_interp.architectures.families import family
from billy_interp.core.model import SteerableModel
from billy_interp.jobs.conformance import ConformanceConfig, render_support_table, run_conformance

SUPPORT_PAGE = Path(__file__).resolve().parents[1] / "docs" / "support.md"


@pytest.fixture(scope="module")
def matrix():
    return conformance_matrix()


def test_every_family_passes_every_check_that_applies(matrix):
    assert set(matrix["family"]) == {f.name for f in FAMILIES}
    failed = matrix[matrix["status"] == "fail"]
    assert failed.empty, failed[["family", "backend", "check", "detail"]].to_string()
    assert (matrix["status"] == "pass").all()


def test_support_table_is_up_to_date(matrix):
    assert SUPPORT_PAGE.read_text() == render_support_table(matrix), "regenerate: python -m billy_interp.conformance"


@pytest.fixture(scope="module")
def tiny_gemma2():
    tokenizer = tiny_tokenizer()
    hf = family("gemma2").build(tokenizer)
    reference = copy.deepcopy(hf)
    return SteerableModel.from_hf(hf, tokenizer, "tiny-gemma2"), reference, tokenizer


def test_checks_fail_against_other_weights(tiny_gemma2):
    model, _, tokenizer = tiny_gemma2
    other = family("gemma2").build(tokenizer, seed=1)
    for check in ("residuals", "greedy"):
        result = conformance_checks._run(
            "gemma2",
            "residual",
            check,
            lambda check=check: (
                conformance_checks._check_residuals(model, other, "residual")
                if check == "residuals"
                else conformance_checks._check_greedy(model, other, "residual", True)
            ),
        )
        assert result.status == "fail", result


def test_unembed_check_catches_a_missing_soft_cap(tiny_gemma2, monkeypatch):
    model, reference, _ = tiny_gemma2
    assert conformance_checks._check_unembed(model, reference, "residual").startswith("relative error")
    monkeypatch.setattr(model.config, "final_logit_softcapping", None)
    with pytest.raises(AssertionError, match="unembed vs HF logits"):
        conformance_checks._check_unembed(model, reference, "residual")


def test_multimodal_gemma3_wraps_without_touching_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access during wrapping")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    tokenizer = tiny_tokenizer()
    model = SteerableModel.from_hf(family("gemma3").build(tokenizer), tokenizer, "tiny-gemma3")
    assert model.layers.n_layers == 2 and model.residual is not None


def test_unknown_family_is_a_one_line_error_before_any_model(tmp_path):
    with pytest.raises(ValueError, match="^--families: unknown 'mamba'"):
        run_conformance(ConformanceConfig(out=str(tmp_path / "support.md"), families="llama,mamba"))
    assert not (tmp_path / "support.md").exists()
    for option, name in (("out", "support.md"), ("csv", "checks.csv")):
        (tmp_path / name).write_text("someone else's\n")
        kwargs = {"out": str(tmp_path / "s.md"), option: str(tmp_path / name)}
        with pytest.raises(FileExistsError, match=f"^--{option}: .* exists and this command did not write it"):
            run_conformance(ConformanceConfig(families="llama", **kwargs))
        assert (tmp_path / name).read_text() == "someone else's\n"


def test_a_family_the_bridge_cannot_wrap_runs_on_the_residual_runner(monkeypatch):
    from transformer_lens.model_bridge import TransformerBridge

    def cannot_wrap(*args, **kwargs):
        raise ValueError("Could not determine supported architecture from config. Available architectures: [...]")

    monkeypatch.setattr(TransformerBridge, "boot_transformers", cannot_wrap)
    results = {(r.backend, r.check): r for r in conformance_checks.check_family(family("olmo2"))}
    assert all(results[("residual", c)].status == "pass" for c in conformance_checks.CHECKS)
    bridge = [results[("bridge", c)] for c in conformance_checks.CHECKS]
    assert {r.status for r in bridge} == {"unsupported"}
    assert "cannot wrap architecture 'Olmo2ForCausalLM'" in bridge[0].detail and "Available" not in bridge[0].detail
