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

__all__ = ["build_parser", "parse_config", "write_run_record", "render_cli_reference", "ENTRY_POINTS"]

# (module, config class name): every `python -m` entry point, for the generated reference.
ENTRY_POINTS = (
    ("billy_interp.layer_sweep", "SweepConfig"),
    ("billy_interp.extract", "ExtractConfig"),
    ("billy_interp.merge", "MergeConfig"),
    ("billy_interp.benchmark", "BenchmarkConfig"),
    ("billy_interp.compare", "CompareConfig"),
    ("billy_interp.demo", "DemoConfig"),
    ("billy_interp.vector_report", "ReportConfig"),
    ("billy_interp.stability", "StabilityConfig"),
    ("billy_interp.geometry", "GeometryConfig"),
    ("billy_interp.interaction", "InteractionConfig"),
    ("billy_interp.projection", "ProjectionConfig"),
    ("billy_interp.figures.build", "FiguresConfig"),
)

T = TypeVar("T")


def build_parser(config_cls: type, description: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser with one ``--option`` per dataclass field (booleans get ``--no-...``)."""
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
    """Parse ``argv`` (None: the command line) into a frozen config instance."""
    args = build_parser(config_cls, description).parse_args(argv)
    return config_cls(**vars(args))


def write_run_record(run_dir: str | Path, config: Any, argv: Sequence[str] | None, module: str) -> None:
    """``config.json`` and ``command.txt`` in the run directory: what ran, exactly."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    from billy_interp.artifacts import atomic_write, write_json

    write_json(dataclasses.asdict(config), run_dir / "config.json")
    args = list(sys.argv[1:] if argv is None else argv)
    atomic_write(run_dir / "command.txt", lambda tmp: tmp.write_text(f"python -m {module} {shlex.join(args)}\n"))


def render_cli_reference() -> str:
    """Markdown reference of every entry point, generated from its config dataclass."""
    import importlib

    lines = ["# CLI reference", "",
             "Generated from the config dataclasses by `python -m billy_interp.cli > docs/cli.md` "
             "(a test fails when this file is stale). Booleans take `--flag` / `--no-flag`.", ""]
    for module_name, class_name in ENTRY_POINTS:
        module = importlib.import_module(module_name)
        config_cls = getattr(module, class_name)
        lines += [f"## `python -m {module_name}`", "", (config_cls.__doc__ or "").strip(), "",
                  "| option | type | default | meaning |", "|---|---|---|---|"]
        hints = typing.get_type_hints(config_cls)
        for f in dataclasses.fields(config_cls):
            hint = hints[f.name]
            kind = "/".join(map(str, typing.get_args(hint))) if typing.get_origin(hint) is typing.Literal else getattr(hint, "__name__", str(hint))
            default = "" if f.default is dataclasses.MISSING else f"`{f.default}`"
            meaning = f.metadata.get("help", "").replace("|", "\\|")  # pipes would split the table cell
            lines.append(f"| `--{f.name.replace('_', '-')}` | {kind} | {default} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_cli_reference())
