"""The fan-out of the evaluation's fits: task order, worker threads, errors, settings."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import sklearn.ensemble  # noqa: F401  (loads a BLAS and an OpenMP runtime, as a fit does)
from threadpoolctl import threadpool_info

from augment.errors import AugmentError, MissingExtraError
from augment.evaluation.common import StageTimer, SweepRetrains, fit_bar
from augment.evaluation.parallel import FanOut, free_cores, run_fits

# These tests check the thread counts a fit in a pool gets, which must not follow the caller's:
# the libraries' own counts here, not the suite's one thread (conftest.py).
pytestmark = pytest.mark.usefixtures("library_threads")


def slow_square(x: int, delay: float) -> int:
    time.sleep(delay)
    return x * x


def worker_threads() -> dict[str, list[int]]:
    """The thread counts of the BLAS and OpenMP libraries where the task runs."""
    counts: dict[str, set[int]] = {}
    for pool in threadpool_info():
        counts.setdefault(pool["user_api"], set()).add(int(pool["num_threads"]))
    return {api: sorted(n) for api, n in sorted(counts.items())}


def fails_on(x: int) -> int:
    if x == 2:
        raise AugmentError(f"bad value {x}")
    return x


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_results_come_back_in_task_order_whatever_finishes_first(backend: str) -> None:
    # The first tasks sleep longest, so they finish last.
    tasks = ((x, 0.3 - 0.05 * x) for x in range(6))  # lazy, as the runners pass them
    arrived: list[int] = []
    got = run_fits(slow_square, tasks, FanOut.of(2, backend), on_result=arrived.append)
    assert got == [x * x for x in range(6)]
    assert sorted(arrived) == got and len(arrived) == 6


def test_one_job_runs_in_this_process_with_no_pool() -> None:
    seen: list[int] = []
    # A closure does not pickle: it can only run here.
    got = run_fits(lambda x: seen.append(x) or -x, [(1,), (2,)], FanOut.of(1))
    assert got == [-1, -2] and seen == [1, 2]
    assert FanOut.of(1).in_process and not FanOut.of(2).in_process


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_a_fit_in_a_pool_runs_with_one_thread(backend: str) -> None:
    # OpenMP's count is per thread: a pool thread does not inherit the caller's limit.
    got = run_fits(worker_threads, [(), (), ()], FanOut.of(2, backend), threads=None)
    assert got == [{"blas": [1], "openmp": [1]}] * 3


def test_a_user_error_in_a_worker_reaches_the_caller() -> None:
    with pytest.raises(AugmentError, match="bad value 2"):
        run_fits(fails_on, [(1,), (2,), (3,)], FanOut.of(2, "loky"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"jobs": 0}, "jobs must be a whole number of at least 1, got 0"),
        ({"jobs": 1.5}, "got 1.5"),
        ({"backend": "spark"}, "unknown backend 'spark': use one of loky, threading, dask"),
        ({"backend": "dask"}, "needs the scheduler's address"),
        ({"scheduler": "tcp://h:8786"}, "only used by backend 'dask'"),
    ],
)
def test_bad_settings_are_user_errors(settings: dict, message: str) -> None:
    with pytest.raises(AugmentError, match=message):
        FanOut.of(**settings)


def test_defaults_are_the_free_cores_and_loky() -> None:
    fanout = FanOut.of()
    assert fanout.jobs == free_cores() >= 1 and fanout.backend == "loky"
    assert FanOut.of(backend=None).backend == "loky"


def test_dask_without_the_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'augment\[dask\]'"):
        FanOut.of(backend="dask", scheduler="tcp://127.0.0.1:8786")


def test_an_unreachable_scheduler_is_a_user_error() -> None:
    dask = pytest.importorskip("dask")
    pytest.importorskip("dask.distributed")
    fanout = FanOut.of(backend="dask", scheduler="tcp://127.0.0.1:9")
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(AugmentError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
    ):
        run_fits(slow_square, [(1, 0.0)], fanout)


def negate(x: int) -> int:
    return -x


def marked_square(x: int, folder: Path) -> int:
    (folder / str(x)).touch()
    return x * x


def square_after_marks(x: int, folder: Path, marks: int, timeout: float = 60.0) -> int:
    """``x * x`` once ``marks`` files are in ``folder``; -1 if ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < marks:
        if time.monotonic() > deadline:
            return -1
        time.sleep(0.01)
    return x * x


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_tasks_ahead_share_the_pool_and_their_results_lead(backend: str, tmp_path) -> None:
    # A long task of another kind goes first and returns its square only once the fits have
    # run, which they can only do beside it, on the other worker; -1 if they waited for it.
    # (A timer instead, a sleeping long task that should finish last, failed when the second
    # loky worker started late on a busy machine.)
    ahead = [(square_after_marks, (10, tmp_path, 4)), (negate, (3,))]
    arrived: list[int] = []
    got = run_fits(
        marked_square,
        ((x, tmp_path) for x in range(4)),
        FanOut.of(2, backend),
        ahead=ahead,
        on_result=arrived.append,
    )
    assert got[0] != -1, "the fits waited for the long task instead of running beside it"
    assert got == [100, -3, 0, 1, 4, 9] and sorted(arrived) == sorted(got)


def test_tasks_ahead_run_first_in_this_process() -> None:
    seen: list[int] = []
    got = run_fits(
        lambda x: seen.append(x) or x, [(1,), (2,)], FanOut.of(1), ahead=[(negate, (5,))]
    )
    assert got == [-5, 1, 2] and seen == [1, 2]


def one_thread_model(data: list[int], schema: str, seed: int) -> tuple[int, int, str, int]:
    import torch

    return sum(data), seed, schema, torch.get_num_threads()


@pytest.mark.parametrize("jobs", [1, 2])
def test_sweep_retrains_come_back_grouped_and_each_ran_on_one_thread(jobs: int) -> None:
    groups = [[([1, 2], "a", 7), ([3], "a", 8)], [([4], "b", 9)]]
    retrains = SweepRetrains(one_thread_model, groups, "cpu")
    assert len(retrains) == 3 and not retrains.on_gpu
    results = run_fits(negate, [(1,)], FanOut.of(jobs), threads=None, ahead=retrains.tasks())
    timer = StageTimer()
    models = retrains.models(results[:3], timer, fit_bar(3, progress=False))
    assert models == [[(3, 7, "a", 1), (3, 8, "a", 1)], [(4, 9, "b", 1)]]
    assert results[3] == -1 and timer.totals["retrain_s"] >= 0
