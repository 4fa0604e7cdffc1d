"""Every HTML figure opened in headless Chromium with its scripts run: each plotly figure must draw
its SVG and each circuitsvis view its tokens. Skipped, saying why, where Chromium is missing
(``make test`` installs it from Debian, as ``make png-setup`` does)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from billy_interp import figures
from billy_interp.figures.browser import find_chromium, page_mounts, page_problems, rendered_dom

ROOT = Path(__file__).resolve().parents[1]
needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="no Chromium on this machine (apt-get install chromium; make test does it)"
)


def _views(n_prompts=2, conditions=("plain", "MRP prompt", "BILLY")):
    rng = np.random.default_rng(0)
    return [
        {
            "prompt": f"prompt {p} <b>",
            "condition": c,
            "tokens": [f"tok{p}{i}" for i in range(3)],
            "values": rng.normal(size=(3, 2)) * (i + 1),
            "labels": ["x", "y"],
        }
        for p in range(n_prompts)
        for i, c in enumerate(conditions)
    ]


def test_token_view_groups_by_prompt_shares_a_scale_and_inlines_the_bundle_once(tmp_path):
    views = _views()
    html = figures.write_token_view(views, tmp_path / "tv.html").read_text()
    assert html.count('<div class="token-prompt">') == 2 and html.count('<div class="token-view">') == 6
    assert html.count("CircuitsVis.render(") == 6 and html.count("prompt 1 &lt;b&gt;") == 1
    assert "/>" not in html.split("<script")[0] and html.count("></div>\n    <script") == 6
    stacked = np.concatenate([v["values"] for v in views])
    bounds = f'"positiveBounds": [{stacked[:, 0].max()}, {stacked[:, 1].max()}]'
    assert html.count(bounds) == 6  # one scale per direction, the same in every view
    assert len(html) < 2 * 1_300_000  # the 1.3 MB bundle is inlined once, not per view
    with pytest.raises(ValueError, match="do not match"):
        figures.write_token_view([{**views[0], "values": np.ones((2, 2))}], tmp_path / "bad.html")


@needs_chromium
def test_every_token_view_renders_its_own_tokens_in_a_browser(tmp_path):
    path = figures.write_token_view(_views(), tmp_path / "tv.html")
    found = page_mounts(rendered_dom(path))
    assert [m.kind for m in found] == ["circuitsvis"] * 6
    assert not page_problems(path)
    for m, view in zip(found, _views()):
        assert set(view["tokens"]) <= set(m.texts), m.ident


@needs_chromium
def test_a_plotly_figure_renders_in_a_browser_and_the_check_catches_a_broken_one(tmp_path):
    import plotly.graph_objects as go

    written = figures.save_figure(go.Figure(go.Bar(x=["a"], y=[1])), tmp_path / "bar", plotlyjs="directory")
    assert not page_problems(written[0])
    broken = tmp_path / "broken.html"
    broken.write_text(written[0].read_text().replace('src="plotly.min.js"', 'src="missing.js"'))
    assert page_problems(broken) == [
        f"broken.html: plotly figure {page_mounts(broken.read_text())[0].ident} drew no SVG"
    ]


@needs_chromium
@pytest.mark.parametrize("path", sorted((ROOT / "figures").glob("*.html")), ids=lambda p: p.name)
def test_every_committed_figure_renders_in_a_browser(path):
    assert not page_problems(path)
