"""Writing figures: HTML always, PNG where a renderer exists, and a note of what made them."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

__all__ = ["save_figure"]


def save_figure(fig: go.Figure, path: str | Path, made_by: str = "", plotlyjs: bool | str = True) -> list[Path]:
    """Write ``path.html`` (and ``path.png`` when possible); returns what was written.

    ``made_by`` (the command and run that made the figure) is stamped under the plot. A missing
    PNG renderer (kaleido or Chromium) is reported, never raised, so a main job cannot fail on it;
    a PNG from an earlier build is then removed, since it no longer matches the HTML.
    HTML is written to a temporary name and renamed, so a killed job leaves no half file.
    ``plotlyjs=True`` inlines plotly.js (self-contained, offline, ~4.6 MB); ``"directory"`` refers
    to one ``plotly.min.js`` beside the HTML files (written once), for a folder of many figures.
    """
    from billy_interp.io import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if made_by:
        # A subtitle, not an annotation: it sits under the title and never covers axis labels.
        fig.update_layout(
            title_subtitle_text=made_by,
            title_subtitle_font={"size": 10, "color": "gray"},
            margin={"t": max(int(fig.layout.margin.t or 80), 100)},
        )
    written = [atomic_write(path.with_suffix(".html"), lambda tmp: fig.write_html(tmp, include_plotlyjs=plotlyjs))]
    if plotlyjs == "directory" and not (path.parent / "plotly.min.js").exists():
        from plotly.offline import get_plotlyjs

        atomic_write(path.parent / "plotly.min.js", lambda tmp: tmp.write_text(get_plotlyjs(), encoding="utf-8"))
    try:
        png = path.with_suffix(".png")
        atomic_write(png, lambda tmp: tmp.write_bytes(fig.to_image(format="png")))
        written.append(png)
    except Exception as error:  # no kaleido or no Chromium: HTML only
        # A PNG left by an earlier build would no longer show what the new HTML shows.
        stale = " (removed the stale one)" if png.exists() else ""
        png.unlink(missing_ok=True)
        print(f"PNG skipped for {path.name} (HTML written){stale}: no PNG renderer here ({_renderer_problem(error)})")
    return written


def _renderer_problem(error: Exception) -> str:
    """The PNG failure in a few words with its fix, on one line, however long plotly's message."""
    text = " ".join(str(error).split())
    lower = text.lower()
    if "chrome" in lower or "chromium" in lower:
        return "kaleido found no Chromium; `make png-setup` installs it"
    if "kaleido" in lower and ("requires the kaleido" in lower or "pip install" in lower or "be installed" in lower):
        return "kaleido is not installed; `make png-setup` installs it and Chromium"
    first = text.split(". ")[0] or type(error).__name__
    return first if len(first) <= 100 else first[:100].rsplit(" ", 1)[0] + " ..."
