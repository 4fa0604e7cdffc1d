"""Parsing of the comma-separated options that configs carry, with errors that name the option.

Configs keep list-valued settings as the text the command line gave (``"10,20"``), so that
``config.json`` records exactly what ran; these helpers turn them into numbers and say which
option is wrong and why. Torch-free.
"""

from __future__ import annotations

import math

__all__ = ["UsageError", "parse_ints", "parse_floats", "parse_names"]


class UsageError(ValueError):
    """A bad option or input file: reported in one line, exit status 2."""


def _items(text: str, option: str) -> list[str]:
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise UsageError(f"{option}: empty; give a comma-separated list")
    if any(not t for t in items):
        raise UsageError(f"{option} {text!r}: an empty item between commas")
    return items


def parse_ints(text: str, option: str, *, minimum: int | None = None, distinct: bool = False) -> list[int]:
    """``"10,20"`` -> ``[10, 20]``; anything else names ``option`` and the bad item. ``distinct``:
    a repeated value is an error (two runs of seed 0 are not two seeds), not silently merged."""
    values = []
    for item in _items(text, option):
        try:
            value = int(item)
        except ValueError:
            raise UsageError(f"{option}: {item!r} is not an integer") from None
        if minimum is not None and value < minimum:
            raise UsageError(f"{option}: {value} is below the minimum {minimum}")
        if distinct and value in values:
            raise UsageError(f"{option}: {value} is given twice; give distinct values")
        values.append(value)
    return values


def require_at_least_one(config: object, names: tuple[str, ...]) -> None:
    """Each named integer field of ``config`` is >= 1, else one line naming its option."""
    for name in names:
        if getattr(config, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(config, name)}")


def parse_floats(text: str, option: str) -> list[float]:
    """``"0,4,8"`` -> ``[0.0, 4.0, 8.0]``; non-numbers and NaN/Inf name ``option``."""
    values = []
    for item in _items(text, option):
        try:
            value = float(item)
        except ValueError:
            raise UsageError(f"{option}: {item!r} is not a number") from None
        if not math.isfinite(value):
            raise UsageError(f"{option}: {item!r} is not a finite number")
        values.append(value)
    return values


def parse_names(text: str, option: str, known: tuple[str, ...] | list[str] | None = None) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``, each checked against ``known`` (with the closest name)."""
    import difflib

    names = _items(text, option)
    if known is not None:
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, list(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; use any of {', '.join(known)}"
                raise UsageError(f"{option}: unknown {name!r}{hint}")
    return names


VECTORS_DIR_HELP = (
    "directory of <persona>.safetensors (empty or shipped: the shipped vectors; shipped:stable: the shipped variant "
    "re-extracted with the samples the stability curve supports)"
)
