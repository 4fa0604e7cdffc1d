"""Does an HTML figure render? Open it in headless Chromium with its scripts run and check that
every plotly figure drew its SVG and every circuitsvis view its own tokens.

    from billy_interp.figures import page_problems
    page_problems("figures/token_view.html")  # [] when everything rendered

Chromium is Debian's ``chromium`` (the one PNG export uses); without it :func:`page_problems`
raises :class:`NoBrowserError`, saying so.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["NoBrowserError", "Mount", "find_chromium", "rendered_dom", "page_mounts", "page_problems"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


class NoBrowserError(RuntimeError):
    """No Chromium on this machine."""


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def rendered_dom(path: str | Path, budget_ms: int = 10_000) -> str:
    """The page's DOM after its scripts ran (Chromium's ``--dump-dom`` after a virtual-time budget)."""
    chromium = find_chromium()
    if chromium is None:
        raise NoBrowserError(f"no Chromium ({', '.join(BROWSERS)}) on PATH: apt-get install chromium")
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--virtual-time-budget={budget_ms}"]
    result = subprocess.run(
        [*command, "--dump-dom", Path(path).resolve().as_uri()], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"Chromium failed on {path}: {result.stderr[-500:]}")
    return result.stdout


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Mount:
    """A figure's mount point in the DOM and what was drawn inside it."""

    kind: str  # plotly or circuitsvis
    ident: str
    svgs: int = 0
    tokens: int = 0
    nested_mounts: int = 0
    texts: list = field(default_factory=list)


class _Mounts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, Mount | None]] = []
        self.mounts: list[Mount] = []

    def _open(self) -> list[Mount]:
        return [m for _, m in self.stack if m is not None]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        ident = attrs.get("id") or ""
        mount = None
        if ident.startswith("circuits-vis-"):
            mount = Mount("circuitsvis", ident)
        elif "plotly-graph-div" in classes:
            mount = Mount("plotly", ident)
        for outer in self._open():
            if mount is not None:
                outer.nested_mounts += 1
            if tag == "svg" and "main-svg" in classes:
                outer.svgs += 1
            if "colored-tokens" in classes:
                outer.tokens += 1
        if mount is not None:
            self.mounts.append(mount)
        if tag not in _VOID:
            self.stack.append((tag, mount))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        for outer in self._open():
            if outer.kind == "circuitsvis" and data.strip():
                outer.texts.append(data.strip())


def page_mounts(dom: str) -> list[Mount]:
    """The figure mount points in a DOM and what was drawn in each."""
    parser = _Mounts()
    parser.feed(dom)
    return parser.mounts


def page_problems(path: str | Path) -> list[str]:
    """What did not render on the page, one line each (empty: everything did)."""
    path = Path(path)
    found = page_mounts(rendered_dom(path))
    if not found:
        return [f"{path.name}: no plotly figure or circuitsvis view on the page"]
    out = []
    for m in found:
        if m.kind == "plotly" and m.svgs == 0:
            out.append(f"{path.name}: plotly figure {m.ident} drew no SVG")
        if m.kind == "circuitsvis" and (m.tokens == 0 or m.nested_mounts):
            out.append(f"{path.name}: circuitsvis view {m.ident} shows no tokens of its own")
    return out
