import numpy as np
import pytest

from augment.core.labels import chunked_labels, plan_counts, proportional_counts
from augment.errors import AugmentError


def test_proportional_counts_are_exact():
    assert proportional_counts(10, [3, 1]) == [8, 2]
    assert sum(proportional_counts(10001, [24720, 7841])) == 10001
    assert proportional_counts(0, [1, 1]) == [0, 0]


def test_plan_modes():
    classes, counts = ["<=50K", ">50K"], [75, 25]
    assert plan_counts(classes, counts, n=100) == [75, 25]
    assert plan_counts(classes, counts, n=101, balance=True) == [51, 50]
    assert plan_counts(classes, counts, counts={">50K": 7}) == [0, 7]
    assert plan_counts([0, 1], [5, 5], counts={"1": 3}) == [0, 3]  # CLI keys are strings
    with pytest.raises(AugmentError, match="requested class 'other' does not exist"):
        plan_counts(classes, counts, counts={"other": 1})


def test_chunks_cover_the_plan_exactly_and_deterministically():
    plan = [1000, 7, 0, 250]
    chunks = list(chunked_labels(plan, 300, seed=5))
    assert all(len(c) <= 300 for c in chunks)
    labels = np.concatenate(chunks)
    assert np.bincount(labels, minlength=4).tolist() == plan
    again = np.concatenate(list(chunked_labels(plan, 300, seed=5)))
    other = np.concatenate(list(chunked_labels(plan, 300, seed=6)))
    assert np.array_equal(labels, again) and not np.array_equal(labels, other)
