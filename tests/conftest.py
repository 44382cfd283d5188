"""Shared fixtures: small tables built in the test, so nothing needs ../shared or a network;
one CPU thread per library for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest


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


@pytest.fixture
def small_table() -> pd.DataFrame:
    """300 rows: integer, float with gaps, text category with gaps, bool, dates, a rare class."""
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
    path = tmp_path / "small.csv"
    frame = small_table.copy()
    frame["city"] = frame["city"].fillna("?")
    frame.to_csv(path, index=False)
    return str(path)


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
