"""How many rows of each class to generate: proportional, balanced, or explicit counts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from augment.errors import AugmentError


def proportional_counts(n: int, weights: Sequence[float]) -> list[int]:
    """Split ``n`` by ``weights`` exactly (largest remainder), so the counts sum to ``n``."""
    weights_arr = np.asarray(weights, dtype=float)
    if n < 0:
        raise AugmentError(f"the number of rows must be non-negative, got {n}")
    if weights_arr.sum() <= 0:
        raise AugmentError("no class has any weight: cannot split rows between classes")
    shares = n * weights_arr / weights_arr.sum()
    counts = np.floor(shares).astype(int)
    leftover = n - int(counts.sum())
    # Ties go to the heavier class, then to the earlier one, so the plan is deterministic.
    order = np.lexsort((-weights_arr, -(shares - counts)))
    counts[order[:leftover]] += 1
    return counts.tolist()


def match_class(key: Any, classes: Sequence[Any]) -> int:
    """Index of a class named on the command line (always a string) or in Python (any type)."""
    for index, value in enumerate(classes):
        if key == value or str(key) == str(value):
            return index
    known = ", ".join(repr(c) for c in classes)
    raise AugmentError(f"requested class {key!r} does not exist; classes are: {known}")


def plan_counts(
    classes: Sequence[Any],
    class_counts: Sequence[int],
    *,
    n: int | None = None,
    balance: bool = False,
    counts: Mapping[Any, int] | None = None,
) -> list[int]:
    """Rows per class, aligned with ``classes``.

    Explicit ``counts`` win (classes not named get 0); else ``balance`` splits ``n`` evenly;
    else ``n`` follows the real training data's class mix.
    """
    if counts:
        plan = [0] * len(classes)
        for key, value in counts.items():
            if int(value) < 0:
                raise AugmentError(f"count for class {key!r} must be non-negative, got {value}")
            plan[match_class(key, classes)] = int(value)
        return plan
    if n is None:
        raise AugmentError("say how many rows to generate (--n) or give per-class counts")
    if balance:
        return proportional_counts(n, [1.0] * len(classes))
    weights = class_counts if class_counts and sum(class_counts) > 0 else [1.0] * len(classes)
    return proportional_counts(n, weights)


def chunked_labels(plan: Sequence[int], chunk_size: int, seed: int) -> Iterator[np.ndarray]:
    """Class indices for each chunk, shuffled; memory is one chunk, whatever the total.

    Each chunk draws its class mix without replacement from what is left of the plan
    (multivariate hypergeometric), so every chunk is a fair sample and the totals are exact.
    """
    if chunk_size <= 0:
        raise AugmentError(f"chunk size must be positive, got {chunk_size}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1AB]))
    remaining = np.asarray(plan, dtype=np.int64)
    while remaining.sum() > 0:
        size = int(min(chunk_size, remaining.sum()))
        take = rng.multivariate_hypergeometric(remaining, size)
        remaining = remaining - take
        labels = np.repeat(np.arange(len(plan)), take)
        rng.shuffle(labels)
        yield labels
