"""Shared fixtures: small tables built in the test, so nothing needs ../shared or a network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


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
