"""Counts no one can generate, and counts beyond the sampler's old limit: a plan is exact at any
size up to int64 and streams in bounded memory; beyond int64 it is refused, never truncated to
a 0-row file whose generation.json claims 10**19 rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hostile_support import invoke, leftovers, one_line_error

from augment.core import labels
from augment.core.labels import MAX_ROWS, chunked_labels, plan_counts, proportional_counts
from augment.errors import AugmentError
from augment.steps.generate import generate
from augment.tabular.schema import ColumnSpec, TableSchema


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--n", "10000000000000000000"], ["--n 10000000000000000000", "more than augment can"]),
        (["--n", str(MAX_ROWS + 1)], ["more than augment can count"]),
        (["--count", f"yes={MAX_ROWS}", "--count", "no=1"], ["more than augment can count"]),
        (["--count", "yes=10000000000000000000"], ["more than augment can count"]),
        (["--n", "-1"], ["--n must be at least 0, got -1"]),
        (["--n", "5", "--chunk-size", "0"], ["--chunk-size must be 1 to"]),
        (["--n", "5", "--chunk-size", "1000000000000"], ["--chunk-size must be 1 to"]),
        (["--n", "5", "--seed", "-3"], ["--seed must be at least 0, got -3"]),
    ],
)
def test_impossible_counts_are_refused_before_writing(options, words, table_model, tmp_path):
    out = tmp_path / "synth"
    result = invoke("generate", "--model", table_model, "--out", out, "--device", "cpu", *options)
    one_line_error(result, *words)
    assert not out.exists() and leftovers(tmp_path) == []


def test_plans_are_exact_at_any_size():
    n = MAX_ROWS
    plan = plan_counts(["a", "b", "c"], [5, 3, 2], n=n)
    assert sum(plan) == n  # floats would give 9223372036854775810
    assert plan == [n // 2 + 1, n * 3 // 10, n // 5]
    assert proportional_counts(10**18 + 1, [1.0, 1.0]) == [5 * 10**17 + 1, 5 * 10**17]


def test_a_billion_rows_stream_in_chunks():
    """numpy's sampler refuses totals of 10**9 or more in one go (the old traceback)."""
    chunks = chunked_labels([6 * 10**8, 4 * 10**8], 1000, seed=0)
    first = [next(chunks) for _ in range(3)]
    assert [len(c) for c in first] == [1000, 1000, 1000]
    assert 0.5 < np.mean(np.concatenate(first) == 0) < 0.7


def test_blocks_keep_totals_exact_and_output_deterministic(monkeypatch):
    """The block path, at a size a test can run: same totals, chunk sizes and seed behaviour."""
    monkeypatch.setattr(labels, "HYPERGEOMETRIC_LIMIT", 100)
    monkeypatch.setattr(labels, "BLOCK_ROWS", 64)
    plan = [700, 3, 0, 290]
    drawn = list(chunked_labels(plan, 30, seed=4))
    assert all(len(c) == 30 for c in drawn[:-1])
    assert np.bincount(np.concatenate(drawn), minlength=4).tolist() == plan
    again = np.concatenate(list(chunked_labels(plan, 30, seed=4)))
    assert np.array_equal(np.concatenate(drawn), again)


class ShortModel:
    """A model that returns fewer rows than asked: the file must not claim the plan."""

    name = "short"

    def __init__(self) -> None:
        self.schema = TableSchema(
            label="y",
            columns=[ColumnSpec("y", "categorical", "object", categories=["a", "b"])],
            classes=["a", "b"],
            class_counts=[1, 1],
        )

    def sample(self, labels, *, seed: int = 0) -> pd.DataFrame:
        return pd.DataFrame({"y": list(labels)[:-1]})


def test_a_model_that_returns_too_few_rows_leaves_no_part(tmp_path):
    with pytest.raises(AugmentError, match="returned 9 samples for 10 labels"):
        generate(ShortModel(), 10, tmp_path / "synth", progress=False)
    # Only the (empty) folder a rerun would resume in: no part, no summary, no temporary.
    assert [p.name for p in (tmp_path / "synth").iterdir()] == [".augment-output.json"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 2.5}, "generate.n must be a whole number or null, got 2.5"),
        ({"n": "10"}, "generate.n must be a whole number or null, got '10'"),
        ({"n": 10, "seed": "abc"}, "generate.seed must be a whole number, got 'abc'"),
        ({"n": 10, "counts": {"a": "many"}}, "generate.counts.a must be a whole number"),
        ({"n": 10, "balance": "yes"}, "balance must be true or false"),
    ],
)
def test_wrong_types_from_python_or_params(kwargs, message, tmp_path):
    with pytest.raises(AugmentError, match=message):
        generate(ShortModel(), out=tmp_path / "synth", progress=False, **kwargs)
