"""Torch-free file I/O shared by every job: atomic writes, tables, JSONL resume logs.

Model-free code (the judge, ``compare``, ``figures``) imports only this module, so it never pays
for ``import torch`` or TransformerLens.

* Every file is written to a temporary name beside its target and renamed into place, so a
  killed job never leaves half a file; the result follows the user's umask (``mkstemp`` alone
  would make it 0600).
* A resume log (:class:`JsonlLog`) is append-only JSON Lines. Appends are whole lines written
  with one ``write`` on a file opened for appending; a reader skips a damaged line, reports it,
  and keeps every intact line before and after it. Only a torn *last* line (no newline: a writer
  killed mid-line) is cut off, so the next append starts on a clean line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import os
import shlex
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write",
    "write_text",
    "write_csv",
    "write_json",
    "read_json",
    "JsonlLog",
    "read_jsonl_log",
    "DamagedLogWarning",
    "command_line",
    "write_run_record",
    "RunBusyError",
    "RunSettingsError",
    "claim_run_dir",
    "locked",
    "record_run",
    "check_writable_dir",
    "check_method_settings",
    "same_settings",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def check_own_file(path: str | Path, stamp: str, option: str = "--out") -> Path:
    """Refuse to replace a file this command did not write. An existing ``path`` must hold
    ``stamp`` (the command line the command writes into its own output, or a CSV header it
    writes) in its first 4 KB; anything else is a one-line error naming ``option``."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{option}: {path} is a directory; give a file path")
    if path.exists():
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
        if stamp not in head:
            raise FileExistsError(f"{option}: {path} exists and this command did not write it; choose another path")
    return path


def write_text(text: str, path: str | Path) -> Path:
    """Write UTF-8 text, atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_csv(table: Any, path: str | Path) -> Path:
    """Write a pandas DataFrame as CSV, atomically."""
    return atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


def write_json(obj: Any, path: str | Path) -> Path:
    """Write JSON (indent 1; non-JSON values as strings), atomically."""
    return write_text(json.dumps(obj, indent=1, default=str), path)


def read_json(path: str | Path) -> Any:
    """Read a JSON file; a malformed one is a ``ValueError`` naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error


class DamagedLogWarning(UserWarning):
    """A resume log held lines that are not JSON; they were skipped, the rest kept."""


class JsonlLog:
    """An append-only JSON Lines file: the resume log of a long job."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.damaged_lines: list[int] = []

    def read(self) -> list[dict]:
        """Every intact record, in file order. Damaged lines are skipped and reported (a
        :class:`DamagedLogWarning` naming their line numbers), never deleted; a torn last line
        (a writer killed mid-line) is cut off."""
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            cut = raw.rfind(b"\n") + 1
            with open(self.path, "r+b") as handle:
                handle.truncate(cut)
            raw = raw[:cut]
        records, self.damaged_lines = [], []
        for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                self.damaged_lines.append(number)
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                self.damaged_lines.append(number)
        if self.damaged_lines:
            warnings.warn(
                f"{self.path}: skipped {len(self.damaged_lines)} damaged line(s) "
                f"{self.damaged_lines[:10]}; the {len(records)} intact records are kept",
                DamagedLogWarning,
                stacklevel=2,
            )
        return records

    def append(self, records: Iterable[dict]) -> None:
        """Append records as whole lines, in one write (so concurrent appends never interleave
        inside a line)."""
        payload = "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")
        if not payload:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            written = 0
            while written < len(payload):
                written += os.write(fd, payload[written:])
        finally:
            os.close(fd)


def read_jsonl_log(path: str | Path) -> list[dict]:
    """The intact records of a JSONL resume log (see :meth:`JsonlLog.read`)."""
    return JsonlLog(path).read()


def command_line(module: str, config: Any) -> str:
    """The ``python -m`` command that reproduces a config: every field that differs from its
    default, as ``--flag value`` (booleans as ``--flag`` / ``--no-flag``)."""
    args: list[str] = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        default = f.default if f.default is not dataclasses.MISSING else object()
        if value == default:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + f.name.replace("_", "-"))
        else:
            args += [flag, str(value)]
    return f"python -m {module} {shlex.join(args)}".rstrip()


def write_run_record(run_dir: str | Path, config: Any, module: str) -> None:
    """``config.json`` (every setting) and ``command.txt`` (the command that reproduces the run)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(dataclasses.asdict(config), run_dir / "config.json")
    write_text(command_line(module, config) + "\n", run_dir / "command.txt")


RUN_FILE = ".billy_run.json"  # which job made a run directory, and with which settings
LOCK_FILE = ".billy_run.lock"


class RunSettingsError(ValueError):
    """A run directory holds results made by another job or with other settings."""


class RunBusyError(OSError):
    """Another process is writing to the same run directory."""


def check_writable_dir(path: str | Path, option: str = "--out") -> Path:
    """Create ``path`` (with parents) and prove a file can be written there, before any work;
    a problem is a one-line error naming ``option``."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise PermissionError(f"{option}: cannot write to {path} ({error.strerror or error})") from None
    return path


def _settings(config: Any, ignore: Iterable[str]) -> dict[str, Any]:
    skip = set(ignore)
    return {k: v for k, v in json.loads(json.dumps(dataclasses.asdict(config), default=str)).items() if k not in skip}


def record_run(out: Path, config: Any, module: str, may_change: Iterable[str] = ()) -> None:
    """Write the run's settings file, ``config.json`` and ``command.txt``."""
    write_json({"module": module, "settings": _settings(config, {"out", "force", *may_change})}, out / RUN_FILE)
    write_run_record(out, config, module)


METHODS_FILE = "methods.json"  # each method's settings, checked when a run resumes


def same_settings(a: Any, b: Any, rel_tol: float = 1e-4) -> bool:
    """Equal as recorded, numbers up to ``rel_tol``: a setting derived from the model (a relative
    alpha's raw value, a vector's norm) recomputed on another device differs in its last digits,
    and a run resumed there is still the same run."""
    if isinstance(a, float) or isinstance(b, float):
        numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
        return numbers and math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_settings(a[k], b[k], rel_tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_settings(x, y, rel_tol) for x, y in zip(a, b))
    return a == b


def check_method_settings(out: Path, described: dict[str, dict], answered: set[str]) -> None:
    """Refuse to resume a method whose answers in ``out`` were made with other settings, so
    that no table silently mixes two configurations; record the settings of every method (an
    answered method keeps the settings its answers were made with)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / METHODS_FILE
    before = json.loads(path.read_text()) if path.exists() else {}
    described = json.loads(json.dumps(described))  # compare as stored (tuples become lists)
    for name, settings in described.items():
        old = before.get(name)
        if name in answered and old is not None and not same_settings(old, settings):
            changed = sorted(k for k in {*old, *settings} if not same_settings(old.get(k), settings.get(k)))
            raise RunSettingsError(
                f"{out} holds {name} answers made with other settings ({', '.join(changed)} "
                f"differ; see {path}); use another --out"
            )
    kept = {n: before[n] for n in described if n in answered and n in before}
    write_json({**before, **described, **kept}, path)


@contextlib.contextmanager
def claim_run_dir(
    out: str | Path,
    config: Any,
    module: str,
    *,
    may_change: Iterable[str] = (),
    force: bool = False,
    record: bool = True,
    added: Mapping[str, Any] | None = None,
) -> Iterator[Path]:
    """Own a run directory for the duration of a job.

    * **No mixing**: a directory made by another job, or by this job with other settings (any
      field of ``config`` not in ``may_change``), is refused with the fields that differ; with
      ``force`` the job starts fresh in a new sub-directory instead (and says so).
    * **One writer**: a lock that a second process cannot take while the first holds it.
    * **A record**: ``config.json``, ``command.txt`` and the settings file, written once the
      directory is ours (``record=False``: the job calls :func:`record_run` itself, after checks of
      its own, so that a refused run records nothing).

    ``added``: settings the job gained after runs were made, each with the value that reproduces
    what those runs did; a record without one reads as that value (only where it is true: a
    default that changed behaviour must stay out, so old runs are refused rather than mixed).
    """
    out = check_writable_dir(out)
    settings = _settings(config, {"out", "force", *may_change})
    if (out / RUN_FILE).exists():
        before = read_json(out / RUN_FILE)
        old = {**(added or {}), **before.get("settings", {})}
        if before.get("module") != module or old != settings:
            if before.get("module") != module:
                reason = f"it holds a {before.get('module')} run"
            else:
                changed = sorted(k for k in {*old, *settings} if old.get(k) != settings.get(k))
                reason = "other settings: " + ", ".join(f"{k} {old.get(k)!r} -> {settings.get(k)!r}" for k in changed)
            if not force:
                raise RunSettingsError(
                    f"{out} was made with {reason}; rerun with its settings to resume, choose another --out, "
                    "or pass --force to start fresh in a sub-directory"
                )
            out = check_writable_dir(out / datetime.datetime.now().strftime("run-%Y%m%d-%H%M%S"))
            print(f"--force: {reason}; this run writes to {out}")
    elif any(p for p in out.iterdir() if not p.name.startswith(".")) and not force:
        made_by = (out / "command.txt").read_text().strip() if (out / "command.txt").exists() else "something else"
        if not made_by.startswith(f"python -m {module}"):
            raise RunSettingsError(
                f"{out} already holds files this job did not make ({made_by[:80]}); choose another --out "
                "or pass --force to start fresh in a sub-directory"
            )
    with locked(out):
        if record:
            record_run(out, config, module, may_change)
        yield out


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold the writer lock of a run directory; a second holder gets :class:`RunBusyError`."""
    import fcntl

    with open(Path(out) / LOCK_FILE, "a+") as handle:  # closing the file releases the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise RunBusyError(
                f"{out} is being written by {owner}; wait for it to finish or choose another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
