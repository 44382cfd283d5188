"""benchmarks/tabgan_adult_budget.py's raking screen: rows kept per class from a larger pool so
that each categorical column's shares within a class move to the real rows', none twice."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# rake() reads only the columns' names and kinds (the label is Adult's, "income").
SCHEMA = SimpleNamespace(
    columns=[
        SimpleNamespace(name=name, kind=kind)
        for name, kind in (
            ("degree", "categorical"),
            ("age", "continuous"),
            ("income", "categorical"),
        )
    ]
)


def test_raking_matches_each_class_shares_without_repeating_a_row(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from tabgan_adult_budget import rake

    rng = np.random.default_rng(0)
    # Real: 30% masters among the low class. The pool (10x) holds them at 3%, as a generator
    # that draws each class's typical categories would.
    real = pd.DataFrame(
        {
            "degree": ["masters"] * 30 + ["school"] * 70 + ["masters"] * 60 + ["school"] * 40,
            "age": rng.normal(40, 10, 200),
            "income": ["<=50K"] * 100 + [">50K"] * 100,
        }
    )
    pool = pd.DataFrame(
        {
            "degree": ["masters"] * 30 + ["school"] * 970 + ["masters"] * 600 + ["school"] * 400,
            "age": np.arange(2000.0),  # tells every row apart
            "income": ["<=50K"] * 1000 + [">50K"] * 1000,
        }
    )
    labels = real["income"].to_numpy(dtype=object)

    kept = rake(pool, labels, real, SCHEMA, np.random.default_rng(1))

    assert kept["income"].value_counts().to_dict() == {"<=50K": 100, ">50K": 100}
    assert kept["age"].is_unique  # drawn without replacement
    low = kept[kept["income"] == "<=50K"]
    # All 30 masters rows of the low class are kept (weight capped, but far above the rest);
    # drawn uniformly the expected count would be 3.
    assert (low["degree"] == "masters").sum() >= 20
    high = kept[kept["income"] == ">50K"]
    assert abs((high["degree"] == "masters").mean() - 0.6) < 0.15


def test_raking_targets_shrink_towards_the_pool_with_prior_rows(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from tabgan_adult_budget import rake

    real = pd.DataFrame({"degree": ["masters"] * 30 + ["school"] * 70, "income": ["<=50K"] * 100})
    pool = pd.DataFrame(
        {
            "degree": ["masters"] * 30 + ["school"] * 970,
            "age": np.arange(1000.0),
            "income": ["<=50K"] * 1000,
        }
    )
    labels = real["income"].to_numpy(dtype=object)

    def masters(prior_rows: float) -> int:
        kept = rake(pool, labels, real, SCHEMA, np.random.default_rng(1), prior_rows=prior_rows)
        return int((kept["degree"] == "masters").sum())

    # The real shares (30%) pull the kept rows' masters far above the pool's 3%; a prior of
    # many rows leaves the pool's shares as the target, so about 3 of 100 are kept.
    assert masters(0.0) >= 20
    assert masters(1e9) <= 10
