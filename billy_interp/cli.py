"""Command-line interfaces generated from frozen config dataclasses.

Each entry point declares one dataclass; every field becomes ``--field-name`` with its type,
default and the help text from ``field(metadata={"help": ...})``. ``Literal`` fields become
choices and ``bool`` fields become ``--flag / --no-flag``. The CLI and the Python API therefore
cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["build_parser", "parse_config", "write_run_record"]

T = TypeVar("T")


def build_parser(config_cls: type, description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description or config_cls.__doc__)
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        hint = hints[f.name]
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else None
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
            continue
        origin = typing.get_origin(hint)
        kwargs: dict[str, Any] = {"default": default, "help": f"{help_text} (default: {default})"}
        if origin is typing.Literal:
            kwargs["choices"] = list(typing.get_args(hint))
        elif hint in (int, float, str):
            kwargs["type"] = hint
        else:
            kwargs["type"] = str
        if f.default is dataclasses.MISSING:
            kwargs["required"] = True
        parser.add_argument(flag, **kwargs)
    return parser


def parse_config(config_cls: type[T], argv: Sequence[str] | None, description: str | None = None) -> T:
    args = build_parser(config_cls, description).parse_args(argv)
    return config_cls(**vars(args))


def write_run_record(run_dir: str | Path, config: Any, argv: Sequence[str] | None, module: str) -> None:
    """``config.json`` and ``command.txt`` in the run directory: what ran, exactly."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1, default=str))
    args = list(sys.argv[1:] if argv is None else argv)
    (run_dir / "command.txt").write_text(f"python -m {module} {shlex.join(args)}\n")
