"""Command-line interfaces generated from frozen config dataclasses.

Each job declares one dataclass; every field becomes ``--field-name`` with its type, default and
the help text from ``field(metadata={"help": ...})``. ``Literal`` fields become choices and
``bool`` fields become ``--flag / --no-flag``. The CLI and the Python API therefore cannot drift
apart. Abbreviated options are refused (``--alpha`` never silently means ``--alphas``).

:func:`command` turns a config class and its job function into the ``main(argv)`` of a
``python -m billy_interp.<job>`` module. A user error (a bad option, file or setting) is printed
as one line naming what is wrong, with exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["build_parser", "parse_config", "command", "USER_ERRORS", "render_cli_reference", "ENTRY_POINTS"]

# (command module, job module, config class): every `python -m` entry point, for the reference.
ENTRY_POINTS = (
    ("billy_interp.layer_sweep", "billy_interp.jobs.layer_sweep", "SweepConfig"),
    ("billy_interp.extract", "billy_interp.jobs.extract", "ExtractConfig"),
    ("billy_interp.merge", "billy_interp.jobs.merge", "MergeConfig"),
    ("billy_interp.benchmark", "billy_interp.jobs.benchmark", "BenchmarkConfig"),
    ("billy_interp.compare", "billy_interp.jobs.compare", "CompareConfig"),
    ("billy_interp.frontier", "billy_interp.jobs.frontier", "FrontierConfig"),
    ("billy_interp.demo", "billy_interp.jobs.demo", "DemoConfig"),
    ("billy_interp.vector_report", "billy_interp.jobs.vector_report", "ReportConfig"),
    ("billy_interp.stability", "billy_interp.jobs.stability", "StabilityConfig"),
    ("billy_interp.stability_curve", "billy_interp.jobs.stability_curve", "StabilityCurveConfig"),
    ("billy_interp.geometry", "billy_interp.jobs.geometry", "GeometryConfig"),
    ("billy_interp.interaction", "billy_interp.jobs.interaction", "InteractionConfig"),
    ("billy_interp.projection", "billy_interp.jobs.projection", "ProjectionConfig"),
    ("billy_interp.figures", "billy_interp.figures.build", "FiguresConfig"),
    ("billy_interp.conformance", "billy_interp.jobs.conformance", "ConformanceConfig"),
)

# Exceptions that mean "the user asked for something that cannot be done", not a bug.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, OSError)

T = TypeVar("T")


def _fields(config_cls: type) -> list[dataclasses.Field]:
    """The config's fields, where-to-run options (inherited first) listed last, after the job's own."""
    from billy_interp.jobs.executors import EXECUTOR_OPTIONS

    return sorted(dataclasses.fields(config_cls), key=lambda f: f.name in EXECUTOR_OPTIONS)


def build_parser(config_cls: type, description: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser with one ``--option`` per dataclass field (booleans get ``--no-...``)."""
    parser = argparse.ArgumentParser(
        description=description or config_cls.__doc__,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hints = typing.get_type_hints(config_cls)
    for f in _fields(config_cls):
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


def _first_line(error: BaseException) -> str:
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(text.split()) or type(error).__name__


class _CurrentStderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (a captured stream in tests, too)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr)


def _show_info_lines() -> None:
    """Let the library's INFO lines (which model, which prompt format) reach a command's stderr."""
    logger = logging.getLogger("billy_interp")
    if not any(isinstance(h, _CurrentStderr) for h in logger.handlers):
        logger.addHandler(_CurrentStderr())
    logger.setLevel(logging.INFO)
    logger.propagate = False  # a root handler (libraries call logging.warning) would print it twice


def command(config_cls: type[T], run: Callable[[T], Any], description: str | None = None) -> Callable[..., Any]:
    """The ``main(argv=None)`` of a ``python -m`` module: parse ``config_cls``, call ``run``.

    User errors (see :data:`USER_ERRORS`) print ``error: <one line>`` on stderr and exit with
    status 2, before any model loads wherever the config can check it; ``--debug`` re-raises.
    """

    def main(argv: Sequence[str] | None = None) -> Any:
        args = list(sys.argv[1:] if argv is None else argv)
        debug = "--debug" in args
        args = [a for a in args if a != "--debug"]
        parser = build_parser(config_cls, description)
        parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
        namespace = vars(parser.parse_args(args))  # argparse reports its own errors (exit 2)
        namespace.pop("debug", None)
        _show_info_lines()
        try:
            return run(config_cls(**namespace))
        except USER_ERRORS as error:
            if debug:
                raise
            print(f"error: {_first_line(error)}", file=sys.stderr)
            print("(run with --debug for the traceback)", file=sys.stderr)
            raise SystemExit(2) from None

    main.__doc__ = f"Parse the command line into {config_cls.__name__} and call {run.__name__}."
    return main


def render_cli_reference() -> str:
    """Markdown reference of every entry point, generated from its config dataclass."""
    import importlib

    lines = [
        "# CLI reference",
        "",
        "Generated from the config dataclasses by `python -m billy_interp.cli > docs/cli.md` "
        "(a test fails when this file is stale). Booleans take `--flag` / `--no-flag`; every command "
        "also takes `--debug` (show the traceback of an error instead of one line). Options cannot "
        "be abbreviated. The Python API of each command is `run_<job>(Config(...))` in the job "
        "module named under its heading.",
        "",
    ]
    for command_module, job_module, class_name in ENTRY_POINTS:
        config_cls = getattr(importlib.import_module(job_module), class_name)
        lines += [
            f"## `python -m {command_module}`",
            "",
            (config_cls.__doc__ or "").strip() + f" Config: `{job_module}.{class_name}`.",
            "",
            "| option | type | default | meaning |",
            "|---|---|---|---|",
        ]
        hints = typing.get_type_hints(config_cls)
        for f in _fields(config_cls):
            hint = hints[f.name]
            if typing.get_origin(hint) is typing.Literal:
                kind = "/".join(map(str, typing.get_args(hint)))
            else:
                kind = getattr(hint, "__name__", str(hint))
            default = "" if f.default is dataclasses.MISSING else f"`{f.default}`"
            meaning = f.metadata.get("help", "").replace("|", "\\|")  # pipes would split the table cell
            lines.append(f"| `--{f.name.replace('_', '-')}` | {kind} | {default} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_cli_reference())
