"""Shared fixtures: small tables built in the test, so nothing needs ../shared or a network;
one CPU thread per library for the whole session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# The longest test files (minutes each, in CI), run first: under pytest-xdist's `loadfile`
# (with `--no-loadscope-reorder`, which keeps this order) the first files go one to each
# worker, so these start at once side by side and the short files fill in around them. Queued
# last, two of them ran one after the other on one worker: the whole suite took 26.5 min on 2
# cores.
LONGEST_FIRST = ("tests/test_readme.py", "tests/test_readme_dvc.py", "tests/test_pipeline_dvc.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: every other test keeps its place


@pytest.fixture(scope="session", autouse=True)
def one_cpu_thread() -> Iterator[tuple[int, list[dict]]]:
    """One torch, BLAS and OpenMP thread in this process, for every test and fixture.

    The tests' GAN and classifier steps are many small ops, and OpenMP threads wait at each op
    for the slowest of them: with another process on a core of a 2-core machine, a 300-row
    TabGAN fit took 6.4 s with two threads and 0.4 s with one, a HistGradientBoosting fit
    3.8 s and 0.2 s. The package follows torch's count (``core.training.cpu_threads``), so
    training and evaluation here run on one thread as the user's would under ``threads=1``.
    Yields the libraries' own defaults, for tests of thread counts (``library_threads``).
    """
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    defaults = (torch.get_num_threads(), threadpool_info())
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield defaults
    finally:
        torch.set_num_threads(defaults[0])


@pytest.fixture(scope="module")
def library_threads(one_cpu_thread: tuple[int, list[dict]]) -> Iterator[None]:
    """The libraries' own thread counts for a module that tests thread counts itself
    (``pytestmark = pytest.mark.usefixtures("library_threads")``)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch_threads, pools = one_cpu_thread
    torch.set_num_threads(torch_threads)
    try:
        with threadpool_limits(limits=pools):
            yield
    finally:
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def quick_pseudo_label_judges(monkeypatch) -> None:
    """Pseudo-label judges of a few dozen steps: the image GAN trains one whenever it is given
    unlabelled images, and the default consistency judge's 3,000 steps took two minutes in each
    such test."""
    from augment.images import pseudo_labels

    monkeypatch.setattr(pseudo_labels, "CONSISTENCY_STEPS", 40)
    monkeypatch.setattr(pseudo_labels, "JUDGE_STEPS", 80)


@pytest.fixture
def package_log(caplog, monkeypatch) -> pytest.LogCaptureFixture:
    """caplog, seeing the package's records from INFO up. After a CLI test
    (``augment.log.configure``: its own handler, no propagation) caplog would see nothing, so
    the records go to caplog alone."""
    from augment.log import logger

    monkeypatch.setattr(logger, "propagate", True)
    monkeypatch.setattr(logger, "handlers", [])
    caplog.set_level("INFO", logger="augment")
    return caplog


@pytest.fixture
def small_table() -> pd.DataFrame:
    """300 rows: integer, float with gaps, text category with gaps, bool, dates, a rare class."""
    return _small_table()


def _small_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    label = np.where(rng.random(n) < 0.8, "no", "yes").astype(object)
    label[:10] = "rare"
    frame = pd.DataFrame(
        {
            "row_id": np.arange(1000, 1000 + n),
            "age": rng.integers(18, 80, n),
            "income": np.round(rng.lognormal(10, 0.5, n), 2),
            "city": rng.choice(["Oslo", "Lima", "Pune"], n),
            "member": rng.random(n) < 0.3,
            "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
            "label": label,
        }
    )
    frame.loc[::17, "income"] = np.nan
    frame.loc[::23, "city"] = None
    return frame


@pytest.fixture
def small_csv(tmp_path, small_table) -> str:
    return _write_small_csv(small_table, tmp_path / "small.csv")


def _write_small_csv(table: pd.DataFrame, path: Path) -> str:
    frame = table.copy()
    frame["city"] = frame["city"].fillna("?")
    frame.to_csv(path, index=False)
    return str(path)


SMALL_TABLE_TRAIN = [
    "--epochs",
    "2",
    "--batch-size",
    "100",
    "--set",
    "min_steps=0",
    "--device",
    "cpu",
]


@pytest.fixture(scope="session")
def small_table_trained(tmp_path_factory) -> Path:
    """``prep`` (small_csv ingested) and ``model`` (a TabGAN trained on it with
    SMALL_TABLE_TRAIN), made once per session through the command line, as a user would.
    Tests work on copies: :func:`small_table_workdir`."""
    from typer.testing import CliRunner

    from augment.cli import app

    root = tmp_path_factory.mktemp("small_table_trained")
    csv = _write_small_csv(_small_table(), root / "small.csv")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for args in (
            ["ingest", "--source", csv, "--label", "label", "--out", "prep"],
            ["train", "--data", "prep", "--out", "model", *SMALL_TABLE_TRAIN],
        ):
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, (result.output, result.exception)
    return root


@pytest.fixture
def small_table_workdir(tmp_path, monkeypatch, small_table_trained) -> Path:
    """A working directory holding copies of ``prep`` and ``model`` (small_table_trained), as
    after ``augment ingest`` and ``augment train`` there; the test may change them."""
    for name in ("prep", "model"):
        shutil.copytree(small_table_trained / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def mixed_kinds() -> dict[str, str]:
    """Column kinds of the mixed tables built by the TabGAN and encoder tests."""
    return {
        "age": "continuous",
        "income": "continuous",
        "city": "categorical",
        "rooms": "categorical",
        "member": "categorical",
        "joined": "datetime",
        "label": "categorical",
    }
