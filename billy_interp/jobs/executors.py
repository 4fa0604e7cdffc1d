"""Where a grid-shaped job's units run: in this process (``local``) or on a Ray cluster (``ray``).

A job splits its work into *units* (a chunk of sweep cells, a task x method x item chunk of the
benchmark, ...) whose output depends only on the unit: each unit seeds its own sampling and is
batched the same way wherever it runs. The job hands the executor

* ``setup``: a picklable function that builds a worker's *context* (the loaded model and whatever
  else every unit needs); the local executor calls it once, or uses the context the job already
  has; each Ray worker calls it once and keeps the context for all its units;
* ``work(context, unit)``: a picklable function that runs one unit and returns its result;
* ``on_done(unit, result)``: called in the driver, so only the driver writes the run directory and
  the job's resume log and settings guards work unchanged.

Ray workers are long-lived actors (one loaded model each), each given one unit at a time. A worker
that dies mid-unit is replaced and the unit retried (at most ``max_attempts`` times), so no unit is
lost; a unit's result is handed to ``on_done`` once, so none is duplicated. An error raised by a
unit's code stops the run with that error. Ray is optional (``pip install billy_interp[distributed]``).
"""

from __future__ import annotations

import logging
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from billy_interp.options import UsageError

__all__ = ["ExecutorOptions", "EXECUTOR_OPTIONS", "Executor", "open_executor", "ray_available", "load_config_model"]

logger = logging.getLogger("billy_interp")

# Config fields that decide where units run, never what they produce: a resumed run may change them.
EXECUTOR_OPTIONS = ("executor", "ray_address", "workers", "worker_cpus", "worker_gpus")
RAY_MISSING = "--executor ray needs Ray, which is not installed: pip install 'billy_interp[distributed]'"


def load_config_model(config: Any) -> Any:
    """The context of a worker that needs only the model: ``config``'s model, device and dtype."""
    from billy_interp.core.loading import load_model

    return load_model(config.model, device=config.device or None, dtype=config.dtype)


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class ExecutorOptions:
    """Where the job's units run. A config dataclass that inherits these gets the options on its CLI."""

    executor: str = field(default="local", metadata={"help": "local (this process) or ray (workers on a Ray cluster)"})
    ray_address: str = field(
        default="", metadata={"help": "with --executor ray: an existing cluster's address; empty: start a local one"}
    )
    workers: int = field(
        default=0, metadata={"help": "with --executor ray: worker count; 0: as many as the cluster's resources fit"}
    )
    worker_cpus: float = field(default=1.0, metadata={"help": "with --executor ray: CPUs per worker"})
    worker_gpus: float = field(default=0.0, metadata={"help": "with --executor ray: GPUs per worker (e.g. 1)"})

    def __post_init__(self) -> None:
        if self.executor not in ("local", "ray"):
            raise UsageError(f"--executor {self.executor!r}: use local or ray")
        if self.executor == "local" and (self.ray_address or self.workers):
            raise UsageError("--ray-address and --workers apply to --executor ray only")
        if self.workers < 0:
            raise UsageError(f"--workers must be >= 0, got {self.workers}")
        if self.worker_cpus <= 0 or self.worker_gpus < 0:
            raise UsageError("--worker-cpus must be > 0 and --worker-gpus >= 0")
        if self.executor == "ray" and not ray_available():
            raise UsageError(RAY_MISSING)


class Executor:
    """Runs a job's functions on a context: :meth:`call` once, :meth:`map` over units."""

    def call(self, work: Callable[..., Any], *args: Any) -> Any:
        raise NotImplementedError

    def map(
        self,
        work: Callable[[Any, Any], Any],
        units: Sequence[Any],
        on_done: Callable[[Any, Any], None],
        desc: str = "units",
    ) -> None:
        raise NotImplementedError


class _Local(Executor):
    def __init__(self, setup: Callable[[], Any], context: Any = None) -> None:
        self._setup, self._context = setup, context

    @property
    def context(self) -> Any:
        if self._context is None:
            self._context = self._setup()
        return self._context

    def call(self, work: Callable[..., Any], *args: Any) -> Any:
        return work(self.context, *args)

    def map(self, work, units, on_done, desc="units") -> None:
        for unit in tqdm(units, desc=desc):
            on_done(unit, work(self.context, unit))


class _Worker:
    """A Ray actor's body: builds its context on first use and keeps it."""

    def __init__(self, setup: Callable[[], Any]) -> None:
        self._setup, self._context = setup, None

    def run(self, work: Callable[..., Any], *args: Any) -> Any:
        if self._context is None:
            self._context = self._setup()
        return work(self._context, *args)


def _ready(_context: Any) -> None:
    """A worker's first call: it builds the context and returns nothing."""


class _Ray(Executor):
    def __init__(self, options: ExecutorOptions, setup: Callable[[], Any], max_attempts: int) -> None:
        import ray

        self._ray, self._options, self._setup, self._max_attempts = ray, options, setup, max_attempts
        self._actor_class = ray.remote(_Worker)
        self._workers: list[Any] = []
        self._next_id = 0

    def _worker_count(self, n_units: int) -> int:
        if self._options.workers:
            return max(1, min(self._options.workers, n_units))
        resources = self._ray.cluster_resources()
        fits = int(resources.get("CPU", 1) // self._options.worker_cpus)
        if self._options.worker_gpus:
            fits = min(fits, int(resources.get("GPU", 0) // self._options.worker_gpus))
        if fits < 1:
            raise UsageError(
                f"the Ray cluster ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs) cannot fit one "
                f"worker of --worker-cpus {self._options.worker_cpus:g} --worker-gpus {self._options.worker_gpus:g}"
            )
        return max(1, min(fits, n_units))

    def _start_worker(self) -> tuple[int, Any]:
        actor = self._actor_class.options(
            num_cpus=self._options.worker_cpus, num_gpus=self._options.worker_gpus
        ).remote(self._setup)
        actor.run.remote(_ready)  # build its context now, beside the other workers, not at its first unit
        self._next_id += 1
        return self._next_id - 1, actor

    def _ensure_workers(self, n: int) -> None:
        while len(self._workers) < n:
            self._workers.append(self._start_worker())

    def _replace(self, slot: int) -> None:
        worker_id, actor = self._workers[slot]
        self._ray.kill(actor, no_restart=True)
        self._workers[slot] = self._start_worker()
        logger.warning("ray worker %d died; replaced by worker %d", worker_id, self._workers[slot][0])

    def call(self, work: Callable[..., Any], *args: Any) -> Any:
        # --workers N: all N start loading while one works (0: the count waits for the units)
        self._ensure_workers(self._options.workers or 1)
        results: list[Any] = []
        self.map(lambda context, _unit: work(context, *args), [None], lambda _u, r: results.append(r), desc="setup")
        return results[0]

    def map(self, work, units, on_done, desc="units") -> None:
        ray = self._ray
        if not units:
            return
        self._ensure_workers(self._worker_count(len(units)))
        pending = deque(range(len(units)))
        attempts: Counter[int] = Counter()
        running: dict[Any, tuple[int, int]] = {}  # object ref -> (worker slot, unit index)
        done_by: Counter[int] = Counter()
        bar = tqdm(total=len(units), desc=f"{desc} ({len(self._workers)} ray workers)")
        try:
            while pending or running:
                busy = {slot for slot, _ in running.values()}
                for slot in range(len(self._workers)):
                    if pending and slot not in busy:
                        index = pending.popleft()
                        attempts[index] += 1
                        running[self._workers[slot][1].run.remote(work, units[index])] = (slot, index)
                ready, _ = ray.wait(list(running), num_returns=1)
                slot, index = running.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except ray.exceptions.RayTaskError as error:  # the unit's own code failed
                    raise error.as_instanceof_cause() from None
                except ray.exceptions.RayActorError:  # the worker process died
                    if attempts[index] >= self._max_attempts:
                        raise RuntimeError(
                            f"{desc}: unit {index} killed its worker {attempts[index]} times; giving up"
                        ) from None
                    self._replace(slot)
                    pending.appendleft(index)
                    continue
                on_done(units[index], result)
                done_by[self._workers[slot][0]] += 1
                bar.update(1)
                bar.set_postfix_str(", ".join(f"w{w}: {n}" for w, n in sorted(done_by.items())), refresh=False)
        finally:
            bar.close()

    def close(self) -> None:
        for _, actor in self._workers:
            self._ray.kill(actor, no_restart=True)
        self._workers.clear()


@contextmanager
def open_executor(
    options: ExecutorOptions, setup: Callable[[], Any], context: Any = None, max_attempts: int = 3
) -> Iterator[Executor]:
    """The executor ``options`` name. ``context``: the local executor's ready-made context (e.g. a
    model the caller passed); otherwise ``setup()`` builds it on first use. On Ray, joins the
    cluster at ``ray_address`` (or an already initialised one, or starts a local one) and stops
    what it started on exit."""
    if options.executor == "local":
        yield _Local(setup, context)
        return
    import ray  # ExecutorOptions refused --executor ray without it

    started = False
    if not ray.is_initialized():
        address = options.ray_address or None
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        started = True
        resources = ray.cluster_resources()
        print(
            f"ray: {'joined ' + address if address else 'started a local cluster'} "
            f"({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs); "
            "worker logs under /tmp/ray/session_latest/logs on each node",
            file=sys.stderr,
        )
    executor = _Ray(options, setup, max_attempts)
    try:
        yield executor
    finally:
        executor.close()
        if started:
            ray.shutdown()
