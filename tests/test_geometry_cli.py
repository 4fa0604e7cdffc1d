import pandas as pd
import pytest

from billy_interp.jobs.geometry import GeometryConfig, run_geometry
from tests.conftest import job_main

main = job_main(GeometryConfig, run_geometry)


def test_geometry_cli_writes_tables_and_figures(tiny_model_dir, tiny_vectors, tmp_path):
    out = tmp_path / "geo"
    cosines = main(
        [
            "--vectors-dir",
            str(tiny_vectors),
            "--layers",
            "1,2",
            "--pca-layer",
            "2",
            "--model",
            str(tiny_model_dir),
            "--out",
            str(out),
        ]
    )
    assert set(cosines["block"]) == {0, 1}
    diagonal = cosines[cosines["persona_a"] == cosines["persona_b"]]["cosine"]
    assert (diagonal - 1).abs().max() < 1e-6
    norms = pd.read_csv(out / "norms.csv")
    assert "h_norm" in norms and (norms["h_norm"] > 0).all()
    for name in ("cosine_slider", "cosine_small_multiples", "norms", "merge_parts", "pca"):
        assert (out / "figures" / f"{name}.html").exists(), name


def test_geometry_cli_names_bad_layers_and_empty_dirs(tiny_vectors, tmp_path):
    with pytest.raises(
        ValueError, match="^--layers: paper layer 20 is out of range: for a 2-block model it must be 1..2"
    ):
        main(["--vectors-dir", str(tiny_vectors), "--layers", "1,20", "--no-residual-norms", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="^--pca-layer: paper layer 3 is out of range"):
        main(["--vectors-dir", str(tiny_vectors), "--layers", "1", "--pca-layer", "3", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="no persona vectors"):
        main(["--vectors-dir", str(tmp_path), "--out", str(tmp_path / "o")])
