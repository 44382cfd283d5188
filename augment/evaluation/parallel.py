"""The fan-out of an evaluation's classifier fits: joblib on this machine, Dask on a cluster.

An evaluation fits one downstream classifier per recipe, seed, real-data amount and classifier
kind; the fits are independent, so :func:`run_fits` hands them to joblib (``loky`` worker
processes by default, or ``threading``) or, through joblib's Dask backend, to the workers of a
Dask cluster (``backend="dask"``, ``scheduler="tcp://host:8786"``; the optional extra
``augment[dask]``). ``jobs=1`` with a local backend runs the fits one after the other in this
process, with no pool.

The numbers never depend on the backend, the job count or the order the fits finish in:

* a task is ``fn(*args)`` with everything random fixed in ``args`` (seeds come from
  :func:`~augment.core.runtime.derive_seed`, never from a global stream), and each result is
  put back at its task's position;
* every fit runs with the same thread count (``threads``, 1 unless the caller says otherwise in
  process), so BLAS / OpenMP / torch reductions add up in the same order.

The tasks may be a lazy iterable: joblib pulls a few ahead of the free workers (in one of its
own threads), so the callers build each recipe's training data only shortly before it is
fitted. Large arguments passed as the same object to several tasks (the test split, a recipe's
rows shared by its classifiers) are sent once per call to a Dask cluster (joblib scatters them).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from joblib import Parallel, delayed, parallel_config
from threadpoolctl import threadpool_limits

from augment.errors import AugmentError, MissingExtraError

BACKENDS: tuple[str, ...] = ("loky", "threading", "dask")
LOCAL_BACKENDS: tuple[str, ...] = ("loky", "threading")

R = TypeVar("R")
# A task of another kind, run in the same fan-out as the fits: (function, its arguments).
Task = tuple[Callable[..., Any], tuple[Any, ...]]


def free_cores() -> int:
    """The default job count: the cores this process may run on (its CPU affinity, which a
    container or ``taskset`` narrows; ``os.cpu_count()`` where the platform has none)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class FanOut:
    """Where the fits run: ``jobs`` workers of a local joblib ``backend``, or the workers of the
    Dask cluster whose scheduler is at ``scheduler`` (``backend="dask"``; ``jobs`` is then the
    cluster's business and unused)."""

    jobs: int = 1
    backend: str = "loky"
    scheduler: str | None = None

    @classmethod
    def of(
        cls, jobs: int | None = None, backend: str | None = "loky", scheduler: str | None = None
    ) -> FanOut:
        """Checked settings; ``jobs=None`` is :func:`free_cores`, ``backend=None`` loky."""
        backend = backend or "loky"
        if backend not in BACKENDS:
            raise AugmentError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
        if jobs is None:
            jobs = free_cores()
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise AugmentError(f"jobs must be a whole number of at least 1, got {jobs!r}")
        if backend == "dask":
            if not scheduler or not isinstance(scheduler, str):
                raise AugmentError(
                    "backend 'dask' needs the scheduler's address: --scheduler tcp://HOST:8786"
                )
            _dask_client_class()  # a missing extra fails now, not after the first block's draws
        elif scheduler:
            raise AugmentError(
                f"scheduler {scheduler!r} is only used by backend 'dask' (got backend {backend!r})"
            )
        return cls(jobs=jobs, backend=backend, scheduler=scheduler or None)

    @property
    def in_process(self) -> bool:
        """One local job: the fits run here, one after the other, with no pool."""
        return self.backend != "dask" and self.jobs == 1

    def describe(self) -> str:
        if self.backend == "dask":
            return f"the Dask cluster at {self.scheduler}"
        if self.in_process:
            return "this process"
        return f"{self.jobs} {self.backend} workers"


def run_fits(
    fn: Callable[..., Any],
    tasks: Iterable[tuple[Any, ...]],
    fanout: FanOut,
    *,
    threads: int | None = 1,
    on_result: Callable[[Any], None] | None = None,
    ahead: Sequence[Task] = (),
) -> list[Any]:
    """``[fn(*args) for args in tasks]``, computed where ``fanout`` says, in task order.

    ``fn`` and every ``args`` must pickle (a module-level function and plain data) unless the
    fits run in this process or threads. ``on_result`` is called in this thread with each result
    as it arrives, in whatever order the fits finish (to move a progress bar). ``threads``: the
    BLAS / OpenMP / torch threads of each fit; ``None`` leaves the libraries' default in
    process and means 1 in a pool, where more would oversubscribe the cores.

    ``ahead``: other tasks, ``(function, args)``, handed out first in the same pool, their
    results leading the list: long ones (the sweep's GAN retrains) that the fits then fill the
    cores around, where a pool of their own would leave a core idle behind the last of them.
    """
    stream = itertools.chain(ahead, ((fn, args) for args in tasks))  # lazy, as tasks may be
    if fanout.in_process:
        out = []
        with fit_threads(threads):
            for function, args in stream:
                result = function(*args)
                if on_result is not None:
                    on_result(result)
                out.append(result)
        return out

    per_fit = threads or 1
    results: dict[int, Any] = {}
    with contextlib.ExitStack() as stack:
        if fanout.backend == "dask":
            client = stack.enter_context(_dask_client(fanout.scheduler or ""))
            stack.enter_context(parallel_config(backend="dask", client=client))
            jobs = (delayed(_limited)(i, per_fit, f, *args) for i, (f, args) in enumerate(stream))
        elif fanout.backend == "threading":
            # BLAS and torch limits are process-wide: set once around the pool, not per fit,
            # where one thread's exit would restore them under another's feet.
            stack.enter_context(fit_threads(per_fit))
            stack.enter_context(parallel_config(backend="threading", n_jobs=fanout.jobs))
            jobs = (delayed(_in_thread)(i, per_fit, f, *args) for i, (f, args) in enumerate(stream))
        else:
            # max_nbytes=None: send arrays by pickle, not as read-only memory maps that a
            # library writing into its input would trip over.
            stack.enter_context(
                parallel_config(
                    backend="loky",
                    n_jobs=fanout.jobs,
                    max_nbytes=None,
                    inner_max_num_threads=per_fit,
                )
            )
            jobs = (delayed(_limited)(i, per_fit, f, *args) for i, (f, args) in enumerate(stream))
            # loky restarts a worker whose memory grew by 300 MB (torch and a recipe's rows do)
            # and warns when jobs were waiting; the jobs run on the new worker all the same.
            stack.enter_context(warnings.catch_warnings())
            warnings.filterwarnings("ignore", "A worker stopped while some jobs", UserWarning)
        for index, result in Parallel(return_as="generator_unordered")(jobs):
            results[index] = result
            if on_result is not None:
                on_result(result)
    return [results[i] for i in range(len(results))]


@contextlib.contextmanager
def fit_threads(threads: int | None) -> Iterator[None]:
    """Cap BLAS / OpenMP (threadpoolctl) and torch's intra-op threads at ``threads`` for the
    block (``None``: leave them); torch's setting is restored afterwards. torch is only set when
    loaded: a worker that fits scikit-learn classifiers never imports it (seconds saved)."""
    torch = sys.modules.get("torch")
    if threads is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        if torch is not None:
            stack.callback(torch.set_num_threads, torch.get_num_threads())
            torch.set_num_threads(threads)
        stack.enter_context(threadpool_limits(limits=threads))
        yield


def _in_thread(index: int, threads: int, fn: Callable[..., R], *args: Any) -> tuple[int, R]:
    """One fit in a pool thread. OpenMP's thread count is a per-thread setting, which a new
    thread does not inherit from the one that set it: set it here."""
    with threadpool_limits(limits=threads, user_api="openmp"):
        return index, fn(*args)


def _limited(index: int, threads: int, fn: Callable[..., R], *args: Any) -> tuple[int, R]:
    """One fit in a worker process, with the same thread count as every other fit."""
    with fit_threads(threads):
        return index, fn(*args)


def _dask_client_class() -> Any:
    """``dask.distributed.Client``, imported only when the Dask backend is asked for."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise MissingExtraError(
            "backend 'dask' needs the optional Dask extra: pip install 'augment[dask]'"
        ) from None
    return Client


@contextlib.contextmanager
def _dask_client(address: str) -> Iterator[Any]:
    """A client of the Dask scheduler at ``address``; a missing extra or an unreachable
    scheduler is a one-line error."""
    client_class = _dask_client_class()
    try:
        client = client_class(address, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise AugmentError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        yield client
    finally:
        client.close()


__all__ = ["BACKENDS", "FanOut", "Task", "fit_threads", "free_cores", "run_fits"]
