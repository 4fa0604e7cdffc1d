"""The shipped vectors (package data) were made by this toolkit for the embedded model; check they still fit."""

import pandas as pd
import pytest

from billy_interp.paper import PAPER_PERSONAS
from billy_interp.vectors.formats import load_vector
from billy_interp.vectors.library import shipped_vectors_dir

SHIPPED = shipped_vectors_dir()


def test_every_paper_persona_is_shipped_with_its_tables():
    for name in PAPER_PERSONAS:
        for suffix in (".safetensors", ".prompt_mean.safetensors", ".last_prompt.safetensors", ".data.csv", ".auc.csv"):
            assert (SHIPPED / f"{name}{suffix}").is_file(), f"{name}{suffix}"
    assert "python -m billy_interp.extract" in (SHIPPED.parent / "README.md").read_text()


def test_shipped_metadata_without_loading_a_model():
    for name in PAPER_PERSONAS:
        vec = load_vector(SHIPPED / f"{name}.safetensors")
        meta = vec.metadata
        assert meta["model"] == "SmolLM2-135M-Instruct" and meta["persona"] == name
        assert meta["pooling"] == "response_mean" and meta["extractor"] == "mean_diff"
        assert len(vec.hooks) == 30 and vec.d_model == 576
        assert meta["data_hash"] and meta["package_version"]


@pytest.mark.integration
def test_shipped_vectors_validate_against_smollm2(smollm2):
    from billy_interp.vectors.library import load_vectors

    vectors = load_vectors(PAPER_PERSONAS, smollm2)
    assert len(vectors) == 12


@pytest.mark.integration
def test_stored_heldout_auc_reproduces(smollm2):
    """Recompute the held-out AUC of one persona from its stored data table and vector."""
    import json

    from billy_interp.vectors.extraction import pool_table, separation_auc

    name = "environmentalist"
    data = pd.read_csv(SHIPPED / f"{name}.data.csv")
    data["response_ids"] = data["response_ids"].map(json.loads)
    held_out = data[data["split"] == "eval"].reset_index(drop=True)
    pooled = pool_table(smollm2, held_out, poolings=("response_mean",))["response_mean"]
    vector = load_vector(SHIPPED / f"{name}.safetensors", smollm2)
    ours = separation_auc(vector, pooled, list(held_out["sign"]))
    stored = pd.read_csv(SHIPPED / f"{name}.auc.csv")
    stored = stored[stored["pooling"] == "response_mean"].reset_index(drop=True)
    assert (ours["auc"] - stored["auc"]).abs().max() <= 0.02


@pytest.mark.integration
def test_demo_main_job_runs(tmp_path):
    from billy_interp.jobs.demo import DemoConfig, run_demo

    table = run_demo(DemoConfig(max_new_tokens=12, out=str(tmp_path / "demo")))
    assert len(table) == 6 and (tmp_path / "demo" / "outputs.csv").is_file()
    steered = table[table["condition"].str.startswith("BILLY")]["text"].tolist()
    unsteered = table[table["condition"] == "unsteered"]["text"].tolist()
    assert steered != unsteered  # same seed and decoding: only the steering differs


def test_vector_report_on_shipped_vectors(tmp_path):
    from billy_interp.jobs.vector_report import ReportConfig, run_vector_report

    summary = run_vector_report(ReportConfig(out=str(tmp_path / "v.md")))
    text = (tmp_path / "v.md").read_text()
    assert "AUC per block" in text and "environmentalist" in text
    assert set(summary["pooling"]) == {"response_mean", "prompt_mean", "last_prompt"}
    assert summary["best_auc"].between(0, 1).all()
    with pytest.raises(
        ValueError, match=r"^--paper-layer: paper layer 40 is not among these vectors' layers \(1..30\)"
    ):
        run_vector_report(ReportConfig(paper_layer=40, out=str(tmp_path / "w.md")))
    assert not (tmp_path / "w.md").exists()
    (tmp_path / "w.md").write_text("my notes\n")
    with pytest.raises(FileExistsError, match="^--out: .*w.md exists and this command did not write it"):
        run_vector_report(ReportConfig(out=str(tmp_path / "w.md")))
    assert (tmp_path / "w.md").read_text() == "my notes\n"
    run_vector_report(ReportConfig(out=str(tmp_path / "v.md")))  # its own earlier report is replaced


def test_shipped_stable_variant_loads_by_source_and_keeps_its_provenance():
    from billy_interp.vectors.formats import VectorFileError
    from billy_interp.vectors.library import load_vectors, resolve_source

    recipe = ("creative_professional", "environmentalist", "futurist")
    vectors = load_vectors(recipe, source="shipped:stable")
    sizes = {"creative_professional": 12, "environmentalist": 8, "futurist": 8}  # what the curve needed
    for name, vector in vectors.items():
        assert vector.metadata["persona"] == name and vector.metadata["n_samples"] == sizes[name]
        assert vector.metadata["seed"] == 0 and vector.metadata["data_hash"]
        shipped = load_vector(SHIPPED / f"{name}.safetensors")
        assert shipped.metadata["n_samples"] == 2  # the default set is unchanged
    for suffix in (".prompt_mean.safetensors", ".last_prompt.safetensors", ".data.csv", ".auc.csv"):
        assert all((SHIPPED / "stable" / f"{name}{suffix}").is_file() for name in recipe), suffix
    with pytest.raises(VectorFileError, match="no shipped variant 'n99'.*'stable'"):
        resolve_source("shipped:n99")
    assert resolve_source("shipped") == resolve_source(None) == SHIPPED
    with pytest.raises(VectorFileError, match="no vector for persona 'digital_nomad'"):
        load_vectors(["digital_nomad"], source="shipped:stable")
